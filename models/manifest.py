"""Model manifests: written beside each model, checked on every load.

A manifest (``NAME.manifest.json``) names the model, its role and language, the
normalizer version, the hash and size of every file it owns and, for language models, the
SentencePiece model their pieces come from. Its shape is ``schemas/model_manifest``.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import tempfile
from importlib import metadata
from pathlib import Path, PurePosixPath, PureWindowsPath

from winnow import __version__
from winnow.schemas import MANIFEST_VERSION, MODEL_MANIFEST, SchemaError, validate

from .errors import WinnowModelError
from .normalize import NORMALIZER_VERSION
from .textio import file_sha256

MANIFEST_SUFFIX = ".manifest.json"
_UMASK = os.umask(0)
os.umask(_UMASK)


def tool_versions(**extra: str) -> dict:
    """Versions of what produced a model, for its manifest."""
    def ver(pkg):
        try:
            return metadata.version(pkg)
        except metadata.PackageNotFoundError:
            return "not installed"

    return {"winnow": __version__, "kenlm": ver("kenlm"), "sentencepiece": ver("sentencepiece"),
            "python": platform.python_version(), **extra}


def file_entry(path: Path) -> dict:
    return {"sha256": file_sha256(path), "bytes": path.stat().st_size}


def now_utc() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def manifest_path(folder: Path, name: str) -> Path:
    return Path(folder) / f"{name}{MANIFEST_SUFFIX}"


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp creates 0600; give the usual file mode
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_manifest(folder: Path, manifest: dict) -> Path:
    manifest = {"manifest_version": MANIFEST_VERSION, **manifest}
    validate(manifest, MODEL_MANIFEST, source=f"manifest for {manifest.get('name')}")
    path = manifest_path(folder, manifest["name"])
    write_atomic(path, (json.dumps(manifest, indent=2, sort_keys=False) + "\n").encode())
    return path


def read_manifest(path: Path, *, verify: bool | str = True) -> dict:
    """Read and check a manifest: schema, normalizer version, and its files.

    ``verify``: True checks every file's size and SHA-256; ``"size"`` only existence and
    size (for workers whose launcher already verified the hashes); False nothing.
    """
    path = Path(path)
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise WinnowModelError(f"{path}: manifest not found") from None
    except ValueError as exc:  # also text that is not UTF-8
        raise WinnowModelError(f"{path}: not valid JSON ({exc})") from None
    except OSError as exc:  # a folder, unreadable, ...
        raise WinnowModelError(f"{path}: manifest cannot be read ({exc.strerror or type(exc).__name__})") from None
    if not isinstance(manifest, dict):
        kind = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(type(manifest), "a number")
        raise WinnowModelError(f"{path}: not a valid model manifest: it holds {kind}, not a JSON object")
    if isinstance(manifest.get("files"), dict):
        for name in manifest["files"]:  # before anything else: such a name must never be opened
            check_file_name(path, name)
    try:
        validate(manifest, MODEL_MANIFEST, source=str(path))
    except SchemaError as exc:
        raise WinnowModelError(_one_line(exc, path)) from None
    if manifest["normalizer"] != NORMALIZER_VERSION:
        raise WinnowModelError(
            f"{path}: model {manifest['name']!r} was trained with normalizer "
            f"{manifest['normalizer']!r}, but this Winnow normalizes with {NORMALIZER_VERSION!r}; "
            "its scores would be meaningless. Retrain it with this version "
            "(`winnow train ...`), or install the Winnow version that trained it."
        )
    if verify:
        for rel, entry in manifest["files"].items():
            verify_file(model_file(path, rel), entry, manifest["name"], hashes=verify != "size")
    return manifest


def _one_line(exc: SchemaError, path: Path) -> str:
    """A schema error as one line: the manifest file, then each problem (shortened)."""
    problems = [p.strip().removeprefix("- ").removeprefix("(top level): ") for p in str(exc).splitlines()[1:]
                if p.strip()]
    problems = [p if len(p) <= 160 else p[:70] + " ... " + p[-85:] for p in problems]  # the ends say the most
    return f"{path}: not a valid model manifest ({MODEL_MANIFEST} schema): " + "; ".join(problems)


def _bad_file_name(name) -> str | None:
    """Why ``name`` is not a plain file name in the manifest's own folder, or None."""
    if not isinstance(name, str) or not name:
        return "is empty"
    if "\x00" in name:
        return "contains a NUL character"
    if PurePosixPath(name).is_absolute() or PureWindowsPath(name).is_absolute() or PureWindowsPath(name).drive:
        return "is an absolute path"
    if name == "." or name.startswith("..") or ".." in name.replace("\\", "/").split("/"):
        return "leads out of the manifest's folder ('..')"
    if "/" in name or "\\" in name or (os.altsep and os.altsep in name):
        return "contains a path separator"
    return None


def check_file_name(manifest_path: Path, name) -> None:
    """Refuse a ``files`` entry that is not a plain file name in the manifest's folder."""
    why = _bad_file_name(name)
    if why:
        raise WinnowModelError(
            f"{manifest_path}: files entry {name!r} {why}; a manifest lists plain file names in its own "
            f"folder (no path separators, no '..')"
        )


def model_file(manifest_path: Path, name: str) -> Path:
    """The path of the file ``name`` of a manifest: always inside the manifest's folder."""
    check_file_name(manifest_path, name)
    return Path(manifest_path).parent / name


def verify_file(path: Path, entry: dict, model_name: str, *, hashes: bool = True) -> None:
    if not path.is_file():
        raise WinnowModelError(f"{path}: file of model {model_name!r} is missing")
    size = path.stat().st_size
    if size != entry["bytes"] or (hashes and file_sha256(path) != entry["sha256"]):
        raise WinnowModelError(
            f"{path}: does not match its manifest (model {model_name!r}: expected "
            f"{entry['bytes']} bytes with sha256 {entry['sha256'][:12]}..., found {size} bytes"
            f"{'' if size != entry['bytes'] else ' with sha256 ' + file_sha256(path)[:12] + '...'}). "
            "The file was changed or replaced after training: retrain the model, or restore "
            "the file that the manifest describes."
        )
