"""Small neural causal LMs on the language's SentencePiece pieces (PyTorch, optional).

The same contract as KenLM: a document's normalized lines are encoded to pieces, each line
is ``<s> pieces </s>`` and its log10 probability counts the pieces and ``</s>``.
A long document is scored on its first ``max_doc_tokens`` tokens only (the bound is in the
manifest, and the token count reported is the number actually scored); a line longer
than the context is scored in consecutive windows, each starting from the previous
window's last token.

Weights are saved with safetensors (no pickle); the architecture lives in the manifest.
Install with ``pip install -e .[neural]`` (torch==2.13.0, a CPU build).
"""
from __future__ import annotations

import hashlib
import logging
import math
import os
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from .errors import TrainingError, UsageError, WinnowModelError
from .manifest import file_entry, now_utc, tool_versions, write_manifest
from .normalize import NORMALIZER_VERSION, normalize_lines
from .perplexity import perplexity
from .textio import TextSource
from .tokenizer import tokenizer_entry, trained_tokenizer

log = logging.getLogger(__name__)
LN10 = math.log(10)


@dataclass(frozen=True)
class NeuralConfig:
    vocab_size: int
    dim: int = 128
    layers: int = 2
    heads: int = 4
    max_len: int = 128          # context window, in tokens (including <s>)
    max_doc_tokens: int = 512   # tokens scored per document at most
    cutoffs: tuple[int, ...] = ()  # adaptive softmax clusters, by frequency rank (default_cutoffs)
    div_value: float = 2.0         # each tail cluster's width is the previous one's / div_value

    def __post_init__(self):
        if not self.cutoffs:
            object.__setattr__(self, "cutoffs", default_cutoffs(self.vocab_size))
        object.__setattr__(self, "cutoffs", tuple(int(c) for c in self.cutoffs))


def default_cutoffs(vocab_size: int) -> tuple[int, ...]:
    """A head of the V/64 most frequent pieces, then tails to V/16, V/4 and the rest: most
    tokens are decided in the head, so a token costs a few hundred dot products, not V."""
    cuts = {vocab_size // k for k in (64, 16, 4)}
    return tuple(sorted(c for c in cuts if 0 < c < vocab_size - 1)) or (1,)


def _torch():
    try:
        import torch
    except ImportError:
        raise WinnowModelError("neural models need PyTorch: pip install -e '.[neural]' "
                               "(torch==2.13.0, CPU build)") from None
    return torch


_default_threads: int | None = None


def set_default_threads(n: int | None) -> None:
    """PyTorch threads for neural LMs loaded from now on, unless WINNOW_NEURAL_THREADS says
    otherwise (a pipeline worker sizes it to its share of the machine's cores)."""
    global _default_threads
    _default_threads = n


def _threads() -> int:
    return int(os.environ.get("WINNOW_NEURAL_THREADS", "0")) or _default_threads or (os.cpu_count() or 1)


def build_model(cfg: NeuralConfig):
    torch = _torch()
    nn = torch.nn

    class TinyCausalLM(nn.Module):
        """Token + position embeddings, pre-norm transformer blocks and an adaptive softmax
        (Grave et al. 2017) over pieces ordered by training frequency (``rank``): exact,
        normalized probabilities at a fraction of a full softmax's cost."""

        def __init__(self):
            super().__init__()
            self.tok = nn.Embedding(cfg.vocab_size, cfg.dim)
            self.pos = nn.Embedding(cfg.max_len, cfg.dim)
            layer = nn.TransformerEncoderLayer(cfg.dim, cfg.heads, 4 * cfg.dim, dropout=0.0, batch_first=True,
                                               norm_first=True)
            self.blocks = nn.TransformerEncoder(layer, cfg.layers, enable_nested_tensor=False)
            self.norm = nn.LayerNorm(cfg.dim)
            self.out = nn.AdaptiveLogSoftmaxWithLoss(cfg.dim, cfg.vocab_size, list(cfg.cutoffs),
                                                   div_value=cfg.div_value)
            self.register_buffer("rank", torch.arange(cfg.vocab_size))  # piece id -> frequency rank (saved)
            self.register_buffer("mask", torch.triu(torch.full((cfg.max_len, cfg.max_len), float("-inf")), 1),
                                 persistent=False)

        def hidden(self, x, pos=None, mask=None):
            """x: (batch, length) -> final hidden states (batch, length, dim).

            ``pos`` and ``mask`` (batch * heads, length, length) score several packed
            segments per row, each from its own start, as if alone."""
            n = x.shape[1]
            if pos is None:
                h = self.tok(x) + self.pos(torch.arange(n, device=x.device))[None]
                h = self.blocks(h, mask=self.mask[:n, :n], is_causal=True)
            else:
                h = self.blocks(self.tok(x) + self.pos(pos), mask=mask)
            return self.norm(h)

        def target_logprob(self, h, y, chunk: int = 256):
            """Natural-log probability of each target piece id ``y`` (n,) given states ``h`` (n, dim);
            only the clusters the targets fall in are computed, ``chunk`` targets at a time
            (cache-sized blocks: a large block's logits cost more in page faults than in math)."""
            r = self.rank[y]
            if not len(r):
                return h.new_zeros(0)
            return torch.cat([self.out(h[i:i + chunk], r[i:i + chunk]).output for i in range(0, len(r), chunk)])

        def forward(self, x):
            """x: (batch, length) -> full log-probabilities (batch, length, vocab), in piece-id order."""
            h = self.hidden(x)
            full = self.out.log_prob(h.reshape(-1, h.shape[-1]))[:, self.rank]
            return full.reshape(*x.shape, -1)

    return TinyCausalLM()


def _windows(ids: list[int], bos: int, eos: int | None, max_len: int):
    """(inputs, targets) windows of one line: inputs <s> t1..tn, targets t1..tn </s>
    (no </s> target for a line cut short: ``eos`` None)."""
    targets = ids + ([eos] if eos is not None else [])
    inputs = ([bos] + ids)[: len(targets)]
    for start in range(0, len(targets), max_len):
        yield inputs[start:start + max_len], targets[start:start + max_len]


class NeuralLM:
    """A loaded neural LM: ``score_lines(list of id lists) -> (log10 P per line, tokens per line)``."""

    def __init__(self, weights: Path, cfg: NeuralConfig, bos: int, eos: int, pad: int):
        torch = _torch()
        from safetensors.torch import load_file

        torch.set_num_threads(_threads())
        self.cfg, self.bos, self.eos, self.pad = cfg, bos, eos, pad
        self.model = build_model(cfg)
        try:
            self.model.load_state_dict(load_file(str(weights)))
        except Exception as exc:  # noqa: BLE001
            raise WinnowModelError(f"{weights}: weights do not fit the manifest's architecture ({exc}); a model "
                                   f"trained by an older Winnow must be retrained (winnow train neural)") from None
        self.model.eval()

    def score_lines(self, lines: list[list[int]], batch: int = 8) -> tuple[list[float], list[int]]:
        """log10 P and tokens scored of each line (a list of ids, or (ids, cut short))."""
        torch = _torch()
        totals = torch.zeros(len(lines), dtype=torch.float64)
        counts = torch.zeros(len(lines), dtype=torch.long)
        with torch.inference_mode():
            for b in self.batches(lines, batch):
                h = self.model.hidden(b.x, pos=b.pos, mask=b.mask)
                valid = b.y >= 0
                logp = self.model.target_logprob(h[valid], b.y[valid])
                totals.index_add_(0, b.line_of[valid], logp.double())
                counts += torch.bincount(b.line_of[valid], minlength=len(lines))
        return [t / LN10 for t in totals.tolist()], counts.tolist()

    def batches(self, lines, batch: int = 8, width: int | None = None):
        """The windows of all lines, packed several to a row (most lines are much shorter than
        the context), ``batch`` rows at a time: a block-diagonal causal mask and per-segment
        positions keep each window's score exactly what it would be alone, with far less
        padding. ``width`` fixes the row width (default: the longest row of the batch)."""
        torch = _torch()
        segments = []  # (line index, inputs, targets)
        for li, line in enumerate(lines):
            ids, cut = line if isinstance(line, tuple) else (line, False)
            for inp, tgt in _windows(ids, self.bos, None if cut else self.eos, self.cfg.max_len):
                segments.append((li, inp, tgt))
        rows = _pack(segments, self.cfg.max_len)
        for i in range(0, len(rows), batch):
            chunk = rows[i:i + batch]
            w = width or max(sum(len(seg[1]) for seg in row) for row in chunk)
            x = torch.full((len(chunk), w), self.pad, dtype=torch.long)
            y = torch.full((len(chunk), w), -1, dtype=torch.long)
            pos = torch.zeros((len(chunk), w), dtype=torch.long)
            seg_id = torch.full((len(chunk), w), -1, dtype=torch.long)
            line_of = torch.full((len(chunk), w), -1, dtype=torch.long)
            for r, row in enumerate(chunk):
                at = 0
                for k, (li, inp, tgt) in enumerate(row):
                    n = len(inp)
                    x[r, at:at + n] = torch.tensor(inp)
                    y[r, at:at + n] = torch.tensor(tgt)
                    pos[r, at:at + n] = torch.arange(n)
                    seg_id[r, at:at + n] = k
                    line_of[r, at:at + n] = li
                    at += n
            same = seg_id[:, :, None] == seg_id[:, None, :]
            causal = torch.ones(w, w, dtype=torch.bool).tril()
            allowed = same & causal[None] | torch.eye(w, dtype=torch.bool)[None]  # padding sees itself
            mask = torch.zeros(allowed.shape).masked_fill(~allowed, float("-inf"))
            yield PackedBatch(x, y, pos, mask.repeat_interleave(self.cfg.heads, dim=0), line_of)


@dataclass
class PackedBatch:
    x: object         # (rows, width) input ids
    y: object         # (rows, width) target ids, -1 where padding
    pos: object       # (rows, width) position of each token in its window
    mask: object      # (rows * heads, width, width) additive attention mask
    line_of: object   # (rows, width) index of the line each token belongs to, -1 where padding


def _pack(segments, capacity: int) -> list[list]:
    """Best-fit-decreasing packing of segments into rows of at most ``capacity`` tokens.

    Rows are bucketed by their free room, so each segment costs at most ``capacity``
    bucket lookups, not a scan of every row."""
    rows: list[list] = []
    by_room: list[list[int]] = [[] for _ in range(capacity + 1)]
    for seg in sorted(segments, key=lambda s: -len(s[1])):
        n = len(seg[1])
        room = next((k for k in range(n, capacity + 1) if by_room[k]), None)
        if room is None:
            rows.append([seg])
            r, left = len(rows) - 1, capacity - n
        else:
            r = by_room[room].pop()
            rows[r].append(seg)
            left = room - n
        by_room[left].append(r)
    return rows


def truncate_lines(lines: list[list[int]], budget: int) -> list[tuple[list[int], bool]]:
    """The lines a document scores within ``budget`` tokens, as (pieces, cut short). A whole
    line costs its pieces + </s>; the line that crosses the budget is scored on its first
    pieces only, without the </s> it does not reach."""
    out = []
    for ids in lines:
        if budget <= 0:
            break
        if len(ids) + 1 <= budget:
            out.append((ids, False))
            budget -= len(ids) + 1
        else:
            out.append((ids[:budget], True))
            budget = 0
    return out


def load_neural(path: Path, manifest: dict, tokenizer) -> NeuralLM:
    p = manifest["params"]
    cfg = NeuralConfig(**p["architecture"])
    if cfg.vocab_size != tokenizer.get_piece_size():
        raise WinnowModelError(f"{path}: vocabulary {cfg.vocab_size} != tokenizer's {tokenizer.get_piece_size()}")
    return NeuralLM(path, cfg, tokenizer.bos_id(), tokenizer.eos_id(), tokenizer.pad_id() if tokenizer.pad_id() >= 0
                    else tokenizer.unk_id())


def neural_name(role: str) -> str:
    return f"neural-{role}"


def train_neural(source: TextSource, folder: Path, lang: str, role: str, *, dim: int = 128, layers: int = 2,
                 heads: int = 4, max_len: int = 128, max_doc_tokens: int = 512, batch_size: int = 32,
                 max_steps: int = 2000, time_budget: float | None = None, lr: float = 3e-3,
                 seed: int = 0, val_fraction: float = 0.05, cutoffs: tuple[int, ...] = (),
                 div_value: float = 2.0) -> Path:
    """Train a neural LM of ``role`` for ``lang`` into ``folder``; return the weights' path."""
    torch = _torch()
    from safetensors.torch import save_file

    from .kenlm_lm import ROLES

    if role not in ROLES:
        raise UsageError(f"role must be one of {ROLES}, got {role!r}")
    folder = Path(folder)
    tok_manifest, sp = trained_tokenizer(folder, lang, "a neural LM")
    if cutoffs and max(cutoffs) >= sp.get_piece_size() - 1:
        raise TrainingError(f"adaptive-softmax cutoffs {list(cutoffs)} must lie below the vocabulary size minus 1 "
                            f"({sp.get_piece_size() - 1})")
    random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(_threads())
    start = time.monotonic()

    train_w, val_w = [], []
    lines = tokens = 0
    for doc in source:
        for line in normalize_lines(doc):
            ids = sp.encode(line)
            lines += 1
            tokens += len(ids)
            held = int(hashlib.md5(line.encode()).hexdigest(), 16) % 1000 < val_fraction * 1000
            (val_w if held else train_w).extend(_windows(ids, sp.bos_id(), sp.eos_id(), max_len))
    if not train_w:
        raise TrainingError(f"no text to train the {lang}/{role} neural model on")
    if not val_w:
        val_w = train_w[: max(1, len(train_w) // 20)]
    cfg = NeuralConfig(vocab_size=sp.get_piece_size(), dim=dim, layers=layers, heads=heads, max_len=max_len,
                       max_doc_tokens=max_doc_tokens, cutoffs=tuple(cutoffs), div_value=div_value)
    model = build_model(cfg)
    freq = torch.bincount(torch.tensor([t for _, tgt in train_w for t in tgt]), minlength=cfg.vocab_size)
    order = torch.argsort(-freq, stable=True)  # most frequent first; ties by piece id
    model.rank[order] = torch.arange(cfg.vocab_size)
    params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    pad = sp.pad_id() if sp.pad_id() >= 0 else sp.unk_id()

    def tensors(batch):
        width = max(len(t) for _, t in batch)
        x = torch.full((len(batch), width), pad, dtype=torch.long)
        y = torch.full((len(batch), width), -1, dtype=torch.long)
        for r, (inp, tgt) in enumerate(batch):
            x[r, :len(inp)] = torch.tensor(inp)
            y[r, :len(tgt)] = torch.tensor(tgt)
        return x, y

    def val_pp() -> float:
        model.eval()
        total, count = 0.0, 0
        with torch.inference_mode():
            for i in range(0, len(val_w), 64):
                x, y = tensors(val_w[i:i + 64])
                valid = y >= 0
                total += float(model.target_logprob(model.hidden(x)[valid], y[valid]).double().sum()) / LN10
                count += int(valid.sum())
        model.train()
        return perplexity(total, count)

    model.train()
    steps = 0
    history = []
    best = (math.inf, 0, None)  # (validation perplexity, step, weights)
    while steps < max_steps and (time_budget is None or time.monotonic() - start < time_budget):
        random.shuffle(train_w)
        for i in range(0, len(train_w), batch_size):
            x, y = tensors(train_w[i:i + batch_size])
            valid = y >= 0
            loss = model.out(model.hidden(x)[valid], model.rank[y[valid]]).loss
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            steps += 1
            if steps % 200 == 0:
                history.append({"step": steps, "val_pp": val_pp()})
                if history[-1]["val_pp"] < best[0]:
                    best = (history[-1]["val_pp"], steps, {k: v.clone() for k, v in model.state_dict().items()})
                log.info("%s/%s neural step %d: validation perplexity %.1f", lang, role, steps, history[-1]["val_pp"])
            if steps >= max_steps or (time_budget is not None and time.monotonic() - start >= time_budget):
                break
    final_pp = val_pp()
    history.append({"step": steps, "val_pp": final_pp})
    if best[0] < final_pp:  # validation perplexity rose since its best: keep the best weights
        final_pp, kept_step, state = best
        model.load_state_dict(state)
    else:
        kept_step = steps
    name = neural_name(role)
    out = folder / f"{name}.safetensors"
    tmp = folder / f".{name}.safetensors.tmp"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp))
    os.replace(tmp, out)
    write_manifest(folder, {
        "name": name, "kind": "neural", "role": role, "lang": lang, "normalizer": NORMALIZER_VERSION,
        "files": {out.name: file_entry(out)},
        "tokenizer": tokenizer_entry(tok_manifest),
        "params": {"architecture": asdict(cfg), "parameters": params, "steps": steps, "batch_size": batch_size,
                   "lr": lr, "seed": seed, "time_budget": time_budget, "val_fraction": val_fraction,
                   "validation_perplexity": final_pp, "kept_step": kept_step, "history": history},
        "training_data": {**source.fingerprint(), "bytes": source.bytes, "documents": source.documents,
                          "lines": lines, "tokens": tokens, "skipped_records": source.skipped},
        "created_at": now_utc(), "train_seconds": round(time.monotonic() - start, 3),
        "tools": tool_versions(torch=torch.__version__),
    })
    log.info("%s/%s: %d parameters, %d steps, validation perplexity %.1f -> %s", lang, name, params, steps,
             final_pp, out)
    return out
