"""``winnow.Filter``: Winnow from Python (a notebook, a script, someone else's loop).

    from winnow import Filter

    f = Filter(models="models/", thresholds="thresholds.json")   # loads and verifies once
    rows = f.decide(["A first document.", {"id": "d2", "text": "A second one."}])
    rows[0]["route"], rows[0]["reason"], rows[0]["kenlm_clean_pp"]

Each row is the row ``winnow run`` writes for that document (``schemas/arrow.py``): the
language, the scores, the route (keep or drop; ``scored`` without thresholds), the reason,
and the rule and value that decided. An item that is no document (not a text or a dict, no
text field, a text that is not a string) gets a dead-letter row with route ``rejected``, its
reason and detail, so the rows always line up with the items.
"""
from __future__ import annotations

from typing import Iterable

from winnow.pipeline.readers import DOC, REJECTED, ReaderOptions, input_document
from winnow.pipeline.stages import LANG_MIN_PROB

__all__ = ["Filter"]


class Filter:
    """The models under ``models`` (a models root: local, or a URI such as gs://) and the
    thresholds (a thresholds file's path or its content; None scores without deciding),
    loaded and checked once. A bad model or thresholds file fails here, with its reason."""

    def __init__(self, models: str, thresholds: "str | dict | None" = None, *, keep_unscored: bool = False,
                 lang_fallback: str | None = None, lang_min_prob: float = LANG_MIN_PROB, batch_size: int = 256,
                 reader: ReaderOptions = ReaderOptions()):
        from winnow.pipeline.units import build_processor, filter_config

        self.config = filter_config(models, thresholds, keep_unscored=keep_unscored, batch_size=batch_size,
                                    lang_fallback=lang_fallback, lang_min_prob=lang_min_prob)
        self.reader = reader
        self.processor = build_processor(self.config)

    @property
    def languages(self) -> list[str]:
        """The languages with a model set."""
        return sorted(self.processor.scorers)

    @property
    def thresholds_version(self) -> str | None:
        return self.processor.thresholds_version

    def decide(self, items: Iterable) -> list[dict]:
        """One row per item (a text, or a dict with a ``text`` field and optionally ``id``,
        ``url``), in the order given; a single text or dict gives a list of one row."""
        if isinstance(items, (str, dict)):
            items = [items]  # one text or record: one row, not one per character
        rows: list[dict] = []
        batch: list[tuple[int, dict]] = []

        def flush():
            for (at, _), row in zip(batch, self.processor.process([doc for _, doc in batch])):
                rows[at] = row
            batch.clear()

        for index, item in enumerate(items):
            kind, record = input_document(item, self.reader, source="<python>", index=index)
            rows.append({**record, "route": REJECTED} if kind != DOC else None)
            if kind == DOC:
                batch.append((index, record))
                if len(batch) >= self.config.batch_size:
                    flush()
        if batch:
            flush()
        return rows

    def __repr__(self) -> str:
        return (f"Filter(models={self.config.models!r}, thresholds={self.thresholds_version!r}, "
                f"languages={self.languages})")
