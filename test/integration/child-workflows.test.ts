// Child workflows through the real local path (HTTP -> api -> DynamoDB Local -> stream ->
// scheduler -> SQS -> worker): a workflow task starts a run of another workflow with a templated
// input, waits for it holding no worker, and takes its output; the API links parent and child
// both ways; the child's failure is the task's (retried by its policy, each attempt a new child);
// cancelling the parent cancels the child; a pinned version is kept.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalRuntime } from '../../local/runtime.js';
import type { TaskContext } from '../../shared/tasks/context.js';
import { type ApiClient, register, startRuntime, startRunViaApi, waitForRun } from './e2e-support.js';

let runtime: LocalRuntime;
let api: ApiClient;
const errors: unknown[] = [];

beforeAll(async () => {
  ({ runtime, api } = await startRuntime(
    { double: async (ctx: TaskContext) => ({ doubled: 2 * Number((ctx.input as { n: number }).n) }) },
    (source, error) => errors.push({ source, error }),
    { sweepIntervalMs: 250 },
  ));
});

afterAll(async () => {
  await runtime?.stop();
});

const task = (run: { tasks: Array<{ taskId: string }> }, taskId: string): any => run.tasks.find((t) => t.taskId === taskId);

/** A parent whose `sub` task runs `child` with `n` from upstream. */
function parent(id: string, child: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return {
    id,
    tasks: [
      { id: 'prepare', type: 'pass', output: { n: 21 } },
      { id: 'sub', type: 'workflow', dependsOn: ['prepare'], workflow: { input: { n: '{{upstream.prepare.output.n}}', note: 'from {{input.who}}' }, ...child }, ...extra },
      { id: 'after', type: 'pass', dependsOn: ['sub'], output: 'done' },
    ],
  };
}

async function childOf(runId: string): Promise<any> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const { body } = await api.get(`/runs/${runId}`);
    const id = task(body, 'sub')?.childRunId as string | undefined;
    if (id !== undefined) {
      const child = await api.get(`/runs/${id}`);
      if (child.status === 200) return child.body;
    }
    if (Date.now() > deadline) throw new Error(`no child run for ${runId}: ${JSON.stringify(body.tasks)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('child workflows, through the local runtime', () => {
  it('run the child with the templated input, take its output, and link parent and child both ways', async () => {
    await register(api, {
      id: 'cw_child',
      tasks: [
        { id: 'double', handler: 'double' },
        { id: 'echo', type: 'pass' },
        { id: 'label', type: 'pass', dependsOn: ['double'], output: { label: 'doubled' } },
      ],
    });
    await register(api, parent('cw_parent', { id: 'cw_child' }));
    const runId = await startRunViaApi(api, 'cw_parent', { who: 'ops' });
    const run = await waitForRun(api, runId);
    expect(run.status).toBe('COMPLETED');

    const sub = task(run, 'sub');
    // The child's output: its leaves (echo, label) by id; `double` feeds `label`, so it is not one.
    expect(sub.output).toEqual({ echo: { n: 21, note: 'from ops' }, label: { label: 'doubled' } });
    expect(task(run, 'after').status).toBe('SUCCEEDED');
    const child = (await api.get(`/runs/${sub.childRunId}`)).body;
    expect(child).toMatchObject({ workflowId: 'cw_child', status: 'COMPLETED', parentRunId: runId, parentTaskId: 'sub', input: { n: 21, note: 'from ops' } });
    expect(child.output).toEqual(sub.output);
    expect(task(child, 'double').output).toEqual({ doubled: 42 });
    // The parent's own output, and no token anywhere in what the API shows.
    expect(run.output).toEqual({ after: 'done' });
    expect(JSON.stringify(child)).not.toContain('token');
  });

  it("fail with the child's failure, retried by the task's policy with a new child each attempt", async () => {
    await register(api, { id: 'cw_failing', tasks: [{ id: 'boom', type: 'fail', error: 'OutOfStock', message: 'none left' }] });
    await register(api, parent('cw_parent_fail', { id: 'cw_failing' }, { retry: { maxRetries: 1, initialDelaySeconds: 0 } }));
    const runId = await startRunViaApi(api, 'cw_parent_fail', { who: 'ops' });
    const run = await waitForRun(api, runId);
    expect(run.status).toBe('FAILED');
    const sub = task(run, 'sub');
    expect(sub).toMatchObject({ status: 'FAILED', attempt: 2, error: { name: 'ChildWorkflowFailed' } });
    expect(sub.error.message).toContain('task boom failed');
    expect(task(run, 'after').status).toBe('SKIPPED');
    const children = (await api.get('/runs?workflowId=cw_failing')).body.runs as Array<{ runId: string; status: string }>;
    expect(children.map((c) => c.status)).toEqual(['FAILED', 'FAILED']);
    expect(children.map((c) => c.runId)).toContain(sub.childRunId);
  });

  it('cancel the child when the parent is cancelled', async () => {
    await register(api, { id: 'cw_slow', tasks: [{ id: 'sleep', type: 'wait', seconds: 300 }] });
    await register(api, parent('cw_parent_cancel', { id: 'cw_slow' }));
    const runId = await startRunViaApi(api, 'cw_parent_cancel', { who: 'ops' });
    const child = await childOf(runId);
    expect(child.status).toBe('RUNNING');
    const waiting = task((await api.get(`/runs/${runId}`)).body, 'sub');
    expect(waiting.why).toMatchObject({ code: 'waiting_for_child', childRunId: child.runId });

    expect((await api.post(`/runs/${runId}/cancel`)).status).toBe(202);
    expect((await waitForRun(api, runId)).status).toBe('CANCELLED');
    const ended = await waitForRun(api, child.runId);
    expect(ended.status).toBe('CANCELLED');
    expect(task(ended, 'sleep').status).toBe('CANCELLED');
  });

  it('keep a pinned version, and fail for good on an unknown workflow', async () => {
    const v1 = await register(api, { id: 'cw_versioned', tasks: [{ id: 'v', type: 'pass', output: 'one' }] });
    await register(api, { id: 'cw_versioned', tasks: [{ id: 'v', type: 'pass', output: 'two' }] });
    await register(api, parent('cw_parent_pinned', { id: 'cw_versioned', version: v1.version }));
    const pinned = await waitForRun(api, await startRunViaApi(api, 'cw_parent_pinned', { who: 'ops' }));
    expect(task(pinned, 'sub').output).toEqual({ v: 'one' });

    await register(api, parent('cw_parent_missing', { id: 'cw_nowhere' }, { retry: { maxRetries: 3, initialDelaySeconds: 0 } }));
    const missing = await waitForRun(api, await startRunViaApi(api, 'cw_parent_missing', { who: 'ops' }));
    expect(task(missing, 'sub')).toMatchObject({ status: 'FAILED', attempt: 1, error: { name: 'ChildWorkflowNotFound' } });
    expect(errors).toEqual([]);
  });
});
