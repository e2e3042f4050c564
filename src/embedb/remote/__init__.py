"""A client backend that sends every call to a Milvus server through pymilvus
(``pip install "embedb[remote]"``). ``embedb.MilvusClient(uri)`` picks it for ``http://``,
``https://``, ``tcp://`` and ``unix:`` URIs; see :mod:`embedb.remote.client`."""

from .client import REMOTE_SCHEMES, RemoteIterator, RemoteMilvusClient, is_remote_uri

__all__ = ["RemoteMilvusClient", "RemoteIterator", "is_remote_uri", "REMOTE_SCHEMES"]
