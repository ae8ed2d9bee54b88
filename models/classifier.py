"""Supervised classifiers: a model role beside the language models (``winnow train classifier``).

A classifier is trained on labelled texts, ``label`` 1 = the side to drop (harmful, or low
quality: the manifest's ``label_meaning``) and 0 = the side to keep. Its score column is
``classifier_prob``, the probability of label 1 (higher = drop); threshold rules and the
combined score use it like the LM scores. Two kinds (``--kind``):

* ``linear`` (the default): a logistic regression over the hashed unigrams and bigrams of
  a document's SentencePiece pieces (the pieces the LMs read), each document the mean of
  its features; plain numpy, deterministic, 2-4 MB.
* ``fasttext``: fastText's supervised model on the normalized text's words (punctuation
  split off) and word bigrams, 25 epochs, dim 50 (:data:`FASTTEXT_PARAMS`). It generalizes
  better to some unseen sources (leave-one-source-out, ``bench/cross_source.py``) and
  weighs ~110 MB. The fastText we install (0.9.2, the numpy-2 wheel) stops some trainings
  at random with "Encountered NaN", even with one thread and a fixed seed (8 of 24 settings
  on Davidson's tweets; the same call 2 times in 4 on a small fixture): training tries the
  next seed, up to :data:`FASTTEXT_SEEDS`, and the manifest records the seed that trained
  and the attempts that failed. A model that trained predicts deterministically.
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
FASTTEXT_KIND = "fasttext"
CLASSIFIER_KINDS = (CLASSIFIER_KIND, FASTTEXT_KIND)
CLASSIFIER_NAME = "classifier"
CLASSIFIER_FILE = "classifier.npz"
FASTTEXT_FILE, FASTTEXT_QUANTIZED_FILE = "classifier.bin", "classifier.ftz"
FILES_OF_KIND = {CLASSIFIER_KIND: (CLASSIFIER_FILE,), FASTTEXT_KIND: (FASTTEXT_FILE, FASTTEXT_QUANTIZED_FILE)}
FASTTEXT_PARAMS = {"epoch": 25, "lr": 0.2, "wordNgrams": 2, "dim": 50, "bucket": 500_000, "minCount": 1}
FASTTEXT_SEEDS = 20  # seeds tried in turn when fastText stops with "Encountered NaN"
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


def fasttext_text(lines: Sequence[str]) -> str:
    """A document's normalized lines as one fastText input line: words, punctuation apart."""
    import re

    return " ".join(re.sub(r"([^\w\s])", r" \1 ", " ".join(lines)).split())


def train_classifier(source: LabelledSource, folder: Path, lang: str, *, label_meaning: str, kind: str = CLASSIFIER_KIND,
                     buckets: int = 1 << 20, epochs: int = 150, lr: float = 0.5, l2: float = 1e-7,
                     quantize: bool = False) -> Path:
    """Train the classifier of ``lang`` into ``folder`` (``ROOT/<lang>``, which must hold the
    language's tokenizer for the linear kind); return its path. The same data and parameters
    give the same model (fastText: the same seed)."""
    if label_meaning not in LABEL_MEANINGS:
        raise UsageError(f"label meaning must be one of {', '.join(LABEL_MEANINGS)}, not {label_meaning!r}")
    if kind not in CLASSIFIER_KINDS:
        raise UsageError(f"classifier kind must be one of {', '.join(CLASSIFIER_KINDS)}, not {kind!r}")
    folder = Path(folder)
    if quantize and kind != FASTTEXT_KIND:
        raise UsageError("--quantize applies to --kind fasttext")
    if kind == FASTTEXT_KIND:
        return _train_fasttext(source, folder, lang, label_meaning, quantize=quantize)
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
    usable = _usable_counts(source, labels, len(docs))
    weights, bias = fit(docs, np.array(labels), buckets, epochs=epochs, lr=lr, l2=l2)
    buf = io.BytesIO()
    np.savez_compressed(buf, weights=weights, bias=np.array([bias]))
    out = folder / CLASSIFIER_FILE
    write_atomic(out, buf.getvalue())
    _write_classifier_manifest(
        folder, lang, CLASSIFIER_KIND, out, source,
        params={"label_meaning": label_meaning, "features": "piece unigrams and bigrams, hashed, mean",
                "buckets": buckets, "epochs": epochs, "lr": lr, "l2": l2},
        documents=len(docs), lines=n_lines, usable=usable, start=start, tokenizer=tokenizer_entry(tok_manifest),
        tools={"numpy": np.__version__})
    return out


def _usable_counts(source: LabelledSource, labels: list[int], with_text: int) -> dict[int, int]:
    counts = source.counts
    usable = {y: labels.count(y) for y in (0, 1)}
    if not usable[0] or not usable[1]:
        raise TrainingError(f"{', '.join(source.paths)}: a classifier needs texts of both labels (found "
                            f"{usable[0]} labelled 0 and {usable[1]} labelled 1 with text, "
                            f"{counts['0'] + counts['1'] - with_text} without, {counts['other_label']} "
                            f"with another label, {counts['unreadable']} unreadable)")
    return usable


def _write_classifier_manifest(folder: Path, lang: str, kind: str, out: Path, source: LabelledSource, *,
                               params: dict, documents: int, lines: int, usable: dict, start: float,
                               tokenizer: dict | None, tools: dict) -> None:
    counts = source.counts
    fingerprint = source.text_source().fingerprint()
    fingerprint["selection"]["label_field"] = source.label_field
    write_manifest(folder, {
        "name": CLASSIFIER_NAME, "kind": kind, "role": CLASSIFIER_ROLE, "lang": lang,
        "normalizer": NORMALIZER_VERSION,
        "files": {out.name: file_entry(out)},
        **({"tokenizer": tokenizer} if tokenizer else {}),
        "params": params,
        "training_data": {"fingerprint": fingerprint["fingerprint"], "bytes": counts["bytes"],
                          "documents": documents, "lines": lines,
                          "skipped_records": counts["other_label"] + counts["unreadable"]
                          + counts["0"] + counts["1"] - documents,
                          "sources": fingerprint["sources"], "selection": fingerprint["selection"],
                          "labels": {"0": usable[0], "1": usable[1]}},
        "created_at": now_utc(),
        "train_seconds": round(time.monotonic() - start, 3),
        "tools": tool_versions(**tools),
    })
    for kind_files in FILES_OF_KIND.values():  # the file of the classifier this one replaced goes (its
        for name in kind_files:               # manifest no longer names it)
            if name != out.name:
                (folder / name).unlink(missing_ok=True)
    log.info("%s/%s (%s): %d documents -> %s", lang, CLASSIFIER_NAME, kind, documents, out)


def _fasttext_version() -> str:
    from importlib import metadata

    for dist in ("fasttext-numpy2-wheel", "fasttext-wheel", "fasttext"):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return "unknown"


def _train_fasttext(source: LabelledSource, folder: Path, lang: str, label_meaning: str, *,
                    quantize: bool = False) -> Path:
    import tempfile

    import fasttext

    start = time.monotonic()
    labels, n_lines = [], 0
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", suffix=".txt", dir=folder, prefix=".train-",
                                     delete=False) as f:
        train_path = Path(f.name)
        for text, label in source:
            lines = normalize_lines(text)
            words = fasttext_text(lines)
            if words:
                f.write(f"__label__{label} {words}\n")
                labels.append(label)
                n_lines += len(lines)
    try:
        usable = _usable_counts(source, labels, len(labels))
        failed = []
        for seed in range(FASTTEXT_SEEDS):
            try:
                model = fasttext.train_supervised(input=str(train_path), thread=1, seed=seed, verbose=0,
                                                  **FASTTEXT_PARAMS)
                break
            except RuntimeError as exc:  # "Encountered NaN": see the module docstring
                failed.append(f"seed {seed}: {exc}")
        else:
            raise TrainingError(f"fastText stopped on every one of {FASTTEXT_SEEDS} seeds ({failed[-1]}); train "
                                f"the linear classifier instead (--kind linear)")
    finally:
        train_path.unlink(missing_ok=True)
    if quantize:  # product quantization of the trained vectors, no retraining: ~7x smaller
        model.quantize(input=None, retrain=False, qnorm=False, cutoff=0)
    out = folder / (FASTTEXT_QUANTIZED_FILE if quantize else FASTTEXT_FILE)
    tmp = folder / f".{out.name}.tmp"
    model.save_model(str(tmp))
    tmp.replace(out)
    probe = _probe(model)
    _write_classifier_manifest(
        folder, lang, FASTTEXT_KIND, out, source,
        params={"label_meaning": label_meaning, "features": "normalized words and word bigrams (fastText)",
                **FASTTEXT_PARAMS, "seed": seed, "failed_attempts": len(failed), "quantized": quantize,
                "probe": probe},
        documents=len(labels), lines=n_lines, usable=usable, start=start, tokenizer=None,
        tools={"fasttext": _fasttext_version()})
    return out


@dataclass
class Classifier:
    """A loaded classifier: :meth:`probability` of label 1 for each document. The kinds below."""

    name: str
    manifest: dict

    @property
    def sha256(self) -> str:
        return self.manifest["files"][classifier_file(self.manifest)]["sha256"]

    @property
    def label_meaning(self) -> str:
        return self.manifest["params"]["label_meaning"]

    @property
    def kind(self) -> str:
        return self.manifest["kind"]

    def probability(self, docs_lines, docs_text) -> np.ndarray:
        """P(label 1) of each document, given as its lines' piece ids and its normalized lines."""
        raise NotImplementedError


@dataclass
class LinearClassifier(Classifier):
    """Logistic regression weights over hashed piece n-grams (kind ``linear``)."""

    weights: np.ndarray = None
    bias: float = 0.0

    def probability(self, docs_lines: Sequence[Sequence[Sequence[int]]], docs_text=None) -> np.ndarray:
        """P(label 1) of each document from its lines' piece ids (its normalized lines are not
        read by this kind); NaN for no pieces."""
        buckets = len(self.weights)
        docs = [doc_features(lines, buckets) for lines in docs_lines]
        rows, cols, vals = _design(docs)
        z = np.bincount(rows, weights=self.weights[cols] * vals, minlength=len(docs)) + self.bias
        p = _sigmoid(z)
        p[[len(d) == 0 for d in docs]] = np.nan
        return p


def classifier_file(manifest: dict) -> str | None:
    """The name of the file a classifier's manifest lists for its kind."""
    return next((n for n in FILES_OF_KIND.get(manifest["kind"], ()) if n in manifest["files"]), None)


def load_classifier(folder: Path, manifest: dict, file_path) -> Classifier:
    """The classifier a manifest describes (``file_path(name)``: its verified file)."""
    kind = manifest["kind"]
    if kind not in FILES_OF_KIND:
        raise WinnowModelError(f"{folder}: classifier {manifest['name']!r} is of kind {kind!r}, which this version "
                               f"does not know ({', '.join(CLASSIFIER_KINDS)})")
    name = classifier_file(manifest)
    if name is None:
        raise WinnowModelError(f"{folder}: classifier {manifest['name']!r} lists none of "
                               f"{', '.join(FILES_OF_KIND[kind])}")
    path = file_path(name)
    return load_fasttext_classifier(path, manifest) if kind == FASTTEXT_KIND else load_linear_classifier(path, manifest)


def load_linear_classifier(path: Path, manifest: dict) -> LinearClassifier:
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
    return LinearClassifier(manifest["name"], manifest, weights, bias)


@dataclass
class FastTextClassifier(Classifier):
    """A fastText supervised model (kind ``fasttext``): reads each document's normalized words."""

    model: object = None  # fasttext's _FastText

    def probability(self, docs_lines, docs_text=None) -> np.ndarray:
        """P(label 1) of each document, from its normalized lines; NaN for no words."""
        texts = [fasttext_text(lines) for lines in docs_text]
        p = np.full(len(texts), np.nan)
        todo = [i for i, t in enumerate(texts) if t]
        if todo:
            labels, probs = self.model.predict([texts[i] for i in todo], k=-1, threshold=0.0)
            for i, lab, pr in zip(todo, labels, probs):
                p[i] = float(dict(zip(lab, pr)).get("__label__1", 0.0))
        return p


def _probe(model) -> list[float]:
    """P(label 1) of a few texts made of the model's own words: a damaged file that fastText
    still loads (it reads a truncated file without complaint) predicts other numbers."""
    words = [w for w in model.get_words() if w != "</s>"]
    texts = [" ".join(words[i::5][:40]) or "." for i in range(4)]
    labels, probs = model.predict(texts, k=-1, threshold=0.0)
    return [float(dict(zip(lab, pr)).get("__label__1", 0.0)) for lab, pr in zip(labels, probs)]


def load_fasttext_classifier(path: Path, manifest: dict) -> FastTextClassifier:
    import fasttext

    try:
        model = fasttext.load_model(str(path))
    except (ValueError, RuntimeError, OSError) as exc:
        raise WinnowModelError(f"{path}: not a fastText classifier ({type(exc).__name__}); it is damaged, or not "
                               f"written by `winnow train classifier --kind fasttext`") from None
    if sorted(model.get_labels()) != ["__label__0", "__label__1"]:
        raise WinnowModelError(f"{path}: a fastText classifier with labels {model.get_labels()}, not 0 and 1; "
                               f"retrain it with `winnow train classifier --kind fasttext`")
    expected = manifest["params"].get("probe")
    if not expected or not np.allclose(_probe(model), expected, rtol=0, atol=1e-5):
        raise WinnowModelError(f"{path}: not a fastText classifier as trained (it predicts other numbers than its "
                               f"manifest records); it is damaged: retrain it with `winnow train classifier "
                               f"--kind fasttext`")
    return FastTextClassifier(manifest["name"], manifest, model)
