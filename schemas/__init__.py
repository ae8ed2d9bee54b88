"""The single source of truth for Winnow's record shapes.

JSON Schemas (files beside this module) describe model manifests and, as the pipeline
grows, thresholds files and run summaries; pyarrow schemas for Parquet records live in
``arrow.py``. Nothing here imports the rest of Winnow.
"""
from __future__ import annotations

import functools
import json
from pathlib import Path

_HERE = Path(__file__).resolve().parent

MODEL_MANIFEST = "model_manifest"
MANIFEST_VERSION = 1


class SchemaError(ValueError):
    """A document does not match its schema; the message says where and why."""


@functools.lru_cache(maxsize=None)
def load_schema(name: str) -> dict:
    path = _HERE / f"{name}.schema.json"
    if not path.exists():
        known = sorted(p.name.removesuffix(".schema.json") for p in _HERE.glob("*.schema.json"))
        raise KeyError(f"no schema named {name!r}; known: {', '.join(known)}")
    return json.loads(path.read_text(encoding="utf-8"))


def validate(instance: dict, name: str, *, source: str = "document") -> None:
    """Raise :class:`SchemaError` naming every problem in ``instance``."""
    import jsonschema  # imported lazily: only loaders and the CLI need it

    validator = jsonschema.Draft202012Validator(load_schema(name))
    problems = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    if problems:
        lines = [
            f"  - {'/'.join(map(str, p.absolute_path)) or '(top level)'}: {p.message}"
            for p in problems[:10]
        ]
        raise SchemaError(f"{source} does not match the {name} schema:\n" + "\n".join(lines))
