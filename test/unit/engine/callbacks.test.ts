// Callback tasks on the in-memory ports: the token (what it names, that it cannot be forged), the
// definition's checks, and the races a network makes possible: an answer that arrives while the
// worker is still making the request that handed the token out, a heartbeat against the sweeper,
// a cancellation before the wait begins.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Callbacks, callbackTokenHash, newCallbackToken, parseCallbackToken } from '../../../shared/engine/callbacks.js';
import { parseDefinition, type WorkflowDefinitionInput } from '../../../shared/model/definition.js';
import { LIMITS } from '../../../shared/model/limits.js';
import { Engine } from '../support/engine.js';

const approval: WorkflowDefinitionInput = {
  id: 'approval',
  tasks: [
    {
      id: 'approve',
      type: 'callback',
      timeoutSeconds: 600,
      heartbeatSeconds: 60,
      retry: { maxRetries: 1, initialDelaySeconds: 0 },
      http: { url: 'https://approvals.example.com/ask', method: 'POST', body: { token: '{{callback.token}}' } },
    },
    { id: 'ship', type: 'pass', dependsOn: ['approve'] },
  ],
};

/** A fetch that records each request's body and answers as `answer` says (after the test's hook runs). */
function recordingFetch(onRequest: (body: { token: string }) => Promise<void> = async () => undefined) {
  const bodies: Array<{ token: string }> = [];
  const fetch = (async (_url: unknown, init?: RequestInit) => {
    const body = JSON.parse(typeof init?.body === 'string' ? init.body : '{}') as { token: string };
    bodies.push(body);
    await onRequest(body);
    return new Response('{"ok":true}', { status: 200, headers: { 'content-type': 'application/json' } });
  }) as typeof globalThis.fetch;
  return { bodies, fetch };
}

async function started(engine: Engine) {
  const definition = await engine.define(approval);
  const runId = await engine.start(definition, {});
  return { definition, runId };
}

function callbacks(engine: Engine): Callbacks {
  return new Callbacks(callbacksDeps(engine));
}

function callbacksDeps(engine: Engine): ConstructorParameters<typeof Callbacks>[0] {
  return {
    tasks: engine.store.tasks,
    runs: engine.store.runs,
    joins: engine.store.joins,
    definitions: engine.definitions,
    queue: engine.queue,
    metrics: engine.metrics,
    timings: engine.timings,
    now: engine.now,
    random: () => 0.5,
    newToken: engine.newToken,
  };
}

/** Callbacks whose every SQS send fails. */
function callbacksWithSqsDown(engine: Engine): Callbacks {
  return new Callbacks({ ...callbacksDeps(engine), queue: { send: () => Promise.reject(new Error('SQS did not answer')) } });
}

function workerWith(engine: Engine, fetch: typeof globalThis.fetch) {
  return engine.worker({}, { executorEnv: { handlers: new Map(), httpAllowedHosts: ['approvals.example.com'], fetch } });
}

describe('callback tokens', () => {
  it('name their attempt, and only an exact token parses to it', () => {
    fc.assert(
      fc.property(fc.uuid(), fc.stringMatching(/^[A-Za-z][A-Za-z0-9_-]{0,63}$/), fc.integer({ min: 1, max: 1000 }), (runId, taskId, attempt) => {
        const { token, hash } = newCallbackToken({ runId, taskId, attempt });
        expect(parseCallbackToken(token)).toEqual({ runId, taskId, attempt });
        expect(hash).toBe(callbackTokenHash(token));
        // The secret is 256 random bits: two tokens of the same attempt differ.
        expect(newCallbackToken({ runId, taskId, attempt }).token).not.toBe(token);
      }),
    );
    for (const garbage of ['', 'abc', 'a.b', `${Buffer.from('[1,2,3]').toString('base64url')}.${'A'.repeat(43)}`, `${Buffer.from('["r","t",0]').toString('base64url')}.${'A'.repeat(43)}`]) {
      expect(parseCallbackToken(garbage), garbage).toBeUndefined();
    }
  });
});

describe('callback definitions', () => {
  it('default the wait to a day, cap it at 30 days, and allow {{callback.token}} only in their own request', () => {
    const parsed = parseDefinition({ id: 'w', tasks: [{ id: 'c', type: 'callback' }] });
    expect(parsed.ok && parsed.definition.tasks[0]).toMatchObject({ type: 'callback', timeoutSeconds: LIMITS.defaultCallbackSeconds });
    const tooLong = parseDefinition({ id: 'w', tasks: [{ id: 'c', type: 'callback', timeoutSeconds: LIMITS.maxCallbackSeconds + 1 }] });
    expect(!tooLong.ok && tooLong.problems.map((p) => p.path)).toEqual(['tasks.c.timeoutSeconds']);
    const elsewhere = parseDefinition({
      id: 'w',
      tasks: [{ id: 'c', type: 'callback', compensate: { type: 'http', http: { url: 'https://x.example/{{callback.token}}' } } }],
    });
    expect(!elsewhere.ok && elsewhere.problems.map((p) => p.path)).toEqual(['tasks.c.compensate.http.url']);
    expect(parseDefinition(approval).ok).toBe(true);
  });
});

describe('callback tasks', () => {
  it('hand out a token whose hash alone is stored, wait WAITING without a lease, and end with the answer', async () => {
    const engine = new Engine();
    const { runId } = await started(engine);
    const { bodies, fetch } = recordingFetch();
    expect(await workerWith(engine, fetch).process(engine.messageFor('approve'))).toBe('waiting');
    const token = bodies[0]?.token ?? '';
    const waiting = engine.store.task(runId, 'approve');
    expect(waiting).toMatchObject({ status: 'WAITING', attempt: 1, callbackAttempt: 1, callbackTokens: [callbackTokenHash(token)] });
    expect(JSON.stringify(waiting)).not.toContain(token.split('.')[1]);
    expect(waiting?.leaseToken).toBeUndefined();
    // The heartbeat deadline comes first: 60 s, not the wait's 600 s.
    expect(waiting?.leaseExpiresAt).toBe(engine.now().getTime() + 60_000);
    expect(waiting?.wakeAt).toBe(engine.now().getTime() + 600_000);

    expect(await callbacks(engine).answer(token, { output: { approved: true } })).toMatchObject({ outcome: 'accepted' });
    expect(engine.store.task(runId, 'approve')).toMatchObject({ status: 'SUCCEEDED', output: { approved: true } });
    expect(await callbacks(engine).answer(token, { output: { approved: false } })).toMatchObject({ outcome: 'over', task: { status: 'SUCCEEDED' } });
    // The answer moved its dependent on at once (eager dispatch): queued and sent, no stream record read.
    expect(engine.store.task(runId, 'ship')?.status).toBe('QUEUED');
    expect(engine.messageFor('ship')).toMatchObject({ runId, taskId: 'ship', attempt: 1 });
    // The stream scheduler, the safety net, finds it done and sends nothing twice.
    const sent = engine.queue.messages().length;
    await engine.settle();
    expect(engine.queue.messages().filter((message) => message.taskId === 'ship')).toHaveLength(1);
    expect(engine.queue.messages().length).toBeGreaterThanOrEqual(sent);
  });

  it('move the dependents on only when the answer ends the task: a failure with retries left retries, one for good skips them', async () => {
    const engine = new Engine();
    const { runId } = await started(engine);
    const { bodies, fetch } = recordingFetch();
    await workerWith(engine, fetch).process(engine.messageFor('approve'));
    expect(await callbacks(engine).answer(bodies[0]?.token ?? '', { error: { name: 'NotYet', message: 'later', retryable: true } })).toMatchObject({ outcome: 'accepted' });
    expect(engine.store.task(runId, 'approve')).toMatchObject({ status: 'QUEUED', attempt: 2 });
    expect(engine.store.task(runId, 'ship')).toBeUndefined();

    await workerWith(engine, fetch).process(engine.messageFor('approve'));
    expect(await callbacks(engine).answer(bodies[1]?.token ?? '', { error: { name: 'Rejected', message: 'no', retryable: false } })).toMatchObject({ outcome: 'accepted' });
    expect(engine.store.task(runId, 'approve')?.status).toBe('FAILED');
    expect(engine.store.task(runId, 'ship')).toMatchObject({ status: 'SKIPPED', reason: expect.stringContaining('approve') as unknown });
  });

  it("take an answer whose dependent's message could not be sent (SQS down): the sweeper sends it after the delivery grace", async () => {
    const engine = new Engine();
    const { runId } = await started(engine);
    const { bodies, fetch } = recordingFetch();
    await workerWith(engine, fetch).process(engine.messageFor('approve'));
    const down = callbacksWithSqsDown(engine);
    expect(await down.answer(bodies[0]?.token ?? '', { output: { approved: true } })).toMatchObject({ outcome: 'accepted' });
    expect(engine.store.task(runId, 'ship')?.status).toBe('QUEUED');
    expect(engine.queue.messages().filter((message) => message.taskId === 'ship')).toHaveLength(0);
    engine.clock.advance((engine.timings.deliveryGraceSeconds + 1) * 1000);
    expect((await engine.sweeper().sweep()).resent).toBe(1);
    expect(engine.messageFor('ship')).toMatchObject({ runId, taskId: 'ship', attempt: 1 });
  });

  it('takes an answer that arrives while the request is still being made; the wait then never begins', async () => {
    const engine = new Engine();
    const { runId } = await started(engine);
    const answers: unknown[] = [];
    const { fetch } = recordingFetch(async ({ token }) => {
      answers.push(await callbacks(engine).answer(token, { output: 'fast' }));
    });
    expect(await workerWith(engine, fetch).process(engine.messageFor('approve'))).toBe('stale');
    expect(answers).toMatchObject([{ outcome: 'accepted' }]);
    expect(engine.store.task(runId, 'approve')).toMatchObject({ status: 'SUCCEEDED', output: 'fast' });
  });

  it('retries a failure answer by the policy (a new token), and times out the next wait when its heartbeat stops', async () => {
    const engine = new Engine();
    const { runId } = await started(engine);
    const { bodies, fetch } = recordingFetch();
    const worker = workerWith(engine, fetch);
    await worker.process(engine.messageFor('approve'));
    expect(await callbacks(engine).answer(bodies[0]?.token ?? '', { error: { name: 'NotYet', message: 'later', retryable: true } })).toMatchObject({ outcome: 'accepted' });
    expect(engine.store.task(runId, 'approve')).toMatchObject({ status: 'QUEUED', attempt: 2 });

    await worker.process(engine.messageFor('approve'));
    const second = bodies[1]?.token ?? '';
    expect(second).not.toBe(bodies[0]?.token);
    expect(await callbacks(engine).answer(bodies[0]?.token ?? '', { output: 'late' })).toMatchObject({ outcome: 'over', task: { attempt: 2 } });

    // A heartbeat at 50 s moves the deadline to 110 s; the sweeper at 100 s leaves it, at 111 s ends it.
    engine.clock.advance(50_000);
    expect(await callbacks(engine).heartbeat(second)).toMatchObject({ outcome: 'accepted' });
    engine.clock.advance(50_000);
    expect((await engine.sweeper().sweep()).timedOutCallbacks).toBe(0);
    engine.clock.advance(11_000);
    expect((await engine.sweeper().sweep()).timedOutCallbacks).toBe(1);
    // No retries left: FAILED, and the heartbeat's timeout is named.
    expect(engine.store.task(runId, 'approve')).toMatchObject({ status: 'FAILED', error: { name: 'CallbackHeartbeatTimedOut' } });
    expect(await callbacks(engine).heartbeat(second)).toMatchObject({ outcome: 'over' });
    expect(await callbacks(engine).answer('forged', { output: 1 })).toEqual({ outcome: 'unknown' });
  });

  it('takes a failure answer whose next attempt could not be sent (the sweeper sends it), and says so', async () => {
    const engine = new Engine();
    const { runId } = await started(engine);
    const { bodies, fetch } = recordingFetch();
    await workerWith(engine, fetch).process(engine.messageFor('approve'));
    const down = callbacksWithSqsDown(engine);
    expect(await down.answer(bodies[0]?.token ?? '', { error: { name: 'NotYet', message: 'later', retryable: true } })).toMatchObject({ outcome: 'accepted' });
    expect(engine.store.task(runId, 'approve')).toMatchObject({ status: 'QUEUED', attempt: 2 });
    // A write that did not apply is still an error.
    await expect(down.answer(bodies[0]?.token ?? '', { output: 1 })).resolves.toMatchObject({ outcome: 'over' });
  });

  it('ends CANCELLED when its run is cancelled while the request is being made', async () => {
    const engine = new Engine();
    const { runId } = await started(engine);
    const { fetch } = recordingFetch(async () => {
      await engine.runControl().cancel(runId);
    });
    expect(await workerWith(engine, fetch).process(engine.messageFor('approve'))).toBe('cancelled');
    expect(engine.store.task(runId, 'approve')?.status).toBe('CANCELLED');
  });
});

describe('child workflow tasks', () => {
  async function parentWaiting(timeoutSeconds?: number) {
    const engine = new Engine();
    await engine.define({ id: 'child', tasks: [{ id: 'sleep', type: 'wait', seconds: 3600 }] });
    const definition = await engine.define({
      id: 'parent',
      tasks: [{ id: 'sub', type: 'workflow', workflow: { id: 'child', input: { from: '{{input.who}}' } }, ...(timeoutSeconds === undefined ? {} : { timeoutSeconds }) }],
    });
    const runId = await engine.start(definition, { who: 'ops' });
    expect(await engine.worker().process(engine.messageFor('sub'))).toBe('waiting');
    const sub = engine.store.task(runId, 'sub');
    const childRunId = sub?.childRunId ?? '';
    expect(engine.store.runItems.get(childRunId)).toMatchObject({ workflowId: 'child', status: 'RUNNING', parent: { runId, taskId: 'sub', attempt: 1 } });
    expect(await engine.store.runs.getRunInput(childRunId)).toEqual({ from: 'ops' });
    return { engine, runId, childRunId };
  }

  it('answer the parent from the child when the child ended but its answer was lost (the sweeper looks)', async () => {
    const { engine, runId, childRunId } = await parentWaiting();
    const child = engine.store.runItems.get(childRunId);
    if (child === undefined) throw new Error('no child run');
    // The child ends without passing it on (as if its process died right after its end).
    child.status = 'COMPLETED';
    engine.clock.advance(engine.timings.reconcileIntervalSeconds * 1000 + 1);
    await engine.sweeper().sweep();
    expect(engine.store.task(runId, 'sub')).toMatchObject({ status: 'SUCCEEDED', output: {} });
  });

  it('time out a parent whose child outlives its timeoutSeconds, and cancel the child', async () => {
    const { engine, runId, childRunId } = await parentWaiting(600);
    engine.clock.advance(300_001);
    expect((await engine.sweeper().sweep()).timedOutCallbacks).toBe(0);
    expect(engine.store.task(runId, 'sub')?.status).toBe('WAITING');
    engine.clock.advance(300_000);
    expect((await engine.sweeper().sweep()).timedOutCallbacks).toBe(1);
    expect(engine.store.task(runId, 'sub')).toMatchObject({ status: 'FAILED', error: { name: 'ChildWorkflowTimedOut' } });
    expect(engine.store.runItems.get(childRunId)?.status).toBe('CANCELLING');
  });

  it('stop a workflow that starts itself at the depth limit, with ChildWorkflowTooDeep, not retried', async () => {
    const engine = new Engine();
    const definition = await engine.define({ id: 'loop', tasks: [{ id: 'sub', type: 'workflow', workflow: { id: 'loop' }, retry: { maxRetries: 2, initialDelaySeconds: 0 } }] });
    const top = await engine.start(definition, {});
    const outcomes: string[] = [];
    for (let i = 0; i <= LIMITS.maxChildDepth; i++) outcomes.push(await engine.worker().process(engine.messageFor('sub')));
    expect(outcomes).toEqual([...Array.from({ length: LIMITS.maxChildDepth }, () => 'waiting'), 'failed']);
    const deepest = [...engine.store.runItems.values()].find((run) => run.parent?.depth === LIMITS.maxChildDepth);
    expect(engine.store.task(deepest?.runId ?? '', 'sub')).toMatchObject({ status: 'FAILED', attempt: 1, error: { name: 'ChildWorkflowTooDeep' } });
    // No run keeps its parent's token, only its hash.
    expect(JSON.stringify(engine.store.runItems.get(deepest?.runId ?? ''))).not.toMatch(/"token"/);
    expect(engine.store.task(top, 'sub')?.status).toBe('WAITING');
  });
});
