"""Result shapes of pymilvus: Hit, Hits, SearchResult, QueryResult, OmitZeroDict."""

from __future__ import annotations

from typing import Any, Iterable


class OmitZeroDict(dict):
    """A dict whose str()/repr() hides zero-valued entries such as ``cost: 0``."""

    def __str__(self) -> str:
        return str({k: v for k, v in self.items() if not (isinstance(v, (int, float)) and not isinstance(v, bool) and v == 0 and k == "cost")})

    __repr__ = __str__


class Hit(dict):
    """One search hit: ``{<pk field>: pk, "distance": d, "entity": {...}}``.

    Built from that dict (the primary key first: ``.id`` is the first entry, so a hit needs no
    per-instance attributes and is created at C speed). ``hit["field"]`` falls back to
    ``hit["entity"]["field"]``; ``.id``, ``.distance``, ``.score`` and ``.pk`` are attributes as
    in pymilvus.
    """

    __slots__ = ()

    @property
    def id(self) -> Any:
        return next(iter(dict.values(self)))

    pk = id

    @property
    def distance(self) -> float:
        return dict.__getitem__(self, "distance")

    score = distance

    @property
    def entity(self) -> dict:
        return dict.__getitem__(self, "entity")

    @property
    def fields(self) -> dict:
        return self.entity

    def get(self, key: Any, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def __getitem__(self, key: Any) -> Any:
        if dict.__contains__(self, key):
            return dict.__getitem__(self, key)
        entity = dict.__getitem__(self, "entity")
        if key in entity:
            return entity[key]
        raise KeyError(key)

    def __getattr__(self, name: str) -> Any:
        entity = dict.__getitem__(self, "entity")
        if name in entity:
            return entity[name]
        raise AttributeError(name)

    def to_dict(self) -> dict:
        return dict(self)

    def __reduce__(self):  # keep copy/pickle of results working (results are not stored on disk)
        return (Hit, (dict(self),))


class Hits(list):
    """The hits of one query, best first."""

    @property
    def ids(self) -> list:
        return [h.id for h in self]

    @property
    def distances(self) -> list:
        return [h.distance for h in self]


HybridHits = Hits


class _Default:
    """An attribute whose default is made on first read and then kept on the instance (a
    non-data descriptor: an assigned value wins), so a result made without ``__init__``
    (:meth:`SearchResult.of_one`) pays for ``extra``/``recalls`` only when they are read."""

    __slots__ = ("name", "make")

    def __init__(self, make: Any) -> None:
        self.make = make

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        # setdefault: two threads reading it first at once get the same object
        return obj.__dict__.setdefault(self.name, self.make())


class SearchResult(list):
    """One :class:`Hits` list per query vector, with ``.extra`` and ``.recalls``."""

    extra = _Default(lambda: {"cost": 0})
    recalls = _Default(list)
    agg_buckets = _Default(list)   # per query, the buckets of a search_aggregation

    def __init__(self, hits: Iterable[Hits] = (), extra: dict | None = None, recalls: list | None = None) -> None:
        list.__init__(self, hits)   # (not super(): a single query's search pays every call)
        self.extra = extra if extra is not None else {"cost": 0}
        self.recalls = recalls if recalls is not None else []
        self.agg_buckets: list = []

    @classmethod
    def of_one(cls, hits: Hits) -> "SearchResult":
        """``SearchResult([hits])`` without the ``__init__`` call (a single query's search
        pays for every call): its defaults are made when first read."""
        result = _new_list(cls)
        result.append(hits)
        return result

    def __str__(self) -> str:
        return f"data: {list.__repr__(self)}" + (f", extra_info: {self.extra}" if self.extra.get("cost") else "")

    __repr__ = __str__


_new_list = list.__new__


class QueryResult(list):
    """The rows of a query or get, a list of dicts with ``.extra``."""

    def __init__(self, rows: Iterable[dict] = (), extra: dict | None = None) -> None:
        super().__init__(rows)
        self.extra = extra if extra is not None else {"cost": 0}

    def __str__(self) -> str:
        return f"data: {list.__repr__(self)}" + (f", extra_info: {self.extra}" if self.extra.get("cost") else "")

    __repr__ = __str__
