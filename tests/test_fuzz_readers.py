"""Fuzzing the readers: mutations of small valid seed files (byte flips, truncation,
insertions, deletions, random length fields, compression wrappers, damage after
compression) must never raise, must account for what they read, and must stay in bounded
memory.

Repeatable: a derandomized Hypothesis profile with no example database. The default
budget (``WINNOW_FUZZ_EXAMPLES`` examples per format, 2500 unless set) keeps the file to
about a minute on a 2-core machine; raise it for longer local runs, e.g.
``WINNOW_FUZZ_EXAMPLES=5000``, with ``WINNOW_FUZZ_RANDOM=1`` for fresh random examples
instead of the fixed set. With ``WINNOW_FUZZ_SAVE=folder`` every failing input is
written there, ready to be added under ``tests/fixtures/fuzz/<format>/``.

Inputs the fuzzer found (or hand-made nasty ones) live in ``tests/fixtures/fuzz/<format>/``
and are read by :func:`test_saved_fuzz_inputs`.
"""
from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import json
import os
import re
import tracemalloc
import zlib
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from winnow.pipeline import readers
from winnow.pipeline.readers import DOC, REJECTED, ReaderOptions, read_file

EXAMPLES = int(os.environ.get("WINNOW_FUZZ_EXAMPLES", "2500"))
RANDOM = bool(os.environ.get("WINNOW_FUZZ_RANDOM"))  # fresh random examples (a campaign), not the fixed CI set
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=not RANDOM, database=None, print_blob=RANDOM,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])
FIXTURES = Path(__file__).parent / "fixtures" / "fuzz"
PEAK_BYTES = 64 << 20  # traced Python memory per example (inputs are a few KB; caps are small)
OPTIONS = ReaderOptions(max_doc_chars=200, max_record_bytes=64 << 10, expansion_floor_bytes=1 << 20)
REASONS = {"unknown_format", "unreadable_file", "not_a_regular_file", "dangling_symlink", "symlink_loop",
           "corrupt_file", "decompression_bomb", "too_large", "invalid_utf8", "invalid_json", "not_an_object",
           "missing_field", "bad_type", "bad_schema", "bad_http", "extraction_failed", "truncated_record",
           "bad_record_length", "bad_record_header", "no_records"}
TERMINAL = {"corrupt_file", "decompression_bomb"}
# Exceptions that mean a bug in the reader, not bad data, if a dead letter names them.
BUGS = re.compile(r"\b(TypeError|IndexError|AttributeError|KeyError|NameError|UnboundLocalError|AssertionError|"
                  r"ZeroDivisionError|RecursionError|OverflowError|MemoryError|SystemError)\b")


# --- seeds -------------------------------------------------------------------------------------

def _warc_record(rtype: str, block: bytes, eol: bytes = b"\r\n", extra: tuple = ()) -> bytes:
    head = [b"WARC/1.0", b"WARC-Type: " + rtype.encode(), b"WARC-Target-URI: http://seed.test/" + rtype.encode(),
            b"WARC-Record-ID: <urn:uuid:" + hashlib.md5(block).hexdigest().encode() + b">", *extra,
            b"Content-Length: " + str(len(block)).encode()]
    return eol.join(head) + eol + eol + block + eol + eol


def _http(body: bytes, *headers: bytes) -> bytes:
    return b"\r\n".join([b"HTTP/1.1 200 OK", b"Content-Type: text/html", *headers]) + b"\r\n\r\n" + body


PAGE = b"<html><body><article><p>The river runs under the old stone bridge near the mill.</p></article></body></html>"


def warc_seed() -> list[bytes]:
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(PAGE), PAGE)
    return [_warc_record("warcinfo", b"software: seed\r\n"),
            _warc_record("response", _http(PAGE)),
            _warc_record("request", b"GET / HTTP/1.1\r\nHost: seed.test\r\n\r\n"),
            _warc_record("response", _http(gzip.compress(PAGE), b"Content-Encoding: gzip")),
            _warc_record("response", _http(chunked, b"Transfer-Encoding: chunked")),
            _warc_record("response", b"HTTP/1.1 404 Not Found\r\n\r\n")]


def wet_seed() -> list[bytes]:
    return [_warc_record("warcinfo", b"software: seed\r\n"),
            _warc_record("conversion", "Plain text of a page.\nSecond line.".encode()),
            _warc_record("conversion", "Ein zweiter Text mit Umlauten: äöü.".encode()),
            _warc_record("conversion", "中文文本".encode(), eol=b"\n")]  # an LF record among CRLF ones


def jsonl_seed() -> bytes:
    rows = [{"id": 1, "text": "first line"}, {"id": 2, "text": "zweite Zeile", "url": "http://x.test/"},
            {"text": "x" * 150}, {"id": "four"}, [1, 2], {"text": "last"}]
    return ("\n".join(json.dumps(r) for r in rows[:3]) + "\n\n" + "\n".join(json.dumps(r) for r in rows[3:])
            + "\n").encode()


def text_seed() -> bytes:
    return "one line\ntwo line\n\n   \nthree: ünïcödé\n" .encode() + b"y" * 250 + b"\nlast line without newline"


def parquet_seed() -> bytes:
    buf = io.BytesIO()
    table = pa.table({"id": ["a", "b", "c", "d", "e", "f"],
                      "text": ["alpha text", None, "gamma", "delta delta", "x" * 300, "zeta"]})
    pq.write_table(table, buf, row_group_size=2)
    return buf.getvalue()


# --- mutations ----------------------------------------------------------------------------------

NASTY = [b"\r\n", b"\n", b"\r\n\r\n", b"\x00", b"\xff\xfe", b"WARC/1.0\r\n", b"WARC/1.0\n", b"Content-Length: ",
         b"Content-Length: 99999999999\r\n", b"Content-Length: -1\r\n", b"WARC-Type: response\r\n",
         b"Content-Encoding: gzip\r\n", b"Transfer-Encoding: chunked\r\n", b"HTTP/1.1 200 OK\r\n", b"{", b"}",
         b'"text": ', b"\\ud800", b"[" * 50, b" " * 40, b"\x1f\x8b\x08\x00", b"\x28\xb5\x2f\xfd", b"BZh9", b"PAR1"]

_op = st.one_of(
    st.tuples(st.just("flip"), st.floats(0, 1), st.integers(1, 255)),
    st.tuples(st.just("truncate"), st.floats(0, 1)),
    st.tuples(st.just("insert"), st.floats(0, 1), st.one_of(st.sampled_from(NASTY), st.binary(max_size=24))),
    st.tuples(st.just("delete"), st.floats(0, 1), st.integers(1, 64)),
    st.tuples(st.just("duplicate"), st.floats(0, 1), st.integers(1, 200)),
    st.tuples(st.just("length"), st.integers(0, 20), st.one_of(st.integers(0, 1 << 40), st.sampled_from(
        [b"0", b"", b"abc", b"-7", b"1e3", b"00000000000000000000123", b"18446744073709551617"]))),
)


def mutate(data: bytes, ops) -> bytes:
    for op in ops:
        if not data and op[0] not in ("insert", "length"):
            continue
        at = min(int(op[1] * len(data)), max(len(data) - 1, 0)) if op[0] != "length" else 0
        if op[0] == "flip":
            data = data[:at] + bytes([data[at] ^ op[2]]) + data[at + 1:]
        elif op[0] == "truncate":
            data = data[:at]
        elif op[0] == "insert":
            data = data[:at] + op[2] + data[at:]
        elif op[0] == "delete":
            data = data[:at] + data[at + op[2]:]
        elif op[0] == "duplicate":
            data = data[:at + op[2]] + data[at:]
        else:  # rewrite the n-th Content-Length (or "length"-looking number) field
            fields = list(re.finditer(rb"(Content-Length: )([^\r\n]*)", data))
            if fields:
                m = fields[op[1] % len(fields)]
                value = op[2] if isinstance(op[2], bytes) else str(op[2]).encode()
                data = data[:m.start(2)] + value + data[m.end(2):]
    return data


def compress(kind: str, data: bytes, records: list[bytes] | None = None) -> bytes:
    if kind == "gz":
        return gzip.compress(data, 6)
    if kind == "gz-members":  # WARC style: one gzip member per record
        return b"".join(gzip.compress(r, 6) for r in records)
    if kind == "zst":
        return zstandard.ZstdCompressor().compress(data)
    if kind == "bz2":
        return bz2.compress(data)
    return data


SUFFIX = {"none": "", "gz": ".gz", "gz-members": ".gz", "zst": ".zst", "bz2": ".bz2"}


def reference_decompress(kind: str, blob: bytes) -> bytes | None:
    """The whole decompressed stream if it is intact (strictly), else None."""
    try:
        if kind in ("gz", "gz-members"):
            out, rest = [], blob
            while rest:
                d = zlib.decompressobj(16 + zlib.MAX_WBITS)
                out.append(d.decompress(rest))
                if not d.eof:
                    return None
                rest = d.unused_data.lstrip(b"\0")
            return b"".join(out)
        if kind == "zst":
            out, rest = [], blob
            while rest:
                d = zstandard.ZstdDecompressor().decompressobj()
                out.append(d.decompress(rest))
                if not d.eof:
                    return None
                rest = d.unused_data
            return b"".join(out)
        if kind == "bz2":  # not bz2.decompress, which ignores trailing garbage
            out, rest = [], blob
            while rest:
                d = bz2.BZ2Decompressor()
                out.append(d.decompress(rest))
                if not d.eof:
                    return None
                rest = d.unused_data
            return b"".join(out)
    except Exception:  # noqa: BLE001 - not intact
        return None
    return blob


# --- the checks -----------------------------------------------------------------------------------

def read_checked(path: Path, options: ReaderOptions = OPTIONS) -> list[tuple[str, dict]]:
    """Read ``path``; assert what holds for every input: no exception, bounded memory, every
    item a document or a dead letter with a known snake_case reason and a human detail,
    indices unique and ascending, at most one terminal dead letter, last."""
    tracemalloc.start()
    try:
        got = list(read_file(str(path), options))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < PEAK_BYTES, f"{peak} bytes traced"
    indices = []
    for n, (kind, rec) in enumerate(got):
        assert kind in (DOC, REJECTED)
        assert rec["source_file"] == str(path)
        if kind == DOC:
            assert isinstance(rec["text"], str) and readers._encodable(rec["text"])
            assert len(rec["text"]) <= options.max_doc_chars
        else:
            assert rec["reason"] in REASONS, rec["reason"]
            assert re.fullmatch(r"[a-z][a-z0-9_]*", rec["reason"]) and rec["detail"]
            assert not BUGS.search(rec["detail"]), rec["detail"]  # a reader bug hidden as bad data
            if rec["reason"] in TERMINAL:
                assert n == len(got) - 1, "a terminal dead letter must be the last item"
        if rec["record_index"] != -1:
            indices.append(rec["record_index"])
    assert indices == sorted(set(indices)), "record indices must be unique and ascending"
    if any(rec["record_index"] == -1 for _, rec in got):
        assert len(got) == 1, "a whole-file dead letter stands alone"
    return got


def _save_on_failure(fmt: str, name: str, data: bytes, check):
    try:
        return check()
    except BaseException:
        folder = os.environ.get("WINNOW_FUZZ_SAVE")
        if folder:
            out = Path(folder) / fmt
            out.mkdir(parents=True, exist_ok=True)
            (out / f"{hashlib.sha1(data).hexdigest()[:12]}-{name}").write_bytes(data)
        raise


def _line_count(data: bytes, max_bytes: int) -> int:
    """Items an intact line file yields: non-blank lines, over-long ones included."""
    n = 0
    for line in data.split(b"\n") if data else []:
        if len(line) >= max_bytes or line.strip():
            n += 1
    return n


def _write(tmp_path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# --- one fuzz test per format ------------------------------------------------------------------------

@FUZZ
@given(ops=st.lists(_op, max_size=6), kind=st.sampled_from(["none", "gz", "zst", "bz2"]),
       after=st.lists(_op.filter(lambda o: o[0] in ("flip", "truncate", "insert", "delete")), max_size=2))
def test_fuzz_jsonl(tmp_path_factory, ops, kind, after):
    _fuzz_lines(tmp_path_factory, "jsonl", jsonl_seed(), readers._line_limit(OPTIONS), ops, kind, after)


@FUZZ
@given(ops=st.lists(_op, max_size=6), kind=st.sampled_from(["none", "gz", "zst", "bz2"]),
       after=st.lists(_op.filter(lambda o: o[0] in ("flip", "truncate", "insert", "delete")), max_size=2))
def test_fuzz_text(tmp_path_factory, ops, kind, after):
    _fuzz_lines(tmp_path_factory, "txt", text_seed(), OPTIONS.max_doc_chars * 4 + 2, ops, kind, after)


def _fuzz_lines(tmp_path_factory, ext, seed, max_bytes, ops, kind, after):
    plain = mutate(seed, ops)
    blob = mutate(compress(kind, plain), after) if kind != "none" else mutate(plain, after)
    name = f"fuzz.{ext}{SUFFIX[kind]}"
    path = _write(tmp_path_factory.mktemp("fuzz"), name, blob)

    def check():
        got = read_checked(path)
        intact = reference_decompress(kind, blob)
        if intact is not None:  # read = every non-blank line, each a doc or a dead letter
            assert len(got) == _line_count(intact, max_bytes)
        else:  # broken off: the lines before the break, then one terminal dead letter
            assert got and got[-1][1]["reason"] in TERMINAL
    _save_on_failure(ext, name, blob, check)


@FUZZ
@given(ops=st.lists(_op, max_size=6), kind=st.sampled_from(["none", "gz", "gz-members", "zst"]),
       after=st.lists(_op.filter(lambda o: o[0] in ("flip", "truncate", "insert")), max_size=2))
def test_fuzz_warc(tmp_path_factory, ops, kind, after):
    _fuzz_warc(tmp_path_factory, "warc", warc_seed(), ops, kind, after)


@FUZZ
@given(ops=st.lists(_op, max_size=6), kind=st.sampled_from(["none", "gz", "gz-members"]),
       after=st.lists(_op.filter(lambda o: o[0] in ("flip", "truncate", "insert")), max_size=2))
def test_fuzz_wet(tmp_path_factory, ops, kind, after):
    _fuzz_warc(tmp_path_factory, "wet", wet_seed(), ops, kind, after)


def _fuzz_warc(tmp_path_factory, fmt, records, ops, kind, after):
    if kind == "gz-members":  # mutate records one by one, so each member holds its own damage
        parts = [mutate(r, ops[i::len(records)]) for i, r in enumerate(records)]
        plain = b"".join(parts)
        blob = compress(kind, plain, parts)
    else:
        plain = mutate(b"".join(records), ops)
        blob = compress(kind, plain)
    blob = mutate(blob, after)
    name = "fuzz.warc" + (".wet" if fmt == "wet" else "") + SUFFIX[kind]
    path = _write(tmp_path_factory.mktemp("fuzz"), name, blob)

    def check():
        got = read_checked(path)
        assert got
        intact = reference_decompress(kind, blob)
        if intact is not None:
            # Each item is a record (it starts at a "WARC/") or the junk before one (or before the end).
            versions = intact.count(b"WARC/")
            records = [r for _, r in got if r.get("reason") not in {"no_records"} | TERMINAL]
            assert len(records) <= 2 * versions + 1
            if not ops and not after:  # the seed itself: every record a document
                assert [k for k, _ in got] == [DOC] * len(got)
    _save_on_failure(fmt, name, blob, check)


@FUZZ
@given(ops=st.lists(_op.filter(lambda o: o[0] != "length"), max_size=4))
def test_fuzz_parquet(tmp_path_factory, ops):
    blob = mutate(parquet_seed(), ops)
    path = _write(tmp_path_factory.mktemp("fuzz"), "fuzz.parquet", blob)

    def check():
        got = read_checked(path)
        assert got
        try:  # the footer's row count (decoding the damaged pages again here once crashed Arrow)
            rows = pq.ParquetFile(io.BytesIO(blob)).metadata.num_rows
        except Exception:  # noqa: BLE001 - a file whose footer Arrow cannot read
            rows = None
        if rows is not None and not any(r.get("reason") in TERMINAL for _, r in got):
            assert len(got) == rows  # one item per row, whatever the schema
    _save_on_failure("parquet", "fuzz.parquet", blob, check)


# --- regression inputs ---------------------------------------------------------------------------------

SAVED = sorted(p for p in FIXTURES.glob("*/*") if p.is_file()) if FIXTURES.is_dir() else []
EXPECTED = json.loads((FIXTURES / "expected.json").read_text()) if (FIXTURES / "expected.json").exists() else {}


def runs(got) -> list[list]:
    """Reasons ("doc" for documents) run-length encoded: [["doc", 3], ["corrupt_file", 1]]."""
    out: list[list] = []
    for _, rec in got:
        reason = rec.get("reason") or "doc"
        if out and out[-1][0] == reason:
            out[-1][1] += 1
        else:
            out.append([reason, 1])
    return out


def test_the_fixture_folders_hold_inputs():
    for fmt in ("warc", "wet", "jsonl", "text", "parquet"):
        assert any((FIXTURES / fmt).iterdir()), fmt
    assert sorted(EXPECTED) == [f"{p.parent.name}/{p.name}" for p in SAVED]  # each input has its expectation


@pytest.mark.parametrize("path", SAVED, ids=[f"{p.parent.name}/{p.name}" for p in SAVED])
def test_saved_fuzz_inputs(path):
    """Every saved input reads without an exception, with honest accounting, and gives the
    dead letters recorded for it in expected.json."""
    fmt = path.parent.name
    got = read_checked(path, ReaderOptions(format=fmt, max_doc_chars=OPTIONS.max_doc_chars,
                                           max_record_bytes=OPTIONS.max_record_bytes,
                                           expansion_floor_bytes=OPTIONS.expansion_floor_bytes))
    assert runs(got) == EXPECTED[f"{fmt}/{path.name}"]
