"""Everything about language models, with no Beam: normalizer, tokenizers, KenLM, language ID.

A notebook user needs three calls::

    from winnow.models import load_model_set, Scorer
    scorer = Scorer(load_model_set("models/", "en"))
    scorer.score_dicts(["Some text.", "More text\\nover two lines."])

or, with language ID choosing the model set::

    from winnow.models import score_texts
    score_texts(texts, models="models/")
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from .errors import ToolNotFoundError, TrainingError, WinnowModelError
from .langid import LanguageIdentifier
from .modelset import ModelSet, available_languages, load_model_sets
from .normalize import NORMALIZER_VERSION, normalize, normalize_lines
from .perplexity import perplexity
from .scorer import DocumentScore, LMScore, Scorer

__all__ = [
    "NORMALIZER_VERSION", "normalize", "normalize_lines",
    "ModelSet", "load_model_set", "load_model_sets", "available_languages",
    "Scorer", "DocumentScore", "LMScore", "perplexity", "score_texts", "score_by_language",
    "LanguageIdentifier", "WinnowModelError", "TrainingError", "ToolNotFoundError",
]


def load_model_set(models: str | Path, lang: str, *, verify: bool | str = True, native: bool = True) -> ModelSet:
    """Load and verify the model set of ``lang`` under the models root ``models``."""
    return load_model_sets(models, [lang], verify=verify, native=native)[lang]


def score_texts(
    texts: Sequence[str],
    models: str | Path,
    lang: str | None = None,
    *,
    lid: LanguageIdentifier | None = None,
) -> list[dict]:
    """Score ``texts``; one flat dict per text with ``lang`` (and ``lang_prob``) and scores.

    With ``lang=None`` each text's language is identified with fastText and scored by that
    language's model set; a text whose language has no model set gets only ``lang``.
    """
    sets = load_model_sets(models, [lang] if lang else None)
    return score_by_language(texts, {code: Scorer(ms) for code, ms in sets.items()}, lang=lang,
                             lid=None if lang else (lid or LanguageIdentifier()))


def score_by_language(texts: Sequence[str], scorers: dict, *, lang: str | None = None,
                      lid: LanguageIdentifier | None = None) -> list[dict]:
    """Each text scored by its language's Scorer: ``lang`` for all, or identified by ``lid``.

    ``lang_prob`` is fastText's probability, or None when the language was given.
    """
    predictions = [(lang, None)] * len(texts) if lang else lid.predict(texts)
    out = [{"lang": code, "lang_prob": prob} for code, prob in predictions]
    by_lang: dict[str, list[int]] = {}
    for i, (code, _) in enumerate(predictions):
        by_lang.setdefault(code, []).append(i)
    for code, idx in by_lang.items():
        if code in scorers:
            for i, scores in zip(idx, scorers[code].score_dicts([texts[i] for i in idx])):
                out[i].update(scores)
    return out
