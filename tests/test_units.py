"""Units of work: splitting large files, and a split run equal to an unsplit one."""
import json
import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import SAMPLE_WEB
from test_pipeline import _canonical, assert_reconciles, run
from winnow.pipeline.commit import OutputError
from winnow.pipeline.readers import ReaderOptions, line_starts_before, read_file
from winnow.pipeline.units import Unit, input_key_of, plan_units, split_file, unit_key_of


def _records(units):
    out = []
    for unit in units:
        out += [(kind, r["doc_id"], r["record_index"], r.get("record_offset"), r.get("text"), r.get("reason"))
                for kind, r in read_file(unit.path, ReaderOptions(), unit.span)]
    return out


def _jsonl(path, n, seed=0):
    rng = random.Random(seed)
    lines = []
    for i in range(n):
        kind = rng.random()
        if kind < 0.1:
            lines.append("")                                     # blank line: counted, not read
        elif kind < 0.15:
            lines.append("{not json")                            # a dead letter
        else:
            lines.append(json.dumps({"text": "word " * rng.randint(1, 60) + str(i)}))
    path.write_text("\n".join(lines))                             # no newline at the end
    return path


@pytest.mark.parametrize("split_bytes", [1, 97, 1000, 4096, 10**9])
def test_jsonl_splits_read_exactly_the_whole_file(tmp_path, split_bytes):
    path = _jsonl(tmp_path / "big.jsonl", 300)
    whole = _records([Unit(str(path))])
    units = split_file(str(path), ReaderOptions(), split_bytes)
    assert (len(units) > 1) == (split_bytes < path.stat().st_size)
    assert _records(units) == whole
    assert len({u.key for u in units}) == len(units)


def test_a_long_line_is_read_by_one_split(tmp_path):
    path = tmp_path / "long.jsonl"
    path.write_text('{"text": "a"}\n' + json.dumps({"text": "x" * 100_000}) + '\n{"text": "b"}\n')
    units = split_file(str(path), ReaderOptions(), 1000)
    assert len(units) == 2  # not 100: the spans inside the long line join the next one
    assert _records(units) == _records([Unit(str(path))])


def test_line_starts_before_counts_lines(tmp_path):
    data = b"a\n\nbb\nccc\n"
    path = tmp_path / "t.txt"
    path.write_bytes(data)
    positions = list(range(1, len(data) + 3))
    expect = [1 + data[:p - 1].count(b"\n") for p in positions]
    assert line_starts_before(str(path), positions, chunk=3) == expect


def test_parquet_splits_by_row_groups(tmp_path):
    path = tmp_path / "p.parquet"
    texts = [f"document number {i} " + "x" * (i % 50) for i in range(1000)]
    texts[17] = None
    pq.write_table(pa.table({"text": texts, "id": [f"d{i}" for i in range(1000)]}), path, row_group_size=100)
    units = split_file(str(path), ReaderOptions(), 2000)
    assert len(units) > 3 and units[0].span.start == 0 and units[-1].span.end == 10
    assert _records(units) == _records([Unit(str(path))])


def test_files_that_cannot_be_split_are_one_unit(tmp_path):
    (tmp_path / "a.jsonl.gz").write_bytes(b"\x1f\x8b" + b"x" * 5000)
    (tmp_path / "b.parquet").write_bytes(b"not parquet" * 500)
    pq.write_table(pa.table({"body": ["x" * 100] * 500}), tmp_path / "c.parquet", row_group_size=10)
    units = plan_units([str(tmp_path)], ReaderOptions(), 100)
    assert [u.splits for u in units] == [1, 1, 1]  # compressed; unreadable; no text column (rejected once)


def test_shard_names_keep_their_input_key():
    unit = Unit("/data/crawl-00001.jsonl", 3, 8)
    assert unit.key.endswith("-s00003")
    assert input_key_of(f"part-{unit.key}.parquet") == Unit(unit.path).key
    assert input_key_of(f".part-{unit.key}.parquet.1234abcd.tmp") == Unit(unit.path).key
    assert input_key_of("part-sample-s7-n50.parquet") is None
    assert unit_key_of("part-sample-s7-n50.parquet") == "sample-s7-n50"
    assert unit_key_of(f"part-{unit.key}.pq") == unit.key


def test_a_split_run_gives_the_rows_of_an_unsplit_run(models_root, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    _jsonl(folder / "big.jsonl", 400)
    inputs = [SAMPLE_WEB, folder]
    whole = run(models_root, inputs, tmp_path / "whole", split_bytes=0)
    split = run(models_root, inputs, tmp_path / "split", split_bytes=4096)
    assert_reconciles(split, tmp_path / "split")
    for key in ("read", "kept", "dropped", "rejected", "by_lang", "by_reason", "by_input"):
        assert split.summary[key] == whole.summary[key], key
    assert _canonical(tmp_path / "split") == _canonical(tmp_path / "whole")
    assert len(split.summary["files"]) > len(whole.summary["files"])
    # Another split size is another configuration: refused, or with --overwrite replacing
    # every split shard of the first run.
    with pytest.raises(OutputError, match="--split-size"):
        run(models_root, inputs, tmp_path / "split", split_bytes=0)
    again = run(models_root, inputs, tmp_path / "split", split_bytes=0, overwrite=True)
    assert_reconciles(again, tmp_path / "split")
    assert not list((tmp_path / "split").rglob("part-*-s0*"))
    assert _canonical(tmp_path / "split") == _canonical(tmp_path / "whole")


def test_the_stale_cleanup_keeps_to_the_output_layout(models_root, tmp_path):
    """Files under OUT that are not the run's own layout (a user's folder) are never removed."""
    out = tmp_path / "out"
    run(models_root, [SAMPLE_WEB], out)
    keep = out / "mine" / "route=keep" / "lang=en"
    keep.mkdir(parents=True)
    name = next((out / "route=keep" / "lang=en").glob("part-*.parquet")).name
    (keep / name).write_bytes(b"a user's copy")
    again = run(models_root, [SAMPLE_WEB], out)
    assert (keep / name).exists() and again.summary["stale_shards_removed"] == 0


def test_split_names_past_99999_keep_their_input():
    unit = Unit("/data/huge.jsonl", 123456, 200000)
    assert input_key_of(f"part-{unit.key}.parquet") == Unit(unit.path).key
