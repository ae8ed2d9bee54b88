"""Generated bad inputs for the robustness tests, with the accounting each must produce."""
from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

GOOD = "The old bridge was repaired last summer, and cyclists can now cross the river."


def make_bad_inputs(folder: Path) -> dict[str, dict]:
    """Write the files; return file name -> expected {"read": n, "rejected": {reason: n}}."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(7)
    expect = {}

    lines = [json.dumps({"id": f"g{i}", "text": f"{GOOD} {rng.getrandbits(256):x}"}) for i in range(400)]
    blob = gzip.compress(("\n".join(lines) + "\n").encode())
    (folder / "corrupt.jsonl.gz").write_bytes(blob[: len(blob) // 2])  # cut mid-stream
    expect["corrupt.jsonl.gz"] = {"rejected": {"corrupt_file": 1}, "min_docs": 1}

    (folder / "invalid_utf8.jsonl").write_bytes(
        json.dumps({"text": GOOD}).encode() + b"\n" + b'{"text": "caf\xe9 \xff\xfe"}\n')
    expect["invalid_utf8.jsonl"] = {"read": 2, "rejected": {"invalid_utf8": 1}}

    (folder / "junk.jsonl").write_bytes(bytes(rng.getrandbits(8) for _ in range(4096)).replace(b"\n", b"x"))
    expect["junk.jsonl"] = {"read": 1, "rejected_any": 1}

    (folder / "empty_text.jsonl").write_text(
        "\n".join(json.dumps({"text": t}) for t in ("", "   ", "\n\t\n")) + "\n")
    expect["empty_text.jsonl"] = {"read": 3, "rejected": {}, "dropped": {"empty": 3}}

    with open(folder / "big.jsonl", "w") as f:
        f.write(json.dumps({"id": "big", "text": "word " * 4_000_000}) + "\n")  # a 20 MB line
        f.write(json.dumps({"id": "after-big", "text": GOOD}) + "\n")
    expect["big.jsonl"] = {"read": 2, "rejected": {"too_large": 1}}

    rows = [{"text": GOOD}, {"id": 1}, {"text": 5}, {"text": None}, {"text": ["a"]}, [1, 2], "just a string",
            {"text": GOOD, "id": 7}]
    (folder / "fields.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n{broken\n")
    expect["fields.jsonl"] = {"read": 9, "rejected": {"missing_field": 1, "bad_type": 3, "not_an_object": 2,
                                                      "invalid_json": 1}}

    pq.write_table(pa.table({"body": [1, 2, 3]}), folder / "wrong_schema.parquet")
    expect["wrong_schema.parquet"] = {"read": 3, "rejected": {"bad_schema": 3}}  # one per row: every row counted

    pq.write_table(pa.table({"id": ["p1", "p2", "p3"], "text": [GOOD, None, "Der Fluss fließt durch das Tal."]}),
                   folder / "good.parquet")
    expect["good.parquet"] = {"read": 3, "rejected": {"missing_field": 1}}

    (folder / "not_really.parquet").write_bytes(b"PAR1" + bytes(rng.getrandbits(8) for _ in range(300)))
    expect["not_really.parquet"] = {"read": 1, "rejected": {"corrupt_file": 1}}

    (folder / "empty.jsonl").write_bytes(b"")
    expect["empty.jsonl"] = {"read": 0, "rejected": {}}

    (folder / "nested.jsonl").write_text("[" * 100_000 + "\n" + json.dumps({"text": GOOD}) + "\n")
    expect["nested.jsonl"] = {"read": 2, "rejected": {"invalid_json": 1}}

    (folder / "surrogate.jsonl").write_text('{"text": "bad \\ud800 half", "id": "x\\udfff"}\n'
                                            + json.dumps({"text": GOOD}) + "\n")
    expect["surrogate.jsonl"] = {"read": 2, "rejected": {"invalid_utf8": 1}}

    import zstandard
    # zstd decodes whole blocks (up to 128 KiB): make several, so some precede the cut.
    many = [json.dumps({"id": f"z{i}", "text": f"{GOOD} {rng.getrandbits(128):x}"}) for i in range(8000)]
    blob = zstandard.ZstdCompressor().compress(("\n".join(many) + "\n").encode())
    (folder / "cut.jsonl.zst").write_bytes(blob[: len(blob) // 2])
    expect["cut.jsonl.zst"] = {"rejected": {"corrupt_file": 1}, "min_docs": 1}

    import bz2
    (folder / "ok.jsonl.bz2").write_bytes(bz2.compress(("\n".join(lines[:5]) + "\n").encode()))
    expect["ok.jsonl.bz2"] = {"read": 5, "rejected": {}}
    return expect
