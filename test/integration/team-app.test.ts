// The example team app (examples/team-app) as its team runs it: `npm start` there is
// `dagflow-local --app src/app.ts`, the package's own command, with the team's handlers and
// workflows and nothing of the repository's examples. Its runs go through the real local path
// (API -> DynamoDB Local -> stream -> scheduler -> SQS -> worker): handler params, upstream
// outputs, a non-retryable failure and the saga's compensation, and the handler build recorded.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient, startRunViaApi, waitForRun } from './e2e-support.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const TEAM_APP = join(REPO, 'examples', 'team-app');

let child: ChildProcess;
let output = '';
let api: ApiClient;

beforeAll(async () => {
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: '0', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };
  for (const name of Object.keys(env)) if (name.startsWith('npm_') || name === 'INIT_CWD' || name === 'LOG_LEVEL') delete env[name];
  // The command npm links for the package (node_modules/.bin/dagflow-local), as `npm start` runs it.
  child = spawn(join(REPO, 'node_modules', '.bin', 'dagflow-local'), ['--app', 'src/app.ts', '--in-memory'], {
    cwd: TEAM_APP,
    env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const ready = new Promise<string>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /API ready at (http:\/\/\S+)/.exec(output);
      if (match?.[1] !== undefined) resolve(match[1]);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`dagflow-local exited with ${code}: ${output}`)));
  });
  api = new ApiClient(await ready);
}, 90_000);

afterAll(() => {
  if (child.pid !== undefined && child.exitCode === null) process.kill(-child.pid, 'SIGTERM');
});

const input = (accountId: string, units: number) => ({
  accountId,
  month: '2026-11',
  usage: [
    { meter: 'api_calls', units },
    { meter: 'storage_gb', units: 40 },
  ],
});

describe('the example team app on the local engine', () => {
  it("registers the team's workflows and only those", async () => {
    expect(output).toMatch(/registered workflow monthly_invoice/);
    expect(output).toMatch(/registered workflow usage_report/);
    const { body } = await api.get('/workflows');
    expect(body.workflows.map((entry: { workflowId: string }) => entry.workflowId).sort()).toEqual(['monthly_invoice', 'usage_report']);
  });

  it('runs monthly_invoice to the end with the params of the definition and the upstream outputs', async () => {
    const runId = await startRunViaApi(api, 'monthly_invoice', input('acme', 100_000));
    const run = await waitForRun(api, runId);
    expect(run.status).toBe('COMPLETED');
    expect(run.handlerBuild).toBe('local');
    const byId = Object.fromEntries(run.tasks.map((task: any) => [task.taskId, task]));
    // 100,000 calls at 0.002 + 40 GB at 0.1, in EUR (price_usage's params).
    expect(byId.price_usage.output).toMatchObject({ currency: 'EUR', total: 204 });
    expect(byId.send_invoice.output).toMatchObject({ sentTo: 'billing+acme@example.com' });
    expect(byId.issue_invoice.output.invoiceId).toBe(byId.send_invoice.output.invoiceId);
  });

  it('fails an invoice over the limit for good and voids what was issued (the saga)', async () => {
    const runId = await startRunViaApi(api, 'monthly_invoice', input('acme', 10_000_000));
    const run = await waitForRun(api, runId);
    expect(run.status).toBe('FAILED');
    const send = run.tasks.find((task: any) => task.taskId === 'send_invoice');
    expect(send).toMatchObject({ status: 'FAILED', attempt: 1, error: { name: 'NeedsReview' } });
    const issued = run.tasks.find((task: any) => task.taskId === 'issue_invoice').output.invoiceId;
    expect(run.compensations).toEqual([expect.objectContaining({ taskId: 'issue_invoice', status: 'SUCCEEDED', output: { voided: issued } })]);
  });

  it('runs the JSON-form workflow with its own params for the same handler', async () => {
    const run = await waitForRun(api, await startRunViaApi(api, 'usage_report', input('acme', 1000)));
    expect(run.status).toBe('COMPLETED');
    // 1,000 calls at 0.0025 + 40 GB at 0.12, in USD.
    expect(run.tasks.find((task: any) => task.taskId === 'price_usage').output).toMatchObject({ currency: 'USD', total: 7.3 });
  });
});
