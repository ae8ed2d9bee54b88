"""``fakefs://``: a non-local Beam filesystem for tests, backed by a folder on disk.

``fakefs://bucket/key`` lives at ``$WINNOW_FAKEFS_ROOT/bucket/key``. Like an object store it
is reachable only through Beam's ``FileSystems`` (pathlib and ``open`` see no such path),
so a test that passes proves a code path goes through Winnow's filesystem layer. Importing
this module registers the scheme (Beam finds ``FileSystem`` subclasses by their scheme).
"""
from __future__ import annotations

import os
import posixpath

from apache_beam.io.filesystem import FileMetadata
from apache_beam.io.localfilesystem import LocalFileSystem

SCHEME = "fakefs"
PREFIX = f"{SCHEME}://"


def root() -> str:
    return os.environ["WINNOW_FAKEFS_ROOT"]


def to_local(uri: str) -> str:
    assert uri.startswith(PREFIX), uri
    return os.path.join(root(), uri[len(PREFIX):])


def to_uri(path: str) -> str:
    return PREFIX + os.path.relpath(path, root()).replace(os.sep, "/")


class FakeFileSystem(LocalFileSystem):
    @classmethod
    def scheme(cls):
        return SCHEME

    def join(self, basepath, *paths):
        return posixpath.join(basepath, *paths)

    def split(self, path):
        return posixpath.split(path)

    def mkdirs(self, path):
        return super().mkdirs(to_local(path))

    def has_dirs(self):
        return False  # like gs:// and s3://: keys, not folders

    def _url_dirname(self, url_or_path):
        return posixpath.dirname(url_or_path)

    def _list(self, dir_or_prefix):
        # Every key that starts with the prefix, as an object store lists them.
        for folder, _, names in os.walk(os.path.dirname(to_local(dir_or_prefix))):
            for name in names:
                uri = to_uri(os.path.join(folder, name))
                if uri.startswith(dir_or_prefix):
                    local = to_local(uri)
                    yield FileMetadata(uri, os.path.getsize(local), os.path.getmtime(local))

    def create(self, path, *args, **kwargs):
        os.makedirs(os.path.dirname(to_local(path)), exist_ok=True)
        return super().create(to_local(path), *args, **kwargs)

    def open(self, path, *args, **kwargs):
        return super().open(to_local(path), *args, **kwargs)

    def copy(self, sources, destinations):
        return super().copy([to_local(p) for p in sources], [to_local(p) for p in destinations])

    def rename(self, sources, destinations):
        for d in destinations:
            os.makedirs(os.path.dirname(to_local(d)), exist_ok=True)
        return super().rename([to_local(p) for p in sources], [to_local(p) for p in destinations])

    def exists(self, path):
        return os.path.isfile(to_local(path))  # keys exist, "folders" do not

    def size(self, path):
        return super().size(to_local(path))

    def last_updated(self, path):
        return super().last_updated(to_local(path))

    def checksum(self, path):
        return super().checksum(to_local(path))

    def metadata(self, path):
        local = to_local(path)
        return FileMetadata(path, os.path.getsize(local), os.path.getmtime(local))

    def delete(self, paths):
        for path in paths:
            os.remove(to_local(path))

    def report_lineage(self, path, lineage, *args, **kwargs):
        return None
