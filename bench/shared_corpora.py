"""Access to the third-party corpora in ../shared/data for benchmarks and evaluation.

Nothing read here is committed: derived files go to a cache folder outside the repository
(WINNOW_BENCH_DIR, default ~/.cache/winnow/bench).
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("WINNOW_SHARED_DATA", REPO.parent / "shared" / "data"))
WORK = Path(os.environ.get("WINNOW_BENCH_DIR", Path.home() / ".cache" / "winnow" / "bench"))

HARMFUL_EN = ["fortunes_en", "davidson_en", "tweeteval_hate_en", "tweeteval_offensive_en"]


def require_data() -> Path:
    if not DATA.is_dir():
        sys.exit(f"the shared corpora are not at {DATA}; set WINNOW_SHARED_DATA")
    return DATA


def held_out(record_id: str) -> bool:
    """The shared data's convention for sets without official splits."""
    return int(hashlib.md5(record_id.encode()).hexdigest(), 16) % 100 >= 80


def split_of(record: dict) -> str:
    """train / dev / test: official splits where they exist (val = dev), else the md5 rule."""
    split = record["split"]
    if split == "all":
        return "dev" if held_out(record["id"]) else "train"
    return {"val": "dev"}.get(split, split)


def labelled(name: str):
    with open(DATA / "harmful" / f"{name}.jsonl", encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            if r["label"] in (0, 1):
                yield r


WEB_TEXTS = {"dragnet": "dragnet_texts_en.jsonl", "turku": "turku_register_multilingual.jsonl"}


def web_texts(limit: int | None = None, corpus: str = "all") -> list[str]:
    """Main-content text of real web pages: dragnet (en) then Turku (multilingual)."""
    texts = []
    names = WEB_TEXTS.values() if corpus == "all" else [WEB_TEXTS[corpus]]
    for name in names:
        with open(DATA / "web" / name, encoding="utf-8") as f:
            for line in f:
                texts.append(json.loads(line)["text"])
                if limit and len(texts) >= limit:
                    return texts
    return texts


def write_jsonl(path: Path, texts) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for t in texts:
            f.write(json.dumps({"text": t}, ensure_ascii=False) + "\n")
    return path
