// Helpers for the tests of the local event sources: a table with its stream on the DynamoDB Local
// of the global setup (built from the shared schema, without the store), and waiting for a
// condition with a deadline instead of fixed sleeps.
import { randomUUID } from 'node:crypto';
import { CreateTableCommand, DeleteTableCommand, DynamoDBClient, waitUntilTableExists } from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { inject } from 'vitest';
import { LOCAL_AWS } from '../../local/dynamodb-local.js';
import { createTableInput } from '../../shared/config/table-schema.js';

export interface StreamTable {
  tableName: string;
  streamArn: string;
  dynamo: DynamoDBClient;
  streams: DynamoDBStreamsClient;
  drop(): Promise<void>;
}

export async function createStreamTable(): Promise<StreamTable> {
  const endpoint = inject('dynamoEndpoint');
  const dynamo = new DynamoDBClient({ ...LOCAL_AWS, endpoint });
  const streams = new DynamoDBStreamsClient({ ...LOCAL_AWS, endpoint });
  const tableName = `local-${randomUUID()}`;
  const created = await dynamo.send(new CreateTableCommand(createTableInput(tableName)));
  await waitUntilTableExists({ client: dynamo, maxWaitTime: 30 }, { TableName: tableName });
  const streamArn = created.TableDescription?.LatestStreamArn;
  if (streamArn === undefined) throw new Error(`table ${tableName} has no stream`);
  return {
    tableName,
    streamArn,
    dynamo,
    streams,
    drop: async () => {
      await dynamo.send(new DeleteTableCommand({ TableName: tableName }));
      dynamo.destroy();
      streams.destroy();
    },
  };
}

/** Polls until `probe` returns something other than undefined or false; fails with `what` at the deadline. */
export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 5_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A promise with its resolve exposed, to hold a handler call open. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve: (value: T) => void = () => undefined;
  const promise = new Promise<T>((settle) => (resolve = settle));
  return { promise, resolve };
}
