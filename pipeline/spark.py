"""The Spark shells of ``winnow run``, ``sample`` and ``route`` (PySpark, the ``[spark]`` extra).

The driver plans the units (``units.py``) and hands one to each task
(``parallelize(units, len(units))``); a task runs :func:`units.run_unit` and returns the
unit's result, and the driver builds the summary from the collected results, as the Beam
job does. No accumulators: a retried task would count twice. A retried or speculative
attempt writes its own temporary files and renames them onto the same shard names, so
it replaces rather than duplicates. Models load once per Python worker and are reused
by every task it runs (Spark reuses Python workers by default).

The master is anything ``spark-submit`` accepts: ``local[N]``, ``spark://host:port``,
``yarn``, ``k8s://...``. Models come from a path every executor can read (a local path
on a one-machine cluster, or ``gs://``/``s3://``/``hdfs://``), or are shipped with the
job (``ship_models``: ``SparkContext.addFile``).
"""
from __future__ import annotations

import dataclasses
import heapq
import json
import logging
import os
import sys
import threading
import time
from dataclasses import dataclass
from functools import partial

from .units import (JobConfig, RouteConfig, SampleConfig, build_processor, config_units, counter_totals, finalize,
                    finalize_sample, read_for_sample, result_counts, route_router, route_unit, route_units,
                    run_unit, score_sample)

log = logging.getLogger(__name__)
SHIPPED = "spark-files:"  # models=spark-files:NAME: the models root shipped with the job under NAME


@dataclass(frozen=True)
class SparkOptions:
    master: str = "local[*]"
    conf: tuple[tuple[str, str], ...] = ()
    ship_models: bool = False
    progress: bool = True
    app_name: str = "winnow"


def is_local_master(master: str) -> bool:
    """Masters whose executors run on this machine (and so see its local paths)."""
    host = master.removeprefix("spark://").split(":")[0] if master.startswith("spark://") else ""
    return master.startswith("local") or host in ("127.0.0.1", "localhost")


def spark_context(opts: SparkOptions):
    """A SparkContext for ``opts`` (the running one, if a driver already made it)."""
    from pyspark import SparkConf, SparkContext

    conf = SparkConf().setMaster(opts.master).setAppName(opts.app_name)
    conf.set("spark.ui.showConsoleProgress", "false")  # Winnow logs its own progress
    conf.set("spark.python.worker.reuse", "true")      # models stay loaded across tasks
    for key, value in opts.conf:
        conf.set(key, value)
    # The Python the executors run: spark.pyspark.python, else $PYSPARK_PYTHON, else on this
    # machine's executors the driver's own (PySpark reads only the environment variable
    # when the driver is Python); elsewhere Spark's default.
    python = dict(opts.conf).get("spark.pyspark.python") or os.environ.get("PYSPARK_PYTHON")
    if python or is_local_master(opts.master):
        os.environ["PYSPARK_PYTHON"] = python or sys.executable
    try:
        sc = SparkContext.getOrCreate(conf)
    except Exception as exc:  # noqa: BLE001 - Java missing, a master that does not answer, a bad setting
        from .engines import LaunchError

        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise LaunchError(f"Spark could not start with --spark-master {opts.master} ({first}); check the "
                          f"master URL, the --spark-conf settings and that Java 17+ is installed") from None
    sc.setLogLevel("WARN")
    return sc


# --- on the executors -------------------------------------------------------------------------

_CACHE: dict = {}  # per Python worker: models and routers, reused by every task it runs


def _cached(key, build):
    if key not in _CACHE:
        _CACHE[key] = build()
    return _CACHE[key]


def _resolve(config):
    """``config`` with a shipped models root replaced by its local copy on this executor."""
    if config.models.startswith(SHIPPED):
        from pyspark import SparkFiles

        return dataclasses.replace(config, models=SparkFiles.get(config.models[len(SHIPPED):]),
                                   worker_verify="size")
    return config


def _processor(config):
    key = ("processor", config.models, json.dumps(config.thresholds, sort_keys=True), config.keep_unscored)
    return _cached(key, lambda: build_processor(_resolve(config)))


def _run_units(config: JobConfig, units):
    processor = _processor(config)
    for unit in units:
        yield run_unit(unit, processor, config)


def _draw_units(config: SampleConfig, units):
    """Per unit: its stats and its ``n`` smallest draws (memory: ``n`` documents)."""
    for unit in units:
        stats: list = []

        def docs(unit=unit, stats=stats):
            for key, item in read_for_sample(unit, config):
                if key is None:
                    stats.append(item)
                else:
                    yield key, item

        drawn = heapq.nsmallest(config.n, docs(), key=lambda kv: kv[0])
        yield stats, drawn


def _merge_draws(n: int, a, b):
    return a[0] + b[0], heapq.nsmallest(n, a[1] + b[1], key=lambda kv: kv[0])


def _score_drawn(config: SampleConfig, drawn):
    return score_sample(drawn, _processor(config), config)


def _route_units(config: RouteConfig, units):
    router, version = _cached(("router", json.dumps(config.thresholds, sort_keys=True), config.keep_unscored),
                              lambda: route_router(config))
    for unit in units:
        yield route_unit(unit, router, version, config)


# --- on the driver -----------------------------------------------------------------------------

class _Progress(threading.Thread):
    """Logs finished/total units of the running stage every ``interval`` seconds."""

    def __init__(self, sc, what: str, interval: float = 5.0):
        super().__init__(daemon=True)
        self.sc, self.what, self.interval = sc, what, interval
        self.done = threading.Event()
        self.start_time = time.monotonic()

    def run(self):
        tracker = self.sc.statusTracker()
        while not self.done.wait(self.interval):
            for stage_id in tracker.getActiveStageIds():
                info = tracker.getStageInfo(stage_id)
                if info:
                    log.info("progress: %d of %d %s done, %d running (%.0f s)", info.numCompletedTasks,
                             info.numTasks, self.what, info.numActiveTasks, time.monotonic() - self.start_time)


def _collect(sc, rdd, what: str, progress: bool):
    thread = _Progress(sc, what) if progress else None
    if thread:
        thread.start()
    try:
        return rdd.collect()
    finally:
        if thread:
            thread.done.set()


def _ship(sc, config, opts: SparkOptions):
    """Ship a local models root with the job when asked; the config then names the copy."""
    if not opts.ship_models or config.models.startswith(SHIPPED):
        return config
    from winnow.models import fs

    if fs.is_remote(config.models):
        return config  # every executor reads (and caches) the remote root itself
    root = config.models.rstrip("/")
    sc.addFile(root, recursive=True)
    return dataclasses.replace(config, models=SHIPPED + os.path.basename(root))


def run_spark(config, opts: SparkOptions):
    """Run the job of ``config`` (run, sample or route) on Spark; a ``job.RunResult``."""
    from .job import RunResult

    start = time.monotonic()
    sc = spark_context(opts)
    if hasattr(config, "neural_threads") and config.neural_threads is None:
        config = dataclasses.replace(config, neural_threads=1)  # Spark runs a Python worker per core
    if isinstance(config, RouteConfig):
        units = route_units(config)
        results = _collect(sc, sc.parallelize(units, max(1, len(units))).mapPartitions(partial(_route_units, config)),
                           "units", opts.progress)
        summary, counts = finalize(results, config), result_counts(results)
    elif isinstance(config, SampleConfig):
        units = config_units(config)
        run_config = _ship(sc, config, opts)
        stats, drawn = (sc.parallelize(units, max(1, len(units))).mapPartitions(partial(_draw_units, run_config))
                        .treeReduce(partial(_merge_draws, config.n)))
        scored = sc.parallelize([drawn], 1).map(partial(_score_drawn, run_config)).collect()[0]
        summary, counts = finalize_sample(scored, stats, config)
    else:
        units = config_units(config)
        log.info("winnow on Spark (%s): %d units of work", opts.master, len(units))
        run_config = _ship(sc, config, opts)
        results = _collect(sc, sc.parallelize(units, max(1, len(units))).mapPartitions(partial(_run_units, run_config)),
                           "units", opts.progress)
        summary, counts = finalize(results, config), result_counts(results)
    # The counters Beam keeps, from the collected results.
    counters = dict(counter_totals(counts), bytes_read=summary["bytes_read"])
    if not isinstance(config, SampleConfig):
        counters["units"] = len(units)
    if summary.get("neural_scored"):
        counters["neural_scored"] = summary["neural_scored"]
    return RunResult(summary, time.monotonic() - start, counters)
