"""Translators between Milvus protocol messages and embedb client calls, one module per message
family: ``schema`` (collections, fields, functions, indexes), ``records`` (columnar field data
<-> rows), ``search`` (search and hybrid search requests), ``results`` (search results)."""
