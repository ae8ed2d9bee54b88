"""Neural LMs on the shared data: train, evaluate against KenLM and fastText, time them.

    python bench/neural_eval.py [--time-budget 150]

Needs bench/train_shared_models.py's English models. Into WINNOW_BENCH_DIR/models-neural/en
(never the repository) it links those and trains two small neural LMs under the same
tokenizer: clean on clean/en_prose.txt, harmful on the label-1 training texts of the
English harmful sets. On the dev/test splits of each set (as in evaluate_thresholds.py) it
reports ROC-AUC and average precision of every score, of the combined logistic score
(fitted on dev), and of a fastText supervised classifier trained on the same training
texts; then P/R/F1 of KenLM-only vs the cascade at tuned cuts; then docs/s per core of
KenLM-only, neural-only and cascade scoring on the same documents.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.evaluate_thresholds import _md5_bucket  # noqa: E402
from bench.shared_corpora import DATA, HARMFUL_EN, WORK, labelled, require_data, split_of  # noqa: E402

from winnow.models import ModelSet, Scorer  # noqa: E402
from winnow.models.neural import train_neural  # noqa: E402
from winnow.models.textio import TextSource  # noqa: E402
from winnow.pipeline.tuning import fit_logistic, logistic_probability, roc_auc  # noqa: E402

SCORES = {"kenlm_clean_pp": +1, "kenlm_harmful_pp": -1, "kenlm_log_ratio": -1,
          "neural_clean_pp": +1, "neural_harmful_pp": -1, "neural_log_ratio": -1}  # +1: higher = more harmful


def average_precision(score, y) -> float:
    order = np.argsort(-score, kind="mergesort")
    yy = y[order]
    tp = np.cumsum(yy)
    precision = tp / np.arange(1, len(yy) + 1)
    return float((precision * yy).sum() / max(yy.sum(), 1))


def prepare(budget: float) -> Path:
    src = WORK / "models" / "en"
    folder = WORK / "models-neural" / "en"
    folder.mkdir(parents=True, exist_ok=True)
    for f in src.iterdir():
        if not (folder / f.name).exists():
            (folder / f.name).symlink_to(f)
    train_file = WORK / "data" / "harmful_en_train_label1.jsonl"
    for role, source in (("clean", DATA / "clean" / "en_prose.txt"), ("harmful", train_file)):
        if not (folder / f"neural-{role}.manifest.json").exists():
            t = time.monotonic()
            train_neural(TextSource([source]), folder, "en", role, time_budget=budget, max_steps=10**9)
            m = json.loads((folder / f"neural-{role}.manifest.json").read_text())["params"]
            print(f"trained neural-{role}: {m['parameters']:,} parameters, {m['steps']} steps in "
                  f"{time.monotonic() - t:.0f} s, validation perplexity {m['validation_perplexity']:.1f}")
    return folder


def splits(name):
    records = list(labelled(name))
    train = [r for r in records if split_of(r) == "train"]
    dev = [r for r in records if split_of(r) == "dev"]
    test = [r for r in records if r["split"] == "test"]
    if not test:
        test = [r for r in dev if _md5_bucket(r["id"]) >= 90]
        dev = [r for r in dev if _md5_bucket(r["id"]) < 90]
    return train, dev, test


def fasttext_probs(train, test) -> np.ndarray:
    import fasttext

    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as f:
        for r in train:
            f.write(f"__label__{r['label']} " + " ".join(r["text"].split()) + "\n")
    model = fasttext.train_supervised(f.name, epoch=10, wordNgrams=2, lr=0.5, verbose=0, thread=2)
    os.unlink(f.name)
    labels, probs = model.f.multilinePredict([" ".join(r["text"].split()) for r in test], 2, 0.0, "replace")
    out = []
    for lab, pr in zip(labels, probs):
        d = dict(zip(lab, pr))
        out.append(float(d.get("__label__1", 0.0)))
    return np.array(out)


def matrix(rows, features):
    cols = {f: [r.get(f) for r in rows] for f in features}
    out = []
    for f in features:
        v = np.array([np.nan if x is None else x for x in cols[f]], dtype=float)
        out.append(np.log10(v) if f.endswith("_pp") or f == "n_tokens" else v)
    return np.column_stack(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--time-budget", type=float, default=150.0, help="seconds of training per neural model")
    args = ap.parse_args()
    require_data()
    folder = prepare(args.time_budget)
    ms = ModelSet.load(folder)
    scorer = Scorer(ms)
    print("\n| set (test n, bad share) | " + " | ".join(SCORES) + " | combined | fastText |\n|" + "---|" * (len(SCORES) + 3))
    cascade_rows = []
    all_test_texts = []
    for name in HARMFUL_EN:
        train, dev, test = splits(name)
        y_dev = np.array([r["label"] for r in dev])
        y_test = np.array([r["label"] for r in test])
        s_dev = [dict(d, n_tokens=d["n_pieces"] + d["n_lines"]) for d in scorer.score_dicts([r["text"] for r in dev])]
        s_test = [dict(d, n_tokens=d["n_pieces"] + d["n_lines"]) for d in scorer.score_dicts([r["text"] for r in test])]
        all_test_texts += [r["text"] for r in test]
        cells = []
        for score, sign in SCORES.items():
            v = np.array([np.nan if d.get(score) is None else d[score] for d in s_test], dtype=float)
            v = np.log10(v) if score.endswith("_pp") else v
            ok = np.isfinite(v)
            cells.append(f"{roc_auc(sign * v[ok], y_test[ok]):.3f} / {average_precision(sign * v[ok], y_test[ok]):.3f}")
        features = list(SCORES) + ["n_tokens"]
        model = fit_logistic(matrix(s_dev, features), y_dev.astype(float))
        p = logistic_probability(model, matrix(s_test, features))
        cells.append(f"{roc_auc(p, y_test):.3f} / {average_precision(p, y_test):.3f}")
        ft = fasttext_probs(train, test)
        cells.append(f"{roc_auc(ft, y_test):.3f} / {average_precision(ft, y_test):.3f}")
        print(f"| {name} ({len(test)}, {y_test.mean():.0%}) | " + " | ".join(cells) + " |")
        cascade_rows.append((name, s_dev, y_dev, s_test, y_test))

    print("\n| set | KenLM ratio alone P / R / F1 | cascade (20% band -> neural ratio) P / R / F1 | sent to neural |"
          "\n|---|---|---|---|")
    for name, s_dev, y_dev, s_test, y_test in cascade_rows:
        kd = np.array([d["kenlm_log_ratio"] for d in s_dev])
        nd = np.array([d["neural_log_ratio"] for d in s_dev])
        kt = np.array([d["kenlm_log_ratio"] for d in s_test])
        nt = np.array([d["neural_log_ratio"] for d in s_test])
        cut_k, cut_n = _best_cut(-kd, y_dev), _best_cut(-nd, y_dev)
        rank = (kd < -cut_k).mean()
        lo, hi = np.quantile(kd, max(0, rank - 0.1)), np.quantile(kd, min(1, rank + 0.1))
        alone = -kt >= cut_k
        band = (kt >= lo) & (kt <= hi)
        cascade = np.where(band, -nt >= cut_n, alone)
        print(f"| {name} | {_prf(alone, y_test)} | {_prf(cascade, y_test)} | {band.mean():.0%} |")

    texts = all_test_texts[:2000]
    kenlm_only = Scorer(ms.only("kenlm"))
    neural_only = Scorer(ms.only("neural"))
    t = {}
    for label, sc in (("kenlm", kenlm_only), ("neural", neural_only)):
        best = []
        for _ in range(3):
            start = time.process_time()
            for i in range(0, len(texts), 256):
                sc.score(texts[i:i + 256])
            best.append(time.process_time() - start)
        t[label] = best
    share = 0.2
    cascade_t = [k + share * n for k, n in zip(t["kenlm"], t["neural"])]
    print(f"\nscoring {len(texts)} test texts, CPU seconds min / median of 3 (torch threads: "
          f"{os.environ.get('WINNOW_NEURAL_THREADS', 'all cores')}):")
    for label, v in (("KenLM only (clean + harmful)", t["kenlm"]), ("neural only (clean + harmful)", t["neural"]),
                     ("cascade, 20% of documents to the neural LMs", cascade_t)):
        print(f"  {label}: {len(texts) / max(v):.0f} / {len(texts) / np.median(v):.0f} docs/s per CPU-second")


def _best_cut(bad, y):
    from winnow.pipeline.tuning import choose_labelled_cut

    return choose_labelled_cut(bad, y)[0]


def _prf(pred, y) -> str:
    tp = int((pred & (y == 1)).sum())
    fp = int((pred & (y == 0)).sum())
    fn = int((~pred & (y == 1)).sum())
    p, r = tp / max(tp + fp, 1), tp / max(tp + fn, 1)
    return f"{p:.2f} / {r:.2f} / {2 * p * r / max(p + r, 1e-12):.2f}"


if __name__ == "__main__":
    main()
