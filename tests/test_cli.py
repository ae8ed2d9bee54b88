"""The ``winnow`` command line, run as a user runs it (a subprocess)."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import TEXT

WINNOW = [sys.executable, "-m", "winnow.pipeline.cli"]


def run(*args, ok=True):
    res = subprocess.run([*WINNOW, *map(str, args)], capture_output=True, text=True, timeout=300)
    if ok:
        assert res.returncode == 0, res.stderr
    return res


def test_console_script_is_installed():
    exe = shutil.which("winnow", path=str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"])
    assert exe, "the `winnow` console script is not installed (pip install -e .)"
    assert subprocess.run([exe, "--version"], capture_output=True, text=True).stdout.startswith("winnow ")


@pytest.mark.parametrize("cmd, expect", [
    ([], ["train", "score", "models", "doctor"]),
    (["train"], ["tokenizer", "kenlm"]),
    (["train", "tokenizer"], ["--lang", "--input", "--models", "--vocab-size", "JSONL"]),
    (["train", "kenlm"], ["--role", "{clean,harmful,benign,corpus}", "same kind as the harmful text", "--order", "--prune", "--memory", "trie", "probing",
                          "low perplexity = likely harmful"]),
    (["score"], ["--models", "--lang", "fastText"]),
])
def test_help(cmd, expect):
    out = " ".join(run(*cmd, "--help").stdout.split())  # ignore line wrapping
    for word in expect:
        assert word in out, f"{word!r} missing from `winnow {' '.join(cmd)} --help`"


def test_train_and_score_end_to_end(tmp_path):
    root = tmp_path / "models"
    out = run("train", "tokenizer", "--lang", "en", "--input", TEXT / "en_clean.txt", TEXT / "en_harmful.txt",
              "--models", root, "--vocab-size", 300).stdout
    assert "tokenizer for en" in out
    for role in ("clean", "harmful"):
        out = run("train", "kenlm", "--lang", "en", "--role", role, "--input", TEXT / f"en_{role}.txt",
                  "--models", root, "--order", 3, "--memory", "64M").stdout
        assert f"{role} KenLM for en" in out
    assert "all manifests and file hashes verified" in run("models", root).stdout

    docs = tmp_path / "docs.jsonl"
    docs.write_text(json.dumps({"text": "The bridge was repaired last summer."}) + "\n"
                    + json.dumps({"text": "Der Fluss fließt langsam durch das Tal."}) + "\n")
    scored = tmp_path / "scored.jsonl"
    res = run("score", "--models", root, "--input", docs, "--output", scored)
    rows = [json.loads(line) for line in scored.read_text().splitlines()]
    assert [r["lang"] for r in rows] == ["en", "de"]
    assert rows[0]["kenlm_clean_pp"] > 1 and "kenlm_log_ratio" in rows[0]
    assert "kenlm_clean_pp" not in rows[1]
    assert "scored 2 documents" in res.stderr


def test_errors_are_one_clear_line(tmp_path):
    res = run("train", "kenlm", "--lang", "en", "--role", "clean", "--input", TEXT / "en_clean.txt",
              "--models", tmp_path, ok=False)
    assert res.returncode == 2
    assert "tokenizer.manifest.json" not in res.stderr  # names the real file
    assert "sentencepiece.manifest.json: manifest not found" in res.stderr
    assert "Traceback" not in res.stderr

    res = run("train", "tokenizer", "--lang", "en", "--input", tmp_path / "missing.txt", "--models", tmp_path,
              ok=False)
    assert res.returncode == 2 and "training input not found" in res.stderr

    res = run("score", "--models", tmp_path / "nowhere", "--input", TEXT / "en_clean.txt", ok=False)
    assert res.returncode == 2 and "models root not found" in res.stderr

    res = run("train", "neural", "--lang", "en", "--role", "clean", "--input", TEXT / "en_clean.txt",
              "--models", tmp_path, "--cutoffs", "500,20", ok=False)
    assert res.returncode == 2 and "expected increasing positive integers" in res.stderr


def test_doctor_reports_a_complete_installation():
    res = run("doctor")
    assert "installation complete" in res.stdout


def test_run_with_a_language_fallback_counts_it(models_root, tmp_path, capsys):
    import json

    from winnow.pipeline.cli import main

    (tmp_path / "in").mkdir()
    texts = ["Okay, thanks anyway -)", "lol ok", "The weather service expects rain in the north tomorrow."]
    (tmp_path / "in" / "short.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    base = ["run", "--input", str(tmp_path / "in"), "--models", str(models_root), "--score-only", "--no-report"]
    assert main(base + ["--output", str(tmp_path / "bad"), "--lang-fallback", "xx"]) == 2
    assert "--lang-fallback xx: no model set" in capsys.readouterr().err
    assert main(base + ["--output", str(tmp_path / "out"), "--lang-fallback", "en"]) == 0
    summary = json.loads((tmp_path / "out" / "_SUMMARY.json").read_text())
    assert summary["lang_fallback"] >= 1 and summary["by_lang"]["en"]["read"] >= 2
    assert "language fallback:" in capsys.readouterr().out


# --- CLI conventions (issue 12) ---------------------------------------------------------------

def _cli(argv, capsys):
    """winnow's main in this process: (exit code, stdout, stderr)."""
    from winnow.pipeline.cli import main

    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_a_mistyped_option_is_an_error_naming_the_closest(models_root, tmp_path, capsys):
    base = ["run", "--input", TEXT / "en_clean.txt", "--models", models_root, "--score-only", "--output",
            tmp_path / "o"]
    code, _, err = _cli(base + ["--no-reprot"], capsys)
    assert code == 2 and "unrecognized option --no-reprot; did you mean --no-report?" in err
    assert not (tmp_path / "o").exists()  # nothing ran
    code, _, err = _cli(base + ["--direct_num_worker=2"], capsys)  # a Beam option, mistyped
    assert code == 2 and "did you mean --direct_num_workers?" in err
    code, _, err = _cli(["score", "--models", models_root, "--input", TEXT / "en_clean.txt", "--runner", "X"], capsys)
    assert code == 2 and "unrecognized option --runner" in err  # score runs no Beam job
    # A Beam flag that takes no value does not swallow the argument after it.
    code, _, err = _cli(base + ["--save_main_session", "stray.jsonl"], capsys)
    assert code == 2 and "unexpected argument 'stray.jsonl'" in err
    code, _, err = _cli(base + ["--runner"], capsys)
    assert code == 2 and "Beam's option --runner needs a value" in err


def test_beam_options_pass_through_and_v_is_winnows(models_root, tmp_path, capsys, monkeypatch):
    """Beam's own options reach the engine as given, named or after --; -v after the command
    is Winnow's (Beam used to discard it as unparseable)."""
    from winnow.pipeline import cli

    seen = {}

    def fake_run(engine, config, args):
        seen["beam_args"], seen["level"] = engine.beam_args, cli._log_level(args)
        raise cli.RunFailed("stop here")

    monkeypatch.setattr(cli, "_run_engine", fake_run)
    code, _, _ = _cli(["run", "--input", TEXT / "en_clean.txt", "--models", models_root, "--score-only",
                       "--output", tmp_path / "o", "-v", "--direct_num_workers", "2", "--max_num_workers", "-1",
                       "--", "--my_runner_flag=1"], capsys)
    assert code == 1
    assert seen["beam_args"][:5] == ("--direct_num_workers", "2", "--max_num_workers", "-1", "--my_runner_flag=1")
    assert seen["level"] == 10 and "--default_sdk_harness_log_level=DEBUG" in seen["beam_args"]
    _cli(["run", "--input", TEXT / "en_clean.txt", "--models", models_root, "--score-only", "--output",
          tmp_path / "o", "-q"], capsys)
    assert seen["level"] == 30 and "--default_sdk_harness_log_level=WARNING" in seen["beam_args"]


def test_quiet_run_prints_its_result_only_and_the_summary_records_version_and_options(models_root, tmp_path,
                                                                                    capsys):
    import winnow

    out = tmp_path / "o"
    code, stdout, err = _cli(["run", "--input", TEXT / "en_clean.txt", "--models", models_root, "--score-only",
                              "--output", out, "--no-report", "-q", "--batch-size", "64"], capsys)
    assert code == 0 and err == "" and "read " in stdout
    run_info = json.loads((out / "_SUMMARY.json").read_text())["run"]
    assert run_info["winnow"] == winnow.__version__
    assert run_info["options"]["batch_size"] == 64 and run_info["options"]["reader"]["text_field"] == "text"


def test_a_bug_keeps_its_traceback(models_root, tmp_path, monkeypatch):
    """A ValueError that is no usage error (a bug) is not turned into exit 2 and one line."""
    from winnow.pipeline import cli

    monkeypatch.setattr(cli, "cmd_models", lambda args: int("not a number"))
    with pytest.raises(ValueError, match="invalid literal"):
        cli.main(["models", str(models_root)])


def test_module_docstring_lists_every_command():
    from winnow.pipeline import cli

    for name in cli._commands(cli.build_parser()):
        assert f"winnow {name}" in " ".join(cli.__doc__.split()), name


def test_bad_labels_and_percentages_are_usage_errors(models_root, tmp_path, capsys):
    out = tmp_path / "scored"
    assert _cli(["run", "--input", TEXT / "en_clean.txt", "--models", models_root, "--score-only", "--output", out,
                 "--no-report", "-q"], capsys)[0] == 0
    tune = ["tune", "--scored", out, "--models", models_root, "--output", tmp_path / "t.json"]
    code, _, err = _cli(tune + ["--keep-percent", "150"], capsys)
    assert code == 2 and "--keep-percent is a percentage between 0 and 100" in err
    for content, says in (('{"id": "a", "label": "bad"}\n', "labels are 1 (bad) or 0 (good)"),
                          ('{"id": "a", "label": \n', 'line 1: expected a JSON object with "id" and "label"'),
                          ('{"label": 1}\n', "KeyError")):
        (tmp_path / "labels.jsonl").write_text(content)
        code, _, err = _cli(tune + ["--labels", tmp_path / "labels.jsonl"], capsys)
        assert code == 2 and says in err and "Traceback" not in err, err
