"""The Beam job behind ``winnow run``: input files -> routed Parquet shards + summary.

Graph::

    ListInputs (Create) -> SpreadFiles (Reshuffle) -> ProcessFiles (ParDo)
        -> CollectResults (ToList) -> Finalize (summary, stale shards)

The unit of parallel work is an input file, as in CCNet and datatrove: ``ProcessFiles``
reads a file, scores its documents in batches and streams them into that file's shards,
composing the pure stages of ``stages.py``. Keeping a file's documents in one fused step
avoids shuffling every document through a GroupByKey just to write shards that are named
after their input file anyway, and makes a retried file replace its own shards. Models
load once per worker process through ``Shared``.
"""
from __future__ import annotations

import dataclasses

import hashlib
import logging
import os
import posixpath
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass, field

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.utils import shared

from .readers import DOC, REJECTED as REJECTED_RECORD, ReaderOptions, read_file, shard_key
from .routing import Router, load_thresholds_dict
from .stages import REJECTED, DocumentProcessor, Progress, ShardWriter, summarize, summary_json

log = logging.getLogger(__name__)
NAMESPACE = "winnow"
SUMMARY_FILE = "_SUMMARY.json"


@dataclass(frozen=True)
class JobConfig:
    """Everything a worker needs; plain data, pickled into the DoFns."""

    inputs: tuple[str, ...]
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
    # PyTorch threads per worker process for neural LMs (run_job sets it from the runner).
    neural_threads: int | None = None

    @property
    def score_only(self) -> bool:
        return self.thresholds is None


def localize_models(root: str) -> str:
    """A local copy of a models root on a Beam filesystem (gs://, s3://), else ``root``."""
    if "://" not in root:
        return root
    from apache_beam.io.filesystems import FileSystems

    metas = FileSystems.match([root.rstrip("/") + "/**"])[0].metadata_list
    if not metas:
        return root  # loading then fails with "models root not found"
    # The copy is keyed by the remote files' paths and sizes (the manifests' hashes are
    # checked when the models load), so updated models are fetched again.
    listing = sorted((m.path, m.size_in_bytes) for m in metas)
    dest = os.path.join(tempfile.gettempdir(), "winnow-models-" + shard_key(root) + "-"
                        + hashlib.sha1(repr(listing).encode()).hexdigest()[:10])
    if os.path.isdir(dest):
        return dest
    tmp = tempfile.mkdtemp(prefix="winnow-models-")
    for path, _ in listing:
        rel = path[len(root.rstrip("/")) + 1:]
        target = os.path.join(tmp, rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with FileSystems.open(path) as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst)
    try:
        os.rename(tmp, dest)
    except OSError:  # another process on this machine finished first: use its copy
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


class _Loaded:
    """Holder for a process's DocumentProcessor (``Shared`` needs a weak-referenceable object)."""

    def __init__(self, processor: DocumentProcessor):
        self.processor = processor


def build_processor(config: JobConfig) -> DocumentProcessor:
    from winnow.models import load_model_sets

    if config.neural_threads:
        from winnow.models.neural import set_default_threads

        set_default_threads(config.neural_threads)
    local = localize_models(config.models)
    # A copy fetched from a remote models root is always re-hashed.
    verify = True if (local != config.models or config.worker_verify == "full") else "size"
    sets = load_model_sets(local, verify=verify)
    thresholds = load_thresholds_dict(config.thresholds, sets, source="thresholds") if config.thresholds else None
    router = Router(thresholds, sets, keep_unscored=config.keep_unscored)
    return DocumentProcessor(sets, router, thresholds_version=thresholds.version if thresholds else None)


class ProcessFile(beam.DoFn):
    """Reads one input file, scores and routes its documents, writes its shards."""

    def __init__(self, config: JobConfig):
        self.config = config
        self._shared = shared.Shared()
        self.c_bytes = Metrics.counter(NAMESPACE, "bytes_read")
        self.c_files = Metrics.counter(NAMESPACE, "files")

    def _trace(self, event: str) -> None:
        """With WINNOW_TRACE=FILE, append 'time pid event' lines: a timeline across workers."""
        if trace := os.environ.get("WINNOW_TRACE"):
            import time

            with open(trace, "a", encoding="utf-8") as f:
                f.write(f"{time.time():.3f} {os.getpid()} {event}\n")

    def setup(self):
        self._trace("setup start")
        key = f"processor:{self.config.models}:{hash(str(self.config.thresholds))}:{self.config.keep_unscored}"
        self.processor = self._shared.acquire(lambda: _Loaded(build_processor(self.config)), tag=key).processor
        self.progress = Progress(enabled=self.config.progress)
        self._trace("setup end")

    def process(self, path: str):
        self._trace(f"file start {path}")
        writer = ShardWriter(self.config.output, shard_key(path))
        counts: Counter = Counter()
        nbytes = 0
        self.neural = 0
        batch: list[dict] = []
        try:
            for kind, record in read_file(path, self.config.reader):
                if kind == DOC:
                    batch.append(record)
                    if len(batch) >= self.config.batch_size:
                        nbytes += self._flush(batch, writer, counts)
                        batch = []
                else:
                    assert kind == REJECTED_RECORD
                    writer.add_rejected(record)
                    counts[(REJECTED, None, record["reason"])] += 1
                    self._publish({(REJECTED, None, record["reason"]): 1})
            if batch:
                nbytes += self._flush(batch, writer, counts)
            written = writer.close()
        except BaseException:
            writer.abort()
            raise
        self.c_files.inc()
        self._trace(f"file end {path}")
        yield {**_result(path, shard_key(path), counts, written, nbytes), "neural_scored": self.neural}

    def _flush(self, batch, writer, counts) -> int:
        before = self.processor.neural_scored
        rows = self.processor.process(batch)
        if self.processor.neural_scored > before:
            n = self.processor.neural_scored - before
            self.neural += n
            Metrics.counter(NAMESPACE, "neural_scored").inc(n)
        delta: Counter = Counter()
        nbytes = 0
        for row in rows:
            writer.add(row)
            delta[(row["route"], row["lang"], row["reason"])] += 1
            nbytes += len(row["text"].encode("utf-8"))
        counts.update(delta)
        self._publish(delta)
        self.c_bytes.inc(nbytes)
        self.progress.add(len(rows), nbytes)
        return nbytes

    def _publish(self, delta: Counter) -> None:
        publish_counts(delta)


def publish_counts(delta: Counter) -> None:
    """Beam counters from (route, lang, reason) -> n: read, one per route, one per route and reason."""
    by_name: Counter = Counter()
    for (route, _lang, reason), n in delta.items():
        by_name["read"] += n
        by_name[route] += n
        if reason:
            by_name[f"{route}.{reason}"] += n
    for name, n in by_name.items():
        Metrics.counter(NAMESPACE, name).inc(n)


def _result(source_file: str, key: str, counts: Counter, written, nbytes: int) -> dict:
    return {
        "source_file": source_file,
        "shard": key,
        "counts": sorted(counts.items(), key=lambda kv: tuple(str(x) for x in kv[0])),
        "files": [w.path for w in written],
        "bytes": nbytes,
    }


# --- winnow sample: a seeded uniform sample, scored ---------------------------------------------

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

    thresholds = None
    keep_unscored = False
    progress = False
    score_only = True

    @property
    def shard(self) -> str:
        return f"sample-s{self.seed}-n{self.n}"


def sample_key(seed: int, path: str, index: int) -> tuple[int, str, int]:
    """A document's draw: the N smallest keys are the sample. Deterministic for a seed and
    inputs, whatever the bundling; equivalent to a uniform sample without replacement."""
    h = hashlib.sha1(f"{seed}\0{path}\0{index}".encode()).digest()
    return int.from_bytes(h[:8], "big"), path, index


class ReadForSample(beam.DoFn):
    """Documents of one file keyed by their draw, and the file's counts (tagged ``stats``)."""

    STATS = "stats"

    def __init__(self, config: SampleConfig):
        self.config = config

    def process(self, path: str):
        counts: Counter = Counter()
        docs = 0
        for kind, record in read_file(path, self.config.reader):
            if kind == DOC:
                docs += 1
                yield sample_key(self.config.seed, path, record["record_index"]), record
            else:
                counts[(REJECTED, None, record["reason"])] += 1
        yield beam.pvalue.TaggedOutput(self.STATS, (path, docs, sorted(counts.items())))


class ScoreSample(beam.DoFn):
    """Scores the drawn documents (score-only routing) and writes them as one scored shard set."""

    def __init__(self, config: SampleConfig):
        self.config = config
        self._shared = shared.Shared()

    def setup(self):
        self.processor = self._shared.acquire(lambda: _Loaded(build_processor(self.config)),
                                              tag=f"sample:{self.config.models}").processor

    def process(self, drawn: list):
        writer = ShardWriter(self.config.output, self.config.shard)
        rows_out = []
        docs = [doc for _, doc in sorted(drawn, key=lambda kv: kv[0])]
        try:
            for i in range(0, len(docs), self.config.batch_size):
                for row in self.processor.process(docs[i:i + self.config.batch_size]):
                    writer.add(row)
                    rows_out.append((row["source_file"], row["lang"], row["reason"], len(row["text"].encode())))
            written = writer.close()
        except BaseException:
            writer.abort()
            raise
        yield {"rows": rows_out, "files": [w.path for w in written]}


def finalize_sample(scored: list[dict], stats: list, config: SampleConfig) -> dict:
    """Summary: read = scored (drawn) + not_sampled + rejected, per input file."""
    from .stages import NOT_SAMPLED, SCORED

    scored_result = scored[0] if scored else {"rows": [], "files": []}
    per_file: dict[str, Counter] = {}
    nbytes: Counter = Counter()
    for source, lang, reason, size in scored_result["rows"]:
        per_file.setdefault(source, Counter())[(SCORED, lang, reason)] += 1
        nbytes[source] += size
    results = []
    for path, docs, rejected in stats:
        counts = per_file.get(path, Counter())
        drawn = sum(counts.values())
        counts[(NOT_SAMPLED, None, None)] += docs - drawn
        counts.update(dict(rejected))
        results.append({"source_file": path, "shard": config.shard, "counts": list(counts.items()),
                        "files": [], "bytes": nbytes[path]})
    results.append({"source_file": config.inputs[0], "shard": config.shard, "counts": [],
                    "files": scored_result["files"], "bytes": 0})
    total: Counter = Counter()
    for r in results:
        total.update(dict(r["counts"]))
    publish_counts(total)
    return finalize(results, config, mode="sample")


def build_sample(pipeline: beam.Pipeline, config: SampleConfig, files: list[str]):
    read = (
        pipeline
        | "ListInputs" >> beam.Create(files)
        | "SpreadFiles" >> beam.Reshuffle()
        | "ReadFiles" >> beam.ParDo(ReadForSample(config)).with_outputs(ReadForSample.STATS, main="docs")
    )
    scored = (
        read.docs
        | "Draw" >> beam.combiners.Top.Smallest(config.n, key=lambda kv: kv[0])
        | "ScoreSample" >> beam.ParDo(ScoreSample(config))
    )
    stats = read[ReadForSample.STATS] | "CollectStats" >> beam.combiners.ToList()
    return (
        scored
        | "CollectScored" >> beam.combiners.ToList()
        | "Finalize" >> beam.Map(finalize_sample, beam.pvalue.AsSingleton(stats), config)
    )


# --- winnow route: re-route scored output without rescoring ------------------------------------

@dataclass(frozen=True)
class RouteConfig:
    """``winnow route``: scored shards (of ``run --score-only`` or ``sample``) + thresholds."""

    scored: str                 # the output folder of a score-only run (holds scored/, rejected/)
    models: str                 # models root: only the manifests are read, for score directions
    output: str
    thresholds: dict
    directions: dict            # lang -> score -> side, read from the manifests at launch
    keep_unscored: bool = False

    score_only = False

    @property
    def inputs(self) -> tuple[str, ...]:
        return (self.scored,)


def scored_units(scored: str) -> list[tuple[str, list[str]]]:
    """The scored output grouped by shard key: one unit per input file of the scoring run."""
    from apache_beam.io.filesystems import FileSystems

    root = scored.rstrip("/")
    pattern_files = []
    for pattern in (posixpath.join(root, "scored", "*", "part-*.parquet"), posixpath.join(root, "rejected", "part-*.parquet")):
        pattern_files += [m.path for m in FileSystems.match([pattern])[0].metadata_list]
    if not any("/scored/" in p for p in pattern_files):
        raise FileNotFoundError(f"{scored}: no scored shards (expected {root}/scored/lang=xx/part-*.parquet from "
                                f"`winnow run --score-only` or `winnow sample`)")
    units: dict[str, list[str]] = {}
    for path in sorted(pattern_files):
        key = posixpath.basename(path).removeprefix("part-").removesuffix(".parquet")
        units.setdefault(key, []).append(path)
    return sorted(units.items())


class RouteUnit(beam.DoFn):
    """Re-routes the scored rows of one input file with new thresholds; writes its shards."""

    def __init__(self, config: RouteConfig):
        self.config = config

    def setup(self):
        thresholds = load_thresholds_dict(self.config.thresholds, self.config.directions, source="thresholds")
        self.router = Router(thresholds, self.config.directions, keep_unscored=self.config.keep_unscored)
        self.version = thresholds.version

    def process(self, unit):
        import pyarrow.parquet as pq

        key, paths = unit
        writer = ShardWriter(self.config.output, key)
        counts: Counter = Counter()
        source = key
        nbytes = 0
        try:
            for path in paths:
                rows = pq.read_table(_open(path)).to_pylist()
                if "/rejected/" in path:
                    for row in rows:
                        writer.add_rejected(row)
                        counts[(REJECTED, None, row["reason"])] += 1
                    continue
                lang = posixpath.basename(posixpath.dirname(path)).removeprefix("lang=")
                for row in rows:
                    row["lang"] = lang
                    d = self.router.decide(skip=row["reason"], lang=lang, n_lines=row["n_lines"],
                                           n_tokens=row["n_tokens"], scores=row)
                    row["route"], row["reason"], row["thresholds_version"] = d.route, d.reason, self.version
                    row["decided_by"] = d.decided_by
                    writer.add(row)
                    counts[(d.route, lang, d.reason)] += 1
                    nbytes += len(row["text"].encode("utf-8"))
                    source = row["source_file"]
            written = writer.close()
        except BaseException:
            writer.abort()
            raise
        publish_counts(counts)
        yield _result(source, key, counts, written, nbytes)


def _open(path: str):
    from apache_beam.io.filesystems import FileSystems

    return FileSystems.open(path)


def build_route(pipeline: beam.Pipeline, config: RouteConfig, units):
    return (
        pipeline
        | "ListScored" >> beam.Create(units)
        | "SpreadUnits" >> beam.Reshuffle()
        | "RouteUnits" >> beam.ParDo(RouteUnit(config))
        | "CollectResults" >> beam.combiners.ToList()
        | "Finalize" >> beam.Map(finalize, config)
    )


def finalize(results: list[dict], config, mode: str | None = None) -> dict:
    """Write ``_SUMMARY.json`` and remove shards that earlier runs left for these inputs."""
    from apache_beam.io.filesystems import FileSystems

    summary = summarize(results, score_only=config.score_only, mode=mode)
    written = set(summary["files"])
    out = config.output.rstrip("/")
    # One listing of the output, not one per input: a run may have 100,000 inputs.
    keys = {f"part-{res['shard']}.parquet" for res in results}
    listing = FileSystems.match([posixpath.join(out, "**", "part-*.parquet")])[0].metadata_list
    stale = [m.path for m in listing if posixpath.basename(m.path) in keys and m.path not in written]
    if stale:
        FileSystems.delete(stale)
    summary["stale_shards_removed"] = len(stale)
    summary["run"] = {"inputs": list(config.inputs), "models": config.models,
                      "thresholds_version": (config.thresholds or {}).get("version")}
    tmp = posixpath.join(out, f".{SUMMARY_FILE}.tmp")
    with FileSystems.create(tmp) as f:
        f.write(summary_json(summary))
    FileSystems.rename([tmp], [posixpath.join(out, SUMMARY_FILE)])
    return summary


def build(pipeline: beam.Pipeline, config: JobConfig, files: list[str]):
    """Add the job to ``pipeline``; returns the PCollection holding the summary."""
    results = (
        pipeline
        | "ListInputs" >> beam.Create(files)
        | "SpreadFiles" >> beam.Reshuffle()
        | "ProcessFiles" >> beam.ParDo(ProcessFile(config))
    )
    return (
        results
        | "CollectResults" >> beam.combiners.ToList()
        | "Finalize" >> beam.Map(finalize, config)
    )


def expand_inputs(patterns: list[str]) -> list[str]:
    """Files matching each pattern (local paths or Beam URIs); fails on a pattern with none."""
    from apache_beam.io.filesystems import FileSystems

    files = []
    missing = []
    for pattern in patterns:
        if "://" not in pattern and os.path.isdir(pattern):
            pattern = os.path.join(pattern, "*")
        matched = sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list
                         if not posixpath.basename(m.path).startswith((".", "_")))
        if not matched:
            missing.append(pattern)
        files.extend(matched)
    if missing:
        raise FileNotFoundError(f"no input files match: {', '.join(missing)}")
    return sorted(dict.fromkeys(os.path.abspath(f) if "://" not in f else f for f in files))


@dataclass
class RunResult:
    summary: dict        # OUT/_SUMMARY.json as written
    seconds: float       # wall time of the pipeline
    counters: dict       # Beam counters of the "winnow" namespace, name -> committed value


def run_job(config, files, options) -> RunResult:
    """Run the job (``run``, or ``route`` for a RouteConfig with its units as ``files``)
    to completion; return its summary, wall time and Beam counters."""
    import json
    import time

    from apache_beam.io.filesystems import FileSystems
    from apache_beam.metrics.metric import MetricsFilter

    start = time.monotonic()
    if hasattr(config, "neural_threads") and config.neural_threads is None:
        config = dataclasses.replace(config, neural_threads=worker_threads(options))
    pipeline = beam.Pipeline(runner=choose_runner(options), options=options)
    builder = {RouteConfig: build_route, SampleConfig: build_sample}.get(type(config), build)
    builder(pipeline, config, files)
    result = pipeline.run()
    result.wait_until_finish()
    secs = time.monotonic() - start
    counters = {}
    try:
        for c in result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))["counters"]:
            counters[c.key.metric.name] = counters.get(c.key.metric.name, 0) + c.committed
    except (NotImplementedError, AttributeError, KeyError):  # runners without metrics
        pass
    with FileSystems.open(posixpath.join(config.output.rstrip("/"), SUMMARY_FILE)) as f:
        return RunResult(json.loads(f.read()), secs, counters)


LOCAL_RUNNERS = (None, "DirectRunner", "direct", "FnApiRunner")  # what choose_runner runs in Beam's FnApiRunner


def worker_threads(options) -> int:
    """Threads each worker process should give PyTorch: the machine's cores for the
    in-process runner, an even share of them for local worker processes, one on a
    cluster runner (Dataflow and Spark run a worker process per core)."""
    from apache_beam.options.pipeline_options import DirectOptions, StandardOptions

    cores = os.cpu_count() or 1
    if options.view_as(StandardOptions).runner not in LOCAL_RUNNERS:
        return 1
    direct = options.view_as(DirectOptions)
    if direct.direct_running_mode == "multi_processing":
        workers = direct.direct_num_workers or cores  # Beam: 0 = a worker per core
        return max(1, cores // workers)
    return cores


def choose_runner(options):
    """The runner for ``options``; the DirectRunner becomes Beam's in-process FnApiRunner.

    Beam 2.77's DirectRunner first tries the Prism runner, which downloads a binary from
    GitHub at run time (and fails without network access). The FnApiRunner is what it
    falls back to, with the same options (``--direct_num_workers``,
    ``--direct_running_mode``), so Winnow goes there directly.
    """
    from apache_beam.options.pipeline_options import StandardOptions

    runner = options.view_as(StandardOptions).runner
    if runner not in LOCAL_RUNNERS:
        return None  # let Beam resolve --runner
    from apache_beam.portability.api import beam_provision_api_pb2
    from apache_beam.runners.portability.fn_api_runner import fn_runner
    from apache_beam.runners.portability.portable_runner import JobServiceHandle

    encoded = JobServiceHandle.encode_pipeline_options(options.get_all_options())
    info = fn_runner.ExtendedProvisionInfo(beam_provision_api_pb2.ProvisionInfo(pipeline_options=encoded))
    return fn_runner.FnApiRunner(provision_info=info)
