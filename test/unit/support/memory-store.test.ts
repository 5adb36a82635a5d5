// The in-memory double of the ports, held to what test/integration/store.test.ts checks of the
// DynamoDB adapter: if the double drifted from the adapter, the services' unit tests would prove
// nothing.
import { describe, expect, it } from 'vitest';
import { ConflictError, PayloadTooLargeError } from '../../../shared/model/errors.js';
import { LIMITS } from '../../../shared/model/limits.js';
import type { AttemptRecord, StoredDefinition } from '../../../shared/engine/records.js';
import type { Fence } from '../../../shared/engine/ports.js';
import { Engine } from './engine.js';

function wide(id: string, width: number) {
  return { id, tasks: [{ id: 'root', type: 'pass' as const }, ...Array.from({ length: width - 1 }, (_, i) => ({ id: `t${i}`, type: 'pass' as const, dependsOn: ['root'] }))] };
}

function record(attempt: number, outcome: AttemptRecord['outcome'] = 'SUCCEEDED'): AttemptRecord {
  const at = new Date(0).toISOString();
  return { attempt, phase: 0, startedAt: at, completedAt: at, durationMs: 1, outcome };
}

async function setUp(width = 2): Promise<{ engine: Engine; definition: StoredDefinition; runId: string }> {
  const engine = new Engine();
  const definition = await engine.define(wide('contract', width));
  const { runId } = await engine.store.runs.createRun({ runId: 'run-1', definition, input: { n: 1 }, dueAt: engine.clock.ms + 60_000, groupCount: 1 });
  return { engine, definition, runId };
}

async function queued(engine: Engine, definition: StoredDefinition, runId: string, taskId = 't0', dueAt = engine.clock.ms + 60_000): Promise<void> {
  const result = await engine.store.tasks.advance({ runId, taskId, workflowId: definition.workflowId, version: definition.version, phase: 0, next: { kind: 'queue', dueAt }, opToken: `queue-${taskId}` });
  expect(result).toMatchObject({ outcome: 'ok', task: { status: 'QUEUED', attempt: 1 } });
}

async function claimed(engine: Engine, definition: StoredDefinition, runId: string): Promise<string> {
  await queued(engine, definition, runId);
  const claim = await engine.store.tasks.claim({ runId, taskId: 't0', attempt: 1, leaseToken: 'lease', leaseExpiresAt: engine.clock.ms + 60_000, opToken: 'claim' });
  expect(claim.outcome).toBe('claimed');
  return 'lease';
}

describe('MemoryStore (the contract of the ports, as the DynamoDB adapter keeps it)', () => {
  describe('createRun', () => {
    it('writes the run and its input only: no task item until one is touched', async () => {
      const { engine, runId } = await setUp();
      expect(engine.store.run(runId)).toMatchObject({ runId, status: 'RUNNING', phase: 0, doneGroups: [], failedCount: 0 });
      expect(await engine.store.runs.getRunInput(runId)).toEqual({ n: 1 });
      expect((await engine.store.tasks.readTasks(runId)).tasks).toEqual([]);
    });

    it('yields one run for a repeated idempotency key, and refuses the key for another request', async () => {
      const { engine, definition } = await setUp();
      const key = { key: 'k', requestFingerprint: 'same' };
      const first = await engine.store.runs.createRun({ runId: 'a', definition, input: {}, dueAt: 0, groupCount: 1, idempotency: key });
      const again = await engine.store.runs.createRun({ runId: 'b', definition, input: {}, dueAt: 0, groupCount: 1, idempotency: key });
      expect(first).toEqual({ runId: 'a', created: true });
      expect(again).toEqual({ runId: 'a', created: false });
      expect(engine.store.run('b')).toBeUndefined();
      await expect(engine.store.runs.createRun({ runId: 'c', definition, input: {}, dueAt: 0, groupCount: 1, idempotency: { key: 'k', requestFingerprint: 'other' } })).rejects.toThrow(ConflictError);
    });

    it('refuses an input over the limit and writes nothing', async () => {
      const { engine, definition } = await setUp();
      await expect(engine.store.runs.createRun({ runId: 'big', definition, input: 'x'.repeat(LIMITS.maxInputBytes), dueAt: 0, groupCount: 1 })).rejects.toThrow(PayloadTooLargeError);
      expect(engine.store.run('big')).toBeUndefined();
    });
  });

  describe('advance', () => {
    it('creates a task when first touched, and records the same outcome once however often', async () => {
      const { engine, definition, runId } = await setUp(3);
      const base = { runId, taskId: 't0', workflowId: definition.workflowId, version: definition.version, phase: 0, outcome: { dependencyId: 'root', status: 'SUCCEEDED' as const } };
      await engine.store.tasks.advance({ ...base, opToken: 'a' });
      expect(await engine.store.tasks.advance({ ...base, opToken: 'b' })).toMatchObject({
        outcome: 'ok',
        task: { status: 'PENDING', attempt: 0, phase: 0, dependencies: { succeeded: ['root'] } },
      });
    });

    it('moves a task on only from PENDING, and only in its phase', async () => {
      const { engine, definition, runId } = await setUp();
      const base = { runId, taskId: 't0', workflowId: definition.workflowId, version: definition.version };
      expect(await engine.store.tasks.advance({ ...base, phase: 0, next: { kind: 'queue', dueAt: 1 }, opToken: 'q1' })).toMatchObject({ outcome: 'ok' });
      expect(await engine.store.tasks.advance({ ...base, phase: 0, next: { kind: 'queue', dueAt: 1 }, opToken: 'q2' })).toMatchObject({ outcome: 'conflict', current: { status: 'QUEUED' } });
      expect(await engine.store.tasks.advance({ ...base, phase: 1, next: { kind: 'skip', reason: 'x' }, opToken: 'q3' })).toMatchObject({ outcome: 'conflict' });
      // An outcome alone is recorded in the task's phase only, too.
      expect(await engine.store.tasks.advance({ ...base, phase: 1, outcome: { dependencyId: 'root', status: 'FAILED' }, opToken: 'q4' })).toMatchObject({ outcome: 'conflict' });
    });

    it('recognizes its own change when it is tried again after a lost answer', async () => {
      const { engine, definition, runId } = await setUp();
      const params = { runId, taskId: 't0', workflowId: definition.workflowId, version: definition.version, phase: 0, next: { kind: 'queue' as const, dueAt: 1 }, opToken: 'once' };
      engine.store.fail('tasks.advance', { times: 1, afterApply: true });
      await expect(engine.store.tasks.advance(params)).rejects.toMatchObject({ retryable: true });
      expect(await engine.store.tasks.advance(params)).toMatchObject({ outcome: 'ok', task: { status: 'QUEUED', attempt: 1 } });
    });
  });

  describe('claim', () => {
    it('lets exactly one of 50 concurrent claims of the same attempt win', async () => {
      const { engine, definition, runId } = await setUp();
      await queued(engine, definition, runId);
      const claims = await Promise.all(
        Array.from({ length: 50 }, (_, i) => engine.store.tasks.claim({ runId, taskId: 't0', attempt: 1, leaseToken: `l${i}`, leaseExpiresAt: engine.clock.ms + 60_000, opToken: `c${i}` })),
      );
      expect(claims.filter((claim) => claim.outcome === 'claimed')).toHaveLength(1);
      expect(await engine.store.tasks.claim({ runId, taskId: 't0', attempt: 2, leaseToken: 'x', leaseExpiresAt: 0, opToken: 'y' })).toMatchObject({ outcome: 'not-claimable' });
    });
  });

  describe('finish', () => {
    const end = (engine: Engine, runId: string, fence: Fence, output: unknown, opToken: string) =>
      engine.store.tasks.finish({ runId, taskId: 't0', attempt: 1, fence, record: record(1), keptAttempts: [], opToken, result: { status: 'SUCCEEDED', output } });

    it('refuses a commit with a stale lease token and keeps the stored result (a zombie)', async () => {
      const { engine, definition, runId } = await setUp();
      const leaseToken = await claimed(engine, definition, runId);
      expect(await end(engine, runId, { kind: 'lease', leaseToken: 'zombie' }, { zombie: true }, 'z1')).toMatchObject({ outcome: 'stale' });
      expect(await end(engine, runId, { kind: 'lease', leaseToken }, { ok: 1 }, 'c1')).toEqual({ outcome: 'ok' });
      expect(await end(engine, runId, { kind: 'lease', leaseToken: 'zombie' }, { zombie: true }, 'z2')).toMatchObject({ outcome: 'stale' });
      expect(engine.store.task(runId, 't0')).toMatchObject({ status: 'SUCCEEDED', output: { ok: 1 }, attempts: [{ attempt: 1, outcome: 'SUCCEEDED' }] });
    });

    it('takes a commit whose answer was lost and which is tried again (same token) for done', async () => {
      const { engine, definition, runId } = await setUp();
      const leaseToken = await claimed(engine, definition, runId);
      expect(await end(engine, runId, { kind: 'lease', leaseToken }, { ok: 1 }, 'commit-1')).toEqual({ outcome: 'ok' });
      expect(await end(engine, runId, { kind: 'lease', leaseToken }, { ok: 1 }, 'commit-1')).toEqual({ outcome: 'ok' });
      expect(await end(engine, runId, { kind: 'lease', leaseToken }, { ok: 1 }, 'commit-2')).toMatchObject({ outcome: 'stale' });
    });

    it('lets the sweeper end an attempt only once its lease has run out', async () => {
      const { engine, definition, runId } = await setUp();
      await claimed(engine, definition, runId);
      expect(await end(engine, runId, { kind: 'expired', now: engine.clock.ms }, null, 'e1')).toMatchObject({ outcome: 'stale' });
      expect(await end(engine, runId, { kind: 'expired', now: engine.clock.ms + 120_000 }, null, 'e2')).toEqual({ outcome: 'ok' });
    });

    it('never lets a dead letter end an attempt that a worker holds with a live lease', async () => {
      const { engine, definition, runId } = await setUp();
      await claimed(engine, definition, runId);
      const dead = (now: number, opToken: string) =>
        engine.store.tasks.finish({ runId, taskId: 't0', attempt: 1, fence: { kind: 'dead-letter', now }, record: record(1, 'FAILED'), keptAttempts: [], opToken, result: { status: 'FAILED', error: { name: 'DeadLettered', message: 'x', retryable: false } } });
      expect(await dead(engine.clock.ms, 'd1')).toMatchObject({ outcome: 'stale', current: { status: 'RUNNING' } });
      expect(await dead(engine.clock.ms + 120_000, 'd2')).toEqual({ outcome: 'ok' });
    });

    it('refuses an output over its limit before writing anything', async () => {
      const { engine, definition, runId } = await setUp();
      const leaseToken = await claimed(engine, definition, runId);
      await expect(end(engine, runId, { kind: 'lease', leaseToken }, 'o'.repeat(LIMITS.maxOutputBytes), 'big')).rejects.toThrow(PayloadTooLargeError);
      expect(engine.store.task(runId, 't0')?.status).toBe('RUNNING');
    });
  });

  describe('retry', () => {
    it('is refused once the run asked the attempt to stop', async () => {
      const { engine, definition, runId } = await setUp();
      const leaseToken = await claimed(engine, definition, runId);
      await engine.store.tasks.requestStop({ runId, taskId: 't0', phase: 0 });
      const retried = await engine.store.tasks.retry({
        runId,
        taskId: 't0',
        attempt: 1,
        fence: { kind: 'lease', leaseToken },
        record: record(1, 'RETRIED'),
        keptAttempts: [],
        opToken: 'r',
        error: { name: 'E', message: 'm', retryable: true },
        next: { status: 'QUEUED', dueAt: 1 },
      });
      expect(retried).toMatchObject({ outcome: 'stale', current: { status: 'RUNNING', cancelRequested: true } });
    });
  });

  describe('the due index', () => {
    it('finds a queued task at its due time, keeps it when claimed and finished, and leaves it out once past the mark', async () => {
      const { engine, definition, runId } = await setUp();
      const dueAt = engine.clock.ms + 5_000;
      await queued(engine, definition, runId, 't0', dueAt);
      const refs = async (until: number, after?: number) => {
        const found = [];
        for (const partition of engine.store.due.partitions()) {
          for await (const page of engine.store.due.due(partition, until, after)) found.push(...page.filter((ref) => ref.kind === 'task'));
        }
        return found;
      };
      expect(await refs(dueAt - 1)).toEqual([]);
      expect(await refs(dueAt)).toEqual([{ kind: 'task', runId, taskId: 't0', dueAt }]);
      await engine.store.tasks.claim({ runId, taskId: 't0', attempt: 1, leaseToken: 'lease', leaseExpiresAt: engine.clock.ms + 60_000, opToken: 'c' });
      expect(await refs(dueAt)).toHaveLength(1);
      expect(await engine.store.tasks.extendLease({ runId, taskId: 't0', attempt: 1, leaseToken: 'other', leaseExpiresAt: 0 })).toMatchObject({ outcome: 'stale' });
      await engine.store.tasks.finish({ runId, taskId: 't0', attempt: 1, fence: { kind: 'lease', leaseToken: 'lease' }, record: record(1), keptAttempts: [], opToken: 'f', result: { status: 'SUCCEEDED', output: 1 } });
      // A finished task keeps its entry (its removal would be one more index write): the mark passes it.
      expect(await refs(dueAt)).toEqual([{ kind: 'task', runId, taskId: 't0', dueAt }]);
      expect(await refs(dueAt + 60_000, dueAt)).toEqual([]);
    });

    it('moves the sweeper marks on by partition, never back', async () => {
      const { engine } = await setUp();
      expect(await engine.store.due.readMarks()).toEqual({});
      await engine.store.due.saveMark('P0', 2_000);
      await engine.store.due.saveMark('P0', 1_000);
      await engine.store.due.saveMark('P1', 500);
      expect(await engine.store.due.readMarks()).toEqual({ P0: 2_000, P1: 500 });
    });
  });

  describe('runs', () => {
    it('marks a completion group done once, counting its failures once', async () => {
      const { engine, runId } = await setUp();
      const first = await engine.store.runs.markGroupDone({ runId, phase: 0, group: '0', failed: ['t0'] });
      const again = await engine.store.runs.markGroupDone({ runId, phase: 0, group: '0', failed: ['t0'] });
      expect(first).toMatchObject({ doneGroups: ['0'], failedCount: 1, failedTasks: ['t0'] });
      expect(again).toMatchObject({ doneGroups: ['0'], failedCount: 1, failedTasks: ['t0'] });
      expect(await engine.store.runs.markGroupDone({ runId, phase: 1, group: '0', failed: [] })).toBeUndefined();
    });

    it('lists runs newest first, filters by status, and pages with a token', async () => {
      const { engine, definition } = await setUp();
      const runIds: string[] = [];
      for (let i = 0; i < 5; i++) {
        engine.clock.advance(10);
        runIds.push((await engine.store.runs.createRun({ runId: `r${i}`, definition, input: {}, dueAt: 0, groupCount: 1 })).runId);
      }
      await engine.store.runs.requestCancel({ runId: 'r0', reason: 'x', outcome: 'CANCELLED' });
      const first = await engine.store.runs.listRuns({ workflowId: 'contract', limit: 3 });
      expect(first.runs.map((run) => run.runId)).toEqual(['r4', 'r3', 'r2']);
      const rest = await engine.store.runs.listRuns({ workflowId: 'contract', limit: 3, ...(first.nextToken === undefined ? {} : { nextToken: first.nextToken }) });
      expect(rest.runs.map((run) => run.runId)).toEqual(['r1', 'r0', 'run-1']);
      expect((await engine.store.runs.listRuns({ workflowId: 'contract', status: 'CANCELLING' })).runs.map((run) => run.runId)).toEqual(['r0']);
    });
  });

  describe('test hooks', () => {
    it('fails an operation the given number of times, for the calls picked, then lets it through', async () => {
      const { engine, runId } = await setUp();
      engine.store.fail('tasks.getTask', { times: 2, when: (params: string) => params === runId });
      await expect(engine.store.tasks.getTask(runId, 't0')).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE', retryable: true });
      await expect(engine.store.tasks.getTask('other', 't0')).resolves.toBeUndefined();
      await expect(engine.store.tasks.getTask(runId, 't0')).rejects.toThrow();
      await expect(engine.store.tasks.getTask(runId, 't0')).resolves.toBeUndefined();
    });

    it('streams every applied write with its old and new images, and nothing for a refused one', async () => {
      const { engine, definition, runId } = await setUp();
      engine.store.drainChanges();
      await queued(engine, definition, runId);
      await engine.store.tasks.claim({ runId, taskId: 't0', attempt: 9, leaseToken: 'x', leaseExpiresAt: 0, opToken: 'refused' });
      expect(engine.store.drainChanges()).toEqual([{ kind: 'task', key: expect.any(String), old: undefined, new: expect.objectContaining({ taskId: 't0', status: 'QUEUED' }) }]);
    });

    it('streams nothing for a write that leaves the item as it was (a set member added again)', async () => {
      const { engine, runId } = await setUp();
      engine.store.drainChanges();
      const record = { runId, taskId: 'fan', phase: 0, group: '0', dependencyId: 'root', status: 'SUCCEEDED' as const };
      await engine.store.joins.recordInGroup(record);
      await engine.store.joins.recordInGroup(record);
      await engine.store.completion.recordFinished({ runId, phase: 0, group: '0', taskIds: ['root'], failed: [] });
      await engine.store.completion.recordFinished({ runId, phase: 0, group: '0', taskIds: ['root'], failed: [] });
      expect(engine.store.drainChanges().map((change) => change.kind)).toEqual(['join', 'done']);
    });
  });
});
