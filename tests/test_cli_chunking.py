"""embedb.cli.chunking: file discovery, loaders, chunking with overlap, content hashes."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from embedb.cli.chunking import (chunk_documents, chunk_text, content_hash, find_files,
                                 load_documents)
from embedb.errors import ParamError

words = st.lists(st.text(alphabet="abcdefghij", min_size=1, max_size=12), min_size=1, max_size=300)


@settings(max_examples=100, deadline=None)
@given(words, st.integers(20, 300), st.data())
def test_chunks_cover_text_within_size(ws, size, data):
    overlap = data.draw(st.integers(0, size - 1))
    ws = [f"{w}{i}" for i, w in enumerate(ws)]  # unique words: each chunk has one place
    text = " ".join(ws)
    chunks = chunk_text(text, size, overlap)
    assert all(0 < len(c) <= size for c in chunks)
    # every word survives whole in some chunk when words are shorter than half a chunk
    if max(map(len, ws)) < size // 2:
        joined = "\n".join(chunks)
        assert all(w in joined for w in ws)
    # chunks appear in order and (re)assemble the whole text
    # (searched from just past the previous chunk's start: a short chunk such as "2", cut from a
    # word longer than half a chunk, also occurs inside earlier words such as "a2")
    start, end = -1, 0
    for c in chunks:
        start = text.find(c, start + 1)
        assert start != -1
        assert text[end:start].strip() == ""  # no gap between chunks but whitespace
        end = max(end, start + len(c))
    assert end == len(text.strip())


def test_overlap_repeats_the_seam():
    text = " ".join(f"word{i}" for i in range(200))
    chunks = chunk_text(text, 100, 30)
    for a, b in zip(chunks, chunks[1:]):
        assert a.split()[-1] in b  # the last word of a chunk starts the next one again
    no_overlap = chunk_text(text, 100, 0)
    assert sum(map(len, no_overlap)) < sum(map(len, chunks))
    assert chunk_text("  short  ", 100, 10) == ["short"]
    assert chunk_text("   ", 100, 10) == []


def test_prefers_paragraph_breaks():
    text = "A" * 50 + ".\n\n" + "B" * 40 + ". " + "C" * 30
    chunks = chunk_text(text, 100, 0)
    assert chunks[0] == "A" * 50 + "."


@pytest.mark.parametrize("size,overlap", [(0, 0), (10, 10), (10, -1)])
def test_bad_chunk_settings(size, overlap):
    with pytest.raises(ParamError, match="chunk"):
        chunk_text("abc", size, overlap)


def test_find_files_and_loaders(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / ".hidden").mkdir()
    (tmp_path / "a.txt").write_text("plain text")
    (tmp_path / "sub" / "b.md").write_text("# Title\n\nMarkdown body")
    (tmp_path / "rows.jsonl").write_text(
        json.dumps({"id": 7, "title": "T", "text": "row one", "tag": "x"}) + "\n\n"
        + json.dumps({"content": "row two", "source": "web"}) + "\n")
    (tmp_path / "t.csv").write_text("body,year,code,ratio\nfirst,2001,007,0.5\nsecond,2002,x,-1.25e2\n")
    (tmp_path / "skip.bin").write_bytes(b"\0")
    (tmp_path / ".hidden" / "c.txt").write_text("hidden")
    files = find_files([tmp_path])
    assert [f.name for f in files] == ["a.txt", "rows.jsonl", "b.md", "t.csv"]
    assert load_documents(tmp_path / "a.txt")[0].text == "plain text"
    rows = load_documents(tmp_path / "rows.jsonl")
    assert rows[0].text == "T. row one" and rows[0].metadata == {"doc_id": 7, "title": "T", "tag": "x"}
    assert rows[1].text == "row two" and rows[1].metadata == {"doc_source": "web"}
    csv_rows = load_documents(tmp_path / "t.csv")
    assert [d.text for d in csv_rows] == ["first", "second"]
    assert csv_rows[0].metadata == {"year": 2001, "code": "007", "ratio": 0.5}
    assert csv_rows[1].metadata == {"year": 2002, "code": "x", "ratio": -125.0}
    chunks = chunk_documents("src", rows, 100, 10)
    assert [(c.id, c.chunk) for c in chunks] == [("src#0", 0), ("src#1", 1)]


def test_loader_errors(tmp_path):
    with pytest.raises(ParamError, match="path not found"):
        find_files([tmp_path / "missing"])
    (tmp_path / "x.pdf").write_bytes(b"%PDF")
    with pytest.raises(ParamError, match="unsupported file type"):
        find_files([tmp_path / "x.pdf"])
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\n[1, 2]\n')
    with pytest.raises(ParamError, match=r"bad.jsonl:2: expected a JSON object"):
        load_documents(bad)
    notext = tmp_path / "n.jsonl"
    notext.write_text('{"name": "x"}\n')
    with pytest.raises(ParamError, match="no text field"):
        load_documents(notext)
    with pytest.raises(ParamError, match="no 'body' field"):
        load_documents(notext, text_field="body")
    binary = tmp_path / "b.txt"
    binary.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(ParamError, match="not UTF-8"):
        load_documents(binary)


def test_content_hash_tracks_bytes_and_settings(tmp_path):
    p = tmp_path / "a.txt"
    p.write_text("one")
    h1 = content_hash(p, "800/120")
    assert content_hash(p, "800/120") == h1
    assert content_hash(p, "500/120") != h1
    p.write_text("two")
    assert content_hash(p, "800/120") != h1


def test_embed_batches_by_length_but_keeps_input_order():
    import numpy as np

    from embedb.cli.models import embed

    texts = ["ccc", "a", "bb", "dddd", "e", "ffffff"]
    seen = []

    def encode(batch):
        seen.append(batch)
        return np.array([[len(t), ord(t[0])] for t in batch])

    done = []
    out = embed(texts, encode, batch_size=2, advance=done.append)
    assert out.dtype == np.float32
    assert out.tolist() == [[len(t), ord(t[0])] for t in texts]
    assert seen == [["a", "e"], ["bb", "ccc"], ["dddd", "ffffff"]] and done == [2, 2, 2]
    assert embed([], encode).shape == (0, 0)


def test_an_overlap_near_the_size_starts_on_a_word_not_mid_word():
    # end - overlap fell before the text's start: the next chunk began mid-word ('0 a1 ...')
    text = "a0 a1 a2 a3 aaaa4 aaaa5 aaaa6"
    chunks = chunk_text(text, 26, 25)
    assert chunks == ["a0 a1 a2 a3 aaaa4 aaaa5", "a1 a2 a3 aaaa4 aaaa5 aaaa6"]
