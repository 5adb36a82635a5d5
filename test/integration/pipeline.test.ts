// The execution pipeline end to end, through the real path: HTTP -> api -> DynamoDB Local ->
// stream -> scheduler -> SQS server -> worker -> DynamoDB Local -> ...
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalRuntime } from '../../local/runtime.js';
import type { RecordedMetrics } from '../../shared/engine/metrics.js';
import { orderProcessing } from '../../workflows/index.js';
import { ExecutionLog, register, startRunViaApi, startRuntime, streamRecordsOf, waitForRun, type ApiClient } from './e2e-support.js';

const log = new ExecutionLog();
let runtime: LocalRuntime;
let api: ApiClient;

beforeAll(async () => {
  ({ runtime, api } = await startRuntime({
    step: log.handler(20),
    slow_step: log.handler(400),
    double: log.handler(10, (ctx) => ({ value: 2 * Number((ctx.upstream['source']?.output as { value: number }).value) })),
    source: log.handler(10, (ctx) => ({ value: (ctx.input as { value: number }).value })),
    configured: log.handler(10, (ctx) => ({ params: ctx.params ?? null })),
  }));
}, 120_000);

afterAll(async () => {
  await runtime?.stop();
});

describe('the order_processing run', () => {
  it('runs validate_payment and reserve_inventory in parallel, then charge, then ship', async () => {
    await register(api, orderProcessing.toJSON());
    const runId = await startRunViaApi(api, 'order_processing', {
      orderId: 'o-1',
      amount: 42,
      customer: { email: 'a@example.com' },
      simulate: { delayMs: 300 },
    });
    const run = await waitForRun(api, runId);
    expect(run.status).toBe('COMPLETED');
    const task = (id: string) => {
      const found = run.tasks.find((t: { taskId: string }) => t.taskId === id);
      return { ...found, start: Date.parse(found.startedAt), end: Date.parse(found.completedAt) };
    };
    const validate = task('validate_payment');
    const reserve = task('reserve_inventory');
    const charge = task('charge_payment');
    const ship = task('ship_order');
    for (const t of [validate, reserve, charge, ship, task('send_confirmation')]) expect(t.status).toBe('SUCCEEDED');
    // The two roots' time spans overlap: they ran at the same time.
    expect(validate.start).toBeLessThan(reserve.end);
    expect(reserve.start).toBeLessThan(validate.end);
    expect(charge.start).toBeGreaterThanOrEqual(validate.end);
    expect(ship.start).toBeGreaterThanOrEqual(charge.end);
    expect(ship.start).toBeGreaterThanOrEqual(reserve.end);
    expect(charge.output).toMatchObject({ amount: 42 });

    // The metrics the dashboard reads were recorded for this run's tasks and for the run.
    const recorded = (runtime.engine.metrics as RecordedMetrics).values.map((m) => m.name);
    for (const name of ['RunStarted', 'RunCompleted', 'RunDuration', 'TaskSucceeded', 'TaskDuration', 'SchedulingLatency']) {
      expect(recorded).toContain(name);
    }
  });
});

describe('many runs at once', () => {
  it('completes 50 concurrent runs with every task executed and SUCCEEDED exactly once', async () => {
    const { workflowId } = await register(api, {
      id: 'diamond',
      tasks: [
        { id: 'a', handler: 'step' },
        { id: 'b', handler: 'step', dependsOn: ['a'] },
        { id: 'c', handler: 'step', dependsOn: ['a'] },
        { id: 'd', handler: 'step', dependsOn: ['b', 'c'] },
      ],
    });
    const runIds = await Promise.all(Array.from({ length: 50 }, (_, i) => startRunViaApi(api, workflowId, { i })));
    const runs = await Promise.all(runIds.map((runId) => waitForRun(api, runId, 120_000)));
    for (const run of runs) {
      expect(run.status).toBe('COMPLETED');
      for (const task of run.tasks) {
        expect(task.status).toBe('SUCCEEDED');
        expect(task.attempt).toBe(1);
        expect(log.count(run.runId, task.taskId)).toBe(1);
      }
    }
  });
});

describe('data between tasks', () => {
  it('hands an upstream output to its dependents', async () => {
    const { workflowId } = await register(api, {
      id: 'doubling',
      tasks: [
        { id: 'source', handler: 'source' },
        { id: 'double', handler: 'double', dependsOn: ['source'] },
        { id: 'echo', type: 'pass', dependsOn: ['double'] },
      ],
    });
    const run = await waitForRun(api, await startRunViaApi(api, workflowId, { value: 21 }));
    expect(run.status).toBe('COMPLETED');
    expect(run.tasks.find((t: { taskId: string }) => t.taskId === 'double').output).toEqual({ value: 42 });
    expect(run.tasks.find((t: { taskId: string }) => t.taskId === 'echo').output).toEqual({ value: 21 });
  });
});

describe('duplicates', () => {
  it('changes nothing when an SQS message is delivered twice', async () => {
    const { workflowId, version } = await register(api, { id: 'single', tasks: [{ id: 'only', handler: 'step' }] });
    const runId = await startRunViaApi(api, workflowId);
    const before = await waitForRun(api, runId);
    expect(before.status).toBe('COMPLETED');
    const message = { runId, taskId: 'only', attempt: 1, workflowId, version };
    await runtime.clients.sqs.send(new SendMessageCommand({ QueueUrl: runtime.taskQueueUrl, MessageBody: JSON.stringify(message) }));
    // The duplicate is delivered and refused by the claim; the executed count never moves.
    const outcome = await runtime.engine.worker.process(message);
    expect(outcome).toBe('not-claimable');
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(log.count(runId, 'only')).toBe(1);
    const after = (await api.get(`/runs/${runId}`)).body;
    expect(after).toEqual(before);
  });

  it('changes nothing when a stream batch is replayed', async () => {
    const { workflowId } = await register(api, {
      id: 'chain',
      tasks: [
        { id: 'first', handler: 'step' },
        { id: 'second', handler: 'step', dependsOn: ['first'] },
      ],
    });
    const runId = await startRunViaApi(api, workflowId);
    const before = await waitForRun(api, runId);
    expect(before.status).toBe('COMPLETED');

    const records = await streamRecordsOf(runtime, runId);
    expect(records.length).toBeGreaterThan(5);
    const replay = await runtime.engine.schedulerHandler({ Records: records });
    expect(replay.batchItemFailures).toEqual([]);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(log.count(runId, 'first')).toBe(1);
    expect(log.count(runId, 'second')).toBe(1);
    expect((await api.get(`/runs/${runId}`)).body).toEqual(before);
  });
});

describe('Idempotency-Key', () => {
  it('gives one run for the same key', async () => {
    const { workflowId } = await register(api, { id: 'idem', tasks: [{ id: 'only', handler: 'step' }] });
    const headers = { 'Idempotency-Key': `order-${Date.now()}` };
    const first = await api.post('/runs', { workflowId, input: { n: 1 } }, headers);
    const second = await api.post('/runs', { workflowId, input: { n: 1 } }, headers);
    expect(first.status).toBe(201);
    expect(second.status).toBe(200);
    expect(second.body.runId).toBe(first.body.runId);
    const conflicting = await api.post('/runs', { workflowId, input: { n: 2 } }, headers);
    expect(conflicting.status).toBe(409);
    const listed = await api.get(`/runs?workflowId=${workflowId}`);
    expect(listed.body.runs.map((r: { runId: string }) => r.runId)).toEqual([first.body.runId]);
  });
});

describe('versions', () => {
  it('finishes a run on the version it started with after a new version is registered', async () => {
    const v1 = await register(api, { id: 'versioned', tasks: [{ id: 'old_step', handler: 'slow_step' }] });
    const runId = await startRunViaApi(api, 'versioned');
    const v2 = await register(api, {
      id: 'versioned',
      tasks: [
        { id: 'new_step', handler: 'step' },
        { id: 'another', handler: 'step' },
      ],
    });
    expect(v2.version).not.toBe(v1.version);
    const latest = (await api.get('/workflows/versioned')).body;
    expect(latest.version).toBe(v2.version);

    const run = await waitForRun(api, runId);
    expect(run.status).toBe('COMPLETED');
    expect(run.version).toBe(v1.version);
    expect(run.tasks.map((t: { taskId: string }) => t.taskId)).toEqual(['old_step']);
    expect(log.count(runId, 'old_step')).toBe(1);

    const newRun = await waitForRun(api, await startRunViaApi(api, 'versioned'));
    expect(newRun.version).toBe(v2.version);
    expect(newRun.tasks.map((t: { taskId: string }) => t.taskId)).toEqual(['new_step', 'another']);
  });
});


describe('handler params', () => {
  it("hand each task its definition's static params; another version's params are its own", async () => {
    const v1 = await register(api, {
      id: 'parametrized',
      tasks: [
        { id: 'eu', handler: 'configured', params: { region: 'eu-west-1', retries: [1, 2] } },
        { id: 'bare', handler: 'configured', dependsOn: ['eu'] },
      ],
    });
    const run = await waitForRun(api, await startRunViaApi(api, v1.workflowId));
    expect(run.status).toBe('COMPLETED');
    const output = (id: string) => run.tasks.find((t: { taskId: string }) => t.taskId === id)?.output;
    expect(output('eu')).toEqual({ params: { region: 'eu-west-1', retries: [1, 2] } });
    expect(output('bare')).toEqual({ params: null });
    // Params are part of the content: other params are another version.
    const v2 = await register(api, { id: 'parametrized', tasks: [{ id: 'eu', handler: 'configured', params: { region: 'eu-central-1' } }, { id: 'bare', handler: 'configured', dependsOn: ['eu'] }] });
    expect(v2.version).not.toBe(v1.version);
    // Only handler tasks take params.
    const refused = await api.post('/workflows', { id: 'misplaced', tasks: [{ id: 'p', type: 'pass', params: {} }] });
    expect(refused.status).toBe(400);
    expect(JSON.stringify(refused.body)).toContain('params');
  });
});
