"""The Beam shells of ``winnow run``, ``sample`` and ``route`` over the units of ``units.py``.

Graph of ``winnow run``::

    Plan (PlanUnits: Patterns -> PlanUnits -> SpreadUnits) -> ProcessUnits (ParDo)
        -> CollectResults (ToList) -> Finalize (summary, stale shards)

The input patterns, not the file list, are in the job graph: a worker expands them into
units, so the graph's size does not grow with the number of inputs (Dataflow limits the
job request's size). ``ProcessUnits`` runs :func:`units.run_unit`: a unit's documents stay
in one fused step, written to shards named after their input and split, with no shuffle
of documents. Models load once per worker process through ``Shared``; the Beam counters
mirror the counts, which travel as results. ``winnow.beam`` builds its transforms for other
people's pipelines from the same pieces (``PlanUnits``, the processor, the shard writer).
"""
from __future__ import annotations

import dataclasses
import os
from collections import Counter
from dataclasses import dataclass

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.utils import shared

from winnow.models import fs

from .readers import ReaderOptions
from .stages import Progress
from .units import (DEFAULT_SPLIT_BYTES, SUMMARY_FILE, JobConfig, RouteConfig, SampleConfig, Unit, build_processor, counter_totals,
                    finalize, finalize_sample, config_units, read_for_sample, route_router, route_unit, route_units,
                    plan_units, run_unit, score_sample)

NAMESPACE = "winnow"
__all__ = ["JobConfig", "RouteConfig", "SampleConfig", "RunResult", "run_job", "build_graph"]


class SharedProcessor:
    """Holder for a process's DocumentProcessor (``Shared`` needs a weak-referenceable object)."""

    def __init__(self, processor):
        self.processor = processor


def publish_counts(delta: Counter) -> None:
    """Beam counters from (route, lang, reason) -> n (see :func:`units.counter_totals`)."""
    for name, n in counter_totals(delta).items():
        Metrics.counter(NAMESPACE, name).inc(n)


class ProcessUnit(beam.DoFn):
    """Reads one unit (an input file or a split of one), scores and routes it, writes its shards."""

    def __init__(self, config: JobConfig):
        self.config = config
        self._shared = shared.Shared()

    def setup(self):
        key = f"processor:{self.config.models}:{hash(str(self.config.thresholds))}:{self.config.keep_unscored}"
        # The holder stays referenced: Shared keeps an object only while someone holds it.
        self._loaded = self._shared.acquire(lambda: SharedProcessor(build_processor(self.config)), tag=key)
        self.processor = self._loaded.processor
        self.progress = Progress(enabled=self.config.progress)

    def process(self, unit: Unit):
        result = run_unit(unit, self.processor, self.config, publish=publish_counts, progress=self.progress)
        if result["neural_scored"]:
            Metrics.counter(NAMESPACE, "neural_scored").inc(result["neural_scored"])
        Metrics.counter(NAMESPACE, "bytes_read").inc(result["bytes"])
        Metrics.counter(NAMESPACE, "units").inc()
        yield result


class PlanUnits(beam.PTransform):
    """``PBegin`` -> the units of work of the input patterns, spread over the workers. The
    patterns, not the file list, are in the job graph: a worker expands them."""

    def __init__(self, patterns=(), reader: ReaderOptions = ReaderOptions(), split_bytes: int = DEFAULT_SPLIT_BYTES,
                 *, config=None):
        super().__init__()
        self.patterns, self.reader, self.split_bytes = tuple(patterns), reader, split_bytes
        self.config = config  # a run or sample configuration: its units still to do (committed ones skipped)

    def _plan(self, _) -> list[Unit]:
        if self.config is not None:
            return config_units(self.config)
        return plan_units(self.patterns, self.reader, self.split_bytes)

    def expand(self, pbegin):
        return (pbegin
                | "Patterns" >> beam.Create([None])
                | "PlanUnits" >> beam.FlatMap(self._plan)
                | "SpreadUnits" >> beam.Reshuffle())


def _plan_route(_, config) -> list:
    """The scored units still to route, on a worker."""
    return route_units(config)


def build(pipeline: beam.Pipeline, config: JobConfig):
    """Add the job to ``pipeline``; returns the PCollection holding the summary."""
    return (
        pipeline
        | "Plan" >> PlanUnits(config=config)
        | "ProcessUnits" >> beam.ParDo(ProcessUnit(config))
        | "CollectResults" >> beam.combiners.ToList()
        | "Finalize" >> beam.Map(finalize, config)
    )


# --- winnow sample ------------------------------------------------------------------------------

class ReadForSample(beam.DoFn):
    """Documents of one unit keyed by their draw, and the unit's counts (tagged ``stats``)."""

    STATS = "stats"

    def __init__(self, config: SampleConfig):
        self.config = config

    def process(self, unit: Unit):
        for key, item in read_for_sample(unit, self.config):
            yield (key, item) if key is not None else beam.pvalue.TaggedOutput(self.STATS, item)


class ScoreSample(beam.DoFn):
    """Scores the drawn documents (score-only routing) and writes them as one scored shard set."""

    def __init__(self, config: SampleConfig):
        self.config = config
        self._shared = shared.Shared()

    def setup(self):
        self._loaded = self._shared.acquire(lambda: SharedProcessor(build_processor(self.config)),
                                              tag=f"sample:{self.config.models}")
        self.processor = self._loaded.processor

    def process(self, drawn: list):
        yield score_sample(drawn, self.processor, self.config)


def _finalize_sample(scored: list[dict], stats: list, config: SampleConfig) -> dict:
    summary, counts = finalize_sample(scored[0] if scored else None, stats, config)
    publish_counts(counts)
    return summary


def build_sample(pipeline: beam.Pipeline, config: SampleConfig):
    read = (
        pipeline
        | "Plan" >> PlanUnits(config=config)
        | "ReadUnits" >> beam.ParDo(ReadForSample(config)).with_outputs(ReadForSample.STATS, main="docs")
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
        | "Finalize" >> beam.Map(_finalize_sample, beam.pvalue.AsSingleton(stats), config)
    )


# --- winnow route -------------------------------------------------------------------------------

class RouteUnit(beam.DoFn):
    """Re-routes the scored rows of one unit with new thresholds; writes its shards."""

    def __init__(self, config: RouteConfig):
        self.config = config

    def setup(self):
        self.router, self.version = route_router(self.config)

    def process(self, unit):
        result = route_unit(unit, self.router, self.version, self.config)
        publish_counts(dict(result["counts"]))
        yield result


def build_route(pipeline: beam.Pipeline, config: RouteConfig):
    return (
        pipeline
        | "ScoredOutput" >> beam.Create([None])
        | "ListUnits" >> beam.FlatMap(_plan_route, config)
        | "SpreadUnits" >> beam.Reshuffle()
        | "RouteUnits" >> beam.ParDo(RouteUnit(config))
        | "CollectResults" >> beam.combiners.ToList()
        | "Finalize" >> beam.Map(finalize, config)
    )


def build_graph(pipeline: beam.Pipeline, config):
    """Add the job of ``config`` (run, sample or route) to ``pipeline``."""
    builder = {RouteConfig: build_route, SampleConfig: build_sample}.get(type(config), build)
    return builder(pipeline, config)


@dataclass
class RunResult:
    summary: dict        # OUT/_SUMMARY.json as written
    seconds: float       # wall time of the pipeline
    counters: dict       # Beam counters of the "winnow" namespace, name -> committed value


def run_job(config, options) -> RunResult:
    """Run the job of ``config`` (run, sample or route) on Beam to completion; return its
    summary, wall time and Beam counters."""
    import json
    import time

    from apache_beam.metrics.metric import MetricsFilter

    start = time.monotonic()
    if hasattr(config, "neural_threads") and config.neural_threads is None:
        config = dataclasses.replace(config, neural_threads=worker_threads(options))
    pipeline = beam.Pipeline(runner=choose_runner(options), options=options)
    build_graph(pipeline, config)
    result = pipeline.run()
    try:
        result.wait_until_finish()
    except KeyboardInterrupt:
        # A cluster job outlives its launcher: stop it, so that nothing writes after the lock is released.
        try:
            result.cancel()
        except Exception:  # noqa: BLE001 - a runner that cannot cancel (the in-process one ends with us)
            pass
        raise
    secs = time.monotonic() - start
    counters = {}
    try:
        for c in result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))["counters"]:
            counters[c.key.metric.name] = counters.get(c.key.metric.name, 0) + c.committed
    except (NotImplementedError, AttributeError, KeyError):  # runners without metrics
        pass
    summary = json.loads(fs.read_text(fs.join(config.output.rstrip("/"), SUMMARY_FILE)))
    return RunResult(summary, secs, counters)


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
