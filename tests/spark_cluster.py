"""A real Spark standalone cluster on 127.0.0.1, started from the installed pyspark.

``SparkCluster(workers=2)`` starts a master and ``workers`` workers of one core each (as
``spark-class org.apache.spark.deploy.master.Master`` / ``...worker.Worker`` would), waits
until every worker has registered, and stops every process it started (its executors
included: each daemon runs in its own process group).
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spark_home() -> str:
    import pyspark

    return os.path.dirname(pyspark.__file__)


class SparkCluster:
    def __init__(self, workdir: Path, workers: int = 2, memory: str = "1g"):
        self.workdir = Path(workdir)
        self.n_workers = workers
        self.memory = memory
        self.port, self.ui_port = free_port(), free_port()
        self.master_url = f"spark://127.0.0.1:{self.port}"
        self.procs: list[subprocess.Popen] = []

    def _env(self) -> dict:
        env = dict(os.environ, SPARK_HOME=spark_home(), SPARK_LOCAL_IP="127.0.0.1",
                   SPARK_LOG_DIR=str(self.workdir / "logs"), SPARK_NO_DAEMONIZE="1")
        env.pop("PYSPARK_PYTHON", None)
        return env

    def _start(self, name: str, *args: str) -> subprocess.Popen:
        log = open(self.workdir / f"{name}.log", "wb")
        proc = subprocess.Popen([os.path.join(spark_home(), "bin", "spark-class"), *args], env=self._env(),
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(proc)
        return proc

    def __enter__(self) -> "SparkCluster":
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._start("master", "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                    "--port", str(self.port), "--webui-port", str(self.ui_port))
        self.workers = []
        for i in range(self.n_workers):
            self.workers.append(self._start(
                f"worker{i}", "org.apache.spark.deploy.worker.Worker", self.master_url, "--cores", "1",
                "--memory", self.memory, "--host", "127.0.0.1", "--webui-port", str(free_port()),
                "--work-dir", str(self.workdir / f"work{i}")))
        try:
            self.wait_for_workers(self.n_workers, timeout=90)
        except BaseException:
            self.stop()
            raise
        return self

    def state(self) -> dict:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.ui_port}/json/", timeout=5) as r:
            return json.loads(r.read())

    def wait_for_workers(self, n: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.state().get("aliveworkers", 0) >= n:
                    return
            except OSError:
                pass
            for proc in self.procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"a Spark daemon exited ({proc.args[1]}); see {self.workdir}/*.log")
            time.sleep(0.5)
        raise TimeoutError(f"{n} Spark workers did not register within {timeout:.0f} s; see {self.workdir}/*.log")

    def executor_pids(self, worker: int) -> list[int]:
        """PIDs of the executor JVMs that worker ``worker`` launched (its descendants)."""
        parent, cmdline = {}, {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    stat = Path(f"/proc/{entry}/stat").read_text()
                    cmdline[int(entry)] = Path(f"/proc/{entry}/cmdline").read_bytes()
                except OSError:
                    continue
                parent[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
        found, todo = [], [self.workers[worker].pid]
        while todo:
            pid = todo.pop()
            for child, ppid in parent.items():
                if ppid == pid:
                    todo.append(child)
                    if b"CoarseGrainedExecutorBackend" in cmdline.get(child, b""):
                        found.append(child)
        return found

    def stop(self) -> None:
        for proc in self.procs:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        for proc in self.procs:
            proc.wait(timeout=30)

    def __exit__(self, *exc) -> None:
        self.stop()
