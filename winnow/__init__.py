"""Winnow: web-scale corpus filtering with perplexity models.

``winnow.models`` (no Beam) trains and scores models; ``winnow.pipeline`` holds the Beam
jobs and the ``winnow`` CLI; ``winnow.schemas`` is the single source of record shapes.
"""
__version__ = "0.1.0"
