"""File checksums: CRC-32C records for what is written now, zlib CRC-32 records (plain lists,
databases written before CRC-32C) still verified and continued; damage found in either."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
import pytest

from embedb.engine import checksum
from embedb.errors import StorageError


def _zlib_chunks(data: bytes, chunk: int) -> list[int]:
    """The old format, built independently: zlib CRC-32 of each chunk."""
    return [zlib.crc32(data[i:i + chunk]) for i in range(0, len(data), chunk)]


@pytest.fixture
def small_chunks(monkeypatch):
    """64-byte chunks (and threads from 4 chunks on): chunk boundaries in a few hundred bytes."""
    monkeypatch.setattr(checksum, "CHUNK", 64)
    monkeypatch.setattr(checksum, "_PARALLEL_MIN", 4 * 64)
    return 64


def test_crc32c_is_castagnoli():
    # the check value of CRC-32C (RFC 3720); zlib's CRC-32 of the same bytes differs
    rec = checksum.of(b"123456789")
    assert rec == {"alg": "crc32c", "chunks": [0xE3069283]}
    assert zlib.crc32(b"123456789") == 0xCBF43926


def test_the_extension_loaded_directly_is_the_packages_function(monkeypatch):
    import crc32c   # the package, __init__ and all

    data = np.random.default_rng(8).integers(0, 256, 100_000, dtype=np.uint8)
    direct = checksum.hasher("crc32c")
    monkeypatch.setattr(checksum, "_crc32c", None)   # loaded again, now from sys.modules
    assert checksum.hasher("crc32c") is crc32c.crc32c
    assert direct(data) == crc32c.crc32c(data) == crc32c.crc32c(data[50_000:], crc32c.crc32c(data[:50_000]))


def test_empty_data_has_no_chunks():
    assert checksum.of(b"") == [] and checksum.first_bad_chunk(b"", []) is None
    assert checksum.first_bad_chunk(b"x", []) == 0


def test_extend_across_chunk_boundaries_equals_one_pass(small_chunks):
    data = np.random.default_rng(0).integers(0, 256, 1000, dtype=np.uint8).tobytes()
    whole = checksum.of(data)
    assert whole["alg"] == "crc32c" and len(whole["chunks"]) == 16
    for cuts in ([1], [63], [64], [65], [127, 128, 129], [10, 200, 201, 640, 999], list(range(0, 1000, 37))):
        crcs, done = [], 0
        for cut in cuts + [len(data)]:
            crcs = checksum.extend(crcs, done, data[done:cut])
            done = cut
        assert crcs == whole, cuts
        assert checksum.first_bad_chunk(data, crcs) is None


def test_extend_at_the_real_chunk_size():
    data = np.random.default_rng(1).integers(0, 256, checksum.CHUNK + 5000, dtype=np.uint8)
    buf = checksum.as_bytes(data)
    cut = checksum.CHUNK - 3   # the first chunk is continued by 3 bytes, then a new one starts
    crcs = checksum.extend(checksum.of(buf[:cut]), cut, buf[cut:])
    assert crcs == checksum.of(data) and len(crcs["chunks"]) == 2
    assert checksum.first_bad_chunk(data, crcs) is None


def test_an_old_zlib_record_verifies_and_keeps_its_algorithm_when_extended(small_chunks):
    data = np.random.default_rng(2).integers(0, 256, 700, dtype=np.uint8).tobytes()
    old = _zlib_chunks(data[:300], small_chunks)           # as a database from before wrote it
    assert checksum.first_bad_chunk(data[:300], old) is None
    grown = checksum.extend(old, 300, data[300:])
    assert grown == _zlib_chunks(data, small_chunks)       # still a plain zlib list
    assert checksum.first_bad_chunk(data, grown) is None
    assert checksum.algorithm(grown) == "crc32" and checksum.algorithm(checksum.of(data)) == "crc32c"


@pytest.mark.parametrize("alg", ["crc32c", "crc32"])
def test_every_flipped_bit_and_length_change_is_found(small_chunks, alg):
    data = bytearray(np.random.default_rng(3).integers(0, 256, 600, dtype=np.uint8).tobytes())
    crcs = checksum.of(bytes(data)) if alg == "crc32c" else _zlib_chunks(bytes(data), small_chunks)
    for pos in (0, 63, 64, 300, 599):
        for bit in (0, 7):
            data[pos] ^= 1 << bit
            assert checksum.first_bad_chunk(bytes(data), crcs) == pos // small_chunks
            # a numpy view (the mapped-column path, checked on threads from 4 chunks on)
            assert checksum.first_bad_chunk(np.frombuffer(bytes(data), np.uint8), crcs) == pos // small_chunks
            data[pos] ^= 1 << bit
    assert checksum.first_bad_chunk(bytes(data), crcs) is None
    assert checksum.first_bad_chunk(bytes(data[:-70]), crcs) is not None   # a chunk fewer
    assert checksum.first_bad_chunk(bytes(data) + b"\0" * 64, crcs) == 10
    swapped = bytes(data[64:128] + data[:64] + data[128:])               # chunks out of order
    assert checksum.first_bad_chunk(swapped, crcs) == 0


def test_a_record_this_version_cannot_read_counts_as_damage(tmp_path):
    data = b"abc" * 100
    assert checksum.first_bad_chunk(data, {"alg": "sha-9", "chunks": [1]}) == 0
    assert checksum.first_bad_chunk(data, {"alg": "crc32c"}) == 0
    path = tmp_path / "f"
    path.write_bytes(data)
    assert checksum.file_problem(path, {"size": 300, "crc": {"alg": "sha-9", "chunks": [1]}})
    assert checksum.file_problem(path, {"size": 0, "crc": {"alg": "sha-9", "chunks": [1]}})


def test_file_records_both_algorithms(tmp_path, small_chunks):
    data = np.random.default_rng(4).integers(0, 256, 500, dtype=np.uint8).tobytes()
    path = tmp_path / "f.bin"
    path.write_bytes(b"HEAD" + data)
    rec = checksum.record_of_file(path, 4)
    assert rec == {"size": 500, "crc": checksum.of(data)}
    old = {"size": 500, "crc": _zlib_chunks(data, small_chunks)}
    for r in (rec, old):
        assert checksum.file_problem(path, r, 4) is None
    path.write_bytes(data)
    assert checksum.read_verified(path, rec) == data and checksum.read_verified(path, old) == data
    damaged = bytearray(data)
    damaged[130] ^= 0x10
    path.write_bytes(bytes(damaged))
    for r in (rec, old):
        assert "checksum mismatch in bytes 128-192" in checksum.file_problem(path, r)
        assert checksum.read_verified(path, r) is None


# ------------------------------------------------------------------ a whole database

def _build(path: Path, start: int, n: int) -> None:
    from embedb import DataType, MilvusClient

    client = MilvusClient(str(path))
    if not client.has_collection("c"):
        s = client.create_schema()
        s.add_field("id", DataType.INT64, is_primary=True)
        s.add_field("v", DataType.FLOAT_VECTOR, dim=8)
        ix = client.prepare_index_params()
        ix.add_index("v", index_type="HNSW", metric_type="L2", params={"M": 8, "efConstruction": 32})
        client.create_collection("c", schema=s, index_params=ix)
    rng = np.random.default_rng(start)
    client.insert("c", [{"id": start + i, "v": rng.random(8, dtype=np.float32)} for i in range(n)])
    client.search("c", [np.ones(8, dtype=np.float32)], limit=3)   # builds the index: an ext file
    client.flush("c")
    client.close()


def _to_zlib_records(path: Path) -> dict:
    """Rewrite a collection's manifest as a database from before CRC-32C holds it: every
    checksum list a plain list of zlib CRC-32s, computed here from the files."""
    from embedb.engine.integrity import manifest_bytes
    from embedb.engine.storage import HEADER_BYTES

    cdir = path / "collections" / "1"
    m = json.loads((cdir / "manifest.json").read_text())
    gen = cdir / m["dir"]
    for ent in m["files"].values():
        size = np.dtype(ent["dtype"]).itemsize * int(np.prod(ent["tail"])) * ent["length"]
        ent["crc"] = _zlib_chunks((gen / ent["file"]).read_bytes()[HEADER_BYTES:HEADER_BYTES + size],
                                  checksum.CHUNK)
    tomb = np.load(gen / m["deleted"]["file"])
    m["deleted"]["crc"] = _zlib_chunks(tomb.tobytes(), checksum.CHUNK)
    for name, rec in m["ext"].items():
        rec["crc"] = _zlib_chunks((cdir / "ext" / name).read_bytes(), checksum.CHUNK)
    (cdir / "manifest.json").write_bytes(manifest_bytes(m))
    return m


def _check(path: Path):
    from click.testing import CliRunner

    from embedb.cli import cli

    return CliRunner().invoke(cli, ["check", str(path), "--json"])


def _ids(path: Path) -> list[int]:
    from embedb import MilvusClient

    client = MilvusClient(str(path))
    try:
        client.search("c", [np.ones(8, dtype=np.float32)], limit=3)   # verifies the mapped vectors
        return sorted(r["id"] for r in client.query("c", filter="id >= 0", output_fields=["id"]))
    finally:
        client.close()


def test_new_databases_write_crc32c_everywhere(tmp_path):
    path = tmp_path / "new.db"
    _build(path, 0, 300)
    m = json.loads((path / "collections" / "1" / "manifest.json").read_text())
    lists = [e["crc"] for e in m["files"].values()] + [m["deleted"]["crc"]] + [r["crc"] for r in m["ext"].values()]
    assert m["ext"] and all(c == [] or c["alg"] == "crc32c" for c in lists)
    assert _check(path).exit_code == 0


def test_an_old_format_database_opens_checks_grows_and_finds_damage(tmp_path):
    path = tmp_path / "old.db"
    _build(path, 0, 300)
    old = _to_zlib_records(path)
    assert _check(path).exit_code == 0
    assert _ids(path) == list(range(300))

    _build(path, 300, 200)   # appended to the same files: their zlib lists are continued
    cdir = path / "collections" / "1"
    m = json.loads((cdir / "manifest.json").read_text())
    assert m["dir"] == old["dir"]
    vec = m["files"]["v/values"]
    assert isinstance(vec["crc"], list) and vec["length"] == 500
    assert vec["crc"] == _zlib_chunks((cdir / m["dir"] / vec["file"]).read_bytes()[256:256 + 500 * 32],
                                      checksum.CHUNK)
    # an index file saved again gets a CRC-32C record; one left as it was keeps its zlib record
    assert all(checksum.algorithm(r["crc"]) in ("crc32", "crc32c") for r in m["ext"].values())
    assert _check(path).exit_code == 0 and _ids(path) == list(range(500))

    f = cdir / m["dir"] / vec["file"]
    raw = bytearray(f.read_bytes())
    raw[256 + 77] ^= 0x01   # after the 256-byte .npy header
    f.write_bytes(bytes(raw))
    result = _check(path)
    assert result.exit_code == 1 and vec["file"] in result.output and "checksum mismatch" in result.output
    with pytest.raises(StorageError, match="v.values.npy is damaged"):
        _ids(path)


def test_damage_in_a_crc32c_column_is_found_by_check_and_on_read(tmp_path):
    path = tmp_path / "dmg.db"
    _build(path, 0, 300)
    cdir = path / "collections" / "1"
    m = json.loads((cdir / "manifest.json").read_text())
    f = cdir / m["dir"] / m["files"]["v/values"]["file"]
    raw = bytearray(f.read_bytes())
    raw[-1] ^= 0x80
    f.write_bytes(bytes(raw))
    result = _check(path)
    assert result.exit_code == 1 and "checksum mismatch" in result.output
    with pytest.raises(StorageError, match="v.values.npy is damaged"):
        _ids(path)


def test_verifying_at_start_up_does_not_run_the_packages_init(tmp_path):
    """The crc32c package's __init__ reads its version through importlib.metadata (~20 ms of
    start-up): opening a database and verifying its columns loads only the extension."""
    import subprocess
    import sys

    path = tmp_path / "s.db"
    _build(path, 0, 50)
    code = ("import sys, numpy as np, embedb\n"
            f"c = embedb.MilvusClient({str(path)!r})\n"
            "assert len(c.search('c', [np.ones(8, dtype=np.float32)], limit=3)[0]) == 3\n"
            "from embedb.engine import checksum\n"
            "print(checksum._crc32c is not None, 'crc32c' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["True", "False"]
