"""Reports: content, escaping of document text, and rendering in a real browser."""
import json
import shutil
import subprocess

import pytest

from conftest import SAMPLE_WEB
from test_pipeline import run, winnow
from winnow.pipeline.report import build_report, render_html, write_report
from winnow.pipeline.routing import manifest_directions
from winnow.pipeline.tuning import TuneOptions, load_scored, tune

XSS = 'The river <script>document.title="pwned";console.error("xss")</script> runs "><img src=x onerror="document.title=\'pwned\'"> through the valley and farmers sell wheat at the market.'


@pytest.fixture(scope="module")
def scored(models_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("scored")
    extra = out.parent / "xss-input"
    extra.mkdir(exist_ok=True)
    (extra / "xss.jsonl").write_text(json.dumps({"id": "xss", "text": XSS}) + "\n")
    run(models_root, [SAMPLE_WEB, extra / "xss.jsonl"], out / "run", thresholds=None)
    return out / "run"


@pytest.fixture(scope="module")
def report_files(models_root, scored, tmp_path_factory):
    directions = manifest_directions(models_root)
    table = load_scored(str(scored))
    thresholds = tune(table, directions, TuneOptions())
    report = build_report(table, directions, thresholds=thresholds, title="Test report")
    html_path = tmp_path_factory.mktemp("report") / "report.html"
    write_report(report, str(html_path))
    return html_path, report


def test_report_content(report_files):
    html_path, report = report_files
    en = report["languages"]["en"]
    assert en["documents"] > 100 and 0 < en["drop_rate"] < 1 and en["kept_tokens"] > 0
    s = en["scores"]["kenlm_clean_pp"]
    assert s["thresholds"] and sum(s["histogram"]["counts"]) == s["diagnostics"]["n"]
    assert {x["where"] for x in s["samples"]} >= {"p5", "p50", "p95"}
    assert any(x["where"].startswith("just above") for x in s["samples"])
    data = json.loads(html_path.with_suffix(".json").read_text())  # strict JSON beside the HTML
    assert data["languages"].keys() == report["languages"].keys()
    page = html_path.read_text()
    assert "Verdict." in page and "<svg" in page and "http://" not in page and "https://" not in page
    assert "<script" not in page.lower().replace("&lt;script", "")


def test_document_text_is_escaped():
    report = {"title": "t <b>", "languages": {"en": {"documents": 1, "rules": [], "scores": {"kenlm_clean_pp": {
        "direction": "above", "thresholds": [], "histogram": {"edges": [], "counts": []},
        "diagnostics": {"value": None, "verdict": "none", "n": 1},
        "samples": [{"where": "p50", "doc_id": "<i>id</i>", "score": 1.0, "text": XSS}]}}}}}
    page = render_html(report)
    assert "<script>document.title" not in page and "<img src=x" not in page and "<i>id</i>" not in page
    assert "&lt;script&gt;document.title" in page and "&lt;img src=x onerror=" in page


def chromium(*args, tmp_path):
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        pytest.skip("Chromium is not installed (scripts/setup.sh installs it with the test extras)")
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
           f"--user-data-dir={tmp_path / 'chrome-profile'}", "--enable-logging=stderr", "--v=0", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def test_report_renders_in_chromium(report_files, tmp_path):
    from PIL import Image

    html_path, _ = report_files
    shot = tmp_path / "shot.png"
    res = chromium("--window-size=1200,1800", f"--screenshot={shot}", html_path.as_uri(), tmp_path=tmp_path)
    assert shot.exists(), res.stderr[-2000:]
    assert ":CONSOLE" not in res.stderr, "the page logged to the console"
    img = Image.open(shot).convert("RGB").resize((300, 450))
    colors = img.getcolors(maxcolors=1 << 20)  # [(count, (r, g, b)), ...]
    non_white = sum(n for n, rgb in colors if sum(rgb) < 720) / (300 * 450)
    assert non_white > 0.02 and len(colors) > 20, "the screenshot looks blank"

    dom = chromium("--dump-dom", html_path.as_uri(), tmp_path=tmp_path)
    assert "<title>Test report</title>" in dom.stdout  # no injected script ran
    assert "pwned" not in dom.stdout.split("</title>")[0]
    assert "<img" not in dom.stdout and ":CONSOLE" not in dom.stderr
    assert "&lt;img src=x onerror=" in dom.stdout  # shown as text


def test_the_console_check_can_fail(tmp_path):
    page = tmp_path / "bad.html"
    page.write_text('<html><body><script>console.error("boom")</script></body></html>')
    assert ":CONSOLE" in chromium("--dump-dom", page.as_uri(), tmp_path=tmp_path).stderr


def test_cli_score_tune_report_run(models_root, scored, tmp_path):
    thresholds = tmp_path / "t.json"
    res = winnow("tune", "--scored", scored, "--models", models_root, "--output", thresholds)
    assert res.returncode == 0, res.stderr
    assert "[rule] kenlm_clean_pp" in res.stdout
    import json
    from winnow.pipeline.routing import manifest_models
    assert json.loads(thresholds.read_text())["models"] == manifest_models(models_root)  # what tune saw
    res = winnow("report", "--scored", scored, "--models", models_root, "--thresholds", thresholds,
                 "--output", tmp_path / "r.html")
    assert res.returncode == 0 and (tmp_path / "r.json").exists(), res.stderr
    res = winnow("run", "--input", SAMPLE_WEB, "--models", models_root, "--thresholds", thresholds,
                 "--output", tmp_path / "run")
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "run" / "_REPORT.html").exists() and (tmp_path / "run" / "_REPORT.json").exists()


def test_report_shows_the_guard_rails(models_root, scored):
    """A rule learned from labels is checked on the corpus sample (the unlabelled rows); the
    report shows each rule's drop rates there and on the labels, the refusals and the shift."""
    directions = manifest_directions(models_root)
    table = load_scored(str(scored))
    kinds = {}
    with open(SAMPLE_WEB / "sample.jsonl", encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            kinds[r["id"]] = r["kind"]
    ids = [i for i in table.column("doc_id").to_pylist() if kinds.get(i) in ("crude", "clean")]
    labels = {i: int(kinds[i] == "crude") for i in ids[::2]}  # half labelled, the rest is the corpus sample
    thresholds = tune(table, directions, TuneOptions(max_corpus_drop=0.001), labels=labels)
    guard = thresholds["languages"]["en"]["diagnostics"]["guard"]
    assert guard["refused"], "a ceiling of 0.1% must refuse the rules learned from these labels"
    page = render_html(build_report(table, directions, thresholds=thresholds, title="guard"))
    assert "guard rails" in page and f"{guard['labelled']:,} labelled rows" in page
    assert "Refused: " in page and "--max-drop" in page
    assert "shift (KS" in page and "n_tokens" in page


def test_nice_ticks():
    from winnow.pipeline.report import nice_ticks

    assert nice_ticks(0, 10) == [0, 2, 4, 6, 8, 10]
    assert nice_ticks(1.23, 3.97) == [1.5, 2.0, 2.5, 3.0, 3.5]
    assert nice_ticks(-0.31, 0.42, 4) == [-0.2, 0.0, 0.2, 0.4]
    assert nice_ticks(5, 5) == [5] and nice_ticks(float("nan"), 1) == []
    from winnow.pipeline.report import log_ticks

    assert log_ticks(0.2, 4.1) == [10, 100, 1000, 10000]                # 4 decades: powers of ten
    assert log_ticks(1.0, 2.6) == [10, 20, 50, 100, 200]                # 1.6 decades: 1-2-5
    assert log_ticks(1.05, 1.25) == [12, 13, 14, 15, 16, 17]            # inside a decade: linear


def test_histogram_axes_have_ticks_labelled_in_the_scores_units():
    """A perplexity's histogram is drawn on log10 but its ticks say perplexities (100, 1000);
    the y axis counts documents; the precision-recall chart has ticks on both axes."""
    import re

    from winnow.pipeline.report import _svg_histogram, _svg_pr

    h = {"edges": [1.5, 2.0, 2.5, 3.0, 3.5], "counts": [3, 10, 7, 1], "scale": "log10"}
    svg = _svg_histogram(h, [300.0], "kenlm_clean_pp")
    labels = re.findall(r'text-anchor="middle">([^<]+)</text>', svg)
    assert labels[:4] == ["100", "300", "1000", "3000"] and "kenlm_clean_pp (log scale)" in labels
    assert svg.count('class="tick"') == 4 + 6 and ">documents<" in svg  # y: 0, 2, ..., 10
    raw = _svg_histogram({"edges": [-1.0, 0.0, 1.0], "counts": [4, 4], "scale": "raw"}, [], "kenlm_log_ratio")
    assert re.findall(r'text-anchor="middle">([^<]+)</text>', raw)[:3] == ["-1", "-0.5", "0"]
    pr = _svg_pr({"pr_curve": {"precision": [1, 0.5], "recall": [0, 1]}, "recall": 0.5, "precision": 0.7})
    assert pr.count('class="tick"') == 10
