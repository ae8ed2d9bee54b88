"""Peak memory of ``winnow run`` with its end-of-run report, by corpus size.

    python bench/report_memory.py [--docs 10000,100000,500000]

To measure another checkout of Winnow (say, the code before a change), put a folder on
PYTHONPATH whose ``winnow/`` holds that checkout's packages (``winnow/models`` ->
``CHECKOUT/models``, and so on): the runs are subprocesses and inherit it.

Needs no shared data: small models trained from tests/fixtures/text (as the test suite
does) score generated short documents (one JSONL file each size, under WINNOW_BENCH_DIR).
For each size, ``winnow run --score-only`` runs in a subprocess with and without the
report; the figure is the subprocess's peak resident memory (``ru_maxrss``). Bounded means
flat: the report reads at most --report-rows documents, a row group at a time.
"""
from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))
from bench.shared_corpora import WORK  # noqa: E402

WORDS = ("the river bridge was repaired last summer and cyclists can now cross it safely while the old "
         "market square fills with stalls every saturday morning").split()


def tiny_models() -> Path:
    root = WORK / "tiny-models"
    if not (root / "en" / "kenlm-clean.manifest.json").exists():
        from conftest import build_models

        shutil.rmtree(root, ignore_errors=True)
        build_models(root)
    return root


def corpus(n: int) -> Path:
    path = WORK / "data" / f"short-{n}.jsonl"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        rng = random.Random(n)
        with open(path.with_suffix(".tmp"), "w") as f:
            for i in range(n):
                f.write(json.dumps({"id": str(i), "text": " ".join(rng.choices(WORDS, k=rng.randint(5, 25)))}) + "\n")
        path.with_suffix(".tmp").rename(path)
    return path


def peak_rss_mb(args: list[str]) -> tuple[float, float]:
    """(peak RSS in MB, seconds) of one CLI run in a fresh subprocess."""
    probe = ("import resource, subprocess, sys, time; t = time.monotonic(); "
             "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); "
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, time.monotonic() - t)")
    out = subprocess.run([sys.executable, "-c", probe, sys.executable, "-m", "winnow.pipeline.cli", *args],
                         check=True, capture_output=True, text=True).stdout.split()
    return float(out[0]), float(out[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", default="10000,100000,500000")
    args = ap.parse_args()
    models = tiny_models()
    print("| documents | peak RSS with the report, MB | without (--no-report), MB | run with report, s |")
    print("|---|---|---|---|")
    for n in [int(x) for x in args.docs.split(",")]:
        data = corpus(n)
        row = []
        for extra in ([], ["--no-report"]):
            out = Path(tempfile.mkdtemp(prefix="bench-report-"))
            row.append(peak_rss_mb(["run", "--input", str(data), "--models", str(models), "--score-only",
                                    "--output", str(out / "o"), "--no-progress", *extra]))
            shutil.rmtree(out)
        print(f"| {n:,} | {row[0][0]:.0f} | {row[1][0]:.0f} | {row[0][1]:.0f} |", flush=True)


if __name__ == "__main__":
    main()
