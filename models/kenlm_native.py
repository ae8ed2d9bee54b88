"""ctypes binding of the native batch scorer (``native/winnow_kenlm.cc``).

``scripts/setup.sh`` compiles ``native/libwinnow_kenlm.so`` against the cached KenLM
build; ``WINNOW_KENLM_NATIVE`` may point at another copy. When the library is absent the
scorer falls back to the kenlm Python module (same numbers, slower) and says so once.
"""
from __future__ import annotations

import ctypes
import logging
import os
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

LIBRARY_NAME = "libwinnow_kenlm.so"
_lib = None
_tried = False


def library_path() -> Path:
    return Path(os.environ.get("WINNOW_KENLM_NATIVE", Path(__file__).parent / "native" / LIBRARY_NAME))


def load_library():
    """The loaded library, or None (with one warning) when it is not built."""
    global _lib, _tried
    if _tried:
        return _lib
    _tried = True
    path = library_path()
    if not path.is_file():
        log.warning("native KenLM batch scorer not found at %s; using the slower kenlm Python "
                    "module (run `bash scripts/setup.sh` to build it)", path)
        return None
    lib = ctypes.CDLL(str(path))
    lib.winnow_kenlm_load.restype = ctypes.c_void_p
    lib.winnow_kenlm_load.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t]
    lib.winnow_kenlm_free.argtypes = [ctypes.c_void_p]
    lib.winnow_kenlm_index_many.restype = None
    lib.winnow_kenlm_index_many.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p,
                                            ctypes.c_int64, ctypes.c_void_p]
    lib.winnow_kenlm_score_lines.restype = None
    lib.winnow_kenlm_score_lines.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                                             ctypes.c_int64, ctypes.c_void_p]
    _lib = lib
    return lib


class NativeKenLM:
    """A KenLM model scored through the native library, on KenLM word indices."""

    def __init__(self, lib, path: str | Path):
        self._lib = lib
        err = ctypes.create_string_buffer(1024)
        self._handle = lib.winnow_kenlm_load(str(path).encode(), err, len(err))
        if not self._handle:
            raise OSError(err.value.decode(errors="replace"))

    def __del__(self):
        handle, self._handle = getattr(self, "_handle", None), None
        if handle:
            self._lib.winnow_kenlm_free(handle)

    def vocab_map(self, words: list[str]) -> np.ndarray:
        """KenLM index of each word (0 = <unk>), as a lookup table for piece ids."""
        encoded = [w.encode("utf-8") for w in words]
        ends = np.cumsum([len(b) for b in encoded], dtype=np.int64)
        out = np.empty(len(words), dtype=np.uint32)
        self._lib.winnow_kenlm_index_many(self._handle, b"".join(encoded), ends.ctypes.data, len(words),
                                          out.ctypes.data)
        return out

    def score_lines(self, words: np.ndarray, lens: np.ndarray) -> np.ndarray:
        """log10 P of each line; ``words`` (uint32) holds the lines' indices back to back."""
        words = np.ascontiguousarray(words, dtype=np.uint32)
        lens = np.ascontiguousarray(lens, dtype=np.int64)
        assert int(lens.sum()) == len(words), "line lengths must add up to the word count"
        out = np.empty(len(lens), dtype=np.float64)
        self._lib.winnow_kenlm_score_lines(self._handle, words.ctypes.data, lens.ctypes.data,
                                           len(lens), out.ctypes.data)
        return out
