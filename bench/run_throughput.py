"""End-to-end throughput of ``winnow run`` against a raw loop and datatrove, in one run.

    python bench/run_throughput.py [--repeats 3] [--skip-datatrove]

Needs ../shared/data and the English models of bench/train_shared_models.py. Prepares,
under WINNOW_BENCH_DIR (never in the repository):
  * models-multi/: the English model set plus small clean models for the Turku languages
    (sv, id, fr, pt, hi, ur, ca, ar) trained on clean/multilingual_sentences.jsonl;
  * shards of the web texts as JSONL: "en" (dragnet, 4 shards) and "all" (dragnet + Turku,
    8 shards);
  * a virtualenv with datatrove (pip install datatrove) whose CCNet perplexity step is
    pointed at the same English model files.
Then, per repetition: the raw single-process loop (read JSONL, fastText LID, normalize +
encode + score in batches with the same models), ``winnow run --score-only`` with one
worker and with two (multi-processing), datatrove on the English shards, and the WARC
pages (HTML extraction's share). Wall times; figures are min / median over repetitions.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.shared_corpora import DATA, WORK, require_data, web_texts  # noqa: E402

TURKU_LANGS = ("sv", "id", "fr", "pt", "hi", "ur", "ca", "ar")

DATATROVE_DRIVER = r'''
import sys, time, json
from pathlib import Path
import datatrove.utils.perplexity as P
models = Path(sys.argv[1])
local = {"en.arpa.bin": models / "kenlm-clean.bin", "en.sp.model": models / "sentencepiece.model"}
P.cached_asset_path_or_download = lambda url, *a, **k: str(local[url.rsplit("/", 1)[-1]])
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.readers import JsonlReader

class Perplexity(PipelineStep):
    """What datatrove's CCNetPerplexityStats computes per document (that step also needs
    tldextract, which fetches the public suffix list from the network)."""
    name = "perplexity"
    def __init__(self):
        super().__init__()
        self.model = P.KenlmModel(model_dataset="local", language="en")
    def run(self, data, rank=0, world_size=1):
        for doc in data:
            doc.metadata["ccnet_perplexity"] = self.model.get_perplexity(doc.text)
            yield doc

start = time.monotonic()
LocalPipelineExecutor(pipeline=[JsonlReader(sys.argv[2], glob_pattern="*.jsonl"), Perplexity()],
                      tasks=1, workers=1, logging_dir=sys.argv[3] + "/logs", skip_completed=False).run()
print(json.dumps({"seconds": time.monotonic() - start}))
'''


def prepare_models() -> dict[str, Path]:
    from winnow.models.kenlm_lm import train_kenlm
    from winnow.models.textio import TextSource
    from winnow.models.tokenizer import train_tokenizer

    en = WORK / "models" / "en"
    if not (en / "kenlm-clean.manifest.json").exists():
        sys.exit("run bench/train_shared_models.py first (English models)")
    # English with its clean model only: the same work as datatrove's one perplexity.
    en_clean = WORK / "models-en-clean" / "en"
    if not en_clean.exists():
        en_clean.mkdir(parents=True)
        for f in ("sentencepiece.model", "sentencepiece.manifest.json", "kenlm-clean.bin"):
            (en_clean / f).symlink_to(en / f)
        manifest = json.loads((en / "kenlm-clean.manifest.json").read_text())
        manifest["files"] = {k: v for k, v in manifest["files"].items() if not k.endswith(".arpa")}
        (en_clean / "kenlm-clean.manifest.json").write_text(json.dumps(manifest))
    root = WORK / "models-multi"
    if not (root / "en").exists():
        root.mkdir(parents=True, exist_ok=True)
        (root / "en").symlink_to(en, target_is_directory=True)
    src = DATA / "clean" / "multilingual_sentences.jsonl"
    for lang in TURKU_LANGS:
        folder = root / lang
        if (folder / "kenlm-clean.manifest.json").exists():
            continue
        train_tokenizer(TextSource([src], where={"lang": lang}), folder, lang, vocab_size=4000)
        train_kenlm(TextSource([src], where={"lang": lang}), folder, lang, "clean", order=4, memory="500M")
    return {"en": en_clean.parent, "all": root}


# name -> (corpus, copies of it, shards). The texts are repeated so that a run lasts long
# enough (tens of seconds) for start-up costs (about 2 s per Beam worker process: imports
# and model loading) not to dominate the ratios.
DATASETS = {"en": ("dragnet", 3, 6), "all": ("all", 3, 16)}


def prepare_shards(datasets: dict) -> dict[str, Path]:
    out = {}
    for name, (corpus, copies, n) in datasets.items():
        folder = WORK / "data" / f"shards-{name}-x{copies}"
        if not folder.exists():
            tmp = Path(tempfile.mkdtemp(dir=WORK / "data"))
            files = [open(tmp / f"part-{i:02d}.jsonl", "w", encoding="utf-8") for i in range(n)]
            texts = web_texts(corpus=corpus) * copies
            for i, text in enumerate(texts):
                files[i % n].write(json.dumps({"id": f"{name}-{i}", "text": text}, ensure_ascii=False) + "\n")
            for f in files:
                f.close()
            tmp.rename(folder)
        out[name] = folder
    return out


def prepare_datatrove() -> Path | None:
    venv = WORK / "dt-venv"
    if not (venv / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        res = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "datatrove", "regex", "tokenizers", "orjson", "kenlm", "sentencepiece"],
                             capture_output=True, text=True)
        if res.returncode != 0:
            print("datatrove could not be installed; skipping it:\n" + res.stderr[-1000:])
            return None
    return venv / "bin" / "python"


def shard_docs(folder: Path) -> tuple[int, float]:
    n, nbytes = 0, 0
    for f in sorted(folder.glob("*.jsonl")):
        for line in open(f, encoding="utf-8"):
            n += 1
            nbytes += len(json.loads(line)["text"].encode("utf-8"))
    return n, nbytes / 1e6


def raw_loop(folder: Path, models: Path) -> float:
    """What a user would write by hand with the same models: no Beam, no Parquet."""
    from winnow.models import LanguageIdentifier, Scorer, load_model_sets

    start = time.monotonic()
    scorers = {lang: Scorer(ms) for lang, ms in load_model_sets(models, verify=False).items()}
    lid = LanguageIdentifier()
    for f in sorted(folder.glob("*.jsonl")):
        with open(f, encoding="utf-8") as fh:
            texts = [json.loads(line)["text"] for line in fh]
        for i in range(0, len(texts), 256):
            batch = texts[i:i + 256]
            by_lang: dict[str, list[str]] = {}
            for text, (lang, _) in zip(batch, lid.predict(batch)):
                by_lang.setdefault(lang, []).append(text)
            for lang, docs in by_lang.items():
                if lang in scorers:
                    scorers[lang].score(docs)
    return time.monotonic() - start


def _raw_loop_files(args) -> None:
    files, models = args
    folder = Path(tempfile.mkdtemp(prefix="raw-half-"))
    for f in files:
        os.symlink(f, folder / f.name)
    raw_loop(folder, models)
    shutil.rmtree(folder)


def raw_loop_two_processes(folder: Path, models: Path) -> float:
    """The machine's own ceiling: two independent raw loops, each on half of the shards."""
    import multiprocessing

    files = sorted(folder.glob("*.jsonl"))
    halves = [(files[0::2], models), (files[1::2], models)]
    start = time.monotonic()
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        pool.map(_raw_loop_files, halves)
    return time.monotonic() - start


def winnow_run(folder: Path, models: Path, workers: int, processes: bool = False) -> float:
    from apache_beam.options.pipeline_options import PipelineOptions

    from winnow.pipeline.job import JobConfig, run_job
    from winnow.pipeline.units import expand_inputs

    out = Path(tempfile.mkdtemp(prefix="winnow-bench-"))
    start = time.monotonic()
    files = expand_inputs([str(folder)])
    config = JobConfig(inputs=tuple(files), models=str(models), output=str(out), progress=False,
                       worker_verify="size")  # as `winnow run`, whose launcher verifies hashes
    args = [f"--direct_num_workers={workers}", "--direct_running_mode=multi_processing"] if processes else []
    result = run_job(config, PipelineOptions(args))
    secs = time.monotonic() - start
    assert result.summary["read"] == result.summary["scored"] + result.summary["rejected"]
    shutil.rmtree(out)
    return secs


def datatrove_run(python: Path, folder: Path, models: Path) -> float:
    out = Path(tempfile.mkdtemp(prefix="datatrove-bench-"))
    driver = WORK / "datatrove_driver.py"
    driver.write_text(DATATROVE_DRIVER)
    start = time.monotonic()
    res = subprocess.run([str(python), str(driver), str(models / "en"), str(folder), str(out)],
                         capture_output=True, text=True)
    secs = time.monotonic() - start
    shutil.rmtree(out, ignore_errors=True)
    if res.returncode != 0:
        raise RuntimeError(f"datatrove failed:\n{res.stderr[-2000:]}")
    return secs


def warc_share(models: Path) -> tuple[float, float, int]:
    """(seconds reading + extracting the WARC pages, seconds of winnow run on them, pages)."""
    from winnow.pipeline.readers import read_file

    warcs = sorted(str(p) for p in (DATA / "web").glob("*.warc.gz"))
    start = time.monotonic()
    pages = sum(1 for w in warcs for _ in read_file(w))
    read_secs = time.monotonic() - start
    folder = Path(tempfile.mkdtemp(prefix="warc-in-"))
    for w in warcs:
        os.symlink(w, folder / Path(w).name)
    run_secs = winnow_run(folder, models, 1)
    shutil.rmtree(folder)
    return read_secs, run_secs, pages


def mm(values, fmt="{:.0f}"):
    return f"{fmt.format(min(values))} / {fmt.format(statistics.median(values))}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-datatrove", action="store_true")
    ap.add_argument("--dataset", action="append", metavar="NAME:COPIES:SHARDS",
                    help="instead of the defaults (en:3:6 all:3:16); NAME is en (dragnet, English "
                         "clean model) or all (dragnet + Turku, every language's model)")
    ap.add_argument("--systems", default="raw,raw2,winnow1,winnowp1,winnow2",
                    help="comma-separated subset of raw, raw2 (two independent raw loops on half the "
                         "shards each: the machine's own scaling ceiling), winnow1 (in-process), "
                         "winnowp1 (one worker process), winnow2 (two worker processes)")
    args = ap.parse_args()
    require_data()
    models = prepare_models()
    datasets = DATASETS
    if args.dataset:
        datasets = {}
        for spec in args.dataset:
            name, copies, n = spec.split(":")
            datasets[name] = (DATASETS[name][0], int(copies), int(n))
    shards = prepare_shards(datasets)
    systems = args.systems.split(",")
    dt_python = None if (args.skip_datatrove or "en" not in shards) else prepare_datatrove()
    sizes = {name: shard_docs(folder) for name, folder in shards.items()}

    t: dict[str, list[float]] = {}
    for rep in range(args.repeats):
        runs = {"raw": lambda f, m: raw_loop(f, m), "raw2": raw_loop_two_processes,
                "winnow1": lambda f, m: winnow_run(f, m, 1),
                "winnowp1": lambda f, m: winnow_run(f, m, 1, processes=True),
                "winnow2": lambda f, m: winnow_run(f, m, 2, processes=True)}
        for name, folder in shards.items():
            for system in systems:
                t.setdefault(f"{system}/{name}", []).append(runs[system](folder, models[name]))
        if dt_python:
            t.setdefault("datatrove/en", []).append(datatrove_run(dt_python, shards["en"], models["en"]))
        if not args.dataset:
            r, w, pages = warc_share(models["all"])
            t.setdefault("warc/read+extract", []).append(r)
            t.setdefault("warc/run", []).append(w)
        print(f"repetition {rep + 1}/{args.repeats} done", file=sys.stderr)

    print(f"\n## winnow run throughput ({args.repeats} repetitions, wall time; min / median)\n")
    print("| input | system | docs/s | MB/s | MB/s per core |\n|---|---|---|---|---|")
    for name in shards:
        n, mb = sizes[name]
        for system, cores in (("raw", 1), ("raw2", 2), ("winnow1", 1), ("winnowp1", 1), ("winnow2", 2),
                              ("datatrove", 1)):
            if system == "datatrove" and name != "en":
                continue
            key = f"{system}/{name}"
            if key not in t:
                continue
            docs = [n / s for s in t[key]]
            mbs = [mb / s for s in t[key]]
            label = {"raw": "raw loop (1 process)", "raw2": "2 raw loops in parallel (half the shards each)",
                     "winnow1": "winnow run, 1 worker in-process",
                     "winnowp1": "winnow run, 1 worker process", "winnow2": "winnow run, 2 worker processes",
                     "datatrove": "datatrove KenlmModel.get_perplexity"}[system]
            print(f"| {name}: {n} docs, {mb:.1f} MB | {label} | {mm(sorted(docs, reverse=True))} | "
                  f"{mm(sorted(mbs, reverse=True), '{:.2f}')} | {mm([m / cores for m in mbs], '{:.2f}')} |")
    print("\n| ratio (per repetition, then min / median) | value | target |\n|---|---|---|")

    def ratio(label, a, b, target=""):
        if a in t and b in t:
            print(f"| {label} | {mm([x / y for x, y in zip(t[a], t[b])], '{:.2f}x')} | {target} |")

    for name in shards:
        ratio(f"{name}: winnow 1 worker in-process / raw loop", f"raw/{name}", f"winnow1/{name}", ">= 0.8x")
        ratio(f"{name}: winnow 2 worker processes / 1 worker process", f"winnowp1/{name}", f"winnow2/{name}",
              ">= 1.8x")
        ratio(f"{name}: winnow 2 worker processes / 1 worker in-process", f"winnow1/{name}", f"winnow2/{name}")
        ratio(f"{name}: machine ceiling, 2 raw loops / 1 raw loop", f"raw/{name}", f"raw2/{name}")
    if "datatrove/en" in t:
        ratio = [d / w for d, w in zip(t["datatrove/en"], t["winnow1/en"])]
        print(f"| en: winnow 1 worker / datatrove | {mm(ratio, '{:.2f}x')} | >= 2x |")
    if "warc/run" in t:
        share = [r / w for r, w in zip(t["warc/read+extract"], t["warc/run"])]
        print(f"| WARC ({pages} records, 2 files): reading + HTML extraction / whole run | {mm(share, '{:.0%}')} | |")


if __name__ == "__main__":
    main()
