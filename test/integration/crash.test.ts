// A worker killed mid-task (a separate process, SIGKILL) leaves a lease behind; the sweeper
// expires it, the task runs again on another worker and the run completes; the dead worker's
// late commit (a zombie's) is refused.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalRuntime, type LocalRuntime } from '../../local/runtime.js';
import { handlers as exampleHandlers } from '../../workflows/index.js';
import { ApiClient, register, startRunViaApi, waitForRun } from './e2e-support.js';
import { crashTestHandlers } from './fixtures/crash-handlers.js';

const LEASE_GRACE_SECONDS = 1;
let runtime: LocalRuntime;
let api: ApiClient;
const children: ChildProcess[] = [];

beforeAll(async () => {
  runtime = await startLocalRuntime({
    port: 0,
    handlers: new Map([...exampleHandlers, ...crashTestHandlers]),
    logLevel: 'SILENT',
    workerConcurrency: 0,
    sweepIntervalMs: 300,
    leaseGraceSeconds: LEASE_GRACE_SECONDS,
  });
  api = new ApiClient(runtime.apiUrl);
}, 120_000);

afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  await runtime?.stop();
});

/** Starts a worker process on the runtime's queue; resolves once it polls. */
async function startWorkerProcess(): Promise<ChildProcess> {
  const script = fileURLToPath(new URL('./fixtures/worker-process.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    env: {
      ...process.env,
      DYNAMODB_ENDPOINT: runtime.dynamoEndpoint,
      SQS_ENDPOINT: runtime.sqsEndpoint,
      TABLE_NAME: runtime.tableName,
      TASK_QUEUE_URL: runtime.taskQueueUrl,
      LEASE_GRACE_SECONDS: String(LEASE_GRACE_SECONDS),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('worker process did not start')), 30_000);
    child.stdout?.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('worker ready')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => reject(new Error(`worker process exited with ${code}`)));
  });
  return child;
}

describe('a worker killed mid-task', () => {
  it('has its lease expired by the sweeper; the task runs again elsewhere and the run completes', async () => {
    const first = await startWorkerProcess();
    const { workflowId } = await register(api, {
      id: 'crashy',
      tasks: [
        {
          id: 't',
          handler: 'hang_first_attempt',
          timeoutSeconds: 60,
          heartbeatSeconds: 2,
          retry: { maxRetries: 2, initialDelaySeconds: 0 },
        },
        { id: 'after', type: 'pass', dependsOn: ['t'] },
      ],
    });
    const runId = await startRunViaApi(api, workflowId);

    const deadline = Date.now() + 30_000;
    let running = await runtime.engine.store.tasks.getTask(runId, 't');
    while (running?.status !== 'RUNNING') {
      if (Date.now() > deadline) throw new Error('the first worker never claimed the task');
      await new Promise((resolve) => setTimeout(resolve, 50));
      running = await runtime.engine.store.tasks.getTask(runId, 't');
    }
    const zombie = { leaseToken: running.leaseToken ?? '', startedAt: running.startedAt ?? '' };
    first.kill('SIGKILL');
    await new Promise((resolve) => first.once('exit', resolve));

    const second = await startWorkerProcess();
    const run = await waitForRun(api, runId, 60_000);
    expect(run.status).toBe('COMPLETED');
    const task = run.tasks.find((t: { taskId: string }) => t.taskId === 't');
    expect(task).toMatchObject({ status: 'SUCCEEDED', attempt: 2, output: { attempt: 2, pid: second.pid } });

    const events = (await api.get(`/runs/${runId}/history`)).body.events.filter((e: { taskId?: string }) => e.taskId === 't');
    expect(events.map((e: { type: string; attempt: number }) => `${e.type}:${e.attempt}`)).toEqual([
      'TaskStarted:1',
      'TaskTimedOut:1',
      'TaskStarted:2',
      'TaskSucceeded:2',
    ]);

    // The killed worker's commit, had it come late, is refused and changes nothing.
    const late = await runtime.engine.store.tasks.finish({
      runId,
      taskId: 't',
      attempt: 1,
      fence: { kind: 'lease', leaseToken: zombie.leaseToken },
      record: { attempt: 1, phase: 0, startedAt: zombie.startedAt, completedAt: new Date().toISOString(), durationMs: 1, outcome: 'SUCCEEDED' },
      keptAttempts: [],
      opToken: 'zombie',
      result: { status: 'SUCCEEDED', output: { zombie: true } },
    });
    expect(late.outcome).toBe('stale');
    expect((await runtime.engine.store.tasks.getTask(runId, 't'))?.output).toEqual({ attempt: 2, pid: second.pid });
    expect((await runtime.engine.store.runs.getRun(runId))?.doneGroups).toEqual(['0']);
  }, 120_000);
});
