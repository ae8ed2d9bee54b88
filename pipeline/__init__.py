"""Beam pipelines, threshold learning, reports and the ``winnow`` command line."""
