"""TIMESTAMPTZ values: ISO-8601 text <-> UTC microseconds since the epoch (int64).

Milvus stores every TIMESTAMPTZ as an absolute UTC instant. Text with an offset (``Z``,
``+08:00``) names its instant directly; naive text (``2025-01-01 12:00:00``) is read in the
time zone in force: the call's ``timezone=`` argument, else the collection's ``timezone``
property, else the database's, else UTC. Output is RFC 3339 text in that same zone, as Milvus
(Go's ``time.RFC3339Nano``) writes it: ``2025-01-01T00:00:00Z``, ``2025-01-01T08:00:00+08:00``,
fractional seconds only when non-zero.

Dates are proleptic Gregorian from year 0000 to 9999 (Milvus accepts ``0000-01-01``, which
``datetime`` cannot hold), so calendar arithmetic here is done on day numbers with NumPy
(Howard Hinnant's civil-from-days algorithms); ``zoneinfo`` only supplies UTC offsets.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timedelta, timezone as dt_timezone
from functools import lru_cache
from typing import Any, Iterator

import numpy as np

from .errors import ParamError, SchemaError

UTC = "UTC"
US_PER_SECOND = 1_000_000
US_PER_DAY = 86_400 * US_PER_SECOND

# The call's timezone (query/search ``timezone=``); None = use the collection's.
_CALL_TIMEZONE: ContextVar[str | None] = ContextVar("embedb_call_timezone", default=None)

_ISO = re.compile(
    r"\s*(?P<y>\d{4})-(?P<mo>\d{2})-(?P<d>\d{2})"
    r"(?:[Tt ](?P<h>\d{2}):(?P<mi>\d{2})(?::(?P<s>\d{2})(?:[.,](?P<f>\d{1,9}))?)?)?"
    r"\s*(?P<tz>[Zz]|[+-]\d{2}(?::?\d{2})?)?\s*"
)
_DURATION = re.compile(
    r"\s*(?P<sign>[+-])?P(?:(?P<y>\d+(?:\.\d+)?)Y)?(?:(?P<mo>\d+(?:\.\d+)?)M)?(?:(?P<w>\d+(?:\.\d+)?)W)?"
    r"(?:(?P<d>\d+(?:\.\d+)?)D)?(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<mi>\d+(?:\.\d+)?)M)?"
    r"(?:(?P<s>\d+(?:\.\d+)?)S)?)?\s*"
)


class TimestampError(ValueError):
    """Text that is not a valid ISO-8601 timestamp, duration or IANA zone (callers wrap it)."""


# ---------------------------------------------------------------- time zones
@lru_cache(maxsize=256)
def _zone(name: str):
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise TimestampError(
            f"invalid timezone name {name!r}; must be a valid IANA Time Zone ID "
            f"(e.g., 'Asia/Shanghai' or 'UTC')") from None


def check_timezone(name: Any) -> str:
    """``name`` if it is a valid IANA zone, else ParamError (the ``timezone`` property/argument)."""
    if not isinstance(name, str) or not name.strip():
        raise ParamError(f"timezone must be an IANA time zone name such as 'Asia/Shanghai', got {name!r}")
    try:
        _zone(name)
    except TimestampError as exc:
        raise ParamError(str(exc)) from None
    return name


@contextmanager
def use_timezone(name: str | None) -> Iterator[None]:
    """Within the block, reads format (and naive literals parse) in ``name`` (None: no change)."""
    if name is None:
        yield
        return
    token = _CALL_TIMEZONE.set(check_timezone(name))
    try:
        yield
    finally:
        _CALL_TIMEZONE.reset(token)


def call_timezone() -> str | None:
    return _CALL_TIMEZONE.get()


def effective_timezone(*fallbacks: Any) -> str:
    """The call's zone, else the first set fallback (collection, database), else UTC."""
    tz = _CALL_TIMEZONE.get()
    if tz:
        return tz
    for candidate in fallbacks:
        if isinstance(candidate, str) and candidate:
            return candidate
    return UTC


def _offset_seconds(zone_name: str, y: int, mo: int, d: int, h: int, mi: int, s: int, *, local: bool) -> int:
    """UTC offset of ``zone_name`` at a local wall time (``local``) or at a UTC instant."""
    if zone_name in (UTC, "Etc/UTC", "utc"):
        return 0
    zone = _zone(zone_name)
    y = min(max(y, 1), 9999)  # outside datetime's range: the offset of the nearest year
    try:
        if local:
            off = datetime(y, mo, d, h, mi, s, tzinfo=zone).utcoffset()
        else:
            off = datetime(y, mo, d, h, mi, s, tzinfo=dt_timezone.utc).astimezone(zone).utcoffset()
    except (OverflowError, ValueError):
        off = datetime(y, mo, min(d, 28), tzinfo=zone).utcoffset()
    return int(off.total_seconds()) if off is not None else 0


# ---------------------------------------------------------------- civil calendar (vectorised)
def days_from_civil(y: Any, m: Any, d: Any) -> Any:
    """Days since 1970-01-01 of proleptic Gregorian dates (scalars or int64 arrays)."""
    y = np.asarray(y, dtype=np.int64) - (np.asarray(m) <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    m = np.asarray(m, dtype=np.int64)
    doy = (153 * (m + np.where(m > 2, -3, 9)) + 2) // 5 + np.asarray(d, dtype=np.int64) - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def civil_from_days(z: Any) -> tuple[Any, Any, Any]:
    """(year, month, day) of day numbers since 1970-01-01 (scalars or int64 arrays)."""
    z = np.asarray(z, dtype=np.int64) + 719468
    era = np.floor_divide(z, 146097)
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = np.where(mp < 10, mp + 3, mp - 9)
    y = yoe + era * 400 + (m <= 2)
    return y, m, d


def _days_in_month(y: Any, m: Any) -> Any:
    y, m = np.asarray(y, dtype=np.int64), np.asarray(m, dtype=np.int64)
    leap = ((y % 4 == 0) & (y % 100 != 0)) | (y % 400 == 0)
    base = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)[m - 1]
    return base + ((m == 2) & leap)


# ---------------------------------------------------------------- parsing
_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _day_number(y: int, m: int, d: int) -> int:
    """days_from_civil on Python ints (the per-row parse path: no NumPy scalar overhead)."""
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468


def _month_length(y: int, m: int) -> int:
    if m == 2 and y % 4 == 0 and (y % 100 != 0 or y % 400 == 0):
        return 29
    return _MONTH_DAYS[m - 1]


def parse_iso(text: str, zone_name: str = UTC) -> int:
    """UTC microseconds of ISO-8601 ``text``; naive text is read in ``zone_name``."""
    match = _ISO.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise TimestampError(f"invalid timestamp string: {text!r}. Does not match any known format "
                             f"(ISO 8601, e.g. '2025-01-01T08:00:00+08:00')")
    g = match.groupdict()
    y, mo, d = int(g["y"]), int(g["mo"]), int(g["d"])
    h, mi, s = int(g["h"] or 0), int(g["mi"] or 0), int(g["s"] or 0)
    frac = g["f"] or ""
    us = int((frac + "000000")[:6]) if frac else 0
    if not 1 <= mo <= 12 or not 1 <= d <= _month_length(y, mo):
        raise TimestampError(f"invalid timestamp string: {text!r}: day {d} does not exist in {y:04d}-{mo:02d}")
    if h > 23 or mi > 59 or s > 59:
        raise TimestampError(f"invalid timestamp string: {text!r}: time of day out of range")
    tz = g["tz"]
    if tz is None:
        offset = _offset_seconds(zone_name, y, mo, d, h, mi, s, local=True)
    elif tz in ("Z", "z"):
        offset = 0
    else:
        digits = tz[1:].replace(":", "")
        oh, om = int(digits[:2]), int(digits[2:4] or 0)
        if oh > 23 or om > 59:
            raise TimestampError(f"invalid timestamp string: {text!r}: UTC offset {tz} is out of range")
        offset = (oh * 3600 + om * 60) * (-1 if tz[0] == "-" else 1)
    seconds = _day_number(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - offset
    return seconds * US_PER_SECOND + us


def to_micros(value: Any, zone_name: str = UTC) -> int:
    """An ISO string or a ``datetime`` (naive = in ``zone_name``) as UTC microseconds."""
    if isinstance(value, str):
        return parse_iso(value, zone_name)
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            offset = _offset_seconds(zone_name, value.year, value.month, value.day, value.hour,
                                     value.minute, value.second, local=True)
            value = value.replace(tzinfo=dt_timezone(timedelta(seconds=offset)))
        delta = value - datetime(1970, 1, 1, tzinfo=dt_timezone.utc)
        return (delta.days * 86400 + delta.seconds) * US_PER_SECOND + delta.microseconds
    raise TimestampError(f"expected an ISO 8601 string, got {type(value).__name__}")


def parse_duration(text: str) -> tuple[int, int]:
    """ISO-8601 duration (``P1D``, ``PT3H``, ``P1Y2M``, ``-P2W``) as (months, microseconds)."""
    match = _DURATION.fullmatch(text) if isinstance(text, str) else None
    if match is None or not any(match.group(k) for k in ("y", "mo", "w", "d", "h", "mi", "s")) \
            or text.strip().endswith("T"):
        raise TimestampError(f"invalid INTERVAL {text!r}: expected an ISO 8601 duration such as "
                             f"'P1D', 'PT3H' or 'P2DT6H'")
    g = match.groupdict()

    def num(key: str) -> float:
        return float(g[key]) if g[key] else 0.0

    if (g["y"] and "." in g["y"]) or (g["mo"] and "." in g["mo"]):
        raise TimestampError(f"invalid INTERVAL {text!r}: years and months must be whole numbers")
    months = int(num("y")) * 12 + int(num("mo"))
    seconds = ((num("w") * 7 + num("d")) * 86400 + num("h") * 3600 + num("mi") * 60 + num("s"))
    micros = int(round(seconds * US_PER_SECOND))
    if g["sign"] == "-":
        months, micros = -months, -micros
    return months, micros


def add_interval(micros: np.ndarray, months: int, delta_us: int) -> np.ndarray:
    """``micros + interval``: calendar months in UTC (the day clamped to the month's length),
    then the fixed part (weeks, days, hours... as elapsed time)."""
    out = np.asarray(micros, dtype=np.int64)
    if months:
        days, tod = np.divmod(out, US_PER_DAY)
        y, m, d = civil_from_days(days)
        total = y * 12 + (m - 1) + months
        y2, m2 = np.floor_divide(total, 12), total % 12 + 1
        d2 = np.minimum(d, _days_in_month(y2, m2))
        out = days_from_civil(y2, m2, d2) * US_PER_DAY + tod
    return out + np.int64(delta_us)


# ---------------------------------------------------------------- formatting
def format_micros(values: Any, zone_name: str = UTC) -> list[str]:
    """RFC 3339 text of UTC microsecond values in ``zone_name`` (one string per value)."""
    arr = np.asarray(values, dtype=np.int64).reshape(-1)
    if not len(arr):
        return []
    seconds = np.floor_divide(arr, US_PER_SECOND)
    if zone_name in (UTC, "Etc/UTC", "utc"):
        offsets = np.zeros(len(arr), dtype=np.int64)
    else:
        offsets = np.empty(len(arr), dtype=np.int64)
        cache: dict[int, int] = {}
        for i, sec in enumerate(seconds.tolist()):
            hour = sec // 3600  # zone offsets change on hour boundaries or coarser
            off = cache.get(hour)
            if off is None:
                y, m, d = (int(x) for x in civil_from_days(sec // 86400))
                tod = sec % 86400
                off = _offset_seconds(zone_name, y, m, d, tod // 3600, tod // 60 % 60, tod % 60, local=False)
                cache[hour] = off
            offsets[i] = off
    local = seconds + offsets
    # date and time of day for all rows at once (NumPy prints years 0000-9999 as four digits)
    text = np.datetime_as_string(local.astype("datetime64[s]"), unit="s").astype(object)
    frac = arr - seconds * US_PER_SECOND
    for i in np.flatnonzero(frac):  # fractional seconds only where they are not zero
        text[i] += "." + f"{int(frac[i]):06d}".rstrip("0")
    zones, which = np.unique(offsets, return_inverse=True)
    suffix = np.array([_offset_text(int(z)) for z in zones], dtype=object)[which.reshape(-1)]
    return (text + suffix).tolist()


def _offset_text(offset: int) -> str:
    if offset == 0:
        return "Z"
    a = abs(offset)
    return f"{'+' if offset > 0 else '-'}{a // 3600:02d}:{a // 60 % 60:02d}"


def check_default(field: Any) -> None:
    """A TIMESTAMPTZ ``default_value`` must be ISO-8601 text (SchemaError naming the field)."""
    value = field.default_value
    if not isinstance(value, str):
        raise SchemaError(f"type (Timestamptz) of field ({field.name}) is not equal to the type "
                          f"({type(value).__name__}) of default_value: an ISO 8601 string is expected")
    try:
        parse_iso(value)
    except TimestampError as exc:
        raise SchemaError(f"field {field.name!r}: default_value {exc}") from None


def honours_timezone(method: Any) -> Any:
    """Decorate a client read method so its ``timezone=`` keyword (an IANA name) is in force
    while it runs: TIMESTAMPTZ values format, and naive filter literals read, in that zone."""
    import functools

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        zone = kwargs.pop("timezone", None)
        if zone is None:   # the common call: no context to enter (reads are a hot path)
            return method(*args, **kwargs)
        with use_timezone(zone):
            return method(*args, **kwargs)

    return wrapper


def iterator_honours_timezone(factory: Any) -> Any:
    """Like :func:`honours_timezone` for a method returning an iterator: every ``next()`` of
    the iterator runs in the ``timezone=`` the call named."""
    import functools

    @functools.wraps(factory)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        zone = kwargs.pop("timezone", None)
        with use_timezone(zone):
            iterator = factory(*args, **kwargs)
        if zone is not None:
            step = iterator.next

            def next_in_zone() -> Any:
                with use_timezone(zone):
                    return step()

            iterator.next = next_in_zone  # the instance attribute shadows the method
        return iterator

    return wrapper
