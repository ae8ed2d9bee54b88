"""``winnow.beam`` inside a user's pipeline against ``winnow run``, on the same pages.

    python bench/beam_transforms.py [--repeats 3]

Needs ../shared/data and the English models of bench/train_shared_models.py. Both run on
Beam's in-process runner over the dragnet web pages as JSONL (4 shards), routed with the
thresholds ``winnow tune`` learns from a scored sample of them:

* ``winnow run`` (the engine's fused units, under the commit protocol);
* ``ReadDocuments | FilterDocuments | WriteShards`` built in a plain ``beam.Pipeline``.

Per repetition (in alternating order), the wall time of each; the figure is the ratio
transforms / run, min and median over repetitions, and a check that both wrote the same rows.

Run of 2026-12-02 (1,381 pages, 5 repetitions in alternating order): same rows; transforms /
run 1.09 (min) and 1.21 (median), 2.4-3.4 s each: the transforms cost 10-20% more than the
fused job on this small input (a first run that always ran `winnow run` first gave 0.87 /
1.07). That run's process aborted at exit, after printing ("terminate called without an
active exception", a native thread at interpreter shutdown); the next run, and each of its
two halves run alone, exited cleanly.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.shared_corpora import WORK, require_data, web_texts  # noqa: E402


def shards(folder: Path, n: int = 4) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    texts = list(web_texts(corpus="dragnet"))
    paths = []
    for i in range(n):
        path = folder / f"pages-{i}.jsonl"
        with open(path, "w", encoding="utf-8") as f:
            for j, text in enumerate(texts[i::n]):
                f.write(json.dumps({"id": f"{i}-{j}", "text": text}, ensure_ascii=False) + "\n")
        paths.append(str(path))
    return paths


def run_cli(args: list[str]) -> None:
    from winnow.pipeline.cli import main

    code = main(args)
    if code:
        raise SystemExit(f"winnow {' '.join(args)} exited {code}")


def transforms(inputs: list[str], models: str, thresholds: str, out: Path) -> None:
    import apache_beam as beam

    from winnow.beam import FilterDocuments, ReadDocuments, WriteShards
    from winnow.pipeline.job import choose_runner

    options = beam.options.pipeline_options.PipelineOptions([])
    with beam.Pipeline(runner=choose_runner(options), options=options) as p:
        read = p | "Read" >> ReadDocuments(inputs)
        routed = read.documents | "Filter" >> FilterDocuments(models=models, thresholds=thresholds)
        (routed.kept, routed.dropped, routed.rejected, read.rejected) | beam.Flatten() | WriteShards(str(out))


def rows(out: Path) -> list[tuple]:
    from winnow.pipeline.shards import document_shards, partitions_of, read_rows

    return sorted((r["doc_id"], partitions_of(path)[0], r["reason"], r["kenlm_clean_pp"])
                  for path in document_shards(str(out)) for r in read_rows(path))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    require_data()
    work = WORK / "beam-transforms"
    models = str(WORK / "models")
    if not (Path(models) / "en").exists():
        raise SystemExit(f"{models}/en: run bench/train_shared_models.py first")
    inputs = shards(work / "pages")
    thresholds = work / "thresholds.json"
    run_cli(["sample", "--input", *inputs, "--models", models, "--n", "1000", "--output", str(work / "sample"),
             "--overwrite", "-q"])
    run_cli(["tune", "--scored", str(work / "sample"), "--models", models, "--output", str(thresholds), "-q"])
    times: dict[str, list[float]] = {"run": [], "transforms": []}
    for i in range(args.repeats):
        for name in ("run", "transforms") if i % 2 == 0 else ("transforms", "run"):  # alternating order
            out = work / f"out-{name}"
            shutil.rmtree(out, ignore_errors=True)
            start = time.monotonic()
            if name == "run":
                run_cli(["run", "--input", *inputs, "--models", models, "--thresholds", str(thresholds),
                         "--output", str(out), "--no-report", "-q"])
            else:
                transforms(inputs, models, str(thresholds), out)
            times[name].append(time.monotonic() - start)
    same = rows(work / "out-run") == rows(work / "out-transforms")
    ratios = [t / r for t, r in zip(times["transforms"], times["run"])]
    print(json.dumps({"documents": len(rows(work / "out-run")), "same_rows": same,
                      "seconds": {k: [round(v, 2) for v in vs] for k, vs in times.items()},
                      "ratio_transforms_over_run": {"min": round(min(ratios), 3),
                                                    "median": round(statistics.median(ratios), 3)}}, indent=1))


if __name__ == "__main__":
    main()
