"""The Spark engine: a real standalone cluster on 127.0.0.1 and local[2], against Beam."""
import json
import os
import subprocess
import sys
import time

import pytest

from bad_inputs import make_bad_inputs
from conftest import FIXTURE_THRESHOLDS, SAMPLE_WEB
from test_pipeline import _canonical, assert_reconciles, output_rows, run, sample
from test_units import _jsonl

pytest.importorskip("pyspark", reason="the Spark engine needs the [spark] extra (pyspark)")

SUMMARY_KEYS = ("read", "kept", "dropped", "rejected", "scored", "mode", "by_lang", "by_reason", "by_input",
                "bytes_read", "not_sampled")


def winnow(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "winnow.pipeline.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """JSONL (one large enough to split), Parquet, WARC, and the bad inputs."""
    folder = tmp_path_factory.mktemp("spark-inputs")
    make_bad_inputs(folder / "bad")
    _jsonl(folder / "big.jsonl", 600)
    return [SAMPLE_WEB, folder / "bad", folder / "big.jsonl"]


@pytest.fixture(scope="module")
def beam_reference(models_root, inputs, tmp_path_factory):
    out = tmp_path_factory.mktemp("beam") / "out"
    result = run(models_root, inputs, out, split_bytes=65536)
    assert_reconciles(result, out)
    return out, result.summary


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    from spark_cluster import SparkCluster

    with SparkCluster(tmp_path_factory.mktemp("spark-cluster"), workers=2) as c:
        yield c


def spark_run(models_root, inputs, out, master, thresholds_file, *extra):
    """``winnow run --engine spark`` in a subprocess; its output goes to files (a pipe that
    nobody reads while the test polls would fill up and block the driver)."""
    args = ["run", "--engine", "spark", "--spark-master", master, "--models", models_root,
            "--thresholds", thresholds_file, "--output", out, "--split-size", "64K", "--no-report",
            "--spark-conf", "spark.executor.memory=512m", *extra, "--input", *inputs]
    logs = out.parent / "driver"
    logs.mkdir(exist_ok=True)
    proc = subprocess.Popen([sys.executable, "-m", "winnow.pipeline.cli", *map(str, args)],
                            stdout=open(logs / "stdout", "w"), stderr=open(logs / "stderr", "w"), text=True)
    proc.output = lambda: ((logs / "stdout").read_text(), (logs / "stderr").read_text())
    return proc


def check_same_as_beam(out, beam_reference):
    ref_out, ref = beam_reference
    summary = json.loads((out / "_SUMMARY.json").read_text())
    for key in SUMMARY_KEYS:
        assert summary.get(key) == ref.get(key), key
    assert summary["files"] == ref["files"]  # relative to the output folder
    assert _canonical(out) == _canonical(ref_out)
    docs, rejected = output_rows(out)
    assert len(docs) + len(rejected) == summary["read"]
    assert len({(d["source_file"], d["record_index"]) for d in docs}) == len(docs)  # no duplicates
    return summary


def test_standalone_cluster_gives_the_rows_of_beam(models_root, inputs, beam_reference, cluster, thresholds_file,
                                                   tmp_path):
    out = tmp_path / "out"
    proc = spark_run(models_root, inputs, out, cluster.master_url, thresholds_file)
    proc.wait(timeout=600)
    stdout, stderr = proc.output()
    assert proc.returncode == 0, stderr[-3000:]
    assert "winnow run on spark" in stderr and "Traceback" not in stderr
    summary = check_same_as_beam(out, beam_reference)
    assert f"read {summary['read']} = " in stdout


def test_an_executor_killed_mid_run_loses_and_duplicates_nothing(models_root, inputs, beam_reference, cluster,
                                                                 thresholds_file, tmp_path):
    out = tmp_path / "out"
    proc = spark_run(models_root, inputs, out, cluster.master_url, thresholds_file)
    killed = []
    deadline = time.monotonic() + 300
    try:
        # Kill worker 0's executor once the job has committed its first shard (mid-run).
        while not killed and proc.poll() is None and time.monotonic() < deadline:
            if any(out.rglob("part-*.parquet")) or any(out.rglob("part-*.pq")):
                for pid in cluster.executor_pids(0):
                    os.kill(pid, 9)
                    killed.append(pid)
            time.sleep(0.05)
        assert killed and not (out / "_SUMMARY.json").exists(), "the job ended before an executor could be killed"
        proc.wait(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    stdout, stderr = proc.output()
    assert proc.returncode == 0, stderr[-3000:]
    assert "Lost executor" in stderr, stderr[-2000:]  # Spark saw the executor die during the job
    check_same_as_beam(out, beam_reference)
    cluster.wait_for_workers(2, timeout=60)  # the worker outlives its executor


def test_a_killed_spark_driver_then_the_same_command_resumes(models_root, inputs, beam_reference, cluster,
                                                             thresholds_file, tmp_path):
    out = tmp_path / "out"
    proc = spark_run(models_root, inputs, out, cluster.master_url, thresholds_file)
    done = out / "_winnow" / "done"
    deadline = time.monotonic() + 300
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            if done.is_dir() and len(list(done.glob("*.json"))) >= 2:
                os.kill(proc.pid, 9)  # the driver: its JVM and the application go with it
                break
            time.sleep(0.02)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -9, "the job ended before its driver could be killed"
    assert not (out / "_SUMMARY.json").exists()
    cluster.wait_for_workers(2, timeout=60)
    time.sleep(2)  # the master ends the dead application's executors (they may commit a unit meanwhile)
    committed = len(list(done.glob("*.json")))
    assert committed >= 2
    again = spark_run(models_root, inputs, out, cluster.master_url, thresholds_file)
    again.wait(timeout=600)
    stdout, stderr = again.output()
    assert again.returncode == 0, stderr[-3000:]
    assert f"resumed: {committed} unit(s)" in stderr
    summary = check_same_as_beam(out, beam_reference)
    assert summary["units_resumed"] == committed and not list(out.rglob("*.tmp"))


def test_spark_respects_the_output_lock(models_root, thresholds_file, tmp_path):
    import socket

    lock = tmp_path / "o" / "_winnow" / "LOCK"
    lock.parent.mkdir(parents=True)
    lock.write_text(json.dumps({"run_id": "r1", "host": socket.gethostname(), "pid": os.getpid(),
                                "heartbeat": time.time()}))  # alive: a fresh heartbeat
    res = winnow("run", "--engine", "spark", "--spark-master", "local[1]", "--models", models_root, "--thresholds",
                 thresholds_file, "--output", tmp_path / "o", "--input", SAMPLE_WEB, "--no-report")
    assert res.returncode == 2 and "being written by another winnow run (run r1" in res.stderr, res.stderr[-2000:]
    assert not list((tmp_path / "o").glob("route=*"))


@pytest.fixture(scope="module")
def local_spark():
    """One local[2] SparkContext for the in-process tests, stopped at the end."""
    from winnow.pipeline.spark import SparkOptions, spark_context

    sc = spark_context(SparkOptions(master="local[2]", progress=False))
    yield SparkOptions(master="local[2]", progress=False)
    sc.stop()


def test_sample_on_spark_equals_beam(models_root, inputs, local_spark, tmp_path):
    from winnow.pipeline.spark import run_spark
    from winnow.pipeline.units import SampleConfig

    beam = sample(models_root, inputs, tmp_path / "beam", 60, seed=3)
    config = SampleConfig(inputs=tuple(str(p) for p in inputs), models=str(models_root),
                          output=str(tmp_path / "spark"), n=60, seed=3)
    spark = run_spark(config, local_spark)
    for key in SUMMARY_KEYS:
        assert spark.summary.get(key) == beam.summary.get(key), key
    assert _canonical(tmp_path / "spark") == _canonical(tmp_path / "beam")
    assert spark.counters["read"] == spark.summary["read"]


def test_route_on_spark_equals_beam(models_root, inputs, local_spark, tmp_path):
    from winnow.pipeline.job import run_job
    from winnow.pipeline.routing import manifest_directions
    from winnow.pipeline.spark import run_spark
    from winnow.pipeline.units import RouteConfig
    from apache_beam.options.pipeline_options import PipelineOptions

    scored = tmp_path / "scored"
    run(models_root, inputs, scored, thresholds=None, split_bytes=65536)
    make = lambda out: RouteConfig(scored=str(scored), models=str(models_root), output=str(out),  # noqa: E731
                                   thresholds=FIXTURE_THRESHOLDS, directions=manifest_directions(models_root))
    beam = run_job(make(tmp_path / "beam"), PipelineOptions([]))
    spark = run_spark(make(tmp_path / "spark"), local_spark)
    assert_reconciles(spark, tmp_path / "spark")
    for key in SUMMARY_KEYS:
        assert spark.summary.get(key) == beam.summary.get(key), key
    assert _canonical(tmp_path / "spark") == _canonical(tmp_path / "beam")


def test_score_only_on_spark_with_shipped_models(models_root, inputs, tmp_path):
    out = tmp_path / "out"
    res = winnow("run", "--engine", "spark", "--spark-master", "local[2]", "--models", models_root, "--score-only",
                 "--ship-models", "--output", out, "--input", *inputs)
    assert res.returncode == 0, res.stderr[-3000:]
    summary = json.loads((out / "_SUMMARY.json").read_text())
    assert summary["mode"] == "score-only" and summary["scored"] == summary["read"] - summary["rejected"] > 0
    assert (out / "_REPORT.html").exists()
    assert summary["run"]["models"] == str(models_root)  # the summary names the models, not their shipped copy


def test_spark_launch_errors_are_one_line(models_root, thresholds_file, tmp_path):
    res = winnow("run", "--engine", "spark", "--spark-master", "yarn", "--models", models_root, "--thresholds",
                 thresholds_file, "--output", tmp_path / "o", "--input", SAMPLE_WEB)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "cannot read the local --models" in res.stderr and "--ship-models" in res.stderr
    res = winnow("run", "--engine", "spark", "--models", models_root, "--thresholds", thresholds_file,
                 "--output", tmp_path / "o", "--input", SAMPLE_WEB, "--runner=DataflowRunner")
    assert res.returncode == 2 and "Beam options apply to --engine beam" in res.stderr
    assert not (tmp_path / "o").exists()
