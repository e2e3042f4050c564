"""``embedb ingest``: files and folders -> chunks -> dense vectors (+ BM25 through the collection's
function) -> a collection. Re-running it skips unchanged files and replaces changed ones."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import click

from ..errors import ParamError
from .app import DEFAULT_COLLECTION, collection_option, db_option, ensure_loaded, open_client
from .chunking import Chunk, chunk_documents, content_hash, find_files, load_documents
from .layout import (analyzer_language, create_document_collection, embedding_dim, quote,
                     read_layout)
from .models import DEFAULT_MODEL, embed, load_embedding
from .output import emit_rows, output_options, progress

INGEST_FIELDS = {"id", "text", "vector", "source", "chunk", "content_hash"}
GROUP_CHUNKS = 256  # chunks embedded and inserted per step; a file is never split across steps


@dataclass
class FilePlan:
    path: Path
    source: str
    digest: str
    status: str  # added | updated | unchanged | empty | removed
    chunks: list[Chunk] = field(default_factory=list)


def existing_digests(client, name: str) -> dict[str, str]:
    """source -> content hash of each file already in the collection (read from chunk 0; a file's
    chunks are inserted in one call, so chunk 0 stands for the whole file)."""
    out: dict[str, str] = {}
    it = client.query_iterator(name, batch_size=2000, filter="chunk == 0",
                               output_fields=["source", "content_hash"])
    try:
        while batch := it.next():
            for row in batch:
                out[row["source"]] = row["content_hash"]
    finally:
        it.close()
    return out


def _check_layout(client, name: str, model: str | None, language: str | None = None) -> str:
    layout = read_layout(client, name)
    if language is not None and layout.language is not None and \
            analyzer_language(language) != layout.language:
        raise ParamError(f"collection {name!r} analyzes text as {layout.language!r}, not "
                         f"{analyzer_language(language)!r}; ingest into another --collection to "
                         "use another language")
    missing = INGEST_FIELDS - set(layout.fields)
    if missing:
        raise ParamError(f"collection {name!r} was not made by 'embedb ingest' (it lacks "
                         f"{', '.join(sorted(missing))}); ingest into another --collection")
    stored = layout.model or DEFAULT_MODEL
    if model is not None and model != stored:
        raise ParamError(f"collection {name!r} holds vectors from model {stored!r}, not {model!r}; "
                         "ingest into another --collection to use a different model")
    return stored


def _groups(plans: list[FilePlan]):
    group: list[FilePlan] = []
    size = 0
    for plan in plans:
        group.append(plan)
        size += len(plan.chunks)
        if size >= GROUP_CHUNKS:
            yield group
            group, size = [], 0
    if group:
        yield group


def _row(chunk: Chunk, vector, digest: str) -> dict:
    row = dict(chunk.metadata)
    row.update(id=chunk.id, text=chunk.text, source=chunk.source, chunk=chunk.chunk,
               content_hash=digest)
    if vector is not None:   # None: the collection's TEXTEMBEDDING function embeds the text
        row["vector"] = vector
    return row


def ingest_paths(client, name: str, paths, model: str | None = None, chunk_size: int = 800,
                 chunk_overlap: int = 120, text_field: str | None = None,
                 show_progress: bool = True, prune: bool = False,
                 language: str | None = None) -> list[FilePlan]:
    """Ingest files and folders into collection ``name`` (created if missing); returns one plan
    per file with what happened to it. ``prune`` also removes the chunks of files that are no
    longer inside the given folders."""
    files = find_files(paths)
    if not files:
        raise ParamError("no files to ingest (supported: .txt .md .markdown .rst .jsonl .ndjson .csv)")
    exists = client.has_collection(name)
    model_spec = _check_layout(client, name, model, language) if exists else (model or DEFAULT_MODEL)
    settings = f"{chunk_size}/{chunk_overlap}/{text_field or ''}/{model_spec}"
    if exists:
        ensure_loaded(client, name)
    known = existing_digests(client, name) if exists else {}

    plans: list[FilePlan] = []
    for path in files:
        source, digest = str(path), content_hash(path, settings)
        if known.get(source) == digest:
            plans.append(FilePlan(path, source, digest, "unchanged"))
            continue
        chunks = chunk_documents(source, load_documents(path, text_field), chunk_size, chunk_overlap)
        status = "updated" if source in known else ("added" if chunks else "empty")
        plans.append(FilePlan(path, source, digest, status, chunks))

    if prune:
        roots = [str(Path(p).resolve()) + os.sep for p in paths if Path(p).is_dir()]
        current = {p.source for p in plans}
        gone = sorted(s for s in known if s not in current and s.startswith(tuple(roots)))
        if gone:
            client.delete(name, filter=f"source in [{', '.join(map(quote, gone))}]")
            plans += [FilePlan(Path(s), s, "", "removed") for s in gone]
    todo = [p for p in plans if p.status in ("added", "updated")]
    if not todo:
        if prune and exists:
            client.flush(name)
        return plans
    if not exists:   # the collection embeds its own text (a TEXTEMBEDDING function)
        from ..remote import RemoteMilvusClient

        dim = embedding_dim(model_spec)
        # a Milvus server cannot run embedb's local models: there, ingest embeds the chunks itself
        create_document_collection(client, name, dim, model_spec,
                                   embed_in_db=not isinstance(client, RemoteMilvusClient),
                                   language=language)
    in_db = read_layout(client, name).embeds
    ef = None if in_db else load_embedding(model_spec)   # older collections: embed by hand
    total = sum(len(p.chunks) for p in todo)
    with progress(transient=False) if show_progress else _NoProgress() as bar:
        task = bar.add_task("embedding chunks", total=total)
        for group in _groups(todo):
            chunks = [c for p in group for c in p.chunks]
            if in_db:
                vectors = [None] * len(chunks)
            else:
                vectors = embed([c.text for c in chunks], ef.encode_documents,
                                advance=lambda n: bar.advance(task, n))
            stale = [p.source for p in group if p.status == "updated"]
            if stale:
                client.delete(name, filter=f"source in [{', '.join(map(quote, stale))}]")
            rows = [_row(c, vectors[i], p.digest)
                    for i, (p, c) in enumerate((p, c) for p in group for c in p.chunks)]
            if rows:  # a changed file may now be empty: its old chunks are gone, nothing to add
                client.insert(name, rows)
                if in_db:
                    bar.advance(task, len(rows))
    client.flush(name)
    return plans


class _NoProgress:
    """Stands in for the progress display when it is turned off."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def add_task(self, *args, **kwargs):
        return 0

    def advance(self, *args, **kwargs):
        pass


@click.command()
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@db_option
@collection_option
@click.option("--model", default=None, metavar="MODEL",
              help="Embedding model: 'default' (all-MiniLM-L6-v2) or a local sentence-transformers "
                   "folder. Default: the collection's model.")
@click.option("--language", default=None, metavar="LANG",
              help="Language of the BM25 analyzer (stemming, stop words): an ISO code or name "
                   "such as 'ar', 'german'. Stored with the collection and used for queries. "
                   "Default: the collection's, else english.")
@click.option("--chunk-size", default=800, show_default=True, type=click.IntRange(min=1),
              help="Largest chunk, in characters.")
@click.option("--chunk-overlap", default=120, show_default=True, type=click.IntRange(min=0),
              help="Characters shared by consecutive chunks.")
@click.option("--text-field", default=None, metavar="NAME",
              help="JSONL/CSV field with the text (default: text, content, body or passage).")
@click.option("--prune", is_flag=True,
              help="Also remove the chunks of files that are gone from the given folders.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@output_options
def ingest(paths, db, collection, model, language, chunk_size, chunk_overlap, text_field, prune,
           quiet, fmt):
    """Add text, Markdown, JSON Lines and CSV files (or folders of them) to a collection.

    Files are split into overlapping chunks, embedded with a dense model, and indexed for BM25.
    Run it again after editing files: unchanged files are skipped and changed ones replaced
    (--prune also drops files deleted from the folders).
    JSONL/CSV rows become one document each; their other fields are stored as metadata.

    \b
    Example:
        embedb ingest ./notes README.md --db notes.db
        embedb ingest faq.jsonl --db notes.db -c faq --text-field answer
        embedb ingest ./notes --db notes.db --prune
        embedb ingest ./arabic --db ar.db --language ar --model ./multilingual-e5-small
    """
    if chunk_overlap >= chunk_size:
        raise click.BadParameter(f"must be smaller than --chunk-size ({chunk_size})",
                                 param_hint="--chunk-overlap")
    client = open_client(db, create=True)
    name = collection or DEFAULT_COLLECTION
    plans = ingest_paths(client, name, paths, model, chunk_size, chunk_overlap, text_field,
                         show_progress=not quiet, prune=prune, language=language)
    emit_rows([{"file": p.source, "status": p.status, "chunks": len(p.chunks)} for p in plans],
              fmt, title=f"ingested into {name!r}")
