"""``PartitionsMixin``: partition methods of ``MilvusClient``."""

from __future__ import annotations

from typing import Any

from ..errors import ParamError
from .base import as_name_list, check_name

DEFAULT_PARTITION = "_default"


class PartitionsMixin:
    """create/drop/has/list partitions, their stats and load state."""

    def create_partition(self, collection_name: str, partition_name: str,
                         timeout: float | None = None, **kwargs: Any) -> None:
        check_name(partition_name, "partition_name")
        coll = self._collection(collection_name)
        if coll.schema.partition_key_field is not None:
            raise ParamError(
                f"collection {coll.name!r} has a partition key field; its partitions are managed "
                "automatically and cannot be created by hand"
            )
        if coll.has_partition(partition_name):
            return  # the server answers success for a partition that already exists
        coll.create_partition(partition_name)

    def drop_partition(self, collection_name: str, partition_name: str,
                       timeout: float | None = None, **kwargs: Any) -> None:
        """Drop a partition and its rows. The ``_default`` partition cannot be dropped."""
        check_name(partition_name, "partition_name")
        coll = self._collection(collection_name)
        if coll.schema.partition_key_field is not None:
            raise ParamError(
                f"collection {coll.name!r} has a partition key field; its partitions cannot be dropped"
            )
        if partition_name == DEFAULT_PARTITION:
            raise ParamError("the default partition '_default' cannot be dropped")
        if not coll.has_partition(partition_name):
            from ..engine.collection import _check_name

            _check_name(partition_name, "partition")  # a name none could have: the server's error
            return  # dropping a partition that does not exist succeeds, as on the server
        coll.drop_partition(partition_name)

    def has_partition(self, collection_name: str, partition_name: str,
                      timeout: float | None = None, **kwargs: Any) -> bool:
        check_name(partition_name, "partition_name")
        found = bool(self._collection(collection_name).has_partition(partition_name))
        if not found:
            from ..engine.collection import _check_name

            _check_name(partition_name, "partition")  # the server refuses a name none could have
        return found

    def list_partitions(self, collection_name: str, timeout: float | None = None,
                        **kwargs: Any) -> list[str]:
        return list(self._collection(collection_name).list_partitions())

    def get_partition_stats(self, collection_name: str, partition_name: str,
                            timeout: float | None = None, **kwargs: Any) -> dict:
        check_name(partition_name, "partition_name")
        coll = self._collection(collection_name)
        self._check_partitions(coll, [partition_name])
        return {"row_count": int(coll.partition_num_rows(partition_name))}

    # embedb keeps one load state per collection: loading any partition loads the collection;
    # releasing partitions releases it only when they are all of its partitions, so the rest
    # stay readable (the pymilvus partition example releases one partition, then queries).
    def load_partitions(self, collection_name: str, partition_names: Any,
                        timeout: float | None = None, **kwargs: Any) -> None:
        names = as_name_list(partition_names, "partition_names")
        coll = self._collection(collection_name)
        if not names:
            raise ParamError("invalid parameter[expected=any partition][actual=empty partition list]: "
                             "load_partitions() needs at least one partition name")
        self._check_partitions(coll, names)
        self.load_collection(collection_name)

    def release_partitions(self, collection_name: str, partition_names: Any,
                           timeout: float | None = None, **kwargs: Any) -> None:
        names = as_name_list(partition_names, "partition_names")
        coll = self._collection(collection_name)
        if not names:
            raise ParamError("invalid parameter[expected=any partition][actual=empty partition list]: "
                             "release_partitions() needs at least one partition name")
        self._check_partitions(coll, names)
        if set(coll.list_partitions()) <= set(names):
            coll.release()
