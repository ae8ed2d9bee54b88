"""Build the bundled sample corpus from pools.py (deterministic; output is committed).

    python sample/make_sample.py

Writes:
  sample/train/<lang>_clean.txt, sample/train/en_harmful.txt   model training text
  sample/web/sample.jsonl      documents: {id, text, kind} (kind: clean, spam, boilerplate,
                               crude, mixed, other_lang, empty), the input of the demo job
  sample/web/sample.warc.gz    some of them as HTML pages in WARC response records, plus a
                               request record, an image and a 404, as a crawl would have
"""
from __future__ import annotations

import gzip
import json
import random
import uuid
from html import escape
from pathlib import Path

from pools import BOILERPLATE, CLEAN, CRUDE, SPAM

HERE = Path(__file__).resolve().parent
OTHER_LANG = [
    "Il ponte vecchio è stato riparato la scorsa estate e ora i ciclisti possono attraversare il fiume.",
    "La biblioteca comunale offre corsi gratuiti di lingue e di informatica per adulti.",
    "A ponte velha foi reparada no verão passado e agora os ciclistas podem atravessar o rio.",
    "A biblioteca oferece cursos gratuitos de línguas e de informática para adultos.",
    "De oude brug is vorige zomer hersteld en nu kunnen fietsers de rivier oversteken.",
]


def main() -> None:
    rng = random.Random(20261128)
    train, web = HERE / "train", HERE / "web"
    train.mkdir(exist_ok=True)
    web.mkdir(exist_ok=True)

    # Training text: two thirds of each clean pool, and ten of the crude comments.
    for lang, pool in CLEAN.items():
        cut = (2 * len(pool)) // 3
        (train / f"{lang}_clean.txt").write_text("\n".join(pool[:cut]) + "\n", encoding="utf-8")
    (train / "en_harmful.txt").write_text("\n".join(CRUDE[:10]) + "\n", encoding="utf-8")

    docs = []

    def add(kind, lines):
        docs.append({"id": f"sample-{len(docs):04d}", "text": "\n".join(lines), "kind": kind})

    for lang, n in (("en", 90), ("de", 40), ("fr", 35), ("es", 30)):
        for _ in range(n):
            add("clean", rng.sample(CLEAN[lang], rng.randint(2, 4)))
    for lang, n in (("en", 20), ("de", 6), ("fr", 4)):
        for _ in range(n):
            add("spam", [rng.choice(SPAM[lang]) for _ in range(rng.randint(1, 3))])
    for lang, n in (("en", 15), ("de", 6)):
        for _ in range(n):
            add("boilerplate", rng.sample(BOILERPLATE[lang], rng.randint(2, len(BOILERPLATE[lang]))))
    for _ in range(30):
        add("crude", rng.sample(CRUDE, rng.randint(1, 2)))
    for _ in range(15):
        add("mixed", rng.sample(BOILERPLATE["en"], 2) + rng.sample(CLEAN["en"], 2))
    for line in OTHER_LANG:
        add("other_lang", [line])
    for text in ("", "   ", "\n\n"):
        docs.append({"id": f"sample-{len(docs):04d}", "text": text, "kind": "empty"})
    rng.shuffle(docs)

    with open(web / "sample.jsonl", "w", encoding="utf-8") as f:
        for d in docs:
            f.write(json.dumps(d, ensure_ascii=False) + "\n")
    write_warc(web / "sample.warc.gz", docs[:60], rng)
    print(f"{len(docs)} documents -> {web / 'sample.jsonl'}; 60 pages -> {web / 'sample.warc.gz'}")


def page(doc: dict) -> bytes:
    paragraphs = "".join(f"<p>{escape(line)}</p>\n" for line in doc["text"].splitlines())
    return (
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Sample page</title></head><body>\n"
        "<nav><a href=\"/\">Home</a> | <a href=\"/about\">About</a> | <a href=\"/contact\">Contact</a></nav>\n"
        f"<main><article><h1>Page {escape(doc['id'])}</h1>\n{paragraphs}</article></main>\n"
        "<footer>Copyright 2026 Sample Site. All rights reserved.</footer></body></html>\n"
    ).encode("utf-8")


def warc_record(rtype: str, url: str, payload: bytes, rng: random.Random, content_type: str) -> bytes:
    rid = uuid.UUID(int=rng.getrandbits(128), version=4)
    head = (f"WARC/1.0\r\nWARC-Type: {rtype}\r\nWARC-Target-URI: {url}\r\n"
            f"WARC-Date: 2026-11-28T00:00:00Z\r\nWARC-Record-ID: <urn:uuid:{rid}>\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {len(payload)}\r\n\r\n").encode()
    # One gzip member per record, as Common Crawl writes them; mtime fixed for reproducibility.
    return gzip.compress(head + payload + b"\r\n\r\n", mtime=0)


def http_response(status: str, ctype: str, body: bytes) -> bytes:
    return (f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body


def write_warc(path: Path, docs: list[dict], rng: random.Random) -> None:
    out = []
    for i, doc in enumerate(docs):
        url = f"http://sample.winnow.test/{doc['id']}"
        if i == 0:
            req = f"GET /{doc['id']} HTTP/1.1\r\nHost: sample.winnow.test\r\n\r\n".encode()
            out.append(warc_record("request", url, req, rng, "application/http; msgtype=request"))
        body = http_response("200 OK", "text/html; charset=utf-8", page(doc))
        out.append(warc_record("response", url, body, rng, "application/http; msgtype=response"))
    png = b"\x89PNG\r\n\x1a\n" + bytes(rng.getrandbits(8) for _ in range(64))
    out.append(warc_record("response", "http://sample.winnow.test/logo.png",
                           http_response("200 OK", "image/png", png), rng, "application/http; msgtype=response"))
    out.append(warc_record("response", "http://sample.winnow.test/missing",
                           http_response("404 Not Found", "text/html", b"<html><body>Not found</body></html>"),
                           rng, "application/http; msgtype=response"))
    path.write_bytes(b"".join(out))


if __name__ == "__main__":
    main()
