"""The log-ratio against a same-domain benign LM instead of a clean-prose one.

    python bench/same_domain.py [--neural-budget 0]

"Perplexed by Quality" scores with one LM trained on harmful text; Winnow's log-ratio
divides by a clean LM (CCNet-style, trained on prose). On short social-media texts the
prose LM mostly measures the domain. This trains, under the same tokenizer, a "clean" KenLM
(and, with --neural-budget SECONDS, a neural LM) on the *benign* (label-0) training texts
of the English harmful sets, into WINNOW_BENCH_DIR/models-samedomain/en (as the ratio's
reference: in a product model set, the role `benign` does this beside a prose `clean`
model), and reports
ROC-AUC / average precision of the harmful-vs-benign log-ratio on each test split beside
the prose-based one of bench/neural_eval.py's model set.
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
    folder = WORK / "models-samedomain" / "en"
    folder.mkdir(parents=True, exist_ok=True)
    for f in src.iterdir():  # the same tokenizer and harmful LMs (and the files their manifests list)
        name = f.name
        if not name.startswith(("kenlm-clean", "neural-clean")) and not (folder / name).exists():
            (folder / name).symlink_to((src / name).resolve())
    benign = WORK / "data" / "harmful_en_train_label0.jsonl"
    if not benign.exists():
        write_jsonl(benign, [r["text"] for name in HARMFUL_EN for r in splits(name)[0] if r["label"] == 0])
    if not (folder / "kenlm-clean.manifest.json").exists():
        train_kenlm(TextSource([benign]), folder, "en", "clean", order=5)
    if neural_budget and not (folder / "neural-clean.manifest.json").exists():
        from winnow.models.neural import train_neural

        train_neural(TextSource([benign]), folder, "en", "clean", time_budget=neural_budget, max_steps=10**9)
    return folder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--neural-budget", type=float, default=0.0, help="seconds to train a benign neural LM (0: none)")
    args = ap.parse_args()
    require_data()
    prose = Scorer(ModelSet.load(WORK / "models-neural" / "en"))
    same = Scorer(ModelSet.load(prepare(args.neural_budget)))
    kinds = ["kenlm"] + (["neural"] if "neural-clean" in same.model_set.lms else [])
    head = " | ".join(f"{k} ratio, {c} clean" for k in kinds for c in ("prose", "same-domain"))
    print(f"\nROC-AUC / average precision on the test splits\n\n| set | {head} |\n|---|" + "---|" * 2 * len(kinds))
    for name in HARMFUL_EN:
        _, _, test = splits(name)
        y = np.array([r["label"] for r in test])
        texts = [r["text"] for r in test]
        a, b = prose.score_dicts(texts), same.score_dicts(texts)
        cells = []
        for kind in kinds:
            for rows in (a, b):
                v = -col(rows, f"{kind}_log_ratio")  # lower log-ratio = more harmful-like
                ok = np.isfinite(v)
                cells.append(f"{roc_auc(v[ok], y[ok]):.3f} / {average_precision(v[ok], y[ok]):.3f}")
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
