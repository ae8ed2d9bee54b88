"""The output format's one home: where shards live, how they are written and read back.

``winnow run`` writes one Hive-partitioned table of Parquet shards,
``OUT/route=<route>/lang=<xx>/part-<key>.parquet`` (schema ``DOCUMENT_FILE_SCHEMA``; the
route and language are the partitions), and dead letters ``OUT/_rejected/part-<key>.pq``
(``REJECTED_SCHEMA``). A unit's shards are written under hidden temporary names and renamed
when the unit is done, so a shard is either complete or absent and a rerun replaces it.
Everything that writes the output (``winnow run``, ``sample``, ``route``, the Spark engine,
``winnow.beam.WriteShards``) goes through :class:`ShardWriter`; everything that reads it
back (``route``, ``tune``, ``report``) through :func:`document_shards`,
:func:`dead_letter_files` and :func:`read_rows`. Another format would change this file,
and the two places that recognize its names: ``commit.layout_files`` (what a finalize may
remove) and ``units._SHARD_NAME`` (a shard's unit).
"""
from __future__ import annotations

import posixpath
import uuid
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.parquet as pq

from winnow.models import fs
from winnow.schemas.arrow import DOCUMENT_FILE_SCHEMA, REJECTED_SCHEMA

from .readers import REJECTED

# Dead letters live apart from the table: under a "_" folder (Spark and pyarrow skip it) and
# as Parquet files named *.pq, so that the glob OUT/**/*.parquet (DuckDB, Polars) matches the
# documents only. pyarrow, DuckDB and Polars read them by content: read_parquet('OUT/_rejected/*.pq').
REJECTED_FOLDER = "_rejected"
SHARD_SUFFIX, DEAD_LETTER_SUFFIX = ".parquet", ".pq"
COMPRESSION = "zstd"


def document_shards(root: str, route: str = "*", lang: str = "*") -> list[str]:
    """The document shards under an output root (of one route or language, or all), sorted."""
    pattern = posixpath.join(root.rstrip("/"), f"route={route}", f"lang={lang}", f"part-*{SHARD_SUFFIX}")
    return sorted(m.path for m in fs.match(pattern))


def dead_letter_files(root: str) -> list[str]:
    return sorted(m.path for m in fs.match(posixpath.join(root.rstrip("/"), REJECTED_FOLDER,
                                                          f"part-*{DEAD_LETTER_SUFFIX}")))


def is_dead_letter_file(path: str) -> bool:
    return posixpath.basename(posixpath.dirname(path)) == REJECTED_FOLDER


def partitions_of(path: str) -> tuple[str, str]:
    """(route, lang) of a document shard, from its folders."""
    parts = path.rstrip("/").split("/")
    return parts[-3].removeprefix("route="), parts[-2].removeprefix("lang=")


def read_rows(path: str) -> list[dict]:
    """The rows of one shard or dead-letter file (without the partition columns)."""
    with fs.open_read(path) as f:
        return pq.read_table(f).to_pylist()


def row_groups(path: str):
    """A shard's row groups, one table at a time (bounded memory for large shards)."""
    with fs.open_read(path) as f:
        pf = pq.ParquetFile(f)
        for group in range(pf.num_row_groups):
            yield pf.read_row_group(group)


@dataclass
class WrittenShard:
    path: str
    route: str
    lang: str | None
    rows: int


def shard_path(output: str, route: str, lang: str | None, key: str) -> str:
    """Where a unit's shard of one route and language lives (dead letters: ``lang`` None)."""
    if route == REJECTED:
        return posixpath.join(output, REJECTED_FOLDER, f"part-{key}{DEAD_LETTER_SUFFIX}")
    return posixpath.join(output, f"route={route}", f"lang={lang}", f"part-{key}{SHARD_SUFFIX}")


class ShardWriter:
    """Streams the rows of one unit of work into its shards; ``close()`` publishes them."""

    def __init__(self, output: str, key: str, *, row_group_rows: int = 5000,
                 row_group_chars: int = 32_000_000):
        self.output = output.rstrip("/")
        self.key = key
        self.row_group_rows = row_group_rows
        self.row_group_chars = row_group_chars  # bounds memory whatever the documents' sizes
        self._open: dict[tuple[str, str | None], _PendingShard] = {}

    def add(self, row: dict) -> None:
        route, lang = row["route"], row["lang"]
        self._shard(route, lang, DOCUMENT_FILE_SCHEMA).add(row)

    def add_rejected(self, row: dict) -> None:
        self._shard(REJECTED, None, REJECTED_SCHEMA).add(row)

    def final_path(self, route: str, lang: str | None) -> str:
        return shard_path(self.output, route, lang, self.key)

    def _shard(self, route, lang, schema) -> "_PendingShard":
        shard = self._open.get((route, lang))
        if shard is None:
            shard = self._open[(route, lang)] = _PendingShard(self.final_path(route, lang), schema,
                                                              self.row_group_rows, self.row_group_chars)
        return shard

    def close(self) -> list[WrittenShard]:
        shards = list(self._open.items())
        for _, shard in shards:
            shard.finish()
        # All temporary files are complete before any is published.
        fs.rename([s.tmp_path for _, s in shards], [s.path for _, s in shards])
        self._open.clear()
        return [WrittenShard(s.path, route, lang, s.rows) for (route, lang), s in shards]

    def abort(self) -> None:
        for shard in self._open.values():
            shard.discard()
            try:
                fs.delete([shard.tmp_path])
            except Exception:  # noqa: BLE001 - best effort; hidden temp files are ignored by readers
                pass
        self._open.clear()


class _PendingShard:
    def __init__(self, path: str, schema: pa.Schema, row_group_rows: int, row_group_chars: int):
        self.path = path
        folder, name = posixpath.split(path)
        self.tmp_path = posixpath.join(folder, f".{name}.{uuid.uuid4().hex[:12]}.tmp")
        self._stream = fs.open_write(self.tmp_path)  # makes missing parent folders (object stores have none)
        self._writer = pq.ParquetWriter(self._stream, schema, compression=COMPRESSION)
        self.schema = schema
        self.row_group_rows = row_group_rows
        self.row_group_chars = row_group_chars
        self._buffer: list[dict] = []
        self._chars = 0
        self.rows = 0

    def add(self, row: dict) -> None:
        self._buffer.append(row)
        self._chars += len(row.get("text") or row.get("raw_preview") or "")
        if len(self._buffer) >= self.row_group_rows or self._chars >= self.row_group_chars:
            self._flush()

    def _flush(self) -> None:
        if self._buffer:
            self._writer.write_table(pa.Table.from_pylist(self._buffer, schema=self.schema))
            self.rows += len(self._buffer)
            self._buffer = []
            self._chars = 0

    def finish(self) -> None:
        self._flush()
        self._writer.close()
        self._stream.close()

    def discard(self) -> None:
        try:
            self._writer.close()
            self._stream.close()
        except Exception:  # noqa: BLE001
            pass


