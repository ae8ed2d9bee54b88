"""The one filesystem layer: every path Winnow reads or writes goes through here.

Local paths and any URI a Beam filesystem is registered for (``gs://``, ``s3://``,
``hdfs://``, or one a test registers) read and write alike. Local paths keep plain ``os``
calls for opening, renaming and deleting (fast, and what a user's shell sees); URIs, and
glob matching everywhere, go to Apache Beam's ``FileSystems``. Bytes are never
decompressed here: callers that read ``.gz``/``.zst`` decompress themselves.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import os
import posixpath
import shutil
import tempfile
from typing import IO


def is_remote(path: str) -> bool:
    """True for a URI (``scheme://...``), false for a local path."""
    return "://" in str(path)


def absolute(path: str) -> str:
    """URIs as given, local paths made absolute (workers may run in another directory)."""
    path = str(path)
    return path if is_remote(path) else os.path.abspath(path)


def join(base: str, *parts: str) -> str:
    base = str(base)
    return posixpath.join(base, *parts) if is_remote(base) else os.path.join(base, *parts)


def _beam():
    from apache_beam.io.filesystems import FileSystems

    return FileSystems


def open_read(path: str) -> IO[bytes]:
    """A binary stream of the raw bytes of ``path``. FileNotFoundError when absent."""
    path = str(path)
    if not is_remote(path):
        return open(path, "rb")
    from apache_beam.io.filesystem import CompressionTypes

    if not exists(path):
        raise FileNotFoundError(f"{path}: not found")
    return _beam().open(path, compression_type=CompressionTypes.UNCOMPRESSED)


def open_write(path: str) -> IO[bytes]:
    """A binary stream that creates (or replaces) ``path``; parent folders are made."""
    path = str(path)
    if not is_remote(path):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        return open(path, "wb")
    from apache_beam.io.filesystem import CompressionTypes

    return _beam().create(path, mime_type="application/octet-stream",
                          compression_type=CompressionTypes.UNCOMPRESSED)


def read_bytes(path: str) -> bytes:
    with open_read(path) as f:
        return f.read()


def read_text(path: str) -> str:
    return read_bytes(path).decode("utf-8")


def write_bytes(path: str, data: bytes) -> None:
    with open_write(path) as f:
        f.write(data)


def write_text(path: str, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def text_stream(path: str) -> io.TextIOBase:
    return io.TextIOWrapper(open_read(path), encoding="utf-8", newline="")


def exists(path: str) -> bool:
    path = str(path)
    return os.path.exists(path) if not is_remote(path) else _beam().exists(path)


def is_file(path: str) -> bool:
    path = str(path)
    if not is_remote(path):
        return os.path.isfile(path)
    return any(m.path == path for m in match(path))


def size(path: str) -> int:
    path = str(path)
    return os.path.getsize(path) if not is_remote(path) else _beam().match([path])[0].metadata_list[0].size_in_bytes


def match(pattern: str) -> list:
    """Beam ``FileMetadata`` (``path``, ``size_in_bytes``) of the files matching a glob
    (``**`` crosses folders); an empty list when none match."""
    try:
        return list(_beam().match([str(pattern)])[0].metadata_list)
    except Exception as exc:  # noqa: BLE001 - Beam raises BeamIOError for "no match" on some filesystems
        if "No files found" in str(exc) or "not found" in str(exc).lower():
            return []
        raise


def delete(paths: list[str]) -> None:
    """Delete files; one already gone (another attempt removed it) is not an error."""
    remote = [p for p in paths if is_remote(p)]
    for path in paths:
        if not is_remote(path):
            try:
                os.remove(path)
            except FileNotFoundError:
                pass
    if remote:
        _beam().delete([p for p in remote if exists(p)])


def rename(sources: list[str], destinations: list[str]) -> None:
    """Move each source onto its destination, replacing it (atomic on a local disk)."""
    remote = [(s, d) for s, d in zip(sources, destinations) if is_remote(s) or is_remote(d)]
    for src, dest in zip(sources, destinations):
        if not (is_remote(src) or is_remote(dest)):
            os.replace(src, dest)
    if remote:
        _beam().rename([s for s, _ in remote], [d for _, d in remote])


def local_copy(root: str, *, only: tuple[str, ...] = ()) -> str:
    """A local folder holding the files under ``root`` (a local root is returned as is).

    The copy is cached in the temporary folder, keyed by the remote files' paths, sizes and
    modification times, so updated files are fetched again and processes on one machine
    share a copy. ``only``
    limits the copy to names ending with one of these suffixes (e.g. manifests).
    """
    root = str(root)
    if not is_remote(root):
        return root
    base = root.rstrip("/")
    metas = [m for m in match(base + "/**") if not only or m.path.endswith(only)]
    if not metas:
        return root  # the caller's own "not found" error names the URI
    listing = sorted((m.path, m.size_in_bytes, m.last_updated_in_seconds) for m in metas)
    digest = hashlib.sha1(repr(listing).encode()).hexdigest()[:12]
    dest = os.path.join(tempfile.gettempdir(), f"winnow-copy-{digest}")
    if os.path.isdir(dest):
        return dest
    tmp = tempfile.mkdtemp(prefix="winnow-copy-")
    for path, _, _ in listing:
        target = os.path.join(tmp, path[len(base) + 1:])
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open_read(path) as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    try:
        os.rename(tmp, dest)
    except OSError:  # another process on this machine finished first: use its copy
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def upload_tree(local: str, root: str) -> list[str]:
    """Copy every file under the local folder ``local`` to ``root`` (any filesystem)."""
    written = []
    for folder, _, names in os.walk(local):
        for name in sorted(names):
            src = os.path.join(folder, name)
            dest = join(root, os.path.relpath(src, local).replace(os.sep, "/"))
            with open(src, "rb") as f, open_write(dest) as out:
                shutil.copyfileobj(f, out, 1 << 20)
            written.append(dest)
    return written


def write_atomic(path: str, data: bytes) -> None:
    """Write ``path`` so that a reader sees the old content or the new, never a part: a
    local file through a uniquely named temporary file and a rename; an object store's
    single-object write is atomic already."""
    path = str(path)
    if is_remote(path):
        write_bytes(path, data)
        return
    import uuid

    folder, name = os.path.split(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".{name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())  # on disk before the rename makes it visible (a power loss)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


def list_tree(root: str) -> list[str]:
    """Every file under the folder (or object-store prefix) ``root``, sorted; none if absent."""
    root = str(root).rstrip("/")
    if not is_remote(root):
        found = []
        for folder, _, names in os.walk(root):
            found += [os.path.join(folder, n) for n in names]
        return sorted(found)
    return sorted(m.path for m in match(root + "/**"))


def delete_tree(root: str) -> None:
    """Remove the folder (or prefix) ``root`` and everything under it; absent is fine."""
    root = str(root).rstrip("/")
    if not is_remote(root):
        shutil.rmtree(root, ignore_errors=True)
        with contextlib.suppress(OSError):
            os.remove(root)  # a file or a dangling link of that name
        return
    delete(list_tree(root))


def move_tree(src: str, dest: str) -> None:
    """Move the file or folder ``src`` to ``dest``: one rename on a local disk (merged into a
    folder already at ``dest``; copied across filesystems); file by file on an object
    store, which has no folders to rename."""
    src, dest = str(src).rstrip("/"), str(dest).rstrip("/")
    if not (is_remote(src) or is_remote(dest)):
        if os.path.isdir(dest) and os.path.isdir(src) and not os.path.islink(src):
            # A folder already there (empty lang= folders, a user's file): merge into it.
            for name in sorted(os.listdir(src)):
                move_tree(os.path.join(src, name), os.path.join(dest, name))
            os.rmdir(src)
            return
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        shutil.move(src, dest)  # a rename; a copy and delete across filesystems (OUT a mount point)
        return
    files = [src] if is_file(src) else list_tree(src)
    rename(files, [dest + f[len(src):] for f in files])
