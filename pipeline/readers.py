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
  jsonl    JSON lines, ``.gz``/``.zst``/``.bz2`` allowed; configurable id and text fields
  parquet  a text column (and optional id column)
  text     plain text, one document per line

Hostile input is bounded: a local path that is not a regular file is refused before it is
opened; compressed files stop with a ``decompression_bomb`` dead letter once they expand
past ``max(max_expansion_ratio x compressed bytes read, expansion_floor_bytes)``; a WARC
block or an HTTP body (after its Content-Encoding) over ``max_record_bytes`` is rejected as
``too_large`` without being held whole; a WARC record whose Content-Length lies is a dead
letter and the reader resynchronises at the next record.
"""
from __future__ import annotations

import bisect
import bz2
import errno
import gzip
import hashlib
import json
import os
import posixpath
import re
import stat
import zlib
from dataclasses import dataclass
from typing import Iterator
from winnow.models.errors import UsageError

DOC = "doc"
REJECTED = "rejected"  # a dead letter: the tag of its record here, and its route in the counts and summary
FORMATS = ("auto", "warc", "wet", "jsonl", "parquet", "text")
PREVIEW_BYTES = 512
MAX_RECORD_BYTES = 32 << 20       # default ReaderOptions.max_record_bytes
MAX_EXPANSION_RATIO = 100         # default ReaderOptions.max_expansion_ratio
EXPANSION_FLOOR_BYTES = 64 << 20  # default ReaderOptions.expansion_floor_bytes


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
    # A WARC/WET record block, or an HTTP body after its Content-Encoding, over this many
    # bytes is rejected as too_large without being held in memory whole.
    max_record_bytes: int = MAX_RECORD_BYTES
    # A compressed file whose output passes max(ratio x compressed bytes read, floor) is cut
    # off there with a decompression_bomb dead letter (ratio 0: no cap).
    max_expansion_ratio: int = MAX_EXPANSION_RATIO
    expansion_floor_bytes: int = EXPANSION_FLOOR_BYTES


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
    raise UsageError(
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


class _Unreadable(Exception):
    """A local input refused before (or instead of) reading it: ``reason`` and detail."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason


_FILE_KINDS = ((stat.S_ISDIR, "directory"), (stat.S_ISFIFO, "FIFO (named pipe)"),
               (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"), (stat.S_ISSOCK, "socket"))


def _not_regular(mode: int) -> str | None:
    """What a file of this mode is, if not a regular file."""
    if stat.S_ISREG(mode):
        return None
    return next((kind for test, kind in _FILE_KINDS if test(mode)), f"special file (mode {mode:o})")


def _open_input(path: str):
    """The raw byte stream of an input. A local path is checked with ``os.stat`` first: a
    FIFO, device, socket or directory is never opened (opening a FIFO blocks), and a
    dangling symlink or a symlink loop is named as such. URIs open through ``fs``."""
    from winnow.models import fs

    if fs.is_remote(path):
        return fs.open_read(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        if os.path.islink(path):
            raise _Unreadable("dangling_symlink", f"a symbolic link to {os.readlink(path)!r}, which does not exist")
        raise
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _Unreadable("symlink_loop", f"symbolic links that loop: {exc.strerror}") from None
        raise
    if kind := _not_regular(mode):
        raise _Unreadable("not_a_regular_file", f"a {kind}, not a regular file: not opened")
    # O_NONBLOCK: should the path become a FIFO between the stat and the open, open returns.
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags)
    try:
        mode = os.fstat(fd).st_mode
        if kind := _not_regular(mode):
            raise _Unreadable("not_a_regular_file", f"a {kind}, not a regular file (it changed while opening)")
        if getattr(os, "O_NONBLOCK", 0):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


# --- decompression with caps --------------------------------------------------------------------

READ_CHUNK = 1 << 20  # bytes read, or decompressed, per step
_RAW_CHUNK = 1 << 16  # compressed bytes read per step
_MIN_CHUNK = 1 << 16  # a decompressor returns once it has this much
_ZSTD_SLICE = 512     # zstd input per call: zstd expands at most ~32768x, so <= ~16 MiB out per call


class _Corrupt(Exception):
    """A compressed stream that is truncated, damaged, or followed by bytes that are not
    another member of it."""


class _Bomb(Exception):
    """A compressed stream that expanded past the reader's cap."""


class _Plain:
    """An uncompressed stream, a chunk at a time (the interface of :class:`_Inflater`)."""

    kind = None

    def __init__(self, raw, head: bytes = b""):
        self._raw, self._head = raw, head

    def chunk(self) -> bytes:
        if self._head:
            head, self._head = self._head, b""
            return head + self._raw.read(READ_CHUNK - len(head))
        return self._raw.read(READ_CHUNK)

    def member_start(self, offset: int) -> int:
        return offset


class _Inflater:
    """Decompressed bytes of a gzip, zstd or bz2 stream, a bounded chunk a call (one
    decompressor call gives at most READ_CHUNK; zstd, fed _ZSTD_SLICE bytes, ~16 MiB).

    Multi-member gzip (NUL padding between members allowed), multi-frame zstd and
    multi-stream bz2 are read to the end. Raises :class:`_Corrupt` for a stream that ends
    inside a member, is damaged, or has trailing bytes that are no member (any codec error,
    ``zstandard.ZstdError`` included, becomes ``_Corrupt``), after returning what came
    before; raises :class:`_Bomb` once the output passes max(ratio x compressed bytes
    consumed, floor). With ``track``, remembers where members start, for
    :meth:`member_start`.
    """

    def __init__(self, raw, kind: str, options: ReaderOptions, head: bytes = b"", track: bool = False):
        self._raw, self.kind = raw, kind
        self._ratio, self._floor = options.max_expansion_ratio, options.expansion_floor_bytes
        self._in, self._ipos = head, 0  # compressed bytes not yet given to a decompressor
        self._d = None                  # the current member's decompressor; None between members
        self._full = False              # the last call stopped at its output limit
        self._raw_eof = False
        self._members_read = 0
        self._at_member_start = True
        self.consumed = 0               # compressed bytes used
        self.produced = 0
        self._track = track
        self._starts: list[tuple[int, int]] = [(0, 0)]  # (uncompressed, compressed) member starts
        self._error: Exception | None = None
        if kind == "zstd":
            import zstandard

            self._new = zstandard.ZstdDecompressor().decompressobj
            self._codec_errors = (zstandard.ZstdError, zlib.error, OSError, EOFError, ValueError)
        else:
            self._new = {"gzip": lambda: zlib.decompressobj(16 + zlib.MAX_WBITS), "bz2": bz2.BZ2Decompressor}[kind]
            self._codec_errors = (zlib.error, OSError, EOFError, ValueError)

    def member_start(self, offset: int) -> int:
        """The compressed offset of the member holding uncompressed byte ``offset`` (offsets
        asked for must not decrease)."""
        starts = self._starts
        i = bisect.bisect_right(starts, (offset, float("inf"))) - 1
        if i > 0:
            del starts[:i]
        return starts[0][1]

    def chunk(self) -> bytes:
        if self._error is not None:
            raise self._error
        out, n = [], 0
        try:
            while n < _MIN_CHUNK:
                piece = self._step()
                if piece is None:
                    break
                if piece:
                    self.produced += len(piece)
                    limit = max(self._ratio * self.consumed, self._floor) if self._ratio else None
                    if limit is not None and self.produced > limit:
                        keep = len(piece) - (self.produced - limit)  # deliver up to the cap, not past it
                        if keep > 0:
                            out.append(piece[:keep])
                        raise _Bomb(f"the {self.kind} stream expanded past {limit} bytes from {self.consumed} "
                                    f"compressed bytes (max(max_expansion_ratio {self._ratio} x, "
                                    f"expansion_floor_bytes {self._floor})); stopped reading there")
                    out.append(piece)
                    n += len(piece)
        except (_Corrupt, _Bomb) as exc:
            self._error = exc
        except self._codec_errors as exc:
            where = (f"after {self._members_read} complete member(s), the bytes at compressed byte {self.consumed} "
                     f"are not {self.kind} data" if self._d is None or self._at_member_start
                     else f"{self.kind} data damaged near compressed byte {self.consumed}")
            self._error = _Corrupt(f"{where}: {type(exc).__name__}: {exc}")
        if self._error is not None and not out:
            raise self._error
        return b"".join(out)

    def _step(self) -> bytes | None:
        """Some output (maybe empty), or None at the clean end of the stream."""
        if self._ipos >= len(self._in) and not (self._full and self._d is not None):
            if self._raw_eof:
                return None
            data = self._raw.read(_RAW_CHUNK)
            if not data:
                self._raw_eof = True
                if self._d is not None:
                    raise _Corrupt(f"the {self.kind} stream ends inside member {self._members_read + 1}, at "
                                   f"compressed byte {self.consumed} (a truncated file)")
                return None
            self._in, self._ipos = data, 0
        if self._d is None:  # a new member starts here
            if self.kind == "gzip" and self._members_read:  # gzip files may be padded with NULs after a member
                skip = len(self._in) - self._ipos - len(self._in[self._ipos:].lstrip(b"\0"))
                self._ipos += skip
                self.consumed += skip
                if self._ipos >= len(self._in):
                    return b""
            self._d = self._new()
            self._at_member_start = True
            if self._track:
                if self._starts[-1][0] == self.produced:  # an empty member before: its start names no byte
                    self._starts[-1] = (self.produced, self.consumed)
                else:
                    self._starts.append((self.produced, self.consumed))
        d = self._d
        if self.kind == "gzip":
            data = self._in[self._ipos:] if self._ipos else self._in
            out = d.decompress(data, READ_CHUNK)
            rest = d.unused_data if d.eof else d.unconsumed_tail
            used = len(data) - len(rest)
            self._in, self._ipos = rest, 0
        elif self.kind == "zstd":
            data = self._in[self._ipos:self._ipos + _ZSTD_SLICE]
            out = d.decompress(data) if data else b""
            used = len(data) - (len(d.unused_data) if d.eof else 0)
            self._ipos += used
        else:  # bz2 buffers its input itself; with needs_input false, more output is pending
            if not d.needs_input:
                out = d.decompress(b"", READ_CHUNK)
                used = 0
            else:
                data = self._in[self._ipos:] if self._ipos else self._in
                out = d.decompress(data, READ_CHUNK)
                used = len(data)
                self._in, self._ipos = b"", 0
            if d.eof and d.unused_data:  # the next stream's bytes: give them back
                used -= len(d.unused_data)
                self._in, self._ipos = d.unused_data + self._in[self._ipos:], 0
        self.consumed += used
        if out or used:
            self._at_member_start = False
        self._full = (len(out) >= READ_CHUNK if self.kind == "gzip"
                      else not d.needs_input and not d.eof if self.kind == "bz2" else False)
        if d.eof:
            self._d = None
            self._full = False
            self._members_read += 1
        return out


def _compression_by_name(path: str) -> str | None:
    name = path.lower()
    if name.endswith(".gz"):
        return "gzip"
    if name.endswith((".zst", ".zstd")):
        return "zstd"
    if name.endswith(".bz2"):
        return "bz2"
    return None


def _source(raw, kind: str | None, options: ReaderOptions, head: bytes = b"", track: bool = False):
    return _Plain(raw, head) if kind is None else _Inflater(raw, kind, options, head, track)


def _sniffed_source(raw, options: ReaderOptions):
    """A WARC stream, compressed or not, told by its first bytes (as WARC readers do)."""
    head = raw.read(4)
    kind = ("gzip" if head[:2] == b"\x1f\x8b" else "zstd" if head == b"\x28\xb5\x2f\xfd"
            else "bz2" if head[:3] == b"BZh" else None)
    return _source(raw, kind, options, head, track=True)


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
        raw = _open_input(path)
    except _Unreadable as exc:
        yield _rejected(path, -1, exc.reason, exc)
        return
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
_WHITESPACE = re.compile(rb"[ \t\n\r\x0b\x0c]+")  # what bytes.strip() strips (one class: no regex stack)


def _lines(path: str, raw, max_bytes: int, options: ReaderOptions, span: Span | None = None
           ) -> Iterator[tuple[int, int, bytes | Exception]]:
    """(line index, byte offset, line) of each non-blank line of a possibly compressed
    file; an exception last if the file breaks off (a :class:`_Bomb` if it expands past the
    caps). Blank lines count in the indices but are skipped a run at a time.

    Reads blocks, not lines. A line longer than ``max_bytes`` is never held in memory whole:
    it comes back as a :class:`_TooLong` (its head and full size) and the rest of it is
    skipped. With a ``span`` (uncompressed files only), just the lines starting in
    ``[start, end)``.
    """
    offset = 0   # file offset of buf[pos]
    index = 0
    end = None
    buf, pos = b"", 0
    eof = False
    try:
        if span is not None:
            index, end = span.first_index, span.end
            source = _Plain(raw)
            if span.start > 0:
                # The line that holds byte start-1 belongs to the span before (or ends right there).
                raw.seek(span.start - 1)
                offset = span.start - 1
                while True:
                    buf = source.chunk()
                    if not buf:
                        return
                    nl = buf.find(b"\n")
                    if nl >= 0:
                        offset += nl + 1
                        pos = nl + 1
                        break
                    offset += len(buf)
        else:
            source = _source(raw, _compression_by_name(path), options)
        while end is None or offset < end:
            blank = _WHITESPACE.match(buf, pos)
            if blank:  # blank lines: those that end inside this run of whitespace
                last = buf.rfind(b"\n", pos, blank.end())
                if last >= 0:
                    index += buf.count(b"\n", pos, last + 1)
                    offset += last + 1 - pos
                    pos = last + 1
                    continue
            nl = buf.find(b"\n", pos, pos + max_bytes)
            if nl >= 0:
                yield index, offset, buf[pos:nl + 1]
                offset += nl + 1 - pos
                pos = nl + 1
                index += 1
                continue
            if len(buf) - pos >= max_bytes:  # an over-long line: keep its head, skip the rest
                head, nl = buf[pos:pos + PREVIEW_BYTES], buf.find(b"\n", pos + max_bytes)
                size = (nl + 1 if nl >= 0 else len(buf)) - pos
                buf, pos = (buf[nl + 1:], 0) if nl >= 0 else (b"", 0)
                while nl < 0 and not eof:
                    data = source.chunk()
                    if not data:
                        eof = True
                        break
                    nl = data.find(b"\n")
                    if nl >= 0:
                        size += nl + 1
                        buf = data[nl + 1:]
                        break
                    size += len(data)
                yield index, offset, _TooLong(head, size)
                offset += size
                index += 1
                continue
            if eof:
                if buf[pos:].strip():  # the last line, without a newline
                    yield index, offset, buf[pos:]
                return
            data = source.chunk()
            if data:
                buf, pos = buf[pos:] + data, 0
            else:
                eof = True
    except (_Corrupt, _Bomb) + _STREAM_ERRORS + (RuntimeError,) as exc:
        yield index, offset, exc


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


def _broken_off(path, index, offset, exc: Exception) -> tuple[str, dict]:
    """The dead letter for the rest of a line file that broke off at line ``index``."""
    reason = "decompression_bomb" if isinstance(exc, _Bomb) else "corrupt_file"
    return _rejected(path, index, reason, f"stopped reading at line {index}, byte {offset} of the decompressed "
                     f"stream: {type(exc).__name__}: {exc}", offset=offset)


def _read_jsonl(path, raw, options: ReaderOptions, span: Span | None = None):
    for index, offset, line in _lines(path, raw, _line_limit(options), options, span):
        if isinstance(line, Exception):
            yield _broken_off(path, index, offset, line)
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
        yield record_document(record, path, index, options, offset=offset, raw=line)


def record_document(record: dict, source: str, index: int, options: ReaderOptions, *, offset=None,
                    raw=None) -> tuple[str, dict]:
    """A record (a JSON object, or a dict from someone else's pipeline) as a document, or
    as its dead letter: no text field, a text that is no string, too large, or not UTF-8."""
    doc_id = _clean_str(record.get(options.id_field), convert=True)
    url = _clean_str(record.get(options.url_field))
    where = dict(offset=offset, raw=raw, doc_id=doc_id, url=url)
    if options.text_field not in record:
        return _rejected(source, index, "missing_field", f"no {options.text_field!r} field", **where)
    text = record[options.text_field]
    if not isinstance(text, str):
        return _rejected(source, index, "bad_type", f"field {options.text_field!r} is a JSON "
                         f"{type(text).__name__}, not a string", **where)
    if _too_large(text, options):
        return _rejected(source, index, "too_large", f"{len(text)} characters > --max-doc-chars "
                         f"{options.max_doc_chars}", **where)
    if not _encodable(text):
        return _rejected(source, index, "invalid_utf8", "the text holds a lone surrogate escape (\\ud800-\\udfff)",
                         **where)
    return _doc(source, index, text, offset=offset, url=url, doc_id=doc_id)


def input_document(item, options: ReaderOptions, *, source: str, index: int) -> tuple[str, dict]:
    """An item handed to Winnow from Python (``winnow.Filter``, ``winnow.beam``): a text, a
    dict with ``options.text_field`` (and optionally the id and URL fields, and
    ``source_file`` / ``record_index`` saying where it came from; other fields are not
    read), or a document Winnow's readers made (``ReadDocuments``), taken as it is. A
    document, or the dead letter that says why the item is not one. Without an id, the
    document's id is a hash of its text, the same on every run."""
    if isinstance(item, str):
        item = {options.text_field: item}
    if not isinstance(item, dict):
        return _rejected(source, index, "not_an_object", f"a value of type {type(item).__name__}, not a text or a dict",
                         raw=repr(item))
    if is_winnow_document(item):  # read by winnow.beam.ReadDocuments: kept as it is, provenance and all
        return DOC, {name: item.get(name) for name in DOCUMENT_FIELDS}
    source = _clean_str(item.get("source_file")) or source
    given = item.get("record_index")
    index = given if isinstance(given, int) and not isinstance(given, bool) else index
    kind, record = record_document(item, source, index, options)
    if item.get(options.id_field) is None and kind == DOC:
        record["doc_id"] = "sha1:" + hashlib.sha1(record["text"].encode("utf-8")).hexdigest()[:20]
    return kind, record


# The fields of a document as the readers make it (see _doc).
DOCUMENT_FIELDS = ("doc_id", "source_file", "record_index", "record_offset", "url", "warc_record_id", "text", "skip")


def is_winnow_document(item: dict) -> bool:
    """A document as Winnow's readers make it (not a user's record that has a text field)."""
    return (isinstance(item.get("doc_id"), str) and isinstance(item.get("source_file"), str)
            and isinstance(item.get("record_index"), int) and isinstance(item.get("text"), str)
            and set(item) <= set(DOCUMENT_FIELDS))


def _read_text(path, raw, options: ReaderOptions, span: Span | None = None):
    for index, offset, line in _lines(path, raw, options.max_doc_chars * 4 + 2, options, span):
        if isinstance(line, Exception):
            yield _broken_off(path, index, offset, line)
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

def _is_text_type(t) -> bool:
    """Whether the reader takes text from a column of this type: string, large_string,
    string_view, binary, large_binary, binary_view (binary decoded as UTF-8), or a
    dictionary of those."""
    import pyarrow as pa

    if pa.types.is_dictionary(t):
        t = t.value_type
    tests = ("is_string", "is_large_string", "is_string_view", "is_binary", "is_large_binary", "is_binary_view")
    return any(getattr(pa.types, name, lambda _: False)(t) for name in tests)


def has_text_column(schema, options: ReaderOptions) -> bool:
    """Whether a Parquet schema has the string (or binary) column the reader takes the text from."""
    if schema.names.count(options.text_field) != 1:  # absent, or two columns of that name
        return False
    return _is_text_type(schema.field(options.text_field).type)


def _as_bytes(column):
    """A text column as an Arrow array of bytes (strings are not validated as UTF-8 by
    Arrow, so they are decoded per row here, where a bad row is one dead letter)."""
    import pyarrow as pa

    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    t = column.type
    target = (pa.binary() if pa.types.is_string(t) else pa.large_binary() if pa.types.is_large_string(t)
              else pa.binary_view() if getattr(pa.types, "is_string_view", lambda _: False)(t) else None)
    if target is not None:
        try:
            column = column.cast(target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass  # read as strings: a row of bad UTF-8 then ends the file as corrupt_file
    return column


def _side_column(batch, name: str, options: ReaderOptions, n: int) -> list:
    """An id or URL column's values, or Nones: a column that is absent, ambiguous (two of
    that name) or not convertible (a timestamp out of Python's range) costs only provenance."""
    if name == options.text_field or batch.schema.names.count(name) != 1:
        return [None] * n
    return _values(batch.column(name), n)


def _values(column, n: int) -> list:
    """A column's Python values; as text if Python cannot hold them (a timestamp out of its
    range), else Nones."""
    try:
        return column.to_pylist()
    except Exception:  # noqa: BLE001 - e.g. OverflowError on a timestamp
        try:
            return column.cast("string").to_pylist()
        except Exception:  # noqa: BLE001
            return [None] * n


def _read_parquet(path, raw, options: ReaderOptions, span: Span | None = None):
    # Never touch column-chunk metadata (RowGroupMetaData.column): on a damaged footer
    # pyarrow 25.0.1 throws a C++ exception there that aborts the process
    # (tests/fixtures/fuzz/parquet/column-metadata-aborts-arrow.parquet); decoding raises a
    # Python error instead. So Parquet rows are bounded by --max-doc-chars only, after decoding.
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(raw)
    except Exception as exc:  # noqa: BLE001
        yield _rejected(path, -1, "corrupt_file", f"not a readable Parquet file: {type(exc).__name__}: {exc}")
        return
    schema = pf.schema_arrow
    index = span.first_index if span else 0
    groups = list(range(span.start, span.end)) if span else None
    if not has_text_column(schema, options):
        yield from _parquet_bad_schema(path, pf, options, index, groups)
        return
    columns = [options.text_field] + [c for c in (options.id_field, options.url_field)
                                      if schema.names.count(c) == 1 and c != options.text_field]
    try:
        for batch in pf.iter_batches(columns=columns, batch_size=4096, row_groups=groups):
            texts = _as_bytes(batch.column(options.text_field)).to_pylist()
            n = len(texts)
            ids = _side_column(batch, options.id_field, options, n)
            urls = _side_column(batch, options.url_field, options, n)
            for value, doc_id, url in zip(texts, ids, urls):
                doc_id = _clean_str(doc_id, convert=True)
                url = _clean_str(url)
                if value is None:
                    yield _rejected(path, index, "missing_field", f"{options.text_field!r} is null",
                                    doc_id=doc_id, url=url)
                    index += 1
                    continue
                try:
                    text = value.decode("utf-8") if isinstance(value, bytes) else value
                except UnicodeDecodeError as exc:
                    yield _rejected(path, index, "invalid_utf8", f"row {index}: {exc}", raw=value,
                                    doc_id=doc_id, url=url)
                    index += 1
                    continue
                if _too_large(text, options):
                    yield _rejected(path, index, "too_large", f"{len(text)} characters", raw=text[:PREVIEW_BYTES],
                                    raw_bytes=len(value), doc_id=doc_id, url=url)
                else:
                    yield _doc(path, index, text, doc_id=doc_id, url=url)
                index += 1
    except Exception as exc:  # noqa: BLE001
        yield _rejected(path, index, "corrupt_file", f"stopped reading at row {index}: {type(exc).__name__}: {exc}")


def _parquet_bad_schema(path, pf, options: ReaderOptions, index: int, groups):
    """One ``bad_schema`` dead letter per row of a file with no usable text column, so that
    every row is counted; each carries a preview of its value where there is one."""
    schema = pf.schema_arrow
    field = options.text_field
    if schema.names.count(field) > 1:
        why = f"{schema.names.count(field)} columns are named {field!r}; which one holds the text is unknown"
        columns = []
    elif field in schema.names:
        why = f"column {field!r} is {schema.field(field).type}, not a string or binary column (--text-field)"
        columns = [field]
    else:
        why = f"no column {field!r} (--text-field); the file's columns are {', '.join(schema.names) or 'none'}"
        columns = []
    columns += [c for c in (options.id_field, options.url_field) if schema.names.count(c) == 1 and c not in columns]
    meta = pf.metadata
    groups = list(range(meta.num_row_groups)) if groups is None else groups
    try:
        for g in groups:
            if columns:
                batches = pf.iter_batches(columns=columns, batch_size=4096, row_groups=[g])
                rows = ((batch.num_rows, {c: _values(batch.column(c), batch.num_rows) for c in columns})
                        for batch in batches)
            else:
                rows = iter([(meta.row_group(g).num_rows, {})])
            for n, data in rows:
                for i in range(n):
                    preview = repr(data[field][i])[:PREVIEW_BYTES] if field in data else None
                    doc_id = _clean_str(data[options.id_field][i], convert=True) \
                        if options.id_field in data and options.id_field != field else None
                    url = _clean_str(data[options.url_field][i]) \
                        if options.url_field in data and options.url_field != field else None
                    detail = f"row {index}: {why}" + (f"; its value is {preview[:200]}" if preview is not None else "")
                    yield _rejected(path, index, "bad_schema", detail, raw=preview, doc_id=doc_id, url=url)
                    index += 1
    except Exception as exc:  # noqa: BLE001
        yield _rejected(path, index, "corrupt_file", f"stopped reading at row {index}: {type(exc).__name__}: {exc}")


# --- WARC and WET ------------------------------------------------------------------------------
#
# The framing is read here, not by a library, so that a record whose Content-Length lies
# costs that record only: a record is a version line (``WARC/1.0``), header lines up to a
# blank line, ``Content-Length`` bytes of block, then CR/LF separators before the next
# version line. When that framing fails, the reader scans (from the start of the block) for
# the next line that is a version line and goes on from there; it never scans inside a
# block that framed correctly, so a page that merely holds a "WARC/1.0" line is not split.
# Records whose header lines end in a bare LF (CCNet's WET files, whose Content-Length
# counts characters) take the block as running to the next version line when their
# Content-Length does not frame. Memory stays bounded: blocks over ``max_record_bytes`` are
# skipped, not read.

WARC_RECORD_TYPES = ("warcinfo", "response", "resource", "request", "metadata", "revisit", "conversion",
                     "continuation")
MAX_HEADER_BYTES = 1 << 20   # a WARC header longer than this is broken
MAX_HEADER_LINE = 1 << 16
_VERSION_LINE = re.compile(rb"WARC/[0-9]{1,4}\.[0-9]{1,4}[ \t]{0,8}\r?\n")
_NEXT_VERSION_LINE = re.compile(rb"\nWARC/[0-9]{1,4}\.[0-9]{1,4}[ \t]{0,8}\r?\n")
_CUT_VERSION_LINE = re.compile(rb"WARC/[0-9]{1,4}\.[0-9]{1,4}[ \t]{0,8}\r?\n(?=[A-Za-z][A-Za-z0-9-]{0,40}:)")
_OVERLAP = 80                # longer than a version line and the header name after it: matches across chunks
_SEPARATORS = re.compile(rb"[\r\n\0]+")
_CONTENT_LENGTH = re.compile(r"[0-9]{1,19}")


class _WarcStream:
    """Buffered reading of a (decompressed) WARC stream with exact offsets, push-back and
    scanning for the next version line. Holds at most a chunk plus what is asked of it."""

    def __init__(self, source):
        self.source = source
        self.buf, self.pos, self.base = b"", 0, 0  # base: stream offset of buf[0]
        self.eof = False
        self.error: Exception | None = None  # why the stream ended early, raised by raise_pending

    def tell(self) -> int:
        return self.base + self.pos

    def raise_pending(self) -> None:
        """At an end of the stream that matters: if it broke off there, raise why. (A
        break seen while only looking ahead must not cost the record before it.)"""
        if self.error is not None:
            raise self.error

    def _chunk(self) -> bytes:
        if self.eof:
            return b""
        try:
            data = self.source.chunk()
        except Exception as exc:  # noqa: BLE001 - kept for raise_pending; the stream ends here
            self.error, data = exc, b""
        if not data:
            self.eof = True
        return data

    def _more(self) -> bool:
        data = self._chunk()
        if not data:
            return False
        self.base += self.pos
        self.buf, self.pos = self.buf[self.pos:] + data, 0
        return True

    def ensure(self, n: int) -> bool:
        while len(self.buf) - self.pos < n:
            if not self._more():
                return False
        return True

    def skip_separators(self) -> None:
        while True:
            m = _SEPARATORS.match(self.buf, self.pos)
            if m:
                self.pos = m.end()
            if self.pos < len(self.buf) or not self._more():
                return

    def at_version_line(self) -> bool:
        self.ensure(_OVERLAP)
        return _VERSION_LINE.match(self.buf, self.pos) is not None

    def readline(self, limit: int) -> bytes:
        while True:
            nl = self.buf.find(b"\n", self.pos, self.pos + limit)
            if nl >= 0:
                line, self.pos = self.buf[self.pos:nl + 1], nl + 1
                return line
            if len(self.buf) - self.pos >= limit or not self._more():
                line = self.buf[self.pos:self.pos + limit]
                self.pos += len(line)
                return line

    def read(self, n: int) -> bytes:
        """Up to ``n`` bytes (fewer at the end of the stream)."""
        if len(self.buf) - self.pos >= n:
            data, self.pos = self.buf[self.pos:self.pos + n], self.pos + n
            return data
        parts, got = [self.buf[self.pos:]], len(self.buf) - self.pos
        self.base += len(self.buf)
        self.buf, self.pos = b"", 0
        while got < n:
            data = self._chunk()
            if not data:
                break
            take = min(len(data), n - got)
            parts.append(data[:take] if take < len(data) else data)
            got += take
            if take < len(data):
                self.buf = data[take:]
                self.base += take  # the stream offset of buf[0]
                break
            self.base += len(data)
        return b"".join(parts)

    def unread(self, data: bytes) -> None:
        """Put ``data``, the bytes just before the current position, back in front."""
        self.base = self.tell() - len(data)
        self.buf, self.pos = data + self.buf[self.pos:], 0

    def followed_by_record(self, separator: bytes) -> bool:
        """Whether the block just read ends where its record does: the record separator
        (CRLF CRLF; LF LF in LF-only files) comes next, or only separator bytes and then a
        version line or the end. Consumes nothing. (Junk after a proper separator is the
        next record's problem, not this one's.)"""
        self.ensure(72)
        ahead = self.buf[self.pos:self.pos + 72]
        if ahead.startswith(separator):
            return True
        rest = ahead.lstrip(b"\r\n\0")
        return not rest or rest.startswith(b"WARC/")

    def find_record(self, after_damage: bool = False) -> bool:
        """Move to the next version line at or after the current position (taken as a
        line start); False, at the end of the stream, when there is none. ``after_damage``
        (a record cut short): also a version line that does not start a line, if a header
        line follows it (a cut record's last line runs straight into the next record)."""
        if self.at_version_line():
            return True
        pattern = _CUT_VERSION_LINE if after_damage else _NEXT_VERSION_LINE
        while True:
            m = pattern.search(self.buf, self.pos)
            if m:
                self.pos = m.start() + (0 if after_damage else 1)
                return True
            self.pos = max(self.pos, len(self.buf) - _OVERLAP)
            if not self._more():
                self.pos = len(self.buf)
                return False

    def read_to_record(self, cap: int) -> tuple[bytes | None, int, bool]:
        """The bytes up to the next version line (or the end): ``(data, size, found)``,
        data None when over ``cap`` bytes (those are skipped, not held), found False when
        the stream ended first."""
        if self.at_version_line():
            return b"", 0, True
        parts, size = [], 0
        while True:
            m = _NEXT_VERSION_LINE.search(self.buf, self.pos)
            stop = m.start() + 1 if m else max(self.pos, len(self.buf) - _OVERLAP)
            piece = self.buf[self.pos:stop]
            size += len(piece)
            if parts is not None and size <= cap:
                parts.append(piece)
            else:
                parts = None
            self.pos = stop
            if m:
                break
            if not self._more():
                rest = self.buf[self.pos:]
                size += len(rest)
                self.pos = len(self.buf)
                if parts is not None and size <= cap:
                    parts.append(rest)
                else:
                    parts = None
                break
        return (b"".join(parts) if parts is not None else None), size, m is not None

    def skip(self, n: int, cap: int) -> tuple[int, bytes | None]:
        """Skip up to ``n`` bytes without holding them: ``(bytes skipped, kept, stopped)``,
        where ``kept`` (at most ``cap`` bytes, else None) runs from the first version line
        inside the skipped bytes to where skipping ended, so that a lying length can be
        recovered from; ``stopped``: skipping ended early, ``cap`` bytes past that line."""
        left, tail, kept, kept_n, searching = n, b"\n", None, 0, True  # the block starts a line
        while left > 0:
            if self.pos >= len(self.buf) and not self._more():
                break
            piece = self.buf[self.pos:self.pos + left]
            if kept is not None and kept_n + len(piece) > cap:
                # A record may start at the version line kept: skipping on blind would lose it
                # and every record after. Stop here; the caller resynchronises from it.
                piece = piece[:cap - kept_n]
                self.pos += len(piece)
                kept.append(piece)
                return n - left + len(piece), b"".join(kept), True
            self.pos += len(piece)
            left -= len(piece)
            if kept is not None:
                kept_n += len(piece)
                kept.append(piece)
            elif searching:
                window = tail + piece
                m = _NEXT_VERSION_LINE.search(window)
                if m:
                    kept = [window[m.start() + 1:]]
                    kept_n = len(kept[0])
                    if kept_n > cap:  # keep the version line's first cap bytes, give the rest back
                        give = kept_n - cap
                        self.pos -= give
                        left += give
                        kept, kept_n = [kept[0][:cap]], cap
                else:
                    tail = window[-_OVERLAP:]
        return n - left, (b"".join(kept) if kept is not None else None), False


def _warc_records(path, raw, want: str, options: ReaderOptions):
    """Intact records of type ``want`` as ``(DOC, (index, offset, url, record_id, block,
    lenient))``; each lost or refused record as ``(REJECTED, dead letter)``; a break in
    the file as a final ``corrupt_file`` (or ``decompression_bomb``) dead letter. The
    caller turns intact blocks into documents.

    Dead letters go to records of the wanted type, and to damaged records whose type cannot
    be told (it might have been the wanted one); a well-framed record of another type is
    skipped. ``record_offset`` is the record's byte offset; in a compressed file, the
    compressed offset of the gzip member (zstd frame) it starts in, where a reader can seek.
    """
    cap = options.max_record_bytes
    index = 0
    start = 0
    seen_record = False

    def letter(reason, detail, raw_block=None, url=None, rid=None, raw_bytes=None):
        return _rejected(path, index, reason, detail, offset=offset, raw=raw_block, url=url, record_id=rid,
                         raw_bytes=raw_bytes)

    def to_next_record():
        """An LF-only record (CCNet WET) whose block runs to the next record: read (or skipped
        when over the cap), as the document or dead letter of the record being parsed."""
        block, got, found = s.read_to_record(cap)
        if not found:
            s.raise_pending()
        if block is None:
            return letter("too_large", f"{where}: a {got}-byte block, over max_record_bytes {cap}",
                          url=url, rid=rid, raw_bytes=got)
        return DOC, (index, offset, url, rid, block, True)

    offset = 0
    try:
        source = _sniffed_source(raw, options)
        s = _WarcStream(source)
        while True:
            s.skip_separators()
            start = s.tell()
            offset = source.member_start(start)
            if not s.ensure(1):
                s.raise_pending()
                return
            if not s.at_version_line():
                found = s.find_record(after_damage=True)
                if not found:
                    s.raise_pending()
                if found or seen_record:  # bytes that should have been a record, in a WARC file
                    ending = f"resynchronised at byte {s.tell()}" if found else "to the end of the file"
                    yield letter("bad_record_header", f"{s.tell() - start} bytes at byte {start} are not a WARC "
                                 f"record (no WARC/1.x version line); skipped, {ending}")
                    index += 1
                continue
            seen_record = True
            version = s.readline(64)
            crlf = version.endswith(b"\r\n")
            separator = b"\r\n\r\n" if crlf else b"\n\n"
            headers, last, size, problem = {}, None, len(version), None
            while True:
                line = s.readline(MAX_HEADER_LINE)
                size += len(line)
                if line in (b"\r\n", b"\n"):
                    break
                if not line.endswith(b"\n"):
                    problem = ("truncated_record", "the file ends inside the record's header") if s.eof and \
                        len(line) < MAX_HEADER_LINE else ("bad_record_header", f"a header line over {MAX_HEADER_LINE} bytes")
                    break
                if size > MAX_HEADER_BYTES:
                    problem = ("bad_record_header", f"a header over {MAX_HEADER_BYTES} bytes")
                    break
                if line[:1] in (b" ", b"\t") and last is not None:  # a folded header line
                    headers[last] += " " + line.strip().decode("utf-8", "replace")
                    continue
                cut = line.rfind(b"WARC/")
                if cut >= 0 and _VERSION_LINE.fullmatch(line, cut):  # the header breaks off: a record starts
                    s.unread(line[cut:])
                    problem = ("bad_record_header", f"the header breaks off where another record starts "
                                                    f"(at byte {s.tell()})")
                    break
                name, colon, value = line.partition(b":")
                name = name.strip()
                if not colon or not name:
                    problem = ("bad_record_header", f"not a header line: {line[:100]!r}")
                    break
                last = name.decode("latin-1").lower()
                headers[last] = value.strip().decode("utf-8", "replace")
            rtype = headers.get("warc-type", "").lower()
            maybe = rtype == want or rtype not in WARC_RECORD_TYPES  # damaged: might have been one of ours
            url, rid = headers.get("warc-target-uri"), headers.get("warc-record-id")
            where = f"the record at byte {start}"
            if problem is not None:
                if problem[0] == "truncated_record":
                    s.raise_pending()
                    if maybe:
                        yield letter("truncated_record", f"{where}: {problem[1]}", url=url, rid=rid)
                    return
                found = s.find_record(after_damage=True)
                if maybe:
                    yield letter("bad_record_header", f"{where}: {problem[1]}; "
                                 + (f"resynchronised at byte {s.tell()}" if found else "no record after it"),
                                 url=url, rid=rid)
                    index += 1
                continue
            length = headers.get("content-length")
            block_start = s.tell()
            if length is None or not _CONTENT_LENGTH.fullmatch(length):
                if not crlf:  # LF-only (CCNet WET): the block runs to the next record
                    item = to_next_record()
                    if rtype == want:
                        yield item
                        index += 1
                    continue
                found = s.find_record(after_damage=True)
                if maybe:
                    what = "no Content-Length" if length is None else f"Content-Length {length[:40]!r} is not a byte count"
                    yield letter("bad_record_length", f"{where}: {what}; "
                                 + (f"resynchronised at byte {s.tell()}" if found else "no record after it"),
                                 url=url, rid=rid)
                    index += 1
                continue
            length = int(length)
            if length > cap:  # never held whole: skipped, keeping enough to recover from a lie
                got, kept, stopped = s.skip(length, cap)
                if got < length and not stopped:
                    s.raise_pending()
                framed = got == length and s.followed_by_record(separator)
                if not framed and kept is not None:
                    s.unread(kept)
                if maybe:
                    detail = f"{where}: Content-Length {length}, over max_record_bytes {cap}; skipped"
                    if stopped:
                        detail += " (a record starts inside it)"
                    elif got < length:
                        detail += f" (the file ends {got} bytes into it)"
                    elif not framed:
                        detail += " (no record follows where it says it ends)"
                    if not framed:
                        detail += f"; resynchronised at byte {s.tell()}" if kept is not None else ""
                    yield letter("too_large", detail, url=url, rid=rid, raw_bytes=length)
                    index += 1
                continue
            block = s.read(length)
            if len(block) == length and s.followed_by_record(separator):
                if rtype == want:
                    yield DOC, (index, offset, url, rid, block, not crlf)
                    index += 1
                continue
            if len(block) < length:
                s.raise_pending()
            s.unread(block)
            if not crlf:  # LF-only: Content-Length did not frame (it may count characters)
                item = to_next_record()
                if rtype == want:
                    yield item
                    index += 1
                continue
            found = s.find_record(after_damage=True)
            if not maybe:
                continue
            if len(block) < length and not found:
                yield letter("truncated_record", f"{where}: {len(block)} of {length} bytes (the file ends there)",
                             raw_block=block, url=url, rid=rid)
            else:
                said = ("the file ends" if len(block) < length else
                        f"no record separator and next record follow at byte {block_start + length}")
                yield letter("bad_record_length", f"{where}: Content-Length {length} does not frame the block "
                             f"({said}); " + (f"resynchronised at the next record, byte {s.tell()}" if found
                                              else "no record after it"), raw_block=block[:PREVIEW_BYTES],
                             url=url, rid=rid, raw_bytes=len(block))
            index += 1
    except Exception as exc:  # noqa: BLE001 - a break in the stream (or any surprise) ends this file, counted
        reason = "decompression_bomb" if isinstance(exc, _Bomb) else "corrupt_file"
        yield _rejected(path, index, reason, f"stopped reading in the record at byte {start} of the decompressed "
                        f"stream: {type(exc).__name__}: {exc}", offset=offset)


def _each_record(path, raw, want: str, on_block, options):
    """Dead letters as they come; each intact record through ``on_block``; then
    ``no_records`` if the file held none of the wanted type."""
    seen = 0
    for kind, item in _warc_records(path, raw, want, options):
        seen += 1
        if kind == REJECTED:
            yield kind, item
        else:
            yield from on_block(path, options, *item)
    if not seen:
        yield from _no_records(path, raw, want)


def _record_doc(path, options, index, offset, url, rid, text, raw):
    """A WARC/WET record's text as a document, or a too_large dead letter."""
    if _too_large(text, options):
        return _rejected(path, index, "too_large", f"{len(text)} characters", offset=offset, raw=raw,
                         url=url, record_id=rid)
    return _doc(path, index, text, offset=offset, url=url, record_id=rid, doc_id=rid)


def _read_wet(path, raw, options: ReaderOptions):
    yield from _each_record(path, raw, "conversion", _wet_block, options)


def _wet_block(path, options, index, offset, url, rid, block, lenient=False):
    try:
        text = block.decode("utf-8")
    except UnicodeDecodeError as exc:
        yield _rejected(path, index, "invalid_utf8", exc, offset=offset, raw=block, url=url, record_id=rid)
        return
    if lenient:  # LF-framed: the separator newlines are in the block
        text = text.strip("\n")
    yield _record_doc(path, options, index, offset, url, rid, text, block)


def _no_records(path, raw, kind):
    """A file with no record of the wanted kind is accounted for, not silently empty."""
    yield _rejected(path, -1, "no_records", f"no WARC {kind} records found (not a WARC/WET file, or a "
                    f"different record type; see --format)")


def _read_warc(path, raw, options: ReaderOptions):
    yield from _each_record(path, raw, "response", _warc_block, options)


class _BodyTooLarge(ValueError):
    """An HTTP body that expands past the cap."""


def _warc_block(path, options, index, offset, url, rid, block, lenient=False):
    try:
        status, headers, body = _parse_http(block, options.max_record_bytes)
    except _BodyTooLarge as exc:
        yield _rejected(path, index, "too_large", exc, offset=offset, raw=block, url=url, record_id=rid)
        return
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


def _parse_http(block: bytes, max_body: int = MAX_RECORD_BYTES) -> tuple[int, dict, bytes]:
    """Status, lower-cased headers and decoded body of a raw HTTP response. A body that a
    Content-Encoding expands past ``max_body`` bytes raises :class:`_BodyTooLarge` (it is
    decompressed at most that far)."""
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
    if encoding in ("gzip", "x-gzip", "deflate"):
        body = _inflate_body(body, encoding, max_body)
    elif encoding not in ("", "identity", "none"):
        raise ValueError(f"unsupported Content-Encoding {encoding!r}")
    return int(parts[1]), headers, body


def _inflate_body(body: bytes, encoding: str, max_body: int) -> bytes:
    """A gzip/deflate HTTP body, decompressed at most ``max_body`` + 1 bytes far."""
    tries = [16 + zlib.MAX_WBITS] if encoding != "deflate" else [zlib.MAX_WBITS, -zlib.MAX_WBITS]  # raw deflate too
    for i, wbits in enumerate(tries):
        d = zlib.decompressobj(wbits)
        try:
            out = d.decompress(body, max_body + 1)
        except zlib.error as exc:
            if i + 1 < len(tries):
                continue
            raise ValueError(f"bad {encoding} body: {exc}") from None
        if len(out) > max_body:
            raise _BodyTooLarge(f"the {encoding} Content-Encoding body ({len(body)} bytes) expands beyond {max_body} "
                                f"bytes (max_record_bytes); not decompressed further")
        if not d.eof:
            raise ValueError(f"bad {encoding} body: incomplete or truncated stream")
        return out
    raise AssertionError("unreachable")


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
