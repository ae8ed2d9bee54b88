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
``\\n`` and transformed in one pass each), and pure-ASCII text (most of it, after accent
stripping) takes ``str.translate``'s ASCII fast path.
"""
from __future__ import annotations

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


def _codepoints_in(category: str) -> list[int]:
    return [c for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == category]


_MN_RE = re.compile(_char_class(_codepoints_in("Mn")))
_DIGITS = _codepoints_in("Nd")

# One translation table for rules 4-6 (digits, punctuation, removal). Applying them in a
# single pass is equivalent to CCNet's sequence because no rule's output feeds another:
# digits are mapped before punctuation (so "１" -> "0"), and the punctuation table only
# produces printable ASCII.
_TABLE: dict[int, str | None] = {}
for _ch, _rep in UNICODE_PUNCT.items():
    _TABLE[ord(_ch)] = _rep
for _cp in _DIGITS:
    _TABLE[_cp] = "0"
for _ch in CONTROL_CHARS + INVISIBLE_CHARS:
    _TABLE[ord(_ch)] = None
# Lines are joined with "\n" during normalization; it must survive the removal pass.
# (No line can contain "\n" itself: str.splitlines splits on it.)
_TABLE[ord("\n")] = "\n"
# The subset that applies to ASCII text: str.translate has a fast path for ASCII input
# when the table maps ASCII to ASCII, so a small dedicated table keeps it tight.
_ASCII_TABLE = {cp: rep for cp, rep in _TABLE.items() if cp < 128}


def normalize_lines(text: str) -> list[str]:
    """Normalize a document; return its non-empty normalized lines, in order."""
    lines = [line for line in map(str.strip, text.splitlines()) if line]
    if not lines:
        return []
    joined = "\n".join(lines).lower()
    if not joined.isascii():
        joined = unicodedata.normalize("NFD", joined)
        joined = _MN_RE.sub("", joined)
    table = _ASCII_TABLE if joined.isascii() else _TABLE
    joined = joined.translate(table)
    return [line for line in joined.split("\n") if line]


def normalize(text: str) -> str:
    """Normalize a document, keeping line boundaries as ``\\n``."""
    return "\n".join(normalize_lines(text))

