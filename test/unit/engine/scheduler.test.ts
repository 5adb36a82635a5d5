// The Scheduler on the in-memory ports, fed the changes a stream would show (the double's
// drainChanges(), or StoreChange values built here): the safety net behind the workers.
import { describe, expect, it } from 'vitest';
import type { WorkflowDefinitionInput } from '../../../shared/model/definition.js';
import type { AttemptResult } from '../../../shared/engine/ports.js';
import type { StoredDefinition } from '../../../shared/engine/records.js';
import type { StoreChange } from '../../../shared/engine/scheduler.js';
import { Engine } from '../support/engine.js';

const chain: WorkflowDefinitionInput = {
  id: 'chain',
  tasks: [
    { id: 'a', type: 'pass' },
    { id: 'b', type: 'pass', dependsOn: ['a'] },
  ],
};

async function started(input: WorkflowDefinitionInput = chain, runId = 'run-1'): Promise<{ engine: Engine; definition: StoredDefinition; runId: string }> {
  const engine = new Engine();
  const definition = await engine.define(input);
  await engine.start(definition, {}, runId);
  return { engine, definition, runId };
}

/** An attempt claimed and committed, and nothing after: its worker died before its dispatch. */
async function committedOnly(engine: Engine, runId: string, taskId: string, result: AttemptResult = { status: 'SUCCEEDED', output: { from: taskId } }): Promise<void> {
  const task = engine.store.task(runId, taskId);
  const attempt = task?.attempt ?? 1;
  const claim = await engine.store.tasks.claim({ runId, taskId, attempt, leaseToken: `lease-${taskId}`, leaseExpiresAt: engine.clock.ms + 60_000, opToken: `claim-${taskId}` });
  expect(claim.outcome).toBe('claimed');
  const at = engine.clock.now().toISOString();
  const finished = await engine.store.tasks.finish({
    runId,
    taskId,
    attempt,
    fence: { kind: 'lease', leaseToken: `lease-${taskId}` },
    record: { attempt, phase: task?.phase ?? 0, startedAt: at, completedAt: at, durationMs: 0, outcome: result.status },
    keptAttempts: [],
    opToken: `commit-${taskId}`,
    result,
  });
  expect(finished.outcome).toBe('ok');
}

/** Forgets what was called and sent so far: the assertions are about what follows. */
function mark(engine: Engine): void {
  engine.store.calls.length = 0;
  engine.queue.take();
}

describe('Scheduler', () => {
  it('changes nothing for a finished task whose dependents the batch shows queued already (no write)', async () => {
    const { engine, runId } = await started();
    // A worker did everything: committed a, queued b, counted a.
    await engine.worker({}, { chain: false }).process(engine.messageFor('a'));
    const batch = engine.store.drainChanges().filter((change) => change.kind !== 'run');
    expect(batch.map((change) => change.kind)).toEqual(['task', 'task', 'task', 'task', 'done']);
    mark(engine);
    expect(await engine.scheduler().handleBatch(batch)).toEqual({ failed: [], errors: [] });
    expect(engine.store.writes()).toEqual([]);
    expect(engine.store.calls.map((call) => call.operation)).not.toContain('tasks.readProgress');
    expect(engine.queue.sent).toEqual([]);
    expect(engine.store.task(runId, 'b')).toMatchObject({ status: 'QUEUED', attempt: 1 });
  });

  it('queues the dependents a worker did not get to, sends their messages and counts the task', async () => {
    const { engine, runId } = await started();
    engine.store.drainChanges();
    await committedOnly(engine, runId, 'a');
    mark(engine);
    expect((await engine.scheduler().handleBatch(engine.store.drainChanges())).failed).toEqual([]);
    expect(engine.store.task(runId, 'b')).toMatchObject({ status: 'QUEUED', attempt: 1, dependencies: { succeeded: ['a'] } });
    expect(engine.queue.messages()).toEqual([expect.objectContaining({ runId, taskId: 'b', attempt: 1 })]);
    expect(engine.store.doneGroup(runId, 0, '0')?.finished).toEqual(['a']);
  });

  it('reads what the batch does not show before it writes: a dependent queued already is left alone', async () => {
    const { engine, runId } = await started();
    await engine.worker({}, { chain: false }).process(engine.messageFor('a'));
    // Only a's own records reach the scheduler (b's and the count are in another batch).
    const batch = engine.store.drainChanges().filter((change) => change.kind === 'task' && change.new?.taskId === 'a');
    mark(engine);
    await engine.scheduler().handleBatch(batch);
    expect(engine.store.calls.map((call) => call.operation)).toContain('tasks.readProgress');
    expect(engine.store.writes()).toEqual([]);
    expect(engine.queue.sent).toEqual([]);
    expect(engine.store.task(runId, 'b')).toMatchObject({ status: 'QUEUED', attempt: 1 });
  });

  it('sends again, on a replay of the same records, the message a failed send lost (its own change is recognized)', async () => {
    const { engine, runId } = await started();
    engine.store.drainChanges();
    await committedOnly(engine, runId, 'a');
    const batch = engine.store.drainChanges();
    const scheduler = engine.scheduler();
    engine.queue.fail(1);
    const first = await scheduler.handleBatch(batch);
    expect(first.failed).toEqual(batch.map((change) => change.key));
    expect(engine.store.task(runId, 'b')).toMatchObject({ status: 'QUEUED', attempt: 1 });
    expect(engine.queue.messages().filter((message) => message.taskId === 'b')).toEqual([]);

    const replay = await scheduler.handleBatch(batch);
    expect(replay.failed).toEqual([]);
    expect(engine.queue.messages().filter((message) => message.taskId === 'b')).toEqual([expect.objectContaining({ taskId: 'b', attempt: 1 })]);
    expect(engine.store.task(runId, 'b')).toMatchObject({ status: 'QUEUED', attempt: 1 });
  });

  it('changes nothing for a record of an earlier phase (after a resume)', async () => {
    const { engine, runId } = await started({ id: 'chain', tasks: [{ id: 'a', handler: 'broken' }, { id: 'b', type: 'pass', dependsOn: ['a'] }] });
    await engine.worker({}).process(engine.messageFor('a'));
    await engine.settle();
    expect(engine.store.run(runId)?.status).toBe('FAILED');
    const failedInPhase0 = engine.store.task(runId, 'a');
    await engine.runControl().resume(runId);
    await engine.settle();
    const run = engine.store.run(runId);
    const tasks = engine.store.tasksOf(runId);
    expect(run).toMatchObject({ status: 'RUNNING', phase: 1 });
    mark(engine);

    const stale: StoreChange = { kind: 'task', key: 'old-record', old: { ...failedInPhase0!, status: 'RUNNING' }, new: failedInPhase0 };
    expect(await engine.scheduler().handleBatch([stale])).toEqual({ failed: [], errors: [] });
    expect(engine.store.run(runId)).toEqual(run);
    expect(engine.store.tasksOf(runId)).toEqual(tasks);
    expect(engine.queue.sent).toEqual([]);
  });

  it('queues the roots of a created run if the API did not, and counts the run started', async () => {
    const engine = new Engine();
    const definition = await engine.define({ id: 'roots', tasks: [{ id: 'a', type: 'pass' }, { id: 'b', type: 'pass' }, { id: 'c', type: 'pass', dependsOn: ['a', 'b'] }] });
    // The API wrote the run and died before queueing its roots.
    await engine.store.runs.createRun({ runId: 'run-1', definition, input: {}, dueAt: engine.clock.ms + 60_000, groupCount: 1 });
    const created = engine.store.drainChanges();
    expect(created).toEqual([expect.objectContaining({ kind: 'run', old: undefined })]);
    await engine.scheduler().handleBatch(created);
    expect(engine.store.task('run-1', 'a')).toMatchObject({ status: 'QUEUED', attempt: 1 });
    expect(engine.store.task('run-1', 'b')).toMatchObject({ status: 'QUEUED', attempt: 1 });
    expect(engine.store.task('run-1', 'c')).toBeUndefined();
    expect(engine.queue.messages().map((message) => message.taskId).sort()).toEqual(['a', 'b']);
    expect(engine.metricNames()).toContain('RunStarted');
  });

  it('sends nothing more for a created run whose roots the API queued already', async () => {
    const { engine, runId } = await started();
    const created = engine.store.drainChanges().filter((change) => change.kind === 'run');
    mark(engine);
    await engine.scheduler().handleBatch(created);
    expect(engine.queue.sent).toEqual([]);
    expect(engine.store.task(runId, 'a')).toMatchObject({ status: 'QUEUED', attempt: 1 });
  });

  it('cancels the tasks of a CANCELLING run that have not started, and asks the running ones to stop', async () => {
    const { engine, runId } = await started({
      id: 'cancel',
      tasks: [
        { id: 'running', type: 'pass' },
        { id: 'queued', type: 'pass' },
        { id: 'later', type: 'pass', dependsOn: ['running'] },
      ],
    });
    await engine.store.tasks.claim({ runId, taskId: 'running', attempt: 1, leaseToken: 'lease', leaseExpiresAt: engine.clock.ms + 60_000, opToken: 'claim' });
    engine.store.drainChanges();
    await engine.store.runs.requestCancel({ runId, reason: 'no longer needed', outcome: 'CANCELLED' });
    await engine.scheduler().handleBatch(engine.store.drainChanges());
    expect(engine.store.task(runId, 'running')).toMatchObject({ status: 'RUNNING', cancelRequested: true });
    expect(await engine.store.tasks.isStopRequested(runId, 'running')).toBe(true);
    expect(engine.store.task(runId, 'queued')).toMatchObject({ status: 'CANCELLED', reason: 'no longer needed' });
    expect(engine.store.task(runId, 'later')).toMatchObject({ status: 'CANCELLED', reason: 'no longer needed', phase: 0, attempt: 0 });
  });

  it('ends a CANCELLING run CANCELLED once its tasks are final', async () => {
    const { engine, runId } = await started({ id: 'cancel', tasks: [{ id: 'a', type: 'pass' }, { id: 'b', type: 'pass', dependsOn: ['a'] }] });
    await engine.store.runs.requestCancel({ runId, reason: 'stop', outcome: 'CANCELLED' });
    await engine.settle();
    expect(engine.store.run(runId)).toMatchObject({ status: 'CANCELLED', cancel: { reason: 'stop' } });
    expect(engine.store.tasksOf(runId).map((task) => task.status)).toEqual(['CANCELLED', 'CANCELLED']);
  });

  it('marks a complete completion group done and ends the run, when the worker that counted it died first', async () => {
    const { engine, runId } = await started({ id: 'one', tasks: [{ id: 'a', type: 'pass' }] });
    engine.store.fail('runs.completeWithOnlyGroup', { times: 1, error: () => new Error('the worker died') });
    await expect(engine.worker().process(engine.messageFor('a'))).rejects.toThrow('the worker died');
    expect(engine.store.doneGroup(runId, 0, '0')?.finished).toEqual(['a']);
    expect(engine.store.run(runId)?.status).toBe('RUNNING');
    await engine.settle();
    expect(engine.store.run(runId)).toMatchObject({ status: 'COMPLETED', doneGroups: ['0'] });
  });

  it("reports the keys of a failing run's records only, and handles the other runs", async () => {
    const engine = new Engine();
    const definition = await engine.define(chain);
    await engine.start(definition, {}, 'broken');
    await engine.start(definition, {}, 'healthy');
    engine.store.drainChanges();
    await committedOnly(engine, 'broken', 'a');
    await committedOnly(engine, 'healthy', 'a');
    const batch = engine.store.drainChanges();
    engine.store.fail('tasks.advance', { when: (params: { runId: string }) => params.runId === 'broken' });
    const { failed, errors } = await engine.scheduler().handleBatch(batch);
    const keysOf = (runId: string) => batch.filter((change) => change.kind === 'task' && change.new?.runId === runId).map((change) => change.key);
    expect(failed.sort()).toEqual(keysOf('broken').sort());
    expect(errors).toHaveLength(1);
    expect(engine.store.task('healthy', 'b')).toMatchObject({ status: 'QUEUED' });
    expect(engine.store.task('broken', 'b')).toBeUndefined();
    expect(engine.queue.messages().filter((message) => message.taskId === 'b').map((message) => message.runId)).toEqual(['healthy']);
  });
});

describe('a wide fan-out', () => {
  const wide: WorkflowDefinitionInput = {
    id: 'wide',
    tasks: [{ id: 'root', type: 'pass' }, ...Array.from({ length: 40 }, (_, i) => ({ id: `t${i}`, type: 'pass' as const, dependsOn: ['root'] }))],
  };

  it('is moved on by the worker for its first dependents and by the scheduler for the rest, each task once', async () => {
    const { engine, runId } = await started(wide, 'wide-run');
    await engine.worker({}, { chain: false }).process(engine.messageFor('root'));
    const byWorker = engine.queue.messages().filter((message) => message.taskId !== 'root').map((message) => message.taskId);
    expect(byWorker).toEqual(Array.from({ length: 16 }, (_, i) => `t${i}`));
    expect(engine.store.task(runId, 't16')).toBeUndefined();

    const batch = engine.store.drainChanges();
    mark(engine);
    expect(await engine.scheduler().handleBatch(batch)).toEqual({ failed: [], errors: [] });
    // The scheduler writes only the dependents the worker left, and every write moves its task on.
    const advanced = engine.store.writes().filter((call) => call.operation === 'tasks.advance').map((call) => (call.params as { taskId: string }).taskId);
    expect(advanced).toEqual(Array.from({ length: 24 }, (_, i) => `t${i + 16}`));
    for (let i = 0; i < 40; i++) expect(engine.store.task(runId, `t${i}`)).toMatchObject({ status: 'QUEUED', attempt: 1 });
    const sent = engine.queue.messages();
    expect(sent.map((message) => message.taskId)).toEqual(advanced);
    // Its messages carry the scope (the run's input, root's output): their workers read nothing first.
    for (const message of sent) expect(message.scopeJson).toBeDefined();
  });

  it('of a new run: the roots the API queued are read, not written again', async () => {
    const roots: WorkflowDefinitionInput = { id: 'roots', tasks: Array.from({ length: 20 }, (_, i) => ({ id: `r${i}`, type: 'pass' as const })) };
    const { engine, runId } = await started(roots, 'roots-run');
    expect(engine.queue.messages().map((message) => message.taskId)).toEqual(Array.from({ length: 16 }, (_, i) => `r${i}`));
    const batch = engine.store.drainChanges();
    mark(engine);
    await engine.scheduler().handleBatch(batch);
    const advanced = engine.store.writes().filter((call) => call.operation === 'tasks.advance').map((call) => (call.params as { taskId: string }).taskId);
    expect(advanced).toEqual(['r16', 'r17', 'r18', 'r19']);
    for (let i = 0; i < 20; i++) expect(engine.store.task(runId, `r${i}`)).toMatchObject({ status: 'QUEUED' });
  });
});
