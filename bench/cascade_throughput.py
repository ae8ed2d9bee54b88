"""``winnow run`` with KenLM only, with neural LMs only, and as a KenLM -> neural cascade.

    python bench/cascade_throughput.py [--repeats 3] [--band 0.05]

Needs bench/neural_eval.py's English model set (KenLM + neural, WINNOW_BENCH_DIR/models-neural).
On the English web pages (dragnet main-content texts, 4 JSONL shards; the neural LMs score
each page's first 512 pieces) it first runs score-only with every model and tunes
thresholds with ``--cascade-band`` (no labels: percentile cuts on the clean perplexity
and the log-ratio). Then, in one process and one worker, with torch on one thread, it
times three ``winnow run`` jobs on the same documents:

  * KenLM only: the tuned rules without their cascade (the neural LMs are not run);
  * neural only: the same rules on the neural scores, cut at the same drop rates;
  * cascade: KenLM scores every page, the neural LMs re-decide those in the band.

It prints docs/s per CPU-second of the process and per wall second (min / median over
repetitions) and the share of pages the cascade sent to the neural LMs.
"""
from __future__ import annotations

import argparse
import copy
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("WINNOW_NEURAL_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.run_throughput import prepare_shards  # noqa: E402
from bench.shared_corpora import WORK, require_data  # noqa: E402


def run(folder: Path, models: Path, thresholds: dict | None) -> tuple[float, float, dict]:
    from apache_beam.options.pipeline_options import PipelineOptions

    from winnow.pipeline.job import JobConfig, run_job
    from winnow.pipeline.units import expand_inputs

    out = Path(tempfile.mkdtemp(prefix="winnow-cascade-"))
    files = expand_inputs([str(folder)])
    config = JobConfig(inputs=tuple(files), models=str(models), output=str(out), progress=False,
                       thresholds=thresholds, worker_verify="size")
    cpu, wall = time.process_time(), time.monotonic()
    result = run_job(config, PipelineOptions([]))
    cpu, wall = time.process_time() - cpu, time.monotonic() - wall
    s = result.summary
    assert s["read"] == s["kept"] + s["dropped"] + s["scored"] + s["rejected"], s
    return cpu, wall, (s, out)


def neural_rules(thresholds: dict, scored_dir: Path) -> dict:
    """The tuned KenLM rules moved to the matching neural score, at the same drop rate."""
    import numpy as np

    from winnow.pipeline.tuning import load_scored

    cols = load_scored(str(scored_dir))
    out = copy.deepcopy(thresholds)
    for lang, spec in out["languages"].items():
        for rule in spec.get("rules", []):
            rule.pop("cascade", None)
            k = np.array(cols[rule["score"]], dtype=float)
            n = np.array(cols[rule["score"].replace("kenlm_", "neural_")], dtype=float)
            ok = np.isfinite(k) & np.isfinite(n) & (np.array(cols["lang"]) == lang)
            share = float((k[ok] > rule["value"]).mean())  # the KenLM cut's share above
            rule["score"] = rule["score"].replace("kenlm_", "neural_")
            rule["value"] = float(np.quantile(n[ok], 1 - share))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--bands", default="0.02,0.05,0.1",
                    help="cascade band shares per rule to time (tune --cascade-band), comma-separated")
    args = ap.parse_args()
    require_data()
    from winnow.pipeline.routing import manifest_directions
    from winnow.pipeline.tuning import TuneOptions, load_scored, tune

    models = WORK / "models-neural"
    if not (models / "en" / "neural-clean.manifest.json").exists():
        sys.exit("run bench/neural_eval.py first (English neural models)")
    folder = prepare_shards({"en": ("dragnet", 1, 4)})["en"]

    _, _, (summary, scored) = run(folder, models, None)
    table = load_scored(str(scored))
    plans = {}
    for band in (float(b) for b in args.bands.split(",")):
        tuned = tune(table, manifest_directions(models), TuneOptions(cascade_band=band))
        tuned["languages"] = {"en": tuned["languages"]["en"], "*": {"rules": []}}
        if not plans:
            kenlm_only = copy.deepcopy(tuned)
            for rule in kenlm_only["languages"]["en"]["rules"]:
                rule.pop("cascade", None)
            plans = {"KenLM only": kenlm_only, "neural only": neural_rules(kenlm_only, scored)}
        plans[f"cascade, band {band:g} per rule"] = tuned
        print(f"band {band:g}: " + "; ".join(
            f"{r['score']} {r['value']:.3g}" + (f" (band {r['cascade']['band'][0]:.3g}..{r['cascade']['band'][1]:.3g}"
                                                f" -> {r['cascade']['score']})" if r.get("cascade") else "")
            for r in tuned["languages"]["en"]["rules"]))
    shutil.rmtree(scored)
    en = summary["by_lang"].get("en", {}).get("read", 0)
    print(f"{summary['read']} pages ({en} English)")
    times: dict[str, list] = {k: [] for k in plans}
    sent = {}
    for _ in range(args.repeats):
        for label, thresholds in plans.items():
            cpu, wall, (s, out) = run(folder, models, thresholds)
            times[label].append((cpu, wall))
            sent[label] = s.get("neural_scored", 0) / s["read"]
            shutil.rmtree(out)
    n = summary["read"]
    print("\n| job | docs/s per CPU-second | docs/s (wall) | vs KenLM only (CPU, median) | sent to neural |"
          "\n|---|---|---|---|---|")
    base = statistics.median(n / c for c, _ in times["KenLM only"])
    for label, ts in times.items():
        cpu = [n / c for c, _ in ts]
        wall = [n / w for _, w in ts]
        print(f"| {label} | {min(cpu):.0f} / {statistics.median(cpu):.0f} | {min(wall):.0f} / "
              f"{statistics.median(wall):.0f} | {statistics.median(cpu) / base:.2f}x | "
              f"{sent[label]:.1%} |")


if __name__ == "__main__":
    main()
