"""Scoring documents with a language's model set, under DESIGN.md's scoring contract.

* A document is normalized and split into lines; each non-empty line is encoded with
  SentencePiece and scored by each LM with ``<s>`` and ``</s>``.
* ``PP(doc) = 10 ** (-sum(log10 P(line)) / sum(n_pieces(line) + 1))``: ``</s>`` counts as
  a token, ``<s>`` does not.
* With a harmful LM and a reference LM of the same kind (the benign one when the set has
  one, else the clean one), ``{kind}_log_ratio`` is ``log10 PP_harmful - log10 PP_reference``
  (a cross-entropy difference, per token): the lower it is, the more the document looks
  like the harmful training text.
* With a clean LM and a corpus LM of the same kind (trained on a sample of the corpus being
  filtered), ``{kind}_contrast`` is ``log10 PP_clean - log10 PP_corpus`` (Moore-Lewis
  cross-entropy difference): the higher, the less the document looks like clean text
  compared with the corpus at large. Unlike the clean PP alone, it discounts what every
  document of the corpus shares (its register, boilerplate, domain vocabulary).
* ``kenlm_harmful_share``: the share of a document's tokens that lie in lines the harmful
  KenLM finds likelier than its reference (per-line log-ratio below 0). It does not grow
  or shrink with the document's length, and it sees one bad paragraph in a long page that
  the document's mean log-ratio averages away.
* ``classifier_prob``: the classifier's probability of label 1 (``models/classifier.py``).

Raw float scores are kept (never rounded); directions come from each model's manifest.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from .kenlm_native import NativeKenLM
from .modelset import LanguageModel, ModelSet
from .normalize import normalize_lines
from .perplexity import log10_perplexity, perplexity


@dataclass(frozen=True)
class LMScore:
    log10_prob: float
    n_tokens: int  # pieces + one </s> per line

    @property
    def perplexity(self) -> float:
        return perplexity(self.log10_prob, self.n_tokens)


def column(name: str) -> str:
    """Score-column prefix of a model name: ``kenlm-clean`` -> ``kenlm_clean``."""
    return name.replace("-", "_").replace(".", "_")


@dataclass
class DocumentScore:
    n_lines: int
    n_pieces: int
    lms: dict[str, LMScore]
    log_ratios: dict[str, float] = field(default_factory=dict)
    # Other score columns derived from the models: {kind}_contrast, kenlm_harmful_share, classifier_prob
    derived: dict[str, float] = field(default_factory=dict)
    # per LM: [(log10_prob, n_tokens), ...] for each scored line, when asked for
    lines: dict[str, list[tuple[float, int]]] | None = None

    @property
    def n_tokens(self) -> int:
        """The scoring contract's token count: the pieces and one ``</s>`` per line."""
        return self.n_pieces + self.n_lines

    def to_dict(self) -> dict:
        """Flat columns: ``n_lines``, ``n_pieces``, ``<lm>_log10p``, ``<lm>_tokens``, ``<lm>_pp``, ``<kind>_log_ratio``."""
        out: dict = {"n_lines": self.n_lines, "n_pieces": self.n_pieces}
        for name, s in self.lms.items():
            col = column(name)
            out[f"{col}_log10p"] = s.log10_prob
            out[f"{col}_tokens"] = s.n_tokens
            out[f"{col}_pp"] = s.perplexity
        for kind, value in self.log_ratios.items():
            out[f"{kind}_log_ratio"] = value
        out.update(self.derived)
        return out


class Scorer:
    """Scores batches of documents with every LM of one :class:`ModelSet`.

    ``whole_document=True`` scores each document as a single line (normalized lines
    joined by spaces), which is what CCNet effectively does; kept for comparison.
    """

    def __init__(self, model_set: ModelSet, *, per_line: bool = False, whole_document: bool = False,
                 pairs: dict[str, tuple[str, str]] | None = None):
        """``pairs``: the log-ratios to compute (kind -> (reference LM, harmful LM)); by
        default those of ``model_set``. A Scorer for part of a model set passes the whole
        set's pairs it can compute, so a ratio never changes its reference."""
        self.model_set = model_set
        self.per_line = per_line
        self.whole_document = whole_document
        self._encode = model_set.tokenizer.encode
        self._ratio_pairs = ratio_pairs(model_set) if pairs is None else pairs
        self._contrast_pairs = contrast_pairs(model_set)

    def score(self, texts: Sequence[str]) -> list[DocumentScore]:
        doc_lines = [normalize_lines(t) for t in texts]
        if self.whole_document:
            doc_lines = [[" ".join(lines)] if lines else [] for lines in doc_lines]
        flat = [line for lines in doc_lines for line in lines]
        ids = self._encode(flat) if flat else []
        lens = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
        n_tokens = (lens + 1).tolist()  # pieces + </s>
        bounds = []
        start = 0
        for lines in doc_lines:
            bounds.append((start, start + len(lines)))
            start += len(lines)
        line_scores = {}  # KenLM: per line, summed per document below
        doc_scores = {}   # neural: per document (scored on a bounded number of tokens)
        for name, lm in self.model_set.lms.items():
            if lm.kind == "neural":
                doc_scores[name] = self._neural_docs(lm, ids, bounds)
            else:
                line_scores[name] = self._score_lines(lm, ids, lens)

        classifier = self.model_set.classifier
        probs = classifier.probability([ids[a:b] for a, b in bounds], doc_lines) if classifier is not None else None
        share_pair = self._ratio_pairs.get("kenlm")
        if share_pair and not set(share_pair) <= set(line_scores):
            share_pair = None
        results = []
        for start, end in bounds:
            ntok = sum(n_tokens[start:end])
            lms = {name: LMScore(math.fsum(ls[start:end]), ntok) for name, ls in line_scores.items()}
            for name, per_doc in doc_scores.items():
                lms[name] = per_doc[len(results)]
            doc = DocumentScore(n_lines=end - start, n_pieces=ntok - (end - start), lms=lms)
            for kind, (clean, harmful) in self._ratio_pairs.items():
                doc.log_ratios[kind] = _log_pp_difference(lms[harmful], lms[clean])
            for kind, (clean, corpus) in self._contrast_pairs.items():
                doc.derived[f"{kind}_contrast"] = _log_pp_difference(lms[clean], lms[corpus])
            if share_pair:
                reference, harmful = share_pair
                doc.derived["kenlm_harmful_share"] = _harmful_share(
                    line_scores[harmful][start:end], line_scores[reference][start:end], n_tokens[start:end])
            if probs is not None:
                doc.derived["classifier_prob"] = float(probs[len(results)])
            if self.per_line:
                doc.lines = {name: list(zip(ls[start:end], n_tokens[start:end])) for name, ls in line_scores.items()}
            results.append(doc)
        return results

    def _neural_docs(self, lm: LanguageModel, ids: list[list[int]], bounds) -> list[LMScore]:
        """Each document's first ``max_doc_tokens`` tokens, scored by a neural LM in one batch."""
        from .neural import truncate_lines

        budget = lm.model.cfg.max_doc_tokens
        flat, owner = [], []
        for d, (start, end) in enumerate(bounds):
            for line in truncate_lines(ids[start:end], budget):
                flat.append(line)
                owner.append(d)
        logp, counts = lm.model.score_lines(flat) if flat else ([], [])
        sums = [[0.0, 0] for _ in bounds]
        parts: list[list[float]] = [[] for _ in bounds]
        for d, lp, n in zip(owner, logp, counts):
            parts[d].append(lp)
            sums[d][1] += n
        return [LMScore(math.fsum(parts[d]), sums[d][1]) for d in range(len(bounds))]

    def _score_lines(self, lm: LanguageModel, ids: list[list[int]], lens: np.ndarray) -> list[float]:  # KenLM
        """log10 P of each line (pieces + </s>, from <s>), summed in double precision."""
        if isinstance(lm.model, NativeKenLM):
            flat = np.fromiter(itertools.chain.from_iterable(ids), dtype=np.int64, count=int(lens.sum()))
            return lm.model.score_lines(lm.vocab_map[flat], lens).tolist()
        # kenlm.Model.score sums in 32-bit floats (about 1e-7 relative error); summing
        # full_scores' per-token values keeps double precision.
        words = self.model_set.words
        full_scores = lm.model.full_scores
        return [sum([t[0] for t in full_scores(" ".join([words[i] for i in line]), bos=True, eos=True)])
                for line in ids]

    def score_dicts(self, texts: Sequence[str]) -> list[dict]:
        return [d.to_dict() for d in self.score(texts)]


def _names_by_kind_and_role(model_set: ModelSet) -> dict[str, dict[str, list[str]]]:
    by_kind: dict[str, dict[str, list[str]]] = {}
    for name, lm in model_set.lms.items():
        by_kind.setdefault(lm.kind, {}).setdefault(lm.role, []).append(name)
    return by_kind


def ratio_pairs(model_set: ModelSet) -> dict[str, tuple[str, str]]:
    """kind -> (reference LM name, harmful LM name) of each kind's log-ratio: the benign LM
    when the kind has one (same-domain harmless text), else the clean one."""
    out = {}
    for kind, roles in _names_by_kind_and_role(model_set).items():
        reference = roles.get("benign") or roles.get("clean") or []
        if len(reference) == 1 and len(roles.get("harmful", [])) == 1:
            out[kind] = (reference[0], roles["harmful"][0])
    return out


def contrast_pairs(model_set: ModelSet) -> dict[str, tuple[str, str]]:
    """kind -> (clean LM name, corpus LM name) of each kind's contrast (one of each role)."""
    return {kind: (roles["clean"][0], roles["corpus"][0]) for kind, roles in _names_by_kind_and_role(model_set).items()
            if len(roles.get("clean", [])) == 1 and len(roles.get("corpus", [])) == 1}


def _harmful_share(harmful: list[float], reference: list[float], n_tokens: list[int]) -> float:
    """Share of the tokens in lines the harmful LM finds likelier than the reference LM."""
    total = sum(n_tokens)
    if total <= 0:
        return math.nan
    return sum(n for h, r, n in zip(harmful, reference, n_tokens) if h > r) / total


def _log_pp_difference(a: LMScore, b: LMScore) -> float:
    """log10 PP_a - log10 PP_b (the log-ratio, the contrast)."""
    return log10_perplexity(a.log10_prob, a.n_tokens) - log10_perplexity(b.log10_prob, b.n_tokens)
