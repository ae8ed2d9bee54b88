"""The Beam job end to end: accounting, dead letters, reruns, score-only, runners."""
import copy
import json
import math
import subprocess
import sys
from pathlib import Path

import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from bad_inputs import make_bad_inputs
from conftest import FIXTURE_THRESHOLDS, SAMPLE_WEB, shared_data
from winnow.pipeline.commit import OutputError
from winnow.pipeline.engines import Engine
from winnow.pipeline.job import JobConfig, run_job
from winnow.schemas import validate

RUNNERS = {
    "in-process": [],
    "multi-process": ["--direct_num_workers=2", "--direct_running_mode=multi_processing"],
    "portable": ["--runner=PortableRunner", "--job_endpoint=embed", "--environment_type=LOOPBACK"],
}


def run(models_root, inputs, out, *, thresholds=FIXTURE_THRESHOLDS, beam_args=(), overwrite=False, **options):
    """``winnow run`` as the CLI runs it: on Beam, under the output's commit protocol."""
    config = JobConfig(inputs=tuple(str(p) for p in inputs), models=str(models_root), output=str(out),
                       thresholds=thresholds, progress=False, **options)
    return Engine("beam", beam_args=tuple(beam_args)).run(config, overwrite=overwrite)


def output_rows(out: Path) -> tuple[list[dict], list[dict]]:
    """(document rows with their route and lang partitions, rejected rows) read back as one table."""
    docs = []
    if any(out.glob("route=*")):
        docs = ds.dataset(out, format="parquet", partitioning="hive").to_table().to_pylist()
    rejected = pq.read_table(out / "_rejected").to_pylist() if (out / "_rejected").exists() else []
    return docs, rejected


def assert_reconciles(result, out):
    s = result.summary
    validate(s, "run_summary")
    assert s["read"] == s["kept"] + s["dropped"] + s["rejected"] + s["scored"]
    for name, counts in s["by_input"].items():
        assert counts["read"] == sum(v for k, v in counts.items() if k != "read"), name
    assert sum(c["read"] for c in s["by_lang"].values()) == s["read"] - s["rejected"]
    docs, rejected = output_rows(out)
    assert len(docs) + len(rejected) == s["read"]
    assert len(rejected) == s["rejected"]
    # Beam's counters say the same as the summary.
    c = result.counters
    assert c.get("read", 0) == s["read"]
    assert c.get("keep", 0) == s["kept"] and c.get("drop", 0) == s["dropped"]
    assert c.get("rejected", 0) == s["rejected"] and c.get("scored", 0) == s["scored"]
    for route, reasons in s["by_reason"].items():
        for reason, n in reasons.items():
            assert c[f"{route}.{reason}"] == n
    return docs, rejected


@pytest.fixture(scope="module")
def bad(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bad-inputs")
    return folder, make_bad_inputs(folder)


def test_every_bad_input_is_accounted_for(models_root, bad, tmp_path):
    folder, expect = bad
    out = tmp_path / "out"
    result = run(models_root, [folder, SAMPLE_WEB], out)
    docs, rejected = assert_reconciles(result, out)
    by_input = result.summary["by_input"]
    for name, want in expect.items():
        counts = by_input.get(str(folder / name), {"read": 0})
        if "read" in want:
            assert counts["read"] == want["read"], name
        got = {}
        for r in rejected:
            if r["source_file"] == str(folder / name):
                got[r["reason"]] = got.get(r["reason"], 0) + 1
        if "rejected" in want:
            assert got == want["rejected"], name
    assert result.summary["by_reason"]["drop"]["empty"] >= 3
    # Every row carries provenance, model hashes and the thresholds version.
    kept = [d for d in docs if d["route"] == "keep"]
    assert kept and all(d["thresholds_version"] == "fixture-v1" and d["models"] for d in kept)
    assert all(d["source_file"] and d["record_index"] >= 0 for d in docs)


def test_shards_are_hive_partitioned_and_named_after_inputs(models_root, tmp_path):
    out = tmp_path / "out"
    run(models_root, [SAMPLE_WEB], out)
    names = sorted(str(p.relative_to(out)) for p in out.rglob("*.parquet"))
    assert any(n.startswith("route=keep/lang=en/part-sample-") for n in names)
    assert any(n.startswith("route=drop/lang=und/part-sample-") for n in names)  # the WARC's image and 404
    assert not list(out.rglob(".*.tmp"))  # no temporary files left behind
    assert all(n.split("/")[0] in ("route=keep", "route=drop") for n in names)


def test_rerun_replaces_instead_of_duplicating(models_root, tmp_path):
    out = tmp_path / "out"
    first = run(models_root, [SAMPLE_WEB], out)
    strict = copy.deepcopy(FIXTURE_THRESHOLDS)
    strict["version"] = "strict"
    for spec in strict["languages"].values():
        spec["rules"].append({"score": "kenlm_clean_pp", "value": 0.5, "reason": "low_quality"})
    with pytest.raises(OutputError, match="different configuration"):
        run(models_root, [SAMPLE_WEB], out, thresholds=strict)
    second = run(models_root, [SAMPLE_WEB], out, thresholds=strict, overwrite=True)
    assert second.summary["read"] == first.summary["read"]
    assert second.summary["kept"] < first.summary["kept"]
    docs, _ = assert_reconciles(second, out)
    assert {d["thresholds_version"] for d in docs} == {"strict"}


def test_score_only(models_root, bad, tmp_path):
    folder, _ = bad
    out = tmp_path / "out"
    result = run(models_root, [SAMPLE_WEB, folder / "fields.jsonl"], out, thresholds=None)
    s = result.summary
    assert s["kept"] == s["dropped"] == 0 and s["scored"] == s["read"] - s["rejected"] > 0
    docs, _ = assert_reconciles(result, out)
    assert {d["route"] for d in docs} == {"scored"}
    en = [d for d in docs if d["lang"] == "en" and d["n_lines"]]
    assert en and all(d["kenlm_clean_pp"] > 1 and d["kenlm_log_ratio"] is not None for d in en)
    assert all(d["thresholds_version"] is None for d in docs)


def _canonical(out):
    docs, rejected = output_rows(out)
    key = lambda r: (r.get("route", ""), r.get("lang", ""), r["source_file"], r["record_index"])
    return sorted(docs, key=key), sorted(rejected, key=key)


def test_runners_give_identical_rows(models_root, bad, tmp_path):
    folder, _ = bad
    inputs = [SAMPLE_WEB, folder / "fields.jsonl", folder / "corrupt.jsonl.gz"]
    results = {}
    for name, args in RUNNERS.items():
        out = tmp_path / name
        res = run(models_root, inputs, out, beam_args=args)
        assert_reconciles(res, out)
        results[name] = _canonical(out)
    reference = results.pop("in-process")
    assert len(reference[0]) > 300
    for name, rows in results.items():
        assert rows == reference, f"{name} differs from the in-process runner"


def test_shared_warc_fixtures_run_to_completion(models_root, tmp_path):
    folder = shared_data("fixtures", "warc")
    out = tmp_path / "out"
    result = run(models_root, [folder], out)
    assert_reconciles(result, out)
    assert result.summary["rejected"] >= 4 and result.summary["read"] > 30
    assert len(result.summary["by_input"]) == len(list(folder.iterdir()))


# --- the CLI -----------------------------------------------------------------------------------

def winnow(*args):
    return subprocess.run([sys.executable, "-m", "winnow.pipeline.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=300)


def test_cli_run_prints_the_summary(models_root, thresholds_file, tmp_path):
    out = tmp_path / "out"
    res = winnow("run", "--input", SAMPLE_WEB, "--models", models_root, "--thresholds", thresholds_file,
                 "--output", out, "--direct_num_workers=1")
    assert res.returncode == 0, res.stderr
    summary = json.loads((out / "_SUMMARY.json").read_text())
    assert f"read {summary['read']} = {summary['kept']} kept + {summary['dropped']} dropped" in res.stdout
    assert "drop reasons:" in res.stdout and "_SUMMARY.json" in res.stdout
    assert "Traceback" not in res.stderr and "apitools" not in res.stderr


@pytest.mark.parametrize("case", ["no-model", "tampered", "bad-thresholds", "unknown-score", "no-mode",
                                  "missing-input"])
def test_cli_run_fails_before_any_work(models_copy, thresholds_file, tmp_path, case):
    out = tmp_path / "out"
    models, thresholds, inputs, mode = models_copy, ["--thresholds", thresholds_file], [SAMPLE_WEB], []
    if case == "no-model":
        models = tmp_path / "empty-models"
        models.mkdir()
        expect = "holds no model sets"
    elif case == "tampered":
        (models_copy / "de" / "kenlm-clean.bin").write_bytes(b"x" * 100)
        expect = "kenlm-clean.bin: does not match its manifest"
    elif case == "bad-thresholds":
        bad = tmp_path / "t.json"
        bad.write_text('{"thresholds_version": 1, "languages": {}}')
        thresholds = ["--thresholds", bad]
        expect = "'version' is a required property"
    elif case == "unknown-score":
        raw = copy.deepcopy(FIXTURE_THRESHOLDS)
        raw["languages"]["fr"]["rules"][0]["score"] = "kenlm_harmful_pp"
        bad = tmp_path / "t.json"
        bad.write_text(json.dumps(raw))
        thresholds = ["--thresholds", bad]
        expect = "fr: rule 0 uses 'kenlm_harmful_pp'"
    elif case == "no-mode":
        thresholds = []
        expect = "pass either --thresholds FILE"
    else:
        inputs = [tmp_path / "nothing-here*.jsonl"]
        expect = "no input files match"
    res = winnow("run", "--input", *inputs, "--models", models, *thresholds, *mode, "--output", out)
    assert res.returncode == 2, res.stderr
    assert expect in res.stderr
    assert "Traceback" not in res.stderr
    assert not out.exists(), "nothing may be written when the run cannot start"


def test_cli_run_help_mentions_beam_options():
    res = winnow("run", "--help")
    text = " ".join(res.stdout.split())
    for word in ("--thresholds", "--score-only", "--keep-unscored-langs", "--runner DataflowRunner",
                 "--direct_num_workers 2", "read = kept + dropped + rejected"):
        assert word in text


def test_process_file_dofn_in_a_test_pipeline(models_root, bad, tmp_path):
    """The ParDo alone, with Beam's testing utilities: one result per input file."""
    import apache_beam as beam
    from apache_beam.testing.test_pipeline import TestPipeline
    from apache_beam.testing.util import assert_that, equal_to

    from winnow.pipeline.job import ProcessUnit, choose_runner
    from winnow.pipeline.units import Unit

    folder, _ = bad
    files = [str(folder / "fields.jsonl"), str(folder / "empty_text.jsonl")]
    config = JobConfig(inputs=tuple(files), models=str(models_root), output=str(tmp_path / "o"),
                       thresholds=FIXTURE_THRESHOLDS, progress=False)
    with TestPipeline(runner=choose_runner(PipelineOptions([]))) as p:
        reads = (p | beam.Create([Unit(f) for f in files]) | beam.ParDo(ProcessUnit(config))
                 | beam.Map(lambda r: (Path(r["source_file"]).name, sum(n for _, n in r["counts"]))))
        assert_that(reads, equal_to([("fields.jsonl", 9), ("empty_text.jsonl", 3)]))


def test_route_on_score_only_output_equals_run(models_root, bad, thresholds_file, tmp_path):
    """Score once, route many times: route(run --score-only) == run with the same thresholds."""
    from winnow.pipeline.job import RouteConfig
    from winnow.pipeline.routing import manifest_directions

    folder, _ = bad
    inputs = [SAMPLE_WEB, folder / "fields.jsonl", folder / "corrupt.jsonl.gz"]
    direct = run(models_root, inputs, tmp_path / "direct")
    run(models_root, inputs, tmp_path / "scored", thresholds=None)
    config = RouteConfig(scored=str(tmp_path / "scored"), models=str(models_root), output=str(tmp_path / "routed"),
                         thresholds=FIXTURE_THRESHOLDS, directions=manifest_directions(models_root))
    routed = run_job(config, PipelineOptions([]))
    assert_reconciles(routed, tmp_path / "routed")
    for key in ("read", "kept", "dropped", "rejected", "by_lang", "by_reason", "by_input"):
        assert routed.summary[key] == direct.summary[key], key
    assert _canonical(tmp_path / "routed") == _canonical(tmp_path / "direct")
    names = lambda out: sorted(str(p.relative_to(out)) for p in out.rglob("*.parquet"))
    assert names(tmp_path / "routed") == names(tmp_path / "direct")


def test_cli_route(models_root, thresholds_file, tmp_path):
    scored = tmp_path / "scored"
    assert winnow("run", "--input", SAMPLE_WEB, "--models", models_root, "--score-only", "--output", scored
                  ).returncode == 0
    res = winnow("route", "--scored", scored, "--models", models_root, "--thresholds", thresholds_file,
                 "--output", tmp_path / "routed")
    assert res.returncode == 0, res.stderr
    assert "kept +" in res.stdout and (tmp_path / "routed" / "_SUMMARY.json").exists()
    res = winnow("route", "--scored", tmp_path / "nothing", "--models", models_root, "--thresholds",
                 thresholds_file, "--output", tmp_path / "r2")
    assert res.returncode == 2 and "no scored shards" in res.stderr


def sample(models_root, inputs, out, n, seed, beam_args=()):
    from winnow.pipeline.job import SampleConfig

    config = SampleConfig(inputs=tuple(str(p) for p in inputs), models=str(models_root), output=str(out), n=n,
                          seed=seed)
    return run_job(config, PipelineOptions(list(beam_args)))


def test_sample_is_seeded_uniform_and_accounted_for(models_root, bad, tmp_path):
    folder, _ = bad
    inputs = [SAMPLE_WEB, folder / "fields.jsonl"]
    a = sample(models_root, inputs, tmp_path / "a", 50, seed=7)
    sample(models_root, inputs, tmp_path / "b", 50, seed=7, beam_args=RUNNERS["multi-process"])
    sample(models_root, inputs, tmp_path / "c", 50, seed=8)
    ids = lambda out: sorted(r["doc_id"] for r in output_rows(out)[0])
    assert len(ids(tmp_path / "a")) == 50
    assert ids(tmp_path / "a") == ids(tmp_path / "b")  # deterministic, whatever the runner
    assert ids(tmp_path / "a") != ids(tmp_path / "c")
    s = a.summary
    validate(s, "run_summary")
    assert s["mode"] == "sample" and s["scored"] == 50
    assert s["read"] == s["scored"] + s["not_sampled"] + s["rejected"] == 363 + 7
    assert s["rejected"] == 7 and a.counters["read"] == s["read"]
    rows = output_rows(tmp_path / "a")[0]
    assert all(r["route"] == "scored" for r in rows)
    assert any(r["kenlm_clean_pp"] for r in rows if r["lang"] == "en")


def test_sample_larger_than_the_input_takes_everything(models_root, tmp_path):
    s = sample(models_root, [SAMPLE_WEB], tmp_path / "all", 10_000, seed=0).summary
    assert s["scored"] == s["read"] and "not_sampled" not in s


def test_draws_are_uniform():
    """Each document's chance of being drawn is n/N: check the bottom-k keys over many seeds."""
    from winnow.pipeline.units import sample_key

    hits = [0] * 20
    for seed in range(2000):
        keys = sorted((sample_key(seed, "f", i), i) for i in range(20))
        for _, i in keys[:5]:
            hits[i] += 1
    assert all(abs(h / 2000 - 0.25) < 0.04 for h in hits)


def test_benign_scores_reach_the_shards(models_copy, tmp_path):
    from conftest import TEXT, TINY_LM
    from winnow.models.kenlm_lm import train_kenlm
    from winnow.models.textio import TextSource

    train_kenlm(TextSource([TEXT / "en_benign.txt"]), models_copy / "en", "en", "benign", **TINY_LM)
    out = tmp_path / "out"
    docs, _ = assert_reconciles(run(models_copy, [SAMPLE_WEB], out), out)
    en = [d for d in docs if d["lang"] == "en" and d["n_lines"]]
    assert en and all(d["kenlm_benign_pp"] > 1 for d in en)
    assert all(d["kenlm_log_ratio"] == pytest.approx(math.log10(d["kenlm_harmful_pp"]) - math.log10(d["kenlm_benign_pp"]))
               for d in en)
    assert all("kenlm-benign" in dict(d["models"]) for d in en)


def test_rows_carry_the_value_their_rule_decided_on(models_root, tmp_path):
    out = tmp_path / "out"
    run(models_root, [SAMPLE_WEB], out)
    docs, _ = output_rows(out)
    ruled = [d for d in docs if d["decided_rule"]]
    assert ruled and {d["reason"] for d in ruled if d["route"] == "drop"} <= {"harmful", "low_quality"}
    for d in ruled:
        assert d["decided_value"] == d[d["decided_rule"]]  # the very score the rule compared
    assert all(d["decided_rule"] is None for d in docs if d["reason"] in ("empty", "too_short", "not_html"))
