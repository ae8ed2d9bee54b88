"""Winnow: web-scale corpus filtering with perplexity models.

``winnow.Filter`` scores and routes documents from Python; ``winnow.beam`` holds the Beam
transforms for other people's pipelines. ``winnow.models`` (no Beam) trains and scores
models; ``winnow.pipeline`` holds the jobs and the ``winnow`` CLI; ``winnow.schemas`` is
the single source of record shapes.
"""
__version__ = "0.1.0"

__all__ = ["Filter", "__version__"]


def __getattr__(name: str):
    # Imported on first use: `import winnow` (for the version, say) loads no models or Beam.
    if name == "Filter":
        from .api import Filter

        return Filter
    raise AttributeError(f"module 'winnow' has no attribute {name!r}")
