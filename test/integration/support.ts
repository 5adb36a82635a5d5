// Helpers for integration tests: a fresh table per test file, built from the same settings the
// CDK stack and the local runtime use, on the DynamoDB Local started by the global setup.
import { randomUUID } from 'node:crypto';
import { CreateTableCommand, DeleteTableCommand, DynamoDBClient, waitUntilTableExists } from '@aws-sdk/client-dynamodb';
import { inject } from 'vitest';
import { LOCAL_AWS } from '../../local/dynamodb-local.js';
import { createDocumentClient } from '../../shared/aws/dynamo/client.js';
import { DynamoStore } from '../../shared/aws/dynamo/store.js';
import { createTableInput } from '../../shared/config/table-schema.js';

export interface TestTable {
  tableName: string;
  store: DynamoStore;
  client: ReturnType<typeof createDocumentClient>;
  drop(): Promise<void>;
}

export async function createTestTable(options: { now?: () => Date } = {}): Promise<TestTable> {
  const endpoint = inject('dynamoEndpoint');
  const raw = new DynamoDBClient({ ...LOCAL_AWS, endpoint });
  const tableName = `test-${randomUUID()}`;
  await raw.send(new CreateTableCommand(createTableInput(tableName)));
  await waitUntilTableExists({ client: raw, maxWaitTime: 30 }, { TableName: tableName });
  const client = createDocumentClient({ ...LOCAL_AWS, endpoint });
  const store = new DynamoStore({ client, tableName, ...(options.now === undefined ? {} : { now: options.now }) });
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
