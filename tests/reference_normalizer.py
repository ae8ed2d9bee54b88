"""Rule-by-rule reference for the normalizer, written the way CCNet writes it.

Deliberately slow and obvious: each rule of ``winnow.models.normalize`` is one step here,
in CCNet's order, applied to one line at a time. The fast implementation must match it
exactly on every input.
"""
import re
import unicodedata

from winnow.models.normalize import CONTROL_CHARS, INVISIBLE_CHARS, UNICODE_PUNCT

DIGIT_RE = re.compile(r"\d")
NON_PRINTING_RE = re.compile("[" + "".join(map(re.escape, CONTROL_CHARS + INVISIBLE_CHARS)) + "]")


def strip_accents(line: str) -> str:
    nfd = unicodedata.normalize("NFD", line)
    return "".join(c for c in nfd if unicodedata.category(c) != "Mn")


def replace_unicode_punct(text: str) -> str:
    return "".join(UNICODE_PUNCT.get(c, c) for c in text)


def normalize_line(line: str) -> str:
    line = line.strip()
    if not line:
        return line
    line = line.lower()
    line = strip_accents(line)
    line = DIGIT_RE.sub("0", line)
    line = replace_unicode_punct(line)
    line = NON_PRINTING_RE.sub("", line)
    return line


def normalize_lines(text: str) -> list:
    return [out for out in (normalize_line(line) for line in text.splitlines()) if out]
