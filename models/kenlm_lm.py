"""KenLM n-gram models: training with lmplz + build_binary, and loading.

Training pipeline: documents -> normalized lines -> SentencePiece pieces (the language's
tokenizer) -> ``lmplz -o N`` (memory-capped, optionally pruned) -> ARPA ->
``build_binary`` (trie with 8-bit quantization by default, or probing) -> manifest.
"""
from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from .errors import TrainingError, UsageError
from .manifest import file_entry, now_utc, tool_versions, write_manifest
from .normalize import NORMALIZER_VERSION, normalize_lines
from .textio import TextSource
from .tokenizer import UNK_WORD, piece_words, tokenizer_entry, trained_tokenizer
from .tools import KENLM_TOOLS_VERSION, kenlm_tool

log = logging.getLogger(__name__)

# clean: reference text, e.g. edited prose (high perplexity = low quality, as CCNet);
# harmful: text to filter out (low perplexity = resembles it);
# benign: harmless text of the same kind as the harmful text (the same platform, register,
# length): when present, the log-ratio's denominator instead of the clean model;
# corpus: a sample of the corpus being filtered, the reference of the clean LM's contrast
# (Moore-Lewis: log PP_clean - log PP_corpus, high = less like clean text than the corpus
# at large is).
ROLES = ("clean", "harmful", "benign", "corpus")
BINARY_FORMATS = ("trie", "probing")


def kenlm_name(role: str) -> str:
    return f"kenlm-{role}"


def _tail(path: Path, n: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


def train_kenlm(
    source: TextSource,
    folder: Path,
    lang: str,
    role: str,
    *,
    order: int = 5,
    memory: str = "25%",
    prune: list[int] | None = None,
    binary: str = "trie",
    quantize: bool = True,
    keep_arpa: bool = False,
    tmp_dir: Path | None = None,
) -> Path:
    """Train a KenLM model of ``role`` for ``lang`` into ``folder``; return its binary path.

    Needs the language's tokenizer in ``folder`` (``winnow train tokenizer``).
    """
    if role not in ROLES:
        raise UsageError(f"role must be one of {ROLES}, got {role!r}")
    if binary not in BINARY_FORMATS:
        raise UsageError(f"binary must be one of {BINARY_FORMATS}, got {binary!r}")
    if not 2 <= order <= 6:
        raise UsageError(f"order must be between 2 and 6 (KenLM built with KENLM_MAX_ORDER=6), got {order}")
    folder = Path(folder)
    lmplz, build_binary = kenlm_tool("lmplz"), kenlm_tool("build_binary")
    tok_manifest, sp = trained_tokenizer(folder, lang, "a KenLM model")

    name = kenlm_name(role)
    start = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix=f"winnow-kenlm-{lang}-{role}-", dir=tmp_dir))
    try:
        arpa = work / f"{name}.arpa"
        lmplz_args = [str(lmplz), "-o", str(order), "-S", memory, "-T", str(work),
                      "--discount_fallback", "--arpa", str(arpa)]
        if prune:
            lmplz_args += ["--prune", *map(str, prune)]
        lmplz_log = work / "lmplz.log"
        counts = {"lines": 0, "tokens": 0}
        with open(lmplz_log, "wb") as logf:
            proc = subprocess.Popen(lmplz_args, stdin=subprocess.PIPE, stdout=logf, stderr=logf)
            try:
                _feed_pieces(proc, source, sp, counts)
            finally:
                rc = proc.wait()
        if not counts["lines"]:
            raise TrainingError(f"no text to train the {lang}/{role} model on (inputs empty or all filtered)")
        if rc != 0:
            raise TrainingError(f"lmplz failed (exit {rc}) for {lang}/{role}:\n{_tail(lmplz_log)}")

        out = folder / f"{name}.bin"
        tmp_out = work / out.name
        bb_args = [str(build_binary), "-S", memory, "-T", str(work)]
        if binary == "trie" and quantize:
            bb_args += ["-q", "8", "-b", "8"]
        bb_args += [binary, str(arpa), str(tmp_out)]
        res = subprocess.run(bb_args, capture_output=True, text=True)
        if res.returncode != 0:
            raise TrainingError(f"build_binary failed (exit {res.returncode}): {res.stderr[-2000:]}")

        files = {}
        shutil.move(str(tmp_out), out)  # same folder as the manifest, then verified on load
        files[out.name] = file_entry(out)
        arpa_bytes = arpa.stat().st_size
        if keep_arpa:
            kept = folder / arpa.name
            shutil.move(str(arpa), kept)
            files[kept.name] = file_entry(kept)
        write_manifest(folder, {
            "name": name,
            "kind": "kenlm",
            "role": role,
            "lang": lang,
            "normalizer": NORMALIZER_VERSION,
            "files": files,
            "tokenizer": tokenizer_entry(tok_manifest),
            "params": {"order": order, "memory": memory, "prune": prune or [], "binary": binary,
                       "quantize_bits": 8 if (binary == "trie" and quantize) else None,
                       "discount_fallback": True, "arpa_bytes": arpa_bytes, "unk_word": UNK_WORD,
                       "lmplz_args": lmplz_args[1:], "build_binary_args": bb_args[1:]},
            "training_data": {**source.fingerprint(), "bytes": source.bytes, "documents": source.documents,
                              "lines": counts["lines"], "tokens": counts["tokens"],
                              "skipped_records": source.skipped},
            "created_at": now_utc(),
            "train_seconds": round(time.monotonic() - start, 3),
            "tools": tool_versions(lmplz=f"kenlm {KENLM_TOOLS_VERSION} ({lmplz})"),
        })
        log.info("%s/%s: %d lines, %d tokens -> %s", lang, name, counts["lines"], counts["tokens"], out)
        return out
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _feed_pieces(proc: subprocess.Popen, source: TextSource, sp, counts: dict, batch: int = 512) -> None:
    """Write each normalized line as space-separated LM words (pieces) to lmplz's stdin."""
    stdin = proc.stdin
    words = piece_words(sp)
    pending: list[str] = []

    def flush():
        for ids in sp.encode(pending):
            counts["tokens"] += len(ids)
            stdin.write((" ".join([words[i] for i in ids]) + "\n").encode("utf-8"))
        pending.clear()

    try:
        for doc in source:
            for line in normalize_lines(doc):
                counts["lines"] += 1
                pending.append(line)
                if len(pending) >= batch:
                    flush()
        if pending:
            flush()
    except BrokenPipeError:
        pass  # lmplz died; its exit status and log say why
    finally:
        try:
            stdin.close()
        except BrokenPipeError:
            pass
