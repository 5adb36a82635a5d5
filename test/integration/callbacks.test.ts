// Callback tasks through the real local path (HTTP -> api -> DynamoDB Local -> stream ->
// scheduler -> SQS -> worker): the task's request hands a token to an outside system (a server on
// 127.0.0.1 here), the task waits holding no worker, and `POST /callbacks/{token}` ends it: 202
// once, 409 after, 404 for a token never handed out. A failure answer is retried by the task's
// policy with a new token; the sweeper times out a wait (or a missed heartbeat); a cancelled run
// refuses its answer.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalRuntime } from '../../local/runtime.js';
import { type ApiClient, register, startRuntime, startRunViaApi, waitForRun } from './e2e-support.js';

let runtime: LocalRuntime;
let api: ApiClient;
let target: Server;
let targetUrl: string;
/** Bodies the outside system received, by run id. */
const received = new Map<string, Array<{ token: string; orderId: string }>>();
const errors: unknown[] = [];

beforeAll(async () => {
  target = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { runId: string; token: string; orderId: string };
      received.set(body.runId, [...(received.get(body.runId) ?? []), body]);
      response.writeHead(202, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ queued: true }));
    });
  });
  await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
  targetUrl = `http://127.0.0.1:${(target.address() as AddressInfo).port}`;
  ({ runtime, api } = await startRuntime({}, (source, error) => errors.push({ source, error }), { sweepIntervalMs: 250 }));
});

afterAll(async () => {
  await runtime?.stop();
  target?.closeAllConnections();
  await new Promise<void>((resolve) => target?.close(() => resolve()));
});

/** prepare -> approve (a callback whose request hands out the token) -> ship. */
function approval(id: string, callback: Record<string, unknown> = {}) {
  return {
    id,
    tasks: [
      { id: 'prepare', type: 'pass', output: { prepared: true } },
      {
        id: 'approve',
        type: 'callback',
        dependsOn: ['prepare'],
        http: {
          url: `${targetUrl}/approvals`,
          method: 'POST',
          body: { runId: '{{input.runKey}}', orderId: '{{input.orderId}}', token: '{{callback.token}}' },
        },
        ...callback,
      },
      { id: 'ship', type: 'pass', dependsOn: ['approve'] },
    ],
  };
}

/** Starts a run keyed by a fresh run key (the target files what it receives under it). */
async function start(workflowId: string): Promise<{ runId: string; runKey: string }> {
  const runKey = `k-${Math.random().toString(36).slice(2)}`;
  const runId = await startRunViaApi(api, workflowId, { runKey, orderId: 'o-1' });
  return { runId, runKey };
}

/** The `n`th token the outside system received for a run (waits for it). */
async function tokenFor(runKey: string, n = 1): Promise<string> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const got = received.get(runKey) ?? [];
    if (got.length >= n) return got[n - 1]?.token ?? '';
    if (Date.now() > deadline) throw new Error(`no request ${n} for ${runKey}: ${JSON.stringify(got)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function taskOf(runId: string, taskId: string): Promise<any> {
  const { body } = await api.get(`/runs/${runId}`);
  return body.tasks.find((task: { taskId: string }) => task.taskId === taskId);
}

/** Polls until the task is in `status`. */
async function until(runId: string, taskId: string, status: string): Promise<any> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const task = await taskOf(runId, taskId);
    if (task?.status === status) return task;
    if (Date.now() > deadline) throw new Error(`${taskId} still ${task?.status}, not ${status}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('callback tasks, through the local runtime', () => {
  it('waits without a worker until the answer, takes its output, and refuses a second answer or a forged token', async () => {
    const { workflowId } = await register(api, approval('cb_approve'));
    const { runId, runKey } = await start(workflowId);
    const token = await tokenFor(runKey);
    expect(token).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);

    const waiting = await until(runId, 'approve', 'WAITING');
    expect(waiting.why.code).toBe('waiting_for_callback');
    expect(Date.parse(waiting.wakeAt)).toBeGreaterThan(Date.now() + 3_600_000);
    expect((await taskOf(runId, 'ship')).status).toBe('PENDING');

    // A token never handed out: another secret for the same attempt, and something else entirely.
    const forged = `${token.split('.')[0]}.${'A'.repeat(43)}`;
    expect((await api.post(`/callbacks/${forged}`, { output: {} })).status).toBe(404);
    expect((await api.post('/callbacks/not-a-token', { output: {} })).status).toBe(404);
    // A body that is neither an output nor an error names the problem.
    const bad = await api.post(`/callbacks/${token}`, { approved: true });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toContain('output');

    const answered = await api.post(`/callbacks/${token}`, { output: { approved: true, by: 'ops' } });
    expect(answered.status).toBe(202);
    expect(answered.body).toMatchObject({ runId, taskId: 'approve', attempt: 1 });
    const again = await api.post(`/callbacks/${token}`, { output: { approved: false } });
    expect(again.status).toBe(409);
    expect(again.body.error.message).toContain('SUCCEEDED');

    const run = await waitForRun(api, runId);
    expect(run.status).toBe('COMPLETED');
    const approve = run.tasks.find((task: { taskId: string }) => task.taskId === 'approve');
    expect(approve.output).toEqual({ approved: true, by: 'ops' });
    expect((await taskOf(runId, 'ship')).status).toBe('SUCCEEDED');
    expect(received.get(runKey)).toHaveLength(1);
  });

  it('retries a failure answer by its policy, with a new token; the old one is over', async () => {
    const { workflowId } = await register(api, approval('cb_retry', { retry: { maxRetries: 1, initialDelaySeconds: 0 } }));
    const { runId, runKey } = await start(workflowId);
    const first = await tokenFor(runKey);
    await until(runId, 'approve', 'WAITING');
    const failed = await api.post(`/callbacks/${first}`, { error: { name: 'NotYet', message: 'the approver asked for more time' } });
    expect(failed.status).toBe(202);

    const second = await tokenFor(runKey, 2);
    expect(second).not.toBe(first);
    expect((await api.post(`/callbacks/${first}`, { output: 'late' })).status).toBe(409);
    await until(runId, 'approve', 'WAITING');
    expect((await api.post(`/callbacks/${second}`, { output: 'approved' })).status).toBe(202);

    const run = await waitForRun(api, runId);
    expect(run.status).toBe('COMPLETED');
    const approve = run.tasks.find((task: { taskId: string }) => task.taskId === 'approve');
    expect(approve).toMatchObject({ attempt: 2, output: 'approved' });
    const history = await api.get(`/runs/${runId}/history`);
    expect(JSON.stringify(history.body)).toContain('NotYet');
  });

  it('fails a non-retryable failure answer at once, and the run with it', async () => {
    const { workflowId } = await register(api, approval('cb_reject', { retry: { maxRetries: 3, initialDelaySeconds: 0 } }));
    const { runId, runKey } = await start(workflowId);
    const token = await tokenFor(runKey);
    await until(runId, 'approve', 'WAITING');
    expect((await api.post(`/callbacks/${token}`, { error: { name: 'Rejected', message: 'no', retryable: false } })).status).toBe(202);
    const run = await waitForRun(api, runId);
    expect(run.status).toBe('FAILED');
    const approve = run.tasks.find((task: { taskId: string }) => task.taskId === 'approve');
    expect(approve).toMatchObject({ status: 'FAILED', attempt: 1, error: { name: 'Rejected' } });
    expect((await taskOf(runId, 'ship')).status).toBe('SKIPPED');
  });

  it('times out a wait nobody answers, and a wait whose heartbeats stop; a heartbeat moves the deadline on', async () => {
    const { workflowId } = await register(api, approval('cb_timeout', { timeoutSeconds: 1 }));
    const timedOut = await start(workflowId);
    const run = await waitForRun(api, timedOut.runId, 30_000);
    expect(run.status).toBe('FAILED');
    expect(run.tasks.find((task: { taskId: string }) => task.taskId === 'approve').error.name).toBe('CallbackTimedOut');
    expect((await api.post(`/callbacks/${await tokenFor(timedOut.runKey)}`, { output: 'too late' })).status).toBe(409);

    const beating = await register(api, approval('cb_heartbeat', { timeoutSeconds: 120, heartbeatSeconds: 2 }));
    const { runId, runKey } = await start(beating.workflowId);
    const token = await tokenFor(runKey);
    const before = (await until(runId, 'approve', 'WAITING')).why.until as string;
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect((await api.post(`/callbacks/${token}/heartbeat`)).status).toBe(202);
    const after = (await taskOf(runId, 'approve')).why.until as string;
    expect(Date.parse(after)).toBeGreaterThan(Date.parse(before));
    // No more heartbeats: the wait times out long before its 120 s.
    const ended = await waitForRun(api, runId, 30_000);
    expect(ended.status).toBe('FAILED');
    expect(ended.tasks.find((task: { taskId: string }) => task.taskId === 'approve').error.name).toBe('CallbackHeartbeatTimedOut');
    expect((await api.post(`/callbacks/${token}/heartbeat`)).status).toBe(409);
  });

  it('cancels a waiting callback with its run, and refuses its answer after', async () => {
    const { workflowId } = await register(api, approval('cb_cancel'));
    const { runId, runKey } = await start(workflowId);
    const token = await tokenFor(runKey);
    await until(runId, 'approve', 'WAITING');
    expect((await api.post(`/runs/${runId}/cancel`)).status).toBe(202);
    const run = await waitForRun(api, runId);
    expect(run.status).toBe('CANCELLED');
    expect((await taskOf(runId, 'approve')).status).toBe('CANCELLED');
    const late = await api.post(`/callbacks/${token}`, { output: 'approved' });
    expect(late.status).toBe(409);
    expect(late.body.error.message).toContain('CANCELLED');
  });

  it('refuses {{callback.token}} outside a callback task at registration', async () => {
    const { status, body } = await api.post('/workflows', {
      id: 'cb_misplaced',
      tasks: [{ id: 'notify', type: 'http', http: { url: `${targetUrl}/x`, method: 'POST', body: { token: '{{callback.token}}' } } }],
    });
    expect(status).toBe(400);
    expect(JSON.stringify(body.error)).toContain('tasks.notify.http.body');
    expect(errors).toEqual([]);
  });
});
