// Helpers for integration tests: a fresh table per test file, built from the same settings the
// CDK stack and the local runtime use, on the DynamoDB Local started by the global setup.
import { randomUUID } from 'node:crypto';
import { CreateTableCommand, DeleteTableCommand, DynamoDBClient, waitUntilTableExists } from '@aws-sdk/client-dynamodb';
import { inject } from 'vitest';
import { LOCAL_AWS } from '../../local/dynamodb-local.js';
import { createDocumentClient } from '../../shared/aws/dynamo/client.js';
import { createDynamoStore } from '../../shared/aws/dynamo/store.js';
import type { EngineStore } from '../../shared/engine/ports.js';
import { createTableInput } from '../../shared/config/table-schema.js';

export interface TestTable {
  tableName: string;
  store: EngineStore;
  client: ReturnType<typeof createDocumentClient>;
  drop(): Promise<void>;
}

export async function createTestTable(options: { now?: () => Date; client?: ReturnType<typeof createDocumentClient> } = {}): Promise<TestTable> {
  const endpoint = inject('dynamoEndpoint');
  const raw = new DynamoDBClient({ ...LOCAL_AWS, endpoint });
  const tableName = `test-${randomUUID()}`;
  await raw.send(new CreateTableCommand(createTableInput(tableName)));
  await waitUntilTableExists({ client: raw, maxWaitTime: 30 }, { TableName: tableName });
  const client = options.client ?? createDocumentClient({ ...LOCAL_AWS, endpoint });
  const store = createDynamoStore({ client, tableName, ...(options.now === undefined ? {} : { now: options.now }) });
  return {
    tableName,
    store,
    client,
    drop: async () => {
      await raw.send(new DeleteTableCommand({ TableName: tableName }));
      raw.destroy();
      client.destroy();
    },
  };
}
