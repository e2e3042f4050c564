"""Typed growable columns: the in-memory form of every field of a collection.

A column holds the values of one field for all appended rows (row order), grows by amortised
doubling, and converts to and from *parts*: plain NumPy arrays that are appended to files at a
checkpoint and written into log payloads (see ``codec.py`` and ``storage.py``). Parts never hold
Python objects, so nothing on disk needs pickle.

Kinds and their in-memory values:

- ``fixed``: numeric scalars (1-D) and dense vectors (2-D ``(n, width)``) in their stored dtype.
- ``string``: VARCHAR as ``np.dtypes.StringDType()``.
- ``json``: JSON, ARRAY and ``$meta`` as object arrays of parsed Python values.
- ``sparse``: CSR pieces (row lengths, int64 indices, float32 values).

Parts per kind: fixed ``values``; string/json ``lengths`` (int64 bytes per row) + ``data``
(uint8 UTF-8); sparse ``lengths`` (nnz per row) + ``indices`` + ``values``; plus ``valid``
(bool) for nullable fields.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import platform
import sys
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..schema import DataType, FieldSchema
from . import jsonvalues

if TYPE_CHECKING:  # scipy is imported where sparse vectors are used (keeps opening fast)
    import scipy.sparse as sp

STRING_DTYPE = np.dtypes.StringDType()

_SCALAR_DTYPES = {
    DataType.BOOL: np.dtype(np.bool_),
    DataType.INT8: np.dtype(np.int8),
    DataType.INT16: np.dtype(np.int16),
    DataType.INT32: np.dtype(np.int32),
    DataType.INT64: np.dtype(np.int64),
    DataType.FLOAT: np.dtype(np.float32),
    DataType.DOUBLE: np.dtype(np.float64),
    DataType.TIMESTAMPTZ: np.dtype(np.int64),  # UTC microseconds since the epoch
}

_VECTOR_DTYPES = {
    DataType.FLOAT_VECTOR: np.dtype(np.float32),
    DataType.FLOAT16_VECTOR: np.dtype(np.float16),
    DataType.BFLOAT16_VECTOR: np.dtype(np.uint16),  # raw bfloat16 bits
    DataType.INT8_VECTOR: np.dtype(np.int8),
    DataType.BINARY_VECTOR: np.dtype(np.uint8),  # packed bits, dim/8 bytes
}


@dataclass(frozen=True)
class ColumnSpec:
    """How one field is stored: kind, element dtype, row width (vectors) and nullability."""

    kind: str  # "fixed" | "string" | "json" | "sparse"
    dtype: np.dtype | None = None
    width: int | None = None  # dense vectors: elements per row
    nullable: bool = False

    @property
    def tail_shape(self) -> tuple[int, ...]:
        return () if self.width is None else (self.width,)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "dtype": None if self.dtype is None else self.dtype.str,
            "width": self.width,
            "nullable": self.nullable,
        }


META_SPEC = ColumnSpec("json")
PARTITION_SPEC = ColumnSpec("fixed", np.dtype(np.int16))


def spec_for_field(field: FieldSchema) -> ColumnSpec:
    t = field.dtype
    if t in _SCALAR_DTYPES:
        return ColumnSpec("fixed", _SCALAR_DTYPES[t], None, field.nullable)
    if t in (DataType.VARCHAR, DataType.GEOMETRY):  # GEOMETRY: normalised WKT text
        return ColumnSpec("string", None, None, field.nullable)
    if t in (DataType.JSON, DataType.ARRAY):
        return ColumnSpec("json", None, None, field.nullable)
    if t in _VECTOR_DTYPES:
        dim = int(field.dim or 0)
        width = dim // 8 if t == DataType.BINARY_VECTOR else dim
        return ColumnSpec("fixed", _VECTOR_DTYPES[t], width, field.nullable)  # NULL rows: zeros
    if t == DataType.SPARSE_FLOAT_VECTOR:
        return ColumnSpec("sparse", nullable=field.nullable)  # NULL rows: empty
    raise ValueError(f"field {field.name!r}: data type {t.name} cannot be stored")


RESERVE_BYTES = 8 * 1024 * 1024    # a numeric buffer past this size grows inside a reservation ...
RESERVE_FACTOR = 64                # ... of this many times what it needs (address space only) ...
RESERVE_MIN = 4 << 30              # ... and of at least 4 GiB: a 384-d float32 column moves into
# its reservation at 8 MiB (5k rows: an 8 MiB copy) and is not copied again before 2.8M rows;
# moving at 64 MiB copied ~100 MB in one write call (0.3 s on a VM backing fresh memory slowly)
RESERVE_LIMIT = 1 << 40            # but not more than 1 TiB of address space
_NORESERVE_0X4000 = ("x86_64", "amd64", "aarch64", "arm64")   # MAP_NORESERVE is 0x4000 there


def reserved_array(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray | None:
    """A writable array over an anonymous private mapping reserved with ``MAP_NORESERVE``:
    its pages cost nothing until written, so it can be made far larger than what is filled
    (the OS frees it with the last view). None where the platform or the system refuses."""
    noreserve = getattr(mmap, "MAP_NORESERVE", None)   # Python 3.13+; Linux's value before
    if noreserve is None and sys.platform.startswith("linux") and platform.machine() in _NORESERVE_0X4000:
        noreserve = 0x4000
    if noreserve is None:
        return None
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    try:
        region = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | noreserve)
    except (OSError, ValueError, OverflowError):
        return None
    if hasattr(mmap, "MADV_HUGEPAGE"):   # as NumPy does for its own large buffers
        try:
            region.madvise(mmap.MADV_HUGEPAGE)
        except OSError:
            pass
    return np.frombuffer(region, dtype=dtype).reshape(shape)


# ---------------------------------------------------------------- growing a mapped snapshot in place
OVERLAY_MIN = 1024 * 1024          # a mapped column at least this large grows without a copy
_PROT_RW = 0x3                     # PROT_READ | PROT_WRITE
_MAP_PRIVATE = 0x02
_MAP_FIXED = 0x10
stats = {"copied_bytes": 0, "overlaid_bytes": 0}   # what growing buffers copied / mapped instead


def _file_map_of(buf: np.ndarray) -> tuple[str, int] | None:
    """(path, file offset of ``buf``'s first byte) when ``buf`` is a read-only view of a file
    memory map (``np.memmap``, as ``storage.map_npy`` makes), else None."""
    base = buf
    while base is not None and not isinstance(base, np.memmap):
        base = getattr(base, "base", None)
    name = getattr(base, "filename", None)
    if base is None or not isinstance(name, (str, os.PathLike)):
        return None
    start = base.__array_interface__["data"][0]
    at = buf.__array_interface__["data"][0]
    if not start <= at < start + max(base.nbytes, 1):
        return None
    return os.fspath(name), int(base.offset) + (at - start)


def _mapped_inode(addr: int) -> tuple[int, int, int] | None:
    """(major, minor, inode) of the file mapped at ``addr`` (Linux /proc/self/maps)."""
    try:
        with open("/proc/self/maps") as fh:
            for line in fh:
                fields = line.split()
                lo, _, hi = fields[0].partition("-")
                if int(lo, 16) <= addr < int(hi, 16) and len(fields) >= 5:
                    major, _, minor = fields[3].partition(":")
                    return int(major, 16), int(minor, 16), int(fields[4])
    except (OSError, ValueError, IndexError):
        return None
    return None


def overlay_array(buf: np.ndarray, cap: int) -> np.ndarray | None:
    """An array of ``cap`` rows whose first ``len(buf)`` rows are ``buf``'s, without copying
    them: a reserved anonymous mapping (``reserved_array``) with the snapshot file's pages
    mapped privately (copy on write) over its start. Reading those rows reads the page cache,
    as the read-only map did; appends go to the anonymous pages after them; nothing written
    ever reaches the file. The file is the one ``buf`` maps (checked by inode: a part file
    replaced since is not used). None where this cannot be done (not Linux, not a file map,
    any refusal): the caller copies."""
    if not sys.platform.startswith("linux") or os.environ.get("EMBEDB_OVERLAY", "1") == "0":
        return None
    where = _file_map_of(buf)
    if where is None or not buf.flags.c_contiguous or buf.nbytes == 0:
        return None
    path, offset = where
    page = mmap.PAGESIZE
    head = offset % page
    row_bytes = buf.nbytes // len(buf)
    region_bytes = head + cap * row_bytes
    map_bytes = -(-(head + buf.nbytes) // page) * page
    if region_bytes < map_bytes:
        return None
    ident = _mapped_inode(buf.__array_interface__["data"][0])
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if ident is None or ident != (os.major(st.st_dev), os.minor(st.st_dev), st.st_ino) \
                or st.st_size < offset + buf.nbytes:
            return None
        region = reserved_array((region_bytes,), np.dtype(np.uint8))
        if region is None:
            return None
        addr = region.__array_interface__["data"][0]
        got = _libc_mmap()(addr, map_bytes, _PROT_RW, _MAP_PRIVATE | _MAP_FIXED, fd, offset - head)
        if got != addr:   # MAP_FAILED: the reservation is untouched, the caller copies
            return None
    except (OSError, ValueError, AttributeError):
        return None
    finally:
        os.close(fd)   # the mapping keeps the file open
    out = region[head:].view(buf.dtype)[: cap * (row_bytes // buf.dtype.itemsize)]
    stats["overlaid_bytes"] += buf.nbytes
    return out.reshape((cap,) + buf.shape[1:])


_MMAP = None


def _libc_mmap():
    global _MMAP
    if _MMAP is None:
        fn = ctypes.CDLL(None, use_errno=True).mmap
        fn.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long)
        fn.restype = ctypes.c_void_p
        _MMAP = fn
    return _MMAP


# ---------------------------------------------------------------- touching pages ahead
PREFAULT_AHEAD = 32 * 1024 * 1024   # keep at most this many bytes past a column's rows faulted in,
PREFAULT_CALLS = 16                 # ... about this many appends of the last one's size (4 was
                                    # measured ~8% slower per insert call: faults still landed in calls)
PREFAULT_MIN = 1024 * 1024          # buffers smaller than this are left to fault as they fill
_MADV_POPULATE_WRITE = 23           # Linux 5.14+: fault pages in writable, contents unchanged


class _Prefaulter:
    """Faults in, on a thread of its own, the pages a growing column will append to next.

    A fresh anonymous page costs a page fault (and zeroing) on first write: for a 1,000-row
    call of 384-d float32 that is ~375 faults, 0.5-6 ms on the writer's path (the most on a
    virtual machine whose memory the host backs on first touch). ``madvise(MADV_POPULATE_
    WRITE)`` takes those faults ahead of the writer and changes no byte, so it is safe while
    the writer copies rows into the same pages. It is called through ctypes, which releases
    the GIL, so the writer runs meanwhile. Where the call is missing or refused, nothing is
    done (the writer takes the faults, as before)."""

    def __init__(self) -> None:
        self._cv = threading.Condition(threading.Lock())   # a leaf lock, held for a moment
        self._jobs: list[tuple[np.ndarray, int, int]] = []
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._madvise = None
        self.enabled = sys.platform.startswith("linux") and os.environ.get("EMBEDB_PREFAULT", "1") != "0"

    def request(self, buf: np.ndarray, start: int, stop: int) -> None:
        """Fault in bytes ``[start, stop)`` of ``buf`` (a reserved array; the job holds it, so
        its mapping stays alive until the call is done)."""
        if not self.enabled:
            return
        with self._cv:
            if self._thread is None or self._pid != os.getpid():   # (a fork child has no thread)
                self._pid = os.getpid()
                self._jobs = []
                self._thread = threading.Thread(target=self._run, name="embedb-prefault", daemon=True)
                self._thread.start()
            self._jobs.append((buf, start, stop))
            self._cv.notify()

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._jobs:
                    self._cv.wait()
                buf, start, stop = self._jobs.pop(0)
            try:
                self._populate(buf, start, stop)
            except Exception:  # noqa: BLE001 - an optimisation only: the writer faults the pages itself
                self.enabled = False
            del buf

    def _populate(self, buf: np.ndarray, start: int, stop: int) -> None:
        if self._madvise is None:
            libc = ctypes.CDLL(None, use_errno=True)
            fn = libc.madvise
            fn.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
            fn.restype = ctypes.c_int
            self._madvise = fn
        page = mmap.PAGESIZE
        base = buf.__array_interface__["data"][0]
        lo = (base + start) // page * page
        hi = min(base + stop, base + buf.nbytes)
        if hi > lo and self._madvise(lo, hi - lo, _MADV_POPULATE_WRITE) != 0:
            self.enabled = False   # an older kernel (EINVAL) or a refusal: stop asking


    def after_fork_in_child(self) -> None:
        """A fork child has no prefault thread, and the parent's may have held the lock."""
        self._cv = threading.Condition(threading.Lock())
        self._jobs = []
        self._thread = None


_prefaulter = _Prefaulter()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_prefaulter.after_fork_in_child)


class GrowArray:
    """An array that grows by amortised doubling; ``view`` is the filled prefix.

    The buffer may start as a read-only memory map of a snapshot file; the first append then
    copies it into memory (appends never write into mapped snapshot bytes).
    """

    __slots__ = ("_buf", "_n", "_tail", "_dtype", "_faulted")

    def __init__(self, dtype: np.dtype, tail_shape: tuple[int, ...] = (), base: np.ndarray | None = None):
        self._dtype = np.dtype(dtype)
        self._tail = tuple(tail_shape)
        self._faulted = -1   # a large numeric buffer: bytes asked to be faulted in so far; else -1
        if base is None:
            self._buf = np.empty((0,) + self._tail, dtype=self._dtype)
            self._n = 0
        else:
            self._buf = base
            self._n = len(base)

    def __len__(self) -> int:
        return self._n

    @property
    def view(self) -> np.ndarray:
        return self._buf[: self._n]

    def reserve(self, need: int) -> None:
        buf = self._buf
        if need <= len(buf) and buf.flags.writeable:
            return
        # grow 4x: a row is copied a third of a time on average instead of once (a 1M-row
        # vector column copied at 512k rows is ~0.8 GB in one write call). Capacity past the
        # filled rows is address space only (pages are touched when rows arrive); where the
        # system refuses that much, 2x, then exactly what is needed. A large numeric buffer
        # grows inside one reserved mapping instead, so it is not copied again for a long time
        new = None
        row_bytes = self._dtype.itemsize * int(np.prod(self._tail, dtype=np.int64))
        big = self._dtype.kind in "biuf" and need * row_bytes >= RESERVE_BYTES
        mapped = (self._dtype.kind in "biuf" and not buf.flags.writeable and self._n == len(buf)
                  and buf.nbytes >= OVERLAY_MIN)
        if big or mapped:
            cap = min(max(need * RESERVE_FACTOR, RESERVE_MIN // max(row_bytes, 1)),
                      max(2 * need, RESERVE_LIMIT // max(row_bytes, 1)))
            if mapped:   # a snapshot's memory map: its rows stay where they are (no 1.5 GB copy
                new = overlay_array(buf, cap)   # of a 1M-row vector column in the first write)
                if new is not None:
                    self._buf = new
                    self._faulted = 0
                    return
            new = reserved_array((cap,) + self._tail, self._dtype)
        for factor in (4, 2) if new is None else ():
            try:
                new = np.empty((max(need, factor * len(buf), 16),) + self._tail, dtype=self._dtype)
                break
            except MemoryError:
                continue
        if new is None:
            new = np.empty((need,) + self._tail, dtype=self._dtype)
        new[: self._n] = buf[: self._n]
        stats["copied_bytes"] += buf[: self._n].nbytes
        self._buf = new
        # the capacity past the rows is faulted in off the writer's path (numbers only)
        self._faulted = 0 if self._dtype.kind in "biuf" and new.nbytes >= PREFAULT_MIN else -1

    def append(self, values: np.ndarray) -> None:
        m = len(values)
        if m == 0:
            return
        self.reserve(self._n + m)
        self._buf[self._n : self._n + m] = values
        self._n += m
        if self._faulted >= 0:
            self._fault_ahead(self._buf[:m].nbytes)

    def _fault_ahead(self, appended: int) -> None:
        """Keep the next appends' pages of a large buffer faulted in, off this thread (see
        _Prefaulter). Faulted pages are resident memory no row uses yet, so the distance ahead
        is a few appends of the last one's size (at most 32 MiB): the vector column of
        1,000-row 384-d calls keeps 24 MiB ahead, an int64 column of the same calls 128 KiB."""
        buf = self._buf
        used = self._n * (buf.nbytes // max(len(buf), 1))
        ahead = min(PREFAULT_AHEAD, PREFAULT_CALLS * appended)
        start = max(self._faulted, used)
        if start - used >= ahead // 2 or start >= buf.nbytes:   # asked in pieces of half of it
            return
        stop = min(used + ahead, buf.nbytes)
        self._faulted = stop
        _prefaulter.request(buf, start, stop)

    def replace(self, values: np.ndarray) -> None:
        """Make ``values`` the whole content (compaction, truncate)."""
        self._buf = np.array(values, dtype=self._dtype, copy=True).reshape((-1,) + self._tail)
        self._n = len(self._buf)
        self._faulted = -1


def csr_over(indptr: np.ndarray, indices: np.ndarray, values: np.ndarray, shape: tuple[int, int]):
    """A SciPy CSR matrix over these arrays, not a copy of them. SciPy's checked constructor
    copies any view of a buffer more than twice its size (its prune), i.e. a whole sparse
    column whenever its buffers have grown ahead (a 3.6M-entry BM25 column: ~43 MB per read),
    so the arrays are set on an empty matrix instead (SciPy computes the sorted/canonical flags
    on first use). Mixed index dtypes take the constructor, which unifies them."""
    import scipy.sparse as sp

    if indptr.dtype != indices.dtype:
        return sp.csr_array((values, indices, indptr), shape=shape)
    m = sp.csr_array(shape, dtype=values.dtype)
    m.indptr, m.indices, m.data = indptr, indices, values
    return m


# ---------------------------------------------------------------- text <-> parts helpers
def encode_texts(texts: list[str], char_lengths: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """UTF-8 encode strings into (lengths int64, data uint8). ``char_lengths``: the strings'
    lengths in characters when the caller has them (``np.strings.str_len``)."""
    joined = "".join(texts)
    try:
        data = joined.encode("utf-8")
    except UnicodeEncodeError:   # a lone surrogate: the per-string encode below raises it
        data = b""
    if len(data) == len(joined):
        # ASCII (one byte per character): the whole batch in one encode, lengths without a
        # Python call per string
        lengths = (np.asarray(char_lengths, dtype=np.int64) if char_lengths is not None
                   else np.fromiter(map(len, texts), dtype=np.int64, count=len(texts)))
        return lengths, np.frombuffer(data, dtype=np.uint8)
    encoded = [t.encode("utf-8") for t in texts]
    lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
    data = np.frombuffer(b"".join(encoded), dtype=np.uint8)
    return lengths, data


def encode_string_array(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``encode_texts`` of a StringDType array."""
    if not len(values):
        return np.zeros(0, np.int64), np.zeros(0, np.uint8)
    return encode_texts(values.tolist())   # (not np.strings.str_len: it drops trailing NULs)


def decode_texts(lengths: np.ndarray, data: np.ndarray) -> list[str]:
    """Inverse of encode_texts without a Python call per row: 0xFF never occurs in UTF-8, so
    it is inserted between rows and the whole buffer is decoded and split once."""
    n = len(lengths)
    if n == 0:
        return []
    cuts = np.cumsum(lengths)[:-1]
    joined = np.insert(np.asarray(data, dtype=np.uint8), cuts, 0xFF).tobytes()
    return joined.decode("utf-8", "surrogateescape").split("\udcff")


def dump_json_values(values: np.ndarray | list) -> list[str]:
    return jsonvalues.dump_texts(values)  # one shared encoder, safe for legacy deep values


def load_json_texts(texts: list[str]) -> np.ndarray:
    """Parse JSON texts into an object array with one json.loads call for all rows."""
    return jsonvalues.decode_texts(texts)


# ---------------------------------------------------------------- the column
_RESOLVE_LOCK = threading.Lock()


class Column:
    """One field's values for all appended rows, plus a validity mask when nullable."""

    def __init__(self, spec: ColumnSpec):
        self.spec = spec
        self._valid = GrowArray(np.bool_) if spec.nullable else None
        self._pending: dict[str, np.ndarray] | None = None  # undecoded string/json parts
        self._pending_n = 0
        # rows appended while the snapshot's text is still undecoded: a write does not decode
        # (or copy) every stored text first; the first read joins them (``_materialize``)
        self._tail: GrowArray | None = None
        self._deferred: tuple | None = None  # (parts, n, verify): snapshot parts not yet checked
        if spec.kind == "fixed":
            self._values = GrowArray(spec.dtype, spec.tail_shape)
        elif spec.kind == "string":
            self._values = GrowArray(STRING_DTYPE)
        elif spec.kind == "json":
            self._values = GrowArray(np.dtype(object))
        elif spec.kind == "sparse":
            self._indptr = GrowArray(np.int64, base=np.zeros(1, dtype=np.int64))
            self._indices = GrowArray(np.int64)
            self._svalues = GrowArray(np.float32)
            self._max_index = -1
        else:
            raise ValueError(f"unknown column kind {spec.kind!r}")

    # -- size and raw access --------------------------------------------------------------
    def __len__(self) -> int:
        if self._deferred is not None:
            return self._deferred[1]
        if self.spec.kind == "sparse":
            return len(self._indptr) - 1
        if self._pending is not None:
            return self._pending_n + (0 if self._tail is None else len(self._tail))
        return len(self._values)

    @property
    def values(self) -> np.ndarray:
        """All rows' values (fixed/string/json kinds); decodes snapshot text on first use."""
        if self._deferred is not None:
            self._resolve()
        self._materialize()
        return self._values.view

    @property
    def valid(self) -> np.ndarray | None:
        if self._deferred is not None:
            self._resolve()
        return None if self._valid is None else self._valid.view

    def csr(self, n: int | None = None) -> sp.csr_array:
        """Rows ``[0, n)`` (all rows when None) as a CSR matrix over the column's arrays."""
        import scipy.sparse as sp

        if self._deferred is not None:
            self._resolve()
        n = len(self) if n is None else n
        indptr = self._indptr.view[: n + 1]
        nnz = int(indptr[-1])
        return csr_over(indptr, self._indices.view[:nnz], self._svalues.view[:nnz],
                        (n, max(self._max_index + 1, 1)))

    def _materialize(self) -> None:
        if self._pending is None:
            return
        parts, n0, tail = self._pending, self._pending_n, self._tail
        texts = decode_texts(parts["lengths"], parts["data"])
        if self.spec.kind == "string":
            arr = np.array(texts, dtype=STRING_DTYPE) if texts else np.empty(0, STRING_DTYPE)
        else:
            arr = load_json_texts(texts)
            if self._valid is not None:
                arr[~self._valid.view[:n0]] = None
        if tail is not None and len(tail):
            arr = np.concatenate([arr, tail.view])
        self._values = GrowArray(arr.dtype, base=arr)
        self._pending, self._tail = None, None   # after: a reader never sees a half-joined column

    # -- appending -------------------------------------------------------------------------
    def append(self, values: Any, valid: np.ndarray | None = None) -> None:
        """Append in-memory values (array, object array, or csr_array for sparse)."""
        if self._deferred is not None:
            self._resolve()
        kind = self.spec.kind
        if kind == "sparse":
            self._append_sparse(values)
            if self._valid is not None:
                self._valid.append(np.ones(values.shape[0], np.bool_) if valid is None else valid)
            return
        if self._pending is not None:   # snapshot text still undecoded: append beside it
            if self._tail is None:
                self._tail = GrowArray(STRING_DTYPE if kind == "string" else np.dtype(object))
            self._tail.append(values)
        else:
            self._values.append(values)
        if self._valid is not None:
            self._valid.append(np.ones(len(values), np.bool_) if valid is None else valid)

    def _append_sparse(self, mat: sp.csr_array) -> None:
        nnz_before = self._indptr.view[-1]
        self._indptr.append(np.asarray(mat.indptr[1:], dtype=np.int64) + nnz_before)
        self._indices.append(np.asarray(mat.indices, dtype=np.int64))
        self._svalues.append(np.asarray(mat.data, dtype=np.float32))
        if mat.nnz:
            self._max_index = max(self._max_index, int(mat.indices.max()))

    def append_parts(self, parts: dict[str, np.ndarray], n: int) -> None:
        """Append rows given as parts (log replay)."""
        values, valid = values_from_parts(self.spec, parts, n)
        self.append(values, valid)

    # -- reading rows ----------------------------------------------------------------------
    def take(self, rows: np.ndarray) -> tuple[Any, np.ndarray | None]:
        """(values, valid) of the given row numbers; sparse returns a csr_array."""
        if self._deferred is not None:
            self._resolve()
        valid = None if self._valid is None else self._valid.view[rows]
        if self.spec.kind == "sparse":
            return self.csr()[rows], valid
        return self.values[rows], valid

    # -- parts for persistence -------------------------------------------------------------
    def parts(self, start: int, stop: int) -> dict[str, np.ndarray]:
        """The parts of rows [start, stop) (appended to snapshot files and log payloads)."""
        if self._deferred is not None:
            self._resolve()
        kind = self.spec.kind
        out: dict[str, np.ndarray] = {}
        if kind == "sparse":
            indptr = self._indptr.view
            lo, hi = indptr[start], indptr[stop]
            out["lengths"] = np.diff(indptr[start : stop + 1])
            out["indices"] = self._indices.view[lo:hi]
            out["values"] = self._svalues.view[lo:hi]
            if self._valid is not None:
                out["valid"] = self._valid.view[start:stop]
            return out
        if kind == "fixed":
            out["values"] = self._values.view[start:stop]
        else:
            n0 = self._pending_n
            if self._pending is not None and start >= n0:   # appended rows only: no decoding
                vals = self._tail.view[start - n0:stop - n0] if self._tail is not None else \
                    np.empty(0, STRING_DTYPE if kind == "string" else object)
            else:
                vals = self.values[start:stop]
            valid = None if self._valid is None else self._valid.view[start:stop]
            out["lengths"], out["data"] = encode_values_text(self.spec, vals, valid)
        if self._valid is not None:
            out["valid"] = self._valid.view[start:stop]
        return out

    @classmethod
    def from_parts(cls, spec: ColumnSpec, parts: dict[str, np.ndarray], n: int, verify=None) -> "Column":
        """A column holding ``n`` rows given as parts (possibly memory maps); string and json
        text is decoded lazily on first use so opening stays fast. ``verify`` (checks the
        parts' checksums, raising StorageError) runs on first use, before any value is read."""
        col = cls(spec)
        if verify is not None:
            col._deferred = (parts, n, verify)
            return col
        if spec.nullable:
            col._valid = GrowArray(np.bool_, base=parts["valid"])
        if spec.kind == "fixed":
            col._values = GrowArray(spec.dtype, spec.tail_shape, base=parts["values"])
        elif spec.kind in ("string", "json"):
            if n:
                col._pending = {"lengths": parts["lengths"], "data": parts["data"]}
                col._pending_n = n
        else:
            lengths = np.asarray(parts["lengths"], dtype=np.int64)
            indptr = np.zeros(n + 1, dtype=np.int64)
            np.cumsum(lengths, out=indptr[1:])
            col._indptr = GrowArray(np.int64, base=indptr)
            col._indices = GrowArray(np.int64, base=parts["indices"])
            col._svalues = GrowArray(np.float32, base=parts["values"])
            idx = parts["indices"]
            col._max_index = int(idx.max()) if len(idx) else -1
        return col

    def ensure_verified(self) -> None:
        """Check the snapshot parts' checksums now (StorageError naming a damaged file)."""
        if self._deferred is not None:
            self._resolve()

    def _resolve(self) -> None:
        """Verify the snapshot parts (first use) and take them as this column's content."""
        with _RESOLVE_LOCK:
            if self._deferred is None:
                return
            parts, n, verify = self._deferred
            verify()  # StorageError naming the file: stays deferred, every use raises again
            self.__dict__.update(Column.from_parts(self.spec, parts, n).__dict__)

    # -- rewriting -------------------------------------------------------------------------
    def keep(self, keep_rows: np.ndarray) -> None:
        """Keep only these row numbers (compaction)."""
        if self._deferred is not None:
            self._resolve()
        if self.spec.kind == "sparse":
            import scipy.sparse as sp

            mat = self.csr()[keep_rows]
            valid = None if self._valid is None else self._valid.view[keep_rows]
            self.reset()
            self._append_sparse(sp.csr_array(mat))
            if valid is not None:
                self._valid.append(valid)
            return
        vals, valid = self.take(keep_rows)
        self._values = GrowArray(vals.dtype, self.spec.tail_shape)
        self._values.append(vals)
        if self._valid is not None:
            self._valid = GrowArray(np.bool_)
            self._valid.append(valid)

    def reset(self) -> None:
        self.__init__(self.spec)


def encode_values_text(spec: ColumnSpec, values: np.ndarray, valid: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(lengths, data) of string or json values."""
    if spec.kind == "string":
        return encode_string_array(values)
    texts = dump_json_values(values)
    if valid is not None:  # NULL rows are stored as JSON null and flagged invalid
        for i in np.flatnonzero(~valid):
            texts[i] = "null"
    return encode_texts(texts)


def values_from_parts(spec: ColumnSpec, parts: dict[str, np.ndarray], n: int) -> tuple[Any, np.ndarray | None]:
    """Decode parts into in-memory values (the inverse of Column.parts)."""
    valid = parts.get("valid") if spec.nullable else None
    if spec.kind == "fixed":
        return np.asarray(parts["values"], dtype=spec.dtype).reshape((n,) + spec.tail_shape), valid
    if spec.kind == "sparse":
        lengths = np.asarray(parts["lengths"], dtype=np.int64)
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        idx = np.asarray(parts["indices"], dtype=np.int64)
        import scipy.sparse as sp

        ncols = int(idx.max()) + 1 if len(idx) else 1
        return sp.csr_array((np.asarray(parts["values"], np.float32), idx, indptr), shape=(n, ncols)), valid
    texts = decode_texts(parts["lengths"], parts["data"])
    if spec.kind == "string":
        return (np.array(texts, dtype=STRING_DTYPE) if texts else np.empty(0, STRING_DTYPE)), valid
    arr = load_json_texts(texts)
    if valid is not None:
        arr[~np.asarray(valid, bool)] = None
    return arr, valid
