"""Evaluate the threshold methods of `winnow tune` on the labelled shared sets.

    python bench/evaluate_thresholds.py

Needs the English models of bench/train_shared_models.py. For each English labelled set
in ../shared/data/harmful (dev = official val split, test = official test split; sets
without splits use the md5 rule's held-out part, halved: buckets 80-89 dev, 90-99 test), scores dev and test with Winnow's Scorer
and reports, per score (clean PP, harmful PP, log-ratio): ROC-AUC on test; the threshold
each method picks on dev (percentile, mixture or its fallback, labels = max F1) and
precision / recall / F1 on test at that threshold; tune's verdict. The word-list rule of
C4 (../shared/data/lexicons/ldnoobw/en, flag on any hit) is the baseline. It also reports
the verdict on the unlabelled web texts (dragnet).
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.shared_corpora import DATA, HARMFUL_EN, WORK, labelled, require_data, split_of, web_texts  # noqa: E402

from winnow.models import Scorer, load_model_set  # noqa: E402
from winnow.pipeline.routing import ABOVE, score_directions  # noqa: E402
from winnow.pipeline.tuning import TuneOptions, confusion, roc_auc, tune_score  # noqa: E402

SCORES = ("kenlm_clean_pp", "kenlm_harmful_pp", "kenlm_log_ratio")


def wordlist_rule():
    words = [w.strip().lower() for w in open(DATA / "lexicons" / "ldnoobw" / "en", encoding="utf-8") if w.strip()]
    pattern = re.compile(r"\b(" + "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)) + r")\b")
    return lambda text: pattern.search(text.lower()) is not None


def _md5_bucket(record_id: str) -> int:
    import hashlib

    return int(hashlib.md5(record_id.encode()).hexdigest(), 16) % 100


def prf(pred: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    c = confusion(pred, y)
    p = c["tp"] / max(c["tp"] + c["fp"], 1)
    r = c["tp"] / max(c["tp"] + c["fn"], 1)
    return p, r, 2 * p * r / max(p + r, 1e-12)


def main() -> None:
    require_data()
    ms = load_model_set(WORK / "models", "en")
    scorer = Scorer(ms)
    directions = score_directions(ms)
    flag = wordlist_rule()
    print("| set | n dev / test (bad share) | score | test ROC-AUC | method picked on dev | threshold | "
          "test P / R / F1 | verdict |\n|---|---|---|---|---|---|---|---|")
    for name in HARMFUL_EN:
        records = list(labelled(name))
        dev = [r for r in records if split_of(r) == "dev"]
        test = [r for r in records if r["split"] == "test"]
        if not test:  # no official test split: halve the held-out part (md5 % 100 in 80-89 / 90-99)
            test = [r for r in dev if _md5_bucket(r["id"]) >= 90]
            dev = [r for r in dev if _md5_bucket(r["id"]) < 90]
        scored = {}
        for part, rows in (("dev", dev), ("test", test)):
            s = scorer.score_dicts([r["text"] for r in rows])
            scored[part] = ({k: np.array([d.get(k, np.nan) for d in s], dtype=float) for k in SCORES},
                            np.array([r["label"] for r in rows], dtype=int))
        (dev_s, dev_y), (test_s, test_y) = scored["dev"], scored["test"]
        sizes = f"{len(dev)} / {len(test)} ({test_y.mean():.0%})"
        for score in SCORES:
            direction = directions[score]
            bad = test_s[score] if direction == ABOVE else -test_s[score]
            ok = np.isfinite(bad)
            auc = roc_auc(bad[ok], test_y[ok])
            for method, labels in (("percentile", None), ("mixture", None), ("labels", dev_y)):
                res = tune_score(score, direction, dev_s[score], TuneOptions(method=method, harmful_percent=20),
                                 labels)
                cut = res["value"]
                pred = (test_s[score] > cut) if direction == ABOVE else (test_s[score] < cut)
                p, r, f = prf(np.nan_to_num(pred, nan=False).astype(bool), test_y)
                verdict = res["verdict"].split(".")[0][:70]
                print(f"| {name} | {sizes} | {score} | {auc:.3f} | {res['method']}"
                      f"{' (asked: ' + method + ')' if res['method'] != method else ''} | {cut:.4g} | "
                      f"{p:.2f} / {r:.2f} / {f:.2f} | {verdict} |")
        pred = np.array([flag(r["text"]) for r in test])
        p, r, f = prf(pred, test_y)
        print(f"| {name} | {sizes} | word list (ldnoobw en, any hit) | | | | {p:.2f} / {r:.2f} / {f:.2f} | |")

    texts = web_texts(corpus="dragnet")
    s = scorer.score_dicts(texts)
    for score in SCORES:
        values = np.array([d.get(score, np.nan) for d in s], dtype=float)
        res = tune_score(score, directions[score], values, TuneOptions())
        print(f"\ndragnet web texts ({len(texts)}), {score}: {res['method']} threshold {res['value']:.4g}; "
              f"{res['verdict']}")


if __name__ == "__main__":
    main()
