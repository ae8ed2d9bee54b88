"""The output commit protocol: resume after kill -9, one writer at a time, overwrite without
a mix, pre-flight checks of the output, exit codes, inputs that hold the output."""
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import SAMPLE_WEB
from test_pipeline import _canonical, output_rows
from winnow.pipeline import commit
from winnow.pipeline.cli import main

WORDS = ("the council agreed to publish the annual report on water quality in the region after a long "
         "public consultation with residents and local businesses about the new rules").split()


def write_corpus(folder: Path, files: int = 10, lines: int = 1200) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for f in range(files):
        with open(folder / f"part{f:02d}.jsonl", "w") as out:
            for i in range(lines):
                words = [WORDS[(f * 7 + i * 3 + k) % len(WORDS)] for k in range(8 + i % 9)]
                out.write(json.dumps({"id": f"{f}-{i}", "text": " ".join(words).capitalize() + "."}) + "\n")
    return folder


def cli(*args):
    return subprocess.run([sys.executable, "-m", "winnow.pipeline.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=300)


def run_args(models_root, thresholds_file, inputs, out, *extra):
    return ["run", "--input", *inputs, "--models", models_root, "--thresholds", thresholds_file, "--output", out,
            "--no-report", "--no-progress", "--direct_num_workers=1", *extra]


def summary(out: Path) -> dict:
    return json.loads((out / "_SUMMARY.json").read_text())


def assert_describes_disk(out: Path) -> dict:
    """The summary accounts for exactly the rows and files on disk."""
    s = summary(out)
    docs, rejected = output_rows(out)
    assert s["read"] - s.get("not_sampled", 0) == s["kept"] + s["dropped"] + s["rejected"] + s["scored"] \
        == len(docs) + len(rejected)
    on_disk = sorted(p.relative_to(out).as_posix() for p in out.rglob("part-*") if "_winnow" not in p.parts)
    assert on_disk == s["files"]
    assert not list(out.rglob("*.tmp"))
    assert len({d["thresholds_version"] for d in docs}) <= 1
    return s


def file_names(out: Path) -> list[str]:
    return sorted(p.relative_to(out).as_posix() for p in out.rglob("part-*"))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_corpus(tmp_path_factory.mktemp("corpus") / "in")


@pytest.fixture(scope="module")
def clean_run(models_root, thresholds_file, corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("clean") / "out"
    res = cli(*run_args(models_root, thresholds_file, [corpus], out))
    assert res.returncode == 0, res.stderr
    return out


def start_and_kill(args, out: Path, after_units: int) -> None:
    """Start ``winnow`` and kill -9 it once ``after_units`` units have committed."""
    proc = subprocess.Popen([sys.executable, "-m", "winnow.pipeline.cli", *map(str, args)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    done = out / "_winnow" / "done"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        if done.is_dir() and len(list(done.glob("*.json"))) >= after_units:
            break
        time.sleep(0.01)
    assert proc.poll() is None, f"the run ended before it could be killed: {proc.stderr.read()[-2000:]}"
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def test_kill_9_then_the_same_command_resumes_and_gives_the_shards_of_a_clean_run(
        models_root, thresholds_file, corpus, clean_run, tmp_path):
    out = tmp_path / "out"
    args = run_args(models_root, thresholds_file, [corpus], out)
    start_and_kill(args, out, after_units=4)
    committed = len(list((out / "_winnow" / "done").glob("*.json")))
    assert 4 <= committed < 10
    assert (out / "_winnow" / "LOCK").exists()  # left by the dead run, whose pid is gone
    # A dead attempt's temporary file, as a kill mid-shard leaves one.
    dead = out / "route=keep" / "lang=en" / ".part-part03-0123456789.parquet.abcdef012345.tmp"
    dead.parent.mkdir(parents=True, exist_ok=True)
    dead.write_bytes(b"half a shard")
    res = cli(*args)
    assert res.returncode == 0, res.stderr
    assert f"resumed: {committed} unit(s)" in res.stderr
    s = assert_describes_disk(out)
    assert s["units"] == 10 and s["units_resumed"] == committed
    assert not dead.exists() and not (out / "_winnow" / "LOCK").exists()
    assert file_names(out) == file_names(clean_run)
    assert _canonical(out) == _canonical(clean_run)
    for name in file_names(clean_run):  # byte for byte
        if name.startswith("route="):
            assert (out / name).read_bytes() == (clean_run / name).read_bytes(), name


def test_another_configuration_is_refused_and_overwrite_replaces_it_whole(
        models_root, thresholds_file, corpus, clean_run, tmp_path):
    out = tmp_path / "out"
    res = cli(*run_args(models_root, thresholds_file, [corpus], out))
    assert res.returncode == 0, res.stderr
    before = summary(out)
    strict = json.loads(Path(thresholds_file).read_text())
    strict["version"] = "strict-v2"
    for spec in strict["languages"].values():
        spec["rules"].append({"score": "kenlm_clean_pp", "value": 1.5, "reason": "low_quality"})
    strict_file = tmp_path / "strict.json"
    strict_file.write_text(json.dumps(strict))
    res = cli(*run_args(models_root, strict_file, [corpus], out))
    assert res.returncode == 2 and "different configuration" in res.stderr and "--overwrite" in res.stderr
    assert "Traceback" not in res.stderr and summary(out) == before
    # A crash in the middle of the overwrite leaves the old output, whole.
    start_and_kill(run_args(models_root, strict_file, [corpus], out, "--overwrite"),
                   tmp_path / ".out.winnow-staging", after_units=3)
    assert summary(out) == before and assert_describes_disk(out)["run"]["thresholds_version"] == "fixture-v1"
    # Run again: the staged units are resumed, then the new output replaces the old one.
    res = cli(*run_args(models_root, strict_file, [corpus], out, "--overwrite"))
    assert res.returncode == 0, res.stderr
    assert "resumed:" in res.stderr
    s = assert_describes_disk(out)
    assert s["read"] == before["read"] and s["kept"] < before["kept"]
    docs, _ = output_rows(out)
    assert {d["thresholds_version"] for d in docs} == {"strict-v2"}
    assert not (tmp_path / ".out.winnow-staging").exists()


def test_a_crash_while_installing_an_overwrite_is_rolled_forward(models_root, thresholds_file, corpus, tmp_path,
                                                                 monkeypatch):
    from winnow.models import fs

    small = write_corpus(tmp_path / "in", files=3, lines=50)
    out, new = tmp_path / "out", tmp_path / "new"
    for target, extra in ((out, ()), (new, ("--score-only",))):
        args = ["run", "--input", small, "--models", models_root, "--output", target, "--no-report",
                *(extra or ("--thresholds", thresholds_file))]
        assert main([str(a) for a in args]) == 0
    staging = Path(commit.staging_root(str(out)))
    new.rename(staging)
    wanted = _canonical(staging)
    moves = []
    real_move = fs.move_tree

    def dies_on_the_third_move(src, dest):
        if len(moves) == 2:
            raise OSError("the machine died here")
        moves.append(src)
        real_move(src, dest)

    monkeypatch.setattr(fs, "move_tree", dies_on_the_third_move)
    with pytest.raises(OSError, match="died"):
        commit.publish(str(staging), str(out))
    monkeypatch.setattr(fs, "move_tree", real_move)
    assert (out / "_winnow" / "publish.json").exists()
    # The next command on this output finishes the installation before anything else.
    assert commit.recover_publish(str(out))
    assert _canonical(out) == wanted and not staging.exists()
    assert summary(out)["mode"] == "score-only" and assert_describes_disk(out)
    assert not list((out / "_winnow").glob("trash-*")) and not (out / "_winnow" / "publish.json").exists()


def test_a_second_writer_is_refused_while_the_first_runs(models_root, thresholds_file, corpus, tmp_path):
    out = tmp_path / "out"
    first = subprocess.Popen([sys.executable, "-m", "winnow.pipeline.cli",
                              *map(str, run_args(models_root, thresholds_file, [corpus], out))],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lock = out / "_winnow" / "LOCK"
    deadline = time.monotonic() + 120
    while not lock.exists() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    other = json.loads(Path(thresholds_file).read_text())
    other["version"] = "other-v3"
    other_file = tmp_path / "other.json"
    other_file.write_text(json.dumps(other))
    second = cli(*run_args(models_root, other_file, [corpus], out))
    assert first.wait(timeout=300) == 0, first.stderr.read()
    assert second.returncode == 2 and "being written by another winnow run" in second.stderr, second.stderr
    assert f"pid {first.pid}" in second.stderr
    s = assert_describes_disk(out)
    assert s["run"]["thresholds_version"] == "fixture-v1" and s["units"] == 10


def write_lock(out: Path, **fields) -> None:
    (out / "_winnow").mkdir(parents=True, exist_ok=True)
    info = {"run_id": "deadbeef0000", "host": socket.gethostname(), "pid_namespace": commit._pid_namespace(),
            "pid": os.getpid(), "started": "then", "heartbeat": time.time(), **fields}
    (out / "_winnow" / "LOCK").write_text(json.dumps(info))


@pytest.mark.parametrize("case", ["dead-pid", "reused-pid", "old-heartbeat-elsewhere", "unreadable-and-old"])
def test_a_stale_lock_is_taken_over(models_root, thresholds_file, tmp_path, case, caplog):
    out = tmp_path / "out"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    if case == "dead-pid":
        write_lock(out, pid=int(dead.stdout))
    elif case == "reused-pid":
        write_lock(out, pid=os.getpid(), pid_start="1")  # our pid, but another process's start time
    elif case == "old-heartbeat-elsewhere":
        write_lock(out, host="another-machine", heartbeat=time.time() - commit.STALE_AFTER_S - 5)
    else:
        write_lock(out)
        (out / "_winnow" / "LOCK").write_text("{half a lock")
        old = time.time() - commit.STALE_AFTER_S - 5
        os.utime(out / "_winnow" / "LOCK", (old, old))
    assert main(["run", "--input", str(SAMPLE_WEB), "--models", str(models_root), "--thresholds",
                 str(thresholds_file), "--output", str(out), "--no-report"]) == 0
    assert "taking over the lock" in caplog.text
    assert not (out / "_winnow" / "LOCK").exists()


@pytest.mark.parametrize("case", ["alive-here", "fresh-heartbeat-elsewhere", "cluster-job-of-a-dead-launcher"])
def test_a_live_lock_is_respected(models_root, thresholds_file, tmp_path, case, capsys):
    out = tmp_path / "out"
    dead = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True).stdout)
    write_lock(out, **{"alive-here": {"pid_start": commit._process_start(os.getpid())},
                       "fresh-heartbeat-elsewhere": {"host": "another-machine"},
                       # Dataflow workers keep writing after their launcher died: only the heartbeat tells.
                       "cluster-job-of-a-dead-launcher": {"pid": dead, "workers_elsewhere": True}}[case])
    code = main(["run", "--input", str(SAMPLE_WEB), "--models", str(models_root), "--thresholds",
                 str(thresholds_file), "--output", str(out), "--no-report"])
    err = capsys.readouterr().err
    assert code == 2 and "being written by another winnow run (run deadbeef0000" in err
    said = [line for line in err.strip().splitlines() if not line.startswith("  ")]  # less the rules in force
    assert len(said) == 2 and not list(out.glob("route=*"))  # the launch line + the error
    assert "Traceback" not in err and all("drop as" in line for line in err.splitlines() if line.startswith("  "))


def test_the_lock_heartbeat_keeps_a_long_run_alive(tmp_path, monkeypatch):
    monkeypatch.setattr(commit, "HEARTBEAT_S", 0.05)
    lock = commit.OutputLock(str(tmp_path / "out")).acquire()
    try:
        first = json.loads((tmp_path / "out" / "_winnow" / "LOCK").read_text())["heartbeat"]
        time.sleep(0.3)
        assert json.loads((tmp_path / "out" / "_winnow" / "LOCK").read_text())["heartbeat"] > first
        with pytest.raises(commit.OutputError, match="being written"):
            commit.OutputLock(str(tmp_path / "out")).acquire()
    finally:
        lock.release()
    assert not (tmp_path / "out" / "_winnow" / "LOCK").exists()


def test_an_output_inside_its_inputs_is_not_read_again(models_root, thresholds_file, tmp_path, capsys):
    folder = write_corpus(tmp_path / "in", files=3, lines=200)
    reads = []
    for _ in range(3):
        assert main(["run", "--input", f"{folder}/**", "--models", str(models_root), "--thresholds",
                     str(thresholds_file), "--output", str(folder / "out"), "--no-report"]) == 0
        reads.append(summary(folder / "out")["read"])
    assert reads == [600, 600, 600]
    assert "under the output folder" in capsys.readouterr().err


def test_report_failure_after_the_output_is_committed(models_root, thresholds_file, tmp_path, capsys, monkeypatch):
    import winnow.pipeline.report as report

    def broken(*args, **kwargs):
        raise TypeError("'>' not supported between instances of 'NoneType' and 'int'")

    monkeypatch.setattr(report, "build_report", broken)
    out = tmp_path / "out"
    code = main(["run", "--input", str(SAMPLE_WEB), "--models", str(models_root), "--thresholds",
                 str(thresholds_file), "--output", str(out)])
    err = capsys.readouterr().err
    assert code == 0 and "warning: the report could not be built" in err and "output is complete and committed" in err
    assert "Traceback" not in err and assert_describes_disk(out)


# --- pre-flight and exit codes ------------------------------------------------------------------

def test_an_output_that_is_a_file_fails_before_the_models_load(tmp_path, capsys):
    (tmp_path / "out").write_text("not a folder")
    broken_models = tmp_path / "no-models"  # would fail too, later: the output is checked first
    code = main(["run", "--input", str(SAMPLE_WEB), "--models", str(broken_models), "--score-only",
                 "--output", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and "is a file, not a folder" in err and len(err.strip().splitlines()) == 1, err


def test_an_output_inside_the_models_root_is_refused(models_copy, capsys):
    code = main(["run", "--input", str(SAMPLE_WEB), "--models", str(models_copy), "--score-only",
                 "--output", str(models_copy / "out")])
    err = capsys.readouterr().err
    assert code == 2 and "must not hold one another" in err and not (models_copy / "out").exists()


@contextlib.contextmanager
def tmpfs(path: Path, size: str, *options: str):
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", ",".join([f"size={size}", *options]), "tmpfs", str(path)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"this machine cannot mount a tmpfs (needs root): {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_a_read_only_output_fails_before_the_models_load(tmp_path, capsys):
    with tmpfs(tmp_path / "ro", "1m", "ro") as ro:
        code = main(["run", "--input", str(SAMPLE_WEB), "--models", str(tmp_path / "no-models"), "--score-only",
                     "--output", str(ro / "out")])
    err = capsys.readouterr().err
    assert code == 2 and "cannot write to the output folder" in err and "Read-only file system" in err, err
    assert len(err.strip().splitlines()) == 1


def test_a_full_disk_fails_in_one_line_and_the_rerun_resumes(models_root, corpus, tmp_path):
    with tmpfs(tmp_path / "small", "300k") as small:
        out = small / "out"
        args = ["run", "--input", corpus, "--models", models_root, "--score-only", "--output", out, "--no-report",
                "--direct_num_workers=1"]
        res = cli(*args)
        assert res.returncode == 1, res.stderr
        errors = [line for line in res.stderr.splitlines() if line.startswith("winnow: error:")]
        assert len(errors) == 1 and "No space left on device" in errors[0] and "resumes" in errors[0], res.stderr
        assert "Traceback" not in res.stderr
        committed = len(list((out / "_winnow" / "done").glob("*.json")))
        assert committed < 10
        # Moved to a bigger disk (or space freed): the same output finishes.
        big = tmp_path / "big"
        subprocess.run(["cp", "-a", str(out), str(big)], check=True)
    res = cli(*args[:-4], "--output", big, "--no-report", "--direct_num_workers=1")
    assert res.returncode == 0, res.stderr
    s = assert_describes_disk(big)
    assert s["units"] == 10 and s["units_resumed"] == committed and s["read"] == 12000


def test_a_failed_run_exits_1_in_one_line(models_root, tmp_path, monkeypatch, capsys):
    import winnow.pipeline.units as units

    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug in a worker")

    monkeypatch.setattr(units, "run_unit", broken)
    import winnow.pipeline.job as job

    monkeypatch.setattr(job, "run_unit", broken)
    code = main(["run", "--input", str(SAMPLE_WEB), "--models", str(models_root), "--score-only", "--output",
                 str(tmp_path / "out"), "--no-report"])
    err = capsys.readouterr().err
    assert code == 1 and "the run failed: ZeroDivisionError: a bug in a worker" in err and "Traceback" not in err


# --- what the inputs name -------------------------------------------------------------------------

def test_folders_are_read_recursively_and_odd_paths_are_accounted_for(models_root, thresholds_file, tmp_path):
    folder = write_corpus(tmp_path / "in", files=2, lines=20)
    sub = folder / "sub" / "deeper"
    write_corpus(sub, files=1, lines=10)
    (folder / "dangling.jsonl").symlink_to(tmp_path / "gone.jsonl")
    (folder / "loop-a.jsonl").symlink_to(folder / "loop-b.jsonl")
    (folder / "loop-b.jsonl").symlink_to(folder / "loop-a.jsonl")
    (sub / "up").symlink_to(folder)  # a folder loop
    (folder / "again.jsonl").symlink_to(folder / "part00.jsonl")  # the same file twice: read once
    os.mkfifo(folder / "pipe.jsonl")  # opening it would block forever
    (folder / "_skipped.jsonl").write_text('{"text": "never read"}\n')
    out = tmp_path / "out"
    result = {}

    def go():
        result["code"] = main(["run", "--input", str(folder), "--models", str(models_root), "--thresholds",
                               str(thresholds_file), "--output", str(out), "--no-report"])

    worker = threading.Thread(target=go, daemon=True)
    worker.start()
    worker.join(timeout=240)
    assert not worker.is_alive(), "the run hung (on the FIFO?)"
    assert result["code"] == 0
    s = assert_describes_disk(out)
    _, rejected = output_rows(out)
    reasons = {Path(r["source_file"]).name: r["reason"] for r in rejected}
    assert reasons == {"dangling.jsonl": "dangling_symlink", "loop-a.jsonl": "symlink_loop",
                       "loop-b.jsonl": "symlink_loop", "up": "symlink_loop", "pipe.jsonl": "not_a_regular_file"}
    assert s["read"] == 20 + 20 + 10 + 5
    assert str(sub / "part00.jsonl") in s["by_input"] and str(folder / "again.jsonl") not in s["by_input"]


def test_two_runs_breaking_the_same_stale_lock_leave_one_owner(tmp_path):
    out = tmp_path / "out"
    dead = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True).stdout)
    write_lock(out, pid=dead)
    stale = json.loads((out / "_winnow" / "LOCK").read_text())
    first = commit.OutputLock(str(out)).acquire()  # took the stale lock over
    try:
        # A second run that read the same stale lock before the first replaced it breaks it
        # late: it must put the first run's live lock back, then find it live.
        second = commit.OutputLock(str(out))
        second._break(stale)
        assert first.owned()
        with pytest.raises(commit.OutputError, match="being written"):
            second.acquire()
    finally:
        first.release()


def test_an_install_whose_staging_vanished_keeps_the_old_output(models_root, thresholds_file, tmp_path):
    small = write_corpus(tmp_path / "in", files=2, lines=30)
    out = tmp_path / "out"
    assert main(["run", "--input", str(small), "--models", str(models_root), "--thresholds", str(thresholds_file),
                 "--output", str(out), "--no-report"]) == 0
    before = _canonical(out)
    intent = {"trash": "trash-0000", "phase": "trash", "old": commit._entries(str(out)), "new": ["route=keep"]}
    (out / "_winnow" / "publish.json").write_text(json.dumps(intent))  # no staging folder beside OUT
    assert commit.recover_publish(str(out))
    assert _canonical(out) == before and not (out / "_winnow" / "publish.json").exists()


def test_an_overwrite_merges_into_folders_left_in_place(models_root, thresholds_file, tmp_path):
    small = write_corpus(tmp_path / "in", files=2, lines=30)
    out = tmp_path / "out"
    base = ["run", "--input", str(small), "--models", str(models_root), "--output", str(out), "--no-report"]
    assert main(base + ["--thresholds", str(thresholds_file)]) == 0
    (out / "route=scored" / "lang=xx").mkdir(parents=True)  # an empty folder of the layout, no shard in it
    assert main(base + ["--score-only", "--overwrite"]) == 0
    assert summary(out)["mode"] == "score-only" and assert_describes_disk(out)


def test_an_overwrite_at_a_bucket_root_is_refused():
    with pytest.raises(commit.OutputError, match="inside the bucket"):
        commit.staging_root("gs://bucket")
    assert commit.staging_root("gs://bucket/a/out/") == "gs://bucket/a/.out.winnow-staging"


def test_an_overwrite_of_an_output_that_is_a_mount_point(models_root, thresholds_file, tmp_path):
    small = write_corpus(tmp_path / "in", files=2, lines=30)
    with tmpfs(tmp_path / "out", "20m") as out:  # the staging folder beside it is on another filesystem
        base = ["run", "--input", str(small), "--models", str(models_root), "--output", str(out), "--no-report"]
        assert main(base + ["--thresholds", str(thresholds_file)]) == 0
        assert main(base + ["--score-only", "--overwrite"]) == 0
        assert summary(out)["mode"] == "score-only" and assert_describes_disk(out)
        assert not Path(commit.staging_root(str(out))).exists()


def test_a_resumed_split_file_must_split_as_before(models_root, tmp_path):
    from test_units import _jsonl
    from winnow.pipeline.units import plan_units

    path = tmp_path / "big.jsonl"
    _jsonl(path, 400)
    units = plan_units([str(path)], split_bytes=4096)
    assert len(units) > 2
    committed = {units[0].key}
    assert [u.key for u in plan_units([str(path)], split_bytes=4096, committed=committed)] == \
        [u.key for u in units[1:]]
    path.write_text(path.read_text()[:3000])  # shrunk below a split: it would be read whole
    with pytest.raises(RuntimeError, match="cannot be split the same way"):
        plan_units([str(path)], split_bytes=4096, committed=committed)


def test_a_run_over_every_hostile_file_completes_and_accounts_for_each(models_root, thresholds_file, tmp_path):
    """Issue cases 1-3, 8-10 end to end: the run completes, exit 0, each bad file or record
    in the dead letters with its reason, read = kept + dropped + rejected."""
    import gzip
    import zlib

    import pyarrow as pa
    import pyarrow.parquet as pq
    import zstandard

    from test_hostile_readers import http, page, three, warc_record

    folder = tmp_path / "in"
    folder.mkdir()
    import hashlib

    good = "".join(json.dumps({"id": f"z{i}", "text": f"Line {i} breaks off: {hashlib.sha1(str(i).encode()).hexdigest()}"})
                   + "\n" for i in range(20000)).encode()  # varied: many zstd blocks
    blob = bytearray(zstandard.ZstdCompressor(write_checksum=True).compress(good))
    blob[len(blob) * 3 // 4] ^= 0xFF
    (folder / "corrupt.jsonl.zst").write_bytes(bytes(blob))                       # 1: flipped zstd bytes
    bomb = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    body = bomb.compress(b"\0" * (48 << 20)) + bomb.flush()
    (folder / "bomb.warc").write_bytes(warc_record(http(body, "Content-Encoding: gzip"))
                                       + warc_record(http(page(7)), url="http://after.test/"))  # 2: gzip bomb
    (folder / "newlines.jsonl.gz").write_bytes(gzip.compress(b"\n" * (80 << 20), 9))   # 3: newline bomb
    os.mkfifo(folder / "pipe.jsonl")                                                # 8: a FIFO
    (folder / "lying.warc").write_bytes(b"".join(three(r0=-25)))                    # 9: a lying Content-Length
    pq.write_table(pa.table({"text": pa.array([b"binary text one", b"binary text two"], pa.binary())}),
                   folder / "binary.parquet")                                       # 10: string-like columns
    pq.write_table(pa.table({"text": pa.array(["dictionary text"] * 3).dictionary_encode()}), folder / "dict.parquet")
    pq.write_table(pa.table({"text": list(range(20))}), folder / "ints.parquet")     # 10: 20 rows, 20 read
    out = tmp_path / "out"
    assert main(["run", "--input", str(folder), "--models", str(models_root), "--thresholds", str(thresholds_file),
                 "--output", str(out), "--no-report"]) == 0
    s = assert_describes_disk(out)
    by_input = {Path(name).name: counts for name, counts in s["by_input"].items()}
    _, rejected = output_rows(out)
    reasons = {(Path(r["source_file"]).name, r["reason"]) for r in rejected}
    assert ("corrupt.jsonl.zst", "corrupt_file") in reasons and by_input["corrupt.jsonl.zst"].get("keep", 0) + \
        by_input["corrupt.jsonl.zst"].get("drop", 0) > 0                            # the lines before the break
    assert ("bomb.warc", "too_large") in reasons and by_input["bomb.warc"]["read"] == 2
    assert ("newlines.jsonl.gz", "decompression_bomb") in reasons
    assert ("pipe.jsonl", "not_a_regular_file") in reasons
    assert ("lying.warc", "bad_record_length") in reasons and by_input["lying.warc"]["read"] == 3
    assert by_input["binary.parquet"]["read"] == 2 and "rejected" not in by_input["binary.parquet"]
    assert by_input["dict.parquet"]["read"] == 3 and "rejected" not in by_input["dict.parquet"]
    assert by_input["ints.parquet"] == {"rejected": 20, "read": 20}


def test_sample_and_route_follow_the_protocol_too(models_root, thresholds_file, tmp_path, capsys):
    small = write_corpus(tmp_path / "in", files=3, lines=40)
    smp = tmp_path / "smp"
    base = ["sample", "--input", str(small), "--models", str(models_root), "--n", "30", "--output", str(smp)]
    assert main(base + ["--seed", "1"]) == 0
    first = summary(smp)
    assert main(base + ["--seed", "2"]) == 2 and "sample size, seed or inputs" in capsys.readouterr().err
    assert summary(smp) == first
    assert main(base + ["--seed", "2", "--overwrite"]) == 0
    assert summary(smp)["read"] == first["read"] and assert_describes_disk(smp)["units"] == 1
    # route: resumed when run again, refused with other thresholds, refused on a locked --scored.
    scored, routed = tmp_path / "scored", tmp_path / "routed"
    assert main(["run", "--input", str(small), "--models", str(models_root), "--score-only", "--output", str(scored),
                 "--no-report"]) == 0
    route = ["route", "--scored", str(scored), "--models", str(models_root), "--output", str(routed)]
    assert main(route + ["--thresholds", str(thresholds_file)]) == 0
    capsys.readouterr()
    assert main(route + ["--thresholds", str(thresholds_file)]) == 0
    assert "resumed: 3 unit(s)" in capsys.readouterr().err and assert_describes_disk(routed)["read"] == 120
    other = json.loads(Path(thresholds_file).read_text())
    other["version"] = "route-v2"
    (tmp_path / "t2.json").write_text(json.dumps(other))
    assert main(route + ["--thresholds", str(tmp_path / "t2.json")]) == 2
    write_lock(scored)
    assert main(route + ["--thresholds", str(thresholds_file), "--overwrite"]) == 2
    assert "is being written, or its last run did not finish" in capsys.readouterr().err

