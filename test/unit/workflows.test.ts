import { describe, expect, it } from 'vitest';
import type { ValueScope } from '../../shared/model/condition.js';
import { parseDefinition, type WorkflowDefinition } from '../../shared/model/definition.js';
import { topologicalOrder } from '../../shared/model/dag.js';
import { decideTask } from '../../shared/engine/join-rules.js';
import type { TaskStatus } from '../../shared/model/states.js';
import type { TaskContext } from '../../shared/tasks/context.js';
import { TaskCancelled, toTaskError } from '../../shared/tasks/errors.js';
import { compensationAction, executeAction, type ExecutableAction } from '../../shared/tasks/executors.js';
import type { TaskError } from '../../shared/model/task-error.js';
import { dataPipeline, workflows, handlers, orderProcessing } from '../../workflows/index.js';
import { APPROVAL_LIMIT } from '../../workflows/order-handlers.js';
import { PIPELINE_PARTITIONS } from '../../workflows/pipeline-handlers.js';
import { taskContext as fakeContext } from './support/task-context.js';

const knownHandlers = new Set(handlers.keys());

interface LocalRun {
  statuses: Map<string, TaskStatus>;
  outputs: Map<string, unknown>;
  errors: Map<string, TaskError>;
  attempts: Map<string, number>;
  compensations: Array<{ taskId: string; output: unknown }>;
}

/**
 * The examples run in process, in topological order, with the engine's own join rules and
 * immediate retries: enough to check that the handlers fit together, with no store or queue.
 * When a critical task fails, compensations of succeeded tasks run in reverse order.
 */
async function runLocally(definition: WorkflowDefinition, input: unknown): Promise<LocalRun> {
  const run: LocalRun = { statuses: new Map(), outputs: new Map(), errors: new Map(), attempts: new Map(), compensations: [] };
  const byId = new Map(definition.tasks.map((task) => [task.id, task]));
  const statusOf = (taskId: string): TaskStatus => run.statuses.get(taskId) ?? 'PENDING';
  const upstreamOf = (taskIds: readonly string[]) =>
    Object.fromEntries(taskIds.filter((id) => run.outputs.has(id)).map((id) => [id, { output: run.outputs.get(id) }]));
  const finished: string[] = [];
  for (const taskId of topologicalOrder(definition.tasks)) {
    const task = byId.get(taskId);
    if (task === undefined) throw new Error(`no task ${taskId}`);
    const scope: ValueScope = { input, upstream: upstreamOf(task.dependsOn) };
    if (decideTask(task, statusOf, scope).decision === 'skip') {
      run.statuses.set(taskId, 'SKIPPED');
      continue;
    }
    for (let attempt = 1; ; attempt++) {
      run.attempts.set(taskId, attempt);
      try {
        const ctx = fakeContext({ taskId, input, upstream: scope.upstream as TaskContext['upstream'], attempt });
        run.outputs.set(taskId, await executeAction(task, ctx, { handlers, httpAllowedHosts: [] }));
        run.statuses.set(taskId, 'SUCCEEDED');
        finished.push(taskId);
        break;
      } catch (error) {
        const taskError = toTaskError(error);
        if (taskError.retryable && attempt <= (task.retry?.maxRetries ?? 0)) continue;
        run.errors.set(taskId, taskError);
        run.statuses.set(taskId, 'FAILED');
        break;
      }
    }
  }
  const runFailed = definition.tasks.some((task) => task.critical && run.statuses.get(task.id) === 'FAILED');
  if (runFailed) {
    for (const taskId of [...finished].reverse()) {
      const compensate = byId.get(taskId)?.compensate;
      if (compensate === undefined) continue;
      const action: ExecutableAction = compensationAction(compensate);
      const ctx = fakeContext({ taskId, input, upstream: { [taskId]: { output: run.outputs.get(taskId) } } });
      run.compensations.push({ taskId, output: await executeAction(action, ctx, { handlers, httpAllowedHosts: [] }) });
    }
  }
  return run;
}

const fast = { delayMs: 0 };

describe('example workflows', () => {
  it('all parse, with every handler they name registered', () => {
    // A team adds its own workflows to this list (workflows/index.ts says how): the test must not
    // pin it, only require that the ids are distinct and that the demo's workflow is there.
    const ids = workflows.map((example) => example.toJSON().id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toEqual(expect.arrayContaining(['order_processing', 'data_pipeline']));
    for (const example of workflows) {
      const result = parseDefinition(example.toJSON(), { knownHandlers });
      expect(result.ok ? [] : result.problems).toEqual([]);
    }
  });

  it('order_processing is exactly the definition of docs/architecture.md', () => {
    expect(orderProcessing.toJSON()).toEqual({
      id: 'order_processing',
      tasks: [
        { id: 'validate_payment', handler: 'check_payment' },
        { id: 'reserve_inventory', handler: 'reserve_items' },
        {
          id: 'charge_payment',
          handler: 'run_charge',
          dependsOn: ['validate_payment'],
          retry: { maxRetries: 3, initialDelaySeconds: 1, backoffRate: 2, maxDelaySeconds: 300 },
          timeoutSeconds: 30,
          compensate: 'refund_charge',
        },
        { id: 'ship_order', handler: 'create_shipment', dependsOn: ['reserve_inventory', 'charge_payment'] },
        { id: 'send_confirmation', handler: 'notify_customer', dependsOn: ['ship_order'] },
      ],
    });
  });

  it('data_pipeline fans out one transform per partition and joins them in load', () => {
    const definition = dataPipeline.build({ knownHandlers });
    const transforms = Array.from({ length: PIPELINE_PARTITIONS }, (_, i) => `transform_${i}`);
    expect(definition.tasks.map((task) => task.id)).toEqual(['extract', ...transforms, 'load', 'aggregate']);
    for (const id of transforms) {
      expect(definition.tasks.find((task) => task.id === id)).toMatchObject({ handler: 'transform_partition', dependsOn: ['extract'] });
    }
    expect(definition.tasks.find((task) => task.id === 'load')).toMatchObject({ dependsOn: transforms, trigger: 'none_failed' });
  });
});

describe('order_processing handlers', () => {
  const definition = orderProcessing.build({ knownHandlers });
  const order = { orderId: 'o-1', amount: 99.5, items: [{ sku: 'book', quantity: 2 }], customer: { email: 'ann@example.com' } };

  it('complete an order, with ids derived from the idempotency key', async () => {
    const run = await runLocally(definition, { ...order, simulate: fast });
    expect(Object.fromEntries(run.statuses)).toEqual({
      validate_payment: 'SUCCEEDED',
      reserve_inventory: 'SUCCEEDED',
      charge_payment: 'SUCCEEDED',
      ship_order: 'SUCCEEDED',
      send_confirmation: 'SUCCEEDED',
    });
    expect(run.outputs.get('validate_payment')).toEqual({ approved: true, amount: 99.5, currency: 'USD' });
    expect(run.outputs.get('reserve_inventory')).toEqual({ reservationId: 'rsv_run-1:reserve_inventory', items: order.items });
    expect(run.outputs.get('charge_payment')).toEqual({ chargeId: 'ch_run-1:charge_payment', amount: 99.5, currency: 'USD' });
    expect(run.outputs.get('ship_order')).toMatchObject({
      shipmentId: 'shp_o-1',
      reservationId: 'rsv_run-1:reserve_inventory',
      chargeId: 'ch_run-1:charge_payment',
      trackingNumber: expect.stringMatching(/^TRK[0-9A-F]{12}$/) as unknown,
    });
    expect(run.outputs.get('send_confirmation')).toMatchObject({ notified: true, to: 'ann@example.com' });
    expect(run.compensations).toEqual([]);
  });

  it('are deterministic: the same run gives the same outputs', async () => {
    const first = await runLocally(definition, { ...order, simulate: fast });
    const second = await runLocally(definition, { ...order, simulate: fast });
    expect(second.outputs).toEqual(first.outputs);
  });

  it('retry a flaky charge and succeed', async () => {
    const run = await runLocally(definition, { ...order, simulate: { ...fast, chargeFailures: 2 } });
    expect(run.statuses.get('charge_payment')).toBe('SUCCEEDED');
    expect(run.attempts.get('charge_payment')).toBe(3);
  });

  it('refund the charge when shipping fails (the saga)', async () => {
    const run = await runLocally(definition, { ...order, simulate: { ...fast, shipmentFails: true } });
    expect(run.statuses.get('ship_order')).toBe('FAILED');
    expect(run.errors.get('ship_order')).toMatchObject({ name: 'ShipmentFailed', retryable: false });
    expect(run.statuses.get('send_confirmation')).toBe('SKIPPED');
    expect(run.compensations).toEqual([
      {
        taskId: 'charge_payment',
        output: { refundId: 're_ch_run-1:charge_payment', chargeId: 'ch_run-1:charge_payment', amount: 99.5, currency: 'USD' },
      },
    ]);
  });

  it('fail for good when stock is out, refunding a charge already made', async () => {
    const run = await runLocally(definition, { ...order, simulate: { ...fast, outOfStock: true } });
    expect(run.errors.get('reserve_inventory')).toMatchObject({ name: 'OutOfStock', retryable: false });
    expect(run.statuses.get('ship_order')).toBe('SKIPPED');
    expect(run.compensations.map((c) => c.taskId)).toEqual(['charge_payment']);
  });

  it('refuse a non-positive amount and decline one above the approval limit', async () => {
    const zero = await runLocally(definition, { ...order, amount: 0, simulate: fast });
    expect(zero.errors.get('validate_payment')).toMatchObject({ name: 'InvalidAmount', retryable: false });
    expect(zero.statuses.get('charge_payment')).toBe('SKIPPED');

    const large = await runLocally(definition, { ...order, amount: APPROVAL_LIMIT + 1, simulate: fast });
    expect(large.outputs.get('validate_payment')).toMatchObject({ approved: false });
    expect(large.errors.get('charge_payment')).toMatchObject({ name: 'PaymentDeclined', retryable: false });
    expect(large.attempts.get('charge_payment')).toBe(1);
  });

  it('name the field of a bad input', async () => {
    const run = await runLocally(definition, { amount: 'ten', simulate: fast });
    const error = run.errors.get('validate_payment');
    expect(error).toMatchObject({ name: 'InvalidInput', retryable: false });
    expect(error?.message).toContain('orderId');
    expect(error?.message).toContain('amount');
  });

  it('stop with the signal reason when the attempt is aborted', async () => {
    const controller = new AbortController();
    const check = handlers.get('check_payment');
    if (check === undefined) throw new Error('check_payment is not registered');
    const attempt = check(fakeContext({ taskId: 'validate_payment', input: { ...order, simulate: { delayMs: 60_000 } }, signal: controller.signal }));
    const reason = new TaskCancelled();
    controller.abort(reason);
    await expect(attempt).rejects.toBe(reason);
  });
});

describe('data_pipeline handlers', () => {
  const definition = dataPipeline.build({ knownHandlers });

  it('process the default partitions end to end', async () => {
    const run = await runLocally(definition, { simulate: fast });
    expect([...run.statuses.values()].every((status) => status === 'SUCCEEDED')).toBe(true);
    expect(run.outputs.get('transform_2')).toMatchObject({ partition: 2, count: 5, sum: 20 + 21 + 22 + 23 + 24 });
    expect(run.outputs.get('load')).toMatchObject({ table: 'analytics.events', rowsLoaded: 20 });
    // Values are 10 p + r for p < 4, r < 5: sum 4 * 10 + 10 * 5 * 6 = 340.
    expect(run.outputs.get('aggregate')).toEqual({ table: 'analytics.events', partitions: 4, rows: 20, sum: 340, mean: 17 });
  });

  it('skip the transforms of partitions the input does not have', async () => {
    const partitions = [
      [{ key: ' A ', value: 1.234 }],
      [
        { key: 'b', value: 2 },
        { key: 'C', value: 3 },
      ],
    ];
    const run = await runLocally(definition, { partitions, table: 't', simulate: fast });
    expect(run.statuses.get('transform_2')).toBe('SKIPPED');
    expect(run.statuses.get('transform_3')).toBe('SKIPPED');
    expect(run.outputs.get('transform_0')).toEqual({ partition: 0, rows: [{ key: 'a', value: 1.23 }], count: 1, sum: 1.23 });
    expect(run.outputs.get('aggregate')).toEqual({ table: 't', partitions: 2, rows: 3, sum: 6.23, mean: 2.08 });
  });

  it('refuse more partitions than the fan-out has transforms', async () => {
    const partitions = Array.from({ length: PIPELINE_PARTITIONS + 1 }, () => [{ key: 'k', value: 1 }]);
    const run = await runLocally(definition, { partitions, simulate: fast });
    expect(run.errors.get('extract')).toMatchObject({ name: 'InvalidInput', retryable: false });
  });

  it('read the partition from the task id', async () => {
    const transform = handlers.get('transform_partition');
    if (transform === undefined) throw new Error('transform_partition is not registered');
    const upstream = { extract: { output: { source: 's', partitions: [[{ key: 'x', value: 1 }]] } } };
    await expect(transform(fakeContext({ taskId: 'transform_0', input: { simulate: fast }, upstream }))).resolves.toMatchObject({
      partition: 0,
      count: 1,
    });
    await expect(transform(fakeContext({ taskId: 'cleanup', input: { simulate: fast }, upstream }))).rejects.toMatchObject({
      errorName: 'NotAPartitionTask',
      retryable: false,
    });
    await expect(transform(fakeContext({ taskId: 'transform_1', input: { simulate: fast }, upstream }))).rejects.toMatchObject({
      errorName: 'MissingPartition',
    });
  });
});
