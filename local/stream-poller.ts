// The local DynamoDB Streams event source: reads a table's stream (DynamoDB Local's, or any) and
// calls an unchanged Lambda handler the way Lambda's event source mapping does. One reader per
// shard, records strictly in order, one handler call at a time per shard; a child shard waits for
// its parent; ReportBatchItemFailures restarts at the lowest failed sequence number; a throwing
// handler gets its batch again from the first record, with capped backoff, until it succeeds
// (Lambda's default of unlimited retries: a poison record blocks its shard, as it would in AWS).
import {
  DescribeStreamCommand,
  ExpiredIteratorException,
  GetRecordsCommand,
  GetShardIteratorCommand,
  ResourceNotFoundException,
  TrimmedDataAccessException,
  type AttributeValue,
  type DynamoDBStreamsClient,
  type Shard,
  type _Record,
} from '@aws-sdk/client-dynamodb-streams';
import type {
  AttributeValue as LambdaAttributeValue,
  DynamoDBBatchResponse,
  DynamoDBRecord,
  DynamoDBStreamEvent,
  StreamRecord,
} from 'aws-lambda';
import * as z from 'zod';

export type StreamStartingPosition = 'TRIM_HORIZON' | 'LATEST';

export interface StreamPollerOptions {
  streamsClient: DynamoDBStreamsClient;
  streamArn: string;
  handler: (event: DynamoDBStreamEvent) => Promise<DynamoDBBatchResponse | void>;
  /** Most records per handler call, 1-1000 (GetRecords' own limit). Default 100, as in Lambda. */
  batchSize?: number;
  /** Pause after a read that found a shard's end, before reading it again (wake() cuts it short). Default 50 ms. */
  idleDelayMs?: number;
  /**
   * Lambda's MaximumBatchingWindowInSeconds, in ms: a batch is gathered for up to this long after
   * its first record (or until it holds batchSize records). Default 0: delivered as read.
   */
  batchingWindowMs?: number;
  /** How often DescribeStream looks for new shards (a finished shard also triggers it). Default 1 s. */
  shardDiscoveryIntervalMs?: number;
  /** Handler failures and read errors; the poller retries them itself. Default: console.error. */
  onError?: (error: unknown) => void;
  /** Where shards open at start-up are read from; shards found later are always read from their start. */
  startingPosition?: StreamStartingPosition;
}

export interface StreamPoller {
  /** Ends every loop; waits for handler calls in flight. */
  stop(): Promise<void>;
  /** There is something new to read (the engine just wrote): idle shards read now, not after their pause. */
  wake(): void;
  /**
   * Resolves once a DescribeStream started after this call has run and every shard it knows has
   * been read to its end by a read started after this call, with no handler call in flight or
   * retry pending. Rejects if the poller stops first.
   */
  idle(): Promise<void>;
}

type Position =
  | { type: 'TRIM_HORIZON' | 'LATEST' }
  | { type: 'AT_SEQUENCE_NUMBER' | 'AFTER_SEQUENCE_NUMBER'; sequenceNumber: string };

interface ShardState {
  id: string;
  parentId: string | undefined;
  start: Position;
  status: 'waiting' | 'reading' | 'done';
  /** Tick at which the read that last found the shard's end started; 0 = never. */
  caughtUpAt: number;
}

const RETRY_BASE_DELAY_MS = 100;
const RETRY_MAX_DELAY_MS = 5_000;
const IDLE_CHECK_MS = 10;

/** Lambda's answer, when the handler gives one: failed items are named by their SequenceNumber. */
const BatchResponseSchema = z
  .object({ batchItemFailures: z.array(z.object({ itemIdentifier: z.string() })).nullish() })
  .nullish();

export function startStreamPoller(options: StreamPollerOptions): StreamPoller {
  const { streamsClient, streamArn, handler } = options;
  const batchSize = options.batchSize ?? 100;
  const idleDelayMs = options.idleDelayMs ?? 50;
  const batchingWindowMs = options.batchingWindowMs ?? 0;
  const discoveryIntervalMs = options.shardDiscoveryIntervalMs ?? 1_000;
  const startingPosition = options.startingPosition ?? 'TRIM_HORIZON';
  const report = options.onError ?? ((error: unknown) => console.error('[stream-poller]', error));
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 1000) {
    throw new RangeError(`batchSize must be an integer from 1 to 1000, got ${batchSize}`);
  }
  if (!(idleDelayMs >= 0)) throw new RangeError(`idleDelayMs must be >= 0, got ${idleDelayMs}`);
  if (!(discoveryIntervalMs > 0)) throw new RangeError(`shardDiscoveryIntervalMs must be > 0, got ${discoveryIntervalMs}`);

  const abort = new AbortController();
  const shards = new Map<string, ShardState>();
  const loops = new Set<Promise<void>>();
  const alarms = new Set<Alarm>();
  const discoveryAlarm = new Alarm(alarms);
  let stopped = false;
  // A logical clock: idle() compares the start of reads and discoveries with the moment it was called.
  let tick = 0;
  let discoveredAt = 0;

  async function describeShards(): Promise<Shard[]> {
    const all: Shard[] = [];
    let exclusiveStartShardId: string | undefined;
    do {
      const page = await streamsClient.send(
        new DescribeStreamCommand({ StreamArn: streamArn, ExclusiveStartShardId: exclusiveStartShardId }),
        { abortSignal: abort.signal },
      );
      all.push(...(page.StreamDescription?.Shards ?? []));
      exclusiveStartShardId = page.StreamDescription?.LastEvaluatedShardId;
    } while (exclusiveStartShardId !== undefined);
    return all;
  }

  async function discover(): Promise<void> {
    const firstTime = discoveredAt === 0;
    const startedAt = ++tick;
    for (const shard of await describeShards()) {
      const id = shard.ShardId;
      if (id === undefined || shards.has(id)) continue;
      const closed = shard.SequenceNumberRange?.EndingSequenceNumber !== undefined;
      const state: ShardState = { id, parentId: shard.ParentShardId, start: { type: 'TRIM_HORIZON' }, status: 'waiting', caughtUpAt: 0 };
      if (firstTime && startingPosition === 'LATEST') {
        // LATEST applies to what is open now; a shard that appears later is new data, read in full.
        if (closed) state.status = 'done';
        else state.start = { type: 'LATEST' };
      }
      shards.set(id, state);
    }
    startReadyShards();
    discoveredAt = startedAt;
  }

  function startReadyShards(): void {
    for (const state of shards.values()) {
      if (stopped || state.status !== 'waiting') continue;
      // Records of one item can move from a parent shard to its child: the child waits until the
      // parent is read to its end (or the parent is gone from the stream, trimmed after 24 h).
      const parent = state.parentId === undefined ? undefined : shards.get(state.parentId);
      if (parent !== undefined && parent.status !== 'done') continue;
      state.status = 'reading';
      track(readShard(state));
    }
  }

  function track(loop: Promise<void>): void {
    const tracked = loop.catch(report).finally(() => loops.delete(tracked));
    loops.add(tracked);
  }

  async function discoveryLoop(): Promise<void> {
    let failures = 0;
    while (!stopped) {
      try {
        await discover();
        failures = 0;
      } catch (error) {
        if (stopped) return;
        report(error);
        failures += 1;
      }
      await discoveryAlarm.wait(failures === 0 ? discoveryIntervalMs : backoff(failures));
    }
  }

  function finishShard(state: ShardState): void {
    state.status = 'done';
    startReadyShards();
    // Its children may not be listed yet: look now rather than at the next interval.
    discoveryAlarm.ring();
  }

  async function shardIterator(shardId: string, position: Position): Promise<string | undefined> {
    const { ShardIterator } = await streamsClient.send(
      new GetShardIteratorCommand({
        StreamArn: streamArn,
        ShardId: shardId,
        ShardIteratorType: position.type,
        ...('sequenceNumber' in position ? { SequenceNumber: position.sequenceNumber } : {}),
      }),
      { abortSignal: abort.signal },
    );
    return ShardIterator;
  }

  async function readShard(state: ShardState): Promise<void> {
    const alarm = new Alarm(alarms);
    let position = state.start;
    let iterator: string | undefined;
    let failures = 0;
    // Records read but not yet delivered: Lambda's batching window gathers a batch for up to
    // batchingWindowMs after its first record (or until it is full).
    let buffer: _Record[] = [];
    let bufferSince = 0;
    try {
      while (!stopped) {
        try {
          if (iterator === undefined) {
            iterator = await shardIterator(state.id, position);
            if (iterator === undefined) {
              finishShard(state);
              return;
            }
          }
          const readStartedAt = ++tick;
          const page = await streamsClient.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: batchSize - buffer.length }), {
            abortSignal: abort.signal,
          });
          const records = page.Records ?? [];
          if (records.length > 0) {
            if (buffer.length === 0) bufferSince = Date.now();
            buffer.push(...records);
          }
          const next = page.NextShardIterator;
          const windowLeft = batchingWindowMs - (Date.now() - bufferSince);
          if (buffer.length > 0 && (buffer.length >= batchSize || windowLeft <= 0 || next === undefined)) {
            const batch = buffer;
            buffer = [];
            const retryFrom = await deliver(batch);
            if (retryFrom !== undefined) {
              position = { type: 'AT_SEQUENCE_NUMBER', sequenceNumber: retryFrom };
              iterator = undefined;
              failures += 1;
              await alarm.wait(backoff(failures));
              continue;
            }
            failures = 0;
            position = { type: 'AFTER_SEQUENCE_NUMBER', sequenceNumber: sequenceNumberOf(batch[batch.length - 1]) };
          }
          iterator = next;
          // No next iterator: the shard is closed and we have read (and delivered) all of it.
          if (iterator === undefined) {
            finishShard(state);
            return;
          }
          if (records.length === 0) {
            if (buffer.length === 0) {
              state.caughtUpAt = readStartedAt;
              await alarm.wait(idleDelayMs);
            } else {
              await alarm.wait(Math.min(idleDelayMs, Math.max(1, windowLeft)));
            }
          }
        } catch (error) {
          if (stopped) return;
          iterator = undefined;
          // What was read but not delivered is read again from the last position delivered.
          buffer = [];
          failures += 1;
          if (error instanceof ResourceNotFoundException) {
            // The shard (or the whole stream, with its table) is gone: nothing more to read here.
            report(error);
            finishShard(state);
            return;
          }
          if (error instanceof TrimmedDataAccessException) {
            // Our position fell out of the 24-hour window: continue from the oldest record left.
            position = { type: 'TRIM_HORIZON' };
            report(error);
          } else if (!(error instanceof ExpiredIteratorException)) {
            // An expired iterator (15 minutes) is routine: a new one from the same position will do.
            report(error);
          }
          await alarm.wait(backoff(failures));
        }
      }
    } finally {
      alarm.dispose();
    }
  }

  /** Calls the handler once; returns the sequence number to read again from, if any failed. */
  async function deliver(records: _Record[]): Promise<string | undefined> {
    const first = sequenceNumberOf(records[0]);
    let response: unknown;
    try {
      response = await handler({ Records: records.map((record) => toLambdaStreamRecord(record, streamArn)) });
    } catch (error) {
      report(error);
      return first;
    }
    const parsed = BatchResponseSchema.safeParse(response);
    if (!parsed.success) {
      report(new Error(`stream handler returned an invalid batch response: ${parsed.error.message}`));
      return first;
    }
    const failed = new Set((parsed.data?.batchItemFailures ?? []).map((failure) => failure.itemIdentifier));
    if (failed.size === 0) return undefined;
    const inBatch = new Set(records.map((record) => record.dynamodb?.SequenceNumber));
    const unknown = [...failed].filter((id) => !inBatch.has(id));
    if (unknown.length > 0) {
      // As Lambda does: an identifier that is empty or not in the batch fails the whole batch.
      report(new Error(`stream handler reported batchItemFailures not in the batch: ${unknown.map((id) => JSON.stringify(id)).join(', ')}`));
      return first;
    }
    // Records are in sequence order, so the first failed one in the batch is the lowest.
    return sequenceNumberOf(records.find((record) => failed.has(record.dynamodb?.SequenceNumber ?? '')));
  }

  function isIdleSince(mark: number): boolean {
    if (discoveredAt <= mark) return false;
    for (const state of shards.values()) {
      if (state.status !== 'done' && state.caughtUpAt <= mark) return false;
    }
    return true;
  }

  track(discoveryLoop());

  return {
    wake() {
      for (const alarm of alarms) if (alarm !== discoveryAlarm) alarm.ringIfWaiting();
    },
    async stop() {
      if (!stopped) {
        stopped = true;
        abort.abort();
        for (const alarm of alarms) alarm.ring();
      }
      while (loops.size > 0) await Promise.allSettled([...loops]);
    },
    async idle() {
      const mark = ++tick;
      discoveryAlarm.ring();
      while (!isIdleSince(mark)) {
        if (stopped) throw new Error('stream poller stopped before it was idle');
        await new Promise((resolve) => setTimeout(resolve, IDLE_CHECK_MS));
      }
    },
  };
}

function backoff(failures: number): number {
  return Math.min(RETRY_MAX_DELAY_MS, RETRY_BASE_DELAY_MS * 2 ** Math.max(0, failures - 1));
}

function sequenceNumberOf(record: _Record | undefined): string {
  const sequenceNumber = record?.dynamodb?.SequenceNumber;
  if (sequenceNumber === undefined) throw new Error('stream record without a SequenceNumber');
  return sequenceNumber;
}

/**
 * A pause that can be cut short: stop() rings every alarm, a finished shard and idle() ring
 * discovery's. A ring while nobody waits is kept for the next wait, so a request for discovery that
 * arrives while one is running gets a fresh run.
 */
class Alarm {
  #ring: (() => void) | undefined;
  #rung = false;

  constructor(private readonly registry: Set<Alarm>) {
    registry.add(this);
  }

  wait(ms: number): Promise<void> {
    if (this.#rung) {
      this.#rung = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined = undefined;
      const done = () => {
        clearTimeout(timer);
        this.#ring = undefined;
        resolve();
      };
      this.#ring = done;
      timer = setTimeout(done, ms);
    });
  }

  ring(): void {
    if (this.#ring === undefined) this.#rung = true;
    else this.#ring();
  }

  /** Cuts a pause under way short; no effect on one not yet begun (unlike ring). */
  ringIfWaiting(): void {
    this.#ring?.();
  }

  dispose(): void {
    this.registry.delete(this);
  }
}

/**
 * A Streams record as Lambda puts it in the event: the record's own fields, eventSourceARN, the
 * creation time in epoch seconds (the SDK parses it into a Date) and binary values as base64, since
 * Lambda's event is JSON.
 */
export function toLambdaStreamRecord(record: _Record, streamArn: string): DynamoDBRecord {
  const stream = record.dynamodb ?? {};
  const dynamodb: StreamRecord = withoutUndefined({
    ApproximateCreationDateTime:
      stream.ApproximateCreationDateTime === undefined ? undefined : Math.floor(stream.ApproximateCreationDateTime.getTime() / 1000),
    Keys: imageToJson(stream.Keys),
    NewImage: imageToJson(stream.NewImage),
    OldImage: imageToJson(stream.OldImage),
    SequenceNumber: stream.SequenceNumber,
    SizeBytes: stream.SizeBytes,
    StreamViewType: stream.StreamViewType,
  });
  return withoutUndefined({
    eventID: record.eventID,
    eventName: record.eventName,
    eventVersion: record.eventVersion ?? '1.1',
    eventSource: record.eventSource ?? 'aws:dynamodb',
    awsRegion: record.awsRegion,
    dynamodb,
    eventSourceARN: streamArn,
    // Present for TTL deletions: { type: 'Service', principalId: 'dynamodb.amazonaws.com' }.
    userIdentity:
      record.userIdentity === undefined ? undefined : { type: record.userIdentity.Type, principalId: record.userIdentity.PrincipalId },
  });
}

function imageToJson(image: Record<string, AttributeValue> | undefined): Record<string, LambdaAttributeValue> | undefined {
  if (image === undefined) return undefined;
  return Object.fromEntries(Object.entries(image).map(([name, value]) => [name, attributeToJson(value)]));
}

function attributeToJson(value: AttributeValue): LambdaAttributeValue {
  if (value.S !== undefined) return { S: value.S };
  if (value.N !== undefined) return { N: value.N };
  if (value.BOOL !== undefined) return { BOOL: value.BOOL };
  if (value.NULL !== undefined) return { NULL: value.NULL };
  if (value.B !== undefined) return { B: Buffer.from(value.B).toString('base64') };
  if (value.SS !== undefined) return { SS: [...value.SS] };
  if (value.NS !== undefined) return { NS: [...value.NS] };
  if (value.BS !== undefined) return { BS: value.BS.map((bytes) => Buffer.from(bytes).toString('base64')) };
  if (value.L !== undefined) return { L: value.L.map(attributeToJson) };
  if (value.M !== undefined) return { M: imageToJson(value.M) ?? {} };
  throw new Error(`unsupported attribute value with keys ${Object.keys(value).join(', ')}`);
}

function withoutUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, field]) => field !== undefined)) as T;
}
