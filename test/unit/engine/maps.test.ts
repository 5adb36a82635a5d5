// Map tasks on the in-memory ports: the items run through the worker at most maxConcurrency at
// once, an item's end counted twice (the worker's, then the scheduler's replay) counts once, and
// the items of a map attempt that is over change nothing.
import { describe, expect, it } from 'vitest';
import { runServices } from '../../../shared/engine/keeper.js';
import { itemAddress, itemTaskId } from '../../../shared/engine/map-items.js';
import type { TaskMessage } from '../../../shared/engine/messages.js';
import type { TaskHandler } from '../../../shared/tasks/context.js';
import { Engine } from '../support/engine.js';

const definition = (maxConcurrency: number, toleratedFailureCount = 0) => ({
  id: 'squares',
  tasks: [
    { id: 'each', type: 'map' as const, items: '{{input.numbers}}', maxConcurrency, toleratedFailureCount, task: { handler: 'square' } },
    { id: 'after', type: 'pass' as const, dependsOn: ['each'] },
  ],
});

/** Runs every message sent (and what the stream shows, through the scheduler) until nothing more happens. */
async function drain(engine: Engine, handlers: Record<string, TaskHandler>, onMessage: (message: TaskMessage) => void = () => undefined): Promise<void> {
  const worker = engine.worker(handlers);
  for (let round = 0; round < 500; round++) {
    let batch = engine.queue.take();
    if (batch.length === 0) {
      await engine.settle();
      batch = engine.queue.take();
      if (batch.length === 0) return;
    }
    for (const { message } of batch) {
      onMessage(message);
      await worker.process(message);
    }
  }
  throw new Error('the run did not settle');
}

describe('map tasks, on the in-memory ports', () => {
  it('run the items at most maxConcurrency at once, and answer the map with their outputs in order', async () => {
    const engine = new Engine();
    const stored = await engine.define(definition(2));
    const runId = await engine.start(stored, { numbers: [1, 2, 3, 4, 5] });
    const queued = new Set<string>();
    let most = 0;
    await drain(engine, { square: async (ctx) => Number(ctx.item?.value) ** 2 }, (message) => {
      if (itemAddress(message.taskId) === undefined) return;
      queued.add(message.taskId);
      // Items started but not yet ended, as the store shows them when a message is taken.
      const open = [...engine.store.tasksIn(runId).values()].filter((task) => itemAddress(task.taskId) !== undefined && (task.status === 'QUEUED' || task.status === 'RUNNING'));
      most = Math.max(most, open.length);
    });
    const run = await engine.store.runs.getRun(runId);
    expect(run?.status).toBe('COMPLETED');
    expect((await engine.store.tasks.getTask(runId, 'each'))?.output).toEqual([1, 4, 9, 16, 25]);
    expect(queued.size).toBe(5);
    expect(most).toBeLessThanOrEqual(2);
  });

  it("move the map's dependents on from the worker that ends its last item, without the stream (eager dispatch)", async () => {
    const engine = new Engine();
    const stored = await engine.define(definition(2));
    const runId = await engine.start(stored, { numbers: [1, 2, 3] });
    const worker = engine.worker({ square: async (ctx) => Number(ctx.item?.value) ** 2 });
    // Only the workers' own messages: the scheduler never reads the stream here.
    for (let batch = engine.queue.take(); batch.length > 0; batch = engine.queue.take()) {
      for (const { message } of batch) await worker.process(message);
    }
    expect(await engine.store.tasks.getTask(runId, 'each')).toMatchObject({ status: 'SUCCEEDED', output: [1, 4, 9] });
    expect((await engine.store.tasks.getTask(runId, 'after'))?.status).toBe('SUCCEEDED');
    // The run is counted done from the stream, the safety net; it ends there.
    await engine.settle();
    expect((await engine.store.runs.getRun(runId))?.status).toBe('COMPLETED');
  });

  it('count an item that ends once, however often its end is handled, and start the next item once', async () => {
    const engine = new Engine();
    const stored = await engine.define(definition(1));
    const runId = await engine.start(stored, { numbers: [3, 4] });
    const worker = engine.worker({ square: async (ctx) => Number(ctx.item?.value) ** 2 });
    // The map begins: its first item is started.
    expect(await worker.process(engine.messageFor('each'))).toBe('waiting');
    const first = itemTaskId({ mapId: 'each', phase: 0, attempt: 1, index: 0 });
    const second = itemTaskId({ mapId: 'each', phase: 0, attempt: 1, index: 1 });
    expect(await worker.process(engine.messageFor(first))).toBe('succeeded');
    // The worker counted it and started the second; a replay of its end (the scheduler's) changes neither.
    const ended = await engine.store.tasks.getTask(runId, first);
    const { mapRuns } = runServices({ ...engine.store, queue: engine.queue, definitions: engine.definitions, now: engine.now, metrics: engine.metrics, timings: engine.timings });
    await mapRuns.afterItems([ended!, ended!], 'scheduler');
    expect((await engine.store.tasks.getTask(runId, second))?.attempt).toBe(1);
    expect((await engine.store.tasks.getTask(runId, 'each'))?.mapChunksDone).toBeUndefined();
    expect(await worker.process(engine.messageFor(second))).toBe('succeeded');
    const map = await engine.store.tasks.getTask(runId, 'each');
    expect(map).toMatchObject({ status: 'SUCCEEDED', output: [9, 16], mapChunksDone: ['0'], mapFailed: 0 });
    // The map is over: its items' ends (replayed) write nothing more.
    const writes = engine.store.writes().length;
    await mapRuns.afterItems([ended!], 'scheduler');
    expect(engine.store.writes().length).toBe(writes);
  });

  it('fail the map past its tolerance, with the count and the first failure in its error', async () => {
    const engine = new Engine();
    const stored = await engine.define(definition(3, 1));
    const runId = await engine.start(stored, { numbers: [1, 2, 3, 4, 5, 6] });
    await drain(engine, {
      square: async (ctx) => {
        if (Number(ctx.item?.value) % 2 === 0) throw new Error(`even: ${String(ctx.item?.value)}`);
        return 1;
      },
    });
    const map = await engine.store.tasks.getTask(runId, 'each');
    expect(map?.status).toBe('FAILED');
    expect(map?.error?.name).toBe('MapToleratedFailureExceeded');
    expect(map?.error?.message).toMatch(/^2 of 6 items failed, more than the 1 tolerated; item \d failed with Error: even: \d$/);
    expect((await engine.store.runs.getRun(runId))?.status).toBe('FAILED');
  });

  it('make no items for an attempt that is over, and start none once its signal fired', async () => {
    const engine = new Engine();
    const stored = await engine.define(definition(2));
    const runId = await engine.start(stored, { numbers: [1, 2, 3] });
    const message = engine.messageFor('each');
    await engine.store.tasks.claim({ runId, taskId: 'each', attempt: message.attempt, leaseToken: 'mine', leaseExpiresAt: Date.now() + 60_000, opToken: 'op' });
    const map = (await engine.store.tasks.getTask(runId, 'each'))!;
    const { mapRuns } = runServices({ ...engine.store, queue: engine.queue, definitions: engine.definitions, now: engine.now, metrics: engine.metrics, timings: engine.timings });
    const body = (await engine.loaded(stored)).tasksById.get('each');
    if (body?.type !== 'map') throw new Error('not a map');
    const items = () => [...engine.store.tasksIn(runId).keys()].filter((taskId) => itemAddress(taskId) !== undefined);
    // Another worker's lease (this one's ran out and the attempt went on without it): refused, nothing made.
    await expect(mapRuns.start({ ...map, leaseToken: 'stale' }, body, [1, 2, 3], new AbortController().signal)).rejects.toThrow(/attempt 1 is over/);
    expect(items()).toEqual([]);
    // Cancelled while it made its items: none is started.
    const cancelled = new AbortController();
    cancelled.abort(new Error('cancelled'));
    engine.queue.take();
    await expect(mapRuns.start(map, body, [1, 2, 3], cancelled.signal)).rejects.toThrow('cancelled');
    expect(engine.queue.take()).toEqual([]);
  });
});
