"""The Dataflow image's recipe agrees with the project (no Docker engine to build it here)."""
import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_dockerfile_pins_the_same_beam_and_copies_existing_paths():
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    beam = re.search(r'"apache-beam==([\d.]+)"', (ROOT / "setup.py").read_text()).group(1)
    assert f"apache/beam_python3.11_sdk:{beam}" in dockerfile
    for src in re.findall(r"^COPY (?!--from)(.+) \S+$", dockerfile, flags=re.M):
        for path in src.split():
            assert (ROOT / path).exists(), f"Dockerfile copies {path}, which does not exist"
    assert "bash scripts/setup.sh" in dockerfile
    # Neural LMs work on the workers, with the CPU build of the pinned torch (not PyPI's CUDA one).
    torch = re.search(r'"torch==([\d.]+)"', (ROOT / "setup.py").read_text()).group(1)
    assert f'"torch=={torch}" --index-url https://download.pytorch.org/whl/cpu' in dockerfile
    assert re.search(r"WINNOW_EXTRAS=\S*neural", dockerfile)


def test_launcher_translates_template_parameters():
    spec = importlib.util.spec_from_file_location("launcher", ROOT / "docker" / "launcher.py")
    launcher = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(launcher)
    assert launcher.translate(["--input=gs://b/x", "--score_only=true", "--keep_unscored_langs=false"]) == [
        "--input=gs://b/x", "--score-only"]
