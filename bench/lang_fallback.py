"""Short English texts that language ID sends to another language, before and after the
fallback (issue 11, item 3).

    python bench/lang_fallback.py

Needs ../shared/data. For every English labelled set in harmful/ (tweets, comments, posts,
synthetic test suites: all English by construction), the share of texts fastText labels
as another language (then scored with that language's models, or none), and the share
still sent elsewhere with ``--lang-fallback en --lang-min-prob P`` (a document whose top
language has confidence below P is scored as English), for several P; and the price, the
share of non-English sentences (clean/multilingual_sentences.jsonl) then scored as English.

First run (2026-12-02, 110,821 English texts of 8 sets): 4.19% sent to another language
(ConvAbuse 25%, Hatemoji 10%, Davidson 6.4%); with the fallback at P = 0.5: 1.41% (a third),
at 0.6 (the default): 1.08%, at 0.7: 0.74%. The price: 17% (P 0.5), 21% (0.6) and 25% (0.7)
of the non-English sentences would be scored as English, so the fallback suits a corpus
known to be in one language. Requiring
English among fastText's top 2 guesses costs 2.7% there but recovers less (2.4% lost at 0.5).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.shared_corpora import DATA, require_data  # noqa: E402

from winnow.models.langid import LanguageIdentifier  # noqa: E402
from winnow.pipeline.stages import LANG_MIN_PROB  # noqa: E402

FLOORS = tuple(sorted({0.3, 0.5, 0.7, LANG_MIN_PROB}))  # the default among them


def main() -> None:
    require_data()
    lid = LanguageIdentifier()
    table = {}
    for path in sorted((DATA / "harmful").glob("*_en.jsonl")):
        texts = [json.loads(line)["text"] for line in open(path, encoding="utf-8")]
        got = [p for batch in range(0, len(texts), 4096) for p in lid.predict(texts[batch:batch + 4096])]
        other = [(lang, prob) for lang, prob in got if lang != "en"]
        row = {"texts": len(texts), "lost_before": round(len(other) / len(texts), 4)}
        for floor in FLOORS:
            row[f"lost_after_p{floor}"] = round(sum(prob >= floor for _, prob in other) / len(texts), 4)
        table[path.stem] = row
        print(path.stem, row, flush=True)
    total = sum(r["texts"] for r in table.values())
    summary = {"texts": total, "lost_before": round(sum(r["lost_before"] * r["texts"] for r in table.values()) / total, 4)}
    for floor in FLOORS:
        key = f"lost_after_p{floor}"
        summary[key] = round(sum(r[key] * r["texts"] for r in table.values()) / total, 4)
    # The price: non-English sentences fastText is unsure of, scored as English instead.
    rows = [json.loads(line) for line in open(DATA / "clean" / "multilingual_sentences.jsonl", encoding="utf-8")]
    rows = [r for r in rows if r["lang"] != "en"]
    got = [p for b in range(0, len(rows), 4096) for p in lid.predict([r["text"] for r in rows[b:b + 4096]])]
    price = {"sentences": len(rows)}
    for floor in FLOORS:
        price[f"to_english_p{floor}"] = round(sum(lang != "en" and prob < floor for lang, prob in got) / len(rows), 4)
    print(json.dumps({"sets": table, "all": summary, "non_english_sentences": price}, indent=2))


if __name__ == "__main__":
    main()
