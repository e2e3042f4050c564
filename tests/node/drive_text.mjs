// Drives `embedb serve` with the Milvus Node SDK on a collection that embeds its own text
// (a TEXTEMBEDDING function, run by the server's process): insert text only, search with text,
// hybrid with BM25. Prints one JSON object; tests/test_server_node.py checks it.
import { MilvusClient, DataType, FunctionType } from '@zilliz/milvus2-sdk-node';

const address = process.argv[2];
const client = new MilvusClient({ address });
const collection_name = 'node_text';
const out = {};

await client.createCollection({
  collection_name,
  fields: [
    { name: 'id', data_type: DataType.Int64, is_primary_key: true, autoID: false },
    { name: 'text', data_type: DataType.VarChar, max_length: 500, enable_analyzer: true },
    { name: 'dense', data_type: DataType.FloatVector, dim: 384 },
    { name: 'sparse', data_type: DataType.SparseFloatVector },
  ],
  functions: [
    { name: 'embed', type: FunctionType.TEXTEMBEDDING, input_field_names: ['text'],
      output_field_names: ['dense'], params: { provider: 'local' } },
    { name: 'bm25', type: FunctionType.BM25, input_field_names: ['text'],
      output_field_names: ['sparse'], params: {} },
  ],
  index_params: [
    { field_name: 'dense', index_type: 'FLAT', metric_type: 'COSINE' },
    { field_name: 'sparse', index_type: 'SPARSE_INVERTED_INDEX', metric_type: 'BM25' },
  ],
});
await client.loadCollection({ collection_name });
const texts = ['Alan Turing was born in London', 'Paris is the capital of France',
               'The quick brown fox jumps over the lazy dog'];
const inserted = await client.insert({ collection_name, data: texts.map((text, id) => ({ id, text })) });
out.insert_cnt = Number(inserted.insert_cnt);
const found = await client.search({
  collection_name, data: 'where was turing born', anns_field: 'dense', limit: 2, output_fields: ['id', 'text'],
});
out.search = found.results.map((h) => Number(h.id));
const fused = await client.search({
  collection_name,
  data: [
    { data: 'capital city of france', anns_field: 'dense', params: {}, limit: 3 },
    { data: 'capital city of france', anns_field: 'sparse', params: {}, limit: 3 },
  ],
  rerank: { strategy: 'rrf', params: { k: 60 } },
  limit: 1,
});
out.hybrid = fused.results.map((h) => Number(h.id));
console.log(JSON.stringify(out));
await client.closeConnection();
