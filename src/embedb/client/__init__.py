"""``MilvusClient``: the PyMilvus client API over a local embedb database.

.. code-block:: python

    from embedb import MilvusClient
    client = MilvusClient("./demo.db")      # or ":memory:"
"""

from __future__ import annotations

from .aliases import AliasesMixin
from .analyzer import AnalyzerMixin
from .base import ClientBase, LoadState
from .collections import CollectionsMixin
from .databases import DatabasesMixin, accept_db_name_keyword
from .data import DataMixin, QueryIterator
from .indexes import IndexMixin
from .partitions import PartitionsMixin
from .properties import PropertiesMixin
from .search import SearchMixin


@accept_db_name_keyword
class MilvusClient(
    CollectionsMixin,
    DatabasesMixin,
    PropertiesMixin,
    DataMixin,
    PartitionsMixin,
    AliasesMixin,
    SearchMixin,
    IndexMixin,
    AnalyzerMixin,
    ClientBase,
):
    """A client for a local embedb database with the method names, parameters and result
    shapes of ``pymilvus.MilvusClient``. See ``docs/api.md``."""


__all__ = ["MilvusClient", "LoadState", "QueryIterator"]
