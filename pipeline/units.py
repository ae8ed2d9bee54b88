"""The engine-neutral core of every job: units of work, what one unit does, the summary.

A **unit** is one input file, or one split of a large one (a byte range of an
uncompressed JSONL/text file on line boundaries, or a range of a Parquet file's row
groups). :func:`plan_units` expands the input patterns into units; :func:`run_unit`
reads one unit, scores and routes its documents in batches and streams them into that
unit's shards, returning its counts, and commits it (``commit.py``: a completion record written after
its shards); :func:`finalize` builds ``OUT/_SUMMARY.json`` from every committed unit's record
and removes the files of the layout that no record names. The same goes
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

import fnmatch
import glob
import hashlib
import logging
import os
import posixpath
import re
import stat
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Iterator

from winnow import __version__
from winnow.models import fs

from .commit import SUMMARY_FILE, commit_unit, committed_keys, layout_files, read_records, record_path, relative
from .readers import DOC, REJECTED, ReaderOptions, Span, has_text_column, line_starts_before, \
    read_file, rejected_record, shard_key, splittable_format
from .routing import Router, load_thresholds_dict
from .shards import ShardWriter, dead_letter_files, document_shards, is_dead_letter_file, read_rows
from .stages import LANG_MIN_PROB, NOT_SAMPLED, SCORED, DocumentProcessor, Progress, summarize, summary_json

log = logging.getLogger(__name__)
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
    identity: dict | None = None  # the output's identity (commit.output_identity), in every completion record
    exclude: tuple[str, ...] = ()  # folders never read as inputs (the output and its staging folder)
    lang_fallback: str | None = None  # below lang_min_prob, this language's models score a document
    lang_min_prob: float = LANG_MIN_PROB

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
    identity: dict | None = None
    exclude: tuple[str, ...] = ()
    lang_fallback: str | None = None
    lang_min_prob: float = LANG_MIN_PROB

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
    identity: dict | None = None

    score_only = False

    @property
    def inputs(self) -> tuple[str, ...]:
        return (self.scored,)


def job_identity(config) -> dict:
    """The identity of the output a run, sample or route configuration writes (see
    ``commit.output_identity``): what its rows depend on, not where they come from."""
    from .commit import output_identity, read_identity, thresholds_digest
    from .routing import model_files

    if isinstance(config, RouteConfig):
        return output_identity("route", scored=(read_identity(config.scored) or {}).get("fingerprint"),
                               directions=config.directions, keep_unscored=config.keep_unscored,
                               thresholds_version=config.thresholds.get("version"),
                               thresholds=thresholds_digest(config.thresholds))
    parts = dict(models=model_files(config.models), winnow=__version__, language_id=_lid_digest(),
                 reader=config.reader, split_bytes=config.split_bytes,
                 thresholds_version=(config.thresholds or {}).get("version"),
                 thresholds=thresholds_digest(config.thresholds), keep_unscored=config.keep_unscored,
                 lang_fallback=[config.lang_fallback, config.lang_min_prob] if config.lang_fallback else None)
    if isinstance(config, SampleConfig):
        return output_identity("sample", sample={"n": config.n, "seed": config.seed, "inputs": list(config.inputs)},
                               **parts)
    return output_identity("score-only" if config.score_only else "run", **parts)


def _lid_digest() -> str | None:
    """The language-ID model's hash (a run with another one labels documents differently)."""
    from winnow.models.langid import default_lid_path

    try:
        return hashlib.sha256(default_lid_path().read_bytes()).hexdigest()[:16]
    except Exception:  # noqa: BLE001 - no model: the launcher's own check says so
        return None


# --- units -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Unit:
    """One input file, or split ``split`` of ``splits`` of it (``span`` says which part)."""

    path: str
    split: int = 0
    splits: int = 1
    span: Span | None = None
    problem: tuple[str, str] | None = None  # (reason, detail): a path that is not read, only accounted for

    @property
    def key(self) -> str:
        """The unit's shard name: the input's key, plus the split for a split file."""
        base = shard_key(self.path)
        return base if self.splits == 1 else f"{base}-s{self.split:05d}"


_SHARD_NAME = re.compile(r"^\.?part-((.+-[0-9a-f]{10})(?:-s\d{5,})?|.+?)\.(?:parquet|pq)")


_SPLIT_KEY = re.compile(r"^(.+-[0-9a-f]{10})-s\d{5,}$")  # a split unit's key -> its input's key


def unit_key_of(shard_name: str) -> str | None:
    """The unit key a shard or dead-letter file (or its temporary file) was written for."""
    m = _SHARD_NAME.match(shard_name)
    return m.group(1) if m else None


def input_key_of(shard_name: str) -> str | None:
    """The input key (any split) a shard was written for; None if not named after an input."""
    m = _SHARD_NAME.match(shard_name)
    return m.group(2) if m else None


@dataclass
class Inputs:
    """What the input patterns name: the files to read (in order), paths that cannot be read
    as files with the reason (each becomes one dead letter), and how many files were left
    out because they lie in the output."""

    files: list[str]
    problems: dict[str, tuple[str, str]]
    excluded: int = 0

    @property
    def paths(self) -> list[str]:
        return sorted(set(self.files) | set(self.problems))


def _skipped_name(name: str) -> bool:
    return name.startswith((".", "_"))  # hidden files and _SUCCESS, _rejected/, _winnow/ ...


def _inside(path: str, roots) -> bool:
    return any(path == r or path.startswith(r.rstrip("/") + ("/" if fs.is_remote(r) else os.sep)) for r in roots)


class _Walk:
    """A recursive walk of local folders that detects symlink loops, reads a file reached by
    two paths once, and keeps out the output folders."""

    def __init__(self, exclude, found: Inputs):
        self.exclude = [os.path.realpath(e) for e in exclude if not fs.is_remote(e)]
        self.found = found
        self.files_seen: dict = {}
        self.dirs_seen: set = set()

    def file(self, path: str) -> None:
        if _inside(os.path.realpath(path), self.exclude):
            self.found.excluded += 1
            return
        try:
            st = os.stat(path)
        except OSError:
            self.found.files.append(path)  # dangling or looping link: the reader says which
            return
        if stat.S_ISREG(st.st_mode):
            ident = (st.st_dev, st.st_ino)
            first = self.files_seen.get(ident)
            if first is not None:  # a file reached by two paths is read once, by the one that is no link
                log.info("%s and %s are the same file; read once", first, path)
                if os.path.islink(first) and not os.path.islink(path):
                    self.found.files[self.found.files.index(first)] = path
                    self.files_seen[ident] = path
                return
            self.files_seen[ident] = path
        self.found.files.append(path)  # not a regular file: the reader rejects it without opening it

    def folder(self, path: str, ancestors: frozenset = frozenset()) -> None:
        real = os.path.realpath(path)
        if _inside(real, self.exclude):
            self.found.excluded += sum(len(names) for _, _, names in os.walk(path))
            return
        st = os.stat(path)
        ident = (st.st_dev, st.st_ino)
        if ident in ancestors:
            self.found.problems[path] = ("symlink_loop", f"a link back to the folder {real}, which holds it (a loop); "
                                                         f"its files are read once, from {real}")
            return
        if ident in self.dirs_seen:
            log.info("%s: a link to a folder already read (%s); read once", path, real)
            return
        self.dirs_seen.add(ident)
        try:
            entries = sorted(os.scandir(path), key=lambda e: e.name)
        except OSError as exc:
            self.found.problems[path] = ("unreadable_file", f"cannot list the folder: {exc}")
            return
        for entry in entries:
            if _skipped_name(entry.name):
                continue
            try:
                is_dir = entry.is_dir()  # follows links: a link to a folder is walked too
            except OSError:
                is_dir = False
            if is_dir:
                self.folder(entry.path, ancestors | {ident})
            else:
                self.file(entry.path)


def find_inputs(patterns, exclude=()) -> Inputs:
    """Files matching each pattern (local paths or URIs); folders are read recursively;
    fails on a pattern that matches nothing. Paths under ``exclude`` (the output) are left out."""
    found = Inputs([], {})
    walk = _Walk(exclude, found)
    missing = []
    for pattern in patterns:
        before = len(found.files) + len(found.problems) + found.excluded
        if fs.is_remote(pattern):
            _find_remote(pattern, exclude, found)
        elif os.path.isdir(pattern):
            walk.folder(pattern)
        else:
            for path in _local_glob(pattern):
                if os.path.isdir(path):
                    walk.folder(path)
                elif path == pattern or not _skipped_name(os.path.basename(path)):
                    walk.file(path)  # hidden and "_" files are skipped when a glob finds them, not when named
        if len(found.files) + len(found.problems) + found.excluded == before:
            missing.append(pattern)
    if missing:
        raise FileNotFoundError(f"no input files match: {', '.join(missing)}")
    # A local file is named by its real path, so that `data/`, `./data` and a link to it
    # give the same units (and a resumed run skips them).
    found.files = list(dict.fromkeys(os.path.realpath(f) if not fs.is_remote(f) and os.path.isfile(f)
                                     else fs.absolute(f) for f in found.files))
    found.problems = {fs.absolute(p): v for p, v in found.problems.items()}
    return found


def _local_glob(pattern: str) -> list[str]:
    if "**" not in pattern:
        return sorted(glob.glob(pattern)) or ([pattern] if os.path.lexists(pattern) else [])
    # "**": walk the folder before the first wildcard (with loop detection) and match the
    # paths, rather than glob's own recursion, which follows a looping link 40 levels deep.
    parts = pattern.split(os.sep)
    first = next(i for i, part in enumerate(parts) if glob.has_magic(part))
    base = os.sep.join(parts[:first]) or "."
    listing = Inputs([], {})
    if os.path.isdir(base):
        _Walk((), listing).folder(base)
    loose = pattern.replace(f"**{os.sep}", "")  # "**/" also matches no folder at all
    hits = [p for p in listing.files if fnmatch.fnmatchcase(p, pattern) or fnmatch.fnmatchcase(p, loose)]
    return sorted(hits) + sorted(p for p in listing.problems if fnmatch.fnmatchcase(p, pattern))


def _find_remote(pattern: str, exclude, found: Inputs) -> None:
    matched = [m.path for m in fs.match(pattern)]
    base = pattern.rstrip("/")
    if not matched and not glob.has_magic(pattern):
        matched = [m.path for m in fs.match(base + "/**")]  # a "folder" of an object store, recursively
    elif glob.has_magic(pattern):  # names are judged below the pattern's fixed part
        base = posixpath.dirname(re.split(r"[*?\[]", pattern, maxsplit=1)[0])
    for path in sorted(matched):
        rel = path[len(base) + 1:] if path.startswith(base + "/") else posixpath.basename(path)
        if path != pattern and any(_skipped_name(part) for part in rel.split("/")):
            continue
        if _inside(path, exclude):
            found.excluded += 1
        else:
            found.files.append(path)


def expand_inputs(patterns, exclude=()) -> list[str]:
    """The paths the input patterns name (see :func:`find_inputs`)."""
    return find_inputs(patterns, exclude).paths


def config_units(config, skip_committed: bool = True) -> list[Unit]:
    """The units of a run or sample configuration still to do: those committed in the
    output by an earlier run of the same configuration are skipped (resume)."""
    # Only under the commit protocol (an identity, checked against the output's by
    # commit.Writer) may a committed unit stand for this run's.
    done = committed_keys(config.output) if skip_committed and config.identity else set()
    return plan_units(config.inputs, config.reader, config.split_bytes, exclude=config.exclude, committed=done)


def plan_units(patterns, reader: ReaderOptions = ReaderOptions(), split_bytes: int = DEFAULT_SPLIT_BYTES, *,
               exclude=(), committed=frozenset()) -> list[Unit]:
    """The units of work for the input patterns: a unit per file, several for a large
    splittable file (deterministic for the same files and ``split_bytes``), less the
    ``committed`` unit keys."""
    found = find_inputs(patterns, exclude)
    if found.excluded:
        log.info("%d file(s) under the output folder are not read as inputs", found.excluded)
    units = [Unit(path, problem=problem) for path, problem in found.problems.items()]
    split_inputs = {m.group(1) for m in map(_SPLIT_KEY.match, committed) if m}
    for path in found.files:
        whole = shard_key(path)
        if whole in committed:
            continue
        # A split file is planned again (its newlines counted: fast next to scoring) and its
        # committed splits skipped. It must split as before: read whole now, it would count
        # the rows of its committed splits twice.
        planned = split_file(path, reader, split_bytes)
        if whole in split_inputs and planned[0].splits == 1:
            raise RuntimeError(f"{path}: an earlier run of this configuration committed splits of this file, which "
                               f"cannot be split the same way now (changed, or unreadable); restore it, or rerun "
                               f"with --overwrite")
        units += [u for u in planned if u.key not in committed]
    return sorted(units, key=lambda u: (u.path, u.split))


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
    # Row-group metadata only: a column chunk's aborts pyarrow on a damaged footer (see readers).
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
    if config.lang_fallback and config.lang_fallback not in sets:
        from winnow.models.errors import UsageError

        raise UsageError(f"lang_fallback {config.lang_fallback!r} has no model set under {config.models} "
                         f"(there: {', '.join(sets)})")
    thresholds = load_thresholds_dict(config.thresholds, sets, source="thresholds") if config.thresholds else None
    router = Router(thresholds, sets, keep_unscored=config.keep_unscored)
    processor = DocumentProcessor(sets, router, thresholds_version=thresholds.version if thresholds else None,
                                  lang_fallback=config.lang_fallback, lang_min_prob=config.lang_min_prob)
    trace("setup end")
    return processor


def filter_config(models: str, thresholds: "str | dict | None", *, keep_unscored: bool = False, batch_size: int = 256,
                  lang_fallback: str | None = None, lang_min_prob: float = LANG_MIN_PROB) -> JobConfig:
    """The configuration of Winnow's Python APIs (``winnow.Filter``, ``winnow.beam``): no
    inputs or output; ``thresholds`` a file's path or its content, None to score only."""
    from .routing import read_thresholds_file

    if isinstance(thresholds, str):
        thresholds = read_thresholds_file(thresholds)
    return JobConfig(inputs=(), models=fs.absolute(str(models)), output="", thresholds=thresholds,
                     keep_unscored=keep_unscored, batch_size=batch_size, lang_fallback=lang_fallback,
                     lang_min_prob=lang_min_prob)


def unit_records(unit: Unit, reader: ReaderOptions) -> Iterator[tuple[str, dict]]:
    """The records of a unit: its file's (or span's), or the one dead letter of a path that
    cannot be read as a file (a symlink loop, say)."""
    if unit.problem:
        reason, detail = unit.problem
        yield rejected_record(unit.path, -1, reason, detail)  # (REJECTED, dead letter)
        return
    yield from read_file(unit.path, reader, unit.span)


CountSink = Callable[[Counter], None]  # (route, lang, reason) -> n, as they happen (an engine's live counters)


def run_unit(unit: Unit, processor: DocumentProcessor, config: JobConfig, *, publish: CountSink | None = None,
             progress: Progress | None = None) -> dict:
    """Read one unit, score and route its documents in batches, write its shards; its result."""
    publish = publish or (lambda delta: None)
    writer = ShardWriter(config.output, unit.key)
    counts: Counter = Counter()
    nbytes = 0
    neural_before = processor.neural_scored
    fallback = 0  # documents whose language is --lang-fallback's
    batch: list[dict] = []

    def flush() -> int:
        nonlocal fallback
        rows = processor.process(batch)
        delta: Counter = Counter()
        size = 0
        for row in rows:
            writer.add(row)
            delta[(row["route"], row["lang"], row["reason"])] += 1
            size += len(row["text"].encode("utf-8"))
            fallback += bool(row["lang_fallback"])
        counts.update(delta)
        publish(delta)
        if progress:
            progress.add(len(rows), size)
        return size

    trace(f"unit start {unit.key}")
    try:
        for kind, record in unit_records(unit, config.reader):
            if kind == DOC:
                batch.append(record)
                if len(batch) >= config.batch_size:
                    nbytes += flush()
                    batch = []
            else:
                assert kind == REJECTED
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
    result = {**unit_result(config.output, unit.path, unit.key, counts, written, nbytes),
              "neural_scored": processor.neural_scored - neural_before, "lang_fallback": fallback}
    commit_unit(config.output, unit.key, [result], config.identity)
    trace(f"unit end {unit.key}")
    return result


def unit_result(root: str, source_file: str, key: str, counts: Counter, written, nbytes: int) -> dict:
    """A unit's counts and shards (paths relative to the output root, with their rows)."""
    return {
        "source_file": source_file,
        "shard": key,
        "counts": sorted(counts.items(), key=lambda kv: tuple(str(x) for x in kv[0])),
        "files": {relative(root, w.path): w.rows for w in written},
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
    """Write ``_SUMMARY.json`` from the completion records of every unit committed in the
    output (this run's ``results`` and those of earlier runs it resumed), and remove every
    file of the output's layout that no record names: shards of units that never committed,
    temporary files of dead attempts. The summary then describes exactly what is on disk."""
    out = config.output.rstrip("/")
    fingerprint = (config.identity or {}).get("fingerprint")
    records: dict[str, dict] = {}  # unit key -> its record (a sample's one unit holds a result per input)
    for res in results:
        records.setdefault(res["shard"], {"results": []})["results"].append(res)
    earlier = committed_keys(out) - set(records)
    records.update(read_records(out, earlier))
    for key, record in records.items():
        if "fingerprint" in record and record["fingerprint"] != fingerprint:
            raise RuntimeError(f"{out}: unit {key} was committed by another configuration "
                               f"({record['fingerprint']}, not {fingerprint}); rerun with --overwrite")
    for key in [k for k, record in records.items() if record is None]:  # cut short by a crash: redone next time
        log.warning("%s: the completion record of unit %s is unreadable; its unit is left out and redone by the "
                    "next run", out, key)
        fs.delete([record_path(out, key)])
        del records[key]
    unit_results = [res for record in records.values() for res in record["results"]]
    summary = summarize(unit_results, score_only=config.score_only, mode=mode)
    named = {fs.join(out, rel) for rel in summary["files"]}
    stale = [path for path in layout_files(out) if path not in named]
    fs.delete(stale)
    summary["stale_shards_removed"] = sum(1 for p in stale if not p.endswith(".tmp"))
    summary["units"] = len(records)
    summary["units_resumed"] = len(earlier)
    this_run = summarize(results, score_only=config.score_only, mode=mode) if earlier else summary
    summary["run"] = {"winnow": __version__, "options": run_options(config),
                      "inputs": list(config.inputs), "models": config.models,
                      "thresholds_version": (config.thresholds or {}).get("version"), "fingerprint": fingerprint,
                      # what this run itself read (the rest was committed by earlier runs)
                      "read": this_run["read"], "bytes_read": this_run["bytes_read"]}
    fs.write_atomic(fs.join(out, SUMMARY_FILE), summary_json(summary))
    return summary


def run_options(config) -> dict:
    """The options of a run, sample or route configuration as the summary records them (the
    inputs, models and thresholds are recorded beside them)."""
    import dataclasses

    left_out = {"inputs", "models", "output", "thresholds", "identity", "exclude", "directions", "scored"}
    return {f.name: (dataclasses.asdict(v) if dataclasses.is_dataclass(v) else v)
            for f in dataclasses.fields(config) if f.name not in left_out
            for v in [getattr(config, f.name)]}


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
    for kind, record in unit_records(unit, config.reader):
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
    return {"rows": rows_out, "files": {relative(config.output, w.path): w.rows for w in written}}


def finalize_sample(scored: dict | None, stats: list, config: SampleConfig) -> tuple[dict, Counter]:
    """Summary (read = scored + not_sampled + rejected, per input file) and its counts."""
    scored = scored or {"rows": [], "files": {}}
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
                        "files": {}, "bytes": nbytes[path]})
    results.append({"source_file": config.inputs[0], "shard": config.shard, "counts": [],
                    "files": scored["files"], "bytes": 0})
    # The sample is one unit: its record holds every input's counts.
    commit_unit(config.output, config.shard, results, config.identity)
    return finalize(results, config, mode="sample"), result_counts(results)


# --- winnow route -----------------------------------------------------------------------------

def scored_units(scored: str, committed=frozenset()) -> list[tuple[str, list[str]]]:
    """The scored output grouped by shard key: one unit per unit of the scoring run, less
    the ``committed`` keys (routed by an earlier run of the same configuration)."""
    root = scored.rstrip("/")
    paths = document_shards(root, route=SCORED)
    if not paths:
        raise FileNotFoundError(f"{scored}: no scored shards (expected {root}/route=scored/lang=xx/part-*.parquet "
                                f"from `winnow run --score-only` or `winnow sample`)")
    paths += dead_letter_files(root)
    units: dict[str, list[str]] = {}
    for path in sorted(paths):
        units.setdefault(unit_key_of(posixpath.basename(path)), []).append(path)
    return sorted((key, files) for key, files in units.items() if key not in committed)


def route_units(config: RouteConfig) -> list[tuple[str, list[str]]]:
    """The scored units a route configuration still has to do (resume)."""
    return scored_units(config.scored, committed_keys(config.output) if config.identity else set())


def route_unit(unit: tuple[str, list[str]], router: Router, version: str, config: RouteConfig) -> dict:
    """Re-route the scored rows of one unit with new thresholds; write its shards."""
    from .shards import partitions_of

    key, paths = unit
    writer = ShardWriter(config.output, key)
    counts: Counter = Counter()
    source = key
    nbytes = 0
    try:
        for path in paths:
            rows = read_rows(path)
            if is_dead_letter_file(path):
                for row in rows:
                    writer.add_rejected(row)
                    counts[(REJECTED, None, row["reason"])] += 1
                    source = row["source_file"]
                continue
            lang = partitions_of(path)[1]
            for row in rows:
                row["lang"] = lang
                d = router.decide(skip=row["reason"], lang=lang, n_lines=row["n_lines"],
                                  n_tokens=row["n_tokens"], scores=row)
                row["route"], row["reason"], row["thresholds_version"] = d.route, d.reason, version
                row["decided_by"] = d.decided_by
                row["decided_rule"], row["decided_value"] = d.rule, d.value
                writer.add(row)
                counts[(d.route, lang, d.reason)] += 1
                nbytes += len(row["text"].encode("utf-8"))
                source = row["source_file"]
        written = writer.close()
    except BaseException:
        writer.abort()
        raise
    result = unit_result(config.output, source, key, counts, written, nbytes)
    commit_unit(config.output, key, [result], config.identity)
    return result


def route_router(config: RouteConfig) -> tuple[Router, str]:
    thresholds = load_thresholds_dict(config.thresholds, config.directions, source="thresholds")
    return Router(thresholds, config.directions, keep_unscored=config.keep_unscored), thresholds.version
