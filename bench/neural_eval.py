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
from winnow.models.perplexity import to_scale  # noqa: E402
from winnow.models.textio import TextSource  # noqa: E402
from winnow.pipeline.routing import Router, combined_probability, load_thresholds_dict  # noqa: E402
from winnow.pipeline.routing import manifest_directions  # noqa: E402
from winnow.pipeline.tuning import roc_auc  # noqa: E402

SCORES = {"kenlm_clean_pp": +1, "kenlm_benign_pp": +1, "kenlm_harmful_pp": -1, "kenlm_log_ratio": -1,
          "neural_clean_pp": +1, "neural_benign_pp": +1, "neural_harmful_pp": -1,
          "neural_log_ratio": -1}  # +1: higher = more harmful


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


def table(rows: list[dict], prefix: str):
    """Scored documents as ``winnow tune`` reads them (a pyarrow table)."""
    import pyarrow as pa

    cols = {"doc_id": [f"{prefix}-{i}" for i in range(len(rows))], "lang": ["en"] * len(rows),
            "n_tokens": [d["n_pieces"] + d["n_lines"] for d in rows]}
    for score in SCORES:
        cols[score] = [d.get(score) for d in rows]
    return pa.table(cols)


def product_rules(s_dev, y_dev, directions, band: float):
    """What ``winnow tune --labels`` writes for this set: (log-ratio rule with its cascade, combined rule)."""
    from winnow.pipeline.tuning import TuneOptions, tune

    labels = {f"dev-{i}": int(v) for i, v in enumerate(y_dev)}
    opts = TuneOptions(method="labels", cascade_band=band, bootstrap=0, combined=False)
    ratio = tune(table(s_dev, "dev"), directions, opts, labels=labels, scores=["kenlm_log_ratio"])
    combined = tune(table(s_dev, "dev"), directions, TuneOptions(method="labels", bootstrap=0), labels=labels)
    return ratio["languages"]["en"]["rules"][0], combined["languages"]["en"]["rules"][0]


def cascade_score(rule, kt, nt, nd):
    """The cascade as a ranking: the KenLM log-ratio outside the rule's band; inside it, the
    documents re-ordered by the neural log-ratio (its dev quantile, spread over the band)."""
    lo, hi = rule["cascade"]["band"]
    finite_nd = np.sort(nd[np.isfinite(nd)])
    inside = (kt >= lo) & (kt <= hi) & np.isfinite(nt)
    out = kt.copy()
    q = np.searchsorted(finite_nd, nt[inside]) / max(len(finite_nd), 1)
    out[inside] = lo + q * (hi - lo)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--time-budget", type=float, default=150.0, help="seconds of training per neural model")
    ap.add_argument("--models", type=Path, help="evaluate this English model set (e.g. bench/same_domain.py's "
                    "WINNOW_BENCH_DIR/models-samedomain/en) instead of training the default one")
    ap.add_argument("--band", type=float, default=0.2,
                    help="cascade band per rule (default 0.2, wider than winnow tune's 0.02, to show its effect)")
    args = ap.parse_args()
    require_data()
    folder = args.models or prepare(args.time_budget)
    ms = ModelSet.load(folder)
    scorer = Scorer(ms)
    directions = manifest_directions(folder.parent)
    present = {s: sign for s, sign in SCORES.items() if s in directions["en"]}
    print("\n| set (test n, bad share) | " + " | ".join(present) + " | combined | cascade | fastText |\n|"
          + "---|" * (len(present) + 4))
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
        for score, sign in present.items():
            v = np.array([np.nan if d.get(score) is None else d[score] for d in s_test], dtype=float)
            v = to_scale(score, v)
            ok = np.isfinite(v)
            cells.append(f"{roc_auc(sign * v[ok], y_test[ok]):.3f} / {average_precision(sign * v[ok], y_test[ok]):.3f}")
        ratio_rule, combined_rule = product_rules(s_dev, y_dev, directions, args.band)
        if combined_rule["score"] == "combined":
            p = np.array([combined_probability(combined_rule["combined"], d, d["n_tokens"]) for d in s_test])
            cells.append(f"{roc_auc(p, y_test):.3f} / {average_precision(p, y_test):.3f}")
        else:
            cells.append("n/a")
        kt, nt = col(s_test, "kenlm_log_ratio"), col(s_test, "neural_log_ratio")
        nd = col(s_dev, "neural_log_ratio")
        if ratio_rule.get("cascade"):
            c = cascade_score(ratio_rule, kt, nt, nd)
            ok = np.isfinite(c)
            cells.append(f"{roc_auc(-c[ok], y_test[ok]):.3f} / {average_precision(-c[ok], y_test[ok]):.3f}")
        else:
            cells.append("n/a")
        ft = fasttext_probs(train, test)
        cells.append(f"{roc_auc(ft, y_test):.3f} / {average_precision(ft, y_test):.3f}")
        print(f"| {name} ({len(test)}, {y_test.mean():.0%}) | " + " | ".join(cells) + " |")
        cascade_rows.append((name, ratio_rule, s_test, y_test))

    print(f"\n| set | KenLM ratio alone P / R / F1 | cascade ({args.band:g} band -> neural ratio) P / R / F1 "
          "| sent to neural |"
          "\n|---|---|---|---|")
    for name, rule, s_test, y_test in cascade_rows:
        alone = Router(load_thresholds_dict(_rules_only(rule, cascade=False), {"en": directions["en"]}), ["en"])
        cascade = Router(load_thresholds_dict(_rules_only(rule, cascade=True), {"en": directions["en"]}), ["en"])
        pa, pc, sent = [], [], 0
        for d in s_test:
            kw = dict(skip=None, lang="en", n_lines=d["n_lines"], n_tokens=d["n_tokens"], scores=d)
            pa.append(alone.decide(**kw).route == "drop")
            pc.append(cascade.decide(**kw).route == "drop")
            sent += bool(cascade.cascade_scores("en", d))
        print(f"| {name} | {_prf(np.array(pa), y_test)} | {_prf(np.array(pc), y_test)} | {sent / len(s_test):.0%} |")

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
    share = args.band
    cascade_t = [k + share * n for k, n in zip(t["kenlm"], t["neural"])]
    print(f"\nscoring {len(texts)} test texts, CPU seconds min / median of 3 (torch threads: "
          f"{os.environ.get('WINNOW_NEURAL_THREADS', 'all cores')}):")
    for label, v in (("KenLM only (every role)", t["kenlm"]), ("neural only (every role)", t["neural"]),
                     (f"cascade, {share:.0%} of documents to the neural LMs", cascade_t)):
        print(f"  {label}: {len(texts) / max(v):.0f} / {len(texts) / np.median(v):.0f} docs/s per CPU-second")


def col(rows, score) -> np.ndarray:
    return np.array([np.nan if d.get(score) is None else d[score] for d in rows], dtype=float)


def _rules_only(rule: dict, cascade: bool) -> dict:
    r = {k: v for k, v in rule.items() if k in ("score", "value", "reason") or (cascade and k == "cascade")}
    return {"thresholds_version": 1, "version": "eval", "languages": {"en": {"rules": [r]}}}


def _prf(pred, y) -> str:
    tp = int((pred & (y == 1)).sum())
    fp = int((pred & (y == 0)).sum())
    fn = int((~pred & (y == 1)).sum())
    p, r = tp / max(tp + fp, 1), tp / max(tp + fn, 1)
    return f"{p:.2f} / {r:.2f} / {2 * p * r / max(p + r, 1e-12):.2f}"


if __name__ == "__main__":
    main()
