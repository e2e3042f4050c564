"""``embedb migrate``: copy collections between any two of a local embedb path, a Milvus server
(``embedb serve``, Milvus standalone/distributed, Zilliz Cloud) and, as source, a Milvus Lite
``.db`` of either generation.

.. code-block:: python

    from embedb.migrate import migrate
    report = migrate("./demo.db", "http://milvus:19530", collections=["docs"])

Each collection is copied with its schema, functions, indexes, partitions, aliases, properties
and rows; rows stream in primary-key order one batch at a time and are upserted by primary key,
with the position saved after each batch, so an interrupted run resumes where it stopped and a
repeated run changes nothing. See docs/scale.md.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from ..errors import ParamError
from .copy import (MigrationError, PkSample, adapt_for_server, batch_for, check_batch_size,
                   copy_rows, create_indexes, point_aliases, prepare_target)
from ..remote.client import is_remote_uri
from .endpoints import Endpoint, open_endpoint, same_place
from .plan import CollectionPlan, ensure_loaded, read_plan
from .state import MigrationState, default_state_path
from .verify import verify_collection

__all__ = ["migrate", "plan_migration", "MigrationReport", "MigrationError"]


@dataclass
class MigrationReport:
    source: str
    destination: str
    dry_run: bool
    collections: list[dict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.get("verify", {}).get("ok", True) for c in self.collections)

    @property
    def rows(self) -> int:
        return sum(c.get("rows_copied", 0) for c in self.collections)


def _names(client: Any, collections: Iterable[str] | str | None) -> list[str]:
    available = list(client.list_collections())
    if collections is None:
        return sorted(available)
    wanted = [collections] if isinstance(collections, str) else list(collections)
    missing = [n for n in wanted if n not in available and not client.has_collection(n)]
    if missing:
        raise ParamError(f"migrate: collection(s) {missing} not in the source "
                         f"(it has {sorted(available) or 'none'})")
    return wanted


def plan_migration(src: Endpoint, dst: Endpoint, names: list[str]) -> list[CollectionPlan]:
    plans = []
    for name in names:
        plan = read_plan(src.client, name)
        if dst.remote:
            adapt_for_server(plan)
        plans.append(plan)
    return plans


def _target_status(dst: Endpoint, plan: CollectionPlan, state: MigrationState) -> str:
    if not dst.client.has_collection(plan.name):
        return "new"
    done = sum(s["rows"] for s in state.collection(plan.name)["streams"].values())
    return f"exists (resume after {done} rows)" if done else "exists (rows upserted again)"


def _progress(total: int, show: bool, desc: str) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, disable=not show, unit="rows", desc=desc, dynamic_ncols=True)


def migrate(source: str, destination: str, collections: Iterable[str] | str | None = None, *,
            batch_size: int = 1000, dry_run: bool = False, verify: bool = True,
            state_file: str | Path | None = None, progress: bool = False,
            source_options: dict | None = None, destination_options: dict | None = None,
            on_batch: Callable[[str, str | None, int, int], None] | None = None,
            echo: Callable[[str], None] | None = None) -> MigrationReport:
    """Copy ``collections`` (default: all) from ``source`` to ``destination``.

    ``state_file`` (default ``./.embedb-migrate-<hash>.json``) records the position of every
    row stream after each batch; a rerun with the same source and destination resumes from it
    and removes it once everything is copied and verified. ``on_batch(collection, partition,
    batch, rows)`` is called after each batch (progress hooks, tests). Raises
    :class:`MigrationError` naming the collection, the batch and what to do.
    """
    batch_size = check_batch_size(batch_size)
    if same_place(source, destination):
        raise ParamError(f"migrate: the source and the destination are the same ({source!r})")
    say = echo or (lambda _msg: None)
    report = MigrationReport(source, destination, dry_run)
    src = open_endpoint(source, "source", **(source_options or {}))
    try:
        # a dry run opens the destination only to look (a path that does not exist is not made)
        dst = None if dry_run and not is_remote_uri(destination) and \
            not Path(destination).expanduser().exists() else \
            open_endpoint(destination, "destination", **(destination_options or {}))
        try:
            state = MigrationState(Path(state_file) if state_file else default_state_path(source, destination),
                                   source, destination)
            names = _names(src.client, collections)
            plans = [read_plan(src.client, n) for n in names] if dst is None else \
                plan_migration(src, dst, names)
            for plan in plans:
                entry = {"collection": plan.name, **plan.summary(),
                         "target": "new" if dst is None else _target_status(dst, plan, state)}
                report.collections.append(entry)
                if dry_run:
                    continue
                say(f"{plan.name}: {plan.total_rows} rows, {src.describe()} -> {dst.describe()}")
                _copy_one(src, dst, plan, state, entry, batch_size, progress, verify, on_batch)
            if not dry_run and report.ok:
                state.remove()
        finally:
            if dst is not None:
                dst.close()
    finally:
        src.close()
    return report


def _copy_one(src: Endpoint, dst: Endpoint, plan: CollectionPlan, state: MigrationState,
              entry: dict, batch_size: int, show: bool, verify: bool,
              on_batch: Callable | None) -> None:
    loaded_by_us = ensure_loaded(src.client, plan.name)
    seconds = entry["seconds"] = {}
    clock = time.perf_counter()

    def lap(phase: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[phase] = round(now - clock, 3)
        clock = now

    try:
        entry["target"] = prepare_target(dst.client, plan)
        if entry["target"] == "created":  # its rows are all ours: fresh batches can be inserts
            state.collection(plan.name)["created"] = True
            state.save()
        lap("create")
        sample = PkSample(100)
        with _progress(plan.total_rows, show, plan.name) as bar:
            entry["rows_copied"] = copy_rows(src.client, dst.client, plan, state,
                                             batch_for(plan, batch_size), bar, sample, on_batch)
        lap("rows")
        dst.client.flush(plan.name)  # seal what was written before the indexes are built
        entry["notes"] = list(plan.notes) + create_indexes(dst.client, plan) + \
            point_aliases(dst.client, plan)
        state.collection(plan.name)["done"] = True
        state.save()
        lap("indexes")
        if verify:
            entry["verify"] = verify_collection(src.client, dst.client, plan, sample.keys)
            lap("verify")
    finally:
        if loaded_by_us:
            src.client.release_collection(plan.name)
