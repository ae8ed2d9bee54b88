"""How much of normalize + encode + score the normalizer costs, on real web text.

    python bench/normalizer_share.py [--repeats 5] [--limit N]

Needs the English models from bench/train_shared_models.py. In each repetition, on the
same texts (../shared/data/web JSONL: dragnet en + Turku multilingual), it times:
  norm      winnow's normalizer (normalize_lines)
  norm_ref  the rule-by-rule reference (CCNet's per-line, per-character approach)
  encode    SentencePiece on the normalized lines (batched, to piece strings)
  score     kenlm module's model.score on each joined line (float32 sums)
  encode_id SentencePiece to ids (what winnow's Scorer does)
  score_nat the native batch scorer on those ids (double sums; what the Scorer does)
  scorer    winnow's Scorer end to end (normalize + encode + score), batches of 256
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

import dataclasses  # noqa: E402
import itertools  # noqa: E402

import numpy as np  # noqa: E402

from winnow.models import Scorer, load_model_set, normalize_lines  # noqa: E402


def timed(fn):
    """CPU seconds of fn(): single-threaded work, less disturbed by other processes than wall time."""
    t = time.process_time()
    out = fn()
    return time.process_time() - t, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--limit", type=int, default=None, help="use only the first N documents")
    ap.add_argument("--corpus", choices=["all", "dragnet", "turku"], default="all",
                    help="dragnet: English pages only; turku: multilingual pages only")
    args = ap.parse_args()
    require_data()
    ms = load_model_set(WORK / "models", "en")
    sp = ms.tokenizer
    native = ms.lms["kenlm-clean"]
    lm = load_model_set(WORK / "models", "en", native=False).lms["kenlm-clean"].model
    scorer = Scorer(dataclasses.replace(ms, lms={"kenlm-clean": native}))
    texts = web_texts(args.limit, corpus=args.corpus)
    mb = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    batch = 256

    def encode(lines_per_doc):
        out = []
        for i in range(0, len(lines_per_doc), batch):
            flat = [l for doc in lines_per_doc[i:i + batch] for l in doc]
            out.extend(" ".join(p) for p in sp.encode(flat, out_type=str))
        return out

    def encode_ids(lines_per_doc):
        out = []
        for i in range(0, len(lines_per_doc), batch):
            out.append(sp.encode([l for doc in lines_per_doc[i:i + batch] for l in doc]))
        return out

    def score_native(batches):
        for ids in batches:
            lens = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
            flat = np.fromiter(itertools.chain.from_iterable(ids), dtype=np.int64, count=int(lens.sum()))
            native.model.score_lines(native.vocab_map[flat], lens)

    def scorer_run():
        for i in range(0, len(texts), batch):
            scorer.score(texts[i:i + batch])

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
        t_enc_id, id_batches = timed(lambda: encode_ids(normed))
        t_nat, _ = timed(lambda: score_native(id_batches))
        t_scorer, _ = timed(scorer_run)
        t_plain, _ = timed(plain)
        for k, v in {"norm": t_norm, "norm_ref": t_ref, "encode": t_enc, "score": t_score,
                     "encode_id": t_enc_id, "score_nat": t_nat, "scorer": t_scorer, "plain": t_plain}.items():
            runs.setdefault(k, []).append(v)
        r = runs
        r.setdefault("share", []).append(t_norm / (t_norm + t_enc + t_score))
        r.setdefault("share_nat", []).append(t_norm / (t_norm + t_enc_id + t_nat))
        r.setdefault("share_scorer", []).append(t_norm / t_scorer)
        r.setdefault("share_ref", []).append(t_ref / (t_ref + t_enc + t_score))
        r.setdefault("scorer_vs_plain", []).append(t_plain / t_scorer)
        r.setdefault("norm_vs_plain", []).append(t_norm / t_plain)
        r.setdefault("ref_speedup", []).append(t_ref / t_norm)

    def mm(k, fmt="{:.3f}"):
        v = runs[k]
        return f"{fmt.format(min(v))} / {fmt.format(statistics.median(v))}"

    print(f"\n{len(texts)} documents, {mb:.1f} MB, {sum(map(len, normed))} lines; "
          f"{args.repeats} repetitions; figures are min / median\n")
    print("| stage | seconds per MB |\n|---|---|")
    for k in ("norm", "norm_ref", "encode", "score", "encode_id", "score_nat", "scorer", "plain"):
        print(f"| {k} | {min(runs[k]) / mb:.4f} / {statistics.median(runs[k]) / mb:.4f} |")
    print("\n| ratio | min / median |\n|---|---|")
    print(f"| winnow normalizer / (itself + encode to pieces + kenlm module score) | {mm('share', '{:.1%}')} |")
    print(f"| winnow normalizer / (itself + encode to ids + native score) | {mm('share_nat', '{:.1%}')} |")
    print(f"| winnow normalizer / winnow Scorer end to end | {mm('share_scorer', '{:.1%}')} |")
    print(f"| Scorer speed / plain loop speed (no normalization) | {mm('scorer_vs_plain', '{:.2f}x')} |")
    print(f"| reference (CCNet-style) normalizer share | {mm('share_ref', '{:.1%}')} |")
    print(f"| winnow normalizer time / plain kenlm+sentencepiece loop time | {mm('norm_vs_plain', '{:.1%}')} |")
    print(f"| reference normalizer time / winnow normalizer time | {mm('ref_speedup', '{:.1f}x')} |")


if __name__ == "__main__":
    main()
