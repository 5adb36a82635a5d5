// The Dispatcher on the in-memory ports: what happens to a task's dependents when it finishes.
import { describe, expect, it } from 'vitest';
import { INLINE_JOIN_LIMIT } from '../../../shared/engine/join.js';
import { MAX_SCOPE_JSON } from '../../../shared/engine/messages.js';
import type { WorkflowDefinitionInput } from '../../../shared/model/definition.js';
import type { FinalTaskStatus } from '../../../shared/engine/records.js';
import { Engine } from '../support/engine.js';

const RUN = 'run-1';

async function setUp(input: WorkflowDefinitionInput, runInput: unknown = {}) {
  const engine = new Engine();
  const definition = await engine.define(input);
  await engine.store.runs.createRun({ runId: RUN, definition, input: runInput, dueAt: engine.clock.ms + 60_000, groupCount: 1 });
  const run = await engine.dispatchRun(definition, RUN);
  const dispatcher = engine.dispatcher();
  engine.store.calls.length = 0;
  let tokens = 0;
  const finish = (taskId: string, status: FinalTaskStatus = 'SUCCEEDED', options: Parameters<typeof dispatcher.afterFinish>[3] = { opTokenFor: () => `op${++tokens}` }) =>
    dispatcher.afterFinish(run, { taskId, status }, engine.scope(RUN), options);
  return { engine, definition, run, dispatcher, finish };
}

const fanIn = (width: number, trigger: 'all_success' | 'one_success' = 'all_success'): WorkflowDefinitionInput => {
  const deps = Array.from({ length: width }, (_, i) => `d${i}`);
  return { id: 'fan_in', tasks: [...deps.map((id) => ({ id, type: 'pass' as const })), { id: 'join', type: 'pass', dependsOn: deps, trigger }] };
};

describe('Dispatcher', () => {
  it('records a single dependency and queues its dependent in one change, and returns its message', async () => {
    const { engine, finish } = await setUp({ id: 'chain', tasks: [{ id: 'a', type: 'pass' }, { id: 'b', type: 'pass', dependsOn: ['a'] }] });
    const result = await finish('a');
    expect(engine.store.writes().map((write) => write.operation)).toEqual(['tasks.advance']);
    expect(engine.store.task(RUN, 'b')).toMatchObject({ status: 'QUEUED', attempt: 1, dependencies: { succeeded: ['a'] } });
    expect(result.messages.map((sent) => sent.message)).toEqual([expect.objectContaining({ runId: RUN, taskId: 'b', attempt: 1 })]);
  });

  it('lets a task with several dependencies wait until its join rule is decided', async () => {
    const { engine, finish } = await setUp({ id: 'join2', tasks: [{ id: 'a', type: 'pass' }, { id: 'b', type: 'pass' }, { id: 'c', type: 'pass', dependsOn: ['a', 'b'] }] });
    expect((await finish('a')).messages).toEqual([]);
    expect(engine.store.task(RUN, 'c')).toMatchObject({ status: 'PENDING', attempt: 0, dependencies: { succeeded: ['a'] } });
    const result = await finish('b');
    expect(engine.store.task(RUN, 'c')).toMatchObject({ status: 'QUEUED', attempt: 1, dependencies: { succeeded: ['a', 'b'] } });
    expect(result.messages.map((sent) => sent.message.taskId)).toEqual(['c']);
  });

  it('skips a dependent whose join rule can no longer be met, giving the reason', async () => {
    const { engine, finish } = await setUp({ id: 'join_fail', tasks: [{ id: 'a', type: 'pass' }, { id: 'b', type: 'pass' }, { id: 'c', type: 'pass', dependsOn: ['a', 'b'] }] });
    const result = await finish('a', 'FAILED');
    expect(result.messages).toEqual([]);
    expect(engine.store.task(RUN, 'c')).toMatchObject({ status: 'SKIPPED', reason: 'upstream a FAILED', dependencies: { failed: ['a'] } });
  });

  it('skips a single-dependency task whose upstream failed in the same change that records it', async () => {
    const { engine, finish } = await setUp({ id: 'chain', tasks: [{ id: 'a', type: 'pass' }, { id: 'b', type: 'pass', dependsOn: ['a'] }] });
    await finish('a', 'FAILED');
    expect(engine.store.writes()).toHaveLength(1);
    expect(engine.store.task(RUN, 'b')).toMatchObject({ status: 'SKIPPED', reason: 'upstream a FAILED' });
  });

  it('skips a ready task whose `when` is false, and queues one whose `when` is true', async () => {
    const { engine, finish } = await setUp(
      {
        id: 'conditional',
        tasks: [
          { id: 'a', type: 'pass' },
          { id: 'big', type: 'pass', dependsOn: ['a'], when: { path: 'input.amount', op: 'gt', value: 100 } },
          { id: 'small', type: 'pass', dependsOn: ['a'], when: { path: 'input.amount', op: 'lte', value: 100 } },
        ],
      },
      { amount: 5 },
    );
    const result = await finish('a');
    expect(engine.store.task(RUN, 'big')).toMatchObject({ status: 'SKIPPED', reason: 'condition false' });
    expect(engine.store.task(RUN, 'small')).toMatchObject({ status: 'QUEUED' });
    expect(result.messages.map((sent) => sent.message.taskId)).toEqual(['small']);
  });

  describe(`a fan-in of more than ${INLINE_JOIN_LIMIT} dependencies`, () => {
    it('counts its dependencies in join groups, and is decided once every group is complete', async () => {
      const width = INLINE_JOIN_LIMIT + 8;
      const { engine, finish } = await setUp(fanIn(width));
      for (let i = 0; i < width - 1; i++) expect((await finish(`d${i}`)).messages).toEqual([]);
      expect(engine.store.joinGroup(RUN, 0, 'join', '0')?.SUCCEEDED).toHaveLength(INLINE_JOIN_LIMIT);
      expect(engine.store.joinGroup(RUN, 0, 'join', '1')?.SUCCEEDED).toHaveLength(7);
      // The complete group's counts are on the task; its own item holds no outcome one by one.
      expect(engine.store.task(RUN, 'join')).toMatchObject({
        status: 'PENDING',
        joinGroups: { '0': { total: INLINE_JOIN_LIMIT, succeeded: INLINE_JOIN_LIMIT, failed: 0, skipped: 0, cancelled: 0 } },
        dependencies: { succeeded: [] },
      });
      const last = await finish(`d${width - 1}`);
      expect(last.messages.map((sent) => sent.message.taskId)).toEqual(['join']);
      expect(engine.store.task(RUN, 'join')).toMatchObject({ status: 'QUEUED', attempt: 1, joinGroups: { '1': { total: 8, succeeded: 8 } } });
    });

    it('goes on at the first success under one_success, once', async () => {
      const { engine, finish } = await setUp(fanIn(INLINE_JOIN_LIMIT + 1, 'one_success'));
      expect((await finish('d3', 'FAILED')).messages).toEqual([]);
      expect((await finish('d5')).messages.map((sent) => sent.message.taskId)).toEqual(['join']);
      expect(engine.store.task(RUN, 'join')).toMatchObject({ status: 'QUEUED', attempt: 1 });
      // A later success changes nothing: the task is past PENDING.
      expect((await finish('d6')).messages).toEqual([]);
      expect(engine.store.task(RUN, 'join')).toMatchObject({ status: 'QUEUED', attempt: 1 });
    });

    it('is skipped at the first failure under all_success, naming it', async () => {
      const { engine, finish } = await setUp(fanIn(INLINE_JOIN_LIMIT + 1));
      await finish('d0');
      expect((await finish('d7', 'FAILED')).messages).toEqual([]);
      expect(engine.store.task(RUN, 'join')).toMatchObject({ status: 'SKIPPED', reason: 'upstream d7 FAILED' });
    });
  });

  it('starts a wait task WAITING until its wake-up, with a message delayed to it', async () => {
    const { engine, finish } = await setUp({ id: 'wait', tasks: [{ id: 'a', type: 'pass' }, { id: 'nap', type: 'wait', seconds: 120, dependsOn: ['a'] }] });
    const result = await finish('a');
    const wakeAt = engine.clock.ms + 120_000;
    expect(engine.store.task(RUN, 'nap')).toMatchObject({ status: 'WAITING', attempt: 1, wakeAt, dueAt: wakeAt + engine.timings.deliveryGraceSeconds * 1000 });
    expect(result.messages).toEqual([{ message: expect.objectContaining({ taskId: 'nap', attempt: 1, notBefore: wakeAt }), delaySeconds: 120 }]);
  });

  it('claims at most one ready dependent to run here, and queues the others', async () => {
    const { engine, finish } = await setUp({
      id: 'fan_out',
      tasks: [{ id: 'a', type: 'pass' }, ...['b', 'c', 'd'].map((id) => ({ id, type: 'pass' as const, dependsOn: ['a'] }))],
    });
    const result = await finish('a', 'SUCCEEDED', { opTokenFor: (taskId) => `op-${taskId}`, mayClaim: () => true, newLeaseToken: () => 'lease-1' });
    const claimed = result.claimed?.task.taskId ?? '';
    expect(claimed).not.toBe('');
    expect(engine.store.task(RUN, claimed)).toMatchObject({ status: 'RUNNING', attempt: 1, leaseToken: 'lease-1' });
    const others = ['b', 'c', 'd'].filter((id) => id !== claimed);
    for (const id of others) expect(engine.store.task(RUN, id)).toMatchObject({ status: 'QUEUED', attempt: 1 });
    expect(result.messages.map((sent) => sent.message.taskId).sort()).toEqual(others);
  });

  it('carries a small known scope in the message of a queued single-dependency task, and not a large one', async () => {
    const { engine, definition, run, dispatcher } = await setUp({ id: 'carry', tasks: [{ id: 'a', type: 'pass' }, { id: 'b', type: 'pass', dependsOn: ['a'] }, { id: 'c', type: 'pass', dependsOn: ['a'] }] });
    const small = await dispatcher.afterFinish(run, { taskId: 'a', status: 'SUCCEEDED' }, engine.scope(RUN, { input: { n: 1 }, outputs: { a: { output: { v: 2 } } } }), { opTokenFor: (id) => `small-${id}` });
    const scopes = small.messages.map((sent) => sent.message.scopeJson);
    expect(scopes).toHaveLength(2);
    for (const scopeJson of scopes) expect(JSON.parse(scopeJson ?? 'null')).toEqual({ input: { n: 1 }, upstream: { a: { output: { v: 2 } } } });

    // The same dependents again in another run, with an output too large to carry.
    await engine.store.runs.createRun({ runId: 'run-2', definition, input: {}, dueAt: 0, groupCount: 1 });
    const large = await dispatcher.afterFinish({ ...run, runId: 'run-2' }, { taskId: 'a', status: 'SUCCEEDED' }, engine.scope('run-2', { input: {}, outputs: { a: { output: 'x'.repeat(MAX_SCOPE_JSON) } } }), { opTokenFor: (id) => `large-${id}` });
    expect(large.messages).toHaveLength(2);
    for (const sent of large.messages) expect(sent.message.scopeJson).toBeUndefined();
  });

  it('sends the message again when a change is replayed with the same operation token', async () => {
    const { engine, finish } = await setUp({ id: 'chain', tasks: [{ id: 'a', type: 'pass' }, { id: 'b', type: 'pass', dependsOn: ['a'] }] });
    const options = { opTokenFor: (taskId: string) => `replay-${taskId}` };
    await finish('a', 'SUCCEEDED', options);
    const replay = await finish('a', 'SUCCEEDED', options);
    expect(replay.messages.map((sent) => sent.message)).toEqual([expect.objectContaining({ taskId: 'b', attempt: 1 })]);
    // Another cause (another token) finds it moved on, and sends nothing.
    expect((await finish('a', 'SUCCEEDED', { opTokenFor: () => 'other' })).messages).toEqual([]);
    expect(engine.store.task(RUN, 'b')).toMatchObject({ status: 'QUEUED', attempt: 1 });
  });

  it('starts the roots of a run: queued, or skipped by their condition', async () => {
    const { engine, run, dispatcher } = await setUp(
      { id: 'roots', tasks: [{ id: 'a', type: 'pass' }, { id: 'b', type: 'pass', when: { path: 'input.go', op: 'eq', value: true } }] },
      { go: false },
    );
    const result = await dispatcher.start(run, [{ taskId: 'a', decision: 'ready' }, { taskId: 'b', decision: 'ready' }], engine.scope(RUN), { opTokenFor: (id) => `start-${id}` });
    expect(result.messages.map((sent) => sent.message.taskId)).toEqual(['a']);
    expect(engine.store.task(RUN, 'b')).toMatchObject({ status: 'SKIPPED', reason: 'condition false' });
  });
});
