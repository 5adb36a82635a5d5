// The DynamoDB adapter on DynamoDB Local: every state change conditional, outcomes named, a write
// whose answer was lost recognized by its token, and items that stay under DynamoDB's limits.
import { randomUUID } from 'node:crypto';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertDefinition, type WorkflowDefinitionInput } from '../../shared/model/definition.js';
import { ConflictError, PayloadTooLargeError, ValidationError } from '../../shared/model/errors.js';
import { LIMITS } from '../../shared/model/limits.js';
import { MAX_ERROR_DETAILS_BYTES, MAX_ERROR_MESSAGE_BYTES } from '../../shared/tasks/errors.js';
import { KEPT_ATTEMPTS } from '../../shared/engine/attempts.js';
import { INLINE_JOIN_LIMIT } from '../../shared/engine/join.js';
import type { EngineStore } from '../../shared/engine/ports.js';
import type { AttemptRecord, StoredDefinition } from '../../shared/engine/records.js';
import { keys } from '../../shared/aws/dynamo/keys.js';
import { createTestTable, type TestTable } from './support.js';

let table: TestTable;
let store: EngineStore;

beforeAll(async () => {
  table = await createTestTable();
  store = table.store;
});

afterAll(async () => {
  await table.drop();
});

function wide(id: string, width: number): WorkflowDefinitionInput {
  return { id, tasks: [{ id: 'root', type: 'pass' }, ...Array.from({ length: width - 1 }, (_, i) => ({ id: `t${i}`, type: 'pass' as const, dependsOn: ['root'] }))] };
}

async function register(input: WorkflowDefinitionInput): Promise<StoredDefinition> {
  const definition = assertDefinition(input);
  const { version } = await store.definitions.saveDefinition(definition);
  const stored = await store.definitions.getDefinition(definition.id, version);
  if (stored === undefined) throw new Error('definition was not saved');
  return stored;
}

async function startRun(definition: StoredDefinition, input: unknown = {}, idempotency?: { key: string; requestFingerprint: string }): Promise<string> {
  const { runId } = await store.runs.createRun({ runId: randomUUID(), definition, input, dueAt: Date.now() + 60_000, groupCount: 1, ...(idempotency === undefined ? {} : { idempotency }) });
  return runId;
}

/** Queues a task for its first attempt, as dispatch would. */
async function queue(runId: string, definition: StoredDefinition, taskId: string, dueAt = Date.now() + 60_000): Promise<void> {
  const queued = await store.tasks.advance({
    runId,
    taskId,
    workflowId: definition.workflowId,
    version: definition.version,
    phase: 0,
    next: { kind: 'queue', dueAt },
    opToken: randomUUID(),
  });
  expect(queued).toMatchObject({ outcome: 'ok', task: { status: 'QUEUED', attempt: 1 } });
}

function record(attempt: number, outcome: AttemptRecord['outcome'] = 'SUCCEEDED'): AttemptRecord {
  const now = new Date().toISOString();
  return { attempt, phase: 0, startedAt: now, completedAt: now, durationMs: 1, outcome };
}

describe('definitions', () => {
  it('give the same content the same version, and a change a new one that becomes the latest', async () => {
    const first = await store.definitions.saveDefinition(assertDefinition(wide('versions', 3)));
    const again = await store.definitions.saveDefinition(assertDefinition(wide('versions', 3)));
    const changed = await store.definitions.saveDefinition(assertDefinition(wide('versions', 4)));
    expect(again).toEqual({ version: first.version, created: false });
    expect(changed.created).toBe(true);
    expect((await store.definitions.getWorkflow('versions'))?.latestVersion).toBe(changed.version);
    expect((await store.definitions.listVersions('versions')).map((v) => v.version)).toEqual([first.version, changed.version]);
  });

  it('stores a definition of 10,000 tasks (compressed) and reads it back whole', async () => {
    const definition = await register(wide('huge', LIMITS.maxTasks));
    expect(definition.definition.tasks).toHaveLength(10_000);
    expect(definition.definition.tasks[9_999]).toMatchObject({ id: 't9998', dependsOn: ['root'] });
  });
});

describe('createRun', () => {
  it('writes the run and its input only: a run of 10,000 tasks costs what a run of one does', async () => {
    const definition = await register(wide('huge', LIMITS.maxTasks));
    const runId = await startRun(definition, { n: 1 });
    expect(await store.runs.getRun(runId)).toMatchObject({ runId, status: 'RUNNING', phase: 0, taskCount: 10_000, doneGroups: [], failedCount: 0 });
    expect(await store.runs.getRunInput(runId)).toEqual({ n: 1 });
    expect((await store.tasks.readTasks(runId)).tasks).toEqual([]);
  });

  it('refuses an input over the limit and writes nothing', async () => {
    const definition = await register(wide('small', 2));
    const runId = randomUUID();
    await expect(
      store.runs.createRun({ runId, definition, input: { blob: 'x'.repeat(LIMITS.maxInputBytes) }, dueAt: 0, groupCount: 1 }),
    ).rejects.toThrow(PayloadTooLargeError);
    expect(await store.runs.getRun(runId)).toBeUndefined();
  });
});

describe('createRun with an idempotency key', () => {
  it('yields one run when 20 requests with the same key race, and refuses the key for another request', async () => {
    const definition = await register(wide('idem', 2));
    const key = { key: `k-${randomUUID()}`, requestFingerprint: 'same' };
    const runIds = await Promise.all(Array.from({ length: 20 }, () => startRun(definition, {}, key)));
    expect(new Set(runIds).size).toBe(1);
    await expect(startRun(definition, {}, { key: key.key, requestFingerprint: 'other' })).rejects.toThrow(ConflictError);
  });

  it('finishes creating the run of a first request that died after writing its key', async () => {
    const definition = await register(wide('idem', 2));
    const key = `k-${randomUUID()}`;
    const orphan = randomUUID();
    await table.client.send(
      new PutCommand({
        TableName: table.tableName,
        Item: { ...keys.idempotency(key), runId: orphan, requestHash: 'h', workflowId: definition.workflowId, version: definition.version, createdAt: new Date().toISOString() },
      }),
    );
    const again = await store.runs.createRun({ runId: randomUUID(), definition, input: {}, dueAt: 0, groupCount: 1, idempotency: { key, requestFingerprint: 'h' } });
    expect(again).toEqual({ runId: orphan, created: true });
    expect((await store.runs.getRun(orphan))?.status).toBe('RUNNING');
  });
});

describe('advance', () => {
  it('creates a task when first touched, and records the same outcome once however often', async () => {
    const definition = await register(wide('join', 3));
    const runId = await startRun(definition);
    const outcome = { dependencyId: 'root', status: 'SUCCEEDED' as const };
    const base = { runId, taskId: 't0', workflowId: definition.workflowId, version: definition.version, phase: 0 };
    await store.tasks.advance({ ...base, outcome, opToken: 'a' });
    const twice = await store.tasks.advance({ ...base, outcome, opToken: 'b' });
    expect(twice).toMatchObject({ outcome: 'ok', task: { status: 'PENDING', attempt: 0, phase: 0, dependencies: { succeeded: ['root'] } } });
  });

  it('moves a task on only from PENDING, and only in its phase', async () => {
    const definition = await register(wide('moves', 2));
    const runId = await startRun(definition);
    const base = { runId, taskId: 't0', workflowId: definition.workflowId, version: definition.version };
    expect(await store.tasks.advance({ ...base, phase: 0, next: { kind: 'queue', dueAt: 1 }, opToken: 'q1' })).toMatchObject({ outcome: 'ok' });
    expect(await store.tasks.advance({ ...base, phase: 0, next: { kind: 'queue', dueAt: 1 }, opToken: 'q2' })).toMatchObject({ outcome: 'conflict', current: { status: 'QUEUED' } });
    expect(await store.tasks.advance({ ...base, phase: 1, next: { kind: 'skip', reason: 'x' }, opToken: 'q3' })).toMatchObject({ outcome: 'conflict' });
  });

  it('recognizes its own change when it is tried again after a lost answer', async () => {
    const definition = await register(wide('lost-answer', 2));
    const runId = await startRun(definition);
    const params = { runId, taskId: 't0', workflowId: definition.workflowId, version: definition.version, phase: 0, next: { kind: 'queue' as const, dueAt: 1 }, opToken: 'once' };
    await store.tasks.advance(params);
    // The same change again (an SDK retry of an applied write fails its condition): still "done".
    expect(await store.tasks.advance(params)).toMatchObject({ outcome: 'ok', task: { status: 'QUEUED', attempt: 1 } });
  });
});

describe('claim', () => {
  it('lets exactly one of 50 concurrent claims of the same attempt win', async () => {
    const definition = await register(wide('claims', 2));
    const runId = await startRun(definition);
    await queue(runId, definition, 't0');
    const claims = await Promise.all(
      Array.from({ length: 50 }, () => store.tasks.claim({ runId, taskId: 't0', attempt: 1, leaseToken: randomUUID(), leaseExpiresAt: Date.now() + 60_000, opToken: randomUUID() })),
    );
    expect(claims.filter((claim) => claim.outcome === 'claimed')).toHaveLength(1);
    expect(await store.tasks.claim({ runId, taskId: 't0', attempt: 2, leaseToken: 'x', leaseExpiresAt: 0, opToken: 'y' })).toMatchObject({ outcome: 'not-claimable' });
  });
});

describe('finish', () => {
  async function claimed(): Promise<{ runId: string; leaseToken: string }> {
    const definition = await register(wide('finish', 2));
    const runId = await startRun(definition);
    await queue(runId, definition, 't0');
    const leaseToken = randomUUID();
    await store.tasks.claim({ runId, taskId: 't0', attempt: 1, leaseToken, leaseExpiresAt: Date.now() + 60_000, opToken: randomUUID() });
    return { runId, leaseToken };
  }
  const end = (runId: string, fence: Parameters<EngineStore["tasks"]["finish"]>[0]["fence"], output: unknown, opToken: string = randomUUID()) =>
    store.tasks.finish({ runId, taskId: 't0', attempt: 1, fence, record: record(1), keptAttempts: [], opToken, result: { status: 'SUCCEEDED', output } });

  it('refuses a commit with a stale lease token and keeps the stored result (a zombie)', async () => {
    const { runId, leaseToken } = await claimed();
    expect(await end(runId, { kind: 'lease', leaseToken: 'zombie' }, { zombie: true })).toMatchObject({ outcome: 'stale' });
    expect(await end(runId, { kind: 'lease', leaseToken }, { ok: 1 })).toEqual({ outcome: 'ok' });
    expect(await end(runId, { kind: 'lease', leaseToken: 'zombie' }, { zombie: true })).toMatchObject({ outcome: 'stale' });
    expect(await store.tasks.getTask(runId, 't0')).toMatchObject({ status: 'SUCCEEDED', output: { ok: 1 }, attempts: [{ attempt: 1, outcome: 'SUCCEEDED' }] });
  });

  it('takes a commit whose answer was lost and which is tried again for done', async () => {
    const { runId, leaseToken } = await claimed();
    expect(await end(runId, { kind: 'lease', leaseToken }, { ok: 1 }, 'commit-1')).toEqual({ outcome: 'ok' });
    expect(await end(runId, { kind: 'lease', leaseToken }, { ok: 1 }, 'commit-1')).toEqual({ outcome: 'ok' });
  });

  it('lets the sweeper end an attempt only once its lease has run out (a heartbeat may have won)', async () => {
    const { runId } = await claimed();
    expect(await end(runId, { kind: 'expired', now: Date.now() }, null)).toMatchObject({ outcome: 'stale' });
    expect(await end(runId, { kind: 'expired', now: Date.now() + 120_000 }, null)).toEqual({ outcome: 'ok' });
  });

  it('never lets a dead letter end an attempt that a worker holds with a live lease', async () => {
    const { runId } = await claimed();
    const dead = (now: number) =>
      store.tasks.finish({ runId, taskId: 't0', attempt: 1, fence: { kind: 'dead-letter', now }, record: record(1, 'FAILED'), keptAttempts: [], opToken: randomUUID(), result: { status: 'FAILED', error: { name: 'DeadLettered', message: 'x', retryable: false } } });
    expect(await dead(Date.now())).toMatchObject({ outcome: 'stale', current: { status: 'RUNNING' } });
    expect(await dead(Date.now() + 120_000)).toEqual({ outcome: 'ok' });
  });

  it('keeps a task item under 400 KB with every field at its limit', async () => {
    const dependencies = Array.from({ length: INLINE_JOIN_LIMIT }, (_, i) => `d${'x'.repeat(70)}${i}`);
    const definition = await register({
      id: 'budget',
      tasks: [
        ...dependencies.map((id) => ({ id, type: 'pass' as const })),
        ...['failing', 'succeeding'].map((id) => ({ id, type: 'pass' as const, dependsOn: dependencies, retry: { maxRetries: 20 } })),
      ],
    });
    const runId = await startRun(definition);
    const longError = { name: 'E'.repeat(256), message: 'm'.repeat(512), retryable: true };
    const attempts = Array.from({ length: KEPT_ATTEMPTS - 1 }, (_, i) => ({ ...record(i + 1, 'RETRIED'), error: longError }));
    // Every dependency recorded, a checkpoint at its limit, a full attempt list: then the result.
    const atItsLimits = async (taskId: string, result: Parameters<EngineStore['tasks']['finish']>[0]['result']) => {
      const base = { runId, taskId, workflowId: definition.workflowId, version: definition.version, phase: 0 };
      for (const dependencyId of dependencies) await store.tasks.advance({ ...base, outcome: { dependencyId, status: 'SUCCEEDED' }, opToken: randomUUID() });
      await store.tasks.advance({ ...base, next: { kind: 'queue', dueAt: 1 }, opToken: randomUUID() });
      const leaseToken = randomUUID();
      await store.tasks.claim({ runId, taskId, attempt: 1, leaseToken, leaseExpiresAt: Date.now() + 60_000, opToken: randomUUID() });
      await store.tasks.saveCheckpoint({ runId, taskId, attempt: 1, leaseToken, checkpoint: 'c'.repeat(LIMITS.maxCheckpointBytes - 2) });
      return store.tasks.finish({ runId, taskId, attempt: 1, fence: { kind: 'lease', leaseToken }, record: { ...record(KEPT_ATTEMPTS, 'FAILED'), error: longError }, keptAttempts: attempts, opToken: randomUUID(), result });
    };
    const maximalError = { name: 'E'.repeat(256), message: 'm'.repeat(MAX_ERROR_MESSAGE_BYTES), retryable: false, details: { blob: 'd'.repeat(MAX_ERROR_DETAILS_BYTES - 20) } };
    expect(await atItsLimits('failing', { status: 'FAILED', error: maximalError })).toEqual({ outcome: 'ok' });
    expect(await atItsLimits('succeeding', { status: 'SUCCEEDED', output: 'o'.repeat(LIMITS.maxOutputBytes - 2) })).toEqual({ outcome: 'ok' });
    expect((await store.tasks.getTask(runId, 'succeeding'))?.status).toBe('SUCCEEDED');
    // And an output over its limit is refused before it is sent.
    await expect(
      store.tasks.finish({ runId, taskId: 'failing', attempt: 1, fence: { kind: 'lease', leaseToken: 'x' }, record: record(1), keptAttempts: [], opToken: randomUUID(), result: { status: 'SUCCEEDED', output: 'o'.repeat(LIMITS.maxOutputBytes) } }),
    ).rejects.toThrow(PayloadTooLargeError);
  });
});

describe('the due index', () => {
  it('finds a queued task at its due time, keeps it when claimed and finished, and leaves it out after the mark', async () => {
    const definition = await register(wide('due', 2));
    const runId = await startRun(definition);
    const dueAt = Date.now() + 5_000;
    await queue(runId, definition, 't0', dueAt);
    const dueRefs = async (until: number, after?: number) => {
      const refs = [];
      for (const partition of store.due.partitions()) {
        for await (const page of store.due.due(partition, until, after)) refs.push(...page.filter((ref) => ref.runId === runId));
      }
      return refs;
    };
    expect(await dueRefs(dueAt - 1)).toEqual([]);
    expect(await dueRefs(dueAt)).toEqual([{ kind: 'task', runId, taskId: 't0', dueAt }]);
    const leaseToken = randomUUID();
    await store.tasks.claim({ runId, taskId: 't0', attempt: 1, leaseToken, leaseExpiresAt: Date.now() + 60_000, opToken: randomUUID() });
    expect(await dueRefs(dueAt)).toHaveLength(1);
    expect(await store.tasks.extendLease({ runId, taskId: 't0', attempt: 1, leaseToken: 'other', leaseExpiresAt: 0 })).toMatchObject({ outcome: 'stale' });
    await store.tasks.finish({ runId, taskId: 't0', attempt: 1, fence: { kind: 'lease', leaseToken }, record: record(1), keptAttempts: [], opToken: randomUUID(), result: { status: 'SUCCEEDED', output: 1 } });
    // A finished task keeps its entry (its removal would be one more index write): the mark passes it.
    expect(await dueRefs(dueAt)).toEqual([{ kind: 'task', runId, taskId: 't0', dueAt }]);
    expect(await dueRefs(dueAt, dueAt - 1)).toEqual([{ kind: 'task', runId, taskId: 't0', dueAt }]);
    expect(await dueRefs(dueAt + 1_000, dueAt)).toEqual([]);
  });

  it('keeps the sweeper marks by partition, each moved on and never back', async () => {
    const [first = '', second = ''] = store.due.partitions();
    const marks = await store.due.readMarks();
    const mark = Math.max(marks[first] ?? 0, marks[second] ?? 0);
    await store.due.saveMark(first, mark + 2_000);
    await store.due.saveMark(first, mark + 1_000);
    await store.due.saveMark(second, mark + 500);
    expect(await store.due.readMarks()).toMatchObject({ [first]: mark + 2_000, [second]: mark + 500 });
  });
});

describe('runs', () => {
  it('marks a completion group done once, counting its failures once', async () => {
    const definition = await register(wide('groups', 2));
    const runId = await startRun(definition);
    const first = await store.runs.markGroupDone({ runId, phase: 0, group: '0', failed: ['t0'] });
    const again = await store.runs.markGroupDone({ runId, phase: 0, group: '0', failed: ['t0'] });
    expect(first).toMatchObject({ doneGroups: ['0'], failedCount: 1, failedTasks: ['t0'] });
    expect(again).toMatchObject({ doneGroups: ['0'], failedCount: 1, failedTasks: ['t0'] });
    expect(await store.runs.markGroupDone({ runId, phase: 1, group: '0', failed: [] })).toBeUndefined();
  });

  it('ends a run of one group in the write that marks the group done, only when RUNNING with nothing failed', async () => {
    const definition = await register(wide('only_group', 2));
    const completed = await startRun(definition);
    expect(await store.runs.completeWithOnlyGroup({ runId: completed, phase: 1, group: '0' })).toBeUndefined();
    expect(await store.runs.completeWithOnlyGroup({ runId: completed, phase: 0, group: '0' })).toMatchObject({ status: 'COMPLETED', doneGroups: ['0'], completedAt: expect.any(String) });
    expect(await store.runs.completeWithOnlyGroup({ runId: completed, phase: 0, group: '0' })).toBeUndefined();
    expect(await store.runs.getRun(completed)).toMatchObject({ status: 'COMPLETED', doneGroups: ['0'] });

    const cancelling = await startRun(definition);
    await store.runs.requestCancel({ runId: cancelling, reason: 'x', outcome: 'CANCELLED' });
    expect(await store.runs.completeWithOnlyGroup({ runId: cancelling, phase: 0, group: '0' })).toBeUndefined();
    expect(await store.runs.getRun(cancelling)).toMatchObject({ status: 'CANCELLING', doneGroups: [] });
  });

  it('lists runs newest first, filters by status in any phase, and pages with a token', async () => {
    const definition = await register(wide('listed', 2));
    const runIds: string[] = [];
    for (let i = 0; i < 5; i++) {
      runIds.push(await startRun(definition));
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await store.runs.requestCancel({ runId: runIds[0] ?? '', reason: 'x', outcome: 'CANCELLED' });
    const first = await store.runs.listRuns({ workflowId: 'listed', limit: 3 });
    expect(first.runs.map((run) => run.runId)).toEqual([...runIds].reverse().slice(0, 3));
    const rest = await store.runs.listRuns({ workflowId: 'listed', limit: 3, ...(first.nextToken === undefined ? {} : { nextToken: first.nextToken }) });
    expect(rest.runs.map((run) => run.runId)).toEqual([...runIds].reverse().slice(3));
    expect((await store.runs.listRuns({ workflowId: 'listed', status: 'CANCELLING' })).runs.map((run) => run.runId)).toEqual([runIds[0]]);
    await expect(store.runs.listRuns({ workflowId: 'listed', nextToken: 'garbage' })).rejects.toThrow(ValidationError);
  });
});

describe('runs of every workflow (the runsByTime index)', () => {
  const DAY_MS = 86_400_000;
  const today = Date.parse('2026-03-10T12:00:00.000Z');
  let clock = today;
  let timed: TestTable;

  beforeAll(async () => {
    timed = await createTestTable({ now: () => new Date(clock) });
  });

  afterAll(async () => {
    await timed.drop();
  });

  /** A run of `workflowId` created at `at` (ms). */
  async function runAt(definition: StoredDefinition, at: number): Promise<string> {
    clock = at;
    const { runId } = await timed.store.runs.createRun({ runId: randomUUID(), definition, input: {}, dueAt: at + 60_000, groupCount: 1 });
    return runId;
  }

  async function everyPage(query: { status?: 'CANCELLING'; limit: number }): Promise<{ runIds: string[]; pages: number }> {
    const runIds: string[] = [];
    let pages = 0;
    let nextToken: string | undefined;
    do {
      const page = await timed.store.runs.listRuns({ ...query, ...(nextToken === undefined ? {} : { nextToken }) });
      runIds.push(...page.runs.map((run) => run.runId));
      nextToken = page.nextToken;
      pages++;
    } while (nextToken !== undefined);
    return { runIds, pages };
  }

  it('lists the runs of several workflows newest first across days and shards, each once in pages, and filters by status', async () => {
    const definitions: StoredDefinition[] = [];
    for (const id of ['timed_a', 'timed_b', 'timed_c']) {
      const definition = assertDefinition(wide(id, 2));
      const { version } = await timed.store.definitions.saveDefinition(definition);
      const stored = await timed.store.definitions.getDefinition(id, version);
      if (stored === undefined) throw new Error('definition was not saved');
      definitions.push(stored);
    }
    // 9 days ago (beyond the 7-day lookback), then 5 and 2 days ago and today: 12 runs a day,
    // the workflows taking turns, so every day has runs of each in several shards.
    const created: Array<{ runId: string; at: number }> = [];
    for (const daysAgo of [9, 5, 2, 0]) {
      for (let i = 0; i < 12; i++) {
        const at = today - daysAgo * DAY_MS - (12 - i) * 60_000;
        created.push({ runId: await runAt(definitions[i % 3] as StoredDefinition, at), at });
      }
    }
    clock = today;
    const expected = created
      .filter(({ at }) => at >= today - 7 * DAY_MS)
      .sort((a, b) => b.at - a.at)
      .map(({ runId }) => runId);

    const first = await timed.store.runs.listRuns({ limit: 5 });
    expect(first.runs.map((run) => run.runId)).toEqual(expected.slice(0, 5));
    expect(new Set(first.runs.map((run) => run.workflowId))).toEqual(new Set(['timed_a', 'timed_b', 'timed_c']));
    expect(first.runs[0]).toEqual({
      runId: expected[0],
      workflowId: expect.any(String),
      version: expect.any(String),
      status: 'RUNNING',
      createdAt: new Date(today - 60_000).toISOString(),
      taskCount: 2,
    });
    // Pages of 5 and of 7 cut the days at different places: no gap, no repeat either way.
    expect(await everyPage({ limit: 5 })).toEqual({ runIds: expected, pages: Math.ceil(expected.length / 5) });
    expect((await everyPage({ limit: 7 })).runIds).toEqual(expected);
    expect((await everyPage({ limit: 100 })).runIds).toEqual(expected);

    // The status filter reads on past pages it leaves short: one cancelled run a day.
    const cancelled = [expected[2], expected[15], expected[30]].filter((runId): runId is string => runId !== undefined);
    for (const runId of cancelled) await timed.store.runs.requestCancel({ runId, reason: 'x', outcome: 'CANCELLED' });
    expect((await everyPage({ status: 'CANCELLING', limit: 2 })).runIds).toEqual(cancelled);
    expect((await timed.store.runs.listRuns({ status: 'CANCELLING', limit: 1 })).runs.map((run) => run.status)).toEqual(['CANCELLING']);

    // Three days later the lookback starts on 2026-03-06: the runs of 2026-03-05 are no longer listed.
    clock = today + 3 * DAY_MS;
    const stillListed = new Set(created.filter(({ at }) => at >= Date.parse('2026-03-06T00:00:00.000Z')).map(({ runId }) => runId));
    expect((await everyPage({ limit: 100 })).runIds).toEqual(expected.filter((runId) => stillListed.has(runId)));

    await expect(timed.store.runs.listRuns({ nextToken: 'garbage' })).rejects.toThrow(ValidationError);
    // A per-workflow token is not one of this listing, nor the other way round.
    const perWorkflow = await timed.store.runs.listRuns({ workflowId: 'timed_a', limit: 1 });
    await expect(timed.store.runs.listRuns({ nextToken: perWorkflow.nextToken ?? '' })).rejects.toThrow(ValidationError);
    clock = today;
    const across = await timed.store.runs.listRuns({ limit: 1 });
    await expect(timed.store.runs.listRuns({ workflowId: 'timed_a', nextToken: across.nextToken ?? '' })).rejects.toThrow(ValidationError);
  });
});
