"""Parquet record shapes (pyarrow schemas) of the pipeline's outputs. Versioned.

* ``DOCUMENT_SCHEMA``: a scored and routed document (``OUT/route=keep|drop|scored/lang=xx/``);
* ``REJECTED_SCHEMA``: a dead letter (``OUT/_rejected/``): an unreadable record or file, with
  its reason and enough provenance to find the raw bytes again.

Score columns are fixed and nullable (a language without a harmful model has no
``kenlm_harmful_*``), so every shard of a run shares one schema and Spark, DuckDB, Polars
or pyarrow read the whole output folder as one table. The Hive partition columns
``route`` and ``lang`` are in the folder names, not in the files
(:data:`DOCUMENT_FILE_SCHEMA`); the dead letters sit under a folder whose name starts
with ``_``, which those readers skip.
"""
from __future__ import annotations

import pyarrow as pa

DOCUMENT_SCHEMA_VERSION = "winnow.document.v6"  # v2: neural score columns, decided_by; v3: benign LMs;
# v4: route is a Hive partition (OUT/route=keep/lang=en/), not a column of the files;
# v5: decided_rule and decided_value, the rule that decided and the value it compared;
# lang_fallback, a language given by --lang-fallback where fastText was unsure;
# v6: corpus LMs and contrasts, kenlm_harmful_share, classifier_prob
REJECTED_SCHEMA_VERSION = "winnow.rejected.v1"

# Score columns, in order. Each LM named NAME in a model set fills NAME_log10p and
# NAME_pp (NAME with "-" as "_"); the log-ratio needs a harmful LM and a benign or clean one.
KENLM_SCORE_COLUMNS = (
    "kenlm_clean_log10p", "kenlm_clean_pp",
    "kenlm_harmful_log10p", "kenlm_harmful_pp",
    "kenlm_benign_log10p", "kenlm_benign_pp",
    "kenlm_log_ratio",
    "kenlm_corpus_log10p", "kenlm_corpus_pp", "kenlm_contrast",
    "kenlm_harmful_share",
)
NEURAL_SCORE_COLUMNS = (
    "neural_clean_log10p", "neural_clean_pp",
    "neural_harmful_log10p", "neural_harmful_pp",
    "neural_benign_log10p", "neural_benign_pp",
    "neural_log_ratio",
    "neural_corpus_log10p", "neural_corpus_pp", "neural_contrast",
)
CLASSIFIER_SCORE_COLUMNS = ("classifier_prob",)
SCORE_COLUMNS = KENLM_SCORE_COLUMNS + NEURAL_SCORE_COLUMNS + CLASSIFIER_SCORE_COLUMNS

PROVENANCE_FIELDS = [
    pa.field("doc_id", pa.string(), nullable=False),          # stable: source id or file#index
    pa.field("source_file", pa.string(), nullable=False),     # input file as given (path or URI)
    pa.field("record_index", pa.int64(), nullable=False),     # 0-based index of the record in the file
    pa.field("record_offset", pa.int64()),                    # byte offset (WARC/WET record, JSONL line)
    pa.field("url", pa.string()),
    pa.field("warc_record_id", pa.string()),
]

DOCUMENT_SCHEMA = pa.schema(
    PROVENANCE_FIELDS
    + [
        pa.field("text", pa.string(), nullable=False),
        pa.field("n_chars", pa.int64(), nullable=False),
        pa.field("lang", pa.string(), nullable=False),
        pa.field("lang_prob", pa.float64(), nullable=False),
        pa.field("lang_fallback", pa.bool_()),                  # lang is --lang-fallback's: fastText was unsure
        pa.field("n_lines", pa.int64()),
        pa.field("n_tokens", pa.int64()),                     # pieces + one </s> per line
    ]
    + [pa.field(name, pa.float64()) for name in SCORE_COLUMNS]
    + [
        pa.field("models", pa.map_(pa.string(), pa.string())),  # model name -> sha256
        pa.field("thresholds_version", pa.string()),
        pa.field("route", pa.string(), nullable=False),         # keep | drop | scored
        pa.field("reason", pa.string()),                        # why dropped (or kept against a rule)
        pa.field("decided_by", pa.string()),                    # kenlm | neural (cascade) | combined | classifier; null: no rule ran
        pa.field("decided_rule", pa.string()),                  # the rule's score (or "combined") that decided
        pa.field("decided_value", pa.float64()),                # the value it compared: score, probability
    ],
    metadata={"winnow.schema": DOCUMENT_SCHEMA_VERSION},
)

# The Hive partition columns, outermost first; the files hold every other column.
PARTITION_COLUMNS = ("route", "lang")
DOCUMENT_FILE_SCHEMA = pa.schema([f for f in DOCUMENT_SCHEMA if f.name not in PARTITION_COLUMNS],
                                 metadata=DOCUMENT_SCHEMA.metadata)

REJECTED_SCHEMA = pa.schema(
    PROVENANCE_FIELDS
    + [
        pa.field("reason", pa.string(), nullable=False),        # machine-readable, e.g. invalid_json
        pa.field("detail", pa.string()),                        # the error, for a human
        pa.field("raw_bytes", pa.int64()),                      # size of the raw record, if known
        pa.field("raw_preview", pa.string()),                   # first bytes, decoded leniently
    ],
    metadata={"winnow.schema": REJECTED_SCHEMA_VERSION},
)
