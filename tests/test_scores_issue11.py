"""Issue 11's new scores, with real tiny models trained here: the classifier role
(``winnow train classifier``, ``classifier_prob``), the corpus LM and ``kenlm_contrast``,
``kenlm_harmful_share``, and how tune and route use them."""
import copy
import json
import math
import shutil
import time
from pathlib import Path

import numpy as np
import pyarrow.dataset as ds
import pytest

from conftest import SAMPLE_WEB, TEXT, TINY_LM
from test_cli import run as winnow  # the CLI as a user runs it (a subprocess)
from winnow.models import ModelSet, Scorer, WinnowModelError, load_model_sets
from winnow.models.classifier import LabelledSource, train_classifier
from winnow.models.kenlm_lm import train_kenlm
from winnow.models.manifest import file_entry
from winnow.models.textio import TextSource
from winnow.models.tokenizer import train_tokenizer
from winnow.pipeline.routing import (ABOVE, BELOW, ThresholdsError, load_thresholds_dict, manifest_directions,
                                     manifest_reasons, score_directions)
from winnow.pipeline.tuning import default_scores

FAST = ["--buckets", "4096", "--epochs", "50"]  # a classifier in a fraction of a second


def one_error_line(res) -> str:
    """A refused command: exit 2, a single ``winnow: error:`` line on stderr, no traceback."""
    assert res.returncode == 2, (res.returncode, res.stderr)
    assert "Traceback" not in res.stderr, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("winnow: error: "), res.stderr
    return lines[0]


def lines_of(name: str) -> list[str]:
    return [line.strip() for line in (TEXT / name).read_text().splitlines() if line.strip()]


HARMFUL, BENIGN, CLEAN = lines_of("en_harmful.txt"), lines_of("en_benign.txt"), lines_of("en_clean.txt")


def write_labelled(path: Path) -> Path:
    """Harmful lines labelled 1, benign and clean lines 0, an excluded (-1) record and a
    line that is not JSON."""
    records = [{"text": t, "label": 1} for t in HARMFUL] + [{"text": t, "label": 0} for t in BENIGN + CLEAN]
    with open(path, "w") as f:
        for i, r in enumerate(records):
            f.write(json.dumps(r) + "\n")
            if i == 5:
                f.write(json.dumps({"text": "An excluded record of the shared sets.", "label": -1}) + "\n")
        f.write('{"text": "a broken line", "label": \n')
    return path


def train_cli(root: Path, labelled: Path, meaning: str = "harmful", *extra, ok=True):
    return winnow("train", "classifier", "--lang", "en", "--models", root, "--input", labelled,
                  "--label-meaning", meaning, *FAST, *extra, ok=ok)


@pytest.fixture(scope="module")
def cls_root(models_root, tmp_path_factory):
    """A copy of the session's models with a harmful classifier for en, trained by the CLI.
    Read-only: copy it to modify."""
    base = tmp_path_factory.mktemp("issue11")
    root = base / "models"
    shutil.copytree(models_root, root)
    labelled = write_labelled(base / "labelled.jsonl")
    res = train_cli(root, labelled)
    return {"root": root, "labelled": labelled, "stdout": res.stdout, "stderr": res.stderr,
            "trained_at": time.time(), "npz": (root / "en" / "classifier.npz").read_bytes()}


# --- 1. training through the CLI ------------------------------------------------------------------


def test_cli_trains_a_classifier_and_records_what_it_read(cls_root):
    root = cls_root["root"]
    assert "harmful linear classifier for en: classifier.npz" in cls_root["stdout"]
    assert "12 texts labelled 1, 36 labelled 0, 2 skipped" in cls_root["stdout"]
    assert "skipped record" in cls_root["stderr"]  # the broken line is said, not silently lost

    m = json.loads((root / "en" / "classifier.manifest.json").read_text())
    assert (m["name"], m["kind"], m["role"], m["lang"]) == ("classifier", "linear", "classifier", "en")
    assert m["params"]["label_meaning"] == "harmful"
    assert (m["params"]["buckets"], m["params"]["epochs"]) == (4096, 50)
    td = m["training_data"]
    assert td["labels"] == {"0": len(BENIGN) + len(CLEAN), "1": len(HARMFUL)} == {"0": 36, "1": 12}
    assert td["skipped_records"] == 2 and td["documents"] == 48
    assert td["selection"]["label_field"] == "label"
    assert td["sources"][0]["name"] == "labelled.jsonl"
    tok = json.loads((root / "en" / "sentencepiece.manifest.json").read_text())
    assert m["tokenizer"]["sha256"] == tok["files"]["sentencepiece.model"]["sha256"]
    assert m["files"]["classifier.npz"] == file_entry(root / "en" / "classifier.npz")

    listing = winnow("models", root).stdout
    (line,) = [l for l in listing.splitlines() if "role=classifier" in l]
    assert line.split()[:2] == ["classifier", "linear"] and "label 1=harmful" in line
    assert f"sha256={m['files']['classifier.npz']['sha256'][:12]}" in line
    assert "all manifests and file hashes verified" in listing

    ms = ModelSet.load(root / "en")
    assert ms.classifier is not None and ms.classifier.label_meaning == "harmful"
    assert ms.hashes()[-1] == ("classifier", m["files"]["classifier.npz"]["sha256"])
    assert {name for name, _ in ms.hashes()} == {"kenlm-clean", "kenlm-harmful", "classifier"}
    assert ms.describe()["classifier"]["label_meaning"] == "harmful"
    assert ms.only("kenlm").classifier is None and ms.only("classifier").classifier is ms.classifier
    assert score_directions(ms)["classifier_prob"] == ABOVE
    assert manifest_reasons(root)["en"] == {"classifier_prob": "harmful"}
    assert manifest_reasons(root)["de"] == {}


def test_classifier_prob_is_higher_for_harmful_texts(cls_root, tmp_path):
    root = cls_root["root"]
    unseen_harmful = ["Shut up you stupid worthless idiot, nobody wants you here.",
                      "What a pathetic brainless moron, get lost."]
    unseen_clean = ["The museum in the old town opens again next spring after the building work.",
                    "Farmers brought wheat and potatoes to the weekly market on Tuesday."]
    docs = [("harmful", t) for t in HARMFUL + unseen_harmful] + [("clean", t) for t in CLEAN + unseen_clean]
    (tmp_path / "docs.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for _, t in docs))
    winnow("score", "--models", root, "--lang", "en", "--input", tmp_path / "docs.jsonl",
           "--output", tmp_path / "scored.jsonl")
    rows = [json.loads(line) for line in (tmp_path / "scored.jsonl").read_text().splitlines()]
    assert len(rows) == len(docs)
    probs = {"harmful": [], "clean": []}
    for (kind, _), row in zip(docs, rows):
        assert 0.0 <= row["classifier_prob"] <= 1.0
        probs[kind].append(row["classifier_prob"])
    assert np.mean(probs["harmful"]) > np.mean(probs["clean"]) + 0.5
    assert min(probs["harmful"][-2:]) > max(probs["clean"][-2:])  # texts it never saw

    # The Scorer API gives the same numbers; a document with no text has no probability.
    api = Scorer(ModelSet.load(root / "en")).score_dicts([t for _, t in docs] + ["", " \n\t"])
    assert [d["classifier_prob"] for d in api[:-2]] == pytest.approx([r["classifier_prob"] for r in rows],
                                                                      rel=1e-12)
    assert math.isnan(api[-2]["classifier_prob"]) and math.isnan(api[-1]["classifier_prob"])


def test_a_fasttext_classifier_trains_from_the_cli_and_scores(cls_root, tmp_path):
    """--kind fasttext: the manifest says so (and which seed trained: fastText may stop with
    "Encountered NaN" and is retried); it scores like the linear kind, and a damaged file is
    a model error in one line."""
    root = shutil.copytree(cls_root["root"], tmp_path / "models")
    for name in ("classifier.npz", "classifier.manifest.json"):
        (root / "en" / name).unlink()
    res = train_cli(root, cls_root["labelled"], "harmful", "--kind", "fasttext")
    assert "harmful fasttext classifier for en: classifier.bin" in res.stdout
    m = json.loads((root / "en" / "classifier.manifest.json").read_text())
    assert (m["kind"], m["params"]["dim"], m["params"]["wordNgrams"]) == ("fasttext", 50, 2)
    assert 0 <= m["params"]["seed"] == m["params"]["failed_attempts"] < 20 and "tokenizer" not in m
    assert m["training_data"]["labels"] == {"0": 36, "1": 12}
    assert not list((root / "en").glob(".train-*"))  # the training file is gone
    (line,) = [l for l in winnow("models", root).stdout.splitlines() if "role=classifier" in l]
    assert line.split()[:2] == ["classifier", "fasttext"]

    texts = ["Shut up you stupid worthless idiot, nobody wants you here."] + HARMFUL[:3] + CLEAN[:4] + [""]
    probs = [r["classifier_prob"] for r in Scorer(ModelSet.load(root / "en")).score_dicts(texts)]
    assert all(0 <= p <= 1 for p in probs[:-1]) and math.isnan(probs[-1])
    assert np.mean(probs[:4]) > np.mean(probs[4:8])

    # --quantize: a smaller file instead of the full one (which goes), scoring much the same.
    full = (root / "en" / "classifier.bin").stat().st_size
    assert "classifier.ftz" in train_cli(root, cls_root["labelled"], "harmful", "--kind", "fasttext",
                                         "--quantize").stdout
    assert not (root / "en" / "classifier.bin").exists() and (root / "en" / "classifier.ftz").stat().st_size < full / 4
    assert json.loads((root / "en" / "classifier.manifest.json").read_text())["params"]["quantized"] is True
    quantized = [r["classifier_prob"] for r in Scorer(ModelSet.load(root / "en")).score_dicts(texts)]
    assert quantized[:-1] == pytest.approx(probs[:-1], abs=0.1) and np.mean(quantized[:4]) > np.mean(quantized[4:8])
    assert "--quantize applies to --kind fasttext" in one_error_line(
        train_cli(root, cls_root["labelled"], "harmful", "--quantize", ok=False))
    train_cli(root, cls_root["labelled"], "harmful", "--kind", "fasttext")  # the full model again, for below

    data = bytearray((root / "en" / "classifier.bin").read_bytes())
    (root / "en" / "classifier.bin").write_bytes(bytes(data[: len(data) // 3]))
    m["files"]["classifier.bin"] = file_entry(root / "en" / "classifier.bin")  # a manifest that matches the damage
    (root / "en" / "classifier.manifest.json").write_text(json.dumps(m))
    with pytest.raises(WinnowModelError, match="classifier.bin: not a fastText classifier as trained"):
        ModelSet.load(root / "en")


def test_retraining_on_the_same_data_gives_the_same_file(cls_root, tmp_path):
    root = shutil.copytree(cls_root["root"], tmp_path / "models")
    # Zip entries carry a 2-second timestamp: retrain in another 2-second window than the
    # fixture did, so a model file that records the time cannot pass by chance.
    time.sleep(max(0.0, cls_root["trained_at"] + 2.1 - time.time()))
    train_cli(root, cls_root["labelled"])
    again = (root / "en" / "classifier.npz").read_bytes()
    assert again == cls_root["npz"]
    m = json.loads((root / "en" / "classifier.manifest.json").read_text())
    assert m["files"]["classifier.npz"]["sha256"] == ModelSet.load(cls_root["root"] / "en").classifier.sha256
    # ...and another setting gives another model (the comparison above can fail).
    train_cli(root, cls_root["labelled"], "harmful", "--epochs", "51")
    assert (root / "en" / "classifier.npz").read_bytes() != cls_root["npz"]


# --- 2. errors --------------------------------------------------------------------------------------


def test_classifier_training_errors_are_one_clear_line(cls_root, tmp_path):
    root = shutil.copytree(cls_root["root"], tmp_path / "models")
    before = (root / "en" / "classifier.npz").read_bytes()

    ones = tmp_path / "ones.jsonl"
    ones.write_text("".join(json.dumps({"text": t, "label": 1}) + "\n" for t in HARMFUL))
    err = one_error_line(train_cli(root, ones, ok=False))
    assert "ones.jsonl: a classifier needs texts of both labels" in err
    assert "found 0 labelled 0 and 12 labelled 1" in err
    assert (root / "en" / "classifier.npz").read_bytes() == before  # the old model is untouched
    ModelSet.load(root / "en")

    err = one_error_line(train_cli(root, TEXT / "en_clean.txt", ok=False))
    assert "not JSONL" in err and "en_clean.txt" in err

    err = one_error_line(train_cli(root, tmp_path / "missing.jsonl", ok=False))
    assert "missing.jsonl" in err

    bare = tmp_path / "bare"  # no tokenizer: nothing to read pieces with
    err = one_error_line(train_cli(bare, cls_root["labelled"], ok=False))
    assert "a classifier is trained on the pieces of its language's tokenizer" in err and "winnow train tokenizer --lang en" in err
    assert not (bare / "en" / "classifier.npz").exists()

    with pytest.raises(ValueError, match="not JSONL"):
        LabelledSource([TEXT / "en_clean.txt"])


def test_a_damaged_classifier_is_refused_naming_the_file(cls_root, tmp_path):
    root = shutil.copytree(cls_root["root"], tmp_path / "models")
    npz = root / "en" / "classifier.npz"
    npz.write_bytes(b"this is not a model " * 50)
    with pytest.raises(WinnowModelError, match=r"classifier\.npz: does not match its manifest"):
        ModelSet.load(root / "en")
    err = one_error_line(winnow("models", root, ok=False))
    assert str(npz) in err

    # The manifest made to match the garbage: the loader itself says what is wrong.
    path = root / "en" / "classifier.manifest.json"
    m = json.loads(path.read_text())
    m["files"]["classifier.npz"] = file_entry(npz)
    path.write_text(json.dumps(m))
    with pytest.raises(WinnowModelError, match=r"classifier\.npz: not a Winnow classifier"):
        ModelSet.load(root / "en")
    err = one_error_line(winnow("score", "--models", root, "--lang", "en", "--input", TEXT / "en_clean.txt",
                                ok=False))
    assert f"{npz}: not a Winnow classifier" in err


def _truncate_and_fix_manifest(root: Path) -> str | bool:
    npz = root / "en" / "classifier.npz"
    npz.write_bytes(npz.read_bytes()[: npz.stat().st_size // 2])
    path = root / "en" / "classifier.manifest.json"
    m = json.loads(path.read_text())
    m["files"]["classifier.npz"] = file_entry(npz)
    path.write_text(json.dumps(m))
    return True


def _flip_a_byte(root: Path) -> str | bool:
    npz = root / "en" / "classifier.npz"
    data = bytearray(npz.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size: what workers check ("size")
    npz.write_bytes(bytes(data))
    return "size"


def _npy_not_npz(root: Path) -> str | bool:
    import io

    npz = root / "en" / "classifier.npz"
    buf = io.BytesIO()
    np.save(buf, np.zeros(16, dtype=np.float32))
    npz.write_bytes(buf.getvalue())
    path = root / "en" / "classifier.manifest.json"
    m = json.loads(path.read_text())
    m["files"]["classifier.npz"] = file_entry(npz)
    path.write_text(json.dumps(m))
    return True


@pytest.mark.parametrize("damage", [_truncate_and_fix_manifest, _flip_a_byte, _npy_not_npz],
                         ids=["truncated", "same-size-damage-size-verify", "npy-file"])
def test_every_damaged_classifier_file_is_a_model_error(cls_root, tmp_path, damage):
    root = shutil.copytree(cls_root["root"], tmp_path / "models")
    verify = damage(root)
    with pytest.raises(WinnowModelError, match=r"classifier\.npz"):
        ModelSet.load(root / "en", verify=verify)


def test_a_classifier_of_another_tokenizer_or_a_second_one_is_refused(cls_root, tmp_path):
    # A classifier trained on the pieces of another tokenizer, copied into this folder.
    other = tmp_path / "other" / "en"
    train_tokenizer(TextSource(sorted(TEXT.glob("en_*.txt"))), other, "en", vocab_size=250)
    train_classifier(LabelledSource([cls_root["labelled"]]), other, "en", label_meaning="harmful",
                     buckets=4096, epochs=50)
    root = shutil.copytree(cls_root["root"], tmp_path / "models")
    for name in ("classifier.npz", "classifier.manifest.json"):
        shutil.copy(other / name, root / "en" / name)
    ModelSet.load(other)  # fine beside its own tokenizer
    with pytest.raises(WinnowModelError, match=r"classifier\.manifest\.json: classifier 'classifier' was trained "
                                               r"on pieces of a different tokenizer"):
        ModelSet.load(root / "en")
    err = one_error_line(winnow("score", "--models", root, "--input", TEXT / "en_clean.txt", ok=False))
    assert "different tokenizer" in err and "winnow train classifier --lang en" in err
    one_error_line(winnow("models", root, ok=False))

    # Two classifiers in one folder.
    root2 = shutil.copytree(cls_root["root"], tmp_path / "models2")
    m = json.loads((root2 / "en" / "classifier.manifest.json").read_text())
    (root2 / "en" / "second.manifest.json").write_text(json.dumps({**m, "name": "second"}))
    with pytest.raises(WinnowModelError, match="a second classifier"):
        ModelSet.load(root2 / "en")


def test_float_labels_are_read_or_skipped_not_a_traceback(cls_root, tmp_path):
    root = shutil.copytree(cls_root["root"], tmp_path / "models")
    labelled = tmp_path / "floats.jsonl"
    labelled.write_text(cls_root["labelled"].read_text() + json.dumps({"text": HARMFUL[0], "label": 1.0}) + "\n")
    res = train_cli(root, labelled)  # 1.0, as pandas writes a 1, is read as 1
    assert "Traceback" not in res.stderr
    assert "13 texts labelled 1, 36 labelled 0" in res.stdout


def test_a_label_whose_texts_are_all_blank_is_a_missing_label(cls_root, tmp_path):
    root = shutil.copytree(cls_root["root"], tmp_path / "models")
    labelled = tmp_path / "blank1.jsonl"
    labelled.write_text("".join(json.dumps({"text": t, "label": 0}) + "\n" for t in BENIGN + CLEAN)
                        + "".join(json.dumps({"text": " \n\t ", "label": 1}) + "\n" for _ in range(3)))
    err = one_error_line(train_cli(root, labelled, ok=False))
    assert "both labels" in err


# --- 3. the corpus LM and the contrast ----------------------------------------------------------------


def test_corpus_lm_gives_the_contrast(models_copy, tmp_path):
    out = winnow("train", "kenlm", "--lang", "en", "--role", "corpus", "--input", SAMPLE_WEB / "sample.jsonl",
                 "--models", models_copy, "--order", 3, "--memory", "64M").stdout
    assert "corpus KenLM for en" in out
    m = json.loads((models_copy / "en" / "kenlm-corpus.manifest.json").read_text())
    assert m["role"] == "corpus" and m["kind"] == "kenlm"

    ms = ModelSet.load(models_copy / "en")
    assert ms.lms["kenlm-corpus"].role == "corpus"
    directions = score_directions(ms)
    assert directions["kenlm_contrast"] == ABOVE and directions["kenlm_corpus_pp"] == ABOVE
    assert directions["kenlm_log_ratio"] == BELOW  # the harmful pair is unchanged
    assert manifest_directions(models_copy)["en"] == directions
    assert "kenlm_contrast" not in manifest_directions(models_copy)["de"]  # no corpus LM there
    assert default_scores(directions, {}) == ["kenlm_log_ratio", "kenlm_contrast"]  # replaces the clean PP

    docs = HARMFUL[:3] + CLEAN[:3] + ["Das ist ein deutscher Satz.\nThe river runs through the valley.", ""]
    rows = Scorer(ms).score_dicts(docs)
    for row in rows[:-1]:
        assert row["kenlm_corpus_pp"] > 1
        assert row["kenlm_contrast"] == pytest.approx(math.log10(row["kenlm_clean_pp"])
                                                      - math.log10(row["kenlm_corpus_pp"]), abs=1e-9)
        assert row["kenlm_log_ratio"] == pytest.approx(math.log10(row["kenlm_harmful_pp"])
                                                       - math.log10(row["kenlm_clean_pp"]), abs=1e-9)
    assert math.isnan(rows[-1]["kenlm_contrast"])
    # Without the corpus LM there is no contrast.
    assert "kenlm_contrast" not in Scorer(ms.named({"kenlm-clean", "kenlm-harmful"})).score_dicts(docs[:1])[0]


# --- 4. the harmful share ---------------------------------------------------------------------------


def test_harmful_share_of_one_line_documents_follows_the_log_ratio(models_root):
    rows = Scorer(ModelSet.load(models_root / "en")).score_dicts(HARMFUL + CLEAN + BENIGN)
    seen = set()
    for row in rows:
        assert 0.0 <= row["kenlm_harmful_share"] <= 1.0
        expected = 1.0 if row["kenlm_log_ratio"] < 0 else 0.0
        assert row["kenlm_harmful_share"] == expected
        seen.add(expected)
    assert seen == {0.0, 1.0}  # both sides occur in the fixture texts


def test_harmful_share_is_the_token_weighted_share_of_harmful_lines(models_root):
    ms = ModelSet.load(models_root / "en")
    scorer = Scorer(ms, per_line=True)
    (h,), (c,) = scorer.score([HARMFUL[0]]), scorer.score([CLEAN[0]])
    assert h.to_dict()["kenlm_log_ratio"] < 0 < c.to_dict()["kenlm_log_ratio"]
    docs = [f"{HARMFUL[0]}\n{CLEAN[0]}", f"{CLEAN[0]}\n{HARMFUL[0]}\n{CLEAN[1]}", f"{HARMFUL[0]}\n{HARMFUL[1]}"]
    for doc in scorer.score(docs):
        d = doc.to_dict()
        clean, harmful = doc.lines["kenlm-clean"], doc.lines["kenlm-harmful"]
        total = sum(n for _, n in clean)
        assert total == d["kenlm_clean_tokens"]
        expected = sum(n for (lh, n), (lc, _) in zip(harmful, clean) if lh > lc) / total
        assert d["kenlm_harmful_share"] == pytest.approx(expected, abs=1e-12)
    two = scorer.score(docs[:1])[0]
    share = two.to_dict()["kenlm_harmful_share"]
    n_harm, n_clean = two.lines["kenlm-clean"][0][1], two.lines["kenlm-clean"][1][1]
    assert n_harm != n_clean
    assert 0.0 < share < 1.0 and share == pytest.approx(n_harm / (n_harm + n_clean))  # tokens, not lines
    assert share != pytest.approx(0.5)
    assert scorer.score(docs[2:])[0].to_dict()["kenlm_harmful_share"] == 1.0


def test_harmful_share_compares_with_the_benign_lm_when_there_is_one(models_copy):
    train_kenlm(TextSource([TEXT / "en_benign.txt"]), models_copy / "en", "en", "benign", **TINY_LM)
    scorer = Scorer(ModelSet.load(models_copy / "en"), per_line=True)
    docs = [f"{HARMFUL[0]}\n{BENIGN[0]}\n{CLEAN[0]}", HARMFUL[2], BENIGN[2]]
    for doc in scorer.score(docs):
        d = doc.to_dict()
        benign, harmful = doc.lines["kenlm-benign"], doc.lines["kenlm-harmful"]
        expected = sum(n for (lh, n), (lb, _) in zip(harmful, benign) if lh > lb) / sum(n for _, n in benign)
        assert d["kenlm_harmful_share"] == pytest.approx(expected, abs=1e-12)
        assert d["kenlm_log_ratio"] == pytest.approx(math.log10(d["kenlm_harmful_pp"])
                                                     - math.log10(d["kenlm_benign_pp"]), abs=1e-9)


# --- 5. end to end: score-only run, tune, route ----------------------------------------------------------


@pytest.mark.parametrize("meaning, kind", [("harmful", "linear"), ("low_quality", "linear"), ("harmful", "fasttext")])
def test_score_only_run_tune_and_route_with_a_classifier(models_copy, tmp_path, capsys, meaning, kind):
    from winnow.pipeline.cli import main

    labelled = write_labelled(tmp_path / "labelled.jsonl")
    train_cli(models_copy, labelled, meaning, "--kind", kind)
    (tmp_path / "in").mkdir()
    texts = HARMFUL + BENIGN + CLEAN
    (tmp_path / "in" / "docs.jsonl").write_text("".join(json.dumps({"id": f"d{i}", "text": t}) + "\n"
                                                        for i, t in enumerate(texts)))
    scored, routed, th_file = tmp_path / "scored", tmp_path / "routed", tmp_path / "t.json"
    assert main(["run", "--input", str(tmp_path / "in"), "--models", str(models_copy), "--score-only",
                 "--output", str(scored), "--no-report"]) == 0
    rows = ds.dataset(scored, format="parquet", partitioning="hive").to_table().to_pylist()
    en = [r for r in rows if r["lang"] == "en"]
    assert len(rows) == len(texts) and len(en) >= 40
    assert all(r["classifier_prob"] is not None and 0 <= r["classifier_prob"] <= 1 for r in en)
    assert all("classifier" in dict(r["models"]) for r in en)
    by_id = {r["doc_id"]: r["classifier_prob"] for r in en}
    harm = [by_id[f"d{i}"] for i in range(len(HARMFUL)) if f"d{i}" in by_id]
    clean = [by_id[f"d{i}"] for i in range(len(HARMFUL) + len(BENIGN), len(texts)) if f"d{i}" in by_id]
    # fastText on 48 texts separates them less than the linear model, but in the same order
    assert np.mean(harm) > np.mean(clean) + (0.5 if kind == "linear" else 0.03)

    tune_args = ["tune", "--scored", str(scored), "--models", str(models_copy), "--output", str(th_file)]
    if meaning == "low_quality":  # with the clean PP, two quality scores: by default one combined rule
        assert main(tune_args) == 0
        combined = json.loads(th_file.read_text())["languages"]["en"]["rules"]
        assert [r["score"] for r in combined] == ["kenlm_log_ratio", "combined"]
        assert combined[1]["combined"]["features"] == ["kenlm_clean_pp", "classifier_prob"]
        assert combined[1]["reason"] == "low_quality"
        tune_args.append("--no-quality-combination")
    assert main(tune_args) == 0
    th = json.loads(th_file.read_text())
    rules = {r["score"]: r["reason"] for r in th["languages"]["en"]["rules"]}
    if meaning == "harmful":  # the classifier is the harmful rule, instead of the log-ratio
        assert rules == {"classifier_prob": "harmful", "kenlm_clean_pp": "low_quality"}
    else:  # the classifier is the quality rule, instead of the clean PP
        assert rules == {"classifier_prob": "low_quality", "kenlm_log_ratio": "harmful"}
    diag = th["languages"]["en"]["diagnostics"]["scores"]
    assert diag["classifier_prob"]["direction"] == ABOVE and diag["classifier_prob"]["reason"] == meaning
    assert diag["kenlm_harmful_share"]["reason"] == "harmful"
    assert th["models"]["en"]["classifier"] == ModelSet.load(models_copy / "en").classifier.sha256

    assert main(["route", "--scored", str(scored), "--models", str(models_copy), "--thresholds", str(th_file),
                 "--output", str(routed)]) == 0
    out = ds.dataset(routed, format="parquet", partitioning="hive").to_table().to_pylist()
    assert len(out) == len(rows)
    cut = next(r["value"] for r in th["languages"]["en"]["rules"] if r["score"] == "classifier_prob")
    by_cls = [r for r in out if r["decided_rule"] == "classifier_prob"]
    for r in by_cls:
        assert r["decided_value"] == r["classifier_prob"]
        if r["route"] == "drop":
            assert r["reason"] == meaning and r["classifier_prob"] > cut and r["decided_by"] == "classifier"
    if meaning == "harmful":  # the first rule: it decides every document's keep, and drops
        dropped = [r for r in by_cls if r["route"] == "drop"]
        assert dropped and all(r["classifier_prob"] > cut for r in dropped)
    else:  # the quality rule comes after the harmful one, which decides first
        assert [r["score"] for r in th["languages"]["en"]["rules"]] == ["kenlm_log_ratio", "classifier_prob"]
        assert all(r["reason"] == "harmful" for r in out if r["decided_rule"] == "kenlm_log_ratio"
                   and r["route"] == "drop")
        # Here the harmful rule drops what the classifier would: alone, the quality rule drops
        # exactly the documents above its cut, as low_quality.
        alone = copy.deepcopy(th)
        alone["languages"]["en"]["rules"] = [r for r in alone["languages"]["en"]["rules"]
                                             if r["score"] == "classifier_prob"]
        alone_file, alone_out = tmp_path / "alone.json", tmp_path / "routed-alone"
        alone_file.write_text(json.dumps(alone))
        assert main(["route", "--scored", str(scored), "--models", str(models_copy), "--thresholds",
                     str(alone_file), "--output", str(alone_out)]) == 0
        en_out = [r for r in ds.dataset(alone_out, format="parquet", partitioning="hive").to_table().to_pylist()
                  if r["lang"] == "en" and r["reason"] != "too_short"]
        dropped = [r for r in en_out if r["route"] == "drop"]
        assert dropped and len(dropped) < len(en_out)
        assert all((r["route"] == "drop") == (r["classifier_prob"] > cut) for r in en_out)
        assert all(r["reason"] == "low_quality" and r["decided_by"] == "classifier" for r in dropped)

    # Retrained, the classifier no longer means what tune measured: the rules refuse to load.
    train_cli(models_copy, labelled, meaning, "--epochs", "51")
    with pytest.raises(ThresholdsError, match="tuned on scores of other models than classifier"):
        load_thresholds_dict(th, load_model_sets(models_copy))
    capsys.readouterr()


def test_default_rules_put_the_harmful_rule_first(cls_root):
    """The default rules as tune writes them, in decision order."""
    directions = manifest_directions(cls_root["root"])["en"]
    assert default_scores(directions, {"classifier_prob": "harmful"}) == ["classifier_prob", "kenlm_clean_pp"]
    no_classifier = {k: v for k, v in directions.items() if k != "classifier_prob"}
    assert default_scores(no_classifier, {}) == ["kenlm_log_ratio", "kenlm_clean_pp"]


def test_a_low_quality_classifier_rule_comes_after_the_harmful_rule(cls_root):
    directions = manifest_directions(cls_root["root"])["en"]
    assert default_scores(directions, {"classifier_prob": "low_quality"}) == ["kenlm_log_ratio", "classifier_prob"]
