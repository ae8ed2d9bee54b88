"""The Dataflow image's recipe agrees with the project (no Docker engine to build it here).

The Dockerfile is parsed into stages and instructions, and checked statically: pinned base
images, the Beam version of setup.py, a builder stage and a final stage without build
tools, COPY --from paths the builder produces, the flex-template settings and `winnow doctor`.
"""
import fnmatch
import importlib.util
import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "docker" / "Dockerfile"

# https://docs.docker.com/reference/dockerfile/
INSTRUCTIONS = {"ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK",
                "LABEL", "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME",
                "WORKDIR"}
# What the final stage must not install: compilers, build systems, headers.
BUILD_PACKAGE = re.compile(r"^(build-essential|cmake|gcc|g\+\+|cpp|make|clang.*|.*-dev)(:\w+)?(=.*)?$")
# Files the stock images are known to provide (nothing else is taken from them).
IMAGE_CONTENTS = {
    r"apache/beam_python3\.\d+_sdk": ["/opt/apache/beam"],
    r"gcr\.io/dataflow-templates-base/python3\d+-template-launcher-base":
        ["/opt/google/dataflow/python_template_launcher"],
}


@dataclass
class Instruction:
    keyword: str
    args: str
    line: int

    def flags_and_words(self):
        """(--flag=value dict, remaining shell words) of COPY/ADD/FROM-like arguments."""
        words = shlex.split(self.args)
        flags = {}
        while words and words[0].startswith("--"):
            name, _, value = words.pop(0)[2:].partition("=")
            flags[name] = value
        return flags, words


@dataclass
class Stage:
    image: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def of(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def env(self) -> dict[str, str]:
        values = {}
        for ins in self.of("ENV"):
            words = shlex.split(ins.args)
            if words and "=" not in words[0]:  # legacy form: ENV KEY value
                values[words[0]] = " ".join(words[1:])
                continue
            for word in words:
                key, eq, value = word.partition("=")
                assert eq, f"line {ins.line}: ENV expects KEY=value, got {word!r}"
                values[key] = value
        return values

    def workdir(self) -> str:
        workdirs = self.of("WORKDIR")
        return workdirs[-1].args if workdirs else "/"

    def run_text(self) -> str:
        return "\n".join(i.args for i in self.of("RUN"))


def parse_instructions(text: str) -> list[Instruction]:
    """Instructions with continuation lines joined and comments dropped; fails on bad syntax."""
    out, buf, start = [], "", None
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue  # blank lines and comments, also inside a continued instruction
        start = start or number
        if stripped.endswith("\\"):
            buf += stripped[:-1] + " "
            continue
        buf += stripped
        keyword, _, args = buf.partition(" ")
        assert keyword.upper() in INSTRUCTIONS, f"line {start}: {keyword!r} is not a Dockerfile instruction"
        assert keyword == keyword.upper(), f"line {start}: write {keyword!r} in upper case"
        assert args.strip(), f"line {start}: {keyword} has no arguments"
        out.append(Instruction(keyword, args.strip(), start))
        buf, start = "", None
    assert not buf, "the Dockerfile ends inside a continued instruction"
    return out


def parse_stages(text: str) -> list[Stage]:
    instructions = parse_instructions(text)
    assert instructions and instructions[0].keyword in ("FROM", "ARG"), "a Dockerfile starts with FROM (or ARG)"
    stages: list[Stage] = []
    for ins in instructions:
        if ins.keyword == "FROM":
            m = re.fullmatch(r"(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+([A-Za-z][\w.-]*))?", ins.args, flags=re.I)
            assert m, f"line {ins.line}: FROM {ins.args!r} is not 'image[:tag] [AS name]'"
            stages.append(Stage(image=m.group(1), name=m.group(2)))
        elif not stages:
            assert ins.keyword == "ARG", f"line {ins.line}: {ins.keyword} before the first FROM"
        else:
            stages[-1].instructions.append(ins)
        if ins.keyword in ("ENTRYPOINT", "CMD") and ins.args.startswith("["):
            try:  # exec form: a JSON array of strings
                value = json.loads(ins.args)
            except json.JSONDecodeError as exc:
                raise AssertionError(f"line {ins.line}: {ins.keyword} {ins.args} is not JSON ({exc})") from None
            assert isinstance(value, list) and all(isinstance(v, str) for v in value), ins
    names = [s.name for s in stages if s.name]
    assert len(names) == len(set(names)), f"stage names repeat: {names}"
    return stages


def image_tag(image: str) -> str | None:
    """The tag of an image reference (None if it has none): registry ports are not tags."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


def image_repo(image: str) -> str:
    name = image.split("@", 1)[0]
    head, _, last = name.rpartition("/")
    return (head + "/" if head else "") + last.split(":", 1)[0]


def under(path: str, prefix: str) -> bool:
    p, q = PurePosixPath(path), PurePosixPath(prefix)
    return p == q or q in p.parents


def resolve(path: str, workdir: str) -> str:
    return str(PurePosixPath(workdir) / path) if not path.startswith("/") else path.rstrip("/") or "/"


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse_stages(DOCKERFILE.read_text())


@pytest.fixture(scope="module")
def by_name(stages) -> dict[str, Stage]:
    return {s.name: s for s in stages if s.name}


@pytest.fixture(scope="module")
def builder(stages) -> Stage:
    runs = [s for s in stages if "scripts/setup.sh" in s.run_text()]
    assert len(runs) == 1, "exactly one stage (the builder) runs scripts/setup.sh"
    return runs[0]


def final_of(stages) -> Stage:
    return stages[-1]


def pinned(name: str) -> str:
    m = re.search(rf'"{re.escape(name)}==([\w.]+)"', (ROOT / "setup.py").read_text())
    assert m, f"setup.py pins no {name}"
    return m.group(1)


def test_dockerfile_parses_and_is_multi_stage(stages, builder):
    assert len(stages) >= 2, "the image is built in stages (builder, final)"
    assert builder is not final_of(stages), "the final stage is not the builder"
    for stage in stages[:-1]:  # earlier stages are named, for COPY --from
        assert stage.name, f"stage FROM {stage.image} needs a name (AS ...)"


def test_every_base_image_has_an_explicit_tag(stages):
    names = set()
    refs = []
    for stage in stages:
        assert "$" not in stage.image, f"FROM {stage.image}: pin the image literally, not through ARG"
        if stage.image not in names:
            refs.append(stage.image)
        names.add(stage.name)
        for ins in stage.of("COPY") + stage.of("ADD"):
            src = ins.flags_and_words()[0].get("from")
            if src is not None and src not in names:
                refs.append(src)  # COPY --from=<image>
    for ref in refs:
        tag = image_tag(ref)
        assert tag, f"{ref} has no tag; pin an explicit version"
        assert tag != "latest", f"{ref}: pin an explicit version, not latest"
        assert re.search(r"\d", tag), f"{ref}: the tag {tag!r} names no version"


def test_beam_and_python_versions_agree_with_setup_py(stages, builder):
    text = DOCKERFILE.read_text()
    beam = pinned("apache-beam")
    assert re.search(rf'"apache-beam\[gcp\]=={re.escape(beam)}"', (ROOT / "setup.py").read_text())
    sdk_tags = re.findall(r"apache/beam_python(3\.\d+)_sdk:(\S+)", text)
    assert sdk_tags, "the Dockerfile takes Beam's boot from apache/beam_python3.X_sdk"
    assert {t for _, t in sdk_tags} == {beam}, f"Beam SDK image tags {sdk_tags} != setup.py's {beam}"
    assert all(v == beam for v in re.findall(r"apache-beam(?:\[\w+\])?==([\w.]+)", text))
    assert all(v == beam for v in re.findall(r"Apache Beam (\d+\.\d+\.\d+)", text))
    # One Python minor everywhere: Beam's SDK image, the launcher base, builder and final.
    minor = {m for m, _ in sdk_tags}
    assert len(minor) == 1
    minor = minor.pop()
    for launcher in re.findall(r"python(3\d+)-template-launcher-base", text):
        assert launcher == minor.replace(".", ""), f"launcher base python{launcher} != Python {minor}"
    final = final_of(stages)
    for stage in (builder, final):
        assert image_repo(stage.image) == "python", f"{stage.image}: builder and final use the python image"
        assert image_tag(stage.image).startswith(minor + "."), f"{stage.image} is not Python {minor}"
    # The same Python release and Debian suite, so builder binaries run on the final stage.
    version = lambda image: re.match(r"(\d+\.\d+\.\d+)", image_tag(image)).group(1)
    suite = lambda image: image_tag(image).rsplit("-", 1)[-1]
    assert version(builder.image) == version(final.image), (builder.image, final.image)
    assert suite(builder.image) == suite(final.image), (builder.image, final.image)
    assert f"python{minor}/site-packages" in text
    assert f"apache/beam_python{minor}_sdk:{beam}" in (ROOT / "docker" / "DATAFLOW.md").read_text()


def test_builder_runs_setup_with_the_cpu_torch(builder):
    assert "bash scripts/setup.sh" in builder.run_text()
    env = builder.env()
    assert env.get("WINNOW_VENV") == "system", "the builder installs into the image's Python"
    assert env.get("WINNOW_EDITABLE") == "", "a non-editable install (the final stage copies site-packages)"
    assert "neural" in env.get("WINNOW_EXTRAS", "").split(",") and "gcp" in env["WINNOW_EXTRAS"].split(",")
    # Neural LMs work on the workers, with the CPU build of the pinned torch (not PyPI's CUDA one).
    torch = pinned("torch")
    assert f'"torch=={torch}" --index-url https://download.pytorch.org/whl/cpu' in builder.run_text()


def test_final_stage_has_no_build_tools(stages):
    final = final_of(stages)
    assert "slim" in image_tag(final.image), f"{final.image}: the final base must carry no compilers"
    run = final.run_text()
    assert "setup.sh" not in run and not re.search(r"\bpip3?\s+install\b|-m\s+pip\s+install", run), \
        "the final stage installs no Python packages: it copies them from the builder"
    installs = re.findall(r"apt-get\s+install\s+([^&|;]+)", run)
    assert installs, "the final stage installs the runtime libraries"
    packages = [w for chunk in installs for w in chunk.split() if not w.startswith("-")]
    bad = [p for p in packages if BUILD_PACKAGE.match(p)]
    assert not bad, f"the final stage installs build packages: {bad}"
    for lib in ("libboost-program-options", "libboost-system", "libboost-thread", "zlib1g", "libbz2", "liblzma"):
        assert any(p.startswith(lib) for p in packages), f"the final stage lacks the runtime package {lib}"


def test_copy_from_sources_are_produced(stages, by_name, builder):
    setup_sh = (ROOT / "scripts" / "setup.sh").read_text()
    kenlm = re.search(r"^KENLM_VERSION=(\S+)", setup_sh, flags=re.M).group(1)
    tools_py = (ROOT / "models" / "tools.py").read_text()
    assert f'KENLM_TOOLS_VERSION = "{kenlm}"' in tools_py, "setup.sh and models/tools.py build the same KenLM"
    assert "KENLM_DIR=$CACHE/kenlm-$KENLM_VERSION" in setup_sh and "KENLM_BIN=$KENLM_DIR/bin" in setup_sh
    shim = re.search(r'SHIM="\$ROOT/([^"]+)"', setup_sh).group(1)
    env, workdir = builder.env(), builder.workdir()
    minor = re.match(r"(3\.\d+)", image_tag(builder.image)).group(1)
    scripts = re.findall(r'"(\w+) = [\w.]+:\w+"', (ROOT / "setup.py").read_text())
    # What the builder leaves behind: its COPY destinations and what setup.sh makes.
    produced = []
    for ins in builder.of("COPY"):
        *srcs, dest = ins.flags_and_words()[1]
        for src in srcs:  # a folder's contents go to dest; a file into dest/ keeps its name
            into = not (ROOT / src).is_dir() and (dest.endswith("/") or dest == ".")
            produced.append(resolve(f"{dest}/{PurePosixPath(src).name}" if into else dest, workdir))
    produced += [f"{env['WINNOW_CACHE']}/kenlm-{kenlm}/bin", f"{workdir}/{shim}",
                 f"/usr/local/lib/python{minor}/site-packages"]
    produced += [f"/usr/local/bin/{s}" for s in scripts]
    assert env["WINNOW_KENLM_NATIVE"] == f"{workdir}/{shim}"

    copies = 0
    for stage in stages:
        for ins in stage.of("COPY"):
            flags, words = ins.flags_and_words()
            if "from" not in flags:
                continue
            copies += 1
            source = by_name.get(flags["from"])
            assert source is not None and stages.index(source) < stages.index(stage), \
                f"line {ins.line}: COPY --from={flags['from']} names no earlier stage"
            for src in words[:-1]:
                if source.instructions:
                    ok = any(under(src, p) for p in produced) if source is builder else True
                else:
                    known = [paths for pattern, paths in IMAGE_CONTENTS.items()
                             if re.fullmatch(pattern, image_repo(source.image))]
                    assert known, f"line {ins.line}: nothing is known of what {source.image} holds"
                    ok = any(under(src, p) for p in known[0])
                assert ok, f"line {ins.line}: {src} is not produced in stage {flags['from']}"
    assert copies >= 4


def test_final_stage_paths_and_settings_agree(stages, builder):
    final = final_of(stages)
    env = final.env()
    copies = {}
    for ins in final.of("COPY"):
        flags, words = ins.flags_and_words()
        for src in words[:-1]:
            copies[(flags.get("from"), src.rstrip("/"))] = resolve(words[-1], final.workdir())
    name = builder.name
    kenlm_bin = [dest for (stage, src), dest in copies.items() if stage == name and src.endswith("/bin")
                 and "kenlm" in src]
    assert kenlm_bin == [env["WINNOW_KENLM_BIN"]], "WINNOW_KENLM_BIN is where lmplz/build_binary are copied"
    assert env["WINNOW_KENLM_BIN"] in env["PATH"].split(":")
    native = [dest for (stage, src), dest in copies.items() if stage == name and src.endswith(".so")]
    assert native == [env["WINNOW_KENLM_NATIVE"]], "WINNOW_KENLM_NATIVE is where the native scorer is copied"
    assert copies.get((None, "docker/launcher.py")) == env["FLEX_TEMPLATE_PYTHON_PY_FILE"]
    # The launcher uses the installed package: nothing is re-staged at launch.
    for stage in stages:
        for key in list(stage.env()) + [i.args.split("=")[0] for i in stage.of("ARG")]:
            assert not re.match(r"FLEX_TEMPLATE_PYTHON_(SETUP_FILE|REQUIREMENTS_FILE|EXTRA_PACKAGES)", key), key
    assert "FLEX_TEMPLATE_PYTHON_SETUP_FILE" not in DOCKERFILE.read_text()
    # Worker and launcher in one image: Beam's boot is the entrypoint, the launcher binary is there.
    assert json.loads(final.of("ENTRYPOINT")[-1].args) == ["/opt/apache/beam/boot"]
    assert any(src == "/opt/google/dataflow/python_template_launcher" for _, src in copies)
    assert "--sdk_container_image" in (ROOT / "docker" / "DATAFLOW.md").read_text()


def test_final_stage_ends_with_winnow_doctor(stages):
    runs = final_of(stages).of("RUN")
    assert runs and re.search(r"\bwinnow doctor\b", runs[-1].args), "the final stage's last RUN is `winnow doctor`"


def test_copied_context_paths_exist_and_host_builds_stay_out(stages):
    ignore = (ROOT / "docker" / "Dockerfile.dockerignore").read_text().split("\n")
    patterns = [p.strip() for p in ignore if p.strip() and not p.startswith("#")]
    for needed in (".venv", "models/native/*.so"):
        assert needed in patterns, f"the build context must exclude {needed}"
    for stage in stages:
        for ins in stage.of("COPY") + stage.of("ADD"):
            flags, words = ins.flags_and_words()
            if "from" in flags:
                continue
            for path in words[:-1]:
                assert (ROOT / path).exists(), f"Dockerfile copies {path}, which does not exist"
                assert not any(fnmatch.fnmatch(path.rstrip("/"), p) for p in patterns), path


def test_parser_rejects_what_docker_rejects():
    with pytest.raises(AssertionError):
        parse_stages("FROM python:3.11.14-slim\nRUNN echo\n")
    with pytest.raises(AssertionError):
        parse_stages("FROM python:3.11.14-slim\nRUN echo \\\n")
    with pytest.raises(AssertionError):
        parse_stages('FROM python:3.11.14-slim\nENTRYPOINT ["/boot"\n')
    assert image_tag("gcr.io/x/y:20260122_RC00") == "20260122_RC00"
    assert image_tag("localhost:5000/y") is None and image_tag("python") is None


def _launcher():
    spec = importlib.util.spec_from_file_location("launcher", ROOT / "docker" / "launcher.py")
    launcher = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(launcher)
    return launcher


def test_launcher_translates_template_parameters():
    launcher = _launcher()
    assert launcher.translate(["--input=gs://b/x", "--score_only=true", "--keep_unscored_langs=false"]) == [
        "--input=gs://b/x", "--score-only"]


def test_launcher_sends_workers_to_the_same_image():
    launcher = _launcher()
    assert launcher.with_defaults(["--input=x"], "r/winnow:1") == [
        "--input=x", "--runner=DataflowRunner", "--sdk_container_image=r/winnow:1"]
    assert launcher.with_defaults(["--sdk_container_image=other:2", "--runner=DirectRunner"], "r/winnow:1") == [
        "--sdk_container_image=other:2", "--runner=DirectRunner"]
    assert launcher.with_defaults([], "") == ["--runner=DataflowRunner"]
