"""VARCHAR values with NUL characters are stored as given (found in the QA pass of fd3c479).

``columns.encode_string_array`` took the strings' lengths from ``np.strings.str_len``, which
does not count trailing NUL characters (NumPy treats them as padding). A batch holding
``"ab\\x00"`` was logged with a length one short, so every later string of that call read
shifted after reopening (``['ab', '\\x00c', '', 'd\\x00\\x00ef']`` for ``['ab\\x00', 'cd',
'\\x00\\x00', 'ef']``), silently: the checksums cover the wrong bytes. The lengths now come
from the Python strings."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from kill_harness import check_cli

from embedb import MilvusClient
from embedb.engine.columns import STRING_DTYPE, decode_texts, encode_string_array, encode_texts

ALPHABET = ["a", "Z", "0", " ", "\x00", "\x7f", "\x80", "é", "中", "😀", "\u0301", "\n", "\U0010ffff"]


def test_text_encoders_equal_per_string_utf8_with_nul_characters():
    rng = random.Random(0)
    for _ in range(2000):
        pool = ALPHABET[: rng.choice([5, len(ALPHABET)])]   # ASCII-only batches too
        texts = ["".join(rng.choice(pool) for _ in range(rng.randint(0, 6)))
                 for _ in range(rng.randint(1, 8))]
        want_lengths = [len(t.encode()) for t in texts]
        want_data = b"".join(t.encode() for t in texts)
        for lengths, data in (encode_texts(texts),
                              encode_string_array(np.array(texts, dtype=STRING_DTYPE))):
            assert lengths.tolist() == want_lengths and bytes(data) == want_data, texts
            assert decode_texts(lengths, data) == texts


# ASCII only: such a batch is encoded in one piece, with the lengths the bug took from str_len
TEXTS = ["ab\x00", "cd", "\x00\x00", "ef", "\x00lead", "in\x00ner", "", "end\x00\x00\x00", "z"]

WRITER = textwrap.dedent(r'''
    import json, os, sys
    from embedb import DataType, MilvusClient
    path, how, texts = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    c = MilvusClient(path)
    if not c.has_collection("c"):
        s = c.create_schema(enable_dynamic_field=True)
        s.add_field("id", DataType.INT64, is_primary=True)
        s.add_field("v", DataType.FLOAT_VECTOR, dim=2)
        s.add_field("t", DataType.VARCHAR, max_length=32, nullable=True)
        s.add_field("k", DataType.VARCHAR, max_length=32)
        ix = c.prepare_index_params()
        ix.add_index("v", index_type="FLAT", metric_type="L2")
        c.create_collection("c", schema=s, index_params=ix)
    c.insert("c", [{"id": i, "v": [float(i), 0.0], "t": t if i % 4 else None, "k": texts[-1 - i], "d": t}
                   for i, t in enumerate(texts)])
    if how == "crash":
        os._exit(0)   # no close, no checkpoint: the next open replays the log
    if how == "beside":   # a snapshot, then rows appended beside its still undecoded text
        c.close()
        c = MilvusClient(path)
        c.insert("c", [{"id": 100, "v": [0.0, 1.0], "t": "x\x00", "k": "\x00", "d": "y\x00"}])
    c.close()
''')


@pytest.mark.parametrize("how", ["close", "crash", "beside"])
def test_varchar_with_nul_characters_survives_reopening(tmp_path, how):
    path = tmp_path / "nul.db"
    subprocess.run([sys.executable, "-c", WRITER, str(path), how, json.dumps(TEXTS)], check=True,
                   timeout=120)
    want = {i: (t if i % 4 else None, TEXTS[-1 - i], t) for i, t in enumerate(TEXTS)}
    if how == "beside":
        want[100] = ("x\x00", "\x00", "y\x00")
    c = MilvusClient(str(path))
    c.load_collection("c")
    got = {r["id"]: (r["t"], r["k"], r.get("d")) for r in c.query("c", filter="", output_fields=["*"])}
    c.close()
    assert got == want
    check_cli(path)


def test_max_length_counts_trailing_nul_characters(tmp_path):
    """The max_length check counted characters with np.strings.str_len too: "ab" followed by
    ten NULs passed max_length 4 (found in the same QA pass; the check dates from 12-02)."""
    from embedb import DataType
    from embedb.errors import DataError

    c = MilvusClient(str(tmp_path / "ml.db"))
    s = c.create_schema()
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("v", DataType.FLOAT_VECTOR, dim=2)
    s.add_field("t", DataType.VARCHAR, max_length=4)
    c.create_collection("c", schema=s)
    for i, t in enumerate(["abcde", "ab" + "\x00" * 10, "\x00" * 5]):
        with pytest.raises(DataError, match="exceeds max_length 4"):
            c.insert("c", [{"id": i, "v": [0.0, 0.0], "t": t}])
    c.insert("c", [{"id": 9, "v": [0.0, 0.0], "t": "a\x00\x00\x00"}])   # four characters: fits
    c.close()
