"""A power cut during a durability="fsync" call can leave its record's length durable but not
all its pages (XFS, ext4: the blocks past the old end of the file stay unwritten and read
zeros). The newest segment's final record then fails its checksum although the call was never
acknowledged: the torn call in flight, dropped (cut off by the writer), not damage. Its pages
that read zeros are holes (never written) or, in the page the previous call synced, zeros from
the record's start. A record changed any other way stays damage: a flipped byte, zeros written
over a page, a zeroed header in a sealed segment, a torn-looking record with one after it.

The files are crafted as the disk would hold them: every call whole (the writer's own bytes),
then the in-flight record's unwritten pages turned back into holes (a sparse file)."""

from __future__ import annotations

import os

import numpy as np
import pytest
from click.testing import CliRunner

from embedb.cli import cli
from embedb.engine import Database, writelog
from embedb.engine.check import check_database
from embedb.errors import StorageError
from test_durability_log_format import _abandon
from test_writelog import _ids, _registry, _schema

P = writelog.PAGE
ROWS = 400   # ~20 KB a call with 8-d vectors: a record spans several pages


def _rows(ids) -> list[dict]:
    return [{"id": int(i), "v": np.full(8, i, dtype=np.float32)} for i in ids]


def _crashed(path, calls: int = 4, segment_bytes: int | None = None, monkeypatch=None):
    """A writer that made ``calls`` calls and was killed (the last one plays the call in flight)."""
    if segment_bytes is not None:
        monkeypatch.setattr(writelog, "SEGMENT_BYTES", segment_bytes)
    db = Database.open(path)
    c = db.create_collection("c", _schema())
    for b in range(calls):
        c.insert(_rows(range(b * ROWS, (b + 1) * ROWS)))
    _abandon(db)
    if segment_bytes is not None:
        monkeypatch.undo()
    segment = writelog.segment_files(path)[-1]
    starts = [r.offset - writelog.HEAD_BYTES for r in writelog.scan(path, _registry(path)).records
              if r.path == segment]
    return segment, starts


def _rewrite(segment, data: bytes, unwritten: list[tuple[int, int]]) -> None:
    """``data`` as a disk holds it after a power cut: the byte ranges ``unwritten`` read zeros,
    as holes where they cover whole pages (blocks never written), written zeros elsewhere (the
    part of a page an earlier call synced)."""
    image = bytearray(data)
    holes = set()
    for start, stop in unwritten:
        image[start:stop] = bytes(stop - start)
        # whole pages, and the partial last page of the file (past the old end: never written)
        holes.update(k for k in range(start // P, (stop + P - 1) // P)
                     if k * P >= start and ((k + 1) * P <= stop or stop == len(data)))
    segment.unlink()
    fd = os.open(segment, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        os.ftruncate(fd, len(image))
        for k in range((len(image) + P - 1) // P):
            if k not in holes:
                os.pwrite(fd, bytes(image[k * P:(k + 1) * P]), k * P)
    finally:
        os.close(fd)


def _hole_pages(segment) -> int:
    return sum(stop - start for start, stop in writelog._holes(segment, 0, segment.stat().st_size))


def _page_after(pos: int) -> int:
    return (pos // P + 1) * P


def _assert_torn(path, segment, pos: int, acknowledged: int) -> None:
    """Dropped at open, by a reader too; check is clean; the writer cuts it off, and appends."""
    assert check_database(path)[0] == []
    ro = Database.open(path, read_only=True)
    assert _ids(ro) == list(range(acknowledged * ROWS))
    ro.close()
    assert segment.stat().st_size > pos   # a reader changes nothing
    db = Database.open(path)
    assert _ids(db) == list(range(acknowledged * ROWS))
    assert segment.stat().st_size == pos   # cut off before anything is appended
    db.get_collection("c").insert(_rows(range(10_000, 10_010)))
    _abandon(db)
    db = Database.open(path)
    assert _ids(db) == list(range(acknowledged * ROWS)) + list(range(10_000, 10_010))
    db.close()
    assert check_database(path)[0] == []


def _assert_damaged(path, segment, what: str) -> None:
    for read_only in (True, False):
        with pytest.raises(StorageError, match=rf"{segment.name} holds {what} at byte \d+: it is damaged"):
            Database.open(path, read_only=read_only)
    problems, _ = check_database(path)
    assert [p["file"] for p in problems] == [f"wlog/{segment.name}"], problems
    result = CliRunner().invoke(cli, ["check", str(path), "--json"])
    assert result.exit_code == 1 and f"wlog/{segment.name}" in result.output, result.output


@pytest.mark.parametrize("unwritten", ["a middle page", "every page after the first two", "the last page"])
def test_a_final_record_with_pages_never_written_is_the_call_in_flight(tmp_path, unwritten):
    path = tmp_path / "t.db"
    segment, starts = _crashed(path)
    data, pos = segment.read_bytes(), starts[-1]
    first_full = _page_after(pos + writelog.HEAD_BYTES)
    gap = {"a middle page": [(first_full + P, first_full + 2 * P)],
           "every page after the first two": [(first_full + P, len(data))],
           "the last page": [((len(data) - 1) // P * P, len(data))]}[unwritten]
    _rewrite(segment, data, gap)
    assert _hole_pages(segment) > 0
    _assert_torn(path, segment, pos, 3)


@pytest.mark.parametrize("written", ["nothing", "every page but the first"])
def test_a_final_record_whose_header_was_never_written_is_the_call_in_flight(tmp_path, written):
    path = tmp_path / "h.db"
    segment, starts = _crashed(path)
    data, pos = segment.read_bytes(), starts[-1]
    assert pos % P, "the record starts inside the page the previous call synced"
    gap = [(pos, len(data))] if written == "nothing" else [(pos, _page_after(pos))]
    _rewrite(segment, data, gap)
    _assert_torn(path, segment, pos, 3)


def test_a_segments_first_record_never_written_is_the_call_in_flight(tmp_path, monkeypatch):
    path = tmp_path / "f.db"
    segment, starts = _crashed(path, segment_bytes=1, monkeypatch=monkeypatch)   # a segment per call
    assert starts == [0] and len(writelog.segment_files(path)) == 4
    data = segment.read_bytes()
    _rewrite(segment, data, [(0, len(data))])   # the file's length, and not one of its pages
    _assert_torn(path, segment, 0, 3)


def test_a_flipped_byte_in_the_final_record_is_damage(tmp_path):
    path = tmp_path / "x.db"
    segment, starts = _crashed(path)
    raw = bytearray(segment.read_bytes())
    raw[starts[-1] + writelog.HEAD_BYTES + 5000] ^= 0x20
    segment.write_bytes(bytes(raw))
    _assert_damaged(path, segment, "a record whose checksum does not match")


def test_zeros_written_over_a_page_of_the_final_record_are_damage(tmp_path):
    """The same bytes as a page never written, but on disk: the call had returned (synced)."""
    path = tmp_path / "z.db"
    segment, starts = _crashed(path)
    raw = bytearray(segment.read_bytes())
    at = _page_after(starts[-1] + writelog.HEAD_BYTES) + P
    raw[at:at + P] = bytes(P)
    segment.write_bytes(bytes(raw))
    assert _hole_pages(segment) == 0
    _assert_damaged(path, segment, "a record whose checksum does not match")


def test_a_zeroed_segment_is_damage(tmp_path, monkeypatch):
    """A whole segment of written zeros (its first record's header too) is not a call in flight."""
    path = tmp_path / "zz.db"
    segment, _ = _crashed(path, segment_bytes=1, monkeypatch=monkeypatch)
    segment.write_bytes(bytes(segment.stat().st_size))
    _assert_damaged(path, segment, "a damaged record header")


def test_a_torn_looking_record_with_an_intact_one_after_it_is_damage(tmp_path):
    """A later record means the call before it returned, its record synced: holes in it are
    not a power cut's (whatever made them)."""
    path = tmp_path / "n.db"
    segment, starts = _crashed(path)
    data = segment.read_bytes()
    at = _page_after(starts[-2] + writelog.HEAD_BYTES) + P
    _rewrite(segment, data, [(at, at + P)])
    assert _hole_pages(segment) == P
    _assert_damaged(path, segment, "a record whose checksum does not match")
    _rewrite(segment, data, [(starts[-2], _page_after(starts[-2]))])   # its header never written
    _assert_damaged(path, segment, "a damaged record header")


def test_pages_never_written_in_a_sealed_segment_are_damage(tmp_path, monkeypatch):
    """A sealed segment was synced whole before the next one began."""
    path = tmp_path / "s.db"
    _crashed(path, segment_bytes=1, monkeypatch=monkeypatch)
    sealed = writelog.segment_files(path)[-2]
    assert _registry(path)[sealed.name] == sealed.stat().st_size
    data = sealed.read_bytes()
    _rewrite(sealed, data, [(2 * P, 3 * P)])
    _assert_damaged(path, sealed, "a record whose checksum does not match")


def test_a_flip_before_a_torn_final_record_is_damage(tmp_path):
    path = tmp_path / "b.db"
    segment, starts = _crashed(path)
    data = bytearray(segment.read_bytes())
    data[starts[1] + 3000] ^= 0x01   # an acknowledged call
    _rewrite(segment, bytes(data), [(starts[-1], len(data))])   # and the call in flight
    _assert_damaged(path, segment, "a record whose checksum does not match")
