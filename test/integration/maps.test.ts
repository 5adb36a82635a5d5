// Map tasks through the real local path (HTTP -> api -> DynamoDB Local -> stream -> scheduler ->
// SQS -> worker): a list known only at run time, one item task per entry, at most maxConcurrency
// at once, per-item retries, results in item order, a downstream join, tolerated failures, the
// items listed per map through the API, and a cancel that reaches the items.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalRuntime } from '../../local/runtime.js';
import { TaskFailure, type TaskContext } from '../../shared/tasks/context.js';
import { type ApiClient, register, startRuntime, startRunViaApi, waitForRun } from './e2e-support.js';

let runtime: LocalRuntime;
let api: ApiClient;
const errors: unknown[] = [];

/** Items running at once, per run: the most seen. */
const running = new Map<string, { now: number; most: number }>();
/** Attempts per `runId:index` of the flaky handler. */
const tries = new Map<string, number>();
const releaseSlow: Array<() => void> = [];
/** Runs per `runId:index` of the healing handler, which fails multiples of 3 until healed. */
const healingRuns = new Map<string, number>();
const healing = { healed: false };

beforeAll(async () => {
  ({ runtime, api } = await startRuntime(
    {
      square: async (ctx: TaskContext) => {
        const seen = running.get(ctx.runId) ?? { now: 0, most: 0 };
        running.set(ctx.runId, seen);
        seen.now++;
        seen.most = Math.max(seen.most, seen.now);
        await new Promise((resolve) => setTimeout(resolve, 30));
        seen.now--;
        const n = Number((ctx.item?.value as { n: number }).n);
        return { index: ctx.item?.index, square: n * n, params: ctx.params ?? null };
      },
      flaky: async (ctx: TaskContext) => {
        const key = `${ctx.runId}:${ctx.item?.index ?? -1}`;
        tries.set(key, (tries.get(key) ?? 0) + 1);
        // Item 1 fails its first attempt; items divisible by 5 always fail.
        const n = Number(ctx.item?.value);
        if (n % 5 === 0) throw new Error(`item ${n} is a multiple of 5`);
        if (n === 1 && ctx.attempt === 1) throw new Error('transient');
        return n * 10;
      },
      healing: async (ctx: TaskContext) => {
        const key = `${ctx.runId}:${ctx.item?.index ?? -1}`;
        healingRuns.set(key, (healingRuns.get(key) ?? 0) + 1);
        const n = Number(ctx.item?.value);
        if (!healing.healed && n % 3 === 0) throw new TaskFailure('Broken', `item ${n} is broken`, { retryable: false });
        return { n, key: ctx.idempotencyKey };
      },
      slow: async (ctx: TaskContext) => {
        await new Promise<void>((resolve) => {
          releaseSlow.push(resolve);
          ctx.signal.addEventListener('abort', () => resolve());
        });
        ctx.signal.throwIfAborted();
        return 'late';
      },
    },
    (source, error) => errors.push({ source, error }),
    { sweepIntervalMs: 250 },
  ));
});

afterAll(async () => {
  for (const release of releaseSlow) release();
  await runtime?.stop();
});

const task = (run: { tasks: Array<{ taskId: string }> }, taskId: string): any => run.tasks.find((t) => t.taskId === taskId);

async function allItems(runId: string, taskId: string): Promise<any[]> {
  const items: any[] = [];
  let cursor: string | undefined;
  do {
    const { status, body } = await api.get(`/runs/${runId}/tasks/${taskId}/items?limit=7${cursor === undefined ? '' : `&cursor=${cursor}`}`);
    expect(status).toBe(200);
    items.push(...body.items);
    cursor = body.nextCursor;
  } while (cursor !== undefined);
  return items;
}

describe('map tasks, through the local runtime', () => {
  it('run the task once per item of an upstream list, at most maxConcurrency at once, outputs in item order, then the join', async () => {
    await register(api, {
      id: 'map_squares',
      tasks: [
        { id: 'list', type: 'pass', output: { items: Array.from({ length: 23 }, (_, n) => ({ n })) } },
        { id: 'each', type: 'map', dependsOn: ['list'], items: '{{upstream.list.output.items}}', maxConcurrency: 4, task: { handler: 'square', params: { unit: 'm2' } } },
        { id: 'labels', type: 'map', dependsOn: ['list'], items: '{{input.names}}', task: { type: 'pass', output: { name: '{{item}}', at: '{{index}}', first: '{{upstream.list.output.items.0.n}}' } } },
        { id: 'total', type: 'pass', dependsOn: ['each', 'labels'], output: 'joined' },
      ],
    });
    const runId = await startRunViaApi(api, 'map_squares', { names: ['ada', 'grace'] });
    const run = await waitForRun(api, runId);
    expect(run.status).toBe('COMPLETED');
    const each = task(run, 'each');
    expect(each.output).toEqual(Array.from({ length: 23 }, (_, n) => ({ index: n, square: n * n, params: { unit: 'm2' } })));
    expect(each.items).toEqual({ total: 23, href: `/runs/${runId}/tasks/each/items` });
    expect(task(run, 'labels').output).toEqual([
      { name: 'ada', at: 0, first: 0 },
      { name: 'grace', at: 1, first: 0 },
    ]);
    expect(task(run, 'total').status).toBe('SUCCEEDED');
    expect(running.get(runId)?.most).toBeLessThanOrEqual(4);
    expect(running.get(runId)?.most).toBeGreaterThan(1);
    // The run's own view lists its four tasks, never the items.
    expect(run.tasks.map((t: { taskId: string }) => t.taskId)).toEqual(['list', 'each', 'labels', 'total']);

    const items = await allItems(runId, 'each');
    expect(items.map((item) => item.index)).toEqual(Array.from({ length: 23 }, (_, n) => n));
    expect(items[5]).toMatchObject({ index: 5, status: 'SUCCEEDED', attempt: 1, item: { n: 5 }, output: { index: 5, square: 25 } });
    // A cursor that is not this list's (garbage, or another run's key) is a 400, never passed on.
    const foreign = Buffer.from(JSON.stringify({ pk: 'RUN#another', sk: 'ITEM#each#0#1#000001' })).toString('base64url');
    for (const cursor of ['bogus', foreign]) {
      const refused = await api.get(`/runs/${runId}/tasks/each/items?cursor=${cursor}`);
      expect(refused.status).toBe(400);
      expect(refused.body.error.message).toContain('cursor is not one this list gave out');
    }
    expect((await api.get(`/runs/${runId}/tasks/total/items`)).status).toBe(400);
    expect((await api.get(`/runs/${runId}/tasks/nope/items`)).status).toBe(404);
    expect(errors).toEqual([]);
  });

  it('retry an item by its own policy, tolerate failures up to the limit, and fail the map past it', async () => {
    const definition = (id: string, tolerated: number) => ({
      id,
      tasks: [
        {
          id: 'each',
          type: 'map',
          items: '{{input.numbers}}',
          maxConcurrency: 3,
          toleratedFailureCount: tolerated,
          task: { handler: 'flaky', retry: { maxRetries: 1, initialDelaySeconds: 0, nonRetryableErrors: [] } },
        },
        { id: 'after', type: 'pass', dependsOn: ['each'], output: 'after' },
      ],
    });
    await register(api, definition('map_tolerant', 2));
    await register(api, definition('map_strict', 1));
    const numbers = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];

    const tolerantId = await startRunViaApi(api, 'map_tolerant', { numbers });
    const tolerant = await waitForRun(api, tolerantId);
    expect(tolerant.status).toBe('COMPLETED');
    // Failed items (5 and 10) are null; item 1 succeeded on its second attempt.
    expect(task(tolerant, 'each').output).toEqual([10, 20, 30, 40, null, 60, 70, 80, 90, null]);
    expect(tries.get(`${tolerantId}:0`)).toBe(2);
    const items = await allItems(tolerantId, 'each');
    expect(items[0]).toMatchObject({ status: 'SUCCEEDED', attempt: 2 });
    expect(items[4]).toMatchObject({ status: 'FAILED', attempt: 2, error: { message: 'item 5 is a multiple of 5' } });

    const strictId = await startRunViaApi(api, 'map_strict', { numbers });
    const strict = await waitForRun(api, strictId);
    expect(strict.status).toBe('FAILED');
    expect(task(strict, 'each')).toMatchObject({ status: 'FAILED', error: { name: 'MapToleratedFailureExceeded' } });
    expect(task(strict, 'each').error.message).toMatch(/^2 of 10 items failed, more than the 1 tolerated/);
    expect(task(strict, 'after').status).toBe('SKIPPED');
  });

  it('resume a failed map without running again the items that succeeded', async () => {
    await register(api, { id: 'map_resume', tasks: [{ id: 'each', type: 'map', items: '{{input.list}}', maxConcurrency: 4, toleratedFailureCount: 0, task: { handler: 'healing' } }] });
    const list = Array.from({ length: 10 }, (_, i) => i + 1);
    const runId = await startRunViaApi(api, 'map_resume', { list });
    const failed = await waitForRun(api, runId);
    expect(failed.status).toBe('FAILED');
    const ranBefore = new Map(healingRuns);
    healing.healed = true;
    expect((await api.post(`/runs/${runId}/retry`, {})).status).toBe(202);
    const run = await waitForRun(api, runId);
    expect(run.status).toBe('COMPLETED');
    expect(task(run, 'each').output).toEqual(list.map((n, i) => ({ n, key: `${runId}:each:${i}` })));
    const items = await allItems(runId, 'each');
    for (const item of items) {
      const key = `${runId}:${item.index}`;
      const before = ranBefore.get(key) ?? 0;
      const succeededBefore = before > 0 && (item.index + 1) % 3 !== 0;
      // An item that succeeded before the resume is kept (not run again); the others ran once more.
      expect({ index: item.index, runs: healingRuns.get(key) ?? 0 }).toEqual({ index: item.index, runs: succeededBefore ? before : before + 1 });
      if (succeededBefore) expect(item.reason).toBe('kept: it succeeded in phase 0');
    }
  });

  it('fail a map whose items are not a list, and take an empty list as an empty output', async () => {
    await register(api, { id: 'map_inputs', tasks: [{ id: 'each', type: 'map', items: '{{input.list}}', task: { type: 'pass' } }] });
    const notAList = await waitForRun(api, await startRunViaApi(api, 'map_inputs', { list: { a: 1 } }));
    expect(notAList.status).toBe('FAILED');
    expect(task(notAList, 'each').error).toMatchObject({ name: 'MapItemsNotAList', message: 'items ({{input.list}}) is object, not a list' });
    const empty = await waitForRun(api, await startRunViaApi(api, 'map_inputs', { list: [] }));
    expect(empty.status).toBe('COMPLETED');
    expect(task(empty, 'each').output).toEqual([]);
    const passed = await waitForRun(api, await startRunViaApi(api, 'map_inputs', { list: ['x', { y: 2 }] }));
    expect(task(passed, 'each').output).toEqual(['x', { y: 2 }]);
  });

  it('refuse a bad map definition with a 400 that names the problem', async () => {
    const refused = await api.post('/workflows', {
      id: 'map_bad',
      tasks: [{ id: 'each', type: 'map', items: 'not a placeholder', maxConcurrency: 0, task: { type: 'http', http: { url: 'https://example.com/{{item.id}}/{{upstream.x.output}}' } } }],
    });
    expect(refused.status).toBe(400);
    const messages = JSON.stringify(refused.body);
    expect(messages).toContain('items must be one {{input...}} or {{upstream.<taskId>.output...}} placeholder');
    expect(messages).toContain('maxConcurrency must be at least 1');
    const typo = await api.post('/workflows', { id: 'map_bad2', tasks: [{ id: 'each', type: 'map', items: '{{input.list}}', task: { type: 'pass', output: '{{item..id}}' } }] });
    expect(typo.status).toBe(400);
    expect(JSON.stringify(typo.body)).toContain('refers to \\"item..id\\"');
  });

  it('cancel a running map: its running items see the signal, the rest never start', async () => {
    await register(api, { id: 'map_cancel', tasks: [{ id: 'each', type: 'map', items: '{{input.list}}', maxConcurrency: 2, task: { handler: 'slow' } }] });
    const runId = await startRunViaApi(api, 'map_cancel', { list: [1, 2, 3, 4, 5] });
    const deadline = Date.now() + 20_000;
    while ((await allItems(runId, 'each')).filter((item) => item.status === 'RUNNING').length < 2) {
      if (Date.now() > deadline) throw new Error('the items did not start');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect((await api.post(`/runs/${runId}/cancel`, {})).status).toBe(202);
    const run = await waitForRun(api, runId);
    expect(run.status).toBe('CANCELLED');
    expect(task(run, 'each').status).toBe('CANCELLED');
    const settled = Date.now() + 20_000;
    let items = await allItems(runId, 'each');
    while (items.slice(0, 2).some((item) => item.status === 'RUNNING') && Date.now() < settled) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      items = await allItems(runId, 'each');
    }
    expect(items.slice(0, 2).map((item) => item.status)).toEqual(['CANCELLED', 'CANCELLED']);
    expect(items.slice(2).map((item) => item.status)).toEqual(['PENDING', 'PENDING', 'PENDING']);
  });
});
