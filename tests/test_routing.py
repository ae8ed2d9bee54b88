"""Thresholds files and routing decisions."""
import math
import copy

import pytest

from conftest import FIXTURE_THRESHOLDS
from winnow.models import load_model_sets
from winnow.pipeline.routing import (ABOVE, BELOW, Router, ThresholdsError, load_thresholds,
                                     load_thresholds_dict, score_directions)


@pytest.fixture(scope="module")
def sets(models_root):
    return load_model_sets(models_root)


def test_directions_come_from_manifests(sets):
    assert score_directions(sets["en"]) == {"kenlm_clean_pp": ABOVE, "kenlm_harmful_pp": BELOW,
                                            "kenlm_log_ratio": BELOW, "kenlm_harmful_share": ABOVE}
    assert score_directions(sets["de"]) == {"kenlm_clean_pp": ABOVE}


def test_rules_bind_with_directions(sets):
    th = load_thresholds_dict(FIXTURE_THRESHOLDS, sets)
    en = th.for_lang("en")
    assert en.min_tokens == 5
    assert [(r.score, r.direction, r.reason) for r in en.rules] == [
        ("kenlm_log_ratio", BELOW, "harmful"), ("kenlm_clean_pp", ABOVE, "low_quality")]


@pytest.mark.parametrize("mutate, message", [
    (lambda t: t["languages"]["de"]["rules"].append({"score": "kenlm_harmful_pp", "value": 5, "reason": "harmful"}),
     r"de: rule 1 uses 'kenlm_harmful_pp', which the models of de do not produce"),
    (lambda t: t["languages"].pop("fr"), r"no rules for fr, which have model sets"),
    (lambda t: t["languages"].update(xx={"rules": []}), r"xx: rules for a language with no model set"),
    (lambda t: t.pop("version"), r"'version' is a required property"),
    (lambda t: t["languages"]["en"]["rules"][0].update(reason="Bad Reason"), r"does not match"),
    (lambda t: t["languages"]["en"]["rules"][0].update(
        cascade={"score": "kenlm_clean_pp", "value": 100, "band": [-0.5, -0.1]}),
     r"en: rule 0 cascades from 'kenlm_log_ratio' to 'kenlm_clean_pp'; a cascade goes from a KenLM score"),
])
def test_invalid_thresholds_are_explained(sets, mutate, message):
    raw = copy.deepcopy(FIXTURE_THRESHOLDS)
    mutate(raw)
    with pytest.raises(ThresholdsError, match=message):
        load_thresholds_dict(raw, sets)


def test_star_covers_other_languages(sets):
    raw = {"thresholds_version": 1, "version": "v", "languages": {
        "*": {"rules": [{"score": "kenlm_clean_pp", "value": 100, "reason": "low_quality"}]}}}
    th = load_thresholds_dict(raw, sets)
    assert th.for_lang("fr").rules[0].value == 100


def test_file_errors(tmp_path, sets):
    with pytest.raises(ThresholdsError, match="not found"):
        load_thresholds(tmp_path / "nope.json", sets)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ThresholdsError, match="not valid JSON"):
        load_thresholds(tmp_path / "bad.json", sets)


def test_decision_order(sets):
    router = Router(load_thresholds_dict(FIXTURE_THRESHOLDS, sets), sets)
    d = lambda **kw: router.decide(**{"skip": None, "lang": "en", "n_lines": 2, "n_tokens": 20, "scores": {}, **kw})
    assert (d(skip="not_html").route, d(skip="not_html").reason) == ("drop", "not_html")
    assert d(n_lines=0).reason == "empty"
    assert d(lang="it").reason == "no_model_for_lang" and d(lang="it").route == "drop"
    assert d(n_tokens=3).reason == "too_short"
    assert d(scores={"kenlm_log_ratio": -1.0, "kenlm_clean_pp": 900}).reason == "harmful"  # first rule wins
    assert d(scores={"kenlm_log_ratio": 0.5, "kenlm_clean_pp": 900}).reason == "low_quality"
    assert d(scores={"kenlm_log_ratio": 0.5, "kenlm_clean_pp": 20}).route == "keep"
    assert d(scores={"kenlm_log_ratio": float("nan"), "kenlm_clean_pp": None}).route == "keep"
    keep_other = Router(load_thresholds_dict(FIXTURE_THRESHOLDS, sets), sets, keep_unscored=True)
    assert keep_other.decide(skip=None, lang="it", n_lines=1, n_tokens=9, scores={}).route == "keep"
    score_only = Router(None, sets)
    assert score_only.decide(skip=None, lang="en", n_lines=1, n_tokens=9, scores={}).route == "scored"


def test_cascade_asks_the_neural_lm_only_where_it_can_change_the_decision():
    directions = {"en": {"kenlm_log_ratio": BELOW, "kenlm_clean_pp": ABOVE,
                         "neural_log_ratio": BELOW, "neural_clean_pp": ABOVE}}
    raw = {"thresholds_version": 1, "version": "t", "languages": {"en": {"rules": [
        {"score": "kenlm_log_ratio", "value": -0.3, "reason": "harmful",
         "cascade": {"score": "neural_log_ratio", "value": 0.0, "band": [-0.4, -0.2]}},
        {"score": "kenlm_clean_pp", "value": 150, "reason": "low_quality",
         "cascade": {"score": "neural_clean_pp", "value": 100, "band": [140, 160]}}]}}}
    router = Router(load_thresholds_dict(raw, directions), ["en"])
    def decide(**scores):
        d = router.decide(skip=None, lang="en", n_lines=1, n_tokens=50, scores=scores)
        return d.route, d.reason, d.decided_by
    # Dropped for certain by the first rule: no neural LM, whatever the second rule's band says.
    assert router.cascade_scores("en", {"kenlm_log_ratio": -1.0, "kenlm_clean_pp": 150}) == set()
    assert decide(kenlm_log_ratio=-1.0, kenlm_clean_pp=150) == ("drop", "harmful", "kenlm")
    assert router.cascade_scores("en", {"kenlm_log_ratio": -0.3, "kenlm_clean_pp": 150}) == {
        "neural_log_ratio", "neural_clean_pp"}
    # The neural LM keeps it on the first rule; KenLM drops it for certain on the second.
    assert decide(kenlm_log_ratio=-0.3, neural_log_ratio=0.5, kenlm_clean_pp=500) == ("drop", "low_quality", "kenlm")
    assert decide(kenlm_log_ratio=-0.3, neural_log_ratio=-0.5, kenlm_clean_pp=50) == ("drop", "harmful", "neural")
    assert decide(kenlm_log_ratio=0.0, kenlm_clean_pp=150, neural_clean_pp=50) == ("keep", None, "neural")
    assert decide(kenlm_log_ratio=0.0, kenlm_clean_pp=50) == ("keep", None, "kenlm")


def test_thresholds_tuned_on_other_models_are_refused(models_copy):
    """tune records the models' hashes; a benign LM that becomes the log-ratio's reference
    (or any retrained LM) makes the rules that read it refuse to load."""
    from conftest import TEXT, TINY_LM
    from winnow.models.kenlm_lm import train_kenlm
    from winnow.models.textio import TextSource
    from winnow.pipeline.routing import manifest_models

    raw = {**copy.deepcopy(FIXTURE_THRESHOLDS), "models": manifest_models(models_copy)}
    assert raw["models"]["en"].keys() == {"kenlm-clean", "kenlm-harmful"}
    load_thresholds_dict(raw, load_model_sets(models_copy))  # the same models: fine
    train_kenlm(TextSource([TEXT / "en_benign.txt"]), models_copy / "en", "en", "benign", **TINY_LM)
    sets = load_model_sets(models_copy)
    with pytest.raises(ThresholdsError, match=r"en: the thresholds were tuned on scores of other models than "
                                              r"kenlm-benign \(new or retrained since\)"):
        load_thresholds_dict(raw, sets)
    clean_only = copy.deepcopy(raw)  # a rule on the clean PP alone does not depend on the new model
    clean_only["languages"]["en"]["rules"] = [r for r in raw["languages"]["en"]["rules"] if r["score"] == "kenlm_clean_pp"]
    load_thresholds_dict(clean_only, sets)
    load_thresholds_dict(FIXTURE_THRESHOLDS, sets)  # hand-written thresholds without hashes load as before


def test_a_decision_carries_the_rule_and_the_value_it_compared(sets):
    router = Router(load_thresholds_dict(FIXTURE_THRESHOLDS, sets), sets)
    en = load_thresholds_dict(FIXTURE_THRESHOLDS, sets).for_lang("en")
    ratio, clean = en.rules[0], en.rules[1]
    harmful = router.decide(skip=None, lang="en", n_lines=1, n_tokens=50,
                            scores={"kenlm_log_ratio": ratio.value - 1, "kenlm_clean_pp": 1.0})
    assert (harmful.route, harmful.rule, harmful.value) == ("drop", "kenlm_log_ratio", ratio.value - 1)
    poor = router.decide(skip=None, lang="en", n_lines=1, n_tokens=50,
                         scores={"kenlm_log_ratio": ratio.value + 1, "kenlm_clean_pp": clean.value * 2})
    assert (poor.rule, poor.value) == ("kenlm_clean_pp", clean.value * 2)
    kept = router.decide(skip=None, lang="en", n_lines=1, n_tokens=50,
                         scores={"kenlm_log_ratio": ratio.value + 1, "kenlm_clean_pp": 1.0})
    assert (kept.route, kept.rule, kept.value) == ("keep", "kenlm_log_ratio", ratio.value + 1)  # the first rule
    short = router.decide(skip=None, lang="en", n_lines=1, n_tokens=1, scores={})
    assert short.reason == "too_short" and short.rule is None and short.value is None


def test_a_drop_is_decided_by_the_kind_of_model_whose_score_fired():
    directions = {"en": {"kenlm_clean_pp": ABOVE, "neural_clean_pp": ABOVE, "classifier_prob": ABOVE}}
    raw = {"thresholds_version": 1, "version": "t", "languages": {"en": {"min_tokens": 0, "rules": [
        {"score": "kenlm_clean_pp", "value": 1000.0, "reason": "low_quality"},
        {"score": "neural_clean_pp", "value": 500.0, "reason": "low_quality"},
        {"score": "classifier_prob", "value": 0.9, "reason": "harmful"}]}}}
    router = Router(load_thresholds_dict(raw, directions), ["en"])

    def by(**scores):
        d = router.decide(skip=None, lang="en", n_lines=1, n_tokens=10,
                          scores={"kenlm_clean_pp": 10.0, "neural_clean_pp": 10.0, "classifier_prob": 0.1, **scores})
        return d.route, d.decided_by, d.rule

    assert by(kenlm_clean_pp=2000.0) == ("drop", "kenlm", "kenlm_clean_pp")
    assert by(neural_clean_pp=900.0) == ("drop", "neural", "neural_clean_pp")
    assert by(classifier_prob=0.95) == ("drop", "classifier", "classifier_prob")
    assert by() == ("keep", "kenlm", "kenlm_clean_pp")


def test_rule_kinds_share_one_interface():
    """Threshold, cascade and combined rules: each judges, names its second opinion, says
    what it reads and describes itself; the router needs no ladder of ifs over them."""
    from winnow.pipeline.routing import ABOVE, BELOW, CascadeRule, CombinedRule, ThresholdRule

    plain = ThresholdRule("kenlm_clean_pp", 100.0, "low_quality", ABOVE)
    cascade = CascadeRule("kenlm_log_ratio", -0.5, "harmful", BELOW, "neural_log_ratio", -0.4, BELOW, (-0.7, -0.3))
    combined = CombinedRule(0.5, "harmful", {"features": ["kenlm_log_ratio"], "mean": [0.0], "std": [1.0],
                                             "coef": [-2.0], "intercept": 0.0})
    v = plain.judge({"kenlm_clean_pp": 150.0}, 10)
    assert (v.drops, v.decided_by, v.rule, v.value) == (True, "kenlm", "kenlm_clean_pp", 150.0)
    assert not plain.judge({"kenlm_clean_pp": None}, 10).drops  # a missing score never drops
    # In its band the cascade hands over to the neural score; outside it, KenLM decides for certain.
    inside = {"kenlm_log_ratio": -0.6, "neural_log_ratio": -0.2}
    assert cascade.second_opinion(inside) == "neural_log_ratio" and not cascade.drops_for_certain(inside)
    assert (cascade.judge(inside, 10).drops, cascade.judge(inside, 10).decided_by) == (False, "neural")
    assert cascade.drops_for_certain({"kenlm_log_ratio": -0.9}) and cascade.second_opinion({"kenlm_log_ratio": -0.9}) is None
    assert cascade.reads() == ["kenlm_log_ratio"]
    assert cascade.reads(second_opinions=True) == ["kenlm_log_ratio", "neural_log_ratio"]
    p = combined.judge({"kenlm_log_ratio": -1.0}, 10)
    assert p.drops and p.rule == "combined" and abs(p.value - 1 / (1 + math.exp(-2.0))) < 1e-12
    assert combined.second_opinion({}) is None and not combined.drops_for_certain({"kenlm_log_ratio": -9})
    assert plain.describe() == "drop as low_quality when kenlm_clean_pp > 100"
    assert "in [-0.7, -0.3], when neural_log_ratio < -0.4" in cascade.describe()
    assert combined.describe() == "drop as harmful when P(combined: kenlm_log_ratio) > 0.5"
