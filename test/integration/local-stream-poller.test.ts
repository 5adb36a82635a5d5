// The local DynamoDB Streams event source against DynamoDB Local: what the handler receives, in
// what order, and what is delivered again after a reported or thrown failure. Shard splits, which
// DynamoDB Local does not make on demand, are played by a scripted Streams client.
import { PutItemCommand, UpdateItemCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import {
  DescribeStreamCommand,
  ExpiredIteratorException,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type DynamoDBStreamsClient,
  type GetShardIteratorInput,
  type Shard,
  type _Record,
} from '@aws-sdk/client-dynamodb-streams';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startStreamPoller, type StreamPoller, type StreamPollerOptions } from '../../local/stream-poller.js';
import { createStreamTable, deferred, waitFor, type StreamTable } from './local-support.js';

let table: StreamTable | undefined;
let poller: StreamPoller | undefined;
let errors: unknown[] = [];

afterEach(async () => {
  await poller?.stop();
  poller = undefined;
  errors = [];
});

/** The handler may be synchronous here; the poller gets it as the async function Lambda would run. */
function start(
  handler: (event: DynamoDBStreamEvent) => DynamoDBBatchResponse | void | Promise<DynamoDBBatchResponse | void>,
  options: Partial<StreamPollerOptions> = {},
): StreamPoller {
  const streamsClient = options.streamsClient ?? table?.streams;
  const streamArn = options.streamArn ?? table?.streamArn;
  if (streamsClient === undefined || streamArn === undefined) throw new Error('no stream to poll');
  poller = startStreamPoller({
    streamsClient,
    streamArn,
    handler: (event) => Promise.resolve().then(() => handler(event)),
    onError: (error) => errors.push(error),
    ...options,
  });
  return poller;
}

function tableInUse(): StreamTable {
  if (table === undefined) throw new Error('no table');
  return table;
}

async function put(item: Record<string, AttributeValue>): Promise<void> {
  const { dynamo, tableName } = tableInUse();
  await dynamo.send(new PutItemCommand({ TableName: tableName, Item: item }));
}

async function setCount(pk: string, count: number): Promise<void> {
  const { dynamo, tableName } = tableInUse();
  await dynamo.send(
    new UpdateItemCommand({
      TableName: tableName,
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

describe('startStreamPoller on DynamoDB Local', () => {
  beforeEach(async () => {
    table = await createStreamTable();
  });

  afterEach(async () => {
    await poller?.stop();
    await table?.drop();
    table = undefined;
  });

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
      eventSourceARN: tableInUse().streamArn,
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
    await writeItems(3);
    const batches: string[][] = [];
    const poller = start((event): DynamoDBBatchResponse => {
      const sequence = sequenceNumbers(event.Records);
      batches.push(sequence);
      return { batchItemFailures: batches.length === 1 ? [{ itemIdentifier: sequence[1] ?? '' }, { itemIdentifier: '42' }] : [] };
    });
    await poller.idle();

    expect(batches).toHaveLength(2);
    expect(batches[1]).toEqual(batches[0]);
    expect(errors).toEqual([expect.objectContaining({ message: expect.stringMatching(/not in the batch: "42"$/) })]);
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
    const poller = start(async () => {
      entered = true;
      await release.promise;
    });
    await put({ pk: { S: 'RUN#x' }, sk: { S: 'RUN' } });
    await waitFor('the handler to be called', () => entered);

    let stopped = false;
    const stopping = poller.stop().then(() => (stopped = true));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(stopped).toBe(false);
    release.resolve();
    await stopping;
    expect(stopped).toBe(true);
  });
});

/**
 * A Streams client that plays a stream whose shard split: the parent is closed, the child open.
 * DescribeStream pages one shard at a time, child first; the parent's reads are slow, so a child
 * started too early would deliver first; the child's second read finds its iterator expired.
 */
function scriptedStream(): { client: DynamoDBStreamsClient; streamArn: string } {
  const streamArn = 'arn:aws:dynamodb:us-east-1:000000000000:table/scripted/stream/2026-01-01T00:00:00.000';
  const record = (sequenceNumber: number): _Record => ({
    eventID: `e${sequenceNumber}`,
    eventName: 'MODIFY',
    eventVersion: '1.1',
    eventSource: 'aws:dynamodb',
    awsRegion: 'us-east-1',
    dynamodb: {
      ApproximateCreationDateTime: new Date(),
      Keys: { pk: { S: 'RUN#1' }, sk: { S: 'RUN' } },
      SequenceNumber: String(sequenceNumber).padStart(21, '0'),
      SizeBytes: 10,
      StreamViewType: 'NEW_AND_OLD_IMAGES',
    },
  });
  const shards = [
    { shard: { ShardId: 'shard-child', ParentShardId: 'shard-parent' } satisfies Shard, records: [4, 5, 6].map(record), closed: false },
    { shard: { ShardId: 'shard-parent', SequenceNumberRange: { EndingSequenceNumber: '3' } } satisfies Shard, records: [1, 2, 3].map(record), closed: true },
  ];
  let childReads = 0;
  const shardOf = (id: string | undefined) => {
    const found = shards.find((candidate) => candidate.shard.ShardId === id);
    if (found === undefined) throw new Error(`no shard ${id}`);
    return found;
  };
  const indexOf = (input: GetShardIteratorInput): number => {
    const { records } = shardOf(input.ShardId);
    const at = records.findIndex((candidate) => candidate.dynamodb?.SequenceNumber === input.SequenceNumber);
    switch (input.ShardIteratorType) {
      case 'AT_SEQUENCE_NUMBER':
        return at;
      case 'AFTER_SEQUENCE_NUMBER':
        return at + 1;
      case 'LATEST':
        return records.length;
      default:
        return 0;
    }
  };
  const send = async (command: unknown): Promise<unknown> => {
    if (command instanceof DescribeStreamCommand) {
      const page = command.input.ExclusiveStartShardId === undefined ? 0 : 1;
      const shard = shards[page]?.shard;
      return { StreamDescription: { Shards: shard === undefined ? [] : [shard], LastEvaluatedShardId: page === 0 ? shard?.ShardId : undefined } };
    }
    if (command instanceof GetShardIteratorCommand) {
      return { ShardIterator: `${command.input.ShardId}|${indexOf(command.input)}` };
    }
    if (command instanceof GetRecordsCommand) {
      const [id, index] = (command.input.ShardIterator ?? '').split('|');
      const { records, closed } = shardOf(id);
      if (id === 'shard-parent') await new Promise((resolve) => setTimeout(resolve, 30));
      if (id === 'shard-child' && ++childReads === 2) {
        throw new ExpiredIteratorException({ message: 'Iterator expired', $metadata: {} });
      }
      const from = Number(index);
      const to = Math.min(records.length, from + (command.input.Limit ?? 1000));
      return { Records: records.slice(from, to), NextShardIterator: closed && to === records.length ? undefined : `${id}|${to}` };
    }
    throw new Error('unexpected command');
  };
  return { client: { send } as unknown as DynamoDBStreamsClient, streamArn };
}

describe('startStreamPoller across a shard split', () => {
  it('reads a child shard only after its parent, and goes on after an expired iterator without loss or repeat', async () => {
    const { client, streamArn } = scriptedStream();
    const delivered: string[] = [];
    const poller = start(
      (event) => {
        for (const record of event.Records) delivered.push(record.dynamodb?.SequenceNumber ?? '');
      },
      { streamsClient: client, streamArn, batchSize: 2 },
    );
    await poller.idle();

    expect(delivered.map(Number)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(errors).toEqual([]);
  });
});
