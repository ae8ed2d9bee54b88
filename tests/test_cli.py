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
