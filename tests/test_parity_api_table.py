"""docs/api.md lists every public pymilvus MilvusClient method; each one exists on
embedb.MilvusClient or is listed there as not supported (with a reason)."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

import embedb

pymilvus = pytest.importorskip("pymilvus")

API_MD = Path(__file__).resolve().parents[1] / "docs" / "api.md"
_ROW = re.compile(r"^\| `([A-Za-z_][A-Za-z0-9_]*)` \| (supported|different|not supported) \|(.*)\|\s*$")


def _table() -> dict[str, tuple[str, str]]:
    text = API_MD.read_text(encoding="utf-8")
    section = text.split("## pymilvus 3.0 method status", 1)
    assert len(section) == 2, "docs/api.md has no 'pymilvus 3.0 method status' section"
    rows = {}
    for line in section[1].splitlines():
        m = _ROW.match(line)
        if m:
            rows[m.group(1)] = (m.group(2), m.group(3).strip())
    return rows


def _pymilvus_methods() -> list[str]:
    return sorted(n for n, v in inspect.getmembers(pymilvus.MilvusClient)
                  if not n.startswith("_") and callable(v))


def test_every_pymilvus_method_is_listed():
    table = _table()
    missing = [n for n in _pymilvus_methods() if n not in table]
    assert not missing, f"docs/api.md method table lacks {missing}"
    unknown = [n for n in table if not hasattr(pymilvus.MilvusClient, n)]
    assert not unknown, f"docs/api.md lists methods pymilvus does not have: {unknown}"


def test_every_method_exists_or_is_documented_as_not_supported():
    table = _table()
    absent = [n for n in _pymilvus_methods()
              if not hasattr(embedb.MilvusClient, n) and table.get(n, ("",))[0] != "not supported"]
    assert not absent, f"pymilvus methods neither on embedb.MilvusClient nor 'not supported': {absent}"


def test_not_supported_and_different_rows_say_why():
    for name, (status, note) in _table().items():
        if status in ("not supported", "different"):
            assert len(note) > 10, f"docs/api.md: {name} is {status!r} without saying why/how"


def test_rows_marked_not_supported_are_really_absent():
    # a method someone adds must get its row updated, so the table never under-promises
    stale = [n for n, (status, _) in _table().items()
             if status == "not supported" and hasattr(embedb.MilvusClient, n)]
    assert not stale, f"docs/api.md lists these as not supported, but they exist: {stale}"
