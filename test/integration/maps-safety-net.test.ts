// The safety net of a map's counting: when neither the workers (their chunk writes fail) nor the
// scheduler (it never sees the items' stream records) count the items that ended, the sweeper's
// periodic look at the waiting map recounts them from the items themselves and ends the map.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalRuntime } from '../../local/runtime.js';
import { type ApiClient, register, startRuntime, startRunViaApi, waitForRun } from './e2e-support.js';

let runtime: LocalRuntime;
let api: ApiClient;
const refusedCounts = { count: 0 };

beforeAll(async () => {
  ({ runtime, api } = await startRuntime({}, () => undefined, {
    sweepIntervalMs: 250,
    reconcileIntervalSeconds: 1,
    // The scheduler never sees an item end, nor a chunk's count.
    dropStreamRecord: (record) => /^(ITEM|MAPDONE)#/.test(record.dynamodb?.Keys?.['sk']?.S ?? ''),
  }));
  // Every count of a chunk fails: the workers that end items start the next ones, and count nothing.
  runtime.clients.dynamo.middlewareStack.add(
    (next, context) => async (args) => {
      // The document client's key, plain or marshalled (`{ S: ... }`).
      const sk = (args.input as { Key?: { sk?: unknown } }).Key?.sk;
      const text = typeof sk === 'string' ? sk : ((sk as { S?: string } | undefined)?.S ?? '');
      if (/^Update(Item)?Command$/.test(context.commandName ?? '') && text.startsWith('MAPDONE#')) {
        refusedCounts.count++;
        throw Object.assign(new Error('chunk count refused (injected)'), { name: 'ValidationException', $fault: 'client' });
      }
      return next(args);
    },
    { step: 'initialize', name: 'refuseChunkCounts' },
  );
});

afterAll(async () => {
  await runtime?.stop();
});

describe('a map whose items were never counted', () => {
  it('is ended by the sweeper from its items, in item order', async () => {
    await register(api, { id: 'map_uncounted', tasks: [{ id: 'each', type: 'map', items: '{{input.list}}', maxConcurrency: 2, task: { type: 'pass', output: { twice: '{{item}}{{item}}' } } }] });
    const runId = await startRunViaApi(api, 'map_uncounted', { list: ['a', 'b', 'c', 'd', 'e'] });
    const run = await waitForRun(api, runId, 60_000);
    expect(run.status).toBe('COMPLETED');
    expect(run.tasks[0].output).toEqual(['aa', 'bb', 'cc', 'dd', 'ee'].map((twice) => ({ twice })));
    // The counts were tried, and refused: what ended the map was the sweeper's recount.
    expect(refusedCounts.count).toBeGreaterThan(0);
  });
});
