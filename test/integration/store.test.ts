import { randomUUID } from 'node:crypto';
import { BatchWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertDefinition, type WorkflowDefinitionInput } from '../../shared/model/definition.js';
import { ConflictError, PayloadTooLargeError, ValidationError } from '../../shared/model/errors.js';
import { DynamoStore, type StoredDefinition } from '../../shared/aws/dynamo/store.js';
import { createTestTable, type TestTable } from './support.js';

const orderProcessing: WorkflowDefinitionInput = {
  id: 'order_processing',
  tasks: [
    { id: 'validate_payment', handler: 'check_payment' },
    { id: 'reserve_inventory', handler: 'reserve_items' },
    { id: 'charge_payment', handler: 'run_charge', dependsOn: ['validate_payment'], compensate: 'refund_charge' },
    { id: 'ship_order', handler: 'create_shipment', dependsOn: ['reserve_inventory', 'charge_payment'] },
    { id: 'send_confirmation', handler: 'notify_customer', dependsOn: ['ship_order'] },
  ],
};

/** A fan-out workflow: one root and `width` tasks depending on it. */
function wideWorkflow(id: string, width: number): WorkflowDefinitionInput {
  return {
    id,
    tasks: [
      { id: 'root', type: 'pass' },
      ...Array.from({ length: width - 1 }, (_, i) => ({ id: `t${i}`, type: 'pass' as const, dependsOn: ['root'] })),
    ],
  };
}

let table: TestTable;
let store: DynamoStore;

beforeAll(async () => {
  table = await createTestTable();
  store = table.store;
});

afterAll(async () => {
  await table.drop();
});

async function register(input: WorkflowDefinitionInput): Promise<StoredDefinition> {
  const definition = assertDefinition(input);
  const { version } = await store.saveDefinition(definition);
  const stored = await store.getDefinition(definition.id, version);
  if (stored === undefined) throw new Error('definition was not saved');
  return stored;
}

async function startRun(definition: StoredDefinition, input: unknown = {}): Promise<string> {
  const { runId } = await store.createRun({ runId: randomUUID(), definition, input });
  return runId;
}

/** Moves a fresh task to QUEUED for attempt 1, as the scheduler would. */
async function queueFirstAttempt(runId: string, taskId: string): Promise<void> {
  const queued = await store.queueTask({
    runId,
    taskId,
    expected: { status: 'PENDING', attempt: 0 },
    attempt: 1,
    deliveryTimeoutSeconds: 300,
  });
  expect(queued.outcome).toBe('queued');
}

describe('saveDefinition', () => {
  it('gives the same content the same version, and a change a new one that becomes the latest', async () => {
    const id = `wf_${randomUUID().slice(0, 8)}`;
    const first = await store.saveDefinition(assertDefinition({ ...orderProcessing, id }));
    const again = await store.saveDefinition(assertDefinition({ ...orderProcessing, id }));
    expect(first.created).toBe(true);
    expect(again).toEqual({ version: first.version, created: false });

    const changed = await store.saveDefinition(
      assertDefinition({ ...orderProcessing, id, tasks: [...orderProcessing.tasks, { id: 'audit', type: 'pass' }] }),
    );
    expect(changed.created).toBe(true);
    expect(changed.version).not.toBe(first.version);
    expect((await store.getWorkflow(id))?.latestVersion).toBe(changed.version);
    expect((await store.listVersions(id)).map((v) => v.version).sort()).toEqual([first.version, changed.version].sort());
    expect((await store.getDefinition(id, first.version))?.definition.tasks).toHaveLength(5);
    expect((await store.listWorkflows()).map((w) => w.workflowId)).toContain(id);
  });
});

describe('createRun and readRun', () => {
  it('creates a run with all its task runs PENDING and reads it back', async () => {
    const definition = await register(orderProcessing);
    const runId = await startRun(definition, { orderId: 'o-1' });
    const read = await store.readRun(runId);
    expect(read?.run).toMatchObject({
      runId,
      workflowId: 'order_processing',
      version: definition.version,
      status: 'RUNNING',
      input: { orderId: 'o-1' },
      taskCount: 5,
      finishedCount: 0,
    });
    expect(read?.tasks.map((t) => [t.taskId, t.status, t.attempt]).sort()).toEqual(
      definition.definition.tasks.map((t) => [t.id, 'PENDING', 0]).sort(),
    );
  });

  it('creates a 2,000-task run and reads it back whole', async () => {
    const definition = await register(wideWorkflow(`wide_${randomUUID().slice(0, 8)}`, 2_000));
    const runId = await startRun(definition);
    const read = await store.readRun(runId);
    expect(read?.run.status).toBe('RUNNING');
    expect(read?.run.taskCount).toBe(2_000);
    expect(read?.tasks).toHaveLength(2_000);
    expect(new Set(read?.tasks.map((t) => t.taskId))).toEqual(new Set(definition.definition.tasks.map((t) => t.id)));
    expect(read?.tasks.every((t) => t.status === 'PENDING')).toBe(true);
    const listed = await store.listRuns({ workflowId: definition.workflowId });
    expect(listed.runs.map((r) => r.runId)).toEqual([runId]);
  });

  it('refuses an input over the limit and writes nothing', async () => {
    const definition = await register(orderProcessing);
    const runId = randomUUID();
    await expect(
      store.createRun({ runId, definition, input: { blob: 'x'.repeat(300 * 1024) } }),
    ).rejects.toBeInstanceOf(PayloadTooLargeError);
    expect(await store.readRun(runId)).toBeUndefined();
  });
});

describe('createRun with an idempotency key', () => {
  it('yields one run when the same key is used twice', async () => {
    const definition = await register(orderProcessing);
    const idempotency = { key: `key-${randomUUID()}`, requestFingerprint: 'request-a' };
    const first = await store.createRun({ runId: randomUUID(), definition, input: {}, idempotency });
    const second = await store.createRun({ runId: randomUUID(), definition, input: {}, idempotency });
    expect(first.created).toBe(true);
    expect(second).toEqual({ runId: first.runId, created: false });
    const listed = await store.listRuns({ workflowId: definition.workflowId, limit: 1000 });
    expect(listed.runs.filter((r) => r.runId === second.runId)).toHaveLength(1);
  });

  it('yields one run when 20 requests with the same key race', async () => {
    const definition = await register({ ...orderProcessing, id: `race_${randomUUID().slice(0, 8)}` });
    const idempotency = { key: `key-${randomUUID()}`, requestFingerprint: 'request-a' };
    const results = await Promise.all(
      Array.from({ length: 20 }, () => store.createRun({ runId: randomUUID(), definition, input: {}, idempotency })),
    );
    expect(new Set(results.map((r) => r.runId)).size).toBe(1);
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect((await store.listRuns({ workflowId: definition.workflowId })).runs).toHaveLength(1);
  });

  it('refuses the same key for a different request', async () => {
    const definition = await register(orderProcessing);
    const key = `key-${randomUUID()}`;
    await store.createRun({ runId: randomUUID(), definition, input: {}, idempotency: { key, requestFingerprint: 'a' } });
    await expect(
      store.createRun({ runId: randomUUID(), definition, input: {}, idempotency: { key, requestFingerprint: 'b' } }),
    ).rejects.toBeInstanceOf(ConflictError);
  });

  it('yields one run for a large (staged) run created twice with the same key', async () => {
    const definition = await register(wideWorkflow(`wide_${randomUUID().slice(0, 8)}`, 300));
    const idempotency = { key: `key-${randomUUID()}`, requestFingerprint: 'request-a' };
    const [a, b] = await Promise.all([
      store.createRun({ runId: randomUUID(), definition, input: {}, idempotency }),
      store.createRun({ runId: randomUUID(), definition, input: {}, idempotency }),
    ]);
    expect(a?.runId).toBe(b?.runId);
    expect([a?.created, b?.created].filter(Boolean)).toHaveLength(1);
    const read = await store.readRun(a?.runId ?? '');
    expect(read?.tasks).toHaveLength(300);
  });

  it('never shows a half-created large run, and a retry after the creation lease finishes it', async () => {
    const definition = await register(wideWorkflow(`wide_${randomUUID().slice(0, 8)}`, 500));
    let clock = Date.now();
    let batchWrites = 0;
    const crashing = new DynamoStore({
      client: failAfterBatchWrites(table.client, 5, () => batchWrites++),
      tableName: table.tableName,
      now: () => new Date(clock),
    });
    const idempotency = { key: `key-${randomUUID()}`, requestFingerprint: 'request-a' };
    await expect(crashing.createRun({ runId: randomUUID(), definition, input: {}, idempotency })).rejects.toThrow(
      'simulated crash',
    );
    expect(batchWrites).toBeGreaterThan(5);

    const retrying = new DynamoStore({ client: table.client, tableName: table.tableName, now: () => new Date(clock) });
    // While the first creator's lease holds, a retry returns the run id but does not write.
    const early = await retrying.createRun({ runId: randomUUID(), definition, input: {}, idempotency });
    expect(early.created).toBe(false);
    expect(await retrying.readRun(early.runId)).toBeUndefined();
    expect(await retrying.getRun(early.runId)).toBeUndefined();
    expect((await retrying.listRuns({ workflowId: definition.workflowId })).runs).toEqual([]);

    clock += 3 * 60_000;
    const late = await retrying.createRun({ runId: randomUUID(), definition, input: {}, idempotency });
    expect(late).toEqual({ runId: early.runId, created: false });
    const read = await retrying.readRun(late.runId);
    expect(read?.run.status).toBe('RUNNING');
    expect(read?.tasks).toHaveLength(500);
    expect((await retrying.listRuns({ workflowId: definition.workflowId })).runs.map((r) => r.runId)).toEqual([late.runId]);
  });
});

describe('claimTask', () => {
  it('lets exactly one of 50 concurrent claims of the same attempt win', async () => {
    const runId = await startRun(await register(orderProcessing));
    await queueFirstAttempt(runId, 'validate_payment');
    const outcomes = await Promise.all(
      Array.from({ length: 50 }, () =>
        store.claimTask({ runId, taskId: 'validate_payment', attempt: 1, leaseSeconds: 60 }),
      ),
    );
    const winners = outcomes.filter((o) => o.outcome === 'claimed');
    expect(winners).toHaveLength(1);
    const stored = await store.getTask(runId, 'validate_payment');
    expect(stored?.status).toBe('RUNNING');
    expect(winners[0]?.outcome === 'claimed' && winners[0].task.leaseToken).toBe(stored?.leaseToken);
    for (const loser of outcomes.filter((o) => o.outcome === 'not-claimable')) {
      expect(loser.current?.status).toBe('RUNNING');
    }
  });

  it('refuses a claim for another attempt than the queued one', async () => {
    const runId = await startRun(await register(orderProcessing));
    await queueFirstAttempt(runId, 'reserve_inventory');
    const claim = await store.claimTask({ runId, taskId: 'reserve_inventory', attempt: 2, leaseSeconds: 60 });
    expect(claim.outcome).toBe('not-claimable');
    expect((await store.getTask(runId, 'reserve_inventory'))?.status).toBe('QUEUED');
  });
});

describe('commitTaskResult', () => {
  it('refuses a commit with a stale attempt or lease token and keeps the stored result', async () => {
    const runId = await startRun(await register(orderProcessing));
    await queueFirstAttempt(runId, 'validate_payment');
    const claim = await store.claimTask({ runId, taskId: 'validate_payment', attempt: 1, leaseSeconds: 60 });
    if (claim.outcome !== 'claimed' || claim.task.leaseToken === undefined || claim.task.startedAt === undefined) {
      throw new Error('claim failed');
    }
    const base = { runId, taskId: 'validate_payment', startedAt: claim.task.startedAt, critical: true };
    const wrongToken = await store.commitTaskResult({
      ...base,
      attempt: 1,
      leaseToken: randomUUID(),
      result: { status: 'SUCCEEDED', output: { from: 'zombie' } },
    });
    const wrongAttempt = await store.commitTaskResult({
      ...base,
      attempt: 2,
      leaseToken: claim.task.leaseToken,
      result: { status: 'SUCCEEDED', output: { from: 'zombie' } },
    });
    expect(wrongToken.outcome).toBe('stale');
    expect(wrongAttempt.outcome).toBe('stale');
    expect((await store.getTask(runId, 'validate_payment'))?.status).toBe('RUNNING');

    const real = await store.commitTaskResult({
      ...base,
      attempt: 1,
      leaseToken: claim.task.leaseToken,
      result: { status: 'SUCCEEDED', output: { approved: true } },
    });
    expect(real.outcome).toBe('ok');
    const replay = await store.commitTaskResult({
      ...base,
      attempt: 1,
      leaseToken: claim.task.leaseToken,
      result: { status: 'FAILED', error: { name: 'Late', message: 'late duplicate', retryable: false } },
    });
    expect(replay.outcome).toBe('stale');
    expect(replay.outcome === 'stale' && replay.current?.status).toBe('SUCCEEDED');

    const stored = await store.getTask(runId, 'validate_payment');
    expect(stored).toMatchObject({ status: 'SUCCEEDED', output: { approved: true }, attempt: 1 });
    expect(stored?.error).toBeUndefined();
    expect(stored?.leaseToken).toBeUndefined();
    const run = await store.getRun(runId);
    expect(run?.finishedCount).toBe(1);
    expect(run?.failedCriticalCount).toBe(0);
  });

  it('counts a failed critical task on its run', async () => {
    const runId = await startRun(await register(orderProcessing));
    await queueFirstAttempt(runId, 'reserve_inventory');
    const claim = await store.claimTask({ runId, taskId: 'reserve_inventory', attempt: 1, leaseSeconds: 60 });
    if (claim.outcome !== 'claimed') throw new Error('claim failed');
    const committed = await store.commitTaskResult({
      runId,
      taskId: 'reserve_inventory',
      attempt: 1,
      leaseToken: claim.task.leaseToken ?? '',
      startedAt: claim.task.startedAt ?? '',
      critical: true,
      result: { status: 'FAILED', error: { name: 'OutOfStock', message: 'none left', retryable: false } },
    });
    expect(committed.outcome).toBe('ok');
    expect(await store.getRun(runId)).toMatchObject({ finishedCount: 1, failedCriticalCount: 1 });
    expect(await store.getTask(runId, 'reserve_inventory')).toMatchObject({
      status: 'FAILED',
      error: { name: 'OutOfStock', message: 'none left', retryable: false },
    });
  });
});

describe('recordDependencyOutcome', () => {
  it('counts the same satisfied dependency once when recorded twice', async () => {
    const runId = await startRun(await register(orderProcessing));
    const record = { runId, taskId: 'ship_order', dependencyId: 'charge_payment', dependencyStatus: 'SUCCEEDED', generation: 0 } as const;
    await store.recordDependencyOutcome(record);
    const twice = await store.recordDependencyOutcome(record);
    expect(twice?.dependencies.succeeded).toEqual(['charge_payment']);
    const third = await store.recordDependencyOutcome({ ...record, dependencyId: 'reserve_inventory' });
    expect(third?.dependencies.succeeded).toEqual(['charge_payment', 'reserve_inventory']);
    expect(third?.dependencies.failed).toEqual([]);
    // A record of another phase of the run (a resumed run's earlier generation) changes nothing.
    expect(await store.recordDependencyOutcome({ ...record, dependencyId: 'late', generation: 1 })).toBeUndefined();
    expect((await store.getTask(runId, 'ship_order'))?.dependencies.succeeded).toEqual(['charge_payment', 'reserve_inventory']);
  });

  it('does not create a task that does not exist', async () => {
    const runId = await startRun(await register(orderProcessing));
    expect(
      await store.recordDependencyOutcome({ runId, taskId: 'nope', dependencyId: 'x', dependencyStatus: 'SUCCEEDED', generation: 0 }),
    ).toBeUndefined();
    expect(await store.getTask(runId, 'nope')).toBeUndefined();
  });
});

describe('queryDueTasks', () => {
  it('finds an expired lease through the sparse index, and forgets it once committed', async () => {
    const runId = await startRun(await register(orderProcessing));
    await queueFirstAttempt(runId, 'validate_payment');
    const claim = await store.claimTask({ runId, taskId: 'validate_payment', attempt: 1, leaseSeconds: 30 });
    if (claim.outcome !== 'claimed') throw new Error('claim failed');
    const dueNow = await store.queryDueTasks({ now: new Date(), limit: 1000 });
    expect(dueNow.some((d) => d.runId === runId)).toBe(false);

    const later = new Date(Date.now() + 31_000);
    const dueLater = await store.queryDueTasks({ now: later, limit: 1000 });
    expect(dueLater.find((d) => d.runId === runId)).toMatchObject({
      taskId: 'validate_payment',
      status: 'RUNNING',
      attempt: 1,
      leaseToken: claim.task.leaseToken,
    });

    await store.commitTaskResult({
      runId,
      taskId: 'validate_payment',
      attempt: 1,
      leaseToken: claim.task.leaseToken ?? '',
      startedAt: claim.task.startedAt ?? '',
      critical: true,
      result: { status: 'SUCCEEDED', output: null },
    });
    const afterCommit = await store.queryDueTasks({ now: later, limit: 1000 });
    expect(afterCommit.some((d) => d.runId === runId && d.taskId === 'validate_payment')).toBe(false);
  });

  it('extends a lease only for the holder of the token', async () => {
    const runId = await startRun(await register(orderProcessing));
    await queueFirstAttempt(runId, 'reserve_inventory');
    const claim = await store.claimTask({ runId, taskId: 'reserve_inventory', attempt: 1, leaseSeconds: 5 });
    if (claim.outcome !== 'claimed') throw new Error('claim failed');
    const base = { runId, taskId: 'reserve_inventory', attempt: 1, leaseSeconds: 600 };
    expect((await store.extendLease({ ...base, leaseToken: 'someone-else' })).outcome).toBe('stale');
    expect((await store.extendLease({ ...base, leaseToken: claim.task.leaseToken ?? '' })).outcome).toBe('ok');
    const extended = await store.getTask(runId, 'reserve_inventory');
    expect(extended?.expiresAt).toBeGreaterThan(Date.now() + 500_000);
  });
});

describe('listRuns', () => {
  it('lists newest first, filters by status and pages with a token', async () => {
    const definition = await register({ ...orderProcessing, id: `list_${randomUUID().slice(0, 8)}` });
    const created: string[] = [];
    for (let i = 0; i < 5; i++) {
      created.push(await startRun(definition));
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const first = await store.listRuns({ workflowId: definition.workflowId, limit: 2 });
    expect(first.runs.map((r) => r.runId)).toEqual([created[4], created[3]]);
    expect(first.nextToken).toBeDefined();
    const second = await store.listRuns({ workflowId: definition.workflowId, limit: 10, nextToken: first.nextToken ?? '' });
    expect(second.runs.map((r) => r.runId)).toEqual([created[2], created[1], created[0]]);
    expect((await store.listRuns({ workflowId: definition.workflowId, status: 'COMPLETED' })).runs).toEqual([]);
    expect((await store.listRuns({ workflowId: definition.workflowId, status: 'RUNNING' })).runs).toHaveLength(5);
    await expect(store.listRuns({ workflowId: definition.workflowId, nextToken: 'garbage' })).rejects.toBeInstanceOf(
      ValidationError,
    );
  });
});

/** The real client, except that BatchWrite calls after the first `okCalls` throw. */
function failAfterBatchWrites(client: DynamoDBDocumentClient, okCalls: number, onCall: () => number): DynamoDBDocumentClient {
  return new Proxy(client, {
    get(target, property, receiver) {
      if (property !== 'send') return Reflect.get(target, property, receiver) as unknown;
      return async (command: unknown) => {
        if (command instanceof BatchWriteCommand && onCall() >= okCalls) throw new Error('simulated crash');
        return target.send(command as Parameters<typeof target.send>[0]);
      };
    },
  });
}
