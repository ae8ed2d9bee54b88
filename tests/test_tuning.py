"""Threshold learning on synthetic distributions with known answers."""
import json

import numpy as np
import pyarrow as pa
import pytest

from winnow.pipeline.routing import ABOVE, BELOW
from winnow.pipeline.tuning import (TuneOptions, bimodality_coefficient, expected_precision, fit_mixture,
                                    mixture_cut, roc_auc, rogan_gladen, tune, tune_score)

rng = np.random.default_rng(42)


def test_bimodality_coefficient_known_shapes():
    assert bimodality_coefficient(rng.normal(0, 1, 20000)) == pytest.approx(1 / 3, abs=0.02)
    assert bimodality_coefficient(rng.uniform(0, 1, 20000)) == pytest.approx(5 / 9, abs=0.02)
    two = np.r_[rng.normal(0, 0.5, 5000), rng.normal(4, 0.5, 5000)]
    assert bimodality_coefficient(two) > 0.8


def test_bimodal_data_gets_a_mixture_cut_between_the_modes():
    good = rng.normal(1.5, 0.15, 7000)   # log10 PP of clean text
    bad = rng.normal(2.6, 0.2, 3000)     # log10 PP of junk
    pp = 10 ** np.r_[good, bad]
    res = tune_score("kenlm_clean_pp", ABOVE, pp, TuneOptions())
    assert res["method"] == "mixture" and res["mixture"]["bimodal"]
    assert 10 ** 1.8 < res["value"] < 10 ** 2.3
    assert res["drop_rate"] == pytest.approx(0.3, abs=0.02)
    fit = fit_mixture(np.r_[good, bad])
    assert fit.means[0] == pytest.approx(1.5, abs=0.02) and fit.weights[1] == pytest.approx(0.3, abs=0.02)


@pytest.mark.parametrize("name, x", [
    ("unimodal", rng.normal(2.0, 0.3, 5000)),
    ("skewed", np.log(rng.lognormal(0.5, 0.6, 5000)) + rng.exponential(0.5, 5000)),
    ("overlapping", np.r_[rng.normal(2.0, 0.4, 3000), rng.normal(2.3, 0.4, 3000)]),
])
def test_non_bimodal_data_falls_back_to_percentiles_and_says_so(name, x):
    res = tune_score("kenlm_clean_pp", ABOVE, 10 ** x, TuneOptions(keep_percent=60))
    assert res["method"] == "percentile", name
    assert res["verdict"].startswith("not bimodal") and "Falling back to percentiles" in res["verdict"]
    assert res["drop_rate"] == pytest.approx(0.4, abs=0.01)
    assert res["value"] == pytest.approx(10 ** np.quantile(x, 0.6), rel=1e-9)
    explicit = tune_score("kenlm_clean_pp", ABOVE, 10 ** x, TuneOptions(method="mixture"))
    assert explicit["method"] == "percentile" and explicit["fallback_from"] == "mixture"


def test_harmful_direction_cuts_the_low_tail():
    x = rng.normal(0.0, 1.0, 4000)
    res = tune_score("kenlm_log_ratio", BELOW, x, TuneOptions(harmful_percent=5))
    assert res["reason"] == "harmful" and res["value"] == pytest.approx(np.quantile(x, 0.05), rel=1e-9)


def test_benign_perplexity_is_a_harmful_signal_cut_at_the_high_tail():
    """High PP under the benign LM: unlike harmless text. It drops like a harmful score
    (the worst 5%, reason harmful), on the high side like a clean PP."""
    x = rng.normal(2.0, 0.3, 4000)
    res = tune_score("kenlm_benign_pp", ABOVE, 10 ** x, TuneOptions(harmful_percent=5))
    assert res["reason"] == "harmful" and res["drop_rate"] == pytest.approx(0.05, abs=0.005)
    assert res["value"] == pytest.approx(10 ** np.quantile(x, 0.95), rel=1e-9)


@pytest.mark.parametrize("n", [0, 3, 19])
def test_tiny_samples_get_no_threshold(n):
    res = tune_score("kenlm_clean_pp", ABOVE, 10 ** rng.normal(2, 0.3, n), TuneOptions())
    assert res["value"] is None and "too few documents" in res["verdict"]


def test_mixture_cut_is_where_posteriors_are_equal():
    fit = fit_mixture(np.r_[rng.normal(0, 1, 5000), rng.normal(6, 1, 5000)])
    assert mixture_cut(fit) == pytest.approx(3.0, abs=0.1)


def test_roc_auc_and_prevalence_maths():
    assert roc_auc(np.array([1, 2, 3, 4.0]), np.array([0, 0, 1, 1])) == 1.0
    assert roc_auc(np.array([1, 1, 1, 1.0]), np.array([0, 1, 0, 1])) == 0.5
    assert expected_precision(0.8, 0.1, 0.5) == pytest.approx(0.8 / 0.9)
    # drop rate 0.17 = 0.8 * 0.1 + 0.1 * 0.9
    assert rogan_gladen(0.17, 0.8, 0.1) == pytest.approx(0.1)


def test_labels_files_take_only_0_and_1(tmp_path):
    from winnow.pipeline.tuning import read_labels

    (tmp_path / "ok.csv").write_text("id,label\na,1\nb,0\n")
    assert read_labels(str(tmp_path / "ok.csv")) == {"a": 1, "b": 0}
    (tmp_path / "bad.jsonl").write_text('{"id": "a", "label": 2}\n')
    with pytest.raises(ValueError, match=r"bad.jsonl: labels are 1 \(bad\) or 0 \(good\), got 2"):
        read_labels(str(tmp_path / "bad.jsonl"))


def test_labels_meet_a_target_precision_with_intervals_and_corpus_prevalence():
    n_good, n_bad = 3000, 3000                      # a balanced labelled set...
    x = np.r_[rng.normal(2.0, 0.3, n_good), rng.normal(2.8, 0.3, n_bad)]
    y = np.r_[np.zeros(n_good), np.ones(n_bad)].astype(int)
    corpus = np.r_[rng.normal(2.0, 0.3, 9000), rng.normal(2.8, 0.3, 1000)]  # ...a corpus with 10% bad
    values = 10 ** np.r_[x, corpus]
    labels = np.r_[y, -np.ones(len(corpus), dtype=int)]
    res = tune_score("kenlm_clean_pp", ABOVE, values, TuneOptions(target_precision=0.95), labels)
    lab = res["labels"]
    assert res["method"] == "labels" and lab["precision"] >= 0.95
    assert lab["roc_auc"] == pytest.approx(0.97, abs=0.02)
    lo, hi = lab["ci95"]["precision"]
    assert lo <= lab["precision"] <= hi and hi - lo < 0.05
    assert lab["corpus_prevalence"] == pytest.approx((3000 + 1000) / 16000, abs=0.03)
    # At a lower prevalence the same cut is less precise than on the balanced labelled set.
    assert lab["expected_precision_at_corpus_prevalence"] < lab["precision"]


def _table(rows):
    names = ["doc_id", "lang", "kenlm_clean_pp", "kenlm_harmful_pp", "kenlm_log_ratio"]
    names += sorted({k for r in rows for k in r} - set(names))
    return pa.table({k: [r.get(k) for r in rows] for k in names})


def test_tune_writes_a_valid_file_and_a_language_with_three_documents_gets_no_rule():
    from winnow.schemas import validate

    rows = [{"doc_id": f"e{i}", "lang": "en", "kenlm_clean_pp": float(10 ** v), "kenlm_harmful_pp": 50.0,
             "kenlm_log_ratio": float(r)} for i, (v, r) in enumerate(zip(rng.normal(2, 0.3, 500),
                                                                        rng.normal(0, 1, 500)))]
    rows += [{"doc_id": f"d{i}", "lang": "de", "kenlm_clean_pp": 100.0 + i} for i in range(3)]
    directions = {"en": {"kenlm_clean_pp": ABOVE, "kenlm_harmful_pp": BELOW, "kenlm_log_ratio": BELOW},
                  "de": {"kenlm_clean_pp": ABOVE}}
    out = tune(_table(rows), directions, TuneOptions())
    validate(out, "thresholds")
    json.dumps(out, allow_nan=False)  # strict JSON: no NaN
    assert [r["score"] for r in out["languages"]["en"]["rules"]] == ["kenlm_log_ratio", "kenlm_clean_pp"]
    assert out["languages"]["de"]["rules"] == []
    assert "too few documents" in out["languages"]["de"]["diagnostics"]["scores"]["kenlm_clean_pp"]["verdict"]
    assert out["version"].startswith("tune-")


def test_combined_score_beats_each_feature_and_routes():
    from winnow.pipeline.routing import Router, load_thresholds_dict

    n = 3000
    y = rng.integers(0, 2, n)
    a = rng.normal(2.0 + 0.5 * y, 0.5)          # two weak, independent signals
    b = rng.normal(0.0 - 0.5 * y, 0.5)
    rows = [{"doc_id": str(i), "lang": "en", "kenlm_clean_pp": float(10 ** a[i]), "kenlm_harmful_pp": 50.0,
             "kenlm_log_ratio": float(b[i])} for i in range(n)]
    labels = {str(i): int(y[i]) for i in range(n)}
    directions = {"en": {"kenlm_clean_pp": ABOVE, "kenlm_harmful_pp": BELOW, "kenlm_log_ratio": BELOW}}
    out = tune(_table(rows), directions, TuneOptions(), labels=labels)
    (rule,) = out["languages"]["en"]["rules"]
    assert rule["score"] == "combined" and rule["method"] == "logistic"
    from winnow.pipeline.tuning import L2_GRID
    assert rule["combined"]["l2"] in L2_GRID and rule["combined"]["oof_log_loss"] > 0
    single = out["languages"]["en"]["diagnostics"]["scores"]
    auc = rule["diagnostics"]["labels"]["roc_auc"]
    assert auc > single["kenlm_clean_pp"]["labels"]["roc_auc"] + 0.05
    assert auc > single["kenlm_log_ratio"]["labels"]["roc_auc"] + 0.05
    coef = dict(zip(rule["combined"]["features"], rule["combined"]["coef"]))
    assert coef["kenlm_clean_pp"] > 0 > coef["kenlm_log_ratio"]  # directions learned from labels
    router = Router(load_thresholds_dict(out, directions), directions)
    bad = router.decide(skip=None, lang="en", n_lines=1, n_tokens=50,
                        scores={"kenlm_clean_pp": 10 ** 3.0, "kenlm_log_ratio": -1.5, "kenlm_harmful_pp": 50.0})
    good = router.decide(skip=None, lang="en", n_lines=1, n_tokens=50,
                         scores={"kenlm_clean_pp": 10 ** 1.5, "kenlm_log_ratio": 0.5, "kenlm_harmful_pp": 50.0})
    assert (bad.route, bad.reason, bad.decided_by) == ("drop", "harmful", "combined")
    assert good.route == "keep"
    # Each decision carries the combined probability it compared with the cut.
    assert bad.rule == good.rule == "combined" and good.value < rule["value"] <= bad.value <= 1


def test_learned_cut_and_router_agree_on_ties():
    """The labelled cut sits between scores, so run drops exactly what tune measured."""
    from winnow.pipeline.routing import Router, load_thresholds_dict

    rows = [{"doc_id": str(i), "lang": "en", "kenlm_clean_pp": float(i)} for i in range(1, 31)]
    labels = {str(i): int(i >= 21) for i in range(1, 31)}
    directions = {"en": {"kenlm_clean_pp": ABOVE}}
    out = tune(_table(rows), directions, TuneOptions(combined=False), labels=labels)
    (rule,) = out["languages"]["en"]["rules"]
    assert 20 < rule["value"] < 21
    router = Router(load_thresholds_dict(out, directions), directions)
    dropped = [i for i in range(1, 31) if router.decide(skip=None, lang="en", n_lines=1, n_tokens=9,
                                                        scores={"kenlm_clean_pp": float(i)}).route == "drop"]
    assert dropped == list(range(21, 31))
    assert out["languages"]["en"]["diagnostics"]["scores"]["kenlm_clean_pp"]["labels"]["recall"] == 1.0


def test_report_applies_the_combined_rule():
    from winnow.pipeline.report import build_report

    n = 400
    y = rng.integers(0, 2, n)
    rows = [{"doc_id": str(i), "lang": "en", "kenlm_clean_pp": float(10 ** rng.normal(2 + y[i], 0.3)),
             "kenlm_harmful_pp": 50.0, "kenlm_log_ratio": float(rng.normal(-y[i], 0.3))} for i in range(n)]
    directions = {"en": {"kenlm_clean_pp": ABOVE, "kenlm_harmful_pp": BELOW, "kenlm_log_ratio": BELOW}}
    out = tune(_table(rows), directions, TuneOptions(), labels={str(i): int(y[i]) for i in range(n)})
    assert out["languages"]["en"]["rules"][0]["score"] == "combined"
    report = build_report(_table(rows), directions, thresholds=out, labels={str(i): int(y[i]) for i in range(n)})
    en = report["languages"]["en"]
    assert en["drop_rate"] == pytest.approx(y.mean(), abs=0.05)
    assert en["confusion"]["tp"] > 0.9 * y.sum()


def _shifted(n_labelled=1500, n_corpus=800, shift=1.5):
    """Labelled short texts (two weak signals) and a corpus sample that looks bad on both:
    what tweets and web pages look like to LMs trained on other text."""
    y = rng.integers(0, 2, n_labelled)
    a = np.r_[rng.normal(2.0 + 0.5 * y, 0.4), rng.normal(2.0 + shift, 0.4, n_corpus)]
    b = np.r_[rng.normal(0.0 - 0.5 * y, 0.4), rng.normal(-shift, 0.4, n_corpus)]
    rows = [{"doc_id": str(i), "lang": "en", "kenlm_clean_pp": float(10 ** a[i]), "kenlm_harmful_pp": 50.0,
             "kenlm_log_ratio": float(b[i])} for i in range(len(a))]
    return rows, {str(i): int(y[i]) for i in range(n_labelled)}


DIRECTIONS = {"en": {"kenlm_clean_pp": ABOVE, "kenlm_harmful_pp": BELOW, "kenlm_log_ratio": BELOW}}


def test_a_rule_tuned_on_one_kind_of_text_is_refused_on_another():
    rows, labels = _shifted()
    out = tune(_table(rows), DIRECTIONS, TuneOptions(), labels=labels)
    spec = out["languages"]["en"]
    guard = spec["diagnostics"]["guard"]
    assert guard["labelled"] == 1500 and guard["corpus_sample"] == 800
    assert {r["score"] for r in guard["refused"]} >= {"combined"}
    assert "over the ceiling 50%" in guard["refused"][0]["why"]
    for rule in spec["rules"]:  # what is left drops at most the ceiling of the corpus sample
        assert rule["guard"]["corpus_drop_rate"] <= 0.5
    assert guard["feature_shift"]["kenlm_log_ratio"]["ks"] > 0.5  # the shift, reported
    # The same labels on a corpus sample like them: nothing is refused.
    same, labels = _shifted(shift=0.0)
    ok = tune(_table(same), DIRECTIONS, TuneOptions(), labels=labels)["languages"]["en"]
    assert not ok["diagnostics"]["guard"]["refused"] and ok["rules"][0]["score"] == "combined"
    assert 0.2 < ok["rules"][0]["guard"]["corpus_drop_rate"] < 0.8


def test_forced_and_degenerate_rules_are_marked_and_label_meaning_names_the_reason():
    rows, labels = _shifted()
    out = tune(_table(rows), DIRECTIONS, TuneOptions(force=True, label_reason="low_quality"), labels=labels)
    (rule,) = out["languages"]["en"]["rules"]
    assert rule["score"] == "combined" and rule["forced"] and rule["reason"] == "low_quality"
    assert rule["guard"]["corpus_drop_rate"] > 0.95 and "degenerate" in rule["guard"]
    assert "n_tokens" not in rule["combined"]["features"]  # raw length stays out unless asked for


def test_tune_guard_rails_from_the_cli(models_root, tmp_path, capsys):
    """Labels on short texts, a corpus sample of web pages: the rule learned from the labels
    is checked on the sample, refused over the ceiling (exit 2, nothing written) or forced."""
    import json
    from pathlib import Path

    from conftest import SAMPLE_WEB
    from winnow.pipeline.cli import main

    root = Path(__file__).resolve().parents[1]
    texts = [(line.strip(), 1) for line in open(root / "sample/train/en_harmful.txt") if line.strip()]
    texts += [(line.strip(), 0) for line in open(root / "sample/train/en_clean.txt") if line.strip()]
    (tmp_path / "lab").mkdir()
    with open(tmp_path / "lab" / "labelled.jsonl", "w") as f, open(tmp_path / "labels.csv", "w") as lab:
        lab.write("id,label\n")
        for i, (text, y) in enumerate(texts * 3):
            f.write(json.dumps({"id": f"l{i}", "text": text}) + "\n")
            lab.write(f"l{i},{y}\n")
    for name, inputs in (("labelled", [tmp_path / "lab"]), ("corpus", [SAMPLE_WEB])):
        assert main(["run", "--input", *map(str, inputs), "--models", str(models_root), "--score-only",
                     "--output", str(tmp_path / name), "--no-report"]) == 0
    base = ["tune", "--scored", str(tmp_path / "labelled"), str(tmp_path / "corpus"), "--models", str(models_root),
            "--labels", str(tmp_path / "labels.csv"), "--output", str(tmp_path / "t.json"), "--method", "labels"]
    capsys.readouterr()
    assert main(base + ["--max-drop", "0.1"]) == 2
    err = capsys.readouterr().err
    assert "refused: learned from labels" in err and "nothing written" in err and not (tmp_path / "t.json").exists()
    assert main(base + ["--max-drop", "0.1", "--force", "--label-meaning", "low_quality"]) == 0
    out = capsys.readouterr().out
    assert "[guard]" in out and "FORCED" in out
    tuned = json.loads((tmp_path / "t.json").read_text())
    rule = tuned["languages"]["en"]["rules"][0]
    assert rule["forced"] and rule["reason"] == "low_quality" and rule["guard"]["corpus_drop_rate"] > 0.001
    assert tuned["languages"]["en"]["diagnostics"]["guard"]["corpus_sample"] > 100


def test_a_rule_dropping_far_more_than_the_labelled_prevalence_is_refused():
    # Rare bad labels (10%) and a corpus sample shifted halfway: under the 50% ceiling, over 2x 10%.
    y = (rng.random(2000) < 0.1).astype(int)
    a = np.r_[rng.normal(2.0 + 0.8 * y, 0.3), rng.normal(2.5, 0.3, 800)]
    rows = [{"doc_id": str(i), "lang": "en", "kenlm_clean_pp": float(10 ** a[i]), "kenlm_harmful_pp": 50.0,
             "kenlm_log_ratio": 0.0} for i in range(len(a))]
    labels = {str(i): int(y[i]) for i in range(2000)}
    opts = TuneOptions(combined=False, method="labels")
    spec = tune(_table(rows), DIRECTIONS, opts, labels=labels, scores=["kenlm_clean_pp"])["languages"]["en"]
    (refused,) = spec["diagnostics"]["guard"]["refused"]
    assert "the labelled prevalence" in refused["why"] and not spec["rules"]
    relaxed = TuneOptions(combined=False, method="labels", max_prevalence_ratio=0)
    assert tune(_table(rows), DIRECTIONS, relaxed, labels=labels, scores=["kenlm_clean_pp"])["languages"]["en"]["rules"]


def test_outputs_of_the_previous_schema_still_load(tmp_path):
    """A v4 shard (no decided_rule / decided_value) is read with those columns null."""
    import pyarrow.parquet as pq

    from winnow.pipeline.tuning import load_scored
    from winnow.schemas.arrow import DOCUMENT_FILE_SCHEMA

    old = pa.schema([f for f in DOCUMENT_FILE_SCHEMA if not f.name.startswith("decided_")])
    row = {f.name: None for f in old}
    row.update(doc_id="a", source_file="f", record_index=0, text="hello", n_chars=5, lang_prob=0.9)
    folder = tmp_path / "out" / "route=scored" / "lang=en"
    folder.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist([row], schema=old), folder / "part-x.parquet")
    table = load_scored(str(tmp_path / "out"))
    assert table.num_rows == 1 and table.column("decided_value").to_pylist() == [None]
    assert table.column("lang").to_pylist() == ["en"]


def test_without_labels_two_quality_scores_make_one_quality_rule():
    """The clean PP and the contrast, no labels: one rule on the mean of their z-scores keeps
    the best 60%, after the harmful rule; it loads and routes like any combined rule."""
    from winnow.pipeline.routing import Router, load_thresholds_dict

    n = 1000
    quality = rng.normal(0, 1, n)  # what both scores see, each with its own noise
    rows = [{"doc_id": str(i), "lang": "en", "kenlm_clean_pp": float(10 ** (2 + 0.3 * (quality[i] + rng.normal()))),
             "kenlm_contrast": float(quality[i] + rng.normal()), "kenlm_log_ratio": float(rng.normal()),
             "kenlm_harmful_pp": 50.0} for i in range(n)]
    directions = {"en": {**DIRECTIONS["en"], "kenlm_contrast": ABOVE}}
    out = tune(_table(rows), directions, TuneOptions())
    harmful, quality_rule = out["languages"]["en"]["rules"]
    assert harmful["score"] == "kenlm_log_ratio" and harmful["reason"] == "harmful"
    assert quality_rule["score"] == "combined" and quality_rule["reason"] == "low_quality"
    assert quality_rule["combined"]["features"] == ["kenlm_clean_pp", "kenlm_contrast"]
    assert quality_rule["diagnostics"]["drop_rate"] == pytest.approx(0.4, abs=0.01)
    router = Router(load_thresholds_dict(out, directions), ["en"])
    decided = [router.decide(skip=None, lang="en", n_lines=1, n_tokens=20, scores=r) for r in rows]
    low = [d for d in decided if d.reason == "low_quality"]
    assert 0.3 < len(low) / n < 0.42 and all(d.rule == "combined" for d in low)
    # The worst documents by the shared quality are the ones the combination drops.
    worst = set(np.argsort(-quality)[:200])
    assert sum(decided[i].reason == "low_quality" for i in worst) > 0.85 * 200
    single = tune(_table(rows), directions, TuneOptions(quality_combination=False))["languages"]["en"]["rules"]
    assert [r["score"] for r in single] == ["kenlm_log_ratio", "kenlm_contrast"]


def test_a_combined_rule_reads_its_features_the_same_when_fitted_and_applied():
    """One scale (routing.combined_scale) for fit and apply: a perplexity of 0 or a missing
    score sits at the mean on both sides, a probability is read as its logit."""
    from winnow.pipeline.routing import combined_probability
    from winnow.pipeline.tuning import feature_matrix, logistic_probability, tune_combined

    n = 400
    y = rng.integers(0, 2, n)
    rows = [{"kenlm_clean_pp": float(10 ** rng.normal(2 + 0.3 * y[i], 0.3)), "kenlm_log_ratio": float(rng.normal(-y[i])),
             "classifier_prob": float(np.clip(rng.beta(2 + 3 * y[i], 4), 0, 1)), "n_tokens": int(rng.integers(5, 500))}
            for i in range(n)]
    rows[0]["kenlm_clean_pp"], rows[1]["kenlm_log_ratio"], rows[2]["classifier_prob"] = 0.0, None, 1.0
    features = ["kenlm_clean_pp", "kenlm_log_ratio", "classifier_prob", "n_tokens"]
    cols = {f: [r[f] for r in rows] for f in features}
    mask = np.ones(n, dtype=bool)
    rule = tune_combined(features, cols, mask, y, TuneOptions())
    fitted = logistic_probability(rule["combined"], feature_matrix(features, cols, mask))
    applied = [combined_probability(rule["combined"], r, r["n_tokens"]) for r in rows]
    assert np.allclose(fitted, applied, rtol=1e-9, atol=1e-12)
    assert rule["diagnostics"]["labels"]["roc_auc"] > 0.8


def test_threshold_methods_are_one_registry():
    """The CLI's --method choices and help, and the report's verdicts, come from METHODS."""
    import subprocess
    import sys

    from winnow.pipeline.tuning import METHOD_ORDER, METHODS

    out = "".join(subprocess.run([sys.executable, "-m", "winnow.pipeline.cli", "tune", "--help"], capture_output=True,
                                 text=True).stdout.split())  # argparse wraps lines, even inside --target-precision
    assert "{auto,labels,mixture,percentile}" in out
    for m in METHODS.values():
        assert "".join(f"{m.name}: {m.help}".split()) in out
    assert all(order[-1] == "percentile" for order in METHOD_ORDER.values())  # something always places a cut
    assert set(METHOD_ORDER) == {"auto", *METHODS}


def _synthetic():
    """Fixed data on which the hand-written statistics gave the values below (before they
    moved to scikit-learn and SciPy)."""
    rng = np.random.default_rng(7)
    bimodal = np.r_[rng.normal(1.8, 0.15, 600), rng.normal(2.6, 0.2, 400)]
    unimodal = rng.normal(2.2, 0.3, 800)
    n = 600
    y = (rng.random(n) < 0.3).astype(float)
    x = np.column_stack([rng.normal(0, 1, n) + 1.2 * y, rng.normal(0, 1, n) - 0.8 * y, rng.normal(0, 1, n)])
    x[rng.random(n) < 0.05, 1] = np.nan
    return bimodal, unimodal, x, y, x[:, 0] + rng.normal(0, 0.5, n)


def test_the_statistics_libraries_give_the_thresholds_of_the_hand_written_code():
    """scikit-learn's logistic regression, ROC-AUC and PR curve, SciPy's moments: the values
    the hand-written versions gave on the same data, to the stated tolerances (the mixture's
    EM stayed Winnow's own, for speed: exact)."""
    from winnow.pipeline.tuning import (bimodality_coefficient, choose_labelled_cut, fit_mixture, mixture_cut,
                                        roc_auc, tune_combined)

    bimodal, unimodal, x, y, s = _synthetic()
    fit = fit_mixture(bimodal)
    assert fit.bimodal
    assert mixture_cut(fit) == pytest.approx(2.150045431092588, rel=1e-12)  # the threshold
    assert fit.means == pytest.approx((1.7807739006897125, 2.6043156502960154), rel=1e-12)
    assert (fit.bic1, fit.bic2) == pytest.approx((1187.1473999386897, 501.3308638203797), rel=1e-12)
    assert bimodality_coefficient(bimodal) == pytest.approx(0.6868441463086301, rel=1e-12)
    flat = fit_mixture(unimodal)  # not bimodal: the percentile method places the cut either way
    assert not flat.bimodal and (flat.bic1, flat.bic2) == pytest.approx((421.41257726400283, 437.1210427297258),
                                                                         rel=1e-12)
    assert roc_auc(s, y) == pytest.approx(0.7461218965219815, rel=1e-12)
    assert choose_labelled_cut(s, y.astype(int)) == (pytest.approx(0.5999716479186439, rel=1e-12), "maximum F1")
    cols = {"a": list(x[:, 0]), "b": list(x[:, 1]), "c": list(x[:, 2])}
    rule = tune_combined(["a", "b", "c"], cols, np.ones(len(y), bool), y, TuneOptions())
    assert rule["value"] == pytest.approx(0.3078899347717402, rel=1e-9)  # the combined rule's cut
    assert rule["combined"]["coef"] == pytest.approx([1.2277485445845278, -0.670266769429726, -0.25196442374143324],
                                                     rel=1e-8)  # coefficients: 1.1e-9 apart
    assert rule["combined"]["l2"] == 1.0


def test_verdicts_say_why_a_method_gave_way():
    """With labels given but too few for a score, auto says so before the mixture's verdict;
    --method labels that falls back records it; the report's verdict follows the method."""
    from winnow.pipeline.report import _plain_verdict

    rng = np.random.default_rng(3)
    values = rng.normal(2.0, 0.3, 200)
    few = np.full(200, -1)
    few[:5] = [1, 0, 1, 0, 1]
    auto = tune_score("kenlm_clean_pp", "above", 10 ** values, TuneOptions(), labels=few)
    assert auto["method"] == "percentile" and auto["verdict"].startswith("no usable labels; not bimodal")
    assert "fallback_from" not in auto
    forced = tune_score("kenlm_clean_pp", "above", 10 ** values, TuneOptions(method="labels"), labels=few)
    assert forced["method"] == "percentile" and forced["fallback_from"] == "labels"
    assert forced["verdict"].startswith("no usable labels; percentile cut")
    assert _plain_verdict(auto, [auto["value"]]).split(". ", 1)[1].startswith("Nothing in the data supports")
    broken = {**auto, "method": "labels"}  # a labels verdict whose diagnostics are missing
    assert "Nothing in the data supports" in _plain_verdict(broken, [auto["value"]])
