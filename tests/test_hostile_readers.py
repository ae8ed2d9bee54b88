"""Hostile inputs: the readers never raise, never hang, stay in bounded memory and count
every record (read = docs + dead letters). Every input is built here, small, in tmp_path."""
from __future__ import annotations

import bz2
import collections
import gzip
import json
import os
import random
import socket
import threading
import tracemalloc
import zlib

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from winnow.pipeline import readers
from winnow.pipeline.readers import DOC, REJECTED, ReaderOptions, Span, has_text_column, read_file

MB = 1 << 20


def items(path, **opts):
    got = list(read_file(str(path), ReaderOptions(**opts)))
    for kind, rec in got:
        assert kind in (DOC, REJECTED)
        if kind == REJECTED:
            assert rec["reason"] and rec["reason"].replace("_", "").isalnum() and rec["reason"].islower()
            assert rec["detail"]
    return got


def reasons(got):
    return [rec["reason"] if kind == REJECTED else DOC for kind, rec in got]


def peak_bytes(fn):
    """(result, peak bytes traced while running fn)."""
    tracemalloc.start()
    try:
        result = fn()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def jsonl_bytes(n, seed=1):
    rng = random.Random(seed)
    return "".join(json.dumps({"id": f"r{i}", "text": f"record {i} {rng.getrandbits(96):x}"}) + "\n"
                   for i in range(n)).encode()


# --- 1. corrupt compressed files ---------------------------------------------------------------

COMPRESS = {".gz": gzip.compress, ".zst": lambda b: zstandard.ZstdCompressor(write_checksum=True).compress(b),
            ".bz2": bz2.compress}


@pytest.mark.parametrize("suffix", [".zst", ".gz", ".bz2"])
def test_flipped_bytes_mid_file_keep_the_records_before_then_one_corrupt_file(tmp_path, suffix):
    data = jsonl_bytes(40_000)  # ~2.4 MB: several bz2 blocks, so some precede the damage
    blob = bytearray(COMPRESS[suffix](data))
    mid = len(blob) // 2
    blob[mid:mid + 64] = bytes(b ^ 0xFF for b in blob[mid:mid + 64])
    path = tmp_path / f"flipped.jsonl{suffix}"
    path.write_bytes(bytes(blob))
    got = items(path)
    assert reasons(got)[-1] == "corrupt_file" and set(reasons(got)[:-1]) <= {DOC, "invalid_json", "invalid_utf8"}
    assert 0 < len(got) - 1 < 40_000
    assert got[-1][1]["record_index"] == len(got) - 1  # the dead letter stands for the rest, from there


@pytest.mark.parametrize("suffix", [".zst", ".gz", ".bz2"])
@pytest.mark.parametrize("fmt", ["jsonl", "text"])
def test_trailing_garbage_after_a_valid_stream(tmp_path, suffix, fmt):
    path = tmp_path / f"trailing.{'jsonl' if fmt == 'jsonl' else 'txt'}{suffix}"
    path.write_bytes(COMPRESS[suffix](jsonl_bytes(5)) + b"this is not compressed data at all" * 3)
    got = items(path)
    assert reasons(got) == [DOC] * 5 + ["corrupt_file"]
    detail = got[-1][1]["detail"]
    assert "not " in detail and "data" in detail and "compressed byte" in detail


def test_zstd_error_is_caught_not_raised(tmp_path):
    # zstandard.ZstdError is no RuntimeError in the C backend: it used to escape read_file.
    path = tmp_path / "junk.jsonl.zst"
    path.write_bytes(b"\x28\xb5\x2f\xfd" + bytes(range(256)) * 4)
    assert reasons(items(path)) == ["corrupt_file"]


def test_gzip_nul_padding_between_members_is_fine(tmp_path):
    path = tmp_path / "padded.jsonl.gz"
    path.write_bytes(gzip.compress(jsonl_bytes(2)) + b"\0" * 100 + gzip.compress(jsonl_bytes(3, seed=2)) + b"\0" * 7)
    assert reasons(items(path)) == [DOC] * 5


# --- 2. WARC: HTTP gzip bombs and huge blocks ---------------------------------------------------

def warc_record(block: bytes, rtype="response", url="http://example.test/", length=None, eol=b"\r\n",
                rid=None) -> bytes:
    rid = rid or f"<urn:uuid:{random.Random(url + rtype + str(len(block))).getrandbits(64):016x}>"
    head = [b"WARC/1.0", b"WARC-Type: " + rtype.encode(), b"WARC-Target-URI: " + url.encode(),
            b"WARC-Record-ID: " + rid.encode(), b"Content-Type: application/http; msgtype=response",
            b"Content-Length: " + str(len(block) if length is None else length).encode()]
    return eol.join(head) + eol + eol + block + eol + eol


def http(body: bytes, *headers: str, status="200 OK") -> bytes:
    lines = [f"HTTP/1.1 {status}", "Content-Type: text/html; charset=utf-8", *headers, f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def page(n: int) -> bytes:
    return (f"<html><body><article><h1>Page {n}</h1><p>This is page number {n} about rivers, bridges "
            f"and the towns along them, long enough to count as main content.</p></article></body></html>").encode()


def zeros_compressed(n_bytes: int, wbits: int) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, wbits)
    block = b"\0" * MB
    out = [c.compress(block) for _ in range(n_bytes // MB)]
    return b"".join(out) + c.flush()


def test_gzip_bomb_http_body_is_too_large_and_memory_stays_bounded(tmp_path):
    bomb = zeros_compressed(256 * MB, 16 + zlib.MAX_WBITS)  # ~250 KB -> 256 MiB
    path = tmp_path / "bomb.warc"
    path.write_bytes(warc_record(http(bomb, "Content-Encoding: gzip"), url="http://bomb.test/")
                     + warc_record(http(page(1)), url="http://after.test/"))
    got, peak = peak_bytes(lambda: items(path))
    assert reasons(got) == ["too_large", DOC]
    detail = got[0][1]["detail"]
    assert "Content-Encoding body" in detail and f"expands beyond {readers.MAX_RECORD_BYTES} bytes" in detail
    assert got[1][1]["url"] == "http://after.test/"
    assert peak < 200 * MB, peak


def test_deflate_bomb_with_a_smaller_cap(tmp_path):
    bomb = zeros_compressed(16 * MB, zlib.MAX_WBITS)
    path = tmp_path / "deflate.warc"
    path.write_bytes(warc_record(http(bomb, "Content-Encoding: deflate")) + warc_record(http(page(2))))
    got, peak = peak_bytes(lambda: items(path, max_record_bytes=MB))
    assert reasons(got) == ["too_large", DOC]
    assert f"expands beyond {MB} bytes" in got[0][1]["detail"]
    assert peak < 40 * MB, peak


def test_a_10_gb_content_length_is_not_read_whole(tmp_path):
    path = tmp_path / "huge.warc"
    path.write_bytes(warc_record(http(page(1)), url="http://liar.test/", length=10_000_000_000)
                     + warc_record(http(page(2)), url="http://next.test/"))
    got, peak = peak_bytes(lambda: items(path))
    assert reasons(got) == ["too_large", DOC]
    assert "Content-Length 10000000000, over max_record_bytes" in got[0][1]["detail"]
    assert got[1][1]["url"] == "http://next.test/"
    assert peak < 50 * MB, peak


def test_a_real_record_over_the_cap_that_mentions_warc_lines_costs_no_other_record(tmp_path):
    # Skipping an over-cap block stops cap bytes after a version line inside it (a lying
    # length would otherwise take every record after it): for a real record that merely holds
    # one, the rest of it is one more dead letter, and the record after it is read.
    big = http(b"<html><body><pre>\r\nWARC/1.0\r\nWARC-Type: response\r\n" + b"x" * 5000 + b"</pre></body></html>")
    path = tmp_path / "big.warc.gz"
    path.write_bytes(gzip.compress(warc_record(big, url="http://big.test/"))
                     + gzip.compress(warc_record(http(page(3)), url="http://small.test/")))
    got = items(path, max_record_bytes=1000)
    assert reasons(got) == ["too_large", "bad_record_header", DOC]
    assert got[2][1]["url"] == "http://small.test/"


def test_an_over_cap_length_that_lies_costs_no_later_record(tmp_path):
    """A Content-Length over the cap that runs over 30 records: all of them are read."""
    records = [warc_record(http(page(n)), url=f"http://p{n}.test/") for n in range(30)]
    liar = warc_record(http(b"<p>tiny</p>"), url="http://liar.test/", length=200_000)
    got = items(_write_warc(tmp_path, liar + b"".join(records)), max_record_bytes=1000)
    assert reasons(got)[0] == "too_large" and [r["url"] for k, r in got if k == DOC] == \
        [f"http://p{n}.test/" for n in range(30)]


def test_a_record_cut_short_costs_no_later_record(tmp_path):
    b, c = (warc_record(http(page(n)), url=f"http://{n}.test/") for n in (1, 2))
    cut_header = warc_record(http(page(0)), url="http://0.test/")[:60]  # ends inside a header line
    cut_block = warc_record(http(page(0)), url="http://0.test/", length=500)[:300]  # no newline at the cut
    for cut in (cut_header, cut_block):
        got = items(_write_warc(tmp_path, cut + b + c))
        assert [r["url"] for k, r in got if k == DOC] == ["http://1.test/", "http://2.test/"], reasons(got)
        assert len(got) == 3  # the cut record is one dead letter


def _write_warc(tmp_path, data: bytes):
    path = tmp_path / "x.warc"
    path.write_bytes(data)
    return path


# --- 3. file-level decompression caps and cheap blank lines -------------------------------------

def test_512_mib_of_newlines_in_a_small_gz_stops_with_decompression_bomb(tmp_path):
    member = gzip.compress(b"\n" * MB, 9)
    path = tmp_path / "newlines.jsonl.gz"
    path.write_bytes(member * 512)  # ~0.5 MB of gzip members holding 512 MiB of blank lines
    got, peak = peak_bytes(lambda: items(path))
    assert reasons(got) == ["decompression_bomb"]
    rec = got[0][1]
    assert "expanded past" in rec["detail"] and "stopped reading" in rec["detail"]
    assert readers.EXPANSION_FLOOR_BYTES <= rec["record_offset"] < 2 * readers.EXPANSION_FLOOR_BYTES  # how far
    assert rec["record_index"] == rec["record_offset"]  # every byte so far was a (blank) line
    assert peak < 50 * MB, peak


@pytest.mark.parametrize("suffix", [".gz", ".zst", ".bz2"])
@pytest.mark.parametrize("fmt", ["jsonl", "txt"])
def test_expansion_cap_applies_to_every_codec_and_line_format(tmp_path, suffix, fmt):
    line = b'{"text": "same line again"}\n'
    data = line * (4 * MB // len(line))
    path = tmp_path / f"bomb.{fmt}{suffix}"
    path.write_bytes(COMPRESS[suffix](data))
    got = items(path, expansion_floor_bytes=MB // 2, max_expansion_ratio=20)
    assert reasons(got)[-1] == "decompression_bomb" and set(reasons(got)[:-1]) == {DOC}
    assert 0 < len(got) - 1 < data.count(b"\n")
    # Without the cap the same file reads whole.
    assert len(items(path, max_expansion_ratio=0)) == data.count(b"\n")


def test_ordinary_compressed_files_are_not_capped(tmp_path):
    data = jsonl_bytes(20_000)  # ~1 MB of hard-to-compress lines
    path = tmp_path / "ok.jsonl.gz"
    path.write_bytes(gzip.compress(data))
    assert reasons(items(path, expansion_floor_bytes=64 << 10)) == [DOC] * 20_000


def test_warc_files_are_capped_too(tmp_path):
    path = tmp_path / "zeros.warc.gz"
    path.write_bytes(gzip.compress(warc_record(b"\0" * (4 * MB), rtype="resource")))
    assert reasons(items(path, expansion_floor_bytes=MB)) == ["decompression_bomb"]


def _reference_lines(data: bytes, max_bytes: int):
    """The old readline-based splitter: (index, offset, line or ('long', size)) of non-blank lines."""
    out, offset, index, pos = [], 0, 0, 0
    while pos < len(data):
        nl = data.find(b"\n", pos)
        end = len(data) if nl < 0 else nl + 1
        line = data[pos:end]
        if len(line) - (1 if line.endswith(b"\n") else 0) >= max_bytes:
            out.append((index, offset, ("long", len(line))))
        elif line.strip():
            out.append((index, offset, line))
        offset += len(line)
        index += 1
        pos = end
    return out


@pytest.mark.parametrize("chunk", [1, 3, 7, 64, 1 << 20])
def test_block_line_splitter_keeps_exact_indices_offsets_and_long_lines(tmp_path, monkeypatch, chunk):
    monkeypatch.setattr(readers, "READ_CHUNK", chunk)
    rng = random.Random(chunk)
    pieces = []
    for _ in range(400):
        r = rng.random()
        pieces.append(b"\n" * rng.randint(1, 5) if r < 0.2 else b" \t\r\n" if r < 0.3 else
                      b"y" * rng.randint(30, 90) + b"\n" if r < 0.4 else
                      f'{{"text": "t{rng.random()}"}}\r\n'.encode() if r < 0.5 else
                      f'{{"text": "line {rng.random()}"}}\n'.encode())
    data = b"".join(pieces) + b'{"text": "no newline at the end"}'
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(data)
    max_bytes = 40
    got = [(i, o, ("long", line.size) if isinstance(line, readers._TooLong) else line)
           for i, o, line in readers._lines(str(path), open(path, "rb"), max_bytes, ReaderOptions())]
    assert got == _reference_lines(data, max_bytes)
    # Spans read exactly the lines that start in them.
    size = len(data)
    cuts = sorted(rng.sample(range(1, size), 9))
    starts = [0] + cuts
    firsts = [0] + readers.line_starts_before(str(path), cuts)
    spanned = []
    for start, end, first in zip(starts, cuts + [size], firsts):
        with open(path, "rb") as f:
            spanned += [(i, o, ("long", ln.size) if isinstance(ln, readers._TooLong) else ln)
                        for i, o, ln in readers._lines(str(path), f, max_bytes, ReaderOptions(),
                                                        Span(start, end, first))]
    assert spanned == got


# --- 4. not a regular file -----------------------------------------------------------------------

def test_a_fifo_is_refused_without_opening_it(tmp_path):
    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    done = threading.Event()

    def unblock():  # if the reader wrongly opened the FIFO, this lets the test fail instead of hang
        if not done.wait(20):
            with open(fifo, "wb"):
                pass

    threading.Thread(target=unblock, daemon=True).start()
    try:
        got = items(fifo)
    finally:
        done.set()
    assert reasons(got) == ["not_a_regular_file"] and "FIFO" in got[0][1]["detail"]


def test_devices_sockets_and_directories_are_refused(tmp_path):
    (tmp_path / "zero.jsonl").symlink_to("/dev/zero")
    (tmp_path / "folder.jsonl").mkdir()
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / "s.jsonl"))
    try:
        for name, kind in [("zero.jsonl", "character device"), ("folder.jsonl", "directory"), ("s.jsonl", "socket")]:
            got = items(tmp_path / name)
            assert reasons(got) == ["not_a_regular_file"], name
            assert kind in got[0][1]["detail"]
    finally:
        sock.close()
    got = list(read_file("/dev/null", ReaderOptions(format="text")))
    assert reasons(got) == ["not_a_regular_file"] and "character device" in got[0][1]["detail"]


def test_dangling_symlinks_and_symlink_loops(tmp_path):
    (tmp_path / "gone.jsonl").symlink_to(tmp_path / "nowhere.jsonl")
    (tmp_path / "a.jsonl").symlink_to(tmp_path / "b.jsonl")
    (tmp_path / "b.jsonl").symlink_to(tmp_path / "a.jsonl")
    got = items(tmp_path / "gone.jsonl")
    assert reasons(got) == ["dangling_symlink"] and "nowhere.jsonl" in got[0][1]["detail"]
    assert reasons(items(tmp_path / "a.jsonl")) == ["symlink_loop"]
    assert reasons(items(tmp_path / "missing.jsonl")) == ["unreadable_file"]  # as before


def test_remote_uris_skip_the_local_check(tmp_path, monkeypatch):
    import fakefs  # noqa: F401 - registers fakefs:// with Beam

    monkeypatch.setenv("WINNOW_FAKEFS_ROOT", str(tmp_path))
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "x.jsonl").write_text('{"text": "remote"}\n')
    got = list(read_file("fakefs://b/x.jsonl"))  # no local path of that name: os.stat would fail
    assert reasons(got) == [DOC] and got[0][1]["text"] == "remote"


# --- 5. lying Content-Lengths: resynchronise at the next record ----------------------------------

def three(**lie):
    """Three response records; ``lie`` maps a record number to its Content-Length delta."""
    recs = []
    for n in range(3):
        block = http(page(n))
        recs.append(warc_record(block, url=f"http://p{n}.test/", length=len(block) + lie.get(f"r{n}", 0)))
    return recs


def urls(got):
    return [rec["url"] for kind, rec in got]


@pytest.mark.parametrize("packing", ["plain", "gz-per-record", "gz-whole"])
@pytest.mark.parametrize("lie,expect", [
    ({"r1": -10}, [DOC, "bad_record_length", DOC]),        # too short
    ({"r1": +150}, [DOC, "bad_record_length", DOC]),       # too long: swallows the next header
    ({"r1": +5000}, [DOC, "bad_record_length", DOC]),      # swallows the next record, runs past the end
    ({"r2": +5000}, [DOC, DOC, "truncated_record"]),       # the last one runs past the end
    ({"r0": -300}, ["bad_record_length", DOC, DOC]),
])
def test_a_lying_content_length_costs_that_record_only(tmp_path, packing, lie, expect):
    recs = three(**lie)
    data = {"plain": b"".join(recs), "gz-per-record": b"".join(gzip.compress(r) for r in recs),
            "gz-whole": gzip.compress(b"".join(recs))}[packing]
    path = tmp_path / ("lie.warc" if packing == "plain" else "lie.warc.gz")
    path.write_bytes(data)
    got = items(path)
    assert reasons(got) == expect
    assert urls(got) == ["http://p0.test/", "http://p1.test/", "http://p2.test/"]
    assert [rec["record_index"] for _, rec in got] == [0, 1, 2]
    bad = [rec for kind, rec in got if kind == REJECTED][0]
    assert "the record at byte" in bad["detail"] and bad["record_offset"] is not None


def test_record_offsets_are_record_starts_or_gzip_member_starts(tmp_path):
    recs = three()
    plain = tmp_path / "o.warc"
    plain.write_bytes(b"".join(recs))
    starts = [sum(map(len, recs[:i])) for i in range(3)]
    assert [rec["record_offset"] for _, rec in items(plain)] == starts
    members = [gzip.compress(r) for r in recs]
    packed = tmp_path / "o.warc.gz"
    packed.write_bytes(b"".join(members))
    assert [rec["record_offset"] for _, rec in items(packed)] == [sum(map(len, members[:i])) for i in range(3)]


@pytest.mark.parametrize("bad_length", [b"abc", b"-5", b"", b"1e9", b"99999999999999999999999"])
def test_a_content_length_that_is_no_number(tmp_path, bad_length):
    recs = three()
    recs[1] = recs[1].replace(f"Content-Length: {len(http(page(1)))}\r\n".encode(),
                              b"Content-Length: " + bad_length + b"\r\n")
    path = tmp_path / "nan.warc"
    path.write_bytes(b"".join(recs))
    assert reasons(items(path)) == [DOC, "bad_record_length", DOC]


def test_broken_headers_and_junk_between_records(tmp_path):
    recs = three()
    recs[1] = recs[1].replace(b"WARC-Target-URI", b"WARC-Target-URI\r\nno colon here", 1)
    path = tmp_path / "hdr.warc"
    path.write_bytes(recs[0] + b"some junk that is no record\r\n" * 3 + recs[1] + recs[2])
    assert reasons(items(path)) == [DOC, "bad_record_header", "bad_record_header", DOC]


def test_a_page_that_holds_a_warc_line_is_not_split(tmp_path):
    text = b"How to read a WARC file:\r\nWARC/1.0\r\nWARC-Type: response\r\nContent-Length: 5\r\n\r\nend of example"
    path = tmp_path / "t.warc.wet"
    path.write_bytes(warc_record(text, rtype="conversion", url="http://a.test/")
                     + warc_record(b"second", rtype="conversion", url="http://b.test/"))
    got = items(path)
    assert reasons(got) == [DOC, DOC]
    assert got[0][1]["text"] == text.decode() and got[1][1]["text"] == "second"


def test_lf_wet_whose_content_length_counts_characters(tmp_path):
    texts = ["Plain English text.", "中文文本，字节比字符多。", "Русский текст тоже."]
    data = warc_record(b"software: test", rtype="warcinfo", eol=b"\n")
    for i, t in enumerate(texts):
        data += warc_record(t.encode(), rtype="conversion", url=f"http://{i}.test/", length=len(t), eol=b"\n")
    path = tmp_path / "ccnet.wet"
    path.write_bytes(data)
    got = items(path)
    assert reasons(got) == [DOC] * 3 and [rec["text"] for _, rec in got] == texts


def test_not_a_warc_file_and_only_other_record_types(tmp_path):
    (tmp_path / "x.warc").write_bytes(b"just some text\nthat is not a WARC file\n")
    assert reasons(items(tmp_path / "x.warc")) == ["no_records"]
    (tmp_path / "req.warc").write_bytes(warc_record(b"GET / HTTP/1.1\r\n\r\n", rtype="request"))
    assert reasons(items(tmp_path / "req.warc")) == ["no_records"]


def test_wet_records_over_the_cap_and_truncated_headers(tmp_path):
    path = tmp_path / "cap.wet"
    path.write_bytes(warc_record(b"x" * 5000, rtype="conversion") + warc_record(b"ok", rtype="conversion")
                     + b"WARC/1.0\r\nWARC-Type: conversion\r\nContent-Le")
    assert reasons(items(path, max_record_bytes=1000)) == ["too_large", DOC, "truncated_record"]


# --- 6. Parquet text columns -------------------------------------------------------------------

TEXTS = ["Der Fluss fließt durch das Tal.", "The bridge was repaired.", "Der Fluss fließt durch das Tal."]


def _types():
    types = {"binary": (pa.binary(), True), "large_binary": (pa.large_binary(), True),
             "large_string": (pa.large_string(), False), "dictionary_string": ("dict", False),
             "dictionary_binary": ("dict-bin", True)}
    if hasattr(pa, "string_view"):
        types["string_view"] = (pa.string_view(), False)
        types["binary_view"] = (pa.binary_view(), True)
    return types


@pytest.mark.parametrize("name", sorted(_types()))
def test_parquet_text_columns_of_every_string_like_type(tmp_path, name):
    typ, as_bytes = _types()[name]
    values = [t.encode() for t in TEXTS] if as_bytes else TEXTS
    if typ == "dict":
        column = pa.array(values).dictionary_encode()
    elif typ == "dict-bin":
        column = pa.array(values, pa.binary()).dictionary_encode()
    else:
        column = pa.array(values, typ)
    path = tmp_path / f"{name}.parquet"
    pq.write_table(pa.table({"text": column, "id": ["a", "b", "c"]}), path)
    assert has_text_column(pq.ParquetFile(path).schema_arrow, ReaderOptions())
    got = items(path)
    assert reasons(got) == [DOC] * 3
    assert [rec["text"] for _, rec in got] == TEXTS and [rec["doc_id"] for _, rec in got] == ["a", "b", "c"]


def test_parquet_binary_rows_that_are_not_utf8(tmp_path):
    path = tmp_path / "bin.parquet"
    pq.write_table(pa.table({"text": pa.array([b"good", b"caf\xe9 \xff", None, b"also good"], pa.binary())}), path)
    got = items(path)
    assert reasons(got) == [DOC, "invalid_utf8", "missing_field", DOC]
    assert [rec["record_index"] for _, rec in got] == [0, 1, 2, 3]
    # A string column holding invalid UTF-8 (written by a lax writer) is per row too.
    bad = pa.Array.from_buffers(pa.string(), 2, pa.array([b"fine", b"\xff\xfe"], pa.binary()).buffers())
    path2 = tmp_path / "lax.parquet"
    pq.write_table(pa.table({"text": bad}), path2)
    assert reasons(items(path2)) == [DOC, "invalid_utf8"]


def test_parquet_text_column_of_an_unusable_type_counts_every_row(tmp_path):
    path = tmp_path / "ints.parquet"
    pq.write_table(pa.table({"text": pa.array(range(100, 120), pa.int64())}), path, row_group_size=7)
    assert not has_text_column(pq.ParquetFile(path).schema_arrow, ReaderOptions())
    got = items(path)
    assert reasons(got) == ["bad_schema"] * 20
    assert [rec["record_index"] for _, rec in got] == list(range(20))
    assert "int64" in got[5][1]["detail"] and "row 5" in got[5][1]["detail"] and got[5][1]["raw_preview"] == "105"
    # A span (row groups 1..2) counts its rows only, with whole-file indices.
    spanned = list(read_file(str(path), ReaderOptions(), Span(1, 3, 7)))
    assert [rec["record_index"] for _, rec in spanned] == list(range(7, 20))


def test_parquet_without_the_text_column_counts_every_row(tmp_path):
    path = tmp_path / "body.parquet"
    pq.write_table(pa.table({"body": [f"row {i}" for i in range(20)], "id": [f"i{i}" for i in range(20)]}), path)
    got = items(path)
    assert reasons(got) == ["bad_schema"] * 20
    assert "no column 'text'" in got[0][1]["detail"] and "body" in got[0][1]["detail"]
    assert [rec["doc_id"] for _, rec in got][:2] == ["i0", "i1"]


def test_read_equals_docs_plus_dead_letters_for_every_hostile_case(tmp_path):
    """A roll-up: each of the cases above in one folder, counted."""
    cases = {
        "a.jsonl.zst": zstandard.ZstdCompressor().compress(jsonl_bytes(3)) + b"garbage",
        "b.warc": b"".join(three(r1=-10)),
        "c.jsonl": b"\n\n" + jsonl_bytes(2) + b"  \n",
    }
    totals = collections.Counter()
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        for kind, _ in items(tmp_path / name):
            totals[kind] += 1
    assert totals == {DOC: 3 + 2 + 2, REJECTED: 1 + 1}


@pytest.mark.parametrize("chunk", [7, 4096, 1 << 20])
def test_record_offsets_are_exact_whatever_the_read_chunks(tmp_path, monkeypatch, chunk):
    import winnow.pipeline.readers as readers

    monkeypatch.setattr(readers, "READ_CHUNK", chunk)
    data = b"".join(warc_record(http(page(n) * (1 + 40 * n)), url=f"http://p{n}.test/") for n in range(4))
    starts = [i for i in range(len(data)) if data.startswith(b"WARC/1.0\r\n", i)]
    got = items(_write_warc(tmp_path, data))
    assert [k for k, _ in got] == [DOC] * 4
    assert [r["record_offset"] for _, r in got] == starts


def test_parquet_with_two_text_columns_or_an_unconvertible_id(tmp_path):
    two = pa.Table.from_arrays([pa.array(["a", "b"]), pa.array(["c", "d"])], names=["text", "text"])
    pq.write_table(two, tmp_path / "two.parquet")
    got = items(tmp_path / "two.parquet")
    assert reasons(got) == ["bad_schema", "bad_schema"]
    stamps = pa.table({"text": ["one", "two", "three"],
                       "id": pa.array([2 ** 62, 1, 2], pa.int64()).cast(pa.timestamp("ms"))})
    pq.write_table(stamps, tmp_path / "stamps.parquet")
    got = items(tmp_path / "stamps.parquet")
    assert [k for k, _ in got] == [DOC, DOC, DOC]  # the id is lost, not the rows


def test_parquet_text_column_of_timestamps_out_of_range_counts_every_row(tmp_path):
    t = pa.table({"text": pa.array([2 ** 62, 1], pa.int64()).cast(pa.timestamp("ms"))})
    pq.write_table(t, tmp_path / "ts.parquet")
    assert reasons(items(tmp_path / "ts.parquet")) == ["bad_schema", "bad_schema"]


def test_many_empty_gzip_members_cost_no_memory(tmp_path):
    rec = gzip.compress(warc_record(http(page(1))))
    path = tmp_path / "members.warc.gz"
    path.write_bytes(rec + gzip.compress(b"") * 100_000 + rec)
    got, peak = peak_bytes(lambda: items(path))
    assert [k for k, _ in got] == [DOC, DOC] and peak < 8 * MB, peak

