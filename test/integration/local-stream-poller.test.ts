// The local DynamoDB Streams event source against DynamoDB Local: what the handler receives, in
// what order, and what is delivered again after a reported or thrown failure.
import { PutItemCommand, UpdateItemCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startStreamPoller, type StreamPoller, type StreamPollerOptions } from '../../local/stream-poller.js';
import { createStreamTable, deferred, waitFor, type StreamTable } from './local-support.js';

let table: StreamTable;
let poller: StreamPoller | undefined;
let errors: unknown[];

beforeEach(async () => {
  table = await createStreamTable();
  errors = [];
});

afterEach(async () => {
  await poller?.stop();
  poller = undefined;
  await table.drop();
});

/** The handler may be synchronous here; the poller gets it as the async function Lambda would run. */
function start(
  handler: (event: DynamoDBStreamEvent) => DynamoDBBatchResponse | void | Promise<DynamoDBBatchResponse | void>,
  options: Partial<StreamPollerOptions> = {},
): StreamPoller {
  poller = startStreamPoller({
    streamsClient: table.streams,
    streamArn: table.streamArn,
    handler: (event) => Promise.resolve().then(() => handler(event)),
    onError: (error) => errors.push(error),
    ...options,
  });
  return poller;
}

async function put(item: Record<string, AttributeValue>): Promise<void> {
  await table.dynamo.send(new PutItemCommand({ TableName: table.tableName, Item: item }));
}

async function setCount(pk: string, count: number): Promise<void> {
  await table.dynamo.send(
    new UpdateItemCommand({
      TableName: table.tableName,
      Key: { pk: { S: pk }, sk: { S: 'RUN' } },
      UpdateExpression: 'SET #count = :count',
      ExpressionAttributeNames: { '#count': 'count' },
      ExpressionAttributeValues: { ':count': { N: String(count) } },
    }),
  );
}

const sequenceNumbers = (records: DynamoDBRecord[]) => records.map((record) => record.dynamodb?.SequenceNumber ?? '');

/** Writes n items (one PutItem each) and returns them in write order. */
async function writeItems(n: number): Promise<string[]> {
  const pks = Array.from({ length: n }, (_, i) => `RUN#${i}`);
  for (const pk of pks) await put({ pk: { S: pk }, sk: { S: 'RUN' } });
  return pks;
}

describe('startStreamPoller', () => {
  it("delivers an item's INSERT and MODIFY records in order, shaped as Lambda's event", async () => {
    const events: DynamoDBStreamEvent[] = [];
    const poller = start((event) => {
      events.push(event);
    });
    const startedAt = Date.now();
    await put({ pk: { S: 'RUN#a' }, sk: { S: 'RUN' }, count: { N: '1' }, tags: { SS: ['x'] }, blob: { B: new Uint8Array([0, 1, 255]) } });
    await setCount('RUN#a', 2);
    await put({ pk: { S: 'RUN#b' }, sk: { S: 'RUN' }, count: { N: '10' } });
    await setCount('RUN#a', 3);
    await poller.idle();

    const records = events.flatMap((event) => event.Records);
    const ofA = records.filter((record) => record.dynamodb?.Keys?.['pk']?.S === 'RUN#a');
    expect(ofA.map((record) => record.eventName)).toEqual(['INSERT', 'MODIFY', 'MODIFY']);
    expect(ofA.map((record) => unmarshall(record.dynamodb?.NewImage as Record<string, AttributeValue>)['count'])).toEqual([1, 2, 3]);
    expect(ofA.map((record) => record.dynamodb?.OldImage && unmarshall(record.dynamodb.OldImage as Record<string, AttributeValue>)['count'])).toEqual([
      undefined,
      1,
      2,
    ]);
    const order = sequenceNumbers(records).map(BigInt);
    expect(order).toEqual([...order].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
    expect(records).toHaveLength(4);

    const [insert] = ofA;
    expect(insert).toEqual({
      eventID: expect.any(String),
      eventName: 'INSERT',
      eventVersion: '1.1',
      eventSource: 'aws:dynamodb',
      awsRegion: expect.any(String),
      dynamodb: {
        ApproximateCreationDateTime: expect.any(Number),
        Keys: { pk: { S: 'RUN#a' }, sk: { S: 'RUN' } },
        NewImage: { pk: { S: 'RUN#a' }, sk: { S: 'RUN' }, count: { N: '1' }, tags: { SS: ['x'] }, blob: { B: 'AAH/' } },
        SequenceNumber: expect.stringMatching(/^\d+$/),
        SizeBytes: expect.any(Number),
        StreamViewType: 'NEW_AND_OLD_IMAGES',
      },
      eventSourceARN: table.streamArn,
    });
    expect(insert?.dynamodb).not.toHaveProperty('OldImage');
    // Epoch seconds, not a Date (DynamoDB Local rounds the time down to the minute).
    const created = insert?.dynamodb?.ApproximateCreationDateTime ?? 0;
    expect(Number.isInteger(created)).toBe(true);
    expect(Math.abs(created - startedAt / 1000)).toBeLessThan(120);
    // Lambda's event is JSON: nothing in it changes in a round trip.
    for (const event of events) expect(JSON.parse(JSON.stringify(event))).toEqual(event);
    expect(errors).toEqual([]);
  });

  it('redelivers from the record named in batchItemFailures, and not the records before it', async () => {
    await writeItems(5);
    const batches: string[][] = [];
    const poller = start((event): DynamoDBBatchResponse => {
      const sequence = sequenceNumbers(event.Records);
      batches.push(sequence);
      return { batchItemFailures: batches.length === 1 ? [{ itemIdentifier: sequence[2] ?? '' }] : [] };
    });
    await poller.idle();

    expect(batches).toHaveLength(2);
    const [first = [], second] = batches;
    expect(first).toHaveLength(5);
    expect(second).toEqual(first.slice(2));
    expect(errors).toEqual([]);
  });

  it('delivers the whole batch again after the handler throws, and reports the error', async () => {
    await writeItems(3);
    const batches: string[][] = [];
    const poller = start((event) => {
      batches.push(sequenceNumbers(event.Records));
      if (batches.length === 1) throw new Error('scheduler down');
    });
    await poller.idle();

    expect(batches).toHaveLength(2);
    expect(batches[0]).toHaveLength(3);
    expect(batches[1]).toEqual(batches[0]);
    expect(errors).toEqual([expect.objectContaining({ message: 'scheduler down' })]);
  });

  it('fails the whole batch when batchItemFailures names a record that is not in it', async () => {
    await writeItems(2);
    const batches: string[][] = [];
    const poller = start((event): DynamoDBBatchResponse => {
      batches.push(sequenceNumbers(event.Records));
      return { batchItemFailures: batches.length === 1 ? [{ itemIdentifier: '' }] : [] };
    });
    await poller.idle();

    expect(batches).toHaveLength(2);
    expect(batches[1]).toEqual(batches[0]);
    expect(errors).toHaveLength(1);
  });

  it('keeps to batchSize and to one handler call at a time per shard', async () => {
    await writeItems(7);
    const sizes: number[] = [];
    let running = 0;
    let overlapped = false;
    const poller = start(
      async (event) => {
        running += 1;
        overlapped ||= running > 1;
        sizes.push(event.Records.length);
        await new Promise((resolve) => setTimeout(resolve, 20));
        running -= 1;
      },
      { batchSize: 3 },
    );
    await poller.idle();

    expect(sizes).toEqual([3, 3, 1]);
    expect(overlapped).toBe(false);
  });

  it('starts after the records already in the stream with startingPosition LATEST', async () => {
    await writeItems(2);
    const keys: string[] = [];
    const poller = start(
      (event) => {
        for (const record of event.Records) keys.push(record.dynamodb?.Keys?.['pk']?.S ?? '');
      },
      { startingPosition: 'LATEST' },
    );
    await poller.idle();
    await put({ pk: { S: 'RUN#late' }, sk: { S: 'RUN' } });
    await poller.idle();

    expect(keys).toEqual(['RUN#late']);
  });

  it('stop() waits for the handler call in flight', async () => {
    const release = deferred();
    let entered = false;
    let finished = false;
    const poller = start(async () => {
      entered = true;
      await release.promise;
      finished = true;
    });
    await put({ pk: { S: 'RUN#x' }, sk: { S: 'RUN' } });
    await waitFor('the handler to be called', () => entered);

    const stopping = poller.stop();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(finished).toBe(false);
    release.resolve();
    await stopping;
    expect(finished).toBe(true);
  });
});
