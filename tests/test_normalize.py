"""The fast normalizer against the rule-by-rule reference, plus the rules themselves."""
import json
import unicodedata

import pytest
from hypothesis import given, settings, strategies as st

from reference_normalizer import normalize_line as ref_line, normalize_lines as ref_lines
from winnow.models.normalize import NORMALIZER_VERSION, UNICODE_PUNCT, normalize, normalize_lines

from conftest import shared_data


@pytest.mark.parametrize("text, expected", [
    ("Héllo Wörld, çà et là", ["hello world, ca et la"]),                 # accents
    ("Ångström Ñandú ŒUVRE ß", ["angstrom nandu œuvre ß"]),                # decomposable vs not
    ("Call 555-1234 in 2024", ["call 000-0000 in 0000"]),                  # ASCII digits
    ("٣ ३ ৩ ๓ １２", ["0 0 0 0 00"]),                                       # digits of other scripts
    ("“Quote” «guillemets» ‘single’ —dash– …", ['"quote" "guillemets" ‘single\'  - dash- ...']),
    ("你好，世界。「引用」（括号）！", ['你好,世界.\"引用\"(括号)!']),          # CJK punctuation
    ("zero\u200bwidth\u200cjoin\u200dx\ufeffbom soft\u00adhyphen", ["zerowidthjoinxbom softhyphen"]),
    ("bidi \u202eoverride\u202c \u2066isolate\u2069 \u200eltr", ["bidi override isolate ltr"]),
    ("ctrl\x00\x07\x1b[0m\x7f\x9fx", ["ctrl[0mx"]),                         # C0/C1 controls
    ("tab\tseparated", ["tabseparated"]),                                  # CCNet removes tabs
    ("مرحبا بالعالم ١٢٣", ["مرحبا بالعالم 000"]),                           # RTL: Arabic
    ("שָׁלוֹם עולם", ["שלום עולם"]),                                          # Hebrew points are Mn
    ("a\r\nb\rc\nd\u2028e\u2029f\x0bg\x0ch", list("abcdefgh")),            # mixed line endings
    ("  first  \n\n   \n  second\t ", ["first", "second"]),               # blank lines dropped
    ("ΟΔΟΣ ΣΟΦΟΣ", ["οδος σοφος"]),                                        # final sigma
    ("", []),
    ("\x00\x01", []),                                                      # nothing printable left
])
def test_rules(text, expected):
    assert normalize_lines(text) == expected
    assert ref_lines(text) == expected


def test_normalize_joins_lines():
    assert normalize("A\r\nB") == "a\nb"


def test_korean_is_decomposed_like_ccnet():
    # CCNet keeps NFD output: Hangul syllables become conjoining jamo (category Lo).
    out = normalize("한국어")
    assert out == unicodedata.normalize("NFD", "한국어")
    assert out == ref_line("한국어")


def test_ccnet_punct_table_is_verbatim():
    assert UNICODE_PUNCT["—"] == " - " and UNICODE_PUNCT["．"] == ". " and len(UNICODE_PUNCT) == 34


def test_version_is_named():
    assert NORMALIZER_VERSION == "winnow-norm-1"


# Characters that exercise every rule, mixed with anything Unicode has.
_SPECIAL = list(UNICODE_PUNCT) + ["\u200b", "\u200d", "\ufeff", "\u00ad", "\u202e", "\x00", "\x1b",
                                  "\x85", "\t", "\r\n", "\r", "\n", "\u2028", " ", "É", "é", "Σ",
                                  "ς", "İ", "٣", "１", "ﬁ", "ǅ", "\u0301", "한", "\u3000", "\xa0"]
text_strategy = st.lists(
    st.one_of(st.sampled_from(_SPECIAL), st.characters(codec="utf-8"), st.text(max_size=5)),
    max_size=60,
).map("".join)


@settings(max_examples=1500, deadline=None)
@given(text_strategy)
def test_fast_equals_reference_generated(text):
    assert normalize_lines(text) == ref_lines(text)


def test_fast_equals_reference_on_real_web_text():
    path = shared_data("web", "dragnet_texts_en.jsonl")
    other = shared_data("web", "turku_register_multilingual.jsonl")
    n = 0
    for p, limit in ((path, None), (other, 1500)):
        with open(p, encoding="utf-8") as f:
            for i, line in enumerate(f):
                if limit is not None and i >= limit:
                    break
                text = json.loads(line)["text"]
                assert normalize_lines(text) == ref_lines(text), f"{p.name} record {i}"
                n += 1
    assert n > 2000
