"""Small neural LMs: training, saving without pickle, the scoring contract, the pipeline."""
import json
import math
import shutil

import pytest

torch = pytest.importorskip("torch", reason="neural models need the [neural] extra (torch==2.13.0)")

from conftest import SAMPLE_WEB, TEXT  # noqa: E402
from winnow.models import ModelSet, Scorer, normalize_lines  # noqa: E402
from winnow.models.neural import build_model, NeuralConfig, train_neural  # noqa: E402
from winnow.models.textio import TextSource  # noqa: E402

TINY = dict(dim=32, layers=1, heads=2, max_len=16, max_doc_tokens=60, max_steps=40, batch_size=16)


@pytest.fixture(scope="module")
def neural_root(models_root, tmp_path_factory):
    root = tmp_path_factory.mktemp("neural-models")
    shutil.copytree(models_root / "en", root / "en")
    for role in ("clean", "harmful"):
        train_neural(TextSource([TEXT / f"en_{role}.txt"]), root / "en", "en", role, **TINY)
    return root


def test_manifest_and_safetensors(neural_root):
    m = json.loads((neural_root / "en" / "neural-clean.manifest.json").read_text())
    assert m["kind"] == "neural" and m["role"] == "clean" and set(m["files"]) == {"neural-clean.safetensors"}
    arch = m["params"]["architecture"]
    assert arch["max_doc_tokens"] == 60 and arch["max_len"] == 16
    assert m["params"]["parameters"] < 10_000_000 and m["params"]["steps"] == 40
    assert m["params"]["validation_perplexity"] > 1 and m["params"]["history"]
    assert 0 < m["params"]["kept_step"] <= m["params"]["steps"]
    raw = (neural_root / "en" / "neural-clean.safetensors").read_bytes()
    header = json.loads(raw[8:8 + int.from_bytes(raw[:8], "little")])  # safetensors: JSON header, no pickle
    assert "tok.weight" in header


def independent_log10p(ms, name, text):
    """Token by token with the model itself: <s> + pieces, predicting pieces + </s>, windows of max_len."""
    lm = ms.lms[name].model
    cfg, sp = lm.cfg, ms.tokenizer
    total, count, budget = 0.0, 0, cfg.max_doc_tokens
    for line in normalize_lines(text):
        if budget <= 0:
            break
        ids = sp.encode(line)
        if len(ids) + 1 <= budget:
            targets = ids + [sp.eos_id()]
            budget -= len(ids) + 1
        else:  # cut short: no </s>
            ids, targets, budget = ids[:budget], ids[:budget], 0
        inputs = ([sp.bos_id()] + ids)[: len(targets)]
        for s in range(0, len(targets), cfg.max_len):
            x = torch.tensor([inputs[s:s + cfg.max_len]])
            with torch.inference_mode():
                logp = lm.model(x)[0]
            for pos, t in enumerate(targets[s:s + cfg.max_len]):
                total += float(logp[pos, t]) / math.log(10)
                count += 1
    return total, count


def test_neural_perplexity_follows_the_contract(neural_root):
    ms = ModelSet.load(neural_root / "en")
    docs = ["The river runs slowly through the valley.\nFarmers sell wheat.",
            "You stupid idiot, shut up.",
            " ".join(["A very long line about the market and the bridge"] * 12),   # several windows
            "\n".join(["The library offers free courses for adults."] * 20),       # over max_doc_tokens
            ""]
    for doc, res in zip(docs, Scorer(ms).score(docs)):
        for name in ("neural-clean", "neural-harmful"):
            want, count = independent_log10p(ms, name, doc)
            got = res.lms[name]
            assert got.n_tokens == count <= 60
            if count:
                assert got.log10_prob == pytest.approx(want, rel=1e-5)
            else:
                assert math.isnan(got.perplexity)
    d = Scorer(ms).score_dicts(["Shut up you stupid loser."])[0]
    assert d["neural_log_ratio"] == pytest.approx(math.log10(d["neural_harmful_pp"]) - math.log10(d["neural_clean_pp"]))


def test_training_is_seeded(neural_root, tmp_path):
    shutil.copytree(neural_root / "en", tmp_path / "en")
    train_neural(TextSource([TEXT / "en_clean.txt"]), tmp_path / "en", "en", "clean", **TINY)
    a = json.loads((neural_root / "en" / "neural-clean.manifest.json").read_text())["files"]
    b = json.loads((tmp_path / "en" / "neural-clean.manifest.json").read_text())["files"]
    assert a == b


def test_pipeline_writes_and_routes_on_neural_scores(neural_root, tmp_path):
    from test_pipeline import assert_reconciles, run

    thresholds = {"thresholds_version": 1, "version": "neural-v1", "languages": {
        "en": {"rules": [{"score": "neural_log_ratio", "value": 0.0, "reason": "harmful"}]}, "*": {"rules": []}}}
    out = tmp_path / "out"
    result = run(neural_root, [SAMPLE_WEB], out, thresholds=thresholds)
    docs, _ = assert_reconciles(result, out)
    en = [d for d in docs if d["lang"] == "en" and d["n_lines"]]
    assert en and all(d["neural_clean_pp"] > 1 and d["neural_log_ratio"] is not None for d in en)
    harmful = [d for d in en if d["reason"] == "harmful"]
    assert harmful and all(d["neural_log_ratio"] < 0 for d in harmful)
    assert all(d["kenlm_clean_pp"] is None for d in en)  # no rule reads KenLM: it does not run


def test_models_no_rule_reads_do_not_run(neural_root, tmp_path):
    from conftest import FIXTURE_THRESHOLDS
    from test_pipeline import assert_reconciles, run

    thresholds = {**FIXTURE_THRESHOLDS, "languages": {"en": FIXTURE_THRESHOLDS["languages"]["en"], "*": {"rules": []}}}
    out = tmp_path / "out"
    docs, _ = assert_reconciles(run(neural_root, [SAMPLE_WEB], out, thresholds=thresholds), out)
    en = [d for d in docs if d["lang"] == "en" and d["n_lines"]]
    assert en and all(d["kenlm_clean_pp"] and d["neural_clean_pp"] is None for d in en)
    assert {d["decided_by"] for d in en} <= {"kenlm", None}


def test_adaptive_softmax_orders_pieces_by_training_frequency(neural_root):
    ms = ModelSet.load(neural_root / "en")
    model = ms.lms["neural-clean"].model.model
    rank = model.rank
    assert sorted(rank.tolist()) == list(range(len(rank)))  # a permutation
    counts = torch.zeros(len(rank))
    for line in (TEXT / "en_clean.txt").read_text().splitlines():
        for i in ms.tokenizer.encode(" ".join(normalize_lines(line))) + [ms.tokenizer.eos_id()]:
            counts[i] += 1
    by_rank = counts[torch.argsort(rank)]
    assert by_rank[:10].sum() > by_rank[-10:].sum()  # the head holds the frequent pieces
    assert list(ms.lms["neural-clean"].manifest["params"]["architecture"]["cutoffs"]) == model.out.cutoffs[:-1]


def test_build_model_size_stays_small():
    cfg = NeuralConfig(vocab_size=32000)  # the defaults a user gets
    n = sum(p.numel() for p in build_model(cfg).parameters())
    assert n < 10_000_000


def test_cascade_sends_only_uncertain_documents_to_the_neural_lm(neural_root, tmp_path):
    from test_pipeline import assert_reconciles, run
    from winnow.pipeline.routing import Router, load_thresholds_dict, manifest_directions
    from winnow.pipeline.tuning import TuneOptions, load_scored, tune

    scored = tmp_path / "scored"
    run(neural_root, [SAMPLE_WEB], scored, thresholds=None)
    thresholds = tune(load_scored(str(scored)), manifest_directions(neural_root), TuneOptions(cascade_band=0.3))
    en_rules = thresholds["languages"]["en"]["rules"]
    assert {r["cascade"]["score"] for r in en_rules} == {"neural_log_ratio", "neural_clean_pp"}
    thresholds["languages"]["*"] = {"rules": []}
    out = tmp_path / "out"
    result = run(neural_root, [SAMPLE_WEB], out, thresholds=thresholds)
    docs, _ = assert_reconciles(result, out)
    en = [d for d in docs if d["lang"] == "en" and d["n_lines"]]
    sent = [d for d in en if d["neural_clean_pp"] is not None]  # the documents the neural LMs scored
    assert 0 < len(sent) < len(en)  # some, not all
    assert result.counters["neural_scored"] == result.summary["neural_scored"] == len(sent)
    assert len(sent) <= 0.7 * len(en)  # at most the bands' share (two rules, 30% each)
    by_neural = [d for d in en if d["decided_by"] == "neural"]
    assert by_neural and all(d in sent for d in by_neural)
    # A document sent for one rule's band may still be dropped for certain by KenLM on another.
    assert all(d["route"] == "drop" for d in sent if d["decided_by"] == "kenlm")
    router = Router(load_thresholds_dict(thresholds, manifest_directions(neural_root)), ["en"])
    for d in en:  # sent exactly when a band could change the decision
        assert bool(router.cascade_scores("en", d)) == (d in sent)
    # Only the neural LMs a document's uncertain rules need run: the clean-PP band needs the
    # clean LM, the log-ratio band both; provenance lists exactly the models that scored it.
    names = lambda d: {name for name, _ in d["models"]}  # noqa: E731
    base = {"sentencepiece", "kenlm-clean", "kenlm-harmful"}
    ran = {tuple(sorted(names(d) - base)) for d in sent}
    assert ("neural-clean", "neural-harmful") in ran and ran <= {("neural-clean",), ("neural-clean", "neural-harmful")}
    from winnow.pipeline.job import JobConfig, build_processor

    processor = build_processor(JobConfig(inputs=(), models=str(neural_root), output=str(tmp_path / "x"),
                                          thresholds=thresholds))
    picks = lambda *scores: set(processor._cascade_scorer("en", set(scores)).model_set.lms)  # noqa: E731
    assert picks("neural_clean_pp") == {"neural-clean"}
    assert picks("neural_log_ratio") == picks("neural_log_ratio", "neural_clean_pp") == {"neural-clean", "neural-harmful"}
    for d in sent:
        assert (d["neural_harmful_pp"] is not None) == ("neural-harmful" in names(d))
        assert (d["neural_log_ratio"] is not None) == ("neural-harmful" in names(d))
    assert all(names(d) == base for d in en if d not in sent)


def test_worker_processes_share_the_cores_between_them(monkeypatch):
    from apache_beam.options.pipeline_options import PipelineOptions

    from winnow.models import neural
    from winnow.pipeline.job import worker_threads

    monkeypatch.setattr("os.cpu_count", lambda: 8)
    assert worker_threads(PipelineOptions([])) == 8  # in-process: all cores
    assert worker_threads(PipelineOptions(["--direct_num_workers=4", "--direct_running_mode=multi_processing"])) == 2
    assert worker_threads(PipelineOptions(["--direct_num_workers=0", "--direct_running_mode=multi_processing"])) == 1
    assert worker_threads(PipelineOptions(["--runner=DataflowRunner"])) == 1  # a worker process per core
    monkeypatch.delenv("WINNOW_NEURAL_THREADS", raising=False)
    monkeypatch.setattr(neural, "_default_threads", None)
    neural.set_default_threads(3)
    assert neural._threads() == 3
    monkeypatch.setenv("WINNOW_NEURAL_THREADS", "5")  # the user's word wins
    assert neural._threads() == 5


def test_cli_trains_neural_lms_then_tunes_a_cascade_and_a_combined_rule(models_root, tmp_path):
    from test_pipeline import winnow

    root = tmp_path / "models"
    shutil.copytree(models_root / "en", root / "en")
    tiny = ["--dim", "32", "--layers", "1", "--heads", "2", "--context", "16", "--max-doc-tokens", "60",
            "--max-steps", "30", "--batch-size", "16"]
    for role in ("clean", "harmful"):
        res = winnow("train", "neural", "--lang", "en", "--role", role, "--input", TEXT / f"en_{role}.txt",
                     "--models", root, *tiny)
        assert res.returncode == 0, res.stderr
        assert f"{role} neural LM for en" in res.stdout and "validation perplexity" in res.stdout
    scored = tmp_path / "scored"
    res = winnow("run", "--input", SAMPLE_WEB, "--models", root, "--score-only", "--output", scored)
    assert res.returncode == 0, res.stderr

    cascade = tmp_path / "cascade.json"
    res = winnow("tune", "--scored", scored, "--models", root, "--cascade-band", "0.3", "--output", cascade)
    assert res.returncode == 0, res.stderr
    rules = json.loads(cascade.read_text())["languages"]["en"]["rules"]
    assert {r["cascade"]["score"] for r in rules} == {"neural_log_ratio", "neural_clean_pp"}
    out = tmp_path / "out"
    res = winnow("run", "--input", SAMPLE_WEB, "--models", root, "--thresholds", cascade, "--output", out)
    assert res.returncode == 0, res.stderr
    summary = json.loads((out / "_SUMMARY.json").read_text())
    assert 0 < summary["neural_scored"] < summary["by_lang"]["en"]["read"]

    labels = tmp_path / "labels.jsonl"  # the sample's crude English documents are the bad ones
    with open(labels, "w") as f:
        for line in (SAMPLE_WEB / "sample.jsonl").read_text().splitlines():
            doc = json.loads(line)
            f.write(json.dumps({"id": doc["id"], "label": int(doc["kind"] == "crude")}) + "\n")
    combined = tmp_path / "combined.json"
    res = winnow("tune", "--scored", scored, "--models", root, "--labels", labels, "--output", combined)
    assert res.returncode == 0, res.stderr
    rule = json.loads(combined.read_text())["languages"]["en"]["rules"][0]
    assert rule["score"] == "combined" and {"kenlm_log_ratio", "neural_log_ratio"} <= set(rule["combined"]["features"])
    res = winnow("run", "--input", SAMPLE_WEB, "--models", root, "--thresholds", combined, "--output", tmp_path / "c")
    assert res.returncode == 0, res.stderr
    assert json.loads((tmp_path / "c" / "_SUMMARY.json").read_text())["by_reason"]["drop"].get("harmful", 0) > 0


def test_report_shows_the_cascade_band_and_who_decided(neural_root, tmp_path):
    from test_pipeline import run
    from winnow.pipeline.report import build_report, render_html
    from winnow.pipeline.routing import manifest_directions
    from winnow.pipeline.tuning import TuneOptions, load_scored, tune

    scored = tmp_path / "scored"
    run(neural_root, [SAMPLE_WEB], scored, thresholds=None)
    table = load_scored(str(scored))
    directions = manifest_directions(neural_root)
    thresholds = tune(table, directions, TuneOptions(cascade_band=0.3))
    report = build_report(table, directions, thresholds=thresholds)
    en = report["languages"]["en"]
    band = en["scores"]["kenlm_log_ratio"]["cascade_bands"]
    assert band == [next(r["cascade"]["band"] for r in en["rules"] if r["score"] == "kenlm_log_ratio")]
    assert en["decided_by"]["neural"] > 0 and en["decided_by"]["kenlm"] > 0
    page = render_html(report)
    assert "cascade band" in page and f"neural {en['decided_by']['neural']:,}" in page


def test_cascade_rows_are_the_same_in_worker_processes(neural_root, tmp_path):
    """Two worker processes (a PyTorch thread each) give the rows of one in-process run."""
    from test_pipeline import RUNNERS, _canonical, assert_reconciles, run
    from winnow.pipeline.routing import manifest_directions
    from winnow.pipeline.tuning import TuneOptions, load_scored, tune

    run(neural_root, [SAMPLE_WEB], tmp_path / "scored", thresholds=None)
    thresholds = tune(load_scored(str(tmp_path / "scored")), manifest_directions(neural_root),
                      TuneOptions(cascade_band=0.3))
    rows = {}
    for name in ("in-process", "multi-process"):
        out = tmp_path / name
        assert_reconciles(run(neural_root, [SAMPLE_WEB], out, thresholds=thresholds, beam_args=RUNNERS[name]), out)
        rows[name] = _canonical(out)
    # Everything is identical but the neural scores, which PyTorch sums in another order
    # with another thread count: equal to ~1e-9 relative.
    multi, single = rows["multi-process"], rows["in-process"]
    assert multi[1] == single[1] and len(multi[0]) == len(single[0])
    for a, b in zip(multi[0], single[0]):
        neural = {k for k in a if k.startswith("neural_")}
        assert {k: v for k, v in a.items() if k not in neural} == {k: v for k, v in b.items() if k not in neural}
        for k in neural:
            assert (a[k] is None) == (b[k] is None) and (a[k] is None or a[k] == pytest.approx(b[k], rel=1e-7)), k
    assert any(r.get("decided_by") == "neural" for r in rows["in-process"][0])


def test_a_partial_neural_scorer_keeps_the_ratio_reference(neural_root, tmp_path):
    """With clean, benign and harmful neural LMs, a cascade that needs the clean and harmful
    PPs but not the ratio must not write a ratio against the clean LM."""
    from winnow.pipeline.job import JobConfig, build_processor

    root = tmp_path / "models"
    shutil.copytree(neural_root / "en", root / "en")
    train_neural(TextSource([TEXT / "en_benign.txt"]), root / "en", "en", "benign", **TINY)
    raw = {"thresholds_version": 1, "version": "t", "languages": {"en": {"rules": [
        {"score": "kenlm_clean_pp", "value": 100, "reason": "low_quality",
         "cascade": {"score": "neural_clean_pp", "value": 100, "band": [0, 1e9]}},
        {"score": "kenlm_harmful_pp", "value": 1, "reason": "harmful",
         "cascade": {"score": "neural_harmful_pp", "value": 1, "band": [0, 1e9]}}]}}}
    processor = build_processor(JobConfig(inputs=(), models=str(root), output=str(tmp_path / "x"), thresholds=raw))
    scorer = processor._cascade_scorer("en", {"neural_clean_pp", "neural_harmful_pp"})
    assert set(scorer.model_set.lms) == {"neural-clean", "neural-harmful"}
    d = scorer.score_dicts(["Thanks for the recipe, my kids loved the soup."])[0]
    assert d["neural_clean_pp"] > 1 and "neural_log_ratio" not in d  # its reference (benign) did not run
    full = processor._cascade_scorer("en", {"neural_log_ratio"}).score_dicts(["Thanks for the recipe."])[0]
    assert full["neural_log_ratio"] == pytest.approx(
        math.log10(full["neural_harmful_pp"]) - math.log10(full["neural_benign_pp"]))
