"""Shared fixtures: tiny models trained once per test session from tests/fixtures/text."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from winnow.models.kenlm_lm import train_kenlm
from winnow.models.textio import TextSource
from winnow.models.tokenizer import train_tokenizer

FIXTURES = Path(__file__).parent / "fixtures"
TEXT = FIXTURES / "text"
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

# Small models train in well under a second with a small lmplz memory cap.
TINY = {"vocab_size": 300}
TINY_LM = {"order": 3, "memory": "64M"}


def shared_data(*parts: str) -> Path:
    """A path under ../shared/data, or skip the test when the shared corpora are absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs the shared corpora ({path}); absent in a fresh clone")
    return path


def build_models(root: Path) -> Path:
    """Tokenizers for en/de/fr, clean LMs for all three, a harmful LM for en."""
    for lang in ("en", "de", "fr"):
        folder = root / lang
        inputs = sorted(TEXT.glob(f"{lang}_*.txt"))
        train_tokenizer(TextSource(inputs), folder, lang, **TINY)
        train_kenlm(TextSource([TEXT / f"{lang}_clean.txt"]), folder, lang, "clean", **TINY_LM)
    train_kenlm(TextSource([TEXT / "en_harmful.txt"]), root / "en", "en", "harmful", **TINY_LM)
    return root


@pytest.fixture(scope="session")
def models_root(tmp_path_factory) -> Path:
    """A models root trained once per session. Treat as read-only; copy to modify."""
    return build_models(tmp_path_factory.mktemp("models"))


@pytest.fixture
def models_copy(models_root, tmp_path) -> Path:
    """A private, modifiable copy of the session's models root."""
    dest = tmp_path / "models"
    shutil.copytree(models_root, dest)
    return dest


@pytest.fixture(scope="session")
def lid():
    from winnow.models import LanguageIdentifier

    return LanguageIdentifier()


SAMPLE_WEB = Path(__file__).resolve().parents[1] / "sample" / "web"

# Hand-written thresholds for the fixture models (en/de/fr).
FIXTURE_THRESHOLDS = {
    "thresholds_version": 1,
    "version": "fixture-v1",
    "languages": {
        "en": {"min_tokens": 5, "rules": [{"score": "kenlm_log_ratio", "value": -0.3, "reason": "harmful"},
                                          {"score": "kenlm_clean_pp", "value": 150, "reason": "low_quality"}]},
        "de": {"rules": [{"score": "kenlm_clean_pp", "value": 150, "reason": "low_quality"}]},
        "fr": {"rules": [{"score": "kenlm_clean_pp", "value": 150, "reason": "low_quality"}]},
    },
}


@pytest.fixture(scope="session")
def thresholds_file(tmp_path_factory) -> Path:
    import json

    path = tmp_path_factory.mktemp("thresholds") / "thresholds.json"
    path.write_text(json.dumps(FIXTURE_THRESHOLDS))
    return path
