"""Winnow: web-scale corpus filtering with perplexity models.

The repository keeps the top-level layout ``models/``, ``pipeline/`` and ``schemas/``;
they install as ``winnow.models``, ``winnow.pipeline`` and ``winnow.schemas`` so that
generic names such as ``models`` never collide with other packages in site-packages.
"""
from setuptools import setup

import re

VERSION = re.search(r'__version__ = "([^"]+)"', open("winnow/__init__.py").read()).group(1)

# The versions that matter are pinned exactly: model files, scores and Beam's wire format
# depend on them, and the Dataflow image (docker/) must install the same ones.
INSTALL_REQUIRES = [
    "apache-beam==2.77.0",
    "kenlm==0.3.0",
    "sentencepiece==0.2.3",
    "pyarrow==25.0.1",
    # fastText with NumPy 2 support (the upstream 0.9.3 wheel fails in predict under NumPy 2).
    "fasttext-numpy2-wheel==0.9.2",
    # WARC reading and HTML main-text extraction (chosen over warcio + trafilatura: 9x
    # faster extraction on real pages, and tolerant of the malformed WARC fixtures).
    "fastwarc==2.0.1",
    "resiliparse==2.0.1",
    "zstandard>=0.22",
    "numpy>=1.26,<2.5",
    "jsonschema>=4.18,<5",
]

TUNE_REQUIRES = ["scikit-learn==1.9.1", "scipy==1.17.1"]

setup(
    name="winnow",
    version=VERSION,
    description="Web-scale corpus filtering with KenLM and neural perplexity scores",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=["winnow", "winnow.models", "winnow.pipeline", "winnow.schemas"],
    package_dir={
        "winnow": "winnow",
        "winnow.models": "models",
        "winnow.pipeline": "pipeline",
        "winnow.schemas": "schemas",
    },
    package_data={"winnow.schemas": ["*.json"]},
    install_requires=INSTALL_REQUIRES,
    extras_require={
        # Small neural LMs (winnow train neural; neural scores). torch==2.13.0 is the CPU
        # build; any other spec may pull a multi-GB CUDA build.
        "neural": ["torch==2.13.0", "safetensors>=0.4,<1"],
        # The Spark engine (winnow run --engine spark). Spark 4 runs on Java 17 or 21.
        "spark": ["pyspark==4.1.1"],
        # winnow tune and report (and the end-of-run report): logistic regression, ROC and
        # PR curves, moments; not needed by workers that only score and route.
        "tune": TUNE_REQUIRES,
        # DuckDB and Polars only read the output back in the one-table tests.
        "test": ["pytest>=8", "hypothesis==6.170.17", "torch==2.13.0", "safetensors>=0.4,<1",
                 "pyspark==4.1.1", "duckdb==1.4.1", "polars==1.34.0", *TUNE_REQUIRES],
        # Dataflow: GCS filesystem and the Dataflow runner (the docker/ image installs it).
        "gcp": ["apache-beam[gcp]==2.77.0"],
    },
    entry_points={"console_scripts": ["winnow = winnow.pipeline.cli:main"]},
)
