"""Readers: every record of every file becomes a document or a dead letter."""
import collections
import json
import os

import pytest

from bad_inputs import make_bad_inputs
from conftest import SAMPLE_WEB, shared_data
from winnow.pipeline.readers import DOC, REJECTED, ReaderOptions, detect_format, read_file, shard_key


def tally(path, **opts):
    docs, rejected = [], collections.Counter()
    for kind, rec in read_file(str(path), ReaderOptions(**opts)):
        if kind == DOC:
            docs.append(rec)
        else:
            assert kind == REJECTED
            assert rec["reason"] and rec["source_file"] == str(path)
            rejected[rec["reason"]] += 1
    return docs, rejected


@pytest.fixture(scope="module")
def bad(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bad")
    return folder, make_bad_inputs(folder)


@pytest.mark.parametrize("name", ["corrupt.jsonl.gz", "invalid_utf8.jsonl", "junk.jsonl", "empty_text.jsonl",
                                  "big.jsonl", "fields.jsonl", "wrong_schema.parquet", "good.parquet",
                                  "not_really.parquet", "empty.jsonl", "nested.jsonl", "surrogate.jsonl",
                                  "cut.jsonl.zst", "ok.jsonl.bz2"])
def test_bad_inputs_are_accounted_for(bad, name):
    folder, expect = bad
    docs, rejected = tally(folder / name)
    want = expect[name]
    if "read" in want:
        assert len(docs) + sum(rejected.values()) == want["read"]
    if "rejected" in want:
        assert dict(rejected) == want["rejected"]
    if "rejected_any" in want:
        assert sum(rejected.values()) == want["rejected_any"]
    if "min_docs" in want:
        assert len(docs) >= want["min_docs"]  # records before the break are kept


def test_rejected_records_carry_provenance(bad):
    folder, _ = bad
    rejected = [rec for kind, rec in read_file(str(folder / "fields.jsonl")) if kind == REJECTED]
    first = rejected[0]
    assert first["record_index"] == 1 and first["record_offset"] > 0
    assert first["raw_preview"] == '{"id": 1}\n' and first["raw_bytes"] == 10
    assert "'text'" in first["detail"]


def test_too_large_is_rejected_without_its_text(bad):
    folder, _ = bad
    (kind, rec), (kind2, after) = list(read_file(str(folder / "big.jsonl")))
    assert kind == REJECTED and rec["reason"] == "too_large" and len(rec["raw_preview"]) <= 512
    assert kind2 == DOC and after["doc_id"] == "after-big"


def test_jsonl_ids_and_fields(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_text('{"doc": "one", "key": 5, "url": "http://a"}\n{"doc": "two"}\n')
    docs, rejected = tally(p, text_field="doc", id_field="key")
    assert not rejected
    assert [d["doc_id"] for d in docs] == ["5", f"{p}#1"]
    assert docs[0]["url"] == "http://a" and docs[0]["record_offset"] == 0


def test_sample_warc(tmp_path):
    docs, rejected = tally(SAMPLE_WEB / "sample.warc.gz")
    assert not rejected
    pages = [d for d in docs if not d["skip"]]
    assert len(pages) == 60
    assert sorted(d["skip"] for d in docs if d["skip"]) == ["http_404", "not_html"]
    first = pages[0]
    assert first["url"].startswith("http://sample.winnow.test/") and first["warc_record_id"].startswith("<urn:uuid:")
    assert "Copyright" not in first["text"]  # main-content extraction drops the footer


def test_truncated_warc_keeps_what_it_read(tmp_path):
    data = (SAMPLE_WEB / "sample.warc.gz").read_bytes()
    cut = tmp_path / "cut.warc.gz"
    cut.write_bytes(data[: len(data) // 2])
    docs, rejected = tally(cut)
    assert 10 < len(docs) < 60
    assert sum(rejected.values()) >= 1 and set(rejected) <= {"corrupt_file", "truncated_record", "bad_http"}


def test_format_detection_and_shard_keys():
    assert detect_format("a/CC-MAIN-1.warc.wet.gz") == "wet"
    assert detect_format("gs://b/x.warc.gz") == "warc"
    assert detect_format("x.jsonl.zst") == "jsonl"
    assert detect_format("x.parquet") == "parquet"
    with pytest.raises(ValueError, match="--format"):
        detect_format("x.bin")
    assert shard_key("/a/part-1.jsonl.gz") != shard_key("/b/part-1.jsonl.gz")
    assert shard_key("/a/part-1.jsonl.gz").startswith("part-1-")
    assert shard_key("/a/part-1.jsonl.gz") == shard_key("/a/part-1.jsonl.gz")


def test_unreadable_and_unknown_files(tmp_path):
    docs, rejected = tally(tmp_path / "missing.jsonl")
    assert not docs and dict(rejected) == {"unreadable_file": 1}
    (tmp_path / "x.bin").write_bytes(b"abc")
    assert dict(tally(tmp_path / "x.bin")[1]) == {"unknown_format": 1}


def test_shared_warc_fixtures_never_raise():
    folder = shared_data("fixtures", "warc")
    totals = collections.Counter()
    for name in sorted(os.listdir(folder)):
        docs, rejected = tally(folder / name)
        totals["docs"] += len(docs)
        totals["rejected"] += sum(rejected.values())
        assert docs or rejected, f"{name}: nothing accounted for"
    assert totals["docs"] >= 20 and totals["rejected"] >= 4


def test_over_long_lines_are_skipped_without_reading_them_whole(tmp_path):
    p = tmp_path / "long.jsonl"
    p.write_text(json.dumps({"text": "x" * 100_000}) + "\n" + json.dumps({"text": "short"}) + "\n")
    got = list(read_file(str(p), ReaderOptions(max_doc_chars=100)))  # line limit: 600 + 64 KiB
    assert [k for k, _ in got] == [REJECTED, DOC]
    assert got[0][1]["reason"] == "too_large" and "over the reader's limit" in got[0][1]["detail"]
    assert got[0][1]["raw_bytes"] == 100_013 and len(got[0][1]["raw_preview"]) == 512
    assert got[1][1]["record_offset"] == 100_013


@pytest.mark.parametrize("body", [b"-6\r\nabcdef\r\n0\r\n\r\n", b"zz\r\n", b"ffff\r\nshort\r\n"])
def test_bad_chunked_encoding_is_an_error_not_a_hang(body):
    from winnow.pipeline.readers import _dechunk

    with pytest.raises(ValueError, match="chunked"):
        _dechunk(body)
