"""``AliasesMixin``: collection aliases of ``MilvusClient``.

An alias is a second name for a collection, accepted wherever a collection name is read
(search, query, insert...). ``alter_alias`` moves it to another collection atomically, which
is how a rebuilt collection is swapped in under a stable name.
"""

from __future__ import annotations

from typing import Any

from ..errors import AliasNotFoundError, AlreadyExistsError, ParamError
from .base import check_name


class AliasesMixin:
    def create_alias(self, collection_name: str, alias: str, timeout: float | None = None,
                     **kwargs: Any) -> None:
        check_name(alias, "alias")
        coll = self._real_collection(collection_name)
        db = self._database
        # the server's words first, then ours
        if db.has_collection(alias):
            raise AlreadyExistsError(
                f"alias and collection name conflict[database={self._current_db_name()}][alias={alias}]: "
                f"{alias!r} is already the name of a collection")
        current = self._alias_target(alias)
        if current is not None:
            raise AlreadyExistsError(
                f"{alias} is alias to another collection: {current}: alias already exist"
                f"[database={self._current_db_name()}][alias={alias}]; use alter_alias()"
            )
        db.create_alias(coll.name, alias)

    def drop_alias(self, alias: str, timeout: float | None = None, **kwargs: Any) -> None:
        """Drop an alias; dropping one that does not exist is not an error (as the server)."""
        check_name(alias, "alias")
        if self._alias_target(alias) is None:
            return
        self._database.drop_alias(alias)

    def alter_alias(self, collection_name: str, alias: str, timeout: float | None = None,
                    **kwargs: Any) -> None:
        check_name(alias, "alias")
        from ..engine.collection import _check_name

        _check_name(alias, "alias")  # the server checks the alias's form first
        coll = self._real_collection(collection_name)
        if self._alias_target(alias) is None:
            if self._database.has_collection(alias):
                raise AlreadyExistsError(f"alias and collection name conflict[database="
                                         f"{self._current_db_name()}][alias={alias}]")
            raise AliasNotFoundError(f"alias not found[database={self._current_db_name()}][alias={alias}]")
        self._database.alter_alias(coll.name, alias)

    def describe_alias(self, alias: str, timeout: float | None = None, **kwargs: Any) -> dict:
        check_name(alias, "alias")
        target = self._alias_target(alias)
        if target is None:
            raise AliasNotFoundError(f"alias not found[database={self._current_db_name()}][alias={alias}]")
        return {"alias": alias, "collection_name": target}

    def list_aliases(self, collection_name: str = "", timeout: float | None = None,
                     **kwargs: Any) -> dict:
        """``{"aliases": [...], "collection_name": name}`` (all aliases when no name is given)."""
        if collection_name:
            coll = self._real_collection(collection_name)
            return {"aliases": list(self._database.list_aliases(coll.name)),
                    "collection_name": coll.name}
        return {"aliases": list(self._database.list_aliases(None))}

    # helpers --------------------------------------------------------------------------------
    def _real_collection(self, name: str) -> Any:
        """A collection named by its own name (an alias of an alias is not allowed)."""
        coll = self._collection(name)
        if coll.name != name:
            raise ParamError(f"{name!r} is an alias of {coll.name!r}; name the collection itself")
        return coll

    def _alias_target(self, alias: str) -> str | None:
        db = self._database
        if db.has_collection(alias):
            return None
        try:
            return db.describe_alias(alias)["collection_name"]
        except KeyError:
            return None
