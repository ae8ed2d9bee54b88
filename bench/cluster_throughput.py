"""Scaling of ``winnow run`` over workers on Beam and Spark, against raw loops, in one run.

    python bench/cluster_throughput.py [--total-mb 1024] [--repeats 3] [--rss-mb 100,1024]

Needs ../shared/data and the English models of bench/train_shared_models.py. Resamples
the English web texts (dragnet) into WINNOW_BENCH_DIR/data (never the repository): 32
files plus 3 large ones (the large ones ~10x the others, so that without splits a few
files would run on a few workers). Per repetition, on the same files:

  raw       the raw single-process loop (read, LID, normalize + encode + score; no engine)
  raw x2    two independent raw loops in parallel, each on half the files: the machine's
            own ceiling for two processes
  beam 1/2  Beam in-process, and 2 worker processes (multi_processing)
  local 1/2 Spark local[1] and local[2]
  sa 1/2    a real Spark standalone cluster on 127.0.0.1 with 1 and 2 one-core workers

all score-only with the English clean model (the units are split at --split-size). Then
peak RSS: ``winnow run --engine spark --spark-master local[1]`` with the end-of-run report,
on --rss-mb inputs; the peak resident memory of the driver process and of the largest
Python worker, sampled from /proc every 0.2 s. Figures: min / median over repetitions,
ratios taken per repetition.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))
from bench.run_throughput import _raw_loop_files, prepare_models, raw_loop  # noqa: E402
from bench.shared_corpora import WORK, require_data, web_texts  # noqa: E402


def prepare_data(total_mb: int) -> Path:
    """32 small files and 3 large ones, ~total_mb MB of text in all, English web pages."""
    folder = WORK / "data" / f"cluster-{total_mb}mb"
    if folder.exists():
        return folder
    texts = web_texts(corpus="dragnet")
    size = sum(len(t.encode()) for t in texts)
    copies = max(1, round(total_mb * 1e6 / size))
    weights = [1] * 32 + [10] * 3
    tmp = Path(tempfile.mkdtemp(dir=WORK / "data"))
    files = [open(tmp / f"part-{i:02d}.jsonl", "w", encoding="utf-8") for i in range(len(weights))]
    slots = [i for i, w in enumerate(weights) for _ in range(w)]
    n = 0
    for c in range(copies):
        for t in texts:
            files[slots[n % len(slots)]].write(json.dumps({"id": f"d{n}", "text": t}, ensure_ascii=False) + "\n")
            n += 1
    for f in files:
        f.close()
    tmp.rename(folder)
    return folder


def raw_two(folder: Path, models: Path) -> float:
    files = sorted(folder.glob("*.jsonl"))
    # Balance the halves by size, as a scheduler with splits would.
    halves: list[list] = [[], []]
    sizes = [0, 0]
    for f in sorted(files, key=lambda f: -f.stat().st_size):
        i = sizes.index(min(sizes))
        halves[i].append(f)
        sizes[i] += f.stat().st_size
    start = time.monotonic()
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        pool.map(_raw_loop_files, [(h, models) for h in halves])
    return time.monotonic() - start


def _config(folder: Path, models: Path, out: Path, split_bytes: int):
    from winnow.pipeline.units import JobConfig

    return JobConfig(inputs=(str(folder),), models=str(models), output=str(out), progress=False,
                     worker_verify="size", split_bytes=split_bytes)


def beam(folder, models, workers: int, split_bytes: int) -> float:
    from apache_beam.options.pipeline_options import PipelineOptions

    from winnow.pipeline.job import run_job

    out = Path(tempfile.mkdtemp(prefix="bench-beam-"))
    args = [f"--direct_num_workers={workers}", "--direct_running_mode=multi_processing"] if workers > 1 else []
    start = time.monotonic()
    result = run_job(_config(folder, models, out, split_bytes), PipelineOptions(args))
    secs = time.monotonic() - start
    assert result.summary["read"] == result.summary["scored"] + result.summary["rejected"]
    shutil.rmtree(out)
    return secs


def spark(folder, models, master: str, split_bytes: int) -> float:
    from winnow.pipeline.spark import SparkOptions, run_spark, spark_context

    out = Path(tempfile.mkdtemp(prefix="bench-spark-"))
    opts = SparkOptions(master=master, progress=False, conf=(("spark.executor.memory", "2g"),))
    start = time.monotonic()  # includes starting the SparkContext and its executors
    result = run_spark(_config(folder, models, out, split_bytes), opts)
    secs = time.monotonic() - start
    spark_context(opts).stop()
    assert result.summary["read"] == result.summary["scored"] + result.summary["rejected"]
    shutil.rmtree(out)
    return secs


class PeakRss(threading.Thread):
    """Peak VmRSS (MB) per process kind, sampled from /proc."""

    KINDS = {"driver": b"winnow.pipeline.cli", "python worker": b"pyspark.daemon", "jvm": b"java"}

    def __init__(self):
        super().__init__(daemon=True)
        self.peak = {k: 0.0 for k in self.KINDS}
        self.stop = threading.Event()

    def run(self):
        while not self.stop.wait(0.2):
            for pid in filter(str.isdigit, os.listdir("/proc")):
                try:
                    cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
                    status = Path(f"/proc/{pid}/status").read_text()
                except OSError:
                    continue
                for kind, marker in self.KINDS.items():
                    if marker in cmd and kind != "jvm" or (kind == "jvm" and cmd.startswith(b"/usr/lib/jvm")):
                        rss = next((int(l.split()[1]) / 1024 for l in status.splitlines() if l.startswith("VmRSS")), 0)
                        self.peak[kind] = max(self.peak[kind], rss)


def rss_run(folder: Path, models: Path, split_bytes: int) -> dict:
    out = Path(tempfile.mkdtemp(prefix="bench-rss-"))
    sampler = PeakRss()
    sampler.start()
    start = time.monotonic()
    subprocess.run([sys.executable, "-m", "winnow.pipeline.cli", "run", "--engine", "spark", "--spark-master",
                    "local[1]", "--input", str(folder), "--models", str(models), "--score-only", "--output",
                    str(out / "o"), "--no-progress", "--split-size", str(split_bytes)],
                   check=True, capture_output=True)
    secs = time.monotonic() - start
    sampler.stop.set()
    sampler.join()
    report = (out / "o" / "_REPORT.html").exists()
    docs = json.loads((out / "o" / "_SUMMARY.json").read_text())["read"]
    shutil.rmtree(out)
    return {**sampler.peak, "seconds": secs, "report": report, "documents": docs}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--total-mb", type=int, default=1024)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--split-size", type=int, default=64 << 20)
    ap.add_argument("--rss-mb", default="100,1024", help="input sizes of the peak-RSS runs ('' to skip)")
    ap.add_argument("--only", help="comma-separated subset of the systems, e.g. raw,sa1,sa2")
    args = ap.parse_args()
    require_data()
    from spark_cluster import SparkCluster

    models = prepare_models()["en"]
    folder = prepare_data(args.total_mb)
    mb = sum(f.stat().st_size for f in folder.glob("*.jsonl")) / 1e6
    print(f"{mb:.0f} MB in {len(list(folder.glob('*.jsonl')))} files; models {models}", flush=True)
    systems = {
        "raw": lambda: raw_loop(folder, models),
        "raw x2": lambda: raw_two(folder, models),
        "beam 1": lambda: beam(folder, models, 1, args.split_size),
        "beam 2": lambda: beam(folder, models, 2, args.split_size),
        "local 1": lambda: spark(folder, models, "local[1]", args.split_size),
        "local 2": lambda: spark(folder, models, "local[2]", args.split_size),
    }
    work = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
    for n in (1, 2):
        def standalone(n=n):
            with SparkCluster(work / f"sa{n}-{time.monotonic_ns()}", workers=n, memory="3g") as c:
                return spark(folder, models, c.master_url, args.split_size)
        systems[f"sa {n}"] = standalone
    if args.only:
        keep = {s.strip() for s in args.only.split(",")}
        systems = {k: v for k, v in systems.items() if k.replace(" ", "") in {x.replace(" ", "") for x in keep}}
    times: dict[str, list[float]] = {k: [] for k in systems}
    for rep in range(args.repeats):
        for name, fn in systems.items():
            secs = fn()
            times[name].append(secs)
            print(f"rep {rep + 1} {name:<8} {secs:7.1f} s  {mb / secs:5.2f} MB/s", flush=True)
    fmt = lambda xs: f"{min(xs):.2f} / {statistics.median(xs):.2f}"  # noqa: E731
    print("\n| system | MB/s, min / median |\n|---|---|")
    for name, xs in times.items():
        print(f"| {name} | {fmt([mb / x for x in xs])} |")
    ratios = [("Spark standalone 2 workers / 1 worker", "sa 1", "sa 2"),
              ("Spark standalone 2 workers / two raw loops in parallel", "raw x2", "sa 2"),
              ("Spark local[2] / local[1]", "local 1", "local 2"),
              ("Beam 2 workers / 1 worker", "beam 1", "beam 2"),
              ("two raw loops / one (the machine's ceiling)", "raw", "raw x2"),
              ("Spark standalone 1 worker / raw loop", "raw", "sa 1"),
              ("Spark local[1] / raw loop", "raw", "local 1"),
              ("Beam 1 worker / raw loop", "raw", "beam 1")]
    print("\n| ratio (speed, per repetition) | min / median |\n|---|---|")
    for label, base, other in ratios:
        if times.get(base) and times.get(other):
            print(f"| {label} | {fmt([b / o for b, o in zip(times[base], times[other])])} |")
    if args.rss_mb:
        print("\n| input | documents | peak RSS: driver (report included) / largest Python worker / JVM, MB | s |"
              "\n|---|---|---|---|")
        for size in [int(s) for s in args.rss_mb.split(",")]:
            r = rss_run(prepare_data(size), models, args.split_size)
            print(f"| {size} MB | {r['documents']:,} | {r['driver']:.0f} / {r['python worker']:.0f} / {r['jvm']:.0f} "
                  f"| {r['seconds']:.0f} |", flush=True)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
