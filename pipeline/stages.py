"""The pure stages of ``winnow run`` (no engine): score + route a batch, write shards.

* :class:`DocumentProcessor`: language ID -> the language's model set -> scores
  (normalize, encode, KenLM) -> routing decision, for a batch of documents;
* the shards they go to: ``shards.py`` (the output format's one home);
* :func:`summarize`: per-file counts -> the run summary that reconciles
  read = kept + dropped + rejected (+ scored).
"""
from __future__ import annotations

import json
import logging
import time
from collections import Counter

from winnow.models.langid import LanguageIdentifier
from winnow.models.scorer import Scorer, column, ratio_pairs
from winnow.schemas.arrow import SCORE_COLUMNS

from .readers import REJECTED  # the route of a dead letter, as readers tag one
from .routing import DROP, KEEP, SCORED, UNDETERMINED, Router

log = logging.getLogger(__name__)

# --lang-min-prob's default: on the shared English sets, texts sent to another language fall
# from 4.19% to 1.08% (P 0.5: 1.41%, 0.7: 0.74%), and 21% of non-English sentences would be
# scored as English (P 0.5: 17%; bench/lang_fallback.py).
LANG_MIN_PROB = 0.6


def _hashes(model_set, tokenizer: bool = False) -> list[tuple[str, str]]:
    head = [("sentencepiece", model_set.tokenizer_manifest["files"]["sentencepiece.model"]["sha256"])]
    return (head if tokenizer else []) + model_set.hashes()


class DocumentProcessor:
    """Scores and routes batches of documents. Holds the models; build once per process."""

    def __init__(self, model_sets: dict, router: Router, *, thresholds_version: str | None = None,
                 lid: LanguageIdentifier | None = None, lang_fallback: str | None = None,
                 lang_min_prob: float = LANG_MIN_PROB):
        self.lid = lid or LanguageIdentifier()
        # Short and mixed texts: below lang_min_prob, fastText's guess gives way to
        # lang_fallback's model set (rows say so in lang_fallback).
        self.lang_fallback, self.lang_min_prob = lang_fallback, lang_min_prob
        self.router = router
        self.thresholds_version = thresholds_version
        # Only the models a language's rules read score its documents (every model in a
        # score-only run); in a cascade, KenLM scores every document and the neural LMs
        # only those in an uncertain band.
        self.scorers: dict[str, Scorer] = {}  # lang -> the Scorer every document of the language meets
        self.cascade_sets: dict = {}  # lang -> its model set, where a cascade may send documents to its neural LMs
        for lang, ms in model_sets.items():
            kinds = router.lm_kinds(lang)
            self.scorers[lang] = Scorer(ms if kinds is None else ms.only(*kinds))
            if kinds is not None and "neural" not in kinds and router.cascades(lang) and ms.only("neural").lms:
                self.cascade_sets[lang] = ms
        self._cascade_scorers: dict = {}  # (lang, model names) -> Scorer with just those neural LMs
        self.neural_scored = 0  # documents the cascade sent to a neural LM
        # Provenance: the tokenizer and the models that scored a document.
        self.model_hashes = {lang: _hashes(sc.model_set, tokenizer=True) for lang, sc in self.scorers.items()}

    def _cascade_scorer(self, lang: str, cascade_scores: set[str]) -> Scorer:
        """A Scorer with only the neural LMs these cascade scores need (neural_clean_pp: the
        clean LM; neural_log_ratio: its harmful and reference LMs), built once per combination."""
        ms = self.cascade_sets[lang]
        names = {name for name, lm in ms.lms.items() if lm.kind == "neural" and f"{column(name)}_pp" in cascade_scores}
        if "neural_log_ratio" in cascade_scores:
            names |= set(ratio_pairs(ms).get("neural", ()))
        names = frozenset(names)
        key = (lang, names)
        if key not in self._cascade_scorers:
            pairs = {kind: pair for kind, pair in ratio_pairs(ms).items() if set(pair) <= names}
            self._cascade_scorers[key] = Scorer(ms.named(names), pairs=pairs)
        return self._cascade_scorers[key]

    def process(self, docs: list[dict]) -> list[dict]:
        """Rows of ``DOCUMENT_SCHEMA`` (with ``lang``), in the order of ``docs``."""
        from .routing import has_content

        rows = [self._base_row(d) for d in docs]
        for row in rows:  # NULs, controls, invisible characters: nothing left once normalized
            if row["n_lines"] is None and not has_content(row["text"]):
                row["n_lines"] = 0
        todo = [i for i, d in enumerate(docs) if not d.get("skip") and rows[i]["n_lines"] != 0]
        if todo:
            for i, (lang, prob) in zip(todo, self.lid.predict([docs[i]["text"] for i in todo])):
                rows[i]["lang"], rows[i]["lang_prob"] = lang, prob
                if self.lang_fallback and prob < self.lang_min_prob and lang != self.lang_fallback:
                    rows[i]["lang"], rows[i]["lang_fallback"] = self.lang_fallback, True
        by_lang: dict[str, list[int]] = {}
        for i in todo:
            if rows[i]["lang"] in self.scorers:
                by_lang.setdefault(rows[i]["lang"], []).append(i)
        for lang, idx in by_lang.items():
            self._fill(rows, idx, self.scorers[lang].score([docs[j]["text"] for j in idx]))
            for i in idx:
                rows[i]["models"] = self.model_hashes[lang]
            if lang in self.cascade_sets:
                groups: dict[int, tuple[Scorer, list[int]]] = {}  # one batch per set of neural LMs
                for i in idx:
                    need = self.router.cascade_scores(lang, rows[i])
                    if need:
                        scorer = self._cascade_scorer(lang, need)
                        groups.setdefault(id(scorer), (scorer, []))[1].append(i)
                for scorer, todo in groups.values():
                    self._fill(rows, todo, scorer.score([docs[j]["text"] for j in todo]), counts=False)
                    self.neural_scored += len(todo)
                    for i in todo:
                        rows[i]["models"] = self.model_hashes[lang] + _hashes(scorer.model_set)
        for doc, row in zip(docs, rows):
            decision = self.router.decide(skip=doc.get("skip"), lang=row["lang"], n_lines=row["n_lines"],
                                          n_tokens=row["n_tokens"], scores=row)
            row["route"], row["reason"] = decision.route, decision.reason
            row["decided_by"] = decision.decided_by
            row["decided_rule"], row["decided_value"] = decision.rule, decision.value
        return rows

    @staticmethod
    def _fill(rows, idx, scores, counts: bool = True) -> None:
        for i, s in zip(idx, scores):
            row = rows[i]
            if counts:
                row["n_lines"] = s.n_lines
                row["n_tokens"] = s.n_tokens
            for name, lm_score in s.lms.items():
                row[f"{column(name)}_log10p"] = lm_score.log10_prob
                row[f"{column(name)}_pp"] = lm_score.perplexity
            for kind, value in s.log_ratios.items():
                row[f"{kind}_log_ratio"] = value
            row.update(s.derived)

    def _base_row(self, doc: dict) -> dict:
        text = doc["text"]
        row = {k: doc[k] for k in ("doc_id", "source_file", "record_index", "record_offset", "url", "warc_record_id")}
        row.update(text=text, n_chars=len(text), lang=UNDETERMINED, lang_prob=0.0, lang_fallback=False,
                   n_lines=0 if not text.strip() else None, n_tokens=None, models=None,
                   thresholds_version=self.thresholds_version, decided_by=None, decided_rule=None,
                   decided_value=None)
        for name in SCORE_COLUMNS:
            row[name] = None
        return row


class Progress:
    """Logs documents/s and MB/s at most every ``interval`` seconds (local runs)."""

    def __init__(self, interval: float = 5.0, enabled: bool = True):
        self.interval = interval
        self.enabled = enabled
        self.start = self.last = time.monotonic()
        self.docs = 0
        self.bytes = 0

    def add(self, docs: int, nbytes: int) -> None:
        self.docs += docs
        self.bytes += nbytes
        now = time.monotonic()
        if self.enabled and now - self.last >= self.interval:
            self.last = now
            secs = now - self.start
            log.info("progress: %d documents, %.1f MB, %.0f docs/s, %.2f MB/s", self.docs, self.bytes / 1e6,
                     self.docs / secs, self.bytes / 1e6 / secs)


NOT_SAMPLED = "not_sampled"  # winnow sample: read, but not drawn into the sample


def summarize(file_results: list[dict], *, score_only: bool, mode: str | None = None) -> dict:
    """Reconcile per-file counts into ``schemas/run_summary.schema.json``."""
    by_route: Counter = Counter()
    by_lang: dict[str, Counter] = {}
    by_reason: dict[str, Counter] = {}
    by_input: dict[str, Counter] = {}
    files = []
    nbytes = 0
    neural = 0
    fallback = 0
    for res in file_results:
        per_input = by_input.setdefault(res["source_file"], Counter())
        for (route, lang, reason), n in res["counts"]:
            by_route[route] += n
            per_input[route] += n
            if route not in (REJECTED, NOT_SAMPLED):
                by_lang.setdefault(lang, Counter())[route] += n
            if reason:
                by_reason.setdefault(route, Counter())[reason] += n
        files.extend(res["files"])
        nbytes += res["bytes"]
        neural += res.get("neural_scored", 0)
        fallback += res.get("lang_fallback", 0)
    read = sum(by_route.values())
    summary = {
        "summary_version": 1,
        "read": read,
        "kept": by_route[KEEP],
        "dropped": by_route[DROP],
        "rejected": by_route[REJECTED],
        "scored": by_route[SCORED],
        "mode": mode or ("score-only" if score_only else "route"),
        "by_lang": {lang: dict(c, read=sum(c.values())) for lang, c in sorted(by_lang.items())},
        "by_reason": {route: dict(sorted(c.items())) for route, c in sorted(by_reason.items())},
        "by_input": {name: dict(c, read=sum(c.values())) for name, c in sorted(by_input.items())},
        "bytes_read": nbytes,
        "files": sorted(set(files)),
    }
    if by_route[NOT_SAMPLED]:
        summary[NOT_SAMPLED] = by_route[NOT_SAMPLED]
    if neural:
        summary["neural_scored"] = neural  # documents the cascade sent to a neural LM
    if fallback:
        summary["lang_fallback"] = fallback  # documents fastText was unsure of, given --lang-fallback
    return summary


def summary_json(summary: dict) -> bytes:
    return (json.dumps(summary, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
