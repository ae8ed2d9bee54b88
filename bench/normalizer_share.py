"""How much of normalize + encode + score the normalizer costs, on real web text.

    python bench/normalizer_share.py [--repeats 5] [--limit N]

Needs the English models from bench/train_shared_models.py. In each repetition, on the
same texts (../shared/data/web JSONL: dragnet en + Turku multilingual), it times:
  norm      winnow's normalizer (normalize_lines)
  norm_ref  the rule-by-rule reference (CCNet's per-line, per-character approach)
  encode    SentencePiece on the normalized lines (batched, to pieces)
  score     KenLM model.score on each line (float32 sums)
  score_dbl KenLM full_scores summed in double (what winnow's Scorer does)
  plain     a plain kenlm+sentencepiece loop: raw lines, encode, score; no normalization
and prints each share as min / median over repetitions. Target: norm <= 20% of
norm + encode + score.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))
from bench.shared_corpora import WORK, require_data, web_texts  # noqa: E402
from reference_normalizer import normalize_lines as reference_lines  # noqa: E402

from winnow.models import load_model_set, normalize_lines  # noqa: E402


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--limit", type=int, default=None, help="use only the first N documents")
    args = ap.parse_args()
    require_data()
    ms = load_model_set(WORK / "models", "en")
    sp, lm = ms.tokenizer, ms.lms["kenlm-clean"].model
    texts = web_texts(args.limit)
    mb = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    batch = 256

    def encode(lines_per_doc):
        out = []
        for i in range(0, len(lines_per_doc), batch):
            flat = [l for doc in lines_per_doc[i:i + batch] for l in doc]
            out.extend(" ".join(p) for p in sp.encode(flat, out_type=str))
        return out

    def plain():
        for t in texts:
            for line in t.splitlines():
                if line.strip():
                    lm.score(" ".join(sp.encode(line, out_type=str)), bos=True, eos=True)

    runs: dict[str, list[float]] = {}
    for _ in range(args.repeats):
        t_norm, normed = timed(lambda: [normalize_lines(t) for t in texts])
        t_ref, ref = timed(lambda: [reference_lines(t) for t in texts])
        assert ref == normed, "fast and reference normalizers disagree"
        t_enc, sentences = timed(lambda: encode(normed))
        t_score, _ = timed(lambda: [lm.score(s, bos=True, eos=True) for s in sentences])
        t_dbl, _ = timed(lambda: [sum([x[0] for x in lm.full_scores(s, bos=True, eos=True)]) for s in sentences])
        t_plain, _ = timed(plain)
        for k, v in {"norm": t_norm, "norm_ref": t_ref, "encode": t_enc, "score": t_score,
                     "score_dbl": t_dbl, "plain": t_plain}.items():
            runs.setdefault(k, []).append(v)
        r = runs
        r.setdefault("share", []).append(t_norm / (t_norm + t_enc + t_score))
        r.setdefault("share_dbl", []).append(t_norm / (t_norm + t_enc + t_dbl))
        r.setdefault("share_ref", []).append(t_ref / (t_ref + t_enc + t_score))
        r.setdefault("norm_vs_plain", []).append(t_norm / t_plain)
        r.setdefault("ref_speedup", []).append(t_ref / t_norm)

    def mm(k, fmt="{:.3f}"):
        v = runs[k]
        return f"{fmt.format(min(v))} / {fmt.format(statistics.median(v))}"

    print(f"\n{len(texts)} documents, {mb:.1f} MB, {sum(map(len, normed))} lines; "
          f"{args.repeats} repetitions; figures are min / median\n")
    print("| stage | seconds per MB |\n|---|---|")
    for k in ("norm", "norm_ref", "encode", "score", "score_dbl", "plain"):
        print(f"| {k} | {min(runs[k]) / mb:.4f} / {statistics.median(runs[k]) / mb:.4f} |")
    print("\n| ratio | min / median |\n|---|---|")
    print(f"| winnow normalizer share of norm+encode+score | {mm('share', '{:.1%}')} |")
    print(f"| same, with double-precision scoring (winnow's Scorer) | {mm('share_dbl', '{:.1%}')} |")
    print(f"| reference (CCNet-style) normalizer share | {mm('share_ref', '{:.1%}')} |")
    print(f"| winnow normalizer time / plain kenlm+sentencepiece loop time | {mm('norm_vs_plain', '{:.1%}')} |")
    print(f"| reference normalizer time / winnow normalizer time | {mm('ref_speedup', '{:.1f}x')} |")


if __name__ == "__main__":
    main()
