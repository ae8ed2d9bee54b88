"""Every path the CLI reads or writes works on a non-local filesystem (``fakefs://``, which
pathlib cannot open), and the Beam job graph does not grow with the number of inputs."""
import json
import shutil
from pathlib import Path

import pytest

import fakefs  # noqa: F401 - registers the fakefs:// scheme with Beam
from conftest import FIXTURE_THRESHOLDS, SAMPLE_WEB, TEXT
from test_pipeline import _canonical, run
from winnow.models import fs
from winnow.pipeline.cli import main


@pytest.fixture
def bucket(tmp_path, monkeypatch, models_root):
    """fakefs://b/ holding the models, the sample inputs, thresholds and labels."""
    monkeypatch.setenv("WINNOW_FAKEFS_ROOT", str(tmp_path / "fake"))
    store = tmp_path / "fake" / "b"
    shutil.copytree(models_root, store / "models")
    shutil.copytree(SAMPLE_WEB, store / "in")
    (store / "thresholds.json").write_text(json.dumps(FIXTURE_THRESHOLDS))
    shutil.copy(TEXT / "en_clean.txt", store / "en_clean.txt")
    return store


def test_pathlib_cannot_see_the_fake_filesystem(bucket):
    assert not Path("fakefs://b/thresholds.json").exists()
    assert fs.exists("fakefs://b/thresholds.json") and fs.is_remote("fakefs://b/thresholds.json")
    assert json.loads(fs.read_text("fakefs://b/thresholds.json"))["version"] == "fixture-v1"


def test_run_with_every_path_remote(bucket, models_root, tmp_path, capsys):
    code = main(["run", "--input", "fakefs://b/in", "--models", "fakefs://b/models", "--thresholds",
                 "fakefs://b/thresholds.json", "--output", "fakefs://b/out", "--no-progress"])
    assert code == 0, capsys.readouterr().err
    out = bucket / "out"
    summary = json.loads((out / "_SUMMARY.json").read_text())
    assert summary["read"] == summary["kept"] + summary["dropped"] + summary["rejected"] > 0
    assert all(f.startswith("route=") for f in summary["files"])  # relative to OUT
    assert (out / "_REPORT.html").exists() and (out / "_REPORT.json").exists()  # the report, remote too
    local = tmp_path / "local"
    run(models_root, [bucket / "in"], local)
    strip = lambda rows: [{k: v for k, v in r.items() if k not in ("source_file", "doc_id")} for r in rows]  # noqa
    assert [strip(part) for part in _canonical(out)] == [strip(part) for part in _canonical(local)]


def test_sample_tune_report_route_with_remote_paths(bucket, capsys):
    assert main(["sample", "--input", "fakefs://b/in", "--models", "fakefs://b/models", "--n", "40",
                 "--output", "fakefs://b/smp"]) == 0
    ids = [json.loads(line)["id"] for line in (bucket / "in" / "sample.jsonl").read_text().splitlines()[:30]]
    (bucket / "labels.csv").write_text("id,label\n" + "".join(f"{i},{n % 2}\n" for n, i in enumerate(ids)))
    assert main(["tune", "--scored", "fakefs://b/smp", "--models", "fakefs://b/models",
                 "--output", "fakefs://b/tuned.json", "--method", "percentile"]) == 0
    tuned = json.loads((bucket / "tuned.json").read_text())
    assert tuned["languages"]
    assert main(["report", "--scored", "fakefs://b/smp", "--models", "fakefs://b/models", "--thresholds",
                 "fakefs://b/tuned.json", "--labels", "fakefs://b/labels.csv", "--output",
                 "fakefs://b/report/r.html"]) == 0
    assert "<svg" in (bucket / "report" / "r.html").read_text()
    assert main(["run", "--input", "fakefs://b/in", "--models", "fakefs://b/models", "--score-only",
                 "--output", "fakefs://b/scored", "--no-report", "--no-progress"]) == 0
    assert main(["route", "--scored", "fakefs://b/scored", "--models", "fakefs://b/models", "--thresholds",
                 "fakefs://b/thresholds.json", "--output", "fakefs://b/routed"]) == 0
    routed = json.loads((bucket / "routed" / "_SUMMARY.json").read_text())
    scored = json.loads((bucket / "scored" / "_SUMMARY.json").read_text())
    assert routed["read"] == scored["read"] and routed["kept"] + routed["dropped"] == scored["scored"]
    capsys.readouterr()


def test_labels_from_a_remote_file(bucket):
    from winnow.pipeline.tuning import read_labels

    (bucket / "l.jsonl").write_text('{"id": "a", "label": 1}\n{"id": "b", "label": 0}\n')
    assert read_labels("fakefs://b/l.jsonl") == {"a": 1, "b": 0}


def test_train_score_and_models_with_remote_paths(bucket, capsys):
    for args in (["train", "tokenizer", "--lang", "en", "--vocab-size", "300"],
                 ["train", "kenlm", "--lang", "en", "--role", "clean", "--order", "3", "--memory", "64M"]):
        assert main([*args, "--input", "fakefs://b/en_clean.txt", "--models", "fakefs://b/new"]) == 0
    assert (bucket / "new" / "en" / "kenlm-clean.bin").exists()
    assert (bucket / "new" / "en" / "sentencepiece.manifest.json").exists()
    assert main(["models", "fakefs://b/new"]) == 0
    assert main(["score", "--models", "fakefs://b/new", "--lang", "en", "--input", "fakefs://b/en_clean.txt",
                 "--output", "fakefs://b/scores.jsonl"]) == 0
    rows = [json.loads(line) for line in (bucket / "scores.jsonl").read_text().splitlines()]
    assert len(rows) == 24 and all(r["kenlm_clean_pp"] > 1 for r in rows)
    capsys.readouterr()


def test_local_paths_with_a_remote_runner_fail_at_launch(models_root, thresholds_file, tmp_path, capsys):
    code = main(["run", "--input", str(SAMPLE_WEB), "--models", str(models_root), "--thresholds",
                 str(thresholds_file), "--output", str(tmp_path / "o"), "--runner=DataflowRunner",
                 "--sdk_container_image=example/winnow:1"])
    err = capsys.readouterr().err
    assert code == 2 and "cannot read the local --models" in err and not (tmp_path / "o").exists()
    code = main(["run", "--input", "gs://b/in", "--models", "gs://b/m", "--thresholds", "gs://b/t.json",
                 "--output", "gs://b/o", "--runner=DataflowRunner"])
    err = capsys.readouterr().err
    assert code == 2 and "--sdk_container_image" in err and "language-ID model" in err


def _graph_bytes(folder: Path, tmp_path: Path) -> int:
    import apache_beam as beam

    from winnow.pipeline.job import JobConfig, build_graph

    config = JobConfig(inputs=(str(folder / "*.jsonl"),), models="gs://b/models", output=str(tmp_path / "o"),
                       thresholds=FIXTURE_THRESHOLDS)
    pipeline = beam.Pipeline()
    build_graph(pipeline, config)
    return len(pipeline.to_runner_api().SerializeToString())


def test_the_job_graph_does_not_grow_with_the_inputs(tmp_path):
    small, large = tmp_path / "small", tmp_path / "large"
    for folder, n in ((small, 10), (large, 100_000)):
        folder.mkdir()
        for i in range(n):
            (folder / f"CC-MAIN-20261101-{i:06d}.jsonl").touch()
    a, b = _graph_bytes(small, tmp_path), _graph_bytes(large, tmp_path)
    assert abs(a - b) < 2048, (a, b)


def test_a_rerun_on_the_remote_filesystem_replaces_stale_shards(bucket, capsys):
    args = ["run", "--input", "fakefs://b/in", "--models", "fakefs://b/models", "--score-only",
            "--output", "fakefs://b/out", "--no-report", "--no-progress"]
    assert main([*args, "--split-size", "64K"]) == 0
    split = json.loads((bucket / "out" / "_SUMMARY.json").read_text())
    assert main([*args, "--split-size", "0"]) == 2  # another configuration: refused
    assert main([*args, "--split-size", "0", "--overwrite"]) == 0  # staged beside OUT, then installed
    whole = json.loads((bucket / "out" / "_SUMMARY.json").read_text())
    assert whole["read"] == split["read"] and whole["units"] < split["units"]
    on_disk = sorted(p.relative_to(bucket / "out").as_posix() for p in (bucket / "out").rglob("part-*"))
    assert on_disk == whole["files"]
    # No object left in the staging prefix or a trash folder (the fake store keeps empty folders on its disk).
    assert not [p for p in bucket.rglob("*") if p.is_file() and (".winnow-staging" in str(p) or "trash-" in str(p))]
    capsys.readouterr()


@pytest.mark.parametrize("case", ["thresholds-is-a-folder", "spark-flags-on-beam", "route-into-its-input",
                                  "tiny-split", "runner-any-case"])
def test_launch_errors_are_one_line(models_root, thresholds_file, tmp_path, capsys, case):
    base = ["run", "--input", str(SAMPLE_WEB), "--models", str(models_root), "--output", str(tmp_path / "o")]
    args, expect = {
        "thresholds-is-a-folder": (base + ["--thresholds", str(tmp_path)], "Is a directory"),
        "spark-flags-on-beam": (base + ["--score-only", "--spark-conf", "a=b"], "apply to --engine spark"),
        "route-into-its-input": (["route", "--scored", str(tmp_path), "--models", str(models_root), "--thresholds",
                                  str(thresholds_file), "--output", str(tmp_path / "o")], "must be outside --scored"),
        "tiny-split": (base + ["--score-only", "--split-size", "1K"], "at least 64K"),
        "runner-any-case": (["run", "--input", "gs://b/in", "--models", "gs://b/m", "--score-only", "--output",
                             "gs://b/o", "--runner=dataflow"], "--sdk_container_image"),
    }[case]
    try:
        code = main(args)
    except SystemExit as exc:  # argparse refuses a bad value with exit status 2
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2 and expect in err and "Traceback" not in err, err
    assert not (tmp_path / "o").exists()


def test_resume_and_the_lock_on_the_remote_filesystem(bucket, capsys):
    from winnow.pipeline import commit

    args = ["run", "--input", "fakefs://b/in", "--models", "fakefs://b/models", "--score-only",
            "--output", "fakefs://b/out", "--no-report", "--no-progress"]
    assert main(args) == 0
    first = json.loads((bucket / "out" / "_SUMMARY.json").read_text())
    # A crash after the first unit: the other units' records (and shards) never came.
    done = sorted((bucket / "out" / "_winnow" / "done").glob("*.json"))
    assert len(done) >= 2
    for record in done[1:]:
        record.unlink()
    assert main(args) == 0
    assert f"resumed: 1 unit(s)" in capsys.readouterr().err
    again = json.loads((bucket / "out" / "_SUMMARY.json").read_text())
    assert again["read"] == first["read"] and again["files"] == first["files"] and again["units_resumed"] == 1
    # One writer: a live lock held in the store refuses a second run.
    lock = commit.OutputLock("fakefs://b/out").acquire()
    try:
        assert main(args) == 2
        assert "being written by another winnow run" in capsys.readouterr().err
    finally:
        lock.release()
    assert not (bucket / "out" / "_winnow" / "LOCK").exists()
