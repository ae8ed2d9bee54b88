"""The ``winnow`` command line (``winnow COMMAND --help`` for each command's options).

    winnow train tokenizer  --lang en --input FILE... --models ROOT [--vocab-size N]
    winnow train kenlm      --lang en --role clean|harmful|benign|corpus --input FILE... --models ROOT [--order N]
    winnow train neural     --lang en --role clean|harmful|benign|corpus --input FILE... --models ROOT
    winnow train classifier --lang en --input LABELLED.jsonl... --models ROOT --label-meaning harmful|low_quality
    winnow score   --models ROOT --input FILE... [--lang xx] [--output OUT.jsonl]
    winnow run     --input PATH... --models ROOT --thresholds FILE --output OUT   # score and route a corpus
    winnow sample  --input PATH... --models ROOT --n N --output SMP          # score a sample of it
    winnow tune    --scored SMP... --models ROOT --output THRESHOLDS [--labels FILE]
    winnow report  --scored OUT --models ROOT [--thresholds FILE] --output REPORT.html
    winnow route   --scored OUT --models ROOT --thresholds FILE --output ROUTED  # new thresholds, no rescoring
    winnow models  ROOT            # list and verify model sets
    winnow doctor                  # check the installation
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import sys
import time
from importlib import metadata
from pathlib import Path

from winnow import __version__
from winnow.models.kenlm_lm import ROLES

from .readers import FORMATS
from winnow.models.errors import UsageError

log = logging.getLogger("winnow")

EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130  # 0: done
EXIT_CODES = """\
Exit codes: 0 done (also when only the end-of-run report failed: the output is committed, and a
warning says so); 1 the run started and failed (what it committed is kept: the same command
resumes); 2 a usage or configuration error, found before any work (bad option, model, thresholds
file or input; an output that is busy, unwritable, or holds another configuration); 130
interrupted (Ctrl-C; what was committed is kept). An error that is none of these is a bug in
Winnow: Python prints its traceback and exits 1 (please report it).

Logging: -v (debug, with tracebacks, and Beam's own messages), -q (warnings and errors only),
or --log-level; after the command too (winnow run ... -v). Beam's workers log from warning
unless -v. Beam pipeline options (--runner, --direct_num_workers, ...) follow Winnow's own;
an option neither knows is an error that names the closest one; arguments after -- go to
Beam unchecked.
"""

EPILOG_TRAIN = """\
Input files are plain text (one document or paragraph per line) or JSONL (.jsonl, .ndjson,
.json) with a text field; .gz and .zst are read transparently. Models go to ROOT/<lang>/,
each with a manifest (hashes, normalizer version, training data fingerprint, tool versions).
"""


def _uri_or_abs(path: str) -> str:
    """URIs (gs://...) as given; local paths made absolute (workers may run elsewhere)."""
    from winnow.models import fs

    return fs.absolute(path)


EPILOG_ENGINES = """\
Engines: --engine beam (the default) takes any Apache Beam pipeline option after the others, e.g.
--runner DataflowRunner --project P --region R --temp_location gs://B/tmp --sdk_container_image IMAGE,
or locally --direct_num_workers 2 --direct_running_mode multi_processing (the default runner is the
DirectRunner). --engine spark runs on PySpark (pip install 'winnow[spark]'): --spark-master local[4],
spark://HOST:7077, yarn or k8s://..., with --spark-conf KEY=VALUE passed to Spark.
"""


def _add_engine_args(p: argparse.ArgumentParser, *, splits: bool = True, models: bool = True) -> None:
    g = p.add_argument_group("engine")
    from .engines import ENGINES

    g.add_argument("--engine", choices=ENGINES, default="beam",
                   help="beam (DirectRunner, Dataflow, any Beam runner) or spark (default: beam)")
    g.add_argument("--spark-master", default="local[*]", metavar="URL",
                   help="--engine spark: local[N], spark://HOST:PORT, yarn, k8s://... (default: local[*])")
    g.add_argument("--spark-conf", action="append", default=[], metavar="KEY=VALUE",
                   help="--engine spark: a Spark setting, e.g. spark.executor.memory=4g (repeatable)")
    if models:
        g.add_argument("--ship-models", action="store_true",
                       help="--engine spark: send the local models root with the job (SparkContext.addFile) "
                            "instead of reading it from a path every executor can read")
    g.add_argument("--shared-local-paths", action="store_true",
                   help="local paths are mounted on every worker (NFS and the like): allow them with a "
                        "cluster runner or master")
    if splits:
        g.add_argument("--split-size", type=_size, default="64M", metavar="SIZE",
                       help="split larger uncompressed JSONL/text files (on line boundaries) and Parquet files "
                            "(by row groups) into units of about this size, so work spreads evenly over "
                            "workers; 0 never splits (default: 64M)")


MIN_SPLIT = 64 << 10  # smaller units cost more in task overhead than they spread


def _byte_size(text: str) -> int:
    """``64M``, ``1G``, ``512K`` or a number of bytes."""
    import re

    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMG]?)B?\s*", text, re.IGNORECASE)
    if not m:
        raise argparse.ArgumentTypeError(f"expected a size like 64M, 1G or 1000000, got {text!r}")
    return int(float(m[1]) * {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}[m[2].upper()])


def _size(text: str) -> int:
    """A --split-size: ``64M``, ``1G``, ``512K``, a number of bytes, or 0 (never split)."""
    value = _byte_size(text)
    if 0 < value < MIN_SPLIT:
        raise argparse.ArgumentTypeError(f"--split-size must be 0 (never split) or at least 64K, got {text!r}")
    return value


def _engine(args):
    """The engine the command runs on, from its engine options and the Beam options left over."""
    from .engines import Engine, spark_available

    rest = tuple(args.beam_args_rest)
    if args.engine == "beam":
        spark_only = [flag for flag, given in (("--spark-master", args.spark_master != "local[*]"),
                                               ("--spark-conf", args.spark_conf), ("--ship-models", getattr(args, "ship_models", False)))
                      if given]
        if spark_only:
            raise UsageError(f"{', '.join(spark_only)} apply to --engine spark; add --engine spark, or drop them")
        level = _log_level(args)
        if not any(a.startswith("--default_sdk_harness_log_level") for a in rest):
            # Beam's workers (other processes, or machines) log their internals at INFO.
            harness = "DEBUG" if level <= logging.DEBUG else logging.getLevelName(max(level, logging.WARNING))
            rest += (f"--default_sdk_harness_log_level={harness}",)
        return Engine("beam", beam_args=rest, shared_local_paths=args.shared_local_paths)
    if rest:
        raise UsageError(f"unrecognized arguments for --engine spark: {' '.join(rest)} (Beam options apply to "
                         f"--engine beam; Spark settings go in --spark-conf KEY=VALUE)")
    if not spark_available():
        raise UsageError("--engine spark needs PySpark: pip install 'winnow[spark]' (and Java 17 or newer)")
    from .spark import SparkOptions

    conf = []
    for item in args.spark_conf:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--spark-conf expects KEY=VALUE, got {item!r}")
        conf.append((key, value))
    opts = SparkOptions(master=args.spark_master, conf=tuple(conf), ship_models=getattr(args, "ship_models", False),
                        progress=not getattr(args, "no_progress", False))
    return Engine("spark", spark=opts, shared_local_paths=args.shared_local_paths)


def _add_output_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--overwrite", action="store_true",
                   help="replace an output written with another configuration (other thresholds, models or "
                        "options); the old output stays whole until the new one is complete. Without it, such "
                        "an output is refused, and one of the same configuration is resumed: units an "
                        "interrupted run committed are skipped")


INPUT_HELP = ("input files, folders or globs (local or any Beam filesystem: gs://, s3://); folders are read "
              "recursively, skipping names that start with '.' or '_'; files under the output folder are never read")


def _add_reader_args(p: argparse.ArgumentParser) -> None:
    from .readers import EXPANSION_FLOOR_BYTES, MAX_EXPANSION_RATIO, MAX_RECORD_BYTES

    g = p.add_argument_group("reading")
    g.add_argument("--format", choices=FORMATS, default="auto", help="input format (default: from the name)")
    g.add_argument("--text-field", default="text", help="JSONL/Parquet text field (default: text)")
    g.add_argument("--id-field", default="id", help="JSONL/Parquet id field, if present (default: id)")
    g.add_argument("--max-doc-chars", type=int, default=5_000_000,
                   help="reject longer documents as too_large (default: 5,000,000)")
    g.add_argument("--max-record-size", type=_byte_size, default=MAX_RECORD_BYTES, metavar="SIZE",
                   help="reject a WARC record, or an HTTP body after its Content-Encoding, larger than this as "
                        f"too_large without holding it in memory (default: {MAX_RECORD_BYTES >> 20}M)")
    g.add_argument("--max-expansion", type=int, default=MAX_EXPANSION_RATIO, metavar="RATIO",
                   help="stop reading a compressed file whose output exceeds RATIO times its compressed size "
                        f"(and {EXPANSION_FLOOR_BYTES >> 20} MiB) with a decompression_bomb dead letter; 0 never "
                        f"stops (default: {MAX_EXPANSION_RATIO})")


def _add_lang_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("language")
    g.add_argument("--lang-fallback", metavar="LANG",
                   help="score documents whose language fastText names with less than --lang-min-prob with this "
                        "language's models (short and mixed texts: 'Okay, thanks anyway' is 'ca' at 0.46); rows say "
                        "so in lang_fallback and the summary counts them (default: none, fastText's guess stands)")
    from .stages import LANG_MIN_PROB

    g.add_argument("--lang-min-prob", type=float, default=LANG_MIN_PROB, metavar="P",
                   help=f"the confidence below which --lang-fallback applies (default: {LANG_MIN_PROB})")


def _lang_options(args, sets) -> dict:
    if args.lang_fallback and args.lang_fallback not in sets:
        raise UsageError(f"--lang-fallback {args.lang_fallback}: no model set for it (languages with models: "
                         f"{', '.join(sets)})")
    if not 0 <= args.lang_min_prob <= 1:
        raise UsageError("--lang-min-prob is a probability in [0, 1]")
    return {"lang_fallback": args.lang_fallback, "lang_min_prob": args.lang_min_prob}


def reader_options(args):
    from .readers import ReaderOptions

    if args.max_expansion < 0:
        raise UsageError("--max-expansion must be 0 (no cap) or positive")
    return ReaderOptions(format=args.format, text_field=args.text_field, id_field=args.id_field,
                         max_doc_chars=args.max_doc_chars, max_record_bytes=args.max_record_size,
                         max_expansion_ratio=args.max_expansion)


def _add_input_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--input", "-i", nargs="+", required=True, metavar="FILE",
                   help="training text files (plain text or JSONL; .gz/.zst allowed)")
    p.add_argument("--text-field", default="text", help="JSONL field holding the text (default: text)")
    p.add_argument("--where", action="append", metavar="FIELD=VALUE",
                   help="JSONL only: keep records whose FIELD equals VALUE (repeatable, all must hold), "
                        "e.g. --where label=1 --where split=train")


def _add_models_arg(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument("--models", "-m", required=required, metavar="ROOT",
                   help="models root: one folder per language (ROOT/en/, ROOT/de/, ...)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="winnow",
        description="Winnow: filter web text for language-model pre-training with perplexity "
                    "scores from KenLM and neural LMs, thresholds learned from the data.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run `winnow COMMAND --help` for a command's options.\n\n" + EXIT_CODES,
    )
    parser.add_argument("--version", action="version", version=f"winnow {__version__}")
    _add_log_args(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    train = sub.add_parser("train", help="train a tokenizer or a language model",
                           description="Train models into a models root.")
    tsub = train.add_subparsers(dest="what", metavar="WHAT", required=True)

    tok = tsub.add_parser("tokenizer", help="train a SentencePiece tokenizer on normalized text",
                          description="Train a SentencePiece tokenizer for one language on normalized text.",
                          epilog=EPILOG_TRAIN, formatter_class=argparse.RawDescriptionHelpFormatter)
    tok.add_argument("--lang", required=True, help="language code, e.g. en")
    _add_input_args(tok)
    _add_models_arg(tok)
    tok.add_argument("--vocab-size", type=int, default=32000,
                     help="vocabulary size; a soft limit, smaller corpora give fewer pieces (default: 32000)")
    tok.add_argument("--model-type", choices=["unigram", "bpe"], default="unigram", help="default: unigram")
    tok.add_argument("--character-coverage", type=float, default=0.9995,
                     help="share of characters covered (default: 0.9995; use 1.0 for small alphabets)")
    tok.add_argument("--max-sentences", type=int, default=2_000_000,
                     help="lines sampled for training (default: 2,000,000)")
    tok.set_defaults(func=cmd_train_tokenizer)

    lm = tsub.add_parser("kenlm", help="train a KenLM n-gram model (lmplz + build_binary)",
                         description="Normalize, tokenize with the language's tokenizer, train with lmplz "
                                     "and convert with build_binary.",
                         epilog=EPILOG_TRAIN, formatter_class=argparse.RawDescriptionHelpFormatter)
    lm.add_argument("--lang", required=True, help="language code, e.g. en")
    lm.add_argument("--role", required=True, choices=list(ROLES),
                    help="clean: trained on good text, high perplexity = low quality; "
                         "harmful: trained on harmful text, low perplexity = likely harmful; "
                         "benign: trained on harmless text of the same kind as the harmful text (e.g. "
                         "--where label=0 of the same set), the log-ratio's reference when present; "
                         "corpus: trained on a sample of the corpus to be filtered, for the contrast "
                         "kenlm_contrast = log PP_clean - log PP_corpus (Moore-Lewis; high = worse)")
    _add_input_args(lm)
    _add_models_arg(lm)
    lm.add_argument("--order", type=int, default=5, help="n-gram order, 2-6 (default: 5)")
    lm.add_argument("--memory", default="25%",
                    help="memory cap for lmplz/build_binary: a share of RAM or a size like 4G (default: 25%%)")
    lm.add_argument("--prune", type=int, nargs="+", metavar="N",
                    help="lmplz count thresholds per order, e.g. --prune 0 0 1 (default: none)")
    lm.add_argument("--binary", choices=["trie", "probing"], default="trie",
                    help="build_binary structure: trie (small, 8-bit quantized) or probing (fastest, larger); "
                         "default: trie")
    lm.add_argument("--no-quantize", action="store_true", help="trie without quantization")
    lm.add_argument("--keep-arpa", action="store_true", help="keep the ARPA file beside the binary")
    lm.set_defaults(func=cmd_train_kenlm)

    cl = tsub.add_parser("classifier", help="train a classifier on labelled texts",
                         description="Train a classifier on labelled JSONL records, label 1 = the side to drop, "
                                     "0 = the side to keep (other labels are skipped and counted). --kind linear "
                                     "(the default): a logistic regression on the hashed unigrams and bigrams of "
                                     "the language's pieces (train the tokenizer first; 2-4 MB). --kind fasttext: "
                                     "fastText on the normalized words and word bigrams (about 110 MB; better on "
                                     "some unseen sources). Its score, classifier_prob, is the probability of "
                                     "label 1: rules and the combined score use it like the LM scores.",
                         epilog=EPILOG_TRAIN, formatter_class=argparse.RawDescriptionHelpFormatter)
    cl.add_argument("--lang", required=True, help="language code, e.g. en")
    _add_input_args(cl)
    _add_models_arg(cl)
    cl.add_argument("--label-field", default="label", help="JSONL field holding the 0/1 label (default: label)")
    cl.add_argument("--label-meaning", required=True, choices=["harmful", "low_quality"],
                    help="what label 1 means: the drop reason of a rule on classifier_prob")
    cl.add_argument("--kind", choices=["linear", "fasttext"], default="linear",
                    help="linear (numpy, deterministic) or fasttext (fastText supervised: 25 epochs, dim 50, "
                         "bigrams; a training that stops with 'Encountered NaN' is retried with the next seed, "
                         "and the manifest records which) (default: linear)")
    cl.add_argument("--quantize", action="store_true",
                    help="fasttext: quantize the vectors (classifier.ftz, about 15 MB instead of 110; about -0.006 "
                         "ROC-AUC out of domain)")
    cl.add_argument("--buckets", type=int, default=1 << 20,
                    help="linear: hashed features; the model takes 4 bytes each (default: 1048576)")
    cl.add_argument("--epochs", type=int, default=150, help="linear: full passes of the optimizer (default: 150)")
    cl.add_argument("--lr", type=float, default=0.5, help="linear: Adam learning rate (default: 0.5)")
    cl.add_argument("--l2", type=float, default=1e-7, help="linear: L2 penalty on the weights (default: 1e-7)")
    cl.set_defaults(func=cmd_train_classifier)

    ne = tsub.add_parser("neural", help="train a small neural causal LM (PyTorch, CPU)",
                         description="Train a small causal transformer LM on the language's SentencePiece "
                                     "pieces (same normalizer and tokenizer as its KenLM), saved as safetensors "
                                     "with a manifest. Needs the [neural] extra (torch==2.13.0).",
                         epilog=EPILOG_TRAIN, formatter_class=argparse.RawDescriptionHelpFormatter)
    ne.add_argument("--lang", required=True, help="language code, e.g. en")
    ne.add_argument("--role", required=True, choices=list(ROLES), help="as for train kenlm")
    _add_input_args(ne)
    _add_models_arg(ne)
    ne.add_argument("--max-steps", type=int, default=2000, help="optimizer steps at most (default: 2000)")
    ne.add_argument("--time-budget", type=float, metavar="SECONDS", help="stop training after this long")
    ne.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    ne.add_argument("--dim", type=int, default=128, help="model width (default: 128)")
    ne.add_argument("--layers", type=int, default=2, help="transformer blocks (default: 2)")
    ne.add_argument("--heads", type=int, default=4, help="attention heads (default: 4)")
    ne.add_argument("--context", type=int, default=128, help="context window in tokens (default: 128)")
    ne.add_argument("--max-doc-tokens", type=int, default=512,
                    help="tokens scored per document at most, recorded in the manifest (default: 512)")
    ne.add_argument("--batch-size", type=int, default=32, help="windows per step (default: 32)")
    ne.add_argument("--cutoffs", type=_int_list, default=(), metavar="N,N,...",
                    help="adaptive-softmax cluster bounds by frequency rank (default: vocab/64, /16, /4; "
                         "the head's size sets most of the scoring cost)")
    ne.set_defaults(func=cmd_train_neural)

    sc = sub.add_parser("score", help="score documents with a model set (JSONL out)",
                        description="Score documents and print (or write) one JSON line each with "
                                    "language, perplexities, token counts and log-ratios.")
    sc.add_argument("--input", "-i", nargs="+", required=True, metavar="FILE",
                    help="plain text (a document per line) or JSONL files")
    sc.add_argument("--text-field", default="text", help="JSONL field holding the text (default: text)")
    _add_models_arg(sc)
    sc.add_argument("--lang", help="score everything with this language's models "
                                   "(default: identify each document's language with fastText)")
    sc.add_argument("--output", "-o", help="write JSONL here instead of standard output")
    sc.add_argument("--batch-size", type=int, default=256, help="documents per batch (default: 256)")
    sc.set_defaults(func=cmd_score)

    rn = sub.add_parser(
        "run", help="the filtering job: read, score, route into keep/drop/rejected Parquet shards",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run the filtering job on Beam or Spark: read web documents, identify their language, "
                    "score them with the language's models, route each into one Hive-partitioned table "
                    "OUT/route=keep|drop/lang=xx/ (OUT/route=scored/ with --score-only), dead letters into "
                    "OUT/_rejected/, and write OUT/_SUMMARY.json, which accounts for every input record "
                    "(read = kept + dropped + rejected).",
        epilog=EPILOG_ENGINES + "\nFormats: warc (HTML responses, main text extracted with Resiliparse), "
               "wet, jsonl (.gz/.zst), parquet, text; chosen from the file name unless --format is given.\n"
               "Read the output as one table: spark.read.parquet(OUT), "
               "duckdb.read_parquet('OUT/**/*.parquet', hive_partitioning=true), "
               "polars.scan_parquet('OUT/**/*.parquet', hive_partitioning=True), "
               "pyarrow.dataset.dataset(OUT, partitioning='hive').")
    rn.add_argument("--input", "-i", nargs="+", required=True, metavar="PATH", help=INPUT_HELP)
    _add_models_arg(rn)
    rn.add_argument("--thresholds", "-t", metavar="FILE",
                    help="thresholds file (schemas/thresholds.schema.json); see winnow tune")
    rn.add_argument("--score-only", action="store_true",
                    help="no thresholds: write every document with its scores to OUT/route=scored/lang=xx/")
    rn.add_argument("--output", "-o", required=True, metavar="OUT", help="output folder (local or gs://...)")
    _add_output_args(rn)
    _add_reader_args(rn)
    _add_lang_args(rn)
    rn.add_argument("--keep-unscored-langs", action="store_true",
                    help="keep (instead of drop) documents in languages without a model set; "
                         "their reason stays no_model_for_lang either way")
    rn.add_argument("--batch-size", type=int, default=256, help="documents scored per batch (default: 256)")
    rn.add_argument("--no-progress", action="store_true", help="no progress lines")
    rn.add_argument("--no-report", action="store_true",
                    help="skip OUT/_REPORT.html (built from up to --report-rows documents)")
    rn.add_argument("--report-rows", type=int, default=50_000,
                    help="documents the end-of-run report reads, from a seeded sample of shards (default: 50,000)")
    _add_engine_args(rn)
    rn.set_defaults(func=cmd_run, beam_args=True)

    sa = sub.add_parser(
        "sample", help="score a seeded uniform sample of N documents (for tune and report)",
        description="Draw a uniform sample (without replacement) of N documents from the inputs, "
                    "deterministic for a seed and the same inputs, score it, and write scored shards "
                    "to OUT/route=scored/lang=xx/ with OUT/_SUMMARY.json (read = scored + not_sampled + rejected).",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG_ENGINES)
    sa.add_argument("--input", "-i", nargs="+", required=True, metavar="PATH", help="as for winnow run")
    _add_models_arg(sa)
    sa.add_argument("--n", type=int, required=True, help="documents to draw")
    sa.add_argument("--seed", type=int, default=0, help="seed of the draw (default: 0)")
    sa.add_argument("--output", "-o", required=True, metavar="OUT")
    _add_output_args(sa)
    _add_reader_args(sa)
    _add_lang_args(sa)
    _add_engine_args(sa)
    sa.set_defaults(func=cmd_sample, beam_args=True)

    ro = sub.add_parser(
        "route", help="re-route scored shards with (new) thresholds, without rescoring",
        description="Read the scored shards of `winnow run --score-only` (or `winnow sample`) and route "
                    "them into keep/drop with a thresholds file: the same layout and summary as "
                    "`winnow run`, without scoring again. Score once, route many times.",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG_ENGINES)
    ro.add_argument("--scored", required=True, metavar="OUT", help="output folder of a score-only run")
    _add_models_arg(ro)
    ro.add_argument("--thresholds", "-t", required=True, metavar="FILE", help="thresholds file")
    ro.add_argument("--output", "-o", required=True, metavar="ROUTED", help="output folder")
    _add_output_args(ro)
    ro.add_argument("--keep-unscored-langs", action="store_true", help="as for winnow run")
    _add_engine_args(ro, splits=False, models=False)
    ro.set_defaults(func=cmd_route, beam_args=True)

    tu = sub.add_parser(
        "tune", help="learn per-language thresholds from scored documents",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Learn a thresholds file from scored shards (winnow run --score-only or winnow sample): "
                    "per language and score, by percentiles, a two-component mixture (only where the data "
                    "is bimodal; otherwise tune says so and falls back to percentiles), or labels.",
        epilog="Methods: auto (labels if given, else mixture if bimodal, else percentiles), percentile, "
               "mixture, labels. Every score's diagnostics (quantiles, mixture fit, bimodality coefficient, "
               "BIC, Ashman's D, label metrics with bootstrap intervals) are written into the file.")
    tu.add_argument("--scored", required=True, nargs="+", metavar="OUT",
                    help="output folders of winnow sample or run --score-only (route=scored/lang=*/ shards); with "
                         "--labels, the rows the labels name are the labelled set and every other row is the "
                         "sample of the corpus to filter, on which each rule's drop rate is checked")
    _add_models_arg(tu)
    tu.add_argument("--output", "-o", required=True, metavar="THRESHOLDS.json")
    from .tuning import METHOD_ORDER, METHODS

    tu.add_argument("--method", choices=["auto", *METHODS], default="auto",
                    help="auto (the default) tries " + ", then ".join(METHOD_ORDER["auto"]) + "; the first that applies places "
                         "the cut. " + "; ".join(f"{m.name}: {m.help}" for m in METHODS.values()))
    tu.add_argument("--labels", metavar="FILE", help="id,label CSV/TSV or JSONL {id, label}; 1 = bad, 0 = good")
    tu.add_argument("--label-meaning", choices=["harmful", "low_quality"],
                    help="what label 1 means: the reason of the rules learned from the labels (default: harmful "
                         "for the combined rule, the score's own reason for single scores)")
    tu.add_argument("--max-drop", type=float, default=50.0, metavar="PERCENT",
                    help="refuse a rule learned from labels that drops more than PERCENT of the corpus sample "
                         "(default: 50; a quality filter that keeps only the best tenth says 90)")
    tu.add_argument("--max-prevalence-ratio", type=float, default=2.0, metavar="X",
                    help="also refuse a rule learned from labels that drops more than X times the labelled "
                         "prevalence (the share of 1s) of the corpus sample (default: 2; 0: no such check)")
    tu.add_argument("--force", action="store_true",
                    help="write refused rules anyway; they are marked forced in the thresholds file")
    tu.add_argument("--combined-features", metavar="F,F,...",
                    help="features of the combined rule (default: every score, not raw length n_tokens, whose "
                         "distribution rarely transfers from labelled texts to a corpus)")
    tu.add_argument("--no-quality-combination", action="store_true",
                    help="without labels, keep one rule per quality score; by default two or more of the clean PP, "
                         "the contrast and a low-quality classifier make one rule on the mean of their z-scores "
                         "(on webq's human-judged pages: ROC-AUC 0.86 against 0.81 for the clean PP alone)")
    tu.add_argument("--keep-percent", type=float, default=60.0,
                    help="percentile method, quality scores: keep the best P%% (default: 60, CCNet's head+middle)")
    tu.add_argument("--harmful-percent", type=float, default=5.0,
                    help="percentile method, harmful scores: drop the worst P%% (default: 5)")
    tu.add_argument("--target-precision", type=float, help="labels: highest recall at this precision")
    tu.add_argument("--target-recall", type=float, help="labels: highest precision at this recall")
    tu.add_argument("--beta", type=float, default=1.0, help="labels: maximize F-beta (default: F1)")
    tu.add_argument("--prevalence", type=float,
                    help="share of bad documents in the corpus (default: estimated from the drop rate)")
    tu.add_argument("--scores", help="comma-separated scores to make rules of (default: log-ratio and clean PP)")
    tu.add_argument("--min-tokens", type=int, default=0, help="drop documents with fewer tokens (too_short)")
    tu.add_argument("--min-docs", type=int, default=20, help="fewer scored documents: no threshold (default: 20)")
    tu.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    tu.add_argument("--cascade-band", type=float, default=0.02,
                    help="with neural models: the share of documents around each KenLM cut that the neural "
                         "LM re-decides in winnow run (default: 0.02; 0 = no cascade). On web pages a neural LM "
                         "pair costs about 13x KenLM per page: each 1%% sent takes 5-6%% of the run's throughput")
    tu.set_defaults(func=cmd_tune)

    rp = sub.add_parser(
        "report", help="an HTML threshold report (with JSON beside it) from scored documents",
        description="Write a self-contained HTML report (no network resources, no scripts) and a JSON "
                    "file beside it: per language and score, the distribution with thresholds and any "
                    "fitted mixture, keep/drop rates and kept tokens, diagnostics with a plain-language "
                    "verdict, PR curve and confusion matrix when labels exist, and sample documents.")
    rp.add_argument("--scored", required=True, metavar="OUT",
                    help="output folder of winnow run, sample or route (route=*/lang=*/ shards)")
    _add_models_arg(rp)
    rp.add_argument("--thresholds", "-t", metavar="FILE", help="thresholds to draw and apply")
    rp.add_argument("--labels", metavar="FILE", help="id,label CSV/TSV or JSONL; 1 = bad")
    rp.add_argument("--output", "-o", required=True, metavar="REPORT.html")
    rp.add_argument("--max-rows", type=int, help="read at most this many documents (seeded sample of shards)")
    rp.set_defaults(func=cmd_report)

    ms = sub.add_parser("models", help="list and verify the model sets under a models root",
                        description="Load every model set under ROOT, verifying manifests and hashes.")
    ms.add_argument("root", metavar="ROOT")
    ms.set_defaults(func=cmd_models)

    dr = sub.add_parser("doctor", help="check that the installation is complete",
                        description="Check KenLM tools, Python packages and the language-ID model.")
    dr.set_defaults(func=cmd_doctor)
    for command in _commands(parser).values():
        _add_log_args(command)
    return parser


@contextlib.contextmanager
def _language_folder(root: str, lang: str):
    """The folder to train ``lang``'s models in: ROOT/lang itself, or for a remote root
    (gs://...) a local working copy whose files are uploaded to ROOT/lang afterwards."""
    from winnow.models import fs

    if not fs.is_remote(root):
        yield Path(root) / lang
        return
    import shutil
    import tempfile

    remote = fs.join(root, lang)
    work = Path(tempfile.mkdtemp(prefix="winnow-train-")) / lang
    try:
        existing = fs.local_copy(remote)
        if existing != remote:  # the language already has models there (its tokenizer, say)
            shutil.copytree(existing, work)
        yield work
        uploaded = fs.upload_tree(str(work), remote)
        print(f"uploaded {len(uploaded)} file(s) to {remote}")
    finally:
        shutil.rmtree(work.parent, ignore_errors=True)


def cmd_train_tokenizer(args) -> int:
    from winnow.models.textio import TextSource, parse_where
    from winnow.models.tokenizer import train_tokenizer

    source = TextSource(args.input, text_field=args.text_field, where=parse_where(args.where))
    start = time.monotonic()
    with _language_folder(args.models, args.lang) as folder:
        path = train_tokenizer(source, folder, args.lang, vocab_size=args.vocab_size,
                               model_type=args.model_type, character_coverage=args.character_coverage,
                               max_sentences=args.max_sentences)
    print(f"tokenizer for {args.lang}: {path} ({source.documents} documents, "
          f"{source.bytes / 1e6:.1f} MB, {time.monotonic() - start:.1f} s)")
    return 0


def cmd_train_kenlm(args) -> int:
    from winnow.models.kenlm_lm import train_kenlm
    from winnow.models.textio import TextSource, parse_where

    source = TextSource(args.input, text_field=args.text_field, where=parse_where(args.where))
    start = time.monotonic()
    with _language_folder(args.models, args.lang) as folder:
        path = train_kenlm(source, folder, args.lang, args.role, order=args.order,
                           memory=args.memory, prune=args.prune, binary=args.binary,
                           quantize=not args.no_quantize, keep_arpa=args.keep_arpa)
        size = path.stat().st_size
    print(f"{args.role} KenLM for {args.lang}: {path.name} ({size / 1e6:.2f} MB; "
          f"{source.documents} documents, {source.bytes / 1e6:.1f} MB, {time.monotonic() - start:.1f} s)")
    return 0


def cmd_train_classifier(args) -> int:
    from winnow.models.classifier import CLASSIFIER_NAME, LabelledSource, train_classifier
    from winnow.models.manifest import manifest_path
    from winnow.models.textio import parse_where

    source = LabelledSource(args.input, text_field=args.text_field, label_field=args.label_field,
                            where=parse_where(args.where))
    start = time.monotonic()
    with _language_folder(args.models, args.lang) as folder:
        path = train_classifier(source, folder, args.lang, label_meaning=args.label_meaning, kind=args.kind,
                                quantize=args.quantize,
                                buckets=args.buckets, epochs=args.epochs, lr=args.lr, l2=args.l2)
        size = path.stat().st_size
        trained = json.loads(manifest_path(folder, CLASSIFIER_NAME).read_text())["training_data"]
    print(f"{args.label_meaning} {args.kind} classifier for {args.lang}: {path.name} ({size / 1e6:.1f} MB; "
          f"{trained['labels']['1']} texts labelled 1, {trained['labels']['0']} labelled 0, "
          f"{trained['skipped_records']} skipped; {time.monotonic() - start:.1f} s)")
    return 0


def _int_list(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if list(values) != sorted(set(values)) or values[0] < 1:
        raise argparse.ArgumentTypeError(f"expected increasing positive integers, got {text!r}")
    return values


def cmd_train_neural(args) -> int:
    from winnow.models.neural import train_neural
    from winnow.models.textio import TextSource, parse_where

    source = TextSource(args.input, text_field=args.text_field, where=parse_where(args.where))
    start = time.monotonic()
    with _language_folder(args.models, args.lang) as folder:
        path = train_neural(source, folder, args.lang, args.role, dim=args.dim,
                            layers=args.layers, heads=args.heads, max_len=args.context,
                            max_doc_tokens=args.max_doc_tokens, batch_size=args.batch_size,
                            max_steps=args.max_steps, time_budget=args.time_budget, seed=args.seed,
                            cutoffs=args.cutoffs)
        manifest = json.loads(path.with_name(path.name.replace(".safetensors", ".manifest.json")).read_text())
    p = manifest["params"]
    print(f"{args.role} neural LM for {args.lang}: {path} ({p['parameters']:,} parameters, {p['steps']} steps, "
          f"validation perplexity {p['validation_perplexity']:.1f}, {time.monotonic() - start:.1f} s)")
    return 0


def cmd_score(args) -> int:
    from winnow.models import LanguageIdentifier, Scorer, fs, load_model_sets
    from winnow.models.textio import TextSource

    sets = load_model_sets(args.models, [args.lang] if args.lang else None)  # fail before reading any input
    scorers = {lang: Scorer(ms) for lang, ms in sets.items()}
    lid = None if args.lang else LanguageIdentifier()
    source = TextSource(args.input, text_field=args.text_field)
    out = io.TextIOWrapper(fs.open_write(args.output), encoding="utf-8") if args.output else sys.stdout
    n = 0
    start = time.monotonic()
    try:
        batch: list[str] = []
        for text in source:
            batch.append(text)
            if len(batch) >= args.batch_size:
                n += _score_batch(batch, scorers, lid, args.lang, out)
                batch = []
        if batch:
            n += _score_batch(batch, scorers, lid, args.lang, out)
    finally:
        if args.output:
            out.close()
    secs = time.monotonic() - start
    print(f"scored {n} documents ({source.bytes / 1e6:.1f} MB) in {secs:.1f} s "
          f"({n / max(secs, 1e-9):.0f} docs/s); languages with models: {', '.join(sets)}",
          file=sys.stderr)
    return 0


def _score_batch(batch, scorers, lid, lang, out) -> int:
    from winnow.models import score_by_language

    rows = score_by_language(batch, scorers, lang=lang, lid=lid)
    for row in rows:
        out.write(json.dumps(row, allow_nan=True) + "\n")
    return len(rows)


def cmd_run(args) -> int:
    from winnow.models import load_model_sets

    from .commit import check_output
    from .routing import load_thresholds_dict, read_thresholds_file
    from .units import JobConfig

    if bool(args.thresholds) == bool(args.score_only):
        raise UsageError("pass either --thresholds FILE (route into keep/drop) or --score-only (scores, no decision)")
    # Everything that can be wrong with the engine, models, thresholds or inputs fails here, before any work.
    engine = _engine(args)
    output = _uri_or_abs(args.output)
    inputs = [_uri_or_abs(p) for p in args.input]
    engine.check(reads={"--models": args.models, "--input": inputs}, writes={"--output": output},
                 models=args.models)
    check_output(output, models=args.models)  # before the models load
    thresholds = read_thresholds_file(args.thresholds) if args.thresholds else None
    files = _inputs(inputs, output)  # to fail now; the workers expand the patterns again
    sets = load_model_sets(args.models)  # a gs:// root is fetched and verified here too
    rules = load_thresholds_dict(thresholds, sets, source=args.thresholds) if thresholds else None
    config = JobConfig(
        inputs=tuple(inputs), models=_uri_or_abs(args.models), output=output, thresholds=thresholds,
        reader=reader_options(args),
        keep_unscored=args.keep_unscored_langs, batch_size=args.batch_size, progress=not args.no_progress,
        worker_verify="size", split_bytes=args.split_size,  # hashes were verified just above
        **_lang_options(args, sets))
    note(f"winnow run on {engine.name}: {len(files)} input file(s), languages with models: {', '.join(sets)}, "
         f"{'score-only' if args.score_only else 'thresholds ' + thresholds['version']} -> {output}")
    _note_rules(rules)
    result = _run_engine(engine, config, args)
    print_summary(result.summary, output, result.seconds)
    if not args.no_report and (result.summary["read"] - result.summary["rejected"]) > 0:
        _end_of_run_report(output, config, thresholds, args.report_rows)
    return 0


def _note_rules(thresholds) -> None:
    """The rules in force, one line each, as the router reads them."""
    for lang, spec in sorted((thresholds.languages if thresholds else {}).items()):
        for rule in spec.rules:
            note(f"  {lang}: {rule.describe()}")


def _end_of_run_report(output: str, config, thresholds, max_rows: int) -> None:
    """The run's report; its failure is a warning: the output is committed by then."""
    from .report import build_report, write_report
    from .routing import manifest_directions
    from .tuning import load_scored

    try:
        report = build_report(load_scored(output, max_rows=max_rows), manifest_directions(config.models),
                              thresholds=thresholds, title=f"Winnow run report: {output}")
        write_report(report, f"{output}/_REPORT.html")
    except Exception as exc:  # noqa: BLE001 - whatever broke the report, the output is whole
        log.debug("the report failed", exc_info=True)
        print(f"winnow: warning: the report could not be built ({type(exc).__name__}: {exc}); the output is "
              f"complete and committed ({output}/_SUMMARY.json): rerun `winnow report --scored {output}` "
              f"to try again", file=sys.stderr)
        return
    print(f"report:  {output}/_REPORT.html")


class RunFailed(Exception):
    """The job started and failed (exit code 1); what it committed is kept for a resume."""


def _run_engine(engine, config, args):
    """Run the job; say what failed in one line, and that a rerun resumes."""
    from .commit import OutputError
    from .engines import LaunchError

    try:
        result = engine.run(config, overwrite=args.overwrite, command="winnow " + " ".join(sys.argv[1:]))
    except (OutputError, LaunchError, KeyboardInterrupt):
        raise
    except Exception as exc:  # noqa: BLE001 - a worker's error, wrapped by the engine
        log.debug("the run failed", exc_info=True)
        raise RunFailed(f"the run failed: {root_cause(exc)}. Units committed before the failure are kept: "
                        f"the same command resumes after them (-v shows the traceback)") from exc
    if result.summary.get("units_resumed"):
        note(f"resumed: {result.summary['units_resumed']} unit(s) committed by an earlier run of this "
             f"configuration were skipped")
    return result


def root_cause(exc: BaseException) -> str:
    """The innermost error of a chain, in one line (engines wrap a worker's error in theirs,
    with the traceback in the message)."""
    while True:
        inner = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
        if inner is None:
            break
        exc = inner
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[-1] if lines else ""
    name = type(exc).__name__
    return text if text.startswith(name) or ("Error" in text.split(":")[0] and ":" in text) else f"{name}: {text}"


def _inputs(patterns: list[str], output: str) -> list[str]:
    """The input paths, without those under the output (saying so)."""
    from .commit import staging_root
    from .units import find_inputs

    found = find_inputs(patterns, exclude=(output, staging_root(output)))
    if found.excluded:
        print(f"winnow: {found.excluded} file(s) under the output folder {output} match the inputs and are "
              f"not read", file=sys.stderr)
    return found.paths


def cmd_sample(args) -> int:
    from winnow.models import load_model_sets

    from .commit import check_output
    from .units import SampleConfig

    if args.n <= 0:
        raise UsageError("--n must be positive")
    engine = _engine(args)
    output = _uri_or_abs(args.output)
    inputs = [_uri_or_abs(p) for p in args.input]
    engine.check(reads={"--models": args.models, "--input": inputs}, writes={"--output": output},
                 models=args.models)
    check_output(output, models=args.models)
    files = _inputs(inputs, output)
    sets = load_model_sets(args.models)  # fail before any work
    config = SampleConfig(inputs=tuple(inputs), models=_uri_or_abs(args.models), output=output, n=args.n,
                          seed=args.seed, worker_verify="size", split_bytes=args.split_size,
                          reader=reader_options(args), **_lang_options(args, sets))
    note(f"winnow sample on {engine.name}: {args.n} of the documents in {len(files)} file(s), seed {args.seed}, "
         f"languages with models: {', '.join(sets)} -> {output}")
    result = _run_engine(engine, config, args)
    s = result.summary
    print(f"read {s['read']} = {s['scored']} sampled and scored + {s.get('not_sampled', 0)} not sampled + "
          f"{s['rejected']} rejected ({result.seconds:.1f} s)")
    print(f"scored shards: {output}/route=scored/lang=*/  summary: {output}/_SUMMARY.json")
    return 0


def cmd_route(args) -> int:
    from .commit import check_output, check_settled
    from .routing import load_thresholds_dict, manifest_directions, read_thresholds_file
    from .units import RouteConfig, scored_units

    engine = _engine(args)
    output = _uri_or_abs(args.output)
    scored = _uri_or_abs(args.scored)
    if (output.rstrip("/") + "/").startswith(scored.rstrip("/") + "/") or \
            (scored.rstrip("/") + "/").startswith(output.rstrip("/") + "/"):
        raise UsageError(f"--output {args.output} must be outside --scored {args.scored} (and not hold it): "
                         f"routing replaces the shards of the units it writes")
    engine.check(reads={"--scored": scored}, writes={"--output": output})
    check_output(output, models=args.models)
    check_settled(scored, "--scored")
    directions = manifest_directions(args.models)
    thresholds = read_thresholds_file(args.thresholds)
    rules = load_thresholds_dict(thresholds, directions, source=args.thresholds)  # fail before any work
    units = scored_units(scored)
    config = RouteConfig(scored=scored, models=_uri_or_abs(args.models), output=output, thresholds=thresholds,
                         directions=directions, keep_unscored=args.keep_unscored_langs)
    note(f"winnow route on {engine.name}: {len(units)} scored unit(s), thresholds {thresholds['version']} "
         f"-> {output}")
    _note_rules(rules)
    result = _run_engine(engine, config, args)
    print_summary(result.summary, output, result.seconds)
    return 0


def cmd_tune(args) -> int:
    from .routing import manifest_directions, manifest_models, manifest_reasons
    from .tuning import TuneOptions, load_scored, read_labels, require_statistics, tune

    import pyarrow as pa

    require_statistics()
    if not 0 < args.max_drop <= 100:  # options first: before any file is read
        raise UsageError("--max-drop is a percentage in (0, 100]")
    for flag, value in (("--keep-percent", args.keep_percent), ("--harmful-percent", args.harmful_percent)):
        if not 0 < value < 100:
            raise UsageError(f"{flag} is a percentage between 0 and 100 (exclusive), got {value:g}")
    directions = manifest_directions(args.models)
    table = pa.concat_tables([load_scored(folder) for folder in args.scored])
    labels = read_labels(args.labels) if args.labels else None
    opts = TuneOptions(method=args.method, keep_percent=args.keep_percent, harmful_percent=args.harmful_percent,
                       target_precision=args.target_precision, target_recall=args.target_recall, beta=args.beta,
                       prevalence=args.prevalence, seed=args.seed, min_docs=args.min_docs,
                       cascade_band=args.cascade_band, max_corpus_drop=args.max_drop / 100, force=args.force,
                       max_prevalence_ratio=args.max_prevalence_ratio,
                       label_reason=args.label_meaning, quality_combination=not args.no_quality_combination,
                       combined_features=tuple(args.combined_features.split(",")) if args.combined_features else None)
    if args.method == "labels" and not labels:
        raise UsageError("--method labels needs --labels FILE")
    result = tune(table, directions, opts, labels=labels, scores=args.scores.split(",") if args.scores else None,
                  min_tokens=args.min_tokens, command="winnow " + " ".join(sys.argv[1:]),
                  models=manifest_models(args.models), reasons=manifest_reasons(args.models))
    refused = {lang: spec["diagnostics"]["guard"]["refused"] for lang, spec in result["languages"].items()
               if spec["diagnostics"].get("guard", {}).get("refused")}
    for lang, items in refused.items():
        for item in items:
            print(f"winnow: {lang}: rule {item['score']} refused: {item['why']}", file=sys.stderr)
    empty = [lang for lang in refused if not result["languages"][lang]["rules"]]
    if empty:
        raise UsageError(f"no rule left for {', '.join(empty)} after the guard rails; nothing written. Pass a larger "
                         f"--max-drop if dropping that much is meant, --force to write the rules anyway, or tune "
                         f"without --labels (percentile or mixture cuts on the corpus sample)")
    from winnow.models import fs

    fs.write_text(args.output, json.dumps(result, indent=2, default=float) + "\n")
    for lang, spec in result["languages"].items():
        n = spec["diagnostics"]["documents"]
        print(f"{lang} ({n} documents):")
        for score, d in spec["diagnostics"]["scores"].items():
            rule = next((r for r in spec["rules"] if r["score"] == score), None)
            value = f"{d['value']:.4g}" if d.get("value") is not None else "none"
            mark = "rule" if rule else "info"
            print(f"  [{mark}] {score:<18} {d['method']:<10} threshold {value:<10} "
                  f"drop {d.get('drop_rate', 0):.1%}  {d['verdict'][:110]}")
        for rule in spec["rules"]:
            g = rule.get("guard") or {}
            if g.get("corpus_drop_rate") is not None:
                flags = "".join(f"  [{k}: {g[k]}]" for k in ("degenerate",) if g.get(k)) + \
                    ("  [FORCED past the guard]" if rule.get("forced") else "")
                labelled = f"{g['labelled_drop_rate']:.1%}" if g.get("labelled_drop_rate") is not None else "none"
                print(f"  [guard] {rule['score']:<18} drops {g['corpus_drop_rate']:.1%} of the corpus sample, "
                      f"{labelled} of the labelled rows{flags}")
        for rule in spec["rules"]:
            if rule["score"] == "combined" and "labels" not in rule["diagnostics"]:
                print(f"  [rule] combined quality (no labels) P >= {rule['value']:.3f}: "
                      f"{rule['diagnostics']['verdict']}")
            elif rule["score"] == "combined":
                lab = rule["diagnostics"]["labels"]
                weights = ", ".join(f"{f} {w:+.2f}" for f, w in zip(rule["combined"]["features"],
                                                                     rule["combined"]["coef"]))
                print(f"  [rule] combined (logistic) P(bad) >= {rule['value']:.3f}: ROC-AUC {lab['roc_auc']:.3f}, "
                      f"precision {lab['precision']:.2f}, recall {lab['recall']:.2f}; weights {weights}")
    print(f"thresholds {result['version']} -> {args.output}")
    return 0


def cmd_report(args) -> int:
    from .report import build_report, write_report
    from .routing import load_thresholds_dict, manifest_directions, read_thresholds_file
    from .tuning import load_scored, read_labels, require_statistics

    require_statistics()
    directions = manifest_directions(args.models)
    thresholds = read_thresholds_file(args.thresholds) if args.thresholds else None
    if thresholds:
        load_thresholds_dict(thresholds, directions, source=args.thresholds)  # a bad file: exit 2, before reading
    labels = read_labels(args.labels) if args.labels else None
    table = load_scored(args.scored, max_rows=args.max_rows)
    report = build_report(table, directions, thresholds=thresholds, labels=labels,
                          title=f"Winnow threshold report: {args.scored}")
    json_path = write_report(report, args.output)
    print(f"report: {args.output} (data: {json_path})")
    return 0


def print_summary(summary: dict, output: str, secs: float) -> None:
    routes = ["scored"] if summary["mode"] == "score-only" else ["kept", "dropped"]
    done = summary.get("run", {})  # the rates are this run's own (a resumed run read only the rest)
    read, nbytes = done.get("read", summary["read"]), done.get("bytes_read", summary["bytes_read"])
    resumed = f"; {read} read by this run" if read != summary["read"] else ""
    print(f"\nread {summary['read']} = " + " + ".join(f"{summary[r]} {r}" for r in routes)
          + f" + {summary['rejected']} rejected   ({secs:.1f} s{resumed}, {read / max(secs, 1e-9):.0f} docs/s, "
          f"{nbytes / 1e6 / max(secs, 1e-9):.2f} MB/s of text)")
    cols = ["keep", "drop", "scored"] if summary["mode"] != "score-only" else ["scored"]
    cols = [c for c in cols if any(c in v for v in summary["by_lang"].values())]
    print(f"\n  {'lang':<6}" + "".join(f"{c:>9}" for c in cols + ["read"]))
    for lang, counts in summary["by_lang"].items():
        print(f"  {lang:<6}" + "".join(f"{counts.get(c, 0):>9}" for c in cols + ["read"]))
    for route, reasons in summary["by_reason"].items():
        print(f"\n  {route} reasons: " + ", ".join(f"{r} {n}" for r, n in reasons.items()))
    if summary.get("lang_fallback"):
        print(f"\n  language fallback: {summary['lang_fallback']} document(s) fastText was unsure of were scored "
              f"with the --lang-fallback models")
    print(f"\nshards under {output}/ ({len(summary['files'])} files); summary: {output}/_SUMMARY.json")


def cmd_models(args) -> int:
    from winnow.models import load_model_sets

    for lang, ms in load_model_sets(args.root).items():
        d = ms.describe()
        print(f"{lang}: tokenizer {d['tokenizer']['vocab_size']} pieces")
        for name, m in d["models"].items():
            shape = f"order={m['order']}" if m["order"] else f"params={m['parameters']:,}"
            print(f"  {name:<16} {m['kind']:<8} role={m['role']:<8} {shape:<16} sha256={m['sha256'][:12]}")
        if "classifier" in d:
            c = d["classifier"]
            print(f"  {c['name']:<16} {c['kind']:<8} role={'classifier':<8} {'label 1=' + c['label_meaning']:<16} "
                  f"sha256={c['sha256'][:12]}")
    print("all manifests and file hashes verified")
    return 0


def cmd_doctor(args) -> int:
    from winnow.models import LanguageIdentifier, NORMALIZER_VERSION
    from winnow.models.tools import kenlm_tool

    problems = 0
    checks = [("lmplz", lambda: kenlm_tool("lmplz")), ("build_binary", lambda: kenlm_tool("build_binary")),
              ("kenlm module", lambda: __import__("kenlm").__file__),
              ("sentencepiece", lambda: __import__("sentencepiece").__version__),
              ("pyarrow", lambda: __import__("pyarrow").__version__),
              ("apache-beam", lambda: metadata.version("apache-beam")),
              ("fastText", _check_fasttext),
              ("language-ID model", lambda: LanguageIdentifier().path),
              ("native scorer", _check_native_scorer)]
    for name, check in checks:
        try:
            print(f"  ok   {name:<18} {check()}")
        except Exception as exc:  # report every problem, not just the first
            problems += 1
            print(f"  FAIL {name:<18} {exc}")
    print(f"winnow {__version__}, normalizer {NORMALIZER_VERSION}: "
          + ("installation complete" if not problems else f"{problems} problem(s)"))
    return 1 if problems else 0


def _check_native_scorer() -> str:
    from winnow.models import kenlm_native

    path = kenlm_native.library_path()
    if not path.is_file():
        raise RuntimeError(f"{path} not found: the native KenLM batch scorer is built by `bash scripts/setup.sh` "
                           "(without it scoring falls back to the kenlm module, about 1.5x slower)")
    if kenlm_native.load_library() is None:
        raise RuntimeError(f"{path} could not be loaded; rebuild it with `bash scripts/setup.sh`")
    return str(path)


def _check_fasttext() -> str:
    import fasttext

    if not hasattr(fasttext, "train_supervised"):
        raise RuntimeError("the fasttext module cannot train: fasttext-predict was installed over "
                           "fasttext-numpy2-wheel; rerun `bash scripts/setup.sh`")
    return fasttext.__file__


def note(message: str) -> None:
    """A line on stderr about what a command does (not its result), unless -q."""
    if logging.getLogger().isEnabledFor(logging.INFO):
        print(message, file=sys.stderr)


def _quiet_beam_import(record: logging.LogRecord) -> bool:
    return not (record.name == "root" and "apitools" in record.getMessage())


LOG_LEVELS = ("debug", "info", "warning", "error")


def _add_log_args(p: argparse.ArgumentParser, *, top: bool = False) -> None:
    """-v, -q and --log-level, on the top parser and on every command (``winnow run ... -v``)."""
    default = {} if top else {"default": argparse.SUPPRESS}  # a command's flag must not reset the top one's
    g = p.add_argument_group("logging") if not top else p
    g.add_argument("-v", "--verbose", action="store_true", help="log everything, with tracebacks (--log-level debug)",
                   **default)
    g.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only: no progress lines "
                   "(--log-level warning)", **default)
    g.add_argument("--log-level", choices=LOG_LEVELS, help="the least severe messages shown (default: info; Beam's "
                   "own messages and its workers' show from warning, or from debug with -v)", **default)


def _commands(parser: argparse.ArgumentParser) -> dict:
    """Command name (``run``, ``train kenlm``) -> its parser."""
    found = {}
    for action in parser._actions:  # noqa: SLF001 - argparse keeps subparsers there
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            for name, sub in action.choices.items():
                inner = _commands(sub)
                found.update({f"{name} {k}": v for k, v in inner.items()} if inner else {name: sub})
    return found


def _option_strings(parser: argparse.ArgumentParser) -> list[str]:
    return [s for a in parser._actions for s in a.option_strings if s.startswith("--")]  # noqa: SLF001


def beam_option_flags() -> dict[str, bool]:
    """Every ``--option`` Beam's pipeline options know (Beam's own way of listing them) ->
    whether it takes a value."""
    from apache_beam.options.pipeline_options import PipelineOptions, _BeamArgumentParser

    parser = _BeamArgumentParser(allow_abbrev=False)
    classes = {}
    for cls in PipelineOptions.__subclasses__():
        classes.setdefault(str(cls), cls)
    for cls in classes.values():
        cls._add_argparse_args(parser)  # noqa: SLF001
    return {s: action.nargs != 0 for s, action in parser._option_string_actions.items()  # noqa: SLF001
            if s.startswith("--")}


def split_engine_args(rest: list[str], command: argparse.ArgumentParser, *, beam: bool) -> list[str]:
    """The arguments Winnow did not parse, checked: a command that runs on Beam passes on
    Beam's own options (``--runner X``, ``--direct_num_workers=2``); anything else is an
    error naming the closest valid option. Arguments after ``--`` (kept apart by ``main``)
    go to Beam unchecked."""
    import difflib

    known = beam_option_flags() if beam and rest else {}  # Beam's option list: only when there are any
    passed, expect_value = [], None
    for arg in rest:
        name = arg.split("=", 1)[0]
        if expect_value:
            passed.append(arg)  # the value of the Beam option before it (it may start with -: -1)
            expect_value = None
        elif arg.startswith("--") and name in known:
            passed.append(arg)
            expect_value = name if known[name] and "=" not in arg else None
        else:
            ours = _option_strings(command)
            if not arg.startswith("-"):
                raise UsageError(f"unexpected argument {arg!r} (options take their values after them, "
                                 f"e.g. --input FILE)")
            close = difflib.get_close_matches(name, ours + sorted(known), n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]}?" if close else ""
            where = " (Beam's own options pass through after --)" if beam else ""
            raise UsageError(f"unrecognized option {name}{hint}{where}")
    if expect_value:
        raise UsageError(f"Beam's option {expect_value} needs a value")
    return passed


def _log_level(args) -> int:
    if getattr(args, "verbose", False):
        return logging.DEBUG
    if getattr(args, "log_level", None):
        return getattr(logging, args.log_level.upper())
    return logging.WARNING if getattr(args, "quiet", False) else logging.INFO


def _setup_logging(level: int) -> None:
    logging.getLogger().setLevel(level)  # its handler: main's basicConfig
    if level > logging.DEBUG:
        # Beam logs its internals at INFO, and warns at import that the optional GCP client
        # libraries are absent (they are, without the [gcp] extra): neither helps a user here.
        logging.getLogger("apache_beam").setLevel(max(level, logging.WARNING))
        # A worker's error is said once, in one line, by _run_engine (-v: with Beam's traceback).
        logging.getLogger("apache_beam.runners.common").setLevel(logging.CRITICAL)
        # Local worker processes' start-up warnings, relayed once more by the job service.
        logging.getLogger("apache_beam.runners.portability.local_job_service").setLevel(logging.ERROR)


# Errors a user can fix, said in one line with exit code 2. Anything else is a bug in
# Winnow and keeps its traceback.
USAGE_ERRORS = (UsageError, OSError)


def main(argv: list[str] | None = None) -> int:
    from winnow.models.errors import TrainingError, WinnowModelError

    # Before Beam is first imported: its import-time warning would otherwise set up logging
    # its own way (and is noise: the GCP libraries are an extra).
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger().addFilter(_quiet_beam_import)
    argv = list(sys.argv[1:] if argv is None else argv)
    passthrough = []
    parser = build_parser()
    commands = _commands(parser)
    command_name = next((a for a in argv if a in {name.split()[0] for name in commands}), None)
    on_beam = command_name in commands and commands[command_name].get_default("beam_args")
    if "--" in argv and on_beam:  # everything after -- goes to Beam as given (elsewhere: argparse's --)
        at = argv.index("--")
        argv, passthrough = argv[:at], argv[at + 1:]
    args, rest = parser.parse_known_args(argv)
    command = commands[" ".join(x for x in (args.command, getattr(args, "what", None)) if x)]
    beam = getattr(args, "beam_args", False)
    try:
        args.beam_args_rest = split_engine_args(rest, command, beam=beam) + passthrough
    except UsageError as exc:
        command.error(str(exc))  # usage line, message, exit 2
    _setup_logging(_log_level(args))
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("winnow: interrupted; units committed so far are kept: the same command resumes after them",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    except RunFailed as exc:
        print(f"winnow: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except (WinnowModelError, TrainingError, *USAGE_ERRORS) as exc:
        # UsageError covers a bad option, thresholds file (ThresholdsError), launch
        # (LaunchError) or output (OutputError); OSError a path that is missing, a folder,
        # unreadable, or refused by an object store.
        log.debug("error", exc_info=True)
        print(f"winnow: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
