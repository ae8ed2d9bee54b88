"""Neural LM scoring speed on web pages truncated to 512 pieces, per core.

    python bench/neural_speed.py [--models DIR] [--docs 400] [--repeats 5] [--onnx]

Scores real English web pages (dragnet main-content texts, each long enough to fill the
model's ``max_doc_tokens``) with one neural LM, then with the clean + harmful pair, in one
thread, and reports docs/s per CPU-second (min / median over repeats). ``--onnx`` also
times the transformer body exported to ONNX Runtime against PyTorch on the same packed
batches (the adaptive-softmax targets stay in PyTorch either way).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("WINNOW_NEURAL_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.shared_corpora import WORK, require_data, web_texts  # noqa: E402

from winnow.models import ModelSet, Scorer, normalize_lines  # noqa: E402


def long_pages(ms: ModelSet, budget: int, n: int) -> list[str]:
    out = []
    for text in web_texts(corpus="dragnet"):
        pieces = sum(len(ms.tokenizer.encode(line)) + 1 for line in normalize_lines(text))
        if pieces >= budget:
            out.append(text)
            if len(out) == n:
                break
    return out


def timed(fn, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        start = time.process_time()
        fn()
        out.append(time.process_time() - start)
    return out


def report(label: str, n: int, seconds: list[float]) -> None:
    print(f"| {label} | {n / max(seconds):.1f} / {n / statistics.median(seconds):.1f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", type=Path, default=WORK / "models-neural" / "en")
    ap.add_argument("--docs", type=int, default=400)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--onnx", action="store_true", help="also time the body in ONNX Runtime")
    args = ap.parse_args()
    require_data()
    ms = ModelSet.load(args.models)
    clean = ms.lms["neural-clean"].model
    budget = clean.cfg.max_doc_tokens
    texts = long_pages(ms, budget, args.docs)
    print(f"{len(texts)} English web pages of >= {budget} pieces; architecture {clean.cfg}; "
          f"torch threads {os.environ['WINNOW_NEURAL_THREADS']}\n")
    print("| scorer | docs/s per CPU-second, min / median |\n|---|---|")
    pair = Scorer(ms.only("neural"))
    kenlm = Scorer(ms.only("kenlm"))
    one = Scorer(ModelSet(ms.lang, ms.folder, ms.tokenizer, ms.tokenizer_manifest,
                          {"neural-clean": ms.lms["neural-clean"]}))
    batches = [texts[i:i + 256] for i in range(0, len(texts), 256)]
    for label, sc in (("KenLM clean + harmful", kenlm), ("one neural LM", one), ("neural clean + harmful", pair)):
        sc.score(texts[:8])  # warm up
        report(label, len(texts), timed(lambda: [sc.score(b) for b in batches], args.repeats))
    if args.onnx:
        from bench.neural_onnx import compare

        compare(clean, ms.tokenizer, texts, args.repeats)


if __name__ == "__main__":
    main()
