"""The log-ratio against a same-domain benign LM instead of a clean-prose one.

    python bench/same_domain.py [--neural-budget 420]

"Perplexed by Quality" scores with one LM trained on harmful text; Winnow's log-ratio
divides by a reference LM. CCNet-style, that is a clean LM trained on prose, but on short
social-media texts the prose LM mostly measures the domain. Into
WINNOW_BENCH_DIR/models-benign/en this links bench/neural_eval.py's English model set (prose
clean + harmful, KenLM and neural) and trains, under the same tokenizer, ``benign`` LMs
(KenLM; neural with --neural-budget SECONDS) on the label-0 training texts of the English
harmful sets: the model set then holds clean, benign and harmful LMs, and its log-ratio
uses the benign one. On each test split it reports ROC-AUC / average precision of the
log-ratio against prose (log10 PP_harmful - log10 PP_clean, from the same rows) and of the
product's log-ratio against the benign LM. ``bench/neural_eval.py --models`` on that folder
then evaluates every score, the combined one and the cascade.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.neural_eval import average_precision, col, splits  # noqa: E402
from bench.shared_corpora import HARMFUL_EN, WORK, require_data, write_jsonl  # noqa: E402

from winnow.models import ModelSet, Scorer  # noqa: E402
from winnow.models.kenlm_lm import train_kenlm  # noqa: E402
from winnow.models.textio import TextSource  # noqa: E402
from winnow.pipeline.tuning import roc_auc  # noqa: E402


def prepare(neural_budget: float) -> Path:
    src = WORK / "models-neural" / "en"
    folder = WORK / "models-benign" / "en"
    folder.mkdir(parents=True, exist_ok=True)
    for f in src.iterdir():  # tokenizer, prose-clean and harmful LMs (and the files their manifests list)
        if not (folder / f.name).exists():
            (folder / f.name).symlink_to(f.resolve())
    benign = WORK / "data" / "harmful_en_train_label0.jsonl"
    if not benign.exists():
        write_jsonl(benign, [r["text"] for name in HARMFUL_EN for r in splits(name)[0] if r["label"] == 0])
    if not (folder / "kenlm-benign.manifest.json").exists():
        train_kenlm(TextSource([benign]), folder, "en", "benign", order=5)
    if neural_budget and not (folder / "neural-benign.manifest.json").exists():
        from winnow.models.neural import train_neural

        train_neural(TextSource([benign]), folder, "en", "benign", time_budget=neural_budget, max_steps=10**9)
    return folder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--neural-budget", type=float, default=0.0, help="seconds to train a benign neural LM (0: none)")
    args = ap.parse_args()
    require_data()
    scorer = Scorer(ModelSet.load(prepare(args.neural_budget)))
    kinds = [k for k in ("kenlm", "neural") if f"{k}-benign" in scorer.model_set.lms]
    head = " | ".join(f"{k} ratio vs {ref}" for k in kinds for ref in ("prose", "benign"))
    print(f"\nROC-AUC / average precision on the test splits\n\n| set | {head} |\n|---|" + "---|" * 2 * len(kinds))
    for name in HARMFUL_EN:
        _, _, test = splits(name)
        y = np.array([r["label"] for r in test])
        rows = scorer.score_dicts([r["text"] for r in test])
        cells = []
        for kind in kinds:
            prose = np.log10(col(rows, f"{kind}_harmful_pp")) - np.log10(col(rows, f"{kind}_clean_pp"))
            for v in (-prose, -col(rows, f"{kind}_log_ratio")):  # lower log-ratio = more harmful-like
                ok = np.isfinite(v)
                cells.append(f"{roc_auc(v[ok], y[ok]):.3f} / {average_precision(v[ok], y[ok]):.3f}")
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
