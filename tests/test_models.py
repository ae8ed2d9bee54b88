"""Training, loading, verification and scoring of model sets."""
import json
import math

import kenlm
import pytest
import sentencepiece as spm

from winnow.models import (LanguageIdentifier, ModelSet, Scorer, WinnowModelError, load_model_set,
                           load_model_sets, normalize_lines, score_texts)
from winnow.models.kenlm_native import NativeKenLM
from winnow.models.tokenizer import UNK_WORD
from winnow.models.kenlm_lm import train_kenlm
from winnow.models.textio import TextSource
from winnow.models.tokenizer import train_tokenizer

from conftest import TEXT, TINY, TINY_LM

DOCS = [
    "The river runs slowly through the valley.\nFarmers sell their harvest at the market.",
    "You stupid idiot, shut up and go away.",
    "Völlig unbekannter Text mit Zahlen 12345 und „Anführungszeichen“.\r\n\r\nZweite Zeile.",
    "",
    "   \n\t\n",
    "A single line without a trailing newline",
    "Unknown characters ☃ ☄ and ࿊ to the tokenizer",
]


def lm_words(sp, line):
    """The pieces of a normalized line as the LM sees them (unknown piece -> UNK_WORD)."""
    return [UNK_WORD if i == sp.unk_id() else sp.id_to_piece(i) for i in sp.encode(line)]


def independent_pp(model_path, sp_path, text):
    """Perplexity recomputed from kenlm.Model.full_scores, token by token."""
    model = kenlm.Model(str(model_path))
    sp = spm.SentencePieceProcessor(model_file=str(sp_path))
    total, count = 0.0, 0
    for line in normalize_lines(text):
        pieces = lm_words(sp, line)
        scores = list(model.full_scores(" ".join(pieces), bos=True, eos=True))
        assert len(scores) == len(pieces) + 1  # every piece plus </s>
        total += sum(s[0] for s in scores)
        count += len(scores)
    return 10 ** (-total / count) if count else math.nan, total, count


@pytest.mark.parametrize("native", [True, False], ids=["native", "kenlm-module"])
def test_golden_perplexity_matches_full_scores(models_root, native):
    ms = ModelSet.load(models_root / "en", native=native)
    assert isinstance(ms.lms["kenlm-clean"].model, NativeKenLM) == native
    results = Scorer(ms).score(DOCS)
    for doc, res in zip(DOCS, results):
        for name in ("kenlm-clean", "kenlm-harmful"):
            pp, total, count = independent_pp(models_root / "en" / f"{name}.bin",
                                              models_root / "en" / "sentencepiece.model", doc)
            got = res.lms[name]
            assert got.n_tokens == count
            if count == 0:
                assert math.isnan(got.perplexity)
            else:
                assert got.perplexity == pytest.approx(pp, rel=1e-9)
                assert got.log10_prob == pytest.approx(total, rel=1e-9)


def test_native_and_module_paths_agree_exactly(models_root):
    native = Scorer(ModelSet.load(models_root / "en")).score_dicts(DOCS)
    module = Scorer(ModelSet.load(models_root / "en", native=False)).score_dicts(DOCS)
    assert json.dumps(native) == json.dumps(module)  # NaN-safe exact comparison


def test_unknown_characters_are_one_lm_word(models_root):
    sp = load_model_set(models_root, "en").tokenizer
    assert UNK_WORD in lm_words(sp, "snow ☃")
    assert "☃" not in kenlm.Model(str(models_root / "en" / "kenlm-clean.bin"))
    res = Scorer(load_model_set(models_root, "en")).score(["☃", "☄"])
    assert res[0].lms["kenlm-clean"].log10_prob == res[1].lms["kenlm-clean"].log10_prob


def test_per_line_scores_sum_to_document(models_root):
    res = Scorer(load_model_set(models_root, "en"), per_line=True).score([DOCS[0]])[0]
    lines = res.lines["kenlm-clean"]
    assert len(lines) == 2 == res.n_lines
    assert math.fsum(lp for lp, _ in lines) == pytest.approx(res.lms["kenlm-clean"].log10_prob, rel=1e-12)
    assert sum(n for _, n in lines) == res.lms["kenlm-clean"].n_tokens == res.n_pieces + 2


def test_whole_document_mode_scores_one_line(models_root):
    ms = load_model_set(models_root, "en")
    whole = Scorer(ms, whole_document=True).score([DOCS[0]])[0]
    per_line = Scorer(ms).score([DOCS[0]])[0]
    assert whole.n_lines == 1 and per_line.n_lines == 2
    assert whole.lms["kenlm-clean"].n_tokens == per_line.lms["kenlm-clean"].n_tokens - 1


def test_log_ratio_direction(models_root):
    """Harmful-looking text gets a lower log-ratio (log PP_harmful - log PP_clean)."""
    ms = load_model_set(models_root, "en")
    clean, crude = Scorer(ms).score([
        "The library offers free courses in languages and computing for adults.",
        "Shut up you stupid loser, nobody wants your garbage.",
    ])
    assert crude.log_ratios["kenlm"] < 0 < clean.log_ratios["kenlm"]
    assert crude.lms["kenlm-harmful"].perplexity < clean.lms["kenlm-harmful"].perplexity
    d = crude.to_dict()
    assert d["kenlm_log_ratio"] == pytest.approx(
        math.log10(d["kenlm_harmful_pp"]) - math.log10(d["kenlm_clean_pp"]), rel=1e-9)


def test_a_benign_model_becomes_the_log_ratios_reference(models_copy):
    """With clean, benign and harmful LMs: the ratio is harmful vs benign, the clean PP stays."""
    from winnow.pipeline.routing import ABOVE, BELOW, manifest_directions

    train_kenlm(TextSource([TEXT / "en_benign.txt"]), models_copy / "en", "en", "benign", **TINY_LM)
    ms = load_model_set(models_copy, "en")
    assert {n: lm.role for n, lm in ms.lms.items()} == {
        "kenlm-clean": "clean", "kenlm-harmful": "harmful", "kenlm-benign": "benign"}
    friendly, crude = Scorer(ms).score_dicts(["Thanks for the recipe, my kids loved the soup.",
                                               "Shut up you stupid loser, nobody wants your garbage."])
    for d in (friendly, crude):
        assert d["kenlm_clean_pp"] > 1 and d["kenlm_benign_pp"] > 1
        assert d["kenlm_log_ratio"] == pytest.approx(
            math.log10(d["kenlm_harmful_pp"]) - math.log10(d["kenlm_benign_pp"]), rel=1e-9)
    assert crude["kenlm_log_ratio"] < friendly["kenlm_log_ratio"]
    directions = manifest_directions(models_copy)["en"]
    assert directions["kenlm_benign_pp"] == ABOVE and directions["kenlm_log_ratio"] == BELOW


def test_no_ratio_without_both_roles(models_root):
    res = Scorer(load_model_set(models_root, "de")).score(["Der Fluss fließt durch das Tal."])[0]
    assert res.log_ratios == {} and set(res.lms) == {"kenlm-clean"}


def test_manifest_records_what_the_design_asks(models_root):
    m = json.loads((models_root / "en" / "kenlm-clean.manifest.json").read_text())
    assert m["kind"] == "kenlm" and m["role"] == "clean" and m["lang"] == "en"
    assert m["normalizer"] == "winnow-norm-1"
    assert m["params"]["order"] == 3 and m["params"]["binary"] == "trie"
    assert set(m["files"]) == {"kenlm-clean.bin"}
    assert m["training_data"]["fingerprint"].startswith("sha256:")
    assert m["training_data"]["documents"] == 24 and m["training_data"]["tokens"] > 500
    assert m["tokenizer"]["sha256"] == json.loads(
        (models_root / "en" / "sentencepiece.manifest.json").read_text())["files"]["sentencepiece.model"]["sha256"]
    assert {"winnow", "kenlm", "sentencepiece", "lmplz"} <= set(m["tools"])


def test_refuses_tampered_model_file(models_copy):
    path = models_copy / "en" / "kenlm-harmful.bin"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, different content
    path.write_bytes(bytes(data))
    with pytest.raises(WinnowModelError, match=r"kenlm-harmful\.bin: does not match its manifest"):
        load_model_set(models_copy, "en")


def test_refuses_tampered_tokenizer(models_copy):
    (models_copy / "en" / "sentencepiece.model").write_bytes(b"not a model")
    with pytest.raises(WinnowModelError, match=r"sentencepiece\.model: does not match its manifest"):
        load_model_set(models_copy, "en")


def test_refuses_other_normalizer_version(models_copy):
    path = models_copy / "fr" / "kenlm-clean.manifest.json"
    m = json.loads(path.read_text())
    m["normalizer"] = "ccnet-v0"
    path.write_text(json.dumps(m))
    with pytest.raises(WinnowModelError, match=r"kenlm-clean\.manifest\.json.*normalizer 'ccnet-v0'"):
        load_model_set(models_copy, "fr")


def test_refuses_lm_of_another_tokenizer(models_copy):
    """Retraining the tokenizer leaves the old LM's pieces meaningless: refuse it."""
    train_tokenizer(TextSource([TEXT / "de_clean.txt"]), models_copy / "de", "de", vocab_size=200)
    with pytest.raises(WinnowModelError, match=r"kenlm-clean\.manifest\.json.*different tokenizer"):
        load_model_set(models_copy, "de")


def test_refuses_invalid_manifest(models_copy):
    path = models_copy / "en" / "kenlm-clean.manifest.json"
    m = json.loads(path.read_text())
    m["role"] = "good"
    path.write_text(json.dumps(m))
    with pytest.raises(WinnowModelError, match=r"role: 'good' is not one of"):
        load_model_set(models_copy, "en")


def test_missing_language_is_named(models_root):
    with pytest.raises(WinnowModelError, match=r"no model set for xx \(found: de, en, fr\)"):
        load_model_sets(models_root, ["xx"])


def test_probing_binary_and_arpa_scores_agree(models_root, tmp_path):
    """The three stored forms of one model score the same text alike."""
    folder = tmp_path / "en"
    folder.mkdir()
    for f in ("sentencepiece.model", "sentencepiece.manifest.json"):
        (folder / f).write_bytes((models_root / "en" / f).read_bytes())
    train_kenlm(TextSource([TEXT / "en_clean.txt"]), folder, "en", "clean", binary="probing",
                keep_arpa=True, **TINY_LM)
    m = json.loads((folder / "kenlm-clean.manifest.json").read_text())
    assert set(m["files"]) == {"kenlm-clean.bin", "kenlm-clean.arpa"} and m["params"]["binary"] == "probing"
    probing = Scorer(load_model_set(tmp_path, "en")).score(DOCS[:3])
    arpa = kenlm.Model(str(folder / "kenlm-clean.arpa"))
    trie = Scorer(load_model_set(models_root, "en")).score(DOCS[:3])
    for doc, p, t in zip(DOCS, probing, trie):
        sp = spm.SentencePieceProcessor(model_file=str(folder / "sentencepiece.model"))
        exact = sum(arpa.score(" ".join(lm_words(sp, line)), bos=True, eos=True) for line in normalize_lines(doc))
        assert p.lms["kenlm-clean"].log10_prob == pytest.approx(exact, rel=1e-6)
        # 8-bit quantization moves the trie's scores a little, never far
        assert t.lms["kenlm-clean"].log10_prob == pytest.approx(exact, rel=0.05)


def test_training_from_jsonl_with_filters(tmp_path):
    src = tmp_path / "docs.jsonl"
    rows = [{"text": line, "label": i % 2, "split": "train"} for i, line in
            enumerate((TEXT / "en_clean.txt").read_text().splitlines())]
    rows.append({"label": 1})                  # no text: skipped, counted
    rows.append({"text": 5, "label": 1})       # wrong type: skipped, counted
    src.write_text("\n".join(json.dumps(r) for r in rows) + "\nnot json\n")
    source = TextSource([src], where={"label": "1"})
    train_tokenizer(source, tmp_path / "m" / "en", "en", **TINY)
    m = json.loads((tmp_path / "m" / "en" / "sentencepiece.manifest.json").read_text())
    assert m["training_data"]["documents"] == 12
    assert m["training_data"]["skipped_records"] == 3
    assert m["training_data"]["selection"] == {"text_field": "text", "where": {"label": "1"}}


def test_empty_training_input_fails_clearly(tmp_path, models_root):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    from winnow.models import TrainingError
    with pytest.raises(TrainingError, match="no text"):
        train_tokenizer(TextSource([empty]), tmp_path / "m" / "en", "en", **TINY)


def test_language_id_clear_cases(lid):
    texts = [
        "The weather service expects rain in the north during the weekend.",
        "Der Wetterdienst erwartet am Wochenende Regen im Norden des Landes.",
        "Le service météorologique prévoit de la pluie dans le nord ce week-end.",
        "El servicio meteorológico espera lluvia en el norte durante el fin de semana.",
        "気象庁は週末に北部で雨が降ると予想しています。",
        "",
        "two\nlines of English text, which fastText reads as one",
        "\x00a NUL first: fastText would stop reading at it, and call this text nothing",
    ]
    got = lid.predict(texts)
    assert [lang for lang, _ in got] == ["en", "de", "fr", "es", "ja", "und", "en", "en"]
    assert all(p > 0.8 for _, p in got[:5]) and got[5][1] == 0.0


def test_score_texts_routes_by_language(models_root, lid):
    rows = score_texts(["The old bridge was repaired last summer.",
                        "Die alte Brücke wurde im letzten Sommer repariert.",
                        "Il ponte vecchio è stato riparato la scorsa estate."], models_root, lid=lid)
    assert [r["lang"] for r in rows] == ["en", "de", "it"]
    assert "kenlm_clean_pp" in rows[0] and "kenlm_log_ratio" in rows[0]
    assert "kenlm_clean_pp" in rows[1] and "kenlm_log_ratio" not in rows[1]
    assert "kenlm_clean_pp" not in rows[2]  # no Italian model set: language only


def test_lid_missing_model_is_explained(tmp_path):
    with pytest.raises(WinnowModelError, match="language-ID model not found"):
        LanguageIdentifier(tmp_path / "nope.ftz")


def test_size_only_verification_for_workers(models_copy):
    """Workers may check sizes only (the launcher verified hashes); a size change still fails."""
    path = models_copy / "fr" / "kenlm-clean.manifest.json"
    manifest = json.loads(path.read_text())
    entry = manifest["files"]["kenlm-clean.bin"]
    entry["sha256"] = "0" * 64  # as if the file had been replaced by one of the same size
    path.write_text(json.dumps(manifest))
    load_model_set(models_copy, "fr", verify="size")  # not detected, by design
    with pytest.raises(WinnowModelError, match="does not match its manifest"):
        load_model_set(models_copy, "fr")
    entry["bytes"] += 10
    path.write_text(json.dumps(manifest))
    with pytest.raises(WinnowModelError, match="does not match its manifest"):
        load_model_set(models_copy, "fr", verify="size")


def test_short_texts_fall_back_to_a_language_below_the_confidence_floor(models_root, lid):
    from winnow.models import load_model_sets
    from winnow.pipeline.routing import Router
    from winnow.pipeline.stages import DocumentProcessor

    sets = load_model_sets(models_root)
    docs = [{"doc_id": str(i), "source_file": "f", "record_index": i, "record_offset": None, "url": None,
             "warc_record_id": None, "text": t, "skip": None}
            for i, t in enumerate(["Okay, thanks anyway -)", "The weather service expects rain in the north."])]
    plain = DocumentProcessor(sets, Router(None, sets), lid=lid).process(docs)
    assert plain[0]["lang"] != "en" and plain[0]["lang_prob"] < 0.5 and not plain[0]["lang_fallback"]
    rows = DocumentProcessor(sets, Router(None, sets), lid=lid, lang_fallback="en").process(docs)
    assert rows[0]["lang"] == "en" and rows[0]["lang_fallback"] and rows[0]["kenlm_clean_pp"] is not None
    assert rows[0]["lang_prob"] == plain[0]["lang_prob"]  # fastText's own confidence is kept
    assert rows[1]["lang"] == "en" and not rows[1]["lang_fallback"]  # a confident English text: as it was
