"""LangChain and LlamaIndex build their own pymilvus clients; with ``embedb.serve_in_thread``
their Milvus stores run on an embedb database in this process (their fake embeddings)."""

from __future__ import annotations

import pytest

pytest.importorskip("grpc")
pytest.importorskip("pymilvus")

import embedb  # noqa: E402


def test_langchain_milvus_store(tmp_path):
    pytest.importorskip("langchain_milvus", reason="needs the frameworks test extra")
    from langchain_core.documents import Document
    from langchain_core.embeddings import DeterministicFakeEmbedding
    from langchain_milvus import Milvus

    texts = ["alpha centauri", "beta version", "gamma rays", "delta blues"]
    with embedb.serve_in_thread(str(tmp_path / "lc.db")) as uri:
        emb = DeterministicFakeEmbedding(size=16)
        store = Milvus(embedding_function=emb, connection_args={"uri": uri}, collection_name="lc",
                       auto_id=True)
        store.add_documents([Document(page_content=t, metadata={"n": i}) for i, t in enumerate(texts)])
        # a document's own embedding finds it first (fake embeddings are a hash of the text)
        for i, t in enumerate(texts):
            (hit,) = store.similarity_search(t, k=1)
            assert hit.page_content == t and hit.metadata["n"] == i
        filtered = store.similarity_search("beta version", k=4, expr="n >= 2")
        assert sorted(d.metadata["n"] for d in filtered) == [2, 3]
        scored = store.similarity_search_with_score("gamma rays", k=2)
        assert scored[0][0].page_content == "gamma rays"
    # the same data, in-process
    with embedb.MilvusClient(str(tmp_path / "lc.db")) as client:
        assert client.get_collection_stats("lc")["row_count"] == 4


def test_llama_index_milvus_vector_store(tmp_path):
    pytest.importorskip("llama_index.vector_stores.milvus", reason="needs the frameworks test extra")
    from llama_index.core import Document, StorageContext, VectorStoreIndex
    from llama_index.core.embeddings import MockEmbedding
    from llama_index.core.vector_stores import ExactMatchFilter, MetadataFilters
    from llama_index.vector_stores.milvus import MilvusVectorStore

    with embedb.serve_in_thread(str(tmp_path / "li.db")) as uri:
        store = MilvusVectorStore(uri=uri, dim=8, collection_name="li", overwrite=True)
        docs = [Document(text="the cat sat", metadata={"kind": "cat"}),
                Document(text="dogs bark", metadata={"kind": "dog"}),
                Document(text="birds sing", metadata={"kind": "bird"})]
        index = VectorStoreIndex.from_documents(
            docs, storage_context=StorageContext.from_defaults(vector_store=store),
            embed_model=MockEmbedding(embed_dim=8))
        nodes = index.as_retriever(similarity_top_k=3).retrieve("anything")
        assert sorted(n.node.get_content() for n in nodes) == ["birds sing", "dogs bark", "the cat sat"]
        only_dogs = index.as_retriever(
            similarity_top_k=3,
            filters=MetadataFilters(filters=[ExactMatchFilter(key="kind", value="dog")])).retrieve("x")
        assert [n.node.get_content() for n in only_dogs] == ["dogs bark"]
