"""The output commit protocol: completion records, resume, one writer, overwrite.

An output folder ``OUT`` holds the table (``route=*/lang=*/part-*.parquet``), the dead
letters (``_rejected/``), ``_SUMMARY.json``, and Winnow's control folder::

    OUT/_winnow/output.json       what the output is: its identity (mode, thresholds, model
                                  hashes, reader options, split size) and fingerprint
    OUT/_winnow/done/<unit>.json  a unit's completion record: its counts, its shard files
                                  with their rows, the fingerprint, thresholds version and models
    OUT/_winnow/LOCK              the run writing OUT now: run id, host, pid, heartbeat
    OUT/_winnow/publish.json      an --overwrite being installed (rolled forward if interrupted)

**The completion records are the commit.** A unit writes its shards under temporary names,
renames them into place, then writes its record in one atomic write (a rename on a disk, a
single-object write on ``gs://``/``s3://``, which have no atomic folder rename). A unit
without a record does not exist: its files are removed by the next finalize. The summary is
derived from the records, so it always describes exactly what is on disk. A retried or
speculative attempt of a unit (Beam, Spark) writes the same shard names and the same record.

**Resume**: the planner skips the units that hold a record; the same command after a
crash finishes the rest. **One configuration per output**: a run whose identity differs
from ``output.json`` is refused unless asked to overwrite; an overwrite writes a complete
new output into a staging folder beside ``OUT`` and installs it at the end (old entries to a
trash folder, new ones into place, in an order recorded in ``publish.json`` so that a crash
mid-way is rolled forward by the next run), so that the old output stays whole until the
new one is. **One writer**: ``LOCK`` is created exclusively; a lock whose owner is gone (a
dead pid on this host, or no heartbeat for :data:`STALE_AFTER_S`) is taken over.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import logging
import os
import posixpath
import socket
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, is_dataclass

from winnow.models import fs
from winnow.models.errors import UsageError

log = logging.getLogger(__name__)

CONTROL = "_winnow"
DONE = "done"
OUTPUT_FILE = "output.json"
LOCK_FILE = "LOCK"
PUBLISH_FILE = "publish.json"
SUMMARY_FILE = "_SUMMARY.json"
REPORT_FILES = ("_REPORT.html", "_REPORT.json")
STAGING_SUFFIX = ".winnow-staging"
HEARTBEAT_S = 30.0
STALE_AFTER_S = float(os.environ.get("WINNOW_LOCK_STALE_S", 600))  # no heartbeat this long: the owner is gone


class OutputError(UsageError):
    """An output that cannot be written as asked (busy, another configuration, unwritable)."""


def control(root: str, *parts: str) -> str:
    return fs.join(root.rstrip("/"), CONTROL, *parts)


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _json(data) -> bytes:
    return (json.dumps(data, indent=1, sort_keys=True, default=str) + "\n").encode("utf-8")


# --- identity -----------------------------------------------------------------------------------

def output_identity(mode: str, **parts) -> dict:
    """What makes the rows of an output what they are, and its fingerprint. Two runs with
    the same identity write the same rows for the same input (so one may resume the other)."""
    parts = {k: (asdict(v) if is_dataclass(v) else v) for k, v in parts.items()}
    description = {"mode": mode, **parts}
    digest = hashlib.sha256(json.dumps(description, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return {"fingerprint": digest, **description}


def thresholds_digest(thresholds: dict | None) -> str | None:
    if thresholds is None:
        return None
    return hashlib.sha256(json.dumps(thresholds, sort_keys=True).encode()).hexdigest()[:16]


def differences(old: dict, new: dict) -> list[str]:
    """Human names of what differs between two identities."""
    names = {"reader": "reader options", "split_bytes": "--split-size", "keep_unscored": "--keep-unscored-langs",
             "sample": "sample size, seed or inputs", "scored": "--scored input", "language_id": "language-ID model",
             "lang_fallback": "--lang-fallback", "winnow": "Winnow version"}
    shown = ("mode", "thresholds_version", "winnow")  # said with their two values
    out = [f"{names.get(key, key.replace('_', ' '))}" + (f" {old.get(key)} -> {new.get(key)}" if key in shown else "")
           for key in sorted((set(old) | set(new)) - {"fingerprint"}) if old.get(key) != new.get(key)]
    return out or ["fingerprint"]


# --- completion records --------------------------------------------------------------------------

def record_path(root: str, key: str) -> str:
    return control(root, DONE, f"{key}.json")


def relative(root: str, path: str) -> str:
    root = root.rstrip("/")
    assert path.startswith(root + "/") or path.startswith(root + os.sep), (root, path)
    return path[len(root) + 1:].replace(os.sep, "/")


def commit_unit(root: str, key: str, results: list[dict], identity: dict | None) -> dict:
    """Write the completion record of unit ``key``: the unit exists from this write on."""
    identity = identity or {}
    record = {"key": key, "results": results, "fingerprint": identity.get("fingerprint"),
              "thresholds_version": identity.get("thresholds_version"), "models": identity.get("models"),
              "committed_at": _now(), "attempt": uuid.uuid4().hex[:12]}
    fs.write_atomic(record_path(root, key), _json(record))
    return record


def committed_keys(root: str) -> set[str]:
    """The keys of the units committed under ``root`` (one listing)."""
    return {posixpath.basename(m.path)[:-len(".json")] for m in fs.match(control(root, DONE, "*.json"))}


def read_records(root: str, keys) -> dict[str, dict]:
    """The completion records of ``keys`` (in parallel: on an object store each is a request);
    None for a record that is not readable JSON."""
    keys = sorted(keys)

    def read(key):
        try:
            return key, json.loads(fs.read_text(record_path(root, key)))
        except ValueError:  # not JSON: a write cut short (None: the caller redoes the unit)
            return key, None

    if len(keys) < 16:
        return dict(map(read, keys))
    with ThreadPoolExecutor(16) as pool:
        return dict(pool.map(read, keys))


# --- the lock -------------------------------------------------------------------------------------

def _process_start(pid: int) -> str | None:
    """A process's start time (jiffies since boot, from /proc), to tell a reused pid apart."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError):
        return None


def _pid_namespace() -> str | None:
    """This process's pid namespace and boot: two containers may share a host name, not these."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            boot = f.read().strip()
        return f"{boot}:{os.readlink('/proc/self/ns/pid')}"
    except OSError:
        return None


def _owner_alive(held: dict) -> bool | None:
    """True/False when the owner ran in this host's pid namespace (its pid checked), None
    otherwise (then only its heartbeat tells)."""
    if held.get("host") != socket.gethostname() or held.get("pid_namespace") != _pid_namespace():
        return None
    if held.get("workers_elsewhere"):
        return None  # a cluster job (Dataflow, a Spark cluster) may outlive its launcher's pid
    pid = held.get("pid")
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    start = _process_start(pid)
    return start is None or held.get("pid_start") in (None, start)


class OutputLock:
    """``OUT/_winnow/LOCK``: at most one run writes an output at a time."""

    def __init__(self, output: str, command: str = "", *, workers_elsewhere: bool = False):
        self.output = output.rstrip("/")
        self.path = control(self.output, LOCK_FILE)
        self.info = {"run_id": uuid.uuid4().hex[:12], "host": socket.gethostname(), "pid": os.getpid(),
                     "pid_start": _process_start(os.getpid()), "pid_namespace": _pid_namespace(), "started": _now(),
                     "command": command[:500], "workers_elsewhere": workers_elsewhere}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.took_over: dict | None = None

    def _content(self) -> bytes:
        return _json({**self.info, "heartbeat": time.time()})

    def _create(self) -> bool:
        if not fs.is_remote(self.path):
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                return False
            with os.fdopen(fd, "wb") as f:
                f.write(self._content())
            return True
        # Object stores through Beam's filesystems offer no create-if-absent: write, then read
        # back after a pause; of two runs racing, the one whose write landed last keeps the lock.
        if fs.exists(self.path):
            return False
        fs.write_bytes(self.path, self._content())
        time.sleep(1.0)
        return (self.held() or {}).get("run_id") == self.info["run_id"]

    def held(self) -> dict | None:
        """The lock's content; ``{}`` for a lock whose content is not JSON (a crash while it
        was written), None when there is none. A failure to read it raises: a lock that
        cannot be read is not taken for a stale one."""
        try:
            text = fs.read_text(self.path)
        except FileNotFoundError:
            return None
        try:
            held = json.loads(text)
        except ValueError:
            return {}
        return held if isinstance(held, dict) else {}

    def _stale(self, held: dict) -> bool:
        alive = _owner_alive(held) if held else None
        if alive is not None:
            return not alive
        beat = held.get("heartbeat") if held else None
        if not isinstance(beat, (int, float)):  # unreadable (a crash while writing it): by its age
            try:
                beat = os.path.getmtime(self.path) if not fs.is_remote(self.path) else 0
            except OSError:
                return True
        return time.time() - beat > STALE_AFTER_S

    def acquire(self) -> "OutputLock":
        for _ in range(3):
            if self._create():
                self._start_heartbeat()
                return self
            held = self.held()
            if held is None:
                continue  # released meanwhile
            if not self._stale(held):
                ago = time.time() - held["heartbeat"] if isinstance(held.get("heartbeat"), (int, float)) else None
                raise OutputError(
                    f"{self.output} is being written by another winnow run (run {held.get('run_id')}, pid "
                    f"{held.get('pid')} on {held.get('host')}, started {held.get('started')}"
                    + (f", alive {ago:.0f} s ago" if ago is not None else "") + "); wait for it to finish, or "
                    f"choose another --output. A lock whose run died is taken over automatically (on another "
                    f"machine after {STALE_AFTER_S:.0f} s without a heartbeat).")
            log.warning("%s: taking over the lock of run %s (pid %s on %s), which is no longer running",
                        self.output, held.get("run_id"), held.get("pid"), held.get("host"))
            self.took_over = held
            self._break(held)
        raise OutputError(f"{self.output}: could not take the output lock {self.path}; another run keeps taking it")

    def _break(self, held: dict) -> None:
        if fs.is_remote(self.path):
            if (self.held() or {}).get("run_id") == held.get("run_id"):  # still the stale one
                fs.delete([self.path])
            return
        # Rename the lock away, then look at what was renamed: of two runs that found the
        # same stale lock, the second may have renamed the first one's new, live lock; it
        # puts that back (the link fails if a lock exists again) and finds it live next time.
        aside = f"{self.path}.stale-{uuid.uuid4().hex[:8]}"
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return
        try:
            with open(aside, encoding="utf-8") as f:
                moved = json.loads(f.read() or "{}")
        except (OSError, ValueError):
            moved = {}
        if isinstance(moved, dict) and moved.get("run_id") not in (None, held.get("run_id")):
            with contextlib.suppress(FileExistsError):
                os.link(aside, self.path)
        os.remove(aside)

    def _start_heartbeat(self) -> None:
        def beat():
            while not self._stop.wait(min(HEARTBEAT_S, STALE_AFTER_S / 4)):
                try:
                    if not self.owned():
                        log.error("%s: the output lock was taken by another run; this run stops at its end",
                                  self.output)
                        return
                    fs.write_atomic(self.path, self._content())
                except Exception as exc:  # noqa: BLE001 - a full disk, an object store's error: try again
                    log.warning("%s: could not refresh the lock: %s", self.output, exc)

        self._thread = threading.Thread(target=beat, name="winnow-lock-heartbeat", daemon=True)
        self._thread.start()

    def owned(self) -> bool:
        """Whether the lock is still this run's."""
        held = self.held()
        return bool(held) and held.get("run_id") == self.info["run_id"]

    def release(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)
        held = self.held()
        if held is not None and held.get("run_id") == self.info["run_id"]:
            fs.delete([self.path])

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


# --- preparing, finishing and installing an output -------------------------------------------

def staging_root(output: str) -> str:
    """Where an --overwrite writes the new output: a hidden folder beside ``OUT`` (inside
    it, DuckDB's and Polars' ``OUT/**/*.parquet`` globs would see it)."""
    out = output.rstrip("/")
    if fs.is_remote(out):
        scheme, _, rest = out.partition("://")
        bucket, _, key = rest.partition("/")
        if not key:
            raise OutputError(f"--overwrite stages the new output beside {output}: give an output folder inside "
                              f"the bucket (e.g. {out}/out), not the bucket itself")
        parent, name = posixpath.split(key)
        return f"{scheme}://{bucket}/" + posixpath.join(parent, f".{name}{STAGING_SUFFIX}")
    parent, name = os.path.split(out)
    return os.path.join(parent, f".{name}{STAGING_SUFFIX}")


def layout_files(root: str) -> list[str]:
    """The files of the output's own layout under ``root``, temporary files included (what
    finalize may remove): never a file a user keeps elsewhere under OUT. (An --overwrite
    install replaces the ``route=*/`` and ``_rejected/`` folders whole.)"""
    from .shards import DEAD_LETTER_SUFFIX, REJECTED_FOLDER, SHARD_SUFFIX

    root = root.rstrip("/")
    patterns = [fs.join(root, "route=*", "lang=*", f"part-*{SHARD_SUFFIX}"), fs.join(root, "route=*", "lang=*", ".part-*.tmp"),
                fs.join(root, REJECTED_FOLDER, f"part-*{DEAD_LETTER_SUFFIX}"), fs.join(root, REJECTED_FOLDER, ".part-*.tmp")]
    return sorted(m.path for pattern in patterns for m in fs.match(pattern))


def clean_temporary(root: str) -> int:
    """Remove the temporary files that dead runs left (call with the lock held)."""
    tmp = [p for p in layout_files(root) if p.endswith(".tmp")]
    tmp += [m.path for m in fs.match(control(root, "**", ".*.tmp"))] + [m.path for m in fs.match(control(root, ".*.tmp"))]
    fs.delete(sorted(set(tmp)))
    return len(set(tmp))


def read_identity(root: str) -> dict | None:
    try:
        return json.loads(fs.read_text(control(root, OUTPUT_FILE)))
    except FileNotFoundError:
        return None


def _holds_output(root: str) -> bool:
    return bool(layout_files(root)) or fs.exists(fs.join(root, SUMMARY_FILE)) or bool(committed_keys(root))


class Writer:
    """The run's hold on its output: the lock, the identity check, and where to write.

    ``target`` is the root the engine writes (``OUT`` itself, or the staging folder of an
    overwrite); :meth:`finish` installs a staged output; :meth:`close` releases the lock.
    """

    def __init__(self, output: str, identity: dict, *, overwrite: bool = False, command: str = "",
                 workers_elsewhere: bool = False):
        self.output = output.rstrip("/")
        self.identity = identity
        self.overwrite = overwrite
        self.lock = OutputLock(self.output, command, workers_elsewhere=workers_elsewhere)
        self.target = self.output

    def open(self) -> "Writer":
        self.lock.acquire()
        try:
            self._prepare()
        except BaseException:
            self.lock.release()
            raise
        return self

    def _prepare(self) -> None:
        recover_publish(self.output)
        if cleaned := clean_temporary(self.output):
            log.info("%s: removed %d temporary file(s) that dead runs left", self.output, cleaned)
        existing = read_identity(self.output)
        same = existing is not None and existing.get("fingerprint") == self.identity["fingerprint"]
        if same or (existing is None and not _holds_output(self.output)):
            if existing is None:
                fs.write_atomic(control(self.output, OUTPUT_FILE), _json(self.identity))
            return
        what = ("an output written without a record of its configuration (by another tool, or a Winnow before "
                "0.2)" if existing is None else "the output of a different configuration ("
                + ", ".join(differences(existing, self.identity)) + " differ)")
        if not self.overwrite:
            raise OutputError(f"{self.output} holds {what}; pass --overwrite to replace it (the old output stays "
                              f"whole until the new one is complete), or choose another --output")
        self.target = staging_root(self.output)
        staged = read_identity(self.target)
        if staged is None or staged.get("fingerprint") != self.identity["fingerprint"]:
            fs.delete_tree(self.target)  # an overwrite of another configuration that never finished
            fs.write_atomic(control(self.target, OUTPUT_FILE), _json(self.identity))
        else:
            clean_temporary(self.target)

    def finish(self) -> None:
        """Install a staged overwrite into ``OUT`` (nothing to do for a direct write)."""
        if not self.lock.owned():
            raise OutputError(f"{self.output}: this run lost the output lock to another run while it ran (its "
                              f"heartbeat stopped for over {STALE_AFTER_S:.0f} s?); its units are committed, but "
                              f"it does not install or summarize the output over the other run's work")
        if self.target != self.output:
            publish(self.target, self.output)
            self.target = self.output

    def close(self) -> None:
        self.lock.release()

    def __enter__(self):
        return self.open()

    def __exit__(self, *exc):
        self.close()


def _entries(root: str) -> list[str]:
    """The top-level names of an output that make up its content (what an install swaps)."""
    from .shards import REJECTED_FOLDER

    root = root.rstrip("/")
    routes = sorted({relative(root, p).split("/")[0] for p in layout_files(root)})
    names = routes + [REJECTED_FOLDER, SUMMARY_FILE, *REPORT_FILES, f"{CONTROL}/{DONE}", f"{CONTROL}/{OUTPUT_FILE}"]
    return list(dict.fromkeys(names))


def _exists(path: str) -> bool:
    if fs.is_remote(path):
        return fs.exists(path) or bool(fs.match(path.rstrip("/") + "/**"))
    return os.path.lexists(path)


def publish(staging: str, output: str) -> None:
    """Install the complete output in ``staging`` as ``output``; see :func:`recover_publish`."""
    assert staging == staging_root(output), (staging, output)
    intent = {"trash": f"trash-{uuid.uuid4().hex[:8]}", "phase": "trash", "old": _entries(output),
              "new": [name for name in _entries(staging) if _exists(fs.join(staging, name))]}
    fs.write_atomic(control(output, PUBLISH_FILE), _json(intent))
    _roll_forward(output, intent)


def recover_publish(output: str) -> bool:
    """Finish an install that a crash interrupted (the old output moved partly aside, the
    new one partly in place): after this, ``output`` is the new output, whole. An install
    whose staged output is gone before any of it was moved is dropped, the old output kept."""
    try:
        intent = json.loads(fs.read_text(control(output, PUBLISH_FILE)))
    except FileNotFoundError:
        return False
    log.warning("%s: finishing the installation of an --overwrite that was interrupted", output)
    _roll_forward(output, intent)
    return True


def _roll_forward(output: str, intent: dict) -> None:
    out = output.rstrip("/")
    staging, trash = staging_root(out), control(out, intent["trash"])  # names relative to OUT: a copy works too
    missing = [name for name in intent["new"] if not _exists(fs.join(staging, name)) and
               (intent["phase"] == "trash" or not _exists(fs.join(out, name)))]
    if missing:
        if intent["phase"] == "trash":  # nothing moved yet: keep the old output
            log.warning("%s: the staged --overwrite output %s is incomplete (%s missing); the old output is kept",
                        out, staging, ", ".join(missing))
            fs.delete([control(out, PUBLISH_FILE)])
            return
        raise OutputError(f"{out}: an interrupted --overwrite cannot be finished: {', '.join(missing)} are neither "
                          f"in {staging} nor in place; the old output is in {trash}")
    if intent["phase"] == "trash":  # the old entries aside (none of the new is in place yet)
        for name in intent["old"]:
            if _exists(fs.join(out, name)):
                fs.move_tree(fs.join(out, name), fs.join(trash, name))
        intent["phase"] = "install"
        fs.write_atomic(control(out, PUBLISH_FILE), _json(intent))
    for name in intent["new"]:  # the new entries into place; those moved before are already there
        src = fs.join(staging, name)
        if _exists(src):
            fs.move_tree(src, fs.join(out, name))
    fs.delete_tree(trash)
    fs.delete_tree(staging)
    fs.delete([control(out, PUBLISH_FILE)])


def check_settled(root: str, flag: str) -> None:
    """Refuse to read an output (``winnow route --scored``) that a run is writing, or that
    an interrupted run or install left unfinished."""
    if fs.exists(control(root, LOCK_FILE)) or fs.exists(control(root, PUBLISH_FILE)):
        raise OutputError(f"{flag} {root} is being written, or its last run did not finish (it holds "
                          f"{CONTROL}/{LOCK_FILE} or {CONTROL}/{PUBLISH_FILE}): wait for that run, or rerun its "
                          f"command to finish it")


def check_output(output: str, *, models: str | None = None) -> None:
    """Fail before any model loads when ``output`` cannot be written: a file where the folder
    should be, a folder inside the models root (or holding it), or no permission to write."""
    out = fs.absolute(output).rstrip("/")
    if models and not fs.is_remote(out) and not fs.is_remote(models):
        root = os.path.realpath(models)
        real = os.path.realpath(out)
        if real == root or real.startswith(root + os.sep) or root.startswith(real + os.sep):
            raise OutputError(f"--output {output} and the models root {models} must not hold one another: "
                              f"choose an output folder outside the models")
    if not fs.is_remote(out):
        if os.path.lexists(out) and not os.path.isdir(out):
            raise OutputError(f"--output {output} is a file, not a folder: choose a folder (it is created if missing)")
        _probe_local(out, output)
        return
    probe = control(out, f".probe-{uuid.uuid4().hex[:8]}.tmp")
    try:
        fs.write_bytes(probe, b"")
        fs.delete([probe])
    except Exception as exc:  # noqa: BLE001 - an object store's own error (permission, bucket missing)
        raise OutputError(f"cannot write to the output folder {output}: {type(exc).__name__}: {exc}") from None


def _probe_local(out: str, given: str) -> None:
    """Create the folder (and a file in it) as the run will, then remove what the probe made."""
    made = []
    folder = out
    while not os.path.lexists(folder):
        made.append(folder)
        folder = os.path.dirname(folder)
    try:
        for path in reversed(made):
            os.mkdir(path)
        fd, probe = tempfile.mkstemp(prefix=".winnow-probe-", suffix=".tmp", dir=out)
        os.close(fd)
        os.remove(probe)
    except OSError as exc:
        raise OutputError(f"cannot write to the output folder {given}: {exc.strerror or exc}") from None
    finally:
        for path in made:
            with contextlib.suppress(OSError):
                os.rmdir(path)
