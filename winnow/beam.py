"""Winnow as Apache Beam transforms, to put inside your own pipeline.

    import apache_beam as beam
    from winnow.beam import FilterDocuments, ReadDocuments, WriteShards

    with beam.Pipeline() as p:
        docs = p | ReadDocuments(["gs://bucket/crawl/*.warc.gz"])        # .documents, .rejected
        routed = docs.documents | FilterDocuments(models="gs://bucket/models",
                                                   thresholds="gs://bucket/thresholds.json")
        (routed.kept, routed.dropped, routed.rejected, docs.rejected) | beam.Flatten() | WriteShards("gs://bucket/out")

* :class:`ReadDocuments` (a ``PBegin`` -> documents): files, folders or globs read as
  ``winnow run`` reads them (WARC, WET, JSONL, Parquet, text; large files split), with the
  dead letters of bad records and files as a tagged output ``rejected``.
* :class:`FilterDocuments` (documents -> ``kept``, ``dropped``, ``rejected``): language ID,
  scores and the thresholds' decision. An element is a text, or a dict with a ``text``
  field (and optionally ``id``, ``url``, ``source_file``, ``record_index``). Its rows are the
  rows ``winnow run`` writes (``schemas/arrow.py``: route, reason, the value the rule decided
  on, the scores, the models' hashes); an element that is no document goes to ``rejected``
  with its reason. :class:`ScoreDocuments` is the score-only variant (``scored``, ``rejected``).
* :class:`WriteShards` (rows -> the output summary): writes them as ``winnow run`` lays out
  its output (``OUT/route=<route>/lang=<xx>/part-*.parquet``, dead letters under
  ``OUT/_rejected/``) and then ``OUT/_SUMMARY.json``, which counts exactly the files on disk
  (read = kept + dropped + rejected).

Every step has a label, and the Beam counters of namespace ``winnow`` count the documents
by route and reason, as in ``winnow run``. Models load once per worker process.

``winnow run`` itself plans the same units (:class:`PlanUnits`) and runs the same
processor and shard writer, but fused per unit: one task reads, scores and writes a unit
and commits it, so a rerun resumes after the committed units and no document is shuffled.
``WriteShards`` cannot know where someone else's PCollection began or ends, so it writes
a file set per bundle and its last step removes what no finished bundle wrote.
"""
from __future__ import annotations

import uuid
from collections import Counter

import apache_beam as beam
from apache_beam.transforms.window import GlobalWindows
from apache_beam.utils import shared

from winnow.pipeline.readers import DOC, REJECTED, ReaderOptions, input_document
from winnow.pipeline.routing import DROP, KEEP, SCORED
from winnow.pipeline.shards import ShardWriter
from winnow.pipeline.stages import LANG_MIN_PROB
from winnow.pipeline.job import PlanUnits, SharedProcessor, publish_counts
from winnow.pipeline.units import DEFAULT_SPLIT_BYTES, JobConfig, build_processor, filter_config, unit_records

__all__ = ["ReadDocuments", "FilterDocuments", "ScoreDocuments", "WriteShards", "PlanUnits",
           "KEPT", "DROPPED", "SCORED", "REJECTED", "DOCUMENTS"]

# Output tags, named after the rows they hold.
DOCUMENTS, KEPT, DROPPED = "documents", "kept", "dropped"
_TAG_OF_ROUTE = {KEEP: KEPT, DROP: DROPPED, SCORED: SCORED}


class _ReadUnit(beam.DoFn):
    def __init__(self, reader: ReaderOptions):
        self.reader = reader

    def process(self, unit):
        for kind, record in unit_records(unit, self.reader):
            if kind == DOC:
                yield record
            else:
                publish_counts({(REJECTED, None, record["reason"]): 1})
                yield beam.pvalue.TaggedOutput(REJECTED, record)


class ReadDocuments(beam.PTransform):
    """``PBegin`` -> ``.documents`` (dicts: doc_id, source_file, record_index, record_offset,
    url, warc_record_id, text) and ``.rejected`` (dead letters: the same provenance, reason,
    detail, raw_bytes, raw_preview), read as ``winnow run`` reads its inputs."""

    def __init__(self, patterns, reader: ReaderOptions = ReaderOptions(), split_bytes: int = DEFAULT_SPLIT_BYTES):
        super().__init__()
        self.patterns = [patterns] if isinstance(patterns, str) else list(patterns)
        self.reader, self.split_bytes = reader, split_bytes

    def expand(self, pbegin):
        from winnow.pipeline.units import find_inputs

        find_inputs(self.patterns)  # a pattern that matches nothing fails now, not on a worker
        return (pbegin
                | "Plan" >> PlanUnits(self.patterns, self.reader, self.split_bytes)
                | "ReadUnits" >> beam.ParDo(_ReadUnit(self.reader)).with_outputs(REJECTED, main=DOCUMENTS))


class _ScoreAndRoute(beam.DoFn):
    """A batch of elements -> one row per element, tagged by its route (dead letters: ``rejected``)."""

    def __init__(self, config: JobConfig, reader: ReaderOptions):
        self.config, self.reader = config, reader
        self._shared = shared.Shared()

    def setup(self):
        c = self.config
        key = f"filter:{c.models}:{hash(str(c.thresholds))}:{c.keep_unscored}:{c.lang_fallback}:{c.lang_min_prob}"
        # The holder stays referenced: Shared keeps an object only while someone holds it.
        self._loaded = self._shared.acquire(lambda: SharedProcessor(build_processor(c)), tag=key)
        self.processor = self._loaded.processor

    def process(self, batch):
        docs = []
        for item in batch:
            kind, record = input_document(item, self.reader, source="<pcollection>", index=0)
            if kind == DOC:
                docs.append(record)
            else:
                publish_counts({(REJECTED, None, record["reason"]): 1})
                yield beam.pvalue.TaggedOutput(REJECTED, record)
        delta: Counter = Counter()
        for row in self.processor.process(docs) if docs else []:
            delta[(row["route"], row["lang"], row["reason"])] += 1
            yield beam.pvalue.TaggedOutput(_TAG_OF_ROUTE[row["route"]], row)
        publish_counts(delta)


class FilterDocuments(beam.PTransform):
    """Documents -> ``.kept``, ``.dropped`` and ``.rejected``: each element scored and routed
    by ``thresholds`` (a thresholds file's path or its content) with the models under
    ``models``. Without thresholds (:class:`ScoreDocuments`): ``.scored`` and ``.rejected``.

    The models and thresholds are checked when the pipeline is built, so a bad one fails
    before any work, as in ``winnow run``.
    """

    def __init__(self, models: str, thresholds: "str | dict | None" = None, *, keep_unscored: bool = False,
                 batch_size: int = 256, lang_fallback: str | None = None, lang_min_prob: float = LANG_MIN_PROB,
                 reader: ReaderOptions = ReaderOptions()):
        super().__init__()
        from dataclasses import replace

        self.config = replace(filter_config(models, thresholds, keep_unscored=keep_unscored, batch_size=batch_size,
                                            lang_fallback=lang_fallback, lang_min_prob=lang_min_prob),
                              worker_verify="size")  # the hashes are checked when the pipeline is built
        self.reader = reader

    @property
    def tags(self) -> tuple[str, ...]:
        return (SCORED,) if self.config.score_only else (KEPT, DROPPED)

    def expand(self, docs):
        from dataclasses import replace

        # What a worker builds, with every hash checked: a bad model or thresholds file fails now.
        build_processor(replace(self.config, worker_verify="full"))
        return (docs
                | "Batch" >> beam.BatchElements(min_batch_size=1, max_batch_size=self.config.batch_size)
                | "ScoreAndRoute" >> beam.ParDo(_ScoreAndRoute(self.config, self.reader))
                .with_outputs(*self.tags, REJECTED))


class ScoreDocuments(FilterDocuments):
    """Documents -> ``.scored`` and ``.rejected``: language ID and scores, no decision (the
    rows of ``winnow run --score-only``)."""

    def __init__(self, models: str, **options):
        super().__init__(models, None, **options)


class _WriteBundle(beam.DoFn):
    """Rows -> one shard set per bundle (named by a fresh key); emits what it wrote."""

    def __init__(self, output: str):
        self.output = output

    def start_bundle(self):
        self.writer = ShardWriter(self.output, f"bundle-{uuid.uuid4().hex[:16]}")
        self.counts: dict[str, Counter] = {}  # source file -> (route, lang, reason) -> n
        self.bytes: Counter = Counter()
        self.fallback: Counter = Counter()  # documents scored with --lang-fallback's models

    def process(self, row: dict):
        route = row.get("route", REJECTED)  # a dead letter has no route
        if route == REJECTED:
            self.writer.add_rejected(row)
            key = (REJECTED, None, row["reason"])
        else:
            self.writer.add(row)
            key = (route, row["lang"], row["reason"])
            self.bytes[row["source_file"]] += len(row["text"].encode("utf-8"))
            self.fallback[row["source_file"]] += bool(row.get("lang_fallback"))
        self.counts.setdefault(row["source_file"], Counter())[key] += 1

    def finish_bundle(self):
        from winnow.pipeline.units import unit_result

        try:
            written = self.writer.close()
        except BaseException:
            self.writer.abort()
            raise
        for i, (source, counts) in enumerate(sorted(self.counts.items())):
            # The bundle's files go with its first source; every source has its counts.
            result = unit_result(self.output, source, self.writer.key, counts, written if i == 0 else [],
                                 self.bytes[source])
            yield GlobalWindows.windowed_value({**result, "lang_fallback": self.fallback[source]})


BEAM_MODE = "beam-transform"  # the summary's mode: an output WriteShards wrote


def _check_output(output: str) -> None:
    """When the pipeline is built: refuse an output that holds something else than an earlier
    WriteShards output (a `winnow run`'s, say: its last step would remove their shards), and
    remove an earlier summary, so that a pipeline that fails leaves none behind."""
    import json

    from winnow.models import fs
    from winnow.models.errors import UsageError
    from winnow.pipeline.commit import CONTROL, SUMMARY_FILE, layout_files

    if fs.exists(fs.join(output, CONTROL)):
        raise UsageError(f"{output} holds the output of a winnow command (its {CONTROL}/ folder); WriteShards "
                         f"needs a folder of its own")
    summary = fs.join(output, SUMMARY_FILE)
    try:
        earlier = json.loads(fs.read_text(summary))
    except FileNotFoundError:
        earlier = None
    except ValueError:
        earlier = {}
    if (earlier is None and layout_files(output)) or (earlier is not None and earlier.get("mode") != BEAM_MODE):
        raise UsageError(f"{output} holds shards that WriteShards did not write; give it a folder of its own (its "
                         f"last step removes every shard of the layout that this pipeline did not write)")
    if earlier is not None:
        fs.delete([summary])


def _finish_output(results: list[dict], output: str, score_only: bool) -> dict:
    """The summary of the bundles that finished; files of the layout no finished bundle
    wrote (a failed or duplicate attempt's) are removed, so it names exactly what is on disk."""
    from winnow.models import fs
    from winnow.pipeline.commit import SUMMARY_FILE, layout_files
    from winnow.pipeline.stages import summarize, summary_json

    summary = summarize(results, score_only=score_only, mode=BEAM_MODE)
    summary["score_only"] = score_only
    named = {fs.join(output, rel) for rel in summary["files"]}
    stale = [path for path in layout_files(output) if path not in named]
    fs.delete(stale)
    summary["stale_shards_removed"] = sum(1 for p in stale if not p.endswith(".tmp"))
    fs.write_atomic(fs.join(output, SUMMARY_FILE), summary_json(summary))
    return summary


class WriteShards(beam.PTransform):
    """Rows (of :class:`FilterDocuments`, :class:`ScoreDocuments` and dead letters, flattened
    together) -> Parquet shards in ``output`` as ``winnow run`` lays them out, and a
    PCollection holding the summary written to ``output/_SUMMARY.json``.

    ``output`` must be a folder for this pipeline alone: the shards of Winnow's layout that
    this pipeline did not write are removed at the end, as a ``winnow run`` removes stale
    shards. ``score_only``: the summary's mode (the rows say their route either way).
    """

    def __init__(self, output: str, *, score_only: bool = False):
        super().__init__()
        from winnow.models import fs

        self.output = fs.absolute(output).rstrip("/")
        self.score_only = score_only

    def expand(self, rows):
        _check_output(self.output)
        return (rows
                | "GlobalWindow" >> beam.WindowInto(GlobalWindows())  # one output, whatever the input's windows
                | "WriteBundles" >> beam.ParDo(_WriteBundle(self.output))
                | "CollectWritten" >> beam.combiners.ToList()
                | "WriteSummary" >> beam.Map(_finish_output, self.output, self.score_only))
