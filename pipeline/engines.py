"""Which engine runs a job (Beam or Spark), and the checks made before it starts.

Both engines run the same units (``units.py``); this module only picks one, and refuses
at launch what cannot work on a cluster: local paths that remote workers cannot read,
or Dataflow workers that would lack the language-ID model and the native scorer.
"""
from __future__ import annotations

from dataclasses import dataclass

from winnow.models import fs
from winnow.models.errors import UsageError

ENGINES = ("beam", "spark")


class LaunchError(UsageError):
    """A job that cannot work as configured; the message says what to do."""


@dataclass(frozen=True)
class Engine:
    name: str = "beam"
    beam_args: tuple[str, ...] = ()          # Beam pipeline options (engine beam)
    spark: "object | None" = None            # spark.SparkOptions (engine spark)
    shared_local_paths: bool = False          # local paths are mounted on every worker (NFS, ...)

    def beam_options(self):
        from apache_beam.options.pipeline_options import PipelineOptions

        return PipelineOptions(list(self.beam_args))

    def remote_workers(self) -> str | None:
        """A name for the workers when they run on other machines, else None."""
        if self.name == "spark":
            from .spark import is_local_master

            return None if is_local_master(self.spark.master) else f"Spark master {self.spark.master}"
        from apache_beam.options.pipeline_options import PortableOptions

        name = self.runner()
        if name in ("direct", "prism", "fnapi", "interactive"):
            return None
        if name == "portable" and self.beam_options().view_as(PortableOptions).job_endpoint in (None, "embed"):
            return None
        return f"Beam runner {name}"

    def runner(self) -> str:
        """The Beam runner as Beam matches its name: any case, with or without "Runner"."""
        from apache_beam.options.pipeline_options import StandardOptions

        return (self.beam_options().view_as(StandardOptions).runner or "direct").lower().removesuffix("runner")

    def check(self, *, reads: dict, writes: dict, models: str | None = None) -> None:
        """Fail at launch when workers on other machines could not reach a path, or when
        Dataflow workers would run without Winnow's image."""
        remote = self.remote_workers()
        if remote is None:
            return
        if self.name == "beam" and self.runner() == "dataflow":
            from apache_beam.options.pipeline_options import WorkerOptions

            worker = self.beam_options().view_as(WorkerOptions)
            if not (worker.sdk_container_image or worker.worker_harness_container_image):
                raise LaunchError(
                    "Dataflow workers need Winnow's image: a worker installed from --setup_file or pip alone has "
                    "neither the fastText language-ID model nor the native KenLM scorer. Build docker/Dockerfile, "
                    "push it, and pass --sdk_container_image IMAGE (see docker/DATAFLOW.md)")
        shipped = self.name == "spark" and self.spark.ship_models
        local = {}
        for name, paths in {**reads, **writes}.items():
            for path in [paths] if isinstance(paths, str) else paths:
                if path and not fs.is_remote(path) and not (shipped and path == models):
                    local.setdefault(name, path)
        if local and not self.shared_local_paths:
            names = ", ".join(f"{name} {path}" for name, path in local.items())
            hint = " (or --ship-models to send the models with the job)" if self.name == "spark" and models else ""
            raise LaunchError(
                f"{remote} runs workers on other machines, which cannot read the local {names}: use paths every "
                f"worker can reach (gs://, s3://, hdfs://){hint}, or --shared-local-paths if they are mounted on "
                f"every worker")

    def run(self, config, *, overwrite: bool = False, command: str = ""):
        """Run ``config`` (run, sample or route) to completion under the output's commit
        protocol (``commit.py``): the output locked for this run, units committed by an
        earlier run of the same configuration skipped, another configuration refused unless
        ``overwrite`` (then staged and installed whole). A ``job.RunResult``."""
        import dataclasses

        from .commit import Writer, staging_root
        from .units import job_identity

        identity = config.identity or job_identity(config)
        # A job on other machines may outlive its launcher: its lock then goes stale by heartbeat only.
        with Writer(config.output, identity, overwrite=overwrite, command=command,
                    workers_elsewhere=self.remote_workers() is not None) as writer:
            target = dataclasses.replace(config, output=writer.target, identity=identity)
            if hasattr(config, "exclude"):
                target = dataclasses.replace(target, exclude=(config.output, staging_root(config.output)))
            result = self._run(target)
            writer.finish()
        return result

    def _run(self, config):
        if self.name == "spark":
            from .spark import run_spark

            return run_spark(config, self.spark)
        from .job import run_job

        return run_job(config, self.beam_options())


def spark_available() -> bool:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return False
    return True
