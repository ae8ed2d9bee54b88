"""Reading training text: plain text (a document per line) or JSONL with a text field.

Compressed inputs (``.gz``, ``.zst``) are read transparently. JSONL is recognised by the
extension (``.jsonl``, ``.ndjson``, ``.json`` before any compression suffix).
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import logging
import posixpath
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from . import fs
from .errors import UsageError

log = logging.getLogger(__name__)

JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")


def open_text(path: str | Path) -> io.TextIOBase:
    """Open a possibly compressed file (any filesystem) as UTF-8 text (invalid bytes replaced)."""
    path = str(path)
    raw = fs.open_read(path)
    if path.endswith(".gz"):
        raw = gzip.GzipFile(fileobj=raw, mode="rb")
    elif path.endswith(".zst"):
        import zstandard

        raw = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
    return io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="")


def is_jsonl(path: str | Path) -> bool:
    name = posixpath.basename(str(path))
    for suffix in (".gz", ".zst"):
        name = name.removesuffix(suffix)
    return name.endswith(JSONL_SUFFIXES)


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with fs.open_read(str(path)) as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def parse_where(clauses: list[str] | None) -> dict[str, str]:
    """``["label=1", "split=train"]`` -> ``{"label": "1", "split": "train"}``."""
    out = {}
    for clause in clauses or []:
        key, sep, value = clause.partition("=")
        if not sep or not key:
            raise UsageError(f"--where expects FIELD=VALUE, got {clause!r}")
        out[key] = value
    return out


@dataclass
class TextSource:
    """Documents from training input files, with the statistics a manifest records."""

    paths: list[str]  # local paths or URIs
    text_field: str = "text"
    where: dict[str, str] = field(default_factory=dict)
    documents: int = 0
    skipped: int = 0
    bytes: int = 0

    def __post_init__(self):
        self.paths = [str(p) for p in self.paths]
        missing = [p for p in self.paths if not fs.is_file(p)]
        if missing:
            raise FileNotFoundError(f"training input not found: {', '.join(missing)}")
        if self.where and not all(is_jsonl(p) for p in self.paths):
            raise UsageError("--where filters apply to JSONL fields; some inputs are plain text")

    def __iter__(self) -> Iterator[str]:
        for _, text in self.records():
            yield text

    def records(self) -> Iterator[tuple[dict | None, str]]:
        """``(record, text)`` of each document with text: the JSONL record (None for plain
        text) that passed the ``where`` filters; unusable records are counted in ``skipped``."""
        self.documents = self.skipped = self.bytes = 0
        for path in self.paths:
            jsonl = is_jsonl(path)
            with open_text(path) as f:
                for lineno, line in enumerate(f, 1):
                    record, text = self._record_of(line, path, lineno) if jsonl else (None, line)
                    if text is None or not text.strip():
                        continue
                    self.documents += 1
                    self.bytes += len(text.encode("utf-8"))
                    yield record, text

    def _record_of(self, line: str, path: str, lineno: int) -> tuple[dict | None, str | None]:
        if not line.strip():
            return None, None
        try:
            record = json.loads(line)
            text = record[self.text_field]
            if not isinstance(text, str):
                raise TypeError(f"field {self.text_field!r} is {type(text).__name__}, not a string")
        except (ValueError, KeyError, TypeError) as exc:
            self.skipped += 1
            if self.skipped <= 5:
                log.warning("%s:%d: skipped record (%s)", path, lineno, exc)
            return None, None
        for key, want in self.where.items():
            if str(record.get(key)) != want:
                return None, None
        return record, text

    def fingerprint(self) -> dict:
        """Hash of the source files (in order) and of the selection applied to them."""
        sources = [
            {"name": posixpath.basename(p), "sha256": file_sha256(p), "bytes": fs.size(p)} for p in self.paths
        ]
        selection = {"text_field": self.text_field, "where": self.where}
        h = hashlib.sha256()
        for s in sources:
            h.update(s["sha256"].encode())
        h.update(json.dumps(selection, sort_keys=True).encode())
        return {"fingerprint": "sha256:" + h.hexdigest(), "sources": sources, "selection": selection}
