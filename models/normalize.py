"""Text normalization applied before SentencePiece, versioned and CCNet-compatible.

Rules of ``NORMALIZER_VERSION`` (``winnow-norm-1``), applied to each line of a document
(lines are split with :meth:`str.splitlines`, so ``\\n``, ``\\r\\n``, ``\\r`` and the Unicode
line/paragraph separators are all line boundaries):

1. strip surrounding whitespace (a line that is then empty is dropped);
2. lowercase;
3. strip accents: Unicode NFD, then remove every non-spacing mark (category ``Mn``);
4. every decimal digit (category ``Nd``, any script) becomes ``0``;
5. CCNet's Unicode punctuation table maps to ASCII (``，`` → ``,``, ``“`` → ``"``, ``—`` → ``" - "``, ...);
6. remove non-printing characters: C0 and C1 controls (as CCNet) **and** invisible
   format characters (zero-width space/joiners, soft hyphen, bidi marks and isolates,
   word joiner, BOM), which CCNet leaves in, so that ``foo\\u200bbar`` scores as ``foobar``.

Rules 1–5 and the control-character part of 6 are exactly CCNet's ``text_normalizer.normalize``
(accent, case, numbers, punct=1). A straightforward rule-by-rule implementation lives in
``tests/reference_normalizer.py``; this one must produce identical output, which the tests
check on real and generated text.

Speed: CCNet normalizes with one Python-level generator per character; here every rule is
a C-level string operation over the whole document (lines are stripped, then joined with
``\\n`` and transformed in one pass per rule), and pure-ASCII text (most of it, after
accent stripping) takes ``str.translate``'s ASCII fast path.
"""
from __future__ import annotations

import itertools
import re
import sys
import unicodedata

NORMALIZER_VERSION = "winnow-norm-1"

# CCNet's table (cc_net/text_normalizer.py), kept verbatim. Its entry for the fullwidth
# digit "１" never applies, because digits become "0" first.
UNICODE_PUNCT = {
    "，": ",", "。": ".", "、": ",", "„": '"', "”": '"', "“": '"', "«": '"', "»": '"',
    "１": '"', "」": '"', "「": '"', "《": '"', "》": '"', "´": "'", "∶": ":", "：": ":",
    "？": "?", "！": "!", "（": "(", "）": ")", "；": ";", "–": "-", "—": " - ", "．": ". ",
    "～": "~", "’": "'", "…": "...", "━": "-", "〈": "<", "〉": ">", "【": "[", "】": "]",
    "％": "%", "►": "-",
}

# C0 and C1 control characters, as CCNet removes them.
CONTROL_CHARS = [chr(c) for c in list(range(0, 32)) + list(range(127, 160))]

# Invisible format characters (category Cf) that carry no text: soft hyphen, Mongolian
# vowel separator, zero-width space/non-joiner/joiner, LRM/RLM, bidi embeddings and
# overrides, word joiner and invisible operators, bidi isolates, deprecated format
# characters, BOM / zero-width no-break space.
INVISIBLE_CHARS = [chr(c) for c in (
    [0x00AD, 0x180E, 0xFEFF]
    + list(range(0x200B, 0x2010))
    + list(range(0x202A, 0x202F))
    + list(range(0x2060, 0x2065))
    + list(range(0x2066, 0x2070))
)]


def _char_class(codepoints: list[int]) -> str:
    """A regex character class matching exactly ``codepoints`` (as compact ranges)."""
    parts = []
    start = prev = None
    for cp in sorted(codepoints):
        if start is None:
            start = prev = cp
        elif cp == prev + 1:
            prev = cp
        else:
            parts.append((start, prev))
            start = prev = cp
    if start is not None:
        parts.append((start, prev))
    out = []
    for a, b in parts:
        out.append(re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}")
    return "[" + "".join(out) + "]"


def _codepoints_by_category(*categories: str) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {c: [] for c in categories}
    category = unicodedata.category
    # Planes 0-3 and 14 hold every assigned character that is not private use; skipping
    # the rest keeps import time low.
    for cp in itertools.chain(range(0x40000), range(0xE0000, 0xF0000)):
        cat = category(chr(cp))
        if cat in out:
            out[cat].append(cp)
    return out


_BY_CATEGORY = _codepoints_by_category("Mn", "Nd")
_MN, _ND = _BY_CATEGORY["Mn"], _BY_CATEGORY["Nd"]
_REMOVED = [ord(c) for c in CONTROL_CHARS + INVISIBLE_CHARS if c != "\n"]
# "\n" joins lines during normalization and must survive (no line contains one itself).

# Python's re matches a character class whose members are all in the BMP through a bitmap,
# but scans a list of ranges once any member is above U+FFFF (30x slower on real text).
# So each class has a BMP-only pattern and a full one; the full one is used only for
# strings that contain astral characters at all, which is rare.
_DIGIT_BMP_RE = re.compile(_char_class([c for c in _ND if c <= 0xFFFF]))
_DIGIT_ALL_RE = re.compile(r"\d")  # any Nd digit, as CCNet's DIGIT_RE
# Rule 3's non-spacing marks and rule 6's removals share one pass: no mark is a digit, a
# punctuation key or a line break, so removing marks after rules 4-5 changes nothing.
_STRIP_BMP_RE = re.compile(_char_class([c for c in _MN if c <= 0xFFFF] + _REMOVED))
_STRIP_ALL_RE = re.compile(_char_class(_MN + _REMOVED))
_PUNCT_RE = re.compile(_char_class([ord(c) for c in UNICODE_PUNCT]))


def _punct(match: re.Match) -> str:
    return UNICODE_PUNCT[match.group()]


_ASTRAL_RE = re.compile("[\U00010000-\U0010FFFF]")


def _has_astral_regex(s: str) -> bool:
    return _ASTRAL_RE.search(s) is not None


# CPython stores a string with 4 bytes per character exactly when it holds a character
# above U+FFFF, and sys.getsizeof reveals the width in O(1). A wider-than-needed string
# only costs speed (the full patterns are also correct for BMP text), never correctness.
_UCS4_BASE = sys.getsizeof("\U00010000") - 8


def _has_astral_sizeof(s: str) -> bool:
    return sys.getsizeof(s) == _UCS4_BASE + 4 * (len(s) + 1)


_has_astral = (
    _has_astral_sizeof
    if all(_has_astral_sizeof(t) == _has_astral_regex(t) for t in ("a\U00010000b", "\u00e9" * 3, "\uffff", "x"))
    else _has_astral_regex
)

# Pure-ASCII text (most web text) takes str.translate's ASCII fast path: digits -> "0",
# controls removed, in one pass. (For non-ASCII text a dict table is slow: every unmapped
# character costs a KeyError inside translate.)
_ASCII_TABLE: dict[int, str | None] = {ord(d): "0" for d in "0123456789"}
_ASCII_TABLE.update({c: None for c in _REMOVED if c < 128})


def normalize_lines(text: str) -> list[str]:
    """Normalize a document; return its non-empty normalized lines, in order."""
    lines = [line for line in map(str.strip, text.splitlines()) if line]
    if not lines:
        return []
    joined = "\n".join(lines).lower()
    if joined.isascii():
        joined = joined.translate(_ASCII_TABLE)
    else:
        if not unicodedata.is_normalized("NFD", joined):
            joined = unicodedata.normalize("NFD", joined)
        astral = _has_astral(joined)
        # digits before punctuation, as CCNet (so "１" -> "0"); the punctuation table
        # only produces printable ASCII, which no later step touches.
        joined = (_DIGIT_ALL_RE if astral else _DIGIT_BMP_RE).sub("0", joined)
        joined = (_STRIP_ALL_RE if astral else _STRIP_BMP_RE).sub("", joined)
        joined = _PUNCT_RE.sub(_punct, joined)
    return [line for line in joined.split("\n") if line]


def normalize(text: str) -> str:
    """Normalize a document, keeping line boundaries as ``\\n``."""
    return "\n".join(normalize_lines(text))

