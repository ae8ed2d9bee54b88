"""winnow.beam: Winnow's composite transforms inside someone else's pipeline (TestPipeline)."""
import json

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from bad_inputs import make_bad_inputs
from conftest import FIXTURE_THRESHOLDS, SAMPLE_WEB
from test_pipeline import output_rows, run
from winnow.beam import FilterDocuments, ReadDocuments, ScoreDocuments, WriteShards
from winnow.models.errors import WinnowModelError
from winnow.pipeline.routing import ThresholdsError
from winnow.schemas import validate

TEXTS = [
    "The committee published its annual report on regional water supplies and the costs of repairs.",
    "you are an idiot and everyone hates you, shut up shut up",
    "ok",
]


def _key(row):
    return row["doc_id"], row["route"], row["reason"], row["decided_rule"]


def test_filter_documents_tags_kept_dropped_rejected(models_root, thresholds_file):
    """Texts and dicts from the user's pipeline come out tagged by route; what is no document
    (a number, a dict without text, a text that is not a string) comes out rejected with why."""
    items = TEXTS + [{"id": "d-1", "text": TEXTS[0], "url": "https://example.org/a"}, 42, {"body": "x"},
                     {"text": ["not", "a", "string"]}]
    with TestPipeline() as p:
        out = p | beam.Create(items) | FilterDocuments(models=str(models_root), thresholds=str(thresholds_file))
        routed = (out.kept, out.dropped) | "Routed" >> beam.Flatten()
        assert_that(routed | "N" >> beam.combiners.Count.Globally(), equal_to([4]), label="four documents")
        assert_that(out.kept | "KeptIds" >> beam.Map(lambda r: r["doc_id"]).with_output_types(str)
                    | beam.Filter(lambda i: i == "d-1"), equal_to(["d-1"]), label="own id kept")
        assert_that(out.dropped | "Short" >> beam.Filter(lambda r: r["text"] == "ok")
                    | "ShortReason" >> beam.Map(lambda r: r["reason"]), equal_to(["too_short"]), label="too short")
        assert_that(out.rejected | "Reasons" >> beam.Map(lambda r: r["reason"]),
                    equal_to(["not_an_object", "missing_field", "bad_type"]), label="rejected")


def test_same_rows_as_winnow_run(models_root, thresholds_file, tmp_path):
    """ReadDocuments | FilterDocuments gives the rows `winnow run` writes for the same inputs,
    and WriteShards lays them out as it does, with a summary that reconciles."""
    folder = tmp_path / "bad"
    folder.mkdir()
    make_bad_inputs(folder)
    reference = tmp_path / "run"
    run(models_root, [folder, SAMPLE_WEB], reference)
    want_docs, want_rejected = output_rows(reference)

    out = tmp_path / "beam-out"
    with TestPipeline() as p:
        read = p | ReadDocuments([str(folder), str(SAMPLE_WEB)])
        routed = read.documents | FilterDocuments(models=str(models_root), thresholds=FIXTURE_THRESHOLDS)
        rows = (routed.kept, routed.dropped, routed.rejected, read.rejected) | beam.Flatten()
        rows | WriteShards(str(out))
    got_docs, got_rejected = output_rows(out)
    drop = {"models"}  # a map column: compared below as a dict
    as_rows = lambda docs: sorted(({k: v for k, v in d.items() if k not in drop} for d in docs),  # noqa: E731
                                  key=lambda r: (r["source_file"], r["record_index"]))
    assert as_rows(got_docs) == as_rows(want_docs)
    assert sorted(map(json.dumps, (dict(d["models"] or []) for d in got_docs))) == \
        sorted(map(json.dumps, (dict(d["models"] or []) for d in want_docs)))
    key = lambda r: (r["source_file"], r["record_index"], r["reason"])  # noqa: E731
    assert sorted(got_rejected, key=key) == sorted(want_rejected, key=key)

    summary = json.loads((out / "_SUMMARY.json").read_text())
    validate(summary, "run_summary")
    want = json.loads((reference / "_SUMMARY.json").read_text())
    for field in ("read", "kept", "dropped", "rejected", "by_lang", "by_reason"):
        assert summary[field] == want[field], field
    # An input without records (an empty file) is named by `winnow run`'s summary, with
    # read 0; documents in a PCollection cannot tell of a file that gave none.
    assert summary["by_input"] == {name: c for name, c in want["by_input"].items() if c["read"]}
    assert summary["read"] == summary["kept"] + summary["dropped"] + summary["rejected"]
    on_disk = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file() and p.name != "_SUMMARY.json")
    assert on_disk == summary["files"]


def test_score_documents_and_counters(models_root):
    """ScoreDocuments: every document scored, no decision; the Beam counters count them."""
    from apache_beam.metrics.metric import MetricsFilter

    p = TestPipeline()
    out = p | beam.Create(TEXTS) | ScoreDocuments(models=str(models_root))
    assert_that(out.scored | beam.Map(lambda r: (r["route"], r["lang"], r["kenlm_clean_pp"] is not None)),
                equal_to([("scored", "en", True)] * 3))
    result = p.run()
    result.wait_until_finish()
    counters = {c.key.metric.name: c.committed
                for c in result.metrics().query(MetricsFilter().with_namespace("winnow"))["counters"]}
    assert counters["read"] == 3 and counters["scored"] == 3


def test_bad_models_or_thresholds_fail_when_the_pipeline_is_built(models_root, tmp_path):
    bad = tmp_path / "t.json"
    bad.write_text(json.dumps({**FIXTURE_THRESHOLDS, "languages": {"en": {"rules": [{"score": "nope", "value": 1, "reason": "low_quality"}]}}}))
    p = TestPipeline()
    with pytest.raises(ThresholdsError, match="nope"):
        p | beam.Create(TEXTS) | FilterDocuments(models=str(models_root), thresholds=str(bad))
    with pytest.raises(WinnowModelError, match="models root not found"):
        p | "Again" >> beam.Create(TEXTS) | "Filter2" >> FilterDocuments(models=str(tmp_path / "none"))


def test_write_shards_refuses_a_folder_that_holds_another_output(models_root, thresholds_file, tmp_path):
    """Its last step removes the shards it did not write: a winnow run output, or shards of
    unknown origin, are refused when the pipeline is built; its own earlier output is replaced."""
    from winnow.models.errors import UsageError

    run_out = tmp_path / "run"
    run(models_root, [SAMPLE_WEB / "sample.jsonl"], run_out)
    with pytest.raises(UsageError, match="holds the output of a winnow command"):
        TestPipeline() | beam.Create([{"doc_id": "x"}]) | WriteShards(str(run_out))
    stray = tmp_path / "stray" / "route=keep" / "lang=en"
    stray.mkdir(parents=True)
    (stray / "part-x.parquet").write_bytes(b"not ours")
    with pytest.raises(UsageError, match="WriteShards did not write"):
        TestPipeline() | beam.Create([{"doc_id": "x"}]) | WriteShards(str(tmp_path / "stray"))
    out = tmp_path / "ours"
    for texts in (TEXTS, TEXTS[:1]):  # the second pipeline replaces the first one's output
        with TestPipeline() as p:
            routed = p | beam.Create(texts) | ScoreDocuments(models=str(models_root))
            (routed.scored, routed.rejected) | beam.Flatten() | WriteShards(str(out), score_only=True)
        summary = json.loads((out / "_SUMMARY.json").read_text())
        assert summary["read"] == summary["scored"] == len(texts) and summary["score_only"]
        assert len(output_rows(out)[0]) == len(texts)


def test_windowed_documents_and_their_own_text_field(models_root, thresholds_file, tmp_path):
    """Documents in fixed windows (someone else's streaming-style pipeline) are filtered and
    written; ReadDocuments' documents pass FilterDocuments whatever the reader's text field."""
    from apache_beam.transforms import window

    from winnow.pipeline.readers import ReaderOptions

    out = tmp_path / "out"
    with TestPipeline() as p:
        docs = (p | beam.Create([(t, i * 100) for i, t in enumerate(TEXTS)])
                | beam.Map(lambda kv: window.TimestampedValue(kv[0], kv[1])) | beam.WindowInto(window.FixedWindows(50)))
        routed = docs | FilterDocuments(models=str(models_root), thresholds=str(thresholds_file))
        (routed.kept, routed.dropped, routed.rejected) | beam.Flatten() | WriteShards(str(out))
    assert json.loads((out / "_SUMMARY.json").read_text())["read"] == 3

    src = tmp_path / "content.jsonl"
    src.write_text("".join(json.dumps({"content": t}) + "\n" for t in TEXTS))
    reader = ReaderOptions(text_field="content")
    with TestPipeline() as p:
        read = p | ReadDocuments([str(src)], reader=reader)
        routed = read.documents | FilterDocuments(models=str(models_root), thresholds=str(thresholds_file),
                                                  reader=reader)
        assert_that(routed.rejected | beam.combiners.Count.Globally(), equal_to([0]), label="none rejected")
        assert_that((routed.kept, routed.dropped) | beam.Flatten() | beam.Map(lambda r: r["source_file"]),
                    equal_to([str(src)] * 3), label="provenance kept")


def test_read_documents_fails_when_built_on_a_pattern_that_matches_nothing(tmp_path):
    with pytest.raises(FileNotFoundError, match="no input files match"):
        TestPipeline() | ReadDocuments([str(tmp_path / "nothing-*.jsonl")])


def test_a_damaged_model_fails_when_the_pipeline_is_built(models_copy):
    """Workers re-check model files by size only: the launcher checks every hash."""
    path = next((models_copy / "en").glob("kenlm-clean*.bin"))
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, other bytes
    path.write_bytes(bytes(data))
    with pytest.raises(WinnowModelError, match="does not match its manifest"):
        TestPipeline() | beam.Create(TEXTS) | FilterDocuments(models=str(models_copy))
