// Counts the DynamoDB and SQS requests the engine makes for one run of 10, 100, 1,000 and 10,000
// tasks (SDK middleware on the engine's own clients). Scheduling work is O(out-degree) per change
// and a fan-in's cost per dependency is constant, so requests per task must stay flat as the run
// grows. Counts, not timings: this is no timed test.
import { randomUUID } from 'node:crypto';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_AWS } from '../../local/dynamodb-local.js';
import type { LocalRuntime } from '../../local/runtime.js';
import { assertDefinition } from '../../shared/model/definition.js';
import { createDocumentClient } from '../../shared/aws/dynamo/client.js';
import { createDynamoStore } from '../../shared/aws/dynamo/store.js';
import type { EngineStore } from '../../shared/engine/ports.js';
import { startRuntime } from './e2e-support.js';

let runtime: LocalRuntime;
let observer: EngineStore;
const counts = new Map<string, number>();
const refused = { count: 0 };

/** SDK middleware that counts every command a client sends, by service and command name. */
function counter(service: string) {
  return (next: (args: any) => Promise<any>, context: { commandName?: string }) => async (args: any) => {
    const key = `${service}:${context.commandName ?? 'unknown'}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
    try {
      return await next(args);
    } catch (error) {
      // A refused conditional write: two parts did the same step (a worker and the scheduler).
      if ((error as Error).name === 'ConditionalCheckFailedException') refused.count += 1;
      throw error;
    }
  };
}

function countRequests(clients: { dynamo: DynamoDBDocumentClient; sqs: SQSClient }): void {
  clients.dynamo.middlewareStack.add(counter('dynamodb'), { step: 'initialize', name: 'count-dynamodb-requests' });
  clients.sqs.middlewareStack.add(counter('sqs'), { step: 'initialize', name: 'count-sqs-requests' });
}

beforeAll(async () => {
  // The sweeper's queries are per minute, not per task: it is kept out of the count.
  ({ runtime } = await startRuntime({}, undefined, { sweepIntervalMs: 3_600_000 }));
  countRequests(runtime.clients);
  // Waiting for the run reads through a client of its own, so it is not counted.
  observer = createDynamoStore({
    client: createDocumentClient({ ...LOCAL_AWS, endpoint: runtime.dynamoEndpoint }),
    tableName: runtime.tableName,
  });
}, 120_000);

afterAll(async () => {
  await runtime?.stop();
});

/** root -> (size - 2) parallel tasks -> sink: fan-out and fan-in, all `pass` tasks. */
function fanOutFanIn(id: string, size: number) {
  const middle = Array.from({ length: size - 2 }, (_, i) => `t${i}`);
  return assertDefinition({
    id,
    tasks: [
      { id: 'root', type: 'pass' },
      ...middle.map((taskId) => ({ id: taskId, type: 'pass' as const, dependsOn: ['root'] })),
      { id: 'sink', type: 'pass', dependsOn: middle },
    ],
  });
}

/** One map task over `items` items, each a `pass`. */
function mapOver(id: string) {
  return assertDefinition({ id, tasks: [{ id: 'each', type: 'map', items: '{{input.items}}', maxConcurrency: 50, task: { type: 'pass' } }] });
}

async function requestsForRun(size: number, mapItems?: number): Promise<{ dynamodb: number; refused: number; sqsSend: number; sqsPoll: number; byCommand: Record<string, number> }> {
  const definition = mapItems === undefined ? fanOutFanIn(`count_${size}`, size) : mapOver('count_map');
  const { version } = await runtime.engine.store.definitions.saveDefinition(definition);
  const stored = await runtime.engine.store.definitions.getDefinition(definition.id, version);
  if (stored === undefined) throw new Error('definition not saved');
  // The definition as the API would have it cached already.
  await runtime.engine.definitions.get(definition.id, version);
  counts.clear();
  refused.count = 0;
  const input = mapItems === undefined ? { size } : { items: Array.from({ length: mapItems }, (_, i) => i) };
  const { runId } = await runtime.engine.runControl.start({ runId: randomUUID(), definition: stored, input });
  const deadline = Date.now() + 600_000;
  for (;;) {
    const run = await observer.runs.getRun(runId);
    if (run?.status === 'COMPLETED') break;
    if (run?.status === 'FAILED' || Date.now() > deadline) throw new Error(`run of ${size} tasks ended ${run?.status}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  // Let the last stream records and deletes drain before reading the counters.
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  const byCommand = Object.fromEntries([...counts.entries()].sort());
  const sum = (filter: (key: string) => boolean) =>
    [...counts.entries()].filter(([key]) => filter(key)).reduce((total, [, n]) => total + n, 0);
  return {
    dynamodb: sum((key) => key.startsWith('dynamodb:')),
    refused: refused.count,
    sqsSend: sum((key) => key.startsWith('sqs:Send')),
    sqsPoll: sum((key) => key.startsWith('sqs:') && !key.startsWith('sqs:Send')),
    byCommand,
  };
}

/**
 * The run of 10, three times, and the one in the middle by DynamoDB requests: in so small a run one
 * race between the worker and the scheduler (which one moves the fan-out on, decided by timing
 * on a loaded machine) is a tenth of a request per task.
 */
async function medianOfThree(size: number): ReturnType<typeof requestsForRun> {
  const results = [await requestsForRun(size), await requestsForRun(size), await requestsForRun(size)];
  return results.sort((a, b) => a.dynamodb - b.dynamodb)[1]!;
}

describe('requests per task', () => {
  it('stay flat for runs of 10, 100, 1,000 and 10,000 tasks', async () => {
    const figures: Array<{ size: number; dynamodbPerTask: number; refusedPerTask: number; sqsSendPerTask: number }> = [];
    for (const size of [10, 100, 1_000, 10_000]) {
      const result = size === 10 ? await medianOfThree(size) : await requestsForRun(size);
      figures.push({ size, dynamodbPerTask: result.dynamodb / size, refusedPerTask: result.refused / size, sqsSendPerTask: result.sqsSend / size });
      console.log(
        `run of ${size} tasks: ${result.dynamodb} DynamoDB requests (${(result.dynamodb / size).toFixed(2)}/task, ${result.refused} refused conditional writes), ` +
          `${result.sqsSend} SQS sends (${(result.sqsSend / size).toFixed(2)}/task), ${result.sqsPoll} SQS receives/deletes by the poller`,
        result.byCommand,
      );
    }
    const [small, medium, large, huge] = figures;
    if (small === undefined || medium === undefined || large === undefined || huge === undefined) throw new Error('missing figures');
    // Flat: from 100 tasks (its fan-in already in join groups, as every larger one's) to 10,000, the
    // cost per task stays within 10%; the run of 10 (a fan-in of 8, kept on the task) is no dearer.
    for (const bigger of [large, huge]) {
      expect(bigger.dynamodbPerTask).toBeLessThanOrEqual(medium.dynamodbPerTask * 1.1);
      // A wide fan-out is moved on by one part, not raced by the worker and the scheduler (whose
      // losing writes were ~0.7-1 per task before the worker left the tail of a fan-out to it).
      expect(bigger.refusedPerTask).toBeLessThan(0.05);
      expect(bigger.sqsSendPerTask).toBeLessThanOrEqual(Math.max(small.sqsSendPerTask, medium.sqsSendPerTask) * 1.1);
    }
    expect(small.dynamodbPerTask).toBeLessThanOrEqual(medium.dynamodbPerTask * 1.1);
    // And small in absolute terms: a handful of requests per task, never a scan of the run.
    expect(huge.dynamodbPerTask).toBeLessThan(7);
  }, 1_200_000);

  it('stay flat per item for maps of 100 and 10,000 items', async () => {
    const figures: Array<{ items: number; dynamodbPerItem: number; sqsSendPerItem: number; sqsPollPerItem: number }> = [];
    for (const items of [100, 10_000]) {
      const result = await requestsForRun(1, items);
      figures.push({ items, dynamodbPerItem: result.dynamodb / items, sqsSendPerItem: result.sqsSend / items, sqsPollPerItem: result.sqsPoll / items });
      console.log(
        `map of ${items} items: ${result.dynamodb} DynamoDB requests (${(result.dynamodb / items).toFixed(2)}/item, ${result.refused} refused conditional writes), ` +
          `${result.sqsSend} SQS sends (${(result.sqsSend / items).toFixed(2)}/item), ${result.sqsPoll} SQS receives/deletes by the poller`,
        result.byCommand,
      );
    }
    const [small, large] = figures;
    if (small === undefined || large === undefined) throw new Error('missing figures');
    // Flat: the map of 10,000 costs no more per item than the map of 100 (whose run, start and end weigh more per item).
    expect(large.dynamodbPerItem).toBeLessThanOrEqual(small.dynamodbPerItem * 1.1);
    // One message per item, whatever the length: the first maxConcurrency go in batches, each
    // later one is sent by the end of the item before it (so a short map sends fewer per item).
    expect(small.sqsSendPerItem).toBeLessThanOrEqual(1.05);
    expect(large.sqsSendPerItem).toBeLessThanOrEqual(1.05);
    // A handful per item: its start, claim, commit and count, never a read of the whole list per item.
    expect(large.dynamodbPerItem).toBeLessThan(8);
  }, 1_200_000);
});
