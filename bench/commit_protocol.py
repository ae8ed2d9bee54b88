"""What the output commit protocol costs and saves, and memory on many tiny documents.

    python bench/commit_protocol.py [--repeats 3] [--only resume,cost,tiny]

Needs ../shared/data and the English models of bench/train_shared_models.py
(WINNOW_BENCH_DIR/models). Three measurements, each a ratio within one run of this script:

* **resume**: ``winnow run`` over 16 JSONL shards of the shared web texts, six times over (one worker);
  then the same command killed (-9) once half the units have committed, and run again.
  Figure: rerun time / clean-run time (target <= 0.6).
* **cost**: one in-process run (Beam's FnApiRunner) with a timer around every step of the
  protocol (completion records, the listing for resume, the lock, identity checks, reading
  earlier records, the summary and stale-file cleanup). Figure: protocol time / run time
  (target <= 3%).
* **tiny**: ``winnow run`` on 1,000,000 tiny JSONL documents with the end-of-run report;
  figure: peak RSS of the process (target <= 400 MB), beside the same run with --no-report.

Figures are min / median over the repetitions.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.shared_corpora import WORK, require_data, web_texts, write_jsonl  # noqa: E402

SHARDS = 16


def winnow_cmd(*args) -> list[str]:
    return [sys.executable, "-m", "winnow.pipeline.cli", *map(str, args)]


def run_args(models: Path, corpus: Path, out: Path, *extra) -> list:
    return ["run", "--input", corpus, "--models", models, "--score-only", "--output", out, "--no-report",
            "--no-progress", "--direct_num_workers=1", *extra]


def prepare_corpus(copies: int = 6) -> Path:
    """16 shards of the shared English web texts, ``copies`` times over (about 60 MB: a clean
    run of a minute or more, so the fixed start-up cost does not decide the ratio)."""
    corpus = WORK / "commit-bench" / f"in-x{copies}"
    if corpus.is_dir() and len(list(corpus.glob("*.jsonl"))) == SHARDS:
        return corpus
    corpus.mkdir(parents=True, exist_ok=True)
    texts = web_texts(corpus="dragnet") * copies
    for i in range(SHARDS):
        write_jsonl(corpus / f"shard{i:02d}.jsonl", texts[i::SHARDS])
    return corpus


def timed(args) -> float:
    start = time.monotonic()
    subprocess.run(winnow_cmd(*args), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.monotonic() - start


def kill_at_half(args, out: Path) -> float:
    start = time.monotonic()
    proc = subprocess.Popen(winnow_cmd(*args), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    done = out / "_winnow" / "done"
    while proc.poll() is None:
        if done.is_dir() and len(list(done.glob("*.json"))) >= SHARDS // 2:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.01)
    proc.wait()
    return time.monotonic() - start


def bench_resume(models: Path, corpus: Path, repeats: int) -> dict:
    ratios, rows = [], []
    for rep in range(repeats):
        base = WORK / "commit-bench" / f"resume-{rep}"
        shutil.rmtree(base, ignore_errors=True)
        clean = timed(run_args(models, corpus, base / "clean"))
        killed = kill_at_half(run_args(models, corpus, base / "resumed"), base / "resumed")
        committed = len(list((base / "resumed" / "_winnow" / "done").glob("*.json")))
        rerun = timed(run_args(models, corpus, base / "resumed"))
        ratios.append(rerun / clean)
        rows.append({"clean_s": round(clean, 1), "killed_after_s": round(killed, 1), "committed_before_kill": committed,
                     "rerun_s": round(rerun, 1), "ratio": round(rerun / clean, 3)})
        print(f"resume rep {rep}: {rows[-1]}", flush=True)
        shutil.rmtree(base, ignore_errors=True)
    return {"runs": rows, "ratio_min": round(min(ratios), 3), "ratio_median": round(statistics.median(ratios), 3)}


def bench_cost(models: Path, corpus: Path, repeats: int) -> dict:
    """Time spent inside the protocol's functions during in-process runs."""
    from winnow.pipeline import commit, units
    from winnow.pipeline.engines import Engine
    from winnow.pipeline.units import JobConfig

    spent = {"s": 0.0}

    def timer(module, name):
        real = getattr(module, name)

        def wrapped(*a, **k):
            start = time.perf_counter()
            try:
                return real(*a, **k)
            finally:
                spent["s"] += time.perf_counter() - start
        setattr(module, name, wrapped)

    # Every protocol step a run takes (units.py imports some of them by name).
    for module, name in ((units, "commit_unit"), (units, "committed_keys"), (units, "read_records"),
                         (units, "layout_files"), (commit.Writer, "open"), (commit.Writer, "finish"),
                         (commit.Writer, "close"), (units, "job_identity")):
        timer(module, name)
    import winnow.pipeline.units as u
    real_finalize_write = u.fs.write_atomic

    def summary_write(path, data):
        start = time.perf_counter()
        try:
            return real_finalize_write(path, data)
        finally:
            if path.endswith(commit.SUMMARY_FILE):
                spent["s"] += time.perf_counter() - start
    u.fs.write_atomic = summary_write
    from winnow.models import fs

    fs.match(str(corpus / "*"))  # Beam's filesystems imported once, as the pipeline imports them anyway
    shares, rows = [], []
    for rep in range(repeats):
        out = WORK / "commit-bench" / f"cost-{rep}"
        shutil.rmtree(out, ignore_errors=True)
        spent["s"] = 0.0
        config = JobConfig(inputs=(str(corpus),), models=str(models), output=str(out), progress=False)
        start = time.monotonic()
        Engine("beam").run(config)
        total = time.monotonic() - start
        shares.append(spent["s"] / total)
        rows.append({"run_s": round(total, 2), "protocol_s": round(spent["s"], 3), "share": round(shares[-1], 4)})
        print(f"cost rep {rep}: {rows[-1]}", flush=True)
        shutil.rmtree(out, ignore_errors=True)
    u.fs.write_atomic = real_finalize_write
    return {"runs": rows, "share_min": round(min(shares), 4), "share_median": round(statistics.median(shares), 4)}


def peak_rss_mb(args) -> float:
    """Peak RSS of one ``winnow`` process (its own, read by /usr/bin/time -v)."""
    res = subprocess.run(["/usr/bin/time", "-v", *winnow_cmd(*args)], capture_output=True, text=True, check=True)
    line = next(l for l in res.stderr.splitlines() if "Maximum resident set size" in l)
    return int(line.split(":")[1]) / 1024


def bench_tiny(models: Path, repeats: int) -> dict:
    folder = WORK / "commit-bench" / "tiny"
    path = folder / "tiny.jsonl"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        with open(path, "w") as f:
            for i in range(1_000_000):
                f.write(json.dumps({"id": i, "text": f"hello world number {i % 977}"}) + "\n")
    with_report, without = [], []
    for rep in range(repeats):
        out = folder / "out"
        for target, extra in ((with_report, ()), (without, ("--no-report",))):
            shutil.rmtree(out, ignore_errors=True)
            target.append(peak_rss_mb(["run", "--input", path, "--models", models, "--score-only", "--output", out,
                                       "--no-progress", *extra]))
        print(f"tiny rep {rep}: with report {with_report[-1]:.0f} MB, without {without[-1]:.0f} MB", flush=True)
    shutil.rmtree(folder / "out", ignore_errors=True)
    return {"peak_rss_mb_with_report": {"min": round(min(with_report)), "median": round(statistics.median(with_report))},
            "peak_rss_mb_without_report": {"min": round(min(without)), "median": round(statistics.median(without))}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", default="resume,cost,tiny")
    parser.add_argument("--models", type=Path, default=WORK / "models")
    args = parser.parse_args()
    require_data()
    if not (args.models / "en").is_dir():
        sys.exit(f"{args.models}: no English models; run bench/train_shared_models.py first")
    corpus = prepare_corpus()
    print(f"corpus: {corpus} ({sum(p.stat().st_size for p in corpus.glob('*.jsonl')) / 1e6:.1f} MB in {SHARDS} "
          f"shards); {os.cpu_count()} cores", flush=True)
    only = args.only.split(",")
    result = {}
    if "resume" in only:
        result["resume"] = bench_resume(args.models, corpus, args.repeats)
    if "cost" in only:
        result["cost"] = bench_cost(args.models, corpus, args.repeats)
    if "tiny" in only:
        result["tiny"] = bench_tiny(args.models, args.repeats)
    result["bench_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
