"""GEOMETRY values: WKT in and out, and the ``ST_*`` spatial predicates of Milvus filters.

Geometry work is done by shapely 2 (GEOS), an optional extra (``pip install "embedb[geo]"``)
imported on first use. A GEOMETRY column is stored as shapely's normalised WKT (``POINT
(13.39971 52.51801)``, the form Milvus returns); a filter parses the column with one vectorised
``shapely.from_wkt`` call, prepares the query geometry once and evaluates the predicate over the
whole column in C. ``ST_CONTAINS(geo, B)`` is computed as ``within(B, geo)`` and so on, so the
prepared single geometry is always the first argument.

``ST_DWITHIN(geo, 'POINT(lon lat)', meters)`` measures great-circle distance on a sphere of
radius 6371000 m (the radius Milvus's own
tests measure with) from the point to the nearest point of each
geometry (coordinates are longitude, latitude in degrees); a geometry containing the point is
at distance 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import SchemaError, missing_dependency

EARTH_RADIUS_M = 6371000.0

# predicate name -> (shapely function of (query, column)) computing name(column, query)
_INVERSE = {
    "st_equals": "equals",
    "st_touches": "touches",
    "st_overlaps": "overlaps",
    "st_crosses": "crosses",
    "st_intersects": "intersects",
    "st_contains": "within",
    "st_within": "contains",
}
PREDICATES = frozenset(_INVERSE) | {"st_dwithin"}


class GeometryError(ValueError):
    """Text that is not valid WKT; ``row`` is its position in the batch (or -1)."""

    def __init__(self, message: str, row: int = -1) -> None:
        super().__init__(message)
        self.row = row


def shapely_module():
    try:
        import shapely
    except ImportError:
        raise missing_dependency("shapely", "geo") from None
    return shapely


def normalize_wkt(values: list) -> list[str]:
    """Parse WKT strings (None = a NULL slot, kept as "") and return shapely's WKT of each."""
    if all(v is None for v in values):  # only NULLs: nothing to parse, shapely not needed
        return [""] * len(values)
    shapely = shapely_module()
    arr = np.array([v if isinstance(v, str) else None for v in values], dtype=object)
    present = np.array([v is not None for v in values], dtype=bool)
    geoms = shapely.from_wkt(arr, on_invalid="ignore")
    bad = present & shapely.is_missing(geoms)
    if bad.any():
        i = int(np.argmax(bad))
        raise GeometryError(f"{values[i]!r} is not valid WKT: syntax error (expected e.g. "
                            f"'POINT (13.4 52.5)')", i)
    texts = shapely.to_wkt(geoms, rounding_precision=-1, trim=True)
    return ["" if t is None else t for t in texts.tolist()]


def parse_one(text: Any, what: str):
    """One WKT literal of a filter as a prepared shapely geometry (GeometryError if invalid)."""
    shapely = shapely_module()
    if not isinstance(text, str):
        raise GeometryError(f"{what} must be a WKT string, got {text!r}")
    geom = shapely.from_wkt(text, on_invalid="ignore")
    if geom is None:
        raise GeometryError(f"{what} {text!r} is not valid WKT")
    shapely.prepare(geom)
    return geom


def column_geometries(wkt: np.ndarray, valid: np.ndarray | None) -> np.ndarray:
    """Shapely geometries of a stored WKT column (None where NULL)."""
    shapely = shapely_module()
    arr = np.asarray(wkt, dtype=object)
    if valid is not None:
        arr = np.where(valid, arr, None)
    return shapely.from_wkt(arr, on_invalid="ignore")


def predicate(name: str, column: np.ndarray, query: Any) -> np.ndarray:
    """``name(column[i], query)`` for every row (False where the column is NULL)."""
    shapely = shapely_module()
    fn = getattr(shapely, _INVERSE[name])
    out = fn(query, column)  # the prepared query geometry first
    return np.asarray(out, dtype=bool) & ~shapely.is_missing(column)


def dwithin(column: np.ndarray, point: Any, meters: float) -> np.ndarray:
    """Rows whose geometry lies within ``meters`` (great circle) of ``point`` (lon, lat)."""
    shapely = shapely_module()
    if shapely.get_type_id(point) != 0:
        raise GeometryError(f"ST_DWITHIN needs a POINT as its second argument, got a {point.geom_type}")
    present = ~shapely.is_missing(column) & ~shapely.is_empty(column)
    out = np.zeros(len(column), dtype=bool)
    if not present.any():
        return out
    geoms = column[present]
    coords = np.empty((len(geoms), 2), dtype=np.float64)
    points = shapely.get_type_id(geoms) == 0
    if points.any():  # a point is its own nearest point: no GEOS call per row
        coords[points] = shapely.get_coordinates(geoms[points])
    if not points.all():
        lines = shapely.shortest_line(geoms[~points], point)  # first coordinate lies on the geometry
        coords[~points] = shapely.get_coordinates(lines).reshape(-1, 2, 2)[:, 0, :]
    lon0, lat0 = shapely.get_x(point), shapely.get_y(point)
    dist = haversine_m(coords[:, 0], coords[:, 1], lon0, lat0)
    out[present] = dist <= meters
    return out


def haversine_m(lon: Any, lat: Any, lon0: float, lat0: float) -> np.ndarray:
    """Great-circle distance in meters between (lon, lat) arrays and one point (degrees)."""
    lon, lat = np.radians(np.asarray(lon, dtype=np.float64)), np.radians(np.asarray(lat, dtype=np.float64))
    lon0, lat0 = np.radians(lon0), np.radians(lat0)
    a = np.sin((lat - lat0) / 2) ** 2 + np.cos(lat) * np.cos(lat0) * np.sin((lon - lon0) / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def check_default(field: Any) -> None:
    """A GEOMETRY ``default_value`` must be valid WKT (SchemaError naming the field)."""
    value = field.default_value
    if not isinstance(value, str):
        raise SchemaError(f"field {field.name!r}: a GEOMETRY default_value must be a WKT string, "
                          f"got {type(value).__name__}")
    try:
        normalize_wkt([value])
    except GeometryError as exc:
        raise SchemaError(f"field {field.name!r}: default_value {exc}") from None


_CACHE_LOCK = __import__("threading").Lock()


def cached_geometries(store: dict, field: str, generation: int, wkt: np.ndarray) -> np.ndarray:
    """Parsed geometries of an append-only WKT column, kept in ``store`` (a collection's
    ``extensions``) so a filter parses only the rows appended since the last one."""
    shapely = shapely_module()
    n = len(wkt)
    key = ("geometry", field)
    with _CACHE_LOCK:
        entry = store.get(key)
    if entry is not None and entry[0] == generation and len(entry[1]) >= n:
        return entry[1][:n]
    start = len(entry[1]) if entry is not None and entry[0] == generation else 0
    fresh = shapely.from_wkt(np.asarray(wkt[start:n], dtype=object), on_invalid="ignore")
    geoms = fresh if start == 0 else np.concatenate([entry[1][:start], fresh])
    with _CACHE_LOCK:
        current = store.get(key)
        if current is None or current[0] != generation or len(current[1]) < n:
            store[key] = (generation, geoms)
    return geoms
