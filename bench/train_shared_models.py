"""Train English clean and harmful KenLM models on ../shared/data and report on them.

    python bench/train_shared_models.py [--order 5]

Clean: clean/en_prose.txt. Harmful: the label-1 training texts of the English sets in
harmful/. The tokenizer is trained on both, so the two LMs share pieces and the
log-ratio is defined. Reports training times, sizes (ARPA, trie, probing), load time and
RSS, and median perplexity of benign vs harmful dev texts under each model. Models are
written to WINNOW_BENCH_DIR/models (outside the repository; never commit them).
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.shared_corpora import DATA, HARMFUL_EN, WORK, labelled, require_data, split_of, write_jsonl  # noqa: E402

from winnow.models import Scorer, load_model_set  # noqa: E402
from winnow.models.kenlm_lm import train_kenlm  # noqa: E402
from winnow.models.textio import TextSource  # noqa: E402
from winnow.models.tokenizer import train_tokenizer  # noqa: E402
from winnow.models.tools import kenlm_tool  # noqa: E402

LOAD_PROBE = r"""
import json, sys, time
def rss():
    for line in open('/proc/self/status'):
        if line.startswith('VmRSS'): return int(line.split()[1]) / 1024
import kenlm, sentencepiece
from winnow.models import load_model_set, Scorer
before = rss(); t = time.perf_counter()
ms = load_model_set(sys.argv[1], 'en', verify=sys.argv[2] == '1')
load = time.perf_counter() - t; after_load = rss()
texts = [l for l in open(sys.argv[3], encoding='utf-8')][:2000]
Scorer(ms).score(texts)
print(json.dumps({'load_s': load, 'rss_load_mb': after_load - before, 'rss_scored_mb': rss() - before}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--order", type=int, default=5)
    ap.add_argument("--vocab-size", type=int, default=32000)
    args = ap.parse_args()
    require_data()
    root = WORK / "models"
    folder = root / "en"

    harmful_train, dev = [], {0: [], 1: []}
    for name in HARMFUL_EN:
        for r in labelled(name):
            s = split_of(r)
            if s == "train" and r["label"] == 1:
                harmful_train.append(r["text"])
            elif s == "dev":
                dev[r["label"]].append(r["text"])
    all_train = [r["text"] for name in HARMFUL_EN for r in labelled(name) if split_of(r) == "train"]
    harmful_path = write_jsonl(WORK / "data" / "harmful_en_train_label1.jsonl", harmful_train)
    mixed_path = write_jsonl(WORK / "data" / "harmful_en_train_all.jsonl", all_train)
    prose = DATA / "clean" / "en_prose.txt"

    times = {}
    t = time.perf_counter()
    train_tokenizer(TextSource([prose, mixed_path]), folder, "en", vocab_size=args.vocab_size)
    times["tokenizer"] = time.perf_counter() - t
    sizes = {}
    for role, src in (("clean", prose), ("harmful", harmful_path)):
        t = time.perf_counter()
        out = train_kenlm(TextSource([src]), folder, "en", role, order=args.order, keep_arpa=True)
        times[f"kenlm-{role}"] = time.perf_counter() - t
        arpa = folder / f"kenlm-{role}.arpa"
        probing = WORK / f"kenlm-{role}.probing.bin"
        t = time.perf_counter()
        subprocess.run([str(kenlm_tool("build_binary")), "probing", str(arpa), str(probing)],
                       check=True, capture_output=True)
        times[f"probing-{role}"] = time.perf_counter() - t
        sizes[role] = {"arpa_mb": arpa.stat().st_size / 1e6, "trie_q8_mb": out.stat().st_size / 1e6,
                       "probing_mb": probing.stat().st_size / 1e6,
                       "train_mb": json.loads((folder / f"kenlm-{role}.manifest.json").read_text())
                       ["training_data"]["bytes"] / 1e6}

    dev_path = write_jsonl(WORK / "data" / "dev_mixed.txt.jsonl", dev[0][:1000] + dev[1][:1000])
    loads = []
    for verify in ("1", "0"):
        res = subprocess.run([sys.executable, "-c", LOAD_PROBE, str(root), verify, str(dev_path)],
                             capture_output=True, text=True, check=True)
        loads.append((verify, json.loads(res.stdout)))

    scorer = Scorer(load_model_set(root, "en"))
    medians = {}
    for label, texts in dev.items():
        scores = [d.to_dict() for d in scorer.score(texts)]
        scores = [s for s in scores if s["n_lines"]]
        medians[label] = {k: statistics.median(s[k] for s in scores)
                          for k in ("kenlm_clean_pp", "kenlm_harmful_pp", "kenlm_log_ratio")}
        medians[label]["n"] = len(scores)

    print(f"\n## English KenLM models (order {args.order}) trained on ../shared/data\n")
    print("| step | seconds |\n|---|---|")
    for k, v in times.items():
        print(f"| {k} | {v:.1f} |")
    print("\n| model | training text MB | ARPA MB | trie (8-bit) MB | probing MB |\n|---|---|---|---|---|")
    for role, s in sizes.items():
        print(f"| {role} | {s['train_mb']:.1f} | {s['arpa_mb']:.1f} | {s['trie_q8_mb']:.1f} | {s['probing_mb']:.1f} |")
    print("\n| load (tokenizer + both LMs) | seconds | RSS after load MB | RSS after scoring 2,000 docs MB |\n|---|---|---|---|")
    for verify, r in loads:
        print(f"| {'with' if verify == '1' else 'without'} hash verification | {r['load_s']:.2f} | "
              f"{r['rss_load_mb']:.0f} | {r['rss_scored_mb']:.0f} |")
    print("\n| dev texts (English harmful sets) | n | median clean PP | median harmful PP | median log-ratio |"
          "\n|---|---|---|---|---|")
    for label, m in medians.items():
        print(f"| {'harmful (1)' if label else 'benign (0)'} | {m['n']} | {m['kenlm_clean_pp']:.0f} | "
              f"{m['kenlm_harmful_pp']:.0f} | {m['kenlm_log_ratio']:.3f} |")
    print(f"\nmodels in {root}")


if __name__ == "__main__":
    main()
