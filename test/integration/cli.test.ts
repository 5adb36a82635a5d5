// The dagflow CLI against the local engine, through the real path (HTTP -> api -> DynamoDB ->
// stream -> scheduler -> SQS -> worker): register a builder module and a JSON file, start with
// --wait (progress and the exit code of the run's outcome), describe, list, history, cancel and
// retry; logs (which says where the local engine's logs are) and the dashboard proxy in front of
// the local gateway; bad input is one line and exit 2, an API refusal one line and exit 1. One run goes
// through the command itself (tsx cli/dagflow.ts), the rest call its main() with captured output.
import { execFile } from 'node:child_process';
import { createServer as createHttpServer } from 'node:http';
import { writeFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT, main } from '../../cli/dagflow.js';
import type { LocalRuntime } from '../../local/runtime.js';
import { TaskFailure, type TaskContext } from '../../shared/index.js';
import { startRuntime } from './e2e-support.js';

let runtime: LocalRuntime;
let dir: string;
const gate = { broken: true };

beforeAll(async () => {
  ({ runtime } = await startRuntime({
    cli_flaky: async () => {
      if (gate.broken) throw new TaskFailure('Broken', 'the service said no', { retryable: false });
      return { ok: true };
    },
    cli_until_cancelled: (ctx: TaskContext) =>
      new Promise((_resolve, reject) => {
        ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason as Error), { once: true });
      }),
  }));
  dir = await mkdtemp(path.join(tmpdir(), 'dagflow-cli-'));
}, 120_000);

afterAll(async () => {
  await runtime?.stop();
});

/** Runs the CLI's main() on the local engine; returns its exit code and output lines. */
async function cli(...args: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, { out: (line) => out.push(line), err: (line) => err.push(line) }, { DAGFLOW_URL: runtime.apiUrl });
  return { code, out, err };
}

describe('dagflow CLI', () => {
  it('registers a builder module, checks a JSON file with --dry-run, and registers the same content once', async () => {
    const module = path.join(dir, 'greeting.ts');
    await writeFile(
      module,
      `import { workflow } from ${JSON.stringify(path.resolve('shared/index.js'))};\n` +
        `export const greeting = workflow('cli_greeting').task('hello', { type: 'pass' }).task('world', { type: 'pass', dependsOn: ['hello'] });\n`,
    );
    const first = await cli('register', module);
    expect(first).toMatchObject({ code: EXIT.ok, err: [] });
    expect(first.out[0]).toMatch(/^registered cli_greeting version [0-9a-f]{16}$/);
    expect((await cli('register', module)).out[0]).toMatch(/^already registered cli_greeting/);

    const file = path.join(dir, 'saga.json');
    await writeFile(file, JSON.stringify({ id: 'cli_saga', tasks: [{ id: 'step', handler: 'cli_flaky' }] }));
    const dry = await cli('register', file, '--dry-run');
    expect(dry.code).toBe(EXIT.ok);
    expect(JSON.parse(dry.out.join('\n'))).toMatchObject({ id: 'cli_saga', tasks: [{ id: 'step', handler: 'cli_flaky' }] });
    expect((await cli('list', 'cli_saga')).code).toBe(EXIT.error); // a dry run registers nothing
    expect((await cli('register', file)).code).toBe(EXIT.ok);
  });

  it('starts a run with --wait through the command itself: progress per task, exit 0 when it COMPLETED', async () => {
    const { stdout } = await promisify(execFile)(path.resolve('node_modules/.bin/tsx'), ['cli/dagflow.ts', 'start', 'cli_greeting', '--input', '{"name":"ada"}', '--wait'], {
      env: { ...process.env, DAGFLOW_URL: runtime.apiUrl },
    });
    const lines = stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^started run [0-9a-f-]{36} of cli_greeting$/);
    expect(lines.some((line) => /hello\s+SUCCEEDED/.test(line))).toBe(true);
    expect(lines.some((line) => /world\s+SUCCEEDED/.test(line))).toBe(true);
    expect(lines.at(-1)).toMatch(/^run [0-9a-f-]{36} COMPLETED$/);
  });

  it('exits 3 for a run that FAILED, shows it with describe, list and history, and resumes it with retry --wait', async () => {
    gate.broken = true;
    const failed = await cli('start', 'cli_saga', '--wait', '--idempotency-key', 'cli-saga-1');
    expect(failed.code).toBe(EXIT.failed);
    const runId = /run ([0-9a-f-]{36})/.exec(failed.out[0] ?? '')?.[1] ?? '';
    expect(failed.out.at(-1)).toContain(`run ${runId} FAILED`);
    // The same key again gives the same run.
    expect((await cli('start', 'cli_saga', '--idempotency-key', 'cli-saga-1')).out[0]).toBe(`already started (same Idempotency-Key) run ${runId} of cli_saga`);

    const described = await cli('describe', runId);
    expect(described.out[0]).toBe(`run ${runId}  FAILED`);
    expect(described.out.some((line) => /step\s+FAILED\s.*Broken: the service said no/.test(line)), described.out.join('\n')).toBe(true);
    expect((await cli('list', 'cli_saga', '--status', 'failed')).out.some((line) => line.startsWith(`${runId}  FAILED`))).toBe(true);
    const history = await cli('history', runId);
    expect(history.out.some((line) => /TaskFailed\s+step/.test(line))).toBe(true);
    expect(history.out.some((line) => /RunFailed/.test(line))).toBe(true);

    gate.broken = false;
    const resumed = await cli('retry', runId, '--wait');
    expect(resumed.code).toBe(EXIT.ok);
    expect(resumed.out.at(-1)).toBe(`run ${runId} COMPLETED`);
    expect((await cli('describe', runId, '--json')).out.join('\n')).toContain('"status": "COMPLETED"');
  });

  it('cancels a run: its running task sees the signal, and start --wait on it exits 4', async () => {
    expect((await cli('register', writeJson('cli_stoppable.json', { id: 'cli_stoppable', tasks: [{ id: 'long', handler: 'cli_until_cancelled' }] }))).code).toBe(EXIT.ok);
    const waiting = cli('start', 'cli_stoppable', '--wait');
    let runId: string | undefined;
    while (runId === undefined) {
      const listed = await cli('list', 'cli_stoppable', '--status', 'running', '--json');
      runId = (JSON.parse(listed.out.join('\n')) as { runs: Array<{ runId: string }> }).runs[0]?.runId;
      if (runId === undefined) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    while (!(await cli('describe', runId)).out.some((line) => /long\s+RUNNING/.test(line))) await new Promise((resolve) => setTimeout(resolve, 100));
    expect((await cli('cancel', runId)).out).toEqual([`run ${runId} is CANCELLING`]);
    const followed = await waiting;
    expect(followed.code).toBe(EXIT.cancelled);
    expect(followed.out.some((line) => /long\s+CANCELLED/.test(line))).toBe(true);
    expect(followed.out.at(-1)).toMatch(new RegExp(`^run ${runId} CANCELLED`));
  });

  it('says what is wrong in one line: a bad command (exit 2), bad JSON input (exit 2), an unknown workflow (exit 1), no engine (exit 1)', async () => {
    expect(await cli('launch', 'x')).toMatchObject({ code: EXIT.usage, err: ['dagflow: unknown command "launch"', 'run "dagflow help" for the commands'] });
    expect((await cli('start', 'cli_saga', '--input', '{nope')).err[0]).toMatch(/^dagflow: --input is not valid JSON/);
    expect((await cli('describe')).code).toBe(EXIT.usage);
    const unknown = await cli('start', 'no_such_workflow');
    expect(unknown).toMatchObject({ code: EXIT.error, err: ['dagflow: 404 NOT_FOUND: workflow "no_such_workflow" not found'] });
    const invalid = await cli('register', writeJson('bad.json', { id: 'cli_bad', tasks: [{ id: 'a', type: 'pass', dependsOn: ['missing'] }] }));
    expect(invalid.code).toBe(EXIT.error);
    expect(invalid.err).toHaveLength(1);
    expect(invalid.err[0]).toMatch(/workflow cli_bad is not valid: .*missing/);
    const closed = await freePort();
    const offline = await main(['describe', 'r-1', '--url', `http://127.0.0.1:${closed}`], { out: () => {}, err: (line) => expect(line).toBe(`dagflow: cannot reach http://127.0.0.1:${closed}: ECONNREFUSED`) });
    expect(offline).toBe(EXIT.error);
  });
});

describe('dagflow logs and dashboard on the local engine', () => {
  it('logs says in one line where the local engine prints its logs; dashboard serves the page and the API through its proxy', async () => {
    const started = await cli('start', 'cli_greeting', '--wait');
    const runId = /run ([0-9a-f-]{36})/.exec(started.out[0] ?? '')?.[1] ?? '';
    const logs = await cli('logs', runId);
    expect(logs).toMatchObject({ code: EXIT.ok, out: [] });
    expect(logs.err).toEqual([expect.stringMatching(/^dagflow: http:\/\/127\.0\.0\.1:\d+ is not a deployed stack, and the local engine keeps no logs: they are printed in the terminal running `npm start`/)]);

    const out: string[] = [];
    const stop = new AbortController();
    const exit = main(['dashboard', '--port', '0'], { out: (line) => out.push(line), err: (line) => out.push(line) }, { DAGFLOW_URL: runtime.apiUrl }, stop.signal);
    while (out.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    const proxy = /^dashboard: (http:\/\/127\.0\.0\.1:\d+)\/ -> /.exec(out[0] ?? '')?.[1] ?? '';
    try {
      const page = await fetch(`${proxy}/`);
      expect(page.headers.get('content-type')).toMatch(/^text\/html/);
      expect(await page.text()).toContain('<title>dagflow</title>');
      // The local gateway takes the proxied request as its own host's.
      const run = (await (await fetch(`${proxy}/runs/${runId}`)).json()) as { status: string };
      expect(run.status).toBe('COMPLETED');
    } finally {
      stop.abort();
      expect(await exit).toBe(EXIT.ok);
    }
  });
});

describe('dagflow CLI against a deployed stack', () => {
  it('signs its requests with SigV4, with credentials from the AWS credential chain (here: the environment)', async () => {
    const seen: Array<Record<string, string | string[] | undefined>> = [];
    const server = createHttpServer((request, response) => {
      seen.push(request.headers);
      response.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'NOT_FOUND', message: 'run "r-1" not found' } }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const saved = { ...process.env };
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'secret', AWS_SESSION_TOKEN: 'token-1', AWS_REGION: 'eu-west-1' });
    try {
      const errors: string[] = [];
      const code = await main(['describe', 'r-1', '--url', `http://127.0.0.1:${port}`, '--sign'], { out: () => {}, err: (line) => errors.push(line) });
      expect({ code, errors }).toEqual({ code: EXIT.error, errors: ['dagflow: 404 NOT_FOUND: run "r-1" not found'] });
      expect(seen).toHaveLength(1);
      expect(seen[0]?.['authorization']).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/eu-west-1\/execute-api\/aws4_request, SignedHeaders=[a-z;-]*host[a-z;-]*, Signature=[0-9a-f]{64}$/);
      expect(seen[0]?.['x-amz-security-token']).toBe('token-1');
      // Without --sign, a local URL is not signed.
      await main(['describe', 'r-1', '--url', `http://127.0.0.1:${port}`], { out: () => {}, err: () => {} });
      expect(seen[1]?.['authorization']).toBeUndefined();
      // --stack finds the URL in the stack's outputs.
      const cloudFormation = mockClient(CloudFormationClient);
      cloudFormation.on(DescribeStacksCommand, { StackName: 'DagflowDev' }).resolves({
        Stacks: [{ StackName: 'DagflowDev', CreationTime: new Date(), StackStatus: 'CREATE_COMPLETE', Outputs: [{ OutputKey: 'ApiUrl', OutputValue: `http://127.0.0.1:${port}/` }] }],
      });
      try {
        expect(await main(['describe', 'r-2', '--stack', 'DagflowDev'], { out: () => {}, err: () => {} })).toBe(EXIT.error);
        expect(seen).toHaveLength(3);
      } finally {
        cloudFormation.restore();
      }
      expect((await cli('describe', 'r-3', '--stack', 'A', '--url', 'http://x')).err[0]).toBe('dagflow: give --url or --stack, not both');
    } finally {
      process.env = saved;
      server.close();
    }
  });
});

/** A port nothing listens on: one the system just gave out and took back. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function writeJson(name: string, value: unknown): string {
  const file = path.join(dir, name);
  writeFileSync(file, JSON.stringify(value));
  return file;
}
