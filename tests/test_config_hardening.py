"""Hardening of what Winnow reads from users' files: thresholds (finite numbers only),
the end-of-run report (None/NaN/inf), model manifests (plain file names, one clear error
line for every malformed one, no model content in errors) and contentless texts (empty)."""
import copy
import hashlib
import json
import math

import numpy as np
import pyarrow as pa
import pytest

from conftest import FIXTURE_THRESHOLDS
from winnow.models import WinnowModelError, load_model_sets
from winnow.pipeline.cli import main
from winnow.pipeline.report import build_report, render_html, write_report
from winnow.pipeline.routing import (ABOVE, BELOW, Router, ThresholdsError, has_content, load_thresholds_dict,
                                     manifest_directions, read_thresholds_file)

DIRECTIONS = {"en": {"kenlm_clean_pp": ABOVE, "kenlm_harmful_pp": BELOW, "kenlm_log_ratio": BELOW,
                     "neural_clean_pp": ABOVE},
              "de": {"kenlm_clean_pp": ABOVE}, "fr": {"kenlm_clean_pp": ABOVE}}


# --- 1. thresholds: finite numbers only --------------------------------------------------------

@pytest.mark.parametrize("token, why", [("NaN", "NaN"), ("Infinity", "Infinity"), ("-Infinity", "-Infinity"),
                                        ("1e400", "Infinity"), ("1" + "0" * 400, "too large for a number")])
def test_thresholds_file_with_a_non_finite_value_is_refused(tmp_path, token, why):
    raw = copy.deepcopy(FIXTURE_THRESHOLDS)
    raw["languages"]["en"]["rules"][1]["value"] = "@@"
    path = tmp_path / "thresholds.json"
    path.write_text(json.dumps(raw).replace('"@@"', token))
    expect = f"{path}: en rule kenlm_clean_pp: value is {why}; thresholds must be finite numbers"
    with pytest.raises(ThresholdsError) as err:
        read_thresholds_file(path)
    assert str(err.value) == expect
    # The same dict handed over already parsed (as `winnow run` passes it to workers).
    parsed = json.loads(path.read_text())
    with pytest.raises(ThresholdsError) as err:
        load_thresholds_dict(parsed, DIRECTIONS, source="thresholds.json")
    assert str(err.value) == f"thresholds.json: en rule kenlm_clean_pp: value is {why}; thresholds must be finite numbers"


COMBINED = {"score": "combined", "value": 0.5, "reason": "harmful",
            "combined": {"features": ["kenlm_clean_pp", "n_tokens"], "mean": [2.0, 1.5], "std": [0.5, 0.3],
                         "intercept": -1.0, "coef": [0.7, -0.2], "l2": 1.0}}
CASCADE = {"score": "kenlm_clean_pp", "value": 150, "reason": "low_quality",
           "cascade": {"score": "neural_clean_pp", "value": 90, "band": [120, 180]}}


@pytest.mark.parametrize("rule, path, field", [
    (COMBINED, ("combined", "coef", 1), "combined.coef[1]"),
    (COMBINED, ("combined", "intercept"), "combined.intercept"),
    (COMBINED, ("combined", "std", 0), "combined.std[0]"),
    (COMBINED, ("combined", "mean", 1), "combined.mean[1]"),
    (COMBINED, ("combined", "l2"), "combined.l2"),
    (COMBINED, ("value",), "value"),
    (CASCADE, ("cascade", "band", 0), "cascade.band[0]"),
    (CASCADE, ("cascade", "band", 1), "cascade.band[1]"),
    (CASCADE, ("cascade", "value"), "cascade.value"),
])
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_every_number_the_router_reads_must_be_finite(rule, path, field, bad):
    rule = copy.deepcopy(rule)
    good = copy.deepcopy(FIXTURE_THRESHOLDS)
    good["languages"]["en"]["rules"] = [copy.deepcopy(rule)]
    load_thresholds_dict(good, DIRECTIONS)  # the rule itself is fine
    target = rule
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = bad
    raw = copy.deepcopy(FIXTURE_THRESHOLDS)
    raw["languages"]["en"]["rules"] = [rule]
    why = "NaN" if math.isnan(bad) else ("Infinity" if bad > 0 else "-Infinity")
    with pytest.raises(ThresholdsError) as err:
        load_thresholds_dict(raw, DIRECTIONS, source="t.json")
    assert str(err.value) == f"t.json: en rule {rule['score']}: {field} is {why}; thresholds must be finite numbers"
    assert "\n" not in str(err.value)


def test_diagnostics_may_hold_nan(tmp_path):
    raw = copy.deepcopy(FIXTURE_THRESHOLDS)
    raw["languages"]["en"]["rules"][0].update(diagnostics={"drop_rate": math.nan, "labels": {"roc_auc": math.nan}},
                                              params={"drop_fraction": math.inf})
    raw["languages"]["en"]["diagnostics"] = {"scores": {"kenlm_clean_pp": {"bimodality_coefficient": math.nan}}}
    path = tmp_path / "thresholds.json"
    path.write_text(json.dumps(raw))  # json writes NaN / Infinity
    assert "NaN" in path.read_text()
    th = load_thresholds_dict(read_thresholds_file(path), DIRECTIONS, source=str(path))
    assert [r.value for r in th.for_lang("en").rules] == [-0.3, 150]


def test_combined_rule_needs_one_coefficient_per_feature():
    raw = copy.deepcopy(FIXTURE_THRESHOLDS)
    rule = copy.deepcopy(COMBINED)
    rule["combined"]["coef"] = [0.7]
    raw["languages"]["en"]["rules"] = [rule]
    with pytest.raises(ThresholdsError, match=r"en: rule 0 \(combined\) needs one mean, std and coef per feature"):
        load_thresholds_dict(raw, DIRECTIONS)


def _scored_table(n=200, seed=0, null_every=7):
    rng = np.random.default_rng(seed)
    clean = 10 ** rng.normal(2.0, 0.4, n)
    harmful = 10 ** rng.normal(2.5, 0.3, n)
    return pa.table({
        "doc_id": [f"d{i}" for i in range(n)],
        "lang": ["en"] * n,
        "text": [None if i % 11 == 0 else f"document {i}" for i in range(n)],
        "n_tokens": [None if i % null_every == 0 else int(20 + i) for i in range(n)],
        "n_lines": [None if i % null_every == 0 else 2 for i in range(n)],
        "kenlm_clean_pp": [None if i % null_every == 0 else float(v) for i, v in enumerate(clean)],
        "kenlm_harmful_pp": [None if i % null_every == 0 else float(v) for i, v in enumerate(harmful)],
        "kenlm_log_ratio": [None if i % null_every == 0 else float(np.log(h / c)) for i, (h, c)
                            in enumerate(zip(harmful, clean))],
        "neural_clean_pp": pa.array([None] * n, pa.float64()),  # never scored
    })


def test_a_file_freshly_written_by_tune_loads(tmp_path):
    from winnow.pipeline.tuning import TuneOptions, tune

    table = _scored_table()
    labels = {f"d{i}": int(i % 3 == 0) for i in range(0, 200, 2)}
    directions = {"en": DIRECTIONS["en"]}
    for lab in (None, labels):
        out = tune(table, directions, TuneOptions(), labels=lab)
        path = tmp_path / "tuned.json"
        path.write_text(json.dumps(out, indent=2, default=float))  # as `winnow tune` writes it
        th = load_thresholds_dict(read_thresholds_file(path), directions, source=str(path))
        assert th.for_lang("en").rules


# --- 2. the report: None, NaN and infinities ---------------------------------------------------

def test_report_with_null_scores_and_a_none_threshold(tmp_path):
    table = _scored_table(null_every=3)
    directions = {"en": {k: v for k, v in DIRECTIONS["en"].items() if k != "neural_clean_pp"}}
    bad = {"thresholds_version": 1, "version": "bad-v1", "languages": {"en": {"rules": [
        {"score": "kenlm_clean_pp", "value": None, "reason": "low_quality"},
        {"score": "kenlm_log_ratio", "value": -0.3, "reason": "harmful",
         "cascade": {"score": "neural_log_ratio", "value": None, "band": [None, 1.0]}}]}}}
    report = build_report(table, directions, thresholds=bad, title="t")
    problem = report["thresholds_problem"]
    assert problem.startswith("thresholds bad-v1 ") and "None is not of type 'number'" in problem and "\n" not in problem
    en = report["languages"]["en"]
    assert en["scores"]["kenlm_clean_pp"]["thresholds"] == []  # the None cut is left out
    assert en["scores"]["kenlm_log_ratio"]["thresholds"] == [-0.3]
    assert en["scores"]["kenlm_log_ratio"]["cascade_bands"] == []
    html_path = tmp_path / "r.html"
    json_path = write_report(report, str(html_path))
    page = html_path.read_text()
    assert "Thresholds not applied" in page
    json.loads(open(json_path).read())  # strict JSON

    good = {"thresholds_version": 1, "version": "good-v1", "languages": {"en": {"rules": [
        {"score": "kenlm_clean_pp", "value": 150, "reason": "low_quality"}]}}}
    report = build_report(table, directions, thresholds=good, title="t")
    assert 0 < report["languages"]["en"]["drop_rate"] < 1 and "thresholds_problem" not in report
    write_report(report, str(tmp_path / "good.html"))


def test_rendering_tolerates_none_nan_and_inf(tmp_path):
    labels = {"n": 10, "roc_auc": None, "precision": math.nan, "recall": None, "labelled_prevalence": math.inf,
              "ci95": {}, "pr_curve": {"precision": [1.0, None], "recall": [math.nan, 0.5]}}
    score = {"direction": "above", "thresholds": [None, math.inf, math.nan, 120.0],
             "cascade_bands": [[None, 5.0], [math.inf, 1.0], [100.0, 140.0]],
             "histogram": {"edges": [1.0, 2.0, 3.0], "counts": [1, 2], "scale": "log10"},
             "diagnostics": {"value": math.nan, "method": "labels", "verdict": None, "n": 3, "labels": labels,
                             "mixture": {"bic_1": None, "bic_2": 3.0, "ashman_d": math.nan}},
             "samples": [{"where": "p5", "doc_id": "a", "score": None, "text": "x"}]}
    report = {"title": "t", "thresholds_version": "v", "languages": {"en": {
        "documents": 3, "drop_rate": None, "kept_tokens": None, "dropped_tokens": math.inf,
        "decided_by": {"neural": None}, "scores": {"kenlm_clean_pp": score},
        "rules": [{"score": "combined", "value": None, "reason": "harmful",
                   "combined": {"features": ["a"], "coef": [math.nan], "intercept": None},
                   "diagnostics": {"labels": labels}}]}}}
    page = render_html(report)
    assert "n/a" in page and "120" in page
    json_path = write_report(report, str(tmp_path / "r.html"))
    assert "NaN" not in open(json_path).read() and "Infinity" not in open(json_path).read()


# --- 3. manifests: plain file names only; no model content in errors --------------------------

def _edit(path, change):
    m = json.loads(path.read_text())
    m = change(m) or m
    path.write_text(m if isinstance(m, str) else json.dumps(m))


def _entry(path):
    data = path.read_bytes()
    return {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


@pytest.mark.parametrize("name", ["../../secret.bin", "SECRET_ABS", "sub/../../secret.bin", "sub/kenlm-clean.bin",
                                  "..\\..\\secret.bin", "kenlm\\clean.bin", "kenlm-clean.bin\x00.txt", "", ".",
                                  "..", "..secret.bin", "C:secret.bin"])
def test_manifest_file_names_stay_in_the_manifests_folder(models_copy, name):
    secret = models_copy.parent / "secret.bin"
    secret.write_text("SECRET-FIRST-LINE of a file outside the models root\n")
    name = str(secret) if name == "SECRET_ABS" else name
    manifest = models_copy / "en" / "kenlm-clean.manifest.json"
    _edit(manifest, lambda m: m.update(files={name: _entry(secret)}))
    for load in (lambda: load_model_sets(models_copy), lambda: load_model_sets(models_copy, verify="size"),
                 lambda: manifest_directions(models_copy)):  # verify=False: never followed either
        with pytest.raises(WinnowModelError) as err:
            load()
        msg = str(err.value)
        assert msg.startswith(f"{manifest}: files entry {name!r} ") and "\n" not in msg
        assert "SECRET-FIRST-LINE" not in msg


@pytest.mark.parametrize("native", [True, False])
def test_a_model_files_content_is_never_echoed(models_copy, native):
    model = models_copy / "en" / "kenlm-clean.bin"
    model.write_text('SECRET-FIRST-LINE "quoted" secret\nsecond line\n')
    _edit(models_copy / "en" / "kenlm-clean.manifest.json",
          lambda m: m.update(files={"kenlm-clean.bin": _entry(model)}))
    with pytest.raises(WinnowModelError) as err:
        load_model_sets(models_copy, ["en"], native=native)
    msg = str(err.value)
    assert msg.startswith(f"{model}: KenLM could not load it") and "\n" not in msg
    assert "SECRET" not in msg and "second line" not in msg


def test_a_tokenizers_content_is_never_echoed(models_copy):
    model = models_copy / "en" / "sentencepiece.model"
    model.write_text("SECRET-FIRST-LINE\n")
    _edit(models_copy / "en" / "sentencepiece.manifest.json",
          lambda m: m.update(files={"sentencepiece.model": _entry(model)}))
    with pytest.raises(WinnowModelError) as err:
        load_model_sets(models_copy, ["en"])
    assert str(err.value).startswith(f"{model}: SentencePiece could not load it") and "SECRET" not in str(err.value)


# --- 4. malformed manifests: one WinnowModelError line naming the file -----------------------

LM, TOK, HARM = "kenlm-clean.manifest.json", "sentencepiece.manifest.json", "kenlm-harmful.manifest.json"


def _pop(*keys):
    def change(m):
        for k in keys[:-1]:
            m = m[k]
        del m[keys[-1]]
    return change


def _set(key, value):
    return lambda m: m.update({key: value})


MALFORMED = [
    (LM, _pop("files"), "'files' is a required property"),
    (LM, _set("files", []), "files: [] is not of type 'object'"),
    (LM, _set("files", {}), "files: {} should be non-empty"),
    (LM, _pop("files", "kenlm-clean.bin", "sha256"), "files/kenlm-clean.bin: 'sha256' is a required property"),
    (LM, _pop("files", "kenlm-clean.bin", "bytes"), "files/kenlm-clean.bin: 'bytes' is a required property"),
    (LM, lambda m: m["files"]["kenlm-clean.bin"].update(bytes="17006"), "is not of type 'integer'"),
    (LM, lambda m: m["files"].update({"kenlm-clean.bin": "abc"}), "files/kenlm-clean.bin: 'abc' is not of type"),
    (LM, _pop("lang"), "'lang' is a required property"),
    (LM, _pop("name"), "'name' is a required property"),
    (LM, _pop("tokenizer"), "'tokenizer' is a required property"),
    (LM, _set("params", []), "params: [] is not of type 'object'"),
    (LM, _set("kind", 3), "kind: 3 is not one of"),
    (LM, lambda m: [m], "it holds an array, not a JSON object"),
    (LM, lambda m: m["training_data"].update(sources=[{"name": "x" * 500}]), "'sha256' is a required property"),
    (LM, lambda m: "{not json", "not valid JSON"),
    (LM, lambda m: m.update(kind="neural"), "params of neural model 'kenlm-clean' do not describe its architecture"),
    (HARM, _set("name", "kenlm-clean"), "already names a model 'kenlm-clean'"),
    (TOK, _pop("lang"), "'lang' is a required property"),
    (TOK, _pop("files"), "'files' is a required property"),
    (TOK, lambda m: m.update(files={"other.model": m["files"]["sentencepiece.model"]}),
     "files: 'sentencepiece.model' is a required property"),
    (TOK, _pop("files", "sentencepiece.model", "sha256"), "files/sentencepiece.model: 'sha256' is a required"),
    (TOK, lambda m: m.update(kind="kenlm", tokenizer={"name": "x", "file": "x", "sha256": "0" * 64}),
     "not a tokenizer manifest (kind 'kenlm'"),
]


@pytest.mark.parametrize("manifest, change, expect", MALFORMED, ids=[f"{i}-{m[0].split('.')[0]}-{m[2][:30]}"
                                                                    for i, m in enumerate(MALFORMED)])
def test_malformed_manifest_is_one_clear_error(models_copy, capsys, manifest, change, expect):
    path = models_copy / "en" / manifest
    _edit(path, change)
    with pytest.raises(WinnowModelError) as err:
        load_model_sets(models_copy)
    msg = str(err.value)
    assert msg.startswith(f"{path}: ") and expect in msg and "\n" not in msg, msg

    capsys.readouterr()
    assert main(["models", str(models_copy)]) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("winnow: error: ") and str(path) in lines[0], err
    assert "Traceback" not in err and expect in lines[0]


def test_a_manifest_listing_only_an_arpa_file(models_copy):
    folder = models_copy / "en"
    (folder / "kenlm-clean.bin").rename(folder / "kenlm-clean.arpa")
    _edit(folder / LM, lambda m: m.update(files={"kenlm-clean.arpa": m["files"]["kenlm-clean.bin"]}))
    with pytest.raises(WinnowModelError, match=r"kenlm-clean\.manifest\.json: model 'kenlm-clean' lists no model "
                                               r"file to load \(files: 'kenlm-clean\.arpa'"):
        load_model_sets(models_copy)


# --- 5. a text with nothing left once normalized is empty --------------------------------------

CONTENTLESS = ["\x00\x00\x00", "\x00", "\x01\x02 \x7f", "\u200b\u200d\ufeff", "  \x00 \n\x00\r\n", "\u0301",
               "\x00 \x00", "", "   \n\t"]


def test_has_content():
    for text in CONTENTLESS:
        assert not has_content(text), repr(text)
    for text in ["a", "\x00a", "0", "-", "é", "你好", "—", " \u200b x", "\u0301e"]:
        assert has_content(text), repr(text)


def test_contentless_documents_are_empty(models_root, lid):
    from winnow.pipeline.stages import DocumentProcessor

    sets = load_model_sets(models_root)
    router = Router(load_thresholds_dict(FIXTURE_THRESHOLDS, sets), sets)
    processor = DocumentProcessor(sets, router, thresholds_version="fixture-v1", lid=lid)
    texts = CONTENTLESS + ["The river runs through the valley and the farmers sell wheat at the market."]
    docs = [{"doc_id": str(i), "source_file": "f", "record_index": i, "record_offset": 0, "url": None,
             "warc_record_id": None, "text": t} for i, t in enumerate(texts)]
    rows = processor.process(docs)
    for row in rows[:-1]:
        assert (row["route"], row["reason"], row["n_lines"], row["lang"]) == ("drop", "empty", 0, "und"), row["text"]
    assert rows[-1]["lang"] == "en" and rows[-1]["reason"] != "empty"
    # A reader's own reason still comes first.
    docs[0]["skip"] = "not_html"
    assert processor.process(docs[:1])[0]["reason"] == "not_html"
