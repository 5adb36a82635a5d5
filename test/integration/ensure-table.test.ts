// `npm start` on a data directory made before the runsByTime index: ensureTable adds the index to
// the table it finds (UpdateTable on DynamoDB Local), waits until it is ACTIVE, and gives the runs
// a listing can reach the key they were created without.
import { randomUUID } from 'node:crypto';
import { CreateTableCommand, DeleteTableCommand, DescribeTableCommand, DynamoDBClient, waitUntilTableExists } from '@aws-sdk/client-dynamodb';
import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { LOCAL_AWS } from '../../local/dynamodb-local.js';
import { ensureTable } from '../../local/runtime.js';
import { createDocumentClient } from '../../shared/aws/dynamo/client.js';
import { keys } from '../../shared/aws/dynamo/keys.js';
import { createDynamoStore } from '../../shared/aws/dynamo/store.js';
import { TABLE, createTableInput } from '../../shared/config/table-schema.js';
import type { EngineStore } from '../../shared/engine/ports.js';
import type { StoredDefinition } from '../../shared/engine/records.js';
import { assertDefinition } from '../../shared/model/definition.js';

const DAY_MS = 86_400_000;
const { runsByTime } = TABLE.indexes;
let raw: DynamoDBClient;
let documents: ReturnType<typeof createDocumentClient>;
const tableName = `old-${randomUUID()}`;

/** The table as the schema made it before runsByTime: no index, no attribute definition of its key. */
function tableBeforeRunsByTime() {
  const input = createTableInput(tableName);
  return {
    ...input,
    AttributeDefinitions: input.AttributeDefinitions?.filter((definition) => definition.AttributeName !== runsByTime.partitionKey),
    GlobalSecondaryIndexes: input.GlobalSecondaryIndexes?.filter((index) => index.IndexName !== runsByTime.name),
  };
}

beforeAll(async () => {
  const endpoint = inject('dynamoEndpoint');
  raw = new DynamoDBClient({ ...LOCAL_AWS, endpoint });
  documents = createDocumentClient({ ...LOCAL_AWS, endpoint });
  await raw.send(new CreateTableCommand(tableBeforeRunsByTime()));
  await waitUntilTableExists({ client: raw, maxWaitTime: 30 }, { TableName: tableName });
});

afterAll(async () => {
  await raw.send(new DeleteTableCommand({ TableName: tableName }));
  raw.destroy();
  documents.destroy();
});

/** A run as the engine wrote it before the index: without its runsByTime key. */
async function oldRun(store: EngineStore, definition: StoredDefinition): Promise<string> {
  const { runId } = await store.runs.createRun({ runId: randomUUID(), definition, input: {}, dueAt: Date.now() + 60_000, groupCount: 1 });
  await documents.send(new UpdateCommand({ TableName: tableName, Key: keys.run(runId), UpdateExpression: `REMOVE ${runsByTime.partitionKey}` }));
  return runId;
}

describe('ensureTable on a table made before the runsByTime index', () => {
  it('adds the index, waits until it is ACTIVE, and lists the runs of the lookback made before it', async () => {
    const now = Date.parse('2026-03-10T12:00:00.000Z');
    let clock = now;
    const store = createDynamoStore({ client: documents, tableName, now: () => new Date(clock) });
    const { version } = await store.definitions.saveDefinition(assertDefinition({ id: 'old_data', tasks: [{ id: 'a', type: 'pass' }] }));
    const definition = await store.definitions.getDefinition('old_data', version);
    if (definition === undefined) throw new Error('definition was not saved');
    clock = now - 20 * DAY_MS;
    const beyondLookback = await oldRun(store, definition);
    clock = now - 2 * DAY_MS;
    const recent = await oldRun(store, definition);
    clock = now;

    const first = await ensureTable(raw, tableName, () => new Date(now));
    expect(first.existed).toBe(true);
    expect(first.streamArn).toMatch(/^arn:/);
    const { Table } = await raw.send(new DescribeTableCommand({ TableName: tableName }));
    expect(Table?.GlobalSecondaryIndexes?.map((index) => [index.IndexName, index.IndexStatus]).sort()).toEqual(
      (createTableInput(tableName).GlobalSecondaryIndexes ?? []).map((index) => [index.IndexName, 'ACTIVE']).sort(),
    );
    expect(Table?.GlobalSecondaryIndexes?.find((index) => index.IndexName === runsByTime.name)).toMatchObject({
      KeySchema: [
        { AttributeName: runsByTime.partitionKey, KeyType: 'HASH' },
        { AttributeName: runsByTime.sortKey, KeyType: 'RANGE' },
      ],
      Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: expect.arrayContaining([...runsByTime.projectedAttributes]) },
    });

    const created = await store.runs.createRun({ runId: randomUUID(), definition, input: {}, dueAt: now + 60_000, groupCount: 1 });
    expect((await store.runs.listRuns({})).runs.map((run) => run.runId)).toEqual([created.runId, recent]);
    // A run no listing reaches is left as it was.
    const untouched = await documents.send(new GetCommand({ TableName: tableName, Key: keys.run(beyondLookback) }));
    expect(untouched.Item).toBeDefined();
    expect(untouched.Item?.[runsByTime.partitionKey]).toBeUndefined();

    // On the next start there is nothing to add.
    expect(await ensureTable(raw, tableName)).toEqual(first);
  });
});
