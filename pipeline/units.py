"""The engine-neutral core of every job: units of work, what one unit does, the summary.

A **unit** is one input file, or one split of a large one (a byte range of an
uncompressed JSONL/text file on line boundaries, or a range of a Parquet file's row
groups). :func:`plan_units` expands the input patterns into units; :func:`run_unit`
reads one unit, scores and routes its documents in batches and streams them into that
unit's shards, returning its counts; :func:`finalize` builds ``OUT/_SUMMARY.json`` from the
units' results and removes shards that earlier runs left for these inputs. The same goes
for ``winnow sample`` (:func:`read_for_sample`, :func:`score_sample`,
:func:`finalize_sample`) and ``winnow route`` (:func:`scored_units`, :func:`route_unit`).

Engines only decide where units run: the Beam job (``job.py``) and the Spark job
(``spark.py``) are thin shells over these functions, so both give the same shards, rows
and summary. Counts travel back as unit results, never only as counters or accumulators
(a retried task would count twice). A unit's shard names derive from (input, split), and a
shard is renamed into place only when its unit is complete, so a retried or speculative
attempt replaces, never duplicates.
"""
from __future__ import annotations

import hashlib
import logging
import os
import posixpath
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Iterator

from winnow.models import fs

from .readers import DOC, REJECTED as REJECTED_RECORD, ReaderOptions, Span, has_text_column, line_starts_before, \
    read_file, shard_key, splittable_format
from .routing import Router, load_thresholds_dict
from .stages import DEAD_LETTER_SUFFIX, NOT_SAMPLED, REJECTED, REJECTED_FOLDER, SCORED, SHARD_SUFFIX, \
    DocumentProcessor, Progress, ShardWriter, summarize, summary_json

log = logging.getLogger(__name__)
SUMMARY_FILE = "_SUMMARY.json"
DEFAULT_SPLIT_BYTES = 64 << 20  # ~15 s of scoring per core: small enough to spread, large enough to amortize


# --- configurations (plain data, pickled to workers) ----------------------------------------------

@dataclass(frozen=True)
class JobConfig:
    """``winnow run``: everything a worker needs."""

    inputs: tuple[str, ...]  # files, folders or globs, expanded where the units are planned
    models: str
    output: str
    thresholds: dict | None = None  # the thresholds file's content, validated at launch
    reader: ReaderOptions = field(default_factory=ReaderOptions)
    keep_unscored: bool = False
    batch_size: int = 256
    progress: bool = True
    # Workers re-check model files by size only when the launcher has verified their
    # hashes (winnow run does, before any work); "full" re-hashes on every worker.
    worker_verify: str = "full"
    # PyTorch threads per worker process for neural LMs (the engine sets it).
    neural_threads: int | None = None
    split_bytes: int = DEFAULT_SPLIT_BYTES  # files larger than this are split (0: never)

    @property
    def score_only(self) -> bool:
        return self.thresholds is None


@dataclass(frozen=True)
class SampleConfig:
    """``winnow sample``: N documents drawn uniformly (without replacement) from the inputs."""

    inputs: tuple[str, ...]
    models: str
    output: str
    n: int
    seed: int = 0
    reader: ReaderOptions = field(default_factory=ReaderOptions)
    batch_size: int = 256
    worker_verify: str = "full"
    neural_threads: int | None = None
    split_bytes: int = DEFAULT_SPLIT_BYTES

    thresholds = None
    keep_unscored = False
    progress = False
    score_only = True

    @property
    def shard(self) -> str:
        return f"sample-s{self.seed}-n{self.n}"


@dataclass(frozen=True)
class RouteConfig:
    """``winnow route``: scored shards (of ``run --score-only`` or ``sample``) + thresholds."""

    scored: str                 # the output folder of a score-only run
    models: str                 # models root: only the manifests are read, for score directions
    output: str
    thresholds: dict
    directions: dict            # lang -> score -> side, read from the manifests at launch
    keep_unscored: bool = False

    score_only = False

    @property
    def inputs(self) -> tuple[str, ...]:
        return (self.scored,)


# --- units -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Unit:
    """One input file, or split ``split`` of ``splits`` of it (``span`` says which part)."""

    path: str
    split: int = 0
    splits: int = 1
    span: Span | None = None

    @property
    def key(self) -> str:
        """The unit's shard name: the input's key, plus the split for a split file."""
        base = shard_key(self.path)
        return base if self.splits == 1 else f"{base}-s{self.split:05d}"


_SHARD_NAME = re.compile(r"^\.?part-((.+-[0-9a-f]{10})(?:-s\d{5,})?|.+?)\.(?:parquet|pq)")


def unit_key_of(shard_name: str) -> str | None:
    """The unit key a shard or dead-letter file (or its temporary file) was written for."""
    m = _SHARD_NAME.match(shard_name)
    return m.group(1) if m else None


def input_key_of(shard_name: str) -> str | None:
    """The input key (any split) a shard was written for; None if not named after an input."""
    m = _SHARD_NAME.match(shard_name)
    return m.group(2) if m else None


def expand_inputs(patterns) -> list[str]:
    """Files matching each pattern (local paths or URIs); fails on a pattern with none."""
    files, missing = [], []
    for pattern in patterns:
        if not fs.is_remote(pattern) and os.path.isdir(pattern):
            pattern = os.path.join(pattern, "*")
        found = [m.path for m in fs.match(pattern)]
        if not found and fs.is_remote(pattern) and not any(c in pattern for c in "*?["):
            found = [m.path for m in fs.match(pattern.rstrip("/") + "/*")]  # a "folder" of an object store
        # Hidden and "_" files are skipped when a folder or glob finds them, not when named.
        matched = sorted(p for p in found if p == pattern or not posixpath.basename(p).startswith((".", "_")))
        if not matched:
            missing.append(pattern)
        files.extend(matched)
    if missing:
        raise FileNotFoundError(f"no input files match: {', '.join(missing)}")
    return sorted(dict.fromkeys(fs.absolute(f) for f in files))


def config_units(config) -> list[Unit]:
    """The units of a run or sample configuration."""
    return plan_units(config.inputs, config.reader, config.split_bytes)


def plan_units(patterns, reader: ReaderOptions = ReaderOptions(), split_bytes: int = DEFAULT_SPLIT_BYTES
               ) -> list[Unit]:
    """The units of work for the input patterns: a unit per file, several for a large
    splittable file (deterministic for the same files and ``split_bytes``)."""
    units = []
    for path in expand_inputs(patterns):
        units += split_file(path, reader, split_bytes)
    return units


def split_file(path: str, reader: ReaderOptions, split_bytes: int) -> list[Unit]:
    whole = [Unit(path)]
    fmt = splittable_format(path, reader)
    if not split_bytes or fmt is None:
        return whole
    try:
        size = fs.size(path)
        if size <= split_bytes:
            return whole
        spans = _parquet_spans(path, reader, split_bytes) if fmt == "parquet" else _line_spans(path, size, split_bytes)
    except Exception as exc:  # noqa: BLE001 - a file that cannot be planned is read whole, and its reader says why
        log.debug("%s: read whole (%s)", path, exc)
        return whole
    if len(spans) < 2:
        return whole
    return [Unit(path, i, len(spans), span) for i, span in enumerate(spans)]


def _line_spans(path: str, size: int, split_bytes: int) -> list[Span]:
    n = -(-size // split_bytes)
    starts = [i * size // n for i in range(n)]
    firsts = [0] + line_starts_before(path, starts[1:])
    # A span in which no line starts (inside one long line) joins the span after it, so a
    # long line is read by the span it starts in and skipped by one span at most.
    keep = [i for i in range(n) if i == 0 or firsts[i] != firsts[i - 1]]
    ends = [starts[i] for i in keep[1:]] + [size]
    return [Span(starts[i], end, firsts[i]) for i, end in zip(keep, ends)]


def _parquet_spans(path: str, reader: ReaderOptions, split_bytes: int) -> list[Span]:
    import pyarrow.parquet as pq

    with fs.open_read(path) as f:
        pf = pq.ParquetFile(f)
        if not has_text_column(pf.schema_arrow, reader):
            return []  # read whole: the reader rejects the file once, with its reason
        meta = pf.metadata
    spans, start, first, rows, nbytes = [], 0, 0, 0, 0
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        rows += group.num_rows
        nbytes += group.total_byte_size
        if nbytes >= split_bytes or g == meta.num_row_groups - 1:
            spans.append(Span(start, g + 1, first))
            start, first, nbytes = g + 1, rows, 0
    return spans


# --- winnow run: one unit -----------------------------------------------------------------------

def trace(event: str) -> None:
    """With WINNOW_TRACE=FILE, append 'time pid event' lines: a timeline across workers."""
    if path := os.environ.get("WINNOW_TRACE"):
        import time

        with open(path, "a", encoding="utf-8") as f:
            f.write(f"{time.time():.3f} {os.getpid()} {event}\n")


def build_processor(config) -> DocumentProcessor:
    """The models, thresholds and router a worker process needs (build once per process)."""
    from winnow.models import load_model_sets

    trace("setup start")
    if config.neural_threads:
        from winnow.models.neural import set_default_threads

        set_default_threads(config.neural_threads)
    local = fs.local_copy(config.models)
    # A copy fetched from a remote models root is always re-hashed.
    verify = True if (local != config.models or config.worker_verify == "full") else "size"
    sets = load_model_sets(local, verify=verify)
    thresholds = load_thresholds_dict(config.thresholds, sets, source="thresholds") if config.thresholds else None
    router = Router(thresholds, sets, keep_unscored=config.keep_unscored)
    processor = DocumentProcessor(sets, router, thresholds_version=thresholds.version if thresholds else None)
    trace("setup end")
    return processor


Publish = Callable[[Counter], None]  # (route, lang, reason) -> n, as they happen (an engine's live counters)


def run_unit(unit: Unit, processor: DocumentProcessor, config: JobConfig, *, publish: Publish | None = None,
             progress: Progress | None = None) -> dict:
    """Read one unit, score and route its documents in batches, write its shards; its result."""
    publish = publish or (lambda delta: None)
    writer = ShardWriter(config.output, unit.key)
    counts: Counter = Counter()
    nbytes = 0
    neural_before = processor.neural_scored
    batch: list[dict] = []

    def flush() -> int:
        rows = processor.process(batch)
        delta: Counter = Counter()
        size = 0
        for row in rows:
            writer.add(row)
            delta[(row["route"], row["lang"], row["reason"])] += 1
            size += len(row["text"].encode("utf-8"))
        counts.update(delta)
        publish(delta)
        if progress:
            progress.add(len(rows), size)
        return size

    trace(f"unit start {unit.key}")
    try:
        for kind, record in read_file(unit.path, config.reader, unit.span):
            if kind == DOC:
                batch.append(record)
                if len(batch) >= config.batch_size:
                    nbytes += flush()
                    batch = []
            else:
                assert kind == REJECTED_RECORD
                writer.add_rejected(record)
                delta = Counter({(REJECTED, None, record["reason"]): 1})
                counts.update(delta)
                publish(delta)
        if batch:
            nbytes += flush()
        written = writer.close()
    except BaseException:
        writer.abort()
        raise
    trace(f"unit end {unit.key}")
    return {**unit_result(unit.path, unit.key, counts, written, nbytes),
            "neural_scored": processor.neural_scored - neural_before}


def unit_result(source_file: str, key: str, counts: Counter, written, nbytes: int) -> dict:
    return {
        "source_file": source_file,
        "shard": key,
        "counts": sorted(counts.items(), key=lambda kv: tuple(str(x) for x in kv[0])),
        "files": [w.path for w in written],
        "bytes": nbytes,
    }


def result_counts(results) -> Counter:
    """(route, lang, reason) -> n over the units' results."""
    total: Counter = Counter()
    for r in results:
        total.update(dict(r["counts"]))
    return total


def counter_totals(counts) -> Counter:
    """Counter names and values from (route, lang, reason) -> n: read, one per route, one per
    route and reason (what the Beam counters and the Spark driver's counters hold)."""
    by_name: Counter = Counter()
    for (route, _lang, reason), n in dict(counts).items():
        by_name["read"] += n
        by_name[route] += n
        if reason:
            by_name[f"{route}.{reason}"] += n
    return by_name


# --- the end of a run ------------------------------------------------------------------------

def finalize(results: list[dict], config, mode: str | None = None) -> dict:
    """Write ``_SUMMARY.json`` from the units' results and remove the shards (and
    temporary files) that earlier runs or failed attempts left for these inputs."""
    summary = summarize(results, score_only=config.score_only, mode=mode)
    written = set(summary["files"])
    out = config.output.rstrip("/")
    # One listing of the output, not one per input: a run may have 100,000 inputs.
    units = {res["shard"] for res in results}
    inputs = {input_key_of(f"part-{unit}{SHARD_SUFFIX}") for unit in units} - {None}
    # Only the output's own layout: never a folder a user keeps under OUT.
    listing = [m for folder, pattern in (("route=*/lang=*", f"part-*{SHARD_SUFFIX}"), ("route=*/lang=*", ".part-*.tmp"),
                                         (REJECTED_FOLDER, f"part-*{DEAD_LETTER_SUFFIX}"), (REJECTED_FOLDER, ".part-*.tmp"))
               for m in fs.match(posixpath.join(out, folder, pattern))]

    def ours(name: str) -> bool:  # a file of these units or inputs: any split, any earlier attempt
        return unit_key_of(name) in units or input_key_of(name) in inputs

    stale = sorted(m.path for m in listing if ours(posixpath.basename(m.path)) and m.path not in written)
    fs.delete(stale)
    summary["stale_shards_removed"] = sum(1 for p in stale if not p.endswith(".tmp"))
    summary["run"] = {"inputs": list(config.inputs), "models": config.models,
                      "thresholds_version": (config.thresholds or {}).get("version")}
    tmp = posixpath.join(out, f".{SUMMARY_FILE}.tmp")
    fs.write_bytes(tmp, summary_json(summary))
    fs.rename([tmp], [posixpath.join(out, SUMMARY_FILE)])
    return summary


# --- winnow sample ------------------------------------------------------------------------------

def sample_key(seed: int, path: str, index: int) -> tuple[int, str, int]:
    """A document's draw: the N smallest keys are the sample. Deterministic for a seed and
    inputs, whatever the bundling or splitting; equivalent to a uniform sample without replacement."""
    h = hashlib.sha1(f"{seed}\0{path}\0{index}".encode()).digest()
    return int.from_bytes(h[:8], "big"), path, index


def read_for_sample(unit: Unit, config: SampleConfig) -> Iterator[tuple]:
    """``(key, document)`` for every document of the unit, then ``(None, stats)`` last, where
    stats is ``(source_file, documents, [((rejected, None, reason), n), ...])``."""
    counts: Counter = Counter()
    docs = 0
    for kind, record in read_file(unit.path, config.reader, unit.span):
        if kind == DOC:
            docs += 1
            yield sample_key(config.seed, unit.path, record["record_index"]), record
        else:
            counts[(REJECTED, None, record["reason"])] += 1
    yield None, (unit.path, docs, sorted(counts.items()))


def score_sample(drawn: list, processor: DocumentProcessor, config: SampleConfig) -> dict:
    """Score the drawn ``(key, document)`` pairs into one scored shard set."""
    writer = ShardWriter(config.output, config.shard)
    rows_out = []
    docs = [doc for _, doc in sorted(drawn, key=lambda kv: kv[0])]
    try:
        for i in range(0, len(docs), config.batch_size):
            for row in processor.process(docs[i:i + config.batch_size]):
                writer.add(row)
                rows_out.append((row["source_file"], row["lang"], row["reason"], len(row["text"].encode())))
        written = writer.close()
    except BaseException:
        writer.abort()
        raise
    return {"rows": rows_out, "files": [w.path for w in written]}


def finalize_sample(scored: dict | None, stats: list, config: SampleConfig) -> tuple[dict, Counter]:
    """Summary (read = scored + not_sampled + rejected, per input file) and its counts."""
    scored = scored or {"rows": [], "files": []}
    per_file: dict[str, Counter] = {}
    nbytes: Counter = Counter()
    for source, lang, reason, size in scored["rows"]:
        per_file.setdefault(source, Counter())[(SCORED, lang, reason)] += 1
        nbytes[source] += size
    merged: dict[str, list] = {}  # a split file's stats come in parts
    for path, docs, rejected in stats:
        entry = merged.setdefault(path, [0, Counter()])
        entry[0] += docs
        entry[1].update(dict(rejected))
    results = []
    for path, (docs, rejected) in sorted(merged.items()):
        counts = per_file.get(path, Counter())
        counts[(NOT_SAMPLED, None, None)] += docs - sum(counts.values())
        counts.update(rejected)
        results.append({"source_file": path, "shard": config.shard, "counts": list(counts.items()),
                        "files": [], "bytes": nbytes[path]})
    results.append({"source_file": config.inputs[0], "shard": config.shard, "counts": [],
                    "files": scored["files"], "bytes": 0})
    return finalize(results, config, mode="sample"), result_counts(results)


# --- winnow route -----------------------------------------------------------------------------

def scored_units(scored: str) -> list[tuple[str, list[str]]]:
    """The scored output grouped by shard key: one unit per unit of the scoring run."""
    root = scored.rstrip("/")
    paths = [m.path for m in fs.match(posixpath.join(root, f"route={SCORED}", "*", f"part-*{SHARD_SUFFIX}"))]
    if not paths:
        raise FileNotFoundError(f"{scored}: no scored shards (expected {root}/route=scored/lang=xx/part-*.parquet "
                                f"from `winnow run --score-only` or `winnow sample`)")
    paths += [m.path for m in fs.match(posixpath.join(root, REJECTED_FOLDER, f"part-*{DEAD_LETTER_SUFFIX}"))]
    units: dict[str, list[str]] = {}
    for path in sorted(paths):
        units.setdefault(unit_key_of(posixpath.basename(path)), []).append(path)
    return sorted(units.items())


def route_unit(unit: tuple[str, list[str]], router: Router, version: str, config: RouteConfig) -> dict:
    """Re-route the scored rows of one unit with new thresholds; write its shards."""
    import pyarrow.parquet as pq

    key, paths = unit
    writer = ShardWriter(config.output, key)
    counts: Counter = Counter()
    source = key
    nbytes = 0
    try:
        for path in paths:
            with fs.open_read(path) as f:
                rows = pq.read_table(f).to_pylist()
            if posixpath.basename(posixpath.dirname(path)) == REJECTED_FOLDER:
                for row in rows:
                    writer.add_rejected(row)
                    counts[(REJECTED, None, row["reason"])] += 1
                    source = row["source_file"]
                continue
            lang = posixpath.basename(posixpath.dirname(path)).removeprefix("lang=")
            for row in rows:
                row["lang"] = lang
                d = router.decide(skip=row["reason"], lang=lang, n_lines=row["n_lines"],
                                  n_tokens=row["n_tokens"], scores=row)
                row["route"], row["reason"], row["thresholds_version"] = d.route, d.reason, version
                row["decided_by"] = d.decided_by
                writer.add(row)
                counts[(d.route, lang, d.reason)] += 1
                nbytes += len(row["text"].encode("utf-8"))
                source = row["source_file"]
        written = writer.close()
    except BaseException:
        writer.abort()
        raise
    return unit_result(source, key, counts, written, nbytes)


def route_router(config: RouteConfig) -> tuple[Router, str]:
    thresholds = load_thresholds_dict(config.thresholds, config.directions, source="thresholds")
    return Router(thresholds, config.directions, keep_unscored=config.keep_unscored), thresholds.version
