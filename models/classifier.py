"""Supervised classifiers: a model role beside the language models (``winnow train classifier``).

A classifier is a logistic regression over the hashed unigrams and bigrams of a document's
SentencePiece pieces (the language's tokenizer: the pieces the LMs read), each document the
mean of its features, as fastText's supervised model averages its word and bigram vectors.
It is trained on labelled texts, ``label`` 1 = the side to drop (harmful, or low quality:
the manifest's ``label_meaning``) and 0 = the side to keep. Its score column is
``classifier_prob``, the probability of label 1 (higher = drop); threshold rules and the
combined score use it like the LM scores.

Why not fastText itself: the fastText we install (0.9.2, the numpy-2 wheel) stops
trainings at random with "Encountered NaN", even with one thread and a fixed seed: on
Davidson's tweets, 8 of 24 settings (learning rate 0.1 to 0.5, dim 16 or 32, uni- or
bigrams, two seeds) failed, and the same call failed 2 times in 4 on a small fixture. A
model that trains only sometimes cannot be part of a pipeline; this one is plain numpy,
deterministic, and reads the pieces the scorer has already made. ``bench/cross_source.py``
compares the two on the same texts.
"""
from __future__ import annotations

import io
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from .errors import TrainingError, UsageError, WinnowModelError
from .manifest import file_entry, now_utc, tool_versions, write_atomic, write_manifest
from .normalize import NORMALIZER_VERSION, normalize_lines
from .textio import TextSource, is_jsonl
from .tokenizer import tokenizer_entry, trained_tokenizer

log = logging.getLogger(__name__)

CLASSIFIER_KIND, CLASSIFIER_ROLE = "linear", "classifier"
CLASSIFIER_NAME = "classifier"
CLASSIFIER_FILE = "classifier.npz"
CLASSIFIER_COLUMN = "classifier_prob"
LABEL_MEANINGS = ("harmful", "low_quality")
_BIGRAM_A, _BIGRAM_B = 1_000_003, 7_919  # mixes a piece pair into one hashed feature


@dataclass
class LabelledSource:
    """``(text, label)`` pairs from JSONL files with a text and a 0/1 label field (read by
    :class:`TextSource`, with its ``where`` filters); other labels (-1 = excluded, as the
    shared sets mark them) and unusable records are counted."""

    paths: list[str]
    text_field: str = "text"
    label_field: str = "label"
    where: dict | None = None  # FIELD -> VALUE: only records whose fields hold these values
    counts: dict | None = None

    def __post_init__(self):
        self.paths = [str(p) for p in self.paths]
        bad = [p for p in self.paths if not is_jsonl(p)]
        if bad:
            raise UsageError(f"a classifier trains on JSONL records with {self.text_field!r} and "
                             f"{self.label_field!r} fields; not JSONL: {', '.join(bad)}")
        self.where = dict(self.where or {})
        self.text_source()  # the same checks as for LM training: the files exist

    def text_source(self) -> TextSource:
        return TextSource(self.paths, text_field=self.text_field, where=self.where)

    def __iter__(self) -> Iterator[tuple[str, int]]:
        source = self.text_source()
        self.counts = {"0": 0, "1": 0, "other_label": 0, "unreadable": 0, "bytes": 0}
        for record, text in source.records():
            label = record.get(self.label_field)
            if isinstance(label, float) and label in (0.0, 1.0):
                label = int(label)  # 1.0 as written by pandas
            if not isinstance(label, int) or isinstance(label, bool) or label not in (0, 1):
                self.counts["other_label"] += 1
                continue
            self.counts[str(label)] += 1
            self.counts["bytes"] += len(text.encode("utf-8"))
            yield text, label
        self.counts["unreadable"] = source.skipped


def doc_features(lines: Sequence[Sequence[int]], buckets: int) -> np.ndarray:
    """Hashed feature indices of one document: each piece, and each pair of neighbouring
    pieces within a line (duplicates repeat: a document is the mean of its features)."""
    if not lines:
        return np.empty(0, dtype=np.int64)
    parts = []
    for ids in lines:
        a = np.asarray(ids, dtype=np.int64)
        parts.append(a % buckets)
        if len(a) > 1:
            parts.append((a[:-1] * _BIGRAM_A + a[1:] * _BIGRAM_B + 1) % buckets)
    return np.concatenate(parts)


def _design(docs: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sparse rows as (row of each entry, feature of each entry, weight = 1 / row length)."""
    lengths = np.fromiter((len(d) for d in docs), dtype=np.int64, count=len(docs))
    rows = np.repeat(np.arange(len(docs)), lengths)
    cols = np.concatenate(docs) if len(docs) else np.empty(0, dtype=np.int64)
    vals = np.repeat(1.0 / np.maximum(lengths, 1), lengths)
    return rows, cols, vals


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))


def fit(docs: Sequence[np.ndarray], y: np.ndarray, buckets: int, *, epochs: int = 150, lr: float = 0.5,
        l2: float = 1e-7) -> tuple[np.ndarray, float]:
    """L2-regularized logistic regression by full-batch Adam: (weights, bias)."""
    rows, cols, vals = _design(docs)
    n = len(docs)
    y = np.asarray(y, dtype=np.float64)
    w = np.zeros(buckets)
    b = float(np.log((y.mean() + 1e-9) / (1 - y.mean() + 1e-9)))
    m_w, v_w, m_b, v_b = np.zeros(buckets), np.zeros(buckets), 0.0, 0.0
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    for t in range(1, epochs + 1):
        z = np.bincount(rows, weights=w[cols] * vals, minlength=n) + b
        r = (_sigmoid(z) - y) / n
        g_w = np.bincount(cols, weights=vals * r[rows], minlength=buckets) + l2 * w
        g_b = float(r.sum())
        m_w = beta1 * m_w + (1 - beta1) * g_w
        v_w = beta2 * v_w + (1 - beta2) * g_w * g_w
        m_b = beta1 * m_b + (1 - beta1) * g_b
        v_b = beta2 * v_b + (1 - beta2) * g_b * g_b
        step = lr * np.sqrt(1 - beta2 ** t) / (1 - beta1 ** t)
        w -= step * m_w / (np.sqrt(v_w) + eps)
        b -= step * m_b / (np.sqrt(v_b) + eps)
    return w.astype(np.float32), b


def train_classifier(source: LabelledSource, folder: Path, lang: str, *, label_meaning: str,
                     buckets: int = 1 << 20, epochs: int = 150, lr: float = 0.5, l2: float = 1e-7) -> Path:
    """Train the classifier of ``lang`` into ``folder`` (``ROOT/<lang>``, which must hold the
    language's tokenizer); return its path. The same data and parameters give the same model."""
    if label_meaning not in LABEL_MEANINGS:
        raise TrainingError(f"label meaning must be one of {', '.join(LABEL_MEANINGS)}, not {label_meaning!r}")
    folder = Path(folder)
    tok_manifest, sp = trained_tokenizer(folder, lang, "a classifier")
    start = time.monotonic()
    docs, labels, n_lines = [], [], 0
    for text, label in source:
        lines = normalize_lines(text)
        feats = doc_features(sp.encode(lines), buckets) if lines else np.empty(0, dtype=np.int64)
        if len(feats):
            docs.append(feats)
            labels.append(label)
            n_lines += len(lines)
    counts = source.counts
    usable = {y: labels.count(y) for y in (0, 1)}
    if not usable[0] or not usable[1]:
        raise TrainingError(f"{', '.join(source.paths)}: a classifier needs texts of both labels (found "
                            f"{usable[0]} labelled 0 and {usable[1]} labelled 1 with text, "
                            f"{counts['0'] + counts['1'] - len(docs)} without, {counts['other_label']} "
                            f"with another label, {counts['unreadable']} unreadable)")
    weights, bias = fit(docs, np.array(labels), buckets, epochs=epochs, lr=lr, l2=l2)
    buf = io.BytesIO()
    np.savez_compressed(buf, weights=weights, bias=np.array([bias]))
    out = folder / CLASSIFIER_FILE
    write_atomic(out, buf.getvalue())
    fingerprint = source.text_source().fingerprint()
    fingerprint["selection"]["label_field"] = source.label_field
    write_manifest(folder, {
        "name": CLASSIFIER_NAME, "kind": CLASSIFIER_KIND, "role": CLASSIFIER_ROLE, "lang": lang,
        "normalizer": NORMALIZER_VERSION,
        "files": {CLASSIFIER_FILE: file_entry(out)},
        "tokenizer": tokenizer_entry(tok_manifest),
        "params": {"label_meaning": label_meaning, "features": "piece unigrams and bigrams, hashed, mean",
                   "buckets": buckets, "epochs": epochs, "lr": lr, "l2": l2},
        "training_data": {"fingerprint": fingerprint["fingerprint"], "bytes": counts["bytes"],
                          "documents": len(docs), "lines": n_lines,
                          "skipped_records": counts["other_label"] + counts["unreadable"]
                          + counts["0"] + counts["1"] - len(docs),
                          "sources": fingerprint["sources"], "selection": fingerprint["selection"],
                          "labels": {"0": usable[0], "1": usable[1]}},
        "created_at": now_utc(),
        "train_seconds": round(time.monotonic() - start, 3),
        "tools": tool_versions(numpy=np.__version__),
    })
    log.info("%s/%s: %d documents -> %s", lang, CLASSIFIER_NAME, len(docs), out)
    return out


@dataclass
class Classifier:
    """A loaded classifier: :meth:`probability` of label 1 from each document's pieces."""

    name: str
    manifest: dict
    weights: np.ndarray
    bias: float

    @property
    def sha256(self) -> str:
        return self.manifest["files"][CLASSIFIER_FILE]["sha256"]

    @property
    def label_meaning(self) -> str:
        return self.manifest["params"]["label_meaning"]

    def probability(self, docs_lines: Sequence[Sequence[Sequence[int]]]) -> np.ndarray:
        """P(label 1) of each document, given as its lines' piece ids; NaN for no pieces."""
        buckets = len(self.weights)
        docs = [doc_features(lines, buckets) for lines in docs_lines]
        rows, cols, vals = _design(docs)
        z = np.bincount(rows, weights=self.weights[cols] * vals, minlength=len(docs)) + self.bias
        p = _sigmoid(z)
        p[[len(d) == 0 for d in docs]] = np.nan
        return p


def load_classifier(path: Path, manifest: dict) -> Classifier:
    import zipfile

    try:
        data = np.load(path, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise ValueError("not an .npz archive")
        with data:
            weights, bias = data["weights"], float(data["bias"][0])
    except (OSError, ValueError, KeyError, IndexError, EOFError, TypeError, zipfile.BadZipFile) as exc:
        raise WinnowModelError(f"{path}: not a Winnow classifier ({type(exc).__name__}); it is damaged, or not "
                               f"written by `winnow train classifier`") from None
    if weights.ndim != 1 or not len(weights) or weights.dtype.kind != "f" or not np.isfinite(weights).all() \
            or not np.isfinite(bias):
        raise WinnowModelError(f"{path}: classifier {manifest['name']!r} holds no usable weights; retrain it with "
                               f"`winnow train classifier`")
    return Classifier(manifest["name"], manifest, weights, bias)
