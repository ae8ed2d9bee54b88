"""The perplexity formula and the scale scores are compared on: one home for both.

The scoring contract (DESIGN.md): a document's token count is its pieces plus one ``</s>``
per line, and ``PP = 10 ** (-log10 P / n_tokens)``. Every scorer (KenLM, neural), the
tuner, the router and the report use these functions:

* :func:`perplexity` and :func:`log10_perplexity` (NaN for a document without tokens);
* :func:`to_scale` / :func:`from_scale`: perplexities (and token counts) are learned on,
  drawn on and combined on a log10 scale (a value <= 0 has none: NaN); every other score
  as it is.
"""
from __future__ import annotations

import math

import numpy as np

LOG10 = "log10"
RAW = "raw"


def log10_perplexity(log10_prob: float, n_tokens: int) -> float:
    """log10 PP = -log10 P / n_tokens; NaN for a document with no tokens."""
    if n_tokens <= 0:
        return math.nan
    return -log10_prob / n_tokens


def perplexity(log10_prob: float, n_tokens: int) -> float:
    """The scoring contract's perplexity; NaN for a document with no tokens."""
    return 10.0 ** log10_perplexity(log10_prob, n_tokens)


def scale_of(score: str) -> str:
    """The scale a score is compared on: ``log10`` for perplexities (``*_pp``) and the token
    count (``n_tokens``), else ``raw``."""
    return LOG10 if score.endswith("_pp") or score == "n_tokens" else RAW


def to_scale(score: str, values):
    """Values (a number or an array) on ``score``'s scale; NaN where a perplexity is <= 0."""
    if scale_of(score) == RAW:
        return values
    if np.ndim(values) == 0:
        v = float(values)
        return math.log10(v) if v > 0 else math.nan
    arr = np.asarray(values, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(arr > 0, np.log10(np.where(arr > 0, arr, 1.0)), np.nan)


def from_scale(score: str, value: float) -> float:
    """A value on ``score``'s scale back in the score's own units."""
    return float(10.0 ** value) if scale_of(score) == LOG10 else float(value)
