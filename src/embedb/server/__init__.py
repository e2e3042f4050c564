"""``embedb serve``: the Milvus gRPC protocol over one embedb database.

The server only translates: a servicer dispatches each RPC to one call on embedb's
in-process ``MilvusClient``; ``translate/`` turns requests into call arguments and results into
responses. Needs the ``serve`` extra (grpcio and the protocol stubs that pymilvus ships).
"""

from __future__ import annotations

from .app import MilvusServer, ServedURI, serve_in_thread

__all__ = ["MilvusServer", "ServedURI", "serve_in_thread"]
