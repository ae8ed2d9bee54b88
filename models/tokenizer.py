"""SentencePiece tokenizers trained on normalized text, one per language."""
from __future__ import annotations

import io
import logging
import os
import time
from pathlib import Path
from typing import Iterable

from .errors import TrainingError
from .manifest import file_entry, now_utc, tool_versions, write_atomic, write_manifest
from .normalize import NORMALIZER_VERSION, normalize_lines
from .textio import TextSource

log = logging.getLogger(__name__)

TOKENIZER_NAME = "sentencepiece"
TOKENIZER_FILE = "sentencepiece.model"
# The word an LM sees for SentencePiece's unknown piece. SentencePiece hands back the
# surface text of an unknown character, so without this every rare character would be
# its own LM word, and an id-based scorer could not reproduce string lookups. "<unk>"
# itself is reserved by lmplz.
UNK_WORD = "<sp_unk>"


def trained_tokenizer(folder: Path, lang: str, what: str):
    """The tokenizer of ``folder`` (``ROOT/<lang>``) that a model of ``what`` is trained on:
    ``(manifest, SentencePieceProcessor)``; a TrainingError saying what to train first."""
    import sentencepiece as spm

    from .manifest import read_manifest

    folder = Path(folder)
    tok_path = folder / f"{TOKENIZER_NAME}.manifest.json"
    if not tok_path.exists():
        raise TrainingError(
            f"{tok_path}: manifest not found; {what} is trained on the pieces of its language's tokenizer, "
            f"so train that first: `winnow train tokenizer --lang {lang} --models {folder.parent} --input ...`"
        )
    manifest = read_manifest(tok_path)
    if manifest["lang"] != lang:
        raise TrainingError(f"{folder}: tokenizer is for {manifest['lang']!r}, not {lang!r}")
    return manifest, spm.SentencePieceProcessor(model_file=str(folder / TOKENIZER_FILE))


def tokenizer_entry(manifest: dict) -> dict:
    """The ``tokenizer`` entry of a model's manifest: the tokenizer its pieces come from."""
    return {"name": TOKENIZER_NAME, "file": TOKENIZER_FILE, "sha256": manifest["files"][TOKENIZER_FILE]["sha256"]}


def piece_words(sp) -> list[str]:
    """The LM word of each SentencePiece id: the piece itself, or UNK_WORD for unknown."""
    words = [sp.id_to_piece(i) for i in range(sp.get_piece_size())]
    if sp.unk_id() >= 0:
        words[sp.unk_id()] = UNK_WORD
    bad = [w for w in words if w.split() != [w]]
    if bad:
        raise TrainingError(f"SentencePiece pieces contain whitespace, which KenLM would split: {bad[:5]}")
    return words


def normalized_lines(documents: Iterable[str], counts: dict) -> Iterable[str]:
    """Each normalized non-empty line of each document; counts lines in ``counts``."""
    for doc in documents:
        for line in normalize_lines(doc):
            counts["lines"] = counts.get("lines", 0) + 1
            yield line


def _no_text(lang: str, source: TextSource) -> str:
    return (f"no text to train the {lang!r} tokenizer on: {source.documents} documents read, "
            f"{source.skipped} records skipped (inputs empty, or --where/--text-field select nothing)")


def train_tokenizer(
    source: TextSource,
    folder: Path,
    lang: str,
    *,
    vocab_size: int = 32000,
    model_type: str = "unigram",
    character_coverage: float = 0.9995,
    max_sentences: int = 2_000_000,
    threads: int | None = None,
) -> Path:
    """Train SentencePiece on the normalized lines of ``source``; write model + manifest.

    ``vocab_size`` is a soft limit (``hard_vocab_limit=false``): a small corpus yields a
    smaller vocabulary instead of an error. At most ``max_sentences`` lines, drawn
    uniformly by SentencePiece's own sampler, are used.
    """
    import sentencepiece as spm

    folder = Path(folder)
    start = time.monotonic()
    counts: dict = {}
    model = io.BytesIO()
    params = {
        "vocab_size": vocab_size,
        "model_type": model_type,
        "character_coverage": character_coverage,
        "input_sentence_size": max_sentences,
        "shuffle_input_sentence": True,
        "hard_vocab_limit": False,
        "max_sentence_length": 16384,
    }
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(normalized_lines(source, counts)),
            model_writer=model,
            num_threads=threads or os.cpu_count() or 1,
            minloglevel=2,
            **params,
        )
    except RuntimeError as exc:
        if not counts.get("lines"):
            raise TrainingError(_no_text(lang, source)) from None
        raise TrainingError(
            f"SentencePiece training failed for {lang!r}: {exc}. With little text, lower "
            "--vocab-size."
        ) from exc
    if not counts.get("lines"):
        raise TrainingError(_no_text(lang, source))
    path = folder / TOKENIZER_FILE
    write_atomic(path, model.getvalue())
    sp = spm.SentencePieceProcessor(model_file=str(path))
    write_manifest(folder, {
        "name": TOKENIZER_NAME,
        "kind": "sentencepiece",
        "role": "tokenizer",
        "lang": lang,
        "normalizer": NORMALIZER_VERSION,
        "files": {TOKENIZER_FILE: file_entry(path)},
        "params": {**params, "actual_vocab_size": sp.get_piece_size()},
        "training_data": {**source.fingerprint(), "bytes": source.bytes, "documents": source.documents,
                          "lines": counts["lines"], "skipped_records": source.skipped},
        "created_at": now_utc(),
        "train_seconds": round(time.monotonic() - start, 3),
        "tools": tool_versions(),
    })
    log.info("tokenizer for %s: %d pieces from %d lines -> %s", lang, sp.get_piece_size(), counts["lines"], path)
    return path
