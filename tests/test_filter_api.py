"""winnow.Filter: the notebook API (models load once; rows line up with the items)."""
import re
from pathlib import Path

import pytest

from conftest import FIXTURE_THRESHOLDS
from winnow import Filter
from winnow.pipeline.routing import ThresholdsError

README = Path(__file__).resolve().parents[1] / "README.md"


def test_decide_rows_line_up_with_the_items(models_root, thresholds_file, monkeypatch):
    f = Filter(models=str(models_root), thresholds=str(thresholds_file))
    assert f.languages == ["de", "en", "fr"] and f.thresholds_version == "fixture-v1"
    items = ["The committee published its annual report on regional water supplies and the cost of repairs.",
             {"id": "d2", "text": "ok", "url": "https://example.org/"}, 7, {"body": "no text field"}]
    rows = f.decide(items)
    assert [r["route"] for r in rows[1:]] == ["drop", "rejected", "rejected"]
    assert rows[0]["route"] in ("keep", "drop") and rows[0]["lang"] == "en" and rows[0]["kenlm_clean_pp"] > 0
    assert rows[1]["doc_id"] == "d2" and rows[1]["reason"] == "too_short" and rows[1]["url"] == "https://example.org/"
    assert rows[2]["reason"] == "not_an_object" and rows[3]["reason"] == "missing_field"
    # The same rows as one call per item: batching changes nothing, and models stay loaded.
    assert [r["record_index"] for r in rows] == [0, 1, 2, 3]  # the item's position
    from winnow.models import ModelSet
    from winnow.pipeline import units

    def no_loading(*args, **kwargs):
        raise AssertionError("decide loaded models again")

    monkeypatch.setattr(units, "build_processor", no_loading)
    monkeypatch.setattr(ModelSet, "load", no_loading)
    alone = lambda row: {k: v for k, v in row.items() if k not in ("record_index", "doc_id")}  # noqa: E731
    assert [alone(f.decide([item])[0]) for item in items] == [alone(r) for r in rows]


def test_batches_and_score_only(models_root):
    f = Filter(models=str(models_root), batch_size=2)
    texts = [f"Document number {i} says something about the weather and the roads." for i in range(5)]
    rows = f.decide(iter(texts))  # any iterable
    assert [r["route"] for r in rows] == ["scored"] * 5 and [r["text"] for r in rows] == texts
    assert len({r["doc_id"] for r in rows}) == 5 and rows[0]["doc_id"].startswith("sha1:")


def test_bad_thresholds_fail_at_construction(models_root, tmp_path):
    bad = {**FIXTURE_THRESHOLDS, "languages": {"xx": {"rules": [{"score": "kenlm_clean_pp", "value": 1,
                                                                  "reason": "low_quality"}]}}}
    with pytest.raises(ThresholdsError, match="xx"):
        Filter(models=str(models_root), thresholds=bad)


def test_readme_example_runs(models_root, thresholds_file, monkeypatch, tmp_path):
    """The README's "From Python" example, run as written (with the fixture models)."""
    text = README.read_text()
    code = re.search(r"<!-- filter-example -->\s*```python\n(.*?)```", text, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models").symlink_to(models_root)
    (tmp_path / "thresholds.json").write_text(thresholds_file.read_text())
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)  # noqa: S102 - our own README
    assert scope["rows"][0]["route"] in ("keep", "drop")


def test_one_text_is_one_row_and_user_fields_are_not_winnows(models_root):
    f = Filter(models=str(models_root))
    assert len(f.decide("Hello there, this is one text about the weather.")) == 1
    row = f.decide([{"id": "b", "doc_id": "a", "skip": "my_flag", "record_index": True,
                     "text": "A plain sentence about the town's new library and its opening hours."}])[0]
    assert row["doc_id"] == "b" and row["route"] == "scored" and row["reason"] is None  # skip is the user's field
    assert row["record_index"] == 0


def test_a_fallback_language_without_models_fails_at_construction(models_root):
    from winnow.models.errors import UsageError

    with pytest.raises(UsageError, match="lang_fallback 'xx' has no model set"):
        Filter(models=str(models_root), lang_fallback="xx")
