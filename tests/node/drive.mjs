// Drives `embedb serve` with the Milvus Node SDK: create, insert, search with a filter, query,
// delete. Prints one JSON object with what came back; tests/test_server_node.py checks it.
import { MilvusClient, DataType } from '@zilliz/milvus2-sdk-node';

const address = process.argv[2];
const client = new MilvusClient({ address });
const collection_name = 'node_sdk';
const out = {};

await client.createCollection({
  collection_name,
  fields: [
    { name: 'id', data_type: DataType.Int64, is_primary_key: true, autoID: false },
    { name: 'vector', data_type: DataType.FloatVector, dim: 4 },
    { name: 'tag', data_type: DataType.VarChar, max_length: 16 },
  ],
});
await client.createIndex({ collection_name, field_name: 'vector', index_type: 'FLAT', metric_type: 'L2' });
await client.loadCollection({ collection_name });
const data = [];
for (let i = 0; i < 20; i++) data.push({ id: i, vector: [i, 0, 0, 0], tag: i % 2 ? 'odd' : 'even' });
const inserted = await client.insert({ collection_name, data });
out.insert_cnt = Number(inserted.insert_cnt);
const found = await client.search({
  collection_name, data: [[6.2, 0, 0, 0]], limit: 3, filter: "tag == 'odd'", output_fields: ['id', 'tag'],
});
out.search = found.results.map((h) => ({ id: Number(h.id), score: h.score, tag: h.tag }));
const rows = await client.query({ collection_name, filter: 'id < 3', output_fields: ['id', 'tag'] });
out.query = rows.data.map((r) => ({ id: Number(r.id), tag: r.tag })).sort((a, b) => a.id - b.id);
const deleted = await client.delete({ collection_name, filter: 'id in [0, 1, 2]' });
out.delete_cnt = Number(deleted.delete_cnt);
const after = await client.query({ collection_name, filter: 'id < 5', output_fields: ['id'] });
out.after_delete = after.data.map((r) => Number(r.id)).sort((a, b) => a - b);
console.log(JSON.stringify(out));
await client.closeConnection();
