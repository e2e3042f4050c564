"""Reading files for ``embedb ingest``: finding files, loading text, Markdown, JSON Lines and CSV,
splitting text into overlapping chunks, and content hashes for idempotent re-ingest."""

from __future__ import annotations

import csv
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from ..errors import ParamError

TEXT_SUFFIXES = {".txt", ".text", ".md", ".markdown", ".rst"}
ROW_SUFFIXES = {".jsonl", ".ndjson", ".csv"}
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | ROW_SUFFIXES

# Fields the ingest schema owns; metadata keys with these names are kept as "doc_<name>".
RESERVED_FIELDS = {"id", "text", "vector", "sparse", "source", "chunk", "content_hash"}
TEXT_KEYS = ("text", "content", "body", "passage")


@dataclass
class Document:
    """One unit of text from a file: a whole text/Markdown file, or one JSONL/CSV row."""

    text: str
    metadata: dict = field(default_factory=dict)


@dataclass
class Chunk:
    id: str
    source: str
    chunk: int
    text: str
    metadata: dict


def find_files(paths: Iterable[str | Path]) -> list[Path]:
    """Expand folders (recursively, skipping hidden entries) into supported files, sorted; a file
    named explicitly must have a supported suffix."""
    found: dict[Path, None] = {}
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise ParamError(f"path not found: {raw}")
        if path.is_dir():
            for p in sorted(path.rglob("*")):
                rel = p.relative_to(path)
                if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES and \
                        not any(part.startswith(".") for part in rel.parts):
                    found[p.resolve()] = None
        elif path.suffix.lower() in SUPPORTED_SUFFIXES:
            found[path.resolve()] = None
        else:
            raise ParamError(f"unsupported file type: {raw} (supported: "
                             f"{', '.join(sorted(SUPPORTED_SUFFIXES))})")
    return list(found)


def content_hash(path: Path, settings: str = "") -> str:
    """SHA-256 of the file's bytes and the ingest settings that shape its chunks."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    h.update(b"\0" + settings.encode())
    return h.hexdigest()


def _clean_metadata(row: dict, text_key: str | None) -> dict:
    meta = {}
    for key, value in row.items():
        if key == text_key or key is None:
            continue
        key = str(key)
        meta[f"doc_{key}" if key in RESERVED_FIELDS else key] = value
    return meta


def _row_text(row: dict, where: str, text_field: str | None) -> tuple[str, str | None]:
    if text_field:
        if text_field not in row:
            raise ParamError(f"{where}: no {text_field!r} field (fields: {', '.join(map(str, row))})")
        key = text_field
    else:
        key = next((k for k in TEXT_KEYS if k in row), None)
        if key is None:
            raise ParamError(f"{where}: no text field (looked for {', '.join(TEXT_KEYS)}; "
                             "name one with --text-field)")
    value = row[key]
    text = value if isinstance(value, str) else ("" if value is None else json.dumps(value))
    title = row.get("title")
    if isinstance(title, str) and title.strip() and key != "title":
        text = f"{title.strip()}. {text}"  # the title carries meaning the body may lack (BEIR)
    return text, key


def _read_jsonl(path: Path, text_field: str | None) -> Iterator[Document]:
    with path.open(encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = f"{path}:{line_no}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise ParamError(f"{where}: not valid JSON ({e.msg})") from None
            if not isinstance(row, dict):
                raise ParamError(f"{where}: expected a JSON object, got {type(row).__name__}")
            text, key = _row_text(row, where, text_field)
            yield Document(text, _clean_metadata(row, key))


_INT = re.compile(r"-?(0|[1-9][0-9]*)")
_FLOAT = re.compile(r"-?(0|[1-9][0-9]*)?\.[0-9]+([eE][-+]?[0-9]+)?")


def _csv_value(value: str | None):
    """CSV cells are text; numbers become numbers so filters such as ``year > 2000`` work
    (``007`` stays text: a leading zero means a code, not a quantity)."""
    if value is None:
        return None
    if _INT.fullmatch(value):
        return int(value)
    if _FLOAT.fullmatch(value):
        return float(value)
    return value


def _read_csv(path: Path, text_field: str | None) -> Iterator[Document]:
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames:
            return
        for line_no, row in enumerate(reader, 2):
            text, key = _row_text(row, f"{path}:{line_no}", text_field)
            meta = {k: _csv_value(v) for k, v in _clean_metadata(row, key).items()}
            yield Document(text, meta)


def load_documents(path: Path, text_field: str | None = None) -> list[Document]:
    """The documents of one file (a text file is one document; JSONL/CSV give one per row)."""
    suffix = path.suffix.lower()
    try:
        if suffix in (".jsonl", ".ndjson"):
            return list(_read_jsonl(path, text_field))
        if suffix == ".csv":
            return list(_read_csv(path, text_field))
        return [Document(path.read_text(encoding="utf-8"))]
    except UnicodeDecodeError:
        raise ParamError(f"{path}: not UTF-8 text") from None


_BREAKS = ("\n\n", "\n", ". ", "? ", "! ", "; ", ", ", " ")


def _break_point(window: str, earliest: int) -> int:
    """Where to end a chunk inside ``window``: after the strongest separator at or past
    ``earliest``, else at the window's end."""
    for sep in _BREAKS:
        pos = window.rfind(sep, earliest)
        if pos != -1:
            return pos + len(sep)
    return len(window)


def chunk_text(text: str, size: int = 800, overlap: int = 120) -> list[str]:
    """Split ``text`` into chunks of at most ``size`` characters, cut at paragraph, sentence or
    word boundaries where possible, each starting about ``overlap`` characters before the
    previous one ended so that no sentence is lost at a seam."""
    if size < 1:
        raise ParamError(f"chunk size must be >= 1, got {size}")
    if not 0 <= overlap < size:
        raise ParamError(f"chunk overlap must be >= 0 and smaller than the chunk size ({size}), got {overlap}")
    text = text.strip()
    if len(text) <= size:
        return [text] if text else []
    chunks: list[str] = []
    start = 0
    while start < len(text):
        end = min(start + size, len(text))
        if end < len(text):
            end = start + _break_point(text[start:end], size // 2)
        piece = text[start:end].strip()
        if piece:
            chunks.append(piece)
        if end >= len(text):
            break
        # never at or before this chunk's start (an overlap near the size would go back past
        # it: a negative index made str.find search from the text's end and cut mid-word)
        nxt = max(end - overlap, start + 1)
        if overlap:
            # start the overlap on a word boundary rather than mid-word
            space = text.find(" ", nxt, end)
            nxt = space + 1 if space != -1 else nxt
        start = max(nxt, start + 1)
    return chunks


def chunk_documents(source: str, documents: list[Document], size: int, overlap: int) -> list[Chunk]:
    """Chunks of a file's documents, numbered across the file; ids are ``<source>#<n>``."""
    out: list[Chunk] = []
    for doc in documents:
        for piece in chunk_text(doc.text, size, overlap):
            n = len(out)
            out.append(Chunk(f"{source}#{n}", source, n, piece, doc.metadata))
    return out
