"""Readers: one input file -> documents and dead letters, losing nothing.

Each reader is a generator over one file that yields ``(DOC, record)`` or
``(REJECTED, record)``. A document record carries its text and provenance; a rejected
record carries a machine-readable ``reason``, a human ``detail`` and a preview of the raw
bytes. A file that cannot be opened, or that breaks off mid-way, yields one rejected
record for the unreadable part, after every record read before the break. Files open
through the filesystem layer (``winnow.models.fs``), so local paths and ``gs://``/``s3://``
URIs read alike.

Formats (``--format auto`` picks by name):
  warc     WARC ``response`` records; main text extracted from HTML with Resiliparse
  wet      WARC ``conversion`` records (Common Crawl WET)
  jsonl    JSON lines, ``.gz``/``.zst`` allowed; configurable id and text fields
  parquet  a text column (and optional id column)
  text     plain text, one document per line
"""
from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import json
import posixpath
import re
import zlib
from dataclasses import dataclass
from typing import Iterator

DOC = "doc"
REJECTED = "rejected"
FORMATS = ("auto", "warc", "wet", "jsonl", "parquet", "text")
PREVIEW_BYTES = 512


@dataclass(frozen=True)
class Span:
    """The part of a file one unit of work reads (see ``pipeline/units.py``).

    Line formats (uncompressed JSONL and text): the lines that *start* at a byte in
    ``[start, end)``; Parquet: the row groups ``[start, end)``. ``first_index`` is the
    record index of the span's first record in the whole file, so a split file's rows
    carry the same provenance as the unsplit file's.
    """

    start: int
    end: int
    first_index: int


@dataclass(frozen=True)
class ReaderOptions:
    format: str = "auto"
    text_field: str = "text"
    id_field: str = "id"
    url_field: str = "url"
    max_doc_chars: int = 5_000_000  # longer documents are rejected as too_large


COMPRESSIONS = (".gz", ".zst", ".zstd", ".bz2")


def detect_format(path: str) -> str:
    """The format named by the file's last extensions (after any compression suffix)."""
    name = posixpath.basename(path).lower()
    for suffix in COMPRESSIONS:
        name = name.removesuffix(suffix)
    exts = name.split(".")[1:][-2:]  # e.g. ["warc", "wet"], ["wet", "txt"], ["jsonl"]
    last = exts[-1] if exts else ""
    if "wet" in exts:
        return "wet"
    if last in ("warc", "arc"):
        return "warc"
    if last in ("jsonl", "ndjson", "json"):
        return "jsonl"
    if last == "parquet":
        return "parquet"
    if last in ("txt", "text"):
        return "text"
    raise ValueError(
        f"{path}: cannot tell the format from the name; pass --format (one of {', '.join(FORMATS[1:])})"
    )


def shard_key(path: str) -> str:
    """Output shard name of an input file: readable stem + hash of the full path.

    Stable across runs (a rerun replaces its shards) and distinct for files with the same
    name in different folders.
    """
    stem = posixpath.basename(path.rstrip("/"))
    for suffix in (".gz", ".zst", ".zstd", ".jsonl", ".ndjson", ".json", ".parquet", ".warc", ".wet", ".txt"):
        stem = stem.removesuffix(suffix)
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in stem)[:80] or "input"
    return f"{stem}-{hashlib.sha1(path.encode()).hexdigest()[:10]}"


def _preview(raw: bytes | str | None) -> str | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        return raw[:PREVIEW_BYTES]
    return raw[:PREVIEW_BYTES].decode("utf-8", errors="replace")


def _rejected(source, index, reason, detail, *, offset=None, raw=None, raw_bytes=None, url=None,
              record_id=None, doc_id=None) -> tuple[str, dict]:
    return REJECTED, {
        "doc_id": doc_id or f"{source}#{index}",
        "source_file": source,
        "record_index": index,
        "record_offset": offset,
        "url": url,
        "warc_record_id": record_id,
        "reason": reason,
        "detail": str(detail)[:2000] if detail is not None else None,
        "raw_bytes": raw_bytes if raw_bytes is not None else (len(raw) if isinstance(raw, bytes) else None),
        "raw_preview": _preview(raw),
    }


def _doc(source, index, text, *, offset=None, url=None, record_id=None, doc_id=None,
         skip: str | None = None) -> tuple[str, dict]:
    """A document; ``skip`` names why it has no text to score (routed to drop with that reason)."""
    return DOC, {
        "doc_id": doc_id if doc_id is not None else f"{source}#{index}",
        "source_file": source,
        "record_index": index,
        "record_offset": offset,
        "url": url,
        "warc_record_id": record_id,
        "text": text,
        "skip": skip,
    }


def _open_raw(path: str):
    from winnow.models import fs

    return fs.open_read(path)


def _decompressed(path: str, raw) -> io.BufferedIOBase:
    name = path.lower()
    if name.endswith(".gz"):
        return gzip.GzipFile(fileobj=raw, mode="rb")
    if name.endswith((".zst", ".zstd")):
        return io.BufferedReader(_ZstdReader(raw))
    if name.endswith(".bz2"):
        return bz2.BZ2File(raw, mode="rb")
    return raw


class _ZstdReader(io.RawIOBase):
    """Zstandard decompression that, unlike zstandard's stream_reader, fails on a file
    that ends inside a frame (a truncated download) instead of ending quietly."""

    def __init__(self, raw, chunk: int = 1 << 20):
        import zstandard

        self._raw = raw
        self._chunk = chunk
        self._new = zstandard.ZstdDecompressor().decompressobj
        self._dobj = self._new()
        self._pending = b""
        self._mid_frame = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._pending:
            data = self._raw.read(self._chunk)
            if not data:
                if self._mid_frame:
                    raise EOFError("zstd stream ended inside a frame (truncated file)")
                return 0
            self._pending = self._feed(data)
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def _feed(self, data: bytes) -> bytes:
        out = []
        while data:
            out.append(self._dobj.decompress(data))
            self._mid_frame = not self._dobj.eof
            data = self._dobj.unused_data if self._dobj.eof else b""
            if self._dobj.eof:
                self._dobj = self._new()  # next frame (files may hold several)
                self._mid_frame = bool(data)
        return b"".join(out)


def read_file(path: str, options: ReaderOptions = ReaderOptions(), span: Span | None = None
              ) -> Iterator[tuple[str, dict]]:
    """Every record of ``path`` (or of its ``span``) as ``(DOC | REJECTED, record)``; never
    raises on bad data."""
    try:
        fmt = _format(path, options)
    except ValueError as exc:
        yield _rejected(path, -1, "unknown_format", exc)
        return
    try:
        raw = _open_raw(path)
    except Exception as exc:  # noqa: BLE001 - any failure to open is this file's dead letter
        yield _rejected(path, -1, "unreadable_file", f"{type(exc).__name__}: {exc}")
        return
    reader = {"warc": _read_warc, "wet": _read_wet, "jsonl": _read_jsonl,
              "parquet": _read_parquet, "text": _read_text}[fmt]
    with raw:
        if span is None:
            yield from reader(path, raw, options)
        else:
            assert fmt in SPLITTABLE, f"{fmt} files are read whole"
            yield from reader(path, raw, options, span)


SPLITTABLE = ("jsonl", "text", "parquet")  # uncompressed line formats by bytes, Parquet by row groups


def _format(path: str, options: ReaderOptions) -> str:
    return options.format if options.format != "auto" else detect_format(path)


def splittable_format(path: str, options: ReaderOptions) -> str | None:
    """The format of ``path`` if a unit of work may read a part of it, else None."""
    try:
        fmt = _format(path, options)
    except ValueError:
        return None
    if fmt not in SPLITTABLE or (fmt != "parquet" and path.lower().endswith(COMPRESSIONS)):
        return None
    return fmt


# --- JSON lines and plain text ------------------------------------------------------------

_STREAM_ERRORS = (OSError, EOFError, zlib.error, gzip.BadGzipFile, ValueError)


def _lines(path: str, raw, max_bytes: int, span: Span | None = None
           ) -> Iterator[tuple[int, int, bytes | Exception]]:
    """(line index, byte offset, line) of a possibly compressed file; an exception last.

    A line longer than ``max_bytes`` is never held in memory whole: it comes back as a
    :class:`_TooLong` (its head and full size) and the rest of it is skipped. With a
    ``span`` (uncompressed files only), just the lines starting in ``[start, end)``.
    """
    offset = 0
    index = 0
    end = None
    try:
        stream = _decompressed(path, raw)
        if span is not None:
            index, end = span.first_index, span.end
            if span.start > 0:
                # The line that holds byte start-1 belongs to the span before (or ends right there).
                stream.seek(span.start - 1)
                offset = span.start - 1 + _skip_line(stream)
        while end is None or offset < end:
            line = stream.readline(max_bytes)
            if not line:
                return
            size = len(line)
            if size == max_bytes and not line.endswith(b"\n"):
                size += _skip_line(stream)  # the rest of an over-long line
                line = _TooLong(line, size)
            yield index, offset, line
            offset += size
            index += 1
    except _STREAM_ERRORS + (RuntimeError,) as exc:  # zstandard raises ZstdError(RuntimeError)
        yield index, offset, exc


def _skip_line(stream) -> int:
    """Read up to and including the next newline; the number of bytes read."""
    n = 0
    while True:
        more = stream.readline(1 << 20)
        n += len(more)
        if not more or more.endswith(b"\n"):
            return n


def line_starts_before(path: str, positions: list[int], chunk: int = 8 << 20) -> list[int]:
    """For each byte position p (ascending, > 0): how many lines of the uncompressed file
    start before p, i.e. the index of the first line a span starting at p reads. One pass."""
    counts, seen, pos = [], 0, 0
    with _open_raw(path) as f:
        while len(counts) < len(positions):
            block = f.read(chunk)
            if not block:
                break
            while len(counts) < len(positions) and positions[len(counts)] - 1 <= pos + len(block):
                cut = positions[len(counts)] - 1 - pos  # newlines in [0, p-1) mark the line starts in [1, p)
                counts.append(1 + seen + block.count(b"\n", 0, cut))
            seen += block.count(b"\n")
            pos += len(block)
    return counts + [1 + seen] * (len(positions) - len(counts))


class _TooLong(bytes):
    """The head of a line that exceeded the reader's limit; ``size`` is its full length."""

    def __new__(cls, head: bytes, size: int):
        obj = super().__new__(cls, head[:PREVIEW_BYTES])
        obj.size = size
        return obj


def _line_limit(options: ReaderOptions) -> int:
    # JSON may escape a character as 6 bytes (\uXXXX); allow that plus room for fields.
    return options.max_doc_chars * 6 + (1 << 16)


def _too_large(text: str, options: ReaderOptions) -> bool:
    return len(text) > options.max_doc_chars


def _encodable(text: str) -> bool:
    """False for strings holding lone surrogates (JSON allows "\\ud800"; UTF-8 does not)."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _clean_str(value, *, convert: bool = False) -> str | None:
    """An id or URL field as a storable string, or None."""
    if value is None or (not convert and not isinstance(value, str)):
        return None
    value = value if isinstance(value, str) else str(value)
    return value if _encodable(value) else value.encode("utf-8", "backslashreplace").decode("ascii")


def _read_jsonl(path, raw, options: ReaderOptions, span: Span | None = None):
    for index, offset, line in _lines(path, raw, _line_limit(options), span):
        if isinstance(line, Exception):
            yield _rejected(path, index, "corrupt_file", f"stopped reading at byte {offset} of the decompressed "
                            f"stream: {type(line).__name__}: {line}", offset=offset)
            return
        if isinstance(line, _TooLong):
            yield _rejected(path, index, "too_large", f"a {line.size}-byte line, over the reader's limit for "
                            f"--max-doc-chars {options.max_doc_chars}", offset=offset, raw=bytes(line),
                            raw_bytes=line.size)
            continue
        if not line.strip():
            continue
        try:
            decoded = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield _rejected(path, index, "invalid_utf8", exc, offset=offset, raw=line)
            continue
        try:
            record = json.loads(decoded)
        except (ValueError, RecursionError) as exc:  # RecursionError: absurdly nested JSON
            yield _rejected(path, index, "invalid_json", f"{type(exc).__name__}: {exc}", offset=offset, raw=line)
            continue
        if not isinstance(record, dict):
            yield _rejected(path, index, "not_an_object", f"a JSON {type(record).__name__}, not an object",
                            offset=offset, raw=line)
            continue
        doc_id = _clean_str(record.get(options.id_field), convert=True)
        url = _clean_str(record.get(options.url_field))
        if options.text_field not in record:
            yield _rejected(path, index, "missing_field", f"no {options.text_field!r} field", offset=offset,
                            raw=line, doc_id=doc_id, url=url)
            continue
        text = record[options.text_field]
        if not isinstance(text, str):
            yield _rejected(path, index, "bad_type", f"field {options.text_field!r} is a JSON "
                            f"{type(text).__name__}, not a string", offset=offset, raw=line, doc_id=doc_id, url=url)
            continue
        if _too_large(text, options):
            yield _rejected(path, index, "too_large", f"{len(text)} characters > --max-doc-chars "
                            f"{options.max_doc_chars}", offset=offset, raw=line, doc_id=doc_id, url=url)
            continue
        if not _encodable(text):
            yield _rejected(path, index, "invalid_utf8", "the text holds a lone surrogate escape (\\ud800-\\udfff)",
                            offset=offset, raw=line, doc_id=doc_id, url=url)
            continue
        yield _doc(path, index, text, offset=offset, url=url, doc_id=doc_id)


def _read_text(path, raw, options: ReaderOptions, span: Span | None = None):
    for index, offset, line in _lines(path, raw, options.max_doc_chars * 4 + 2, span):
        if isinstance(line, Exception):
            yield _rejected(path, index, "corrupt_file", f"{type(line).__name__}: {line}", offset=offset)
            return
        if isinstance(line, _TooLong):
            yield _rejected(path, index, "too_large", f"a {line.size}-byte line", offset=offset, raw=bytes(line),
                            raw_bytes=line.size)
            continue
        if not line.strip():
            continue
        try:
            text = line.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError as exc:
            yield _rejected(path, index, "invalid_utf8", exc, offset=offset, raw=line)
            continue
        if _too_large(text, options):
            yield _rejected(path, index, "too_large", f"{len(text)} characters", offset=offset, raw=line)
            continue
        yield _doc(path, index, text, offset=offset)


# --- Parquet ----------------------------------------------------------------------------------

def has_text_column(schema, options: ReaderOptions) -> bool:
    """Whether a Parquet schema has the string column the reader takes the text from."""
    import pyarrow as pa

    if options.text_field not in schema.names:
        return False
    text_type = schema.field(options.text_field).type
    return pa.types.is_string(text_type) or pa.types.is_large_string(text_type)


def _read_parquet(path, raw, options: ReaderOptions, span: Span | None = None):
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(raw)
    except Exception as exc:  # noqa: BLE001
        yield _rejected(path, -1, "corrupt_file", f"not a readable Parquet file: {type(exc).__name__}: {exc}")
        return
    schema = pf.schema_arrow
    text_type = schema.field(options.text_field).type if options.text_field in schema.names else None
    if not has_text_column(schema, options):
        found = f"its type is {text_type}" if text_type is not None else f"columns are {', '.join(schema.names)}"
        yield _rejected(path, -1, "bad_schema", f"needs a string column {options.text_field!r} (--text-field); "
                        f"{found}", raw_bytes=pf.metadata.num_rows)
        return
    columns = [options.text_field] + [c for c in (options.id_field, options.url_field)
                                      if c in schema.names and c != options.text_field]
    index = span.first_index if span else 0
    groups = list(range(span.start, span.end)) if span else None
    try:
        for batch in pf.iter_batches(columns=columns, batch_size=4096, row_groups=groups):
            data = batch.to_pydict()
            texts = data[options.text_field]
            ids = data.get(options.id_field, [None] * len(texts))
            urls = data.get(options.url_field, [None] * len(texts))
            for text, doc_id, url in zip(texts, ids, urls):
                doc_id = _clean_str(doc_id, convert=True)
                url = _clean_str(url)
                if text is None:
                    yield _rejected(path, index, "missing_field", f"{options.text_field!r} is null",
                                    doc_id=doc_id, url=url)
                elif _too_large(text, options):
                    yield _rejected(path, index, "too_large", f"{len(text)} characters", raw=text[:PREVIEW_BYTES],
                                    raw_bytes=len(text), doc_id=doc_id, url=url)
                else:
                    yield _doc(path, index, text, doc_id=doc_id, url=url)
                index += 1
    except Exception as exc:  # noqa: BLE001
        yield _rejected(path, index, "corrupt_file", f"stopped reading at row {index}: {type(exc).__name__}: {exc}")


# --- WARC and WET ------------------------------------------------------------------------------

def _warc_records(path, raw, record_type):
    """Intact records of ``record_type`` as ``(DOC, (index, offset, url, record_id, block))``;
    a truncated record as ``(REJECTED, dead letter)``; a break in the file as a final
    ``corrupt_file`` dead letter. The caller turns intact blocks into documents."""
    from fastwarc.warc import ArchiveIterator

    index = 0
    offset = 0
    try:
        for rec in ArchiveIterator(raw, record_types=record_type, parse_http=False):
            offset = rec.stream_pos
            block = rec.reader.read()
            url, rid = rec.headers.get("WARC-Target-URI"), rec.headers.get("WARC-Record-ID")
            if len(block) < rec.content_length:
                yield _rejected(path, index, "truncated_record", f"{len(block)} of {rec.content_length} bytes",
                                offset=offset, raw=block, url=url, record_id=rid)
            else:
                yield DOC, (index, offset, url, rid, block)
            index += 1
    except Exception as exc:  # noqa: BLE001 - fastwarc raises assorted errors on broken input
        yield _rejected(path, index, "corrupt_file", f"stopped reading after byte {offset}: "
                        f"{type(exc).__name__}: {exc}", offset=offset)


def _each_record(path, raw, record_type, on_block, options, seen: list):
    """Dead letters as they come; each intact record through ``on_block``; counts in ``seen``."""
    for kind, item in _warc_records(path, raw, record_type):
        seen.append(1)
        if kind == REJECTED:
            yield kind, item
        else:
            yield from on_block(path, options, *item)


def _record_doc(path, options, index, offset, url, rid, text, raw):
    """A WARC/WET record's text as a document, or a too_large dead letter."""
    if _too_large(text, options):
        return _rejected(path, index, "too_large", f"{len(text)} characters", offset=offset, raw=raw,
                         url=url, record_id=rid)
    return _doc(path, index, text, offset=offset, url=url, record_id=rid, doc_id=rid)


def _read_wet(path, raw, options: ReaderOptions):
    from fastwarc.warc import WarcRecordType

    seen: list = []
    yield from _each_record(path, raw, WarcRecordType.conversion, _wet_block, options, seen)
    if not seen:
        yield from _read_wet_lenient(path, options)


def _wet_block(path, options, index, offset, url, rid, block):
    try:
        text = block.decode("utf-8")
    except UnicodeDecodeError as exc:
        yield _rejected(path, index, "invalid_utf8", exc, offset=offset, raw=block, url=url, record_id=rid)
        return
    yield _record_doc(path, options, index, offset, url, rid, text, block)


def _read_wet_lenient(path, options: ReaderOptions):
    """WET with LF line endings (as CCNet's own test files), which strict parsers refuse.

    Records start at a ``WARC/1.0`` line; headers run to the first blank line; the text
    runs to the next record. Used only when the strict parser found no record at all.
    """
    try:
        with _open_raw(path) as raw:
            data = _decompressed(path, raw).read()
    except _STREAM_ERRORS + (RuntimeError,) as exc:
        yield _rejected(path, -1, "corrupt_file", f"{type(exc).__name__}: {exc}")
        return
    if not data.startswith(b"WARC/"):
        yield from _no_records(path, None, "conversion")
        return
    starts = [0] + [i + 1 for i in _find_all(data, b"\nWARC/1.")]
    index = 0
    for start, end in zip(starts, starts[1:] + [len(data)]):
        chunk = data[start:end]
        head, _, body = chunk.partition(b"\n\n")
        headers = {}
        for line in head.decode("utf-8", errors="replace").splitlines()[1:]:
            name, colon, value = line.partition(":")
            if colon:
                headers[name.strip().lower()] = value.strip()
        if headers.get("warc-type") != "conversion":
            continue
        url, rid = headers.get("warc-target-uri"), headers.get("warc-record-id")
        try:
            text = body.decode("utf-8").strip("\n")
        except UnicodeDecodeError as exc:
            yield _rejected(path, index, "invalid_utf8", exc, offset=start, raw=body, url=url, record_id=rid)
        else:
            yield _doc(path, index, text, offset=start, url=url, record_id=rid, doc_id=rid)
        index += 1
    if index == 0:
        yield from _no_records(path, None, "conversion")


def _find_all(data: bytes, needle: bytes):
    pos = data.find(needle)
    while pos >= 0:
        yield pos
        pos = data.find(needle, pos + 1)


def _no_records(path, raw, kind):
    """A file with no record of the wanted kind is accounted for, not silently empty."""
    yield _rejected(path, -1, "no_records", f"no WARC {kind} records found (not a WARC/WET file, or a "
                    f"different record type; see --format)")


def _read_warc(path, raw, options: ReaderOptions):
    from fastwarc.warc import WarcRecordType

    seen: list = []
    yield from _each_record(path, raw, WarcRecordType.response, _warc_block, options, seen)
    if not seen:
        yield from _no_records(path, raw, "response")


def _warc_block(path, options, index, offset, url, rid, block):
    try:
        status, headers, body = _parse_http(block)
    except ValueError as exc:
        yield _rejected(path, index, "bad_http", exc, offset=offset, raw=block, url=url, record_id=rid)
        return
    ctype = headers.get("content-type", "").lower()
    if not 200 <= status < 300 or (ctype and "html" not in ctype and not ctype.startswith("text/")):
        # A readable record that is not an HTML page: a document with no text, which
        # routing drops as `not_html` / `http_<status>` (accounted for, not rejected).
        skip = "not_html" if 200 <= status < 300 else f"http_{status}"
        yield _doc(path, index, "", offset=offset, url=url, record_id=rid, doc_id=rid, skip=skip)
        return
    try:
        text = _html_text(body, headers)
    except Exception as exc:  # noqa: BLE001
        yield _rejected(path, index, "extraction_failed", f"{type(exc).__name__}: {exc}", offset=offset,
                        raw=body, url=url, record_id=rid)
        return
    yield _record_doc(path, options, index, offset, url, rid, text, body)


def _parse_http(block: bytes) -> tuple[int, dict, bytes]:
    """Status, lower-cased headers and decoded body of a raw HTTP response."""
    head, sep, body = block.partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = block.partition(b"\n\n")
    if not sep:
        raise ValueError("no end of HTTP headers")
    lines = head.decode("iso-8859-1").splitlines()
    parts = lines[0].split(" ", 2) if lines else []
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise ValueError(f"not an HTTP status line: {lines[0][:100] if lines else ''!r}")
    headers = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if colon:
            headers[name.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = _dechunk(body)
    encoding = headers.get("content-encoding", "").lower().strip()
    try:
        if encoding in ("gzip", "x-gzip"):
            body = zlib.decompress(body, 16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            body = zlib.decompress(body)
        elif encoding not in ("", "identity", "none"):
            raise ValueError(f"unsupported Content-Encoding {encoding!r}")
    except zlib.error as exc:
        raise ValueError(f"bad {encoding} body: {exc}") from None
    return int(parts[1]), headers, body


_HEX = re.compile(rb"[0-9A-Fa-f]{1,16}")


def _dechunk(body: bytes) -> bytes:
    out = []
    pos = 0
    while True:
        end = body.find(b"\r\n", pos)
        field = body[pos:end].split(b";")[0].strip() if end >= 0 else b""
        if end < 0 or not _HEX.fullmatch(field):
            raise ValueError(f"bad chunked transfer encoding at byte {pos}")
        size = int(field, 16)
        if size == 0:
            return b"".join(out)
        if end + 2 + size > len(body):
            raise ValueError("chunked transfer encoding runs past the end of the record")
        out.append(body[end + 2:end + 2 + size])
        pos = end + 2 + size + 2


def _html_text(body: bytes, headers: dict) -> str:
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.encoding import bytes_to_str, detect_encoding
    from resiliparse.parse.html import HTMLTree

    html = bytes_to_str(body, detect_encoding(body))
    return extract_plain_text(HTMLTree.parse(html), main_content=True)


rejected_record = _rejected  # a dead letter of a path that is not read (pipeline/units.py)
