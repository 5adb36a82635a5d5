// `npm start` (local/main.ts) as a user runs it, in a process of its own: a relative --data-dir,
// the demo's link to the dashboard page, data across a restart, the start-up registration leaving
// a newer latest version alone, no DynamoDB Local (java) left behind when the engine is SIGKILLed,
// and a second engine on the same data directory refused.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const MAIN = join(REPO, 'local', 'main.ts');
// The loader tsx's CLI uses, by path: the engine runs in directories without node_modules.
const TSX = pathToFileURL(join(REPO, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;
const hasProc = existsSync('/proc/self/cmdline');

interface Engine {
  child: ChildProcess;
  output: () => string;
  /** Resolves with the first match of `pattern` in the output; rejects on exit or timeout. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const engines: Engine[] = [];
const tempDirs: string[] = [];

afterEach(async () => {
  for (const engine of engines.splice(0)) {
    if (engine.child.exitCode === null && engine.child.signalCode === null) killGroup(engine.child, 'SIGKILL');
  }
  for (const dir of tempDirs.splice(0)) {
    // Whatever a failing test left running on this directory.
    for (const pid of javaPidsUsing(dir)) killPid(pid);
    await rm(dir, { recursive: true, force: true });
  }
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'dagflow-main-'));
  tempDirs.push(dir);
  return dir;
}

/** Starts main.ts as `npm start` would, in its own process group, on a free API port. */
function startEngine(args: string[], cwd: string): Engine {
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: '0', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };
  for (const name of Object.keys(env)) if (name.startsWith('npm_') || name === 'INIT_CWD' || name === 'LOG_LEVEL') delete env[name];
  const child = spawn(process.execPath, ['--import', TSX, MAIN, ...args], { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  const listeners = new Set<() => void>();
  const onOutput = (chunk: Buffer) => {
    text += chunk.toString();
    for (const listener of listeners) listener();
  };
  child.stdout?.on('data', onOutput);
  child.stderr?.on('data', onOutput);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const engine: Engine = {
    child,
    output: () => text,
    exited,
    waitFor: (pattern, timeoutMs = 90_000) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const match = pattern.exec(text);
          if (match === null) return false;
          finish();
          resolve(match);
          return true;
        };
        const timer = setTimeout(() => {
          finish();
          reject(new Error(`no ${pattern} after ${timeoutMs} ms; output:\n${text}`));
        }, timeoutMs);
        const finish = () => {
          clearTimeout(timer);
          listeners.delete(onChange);
        };
        const onChange = () => void check();
        if (check()) return;
        listeners.add(onChange);
        void exited.then(({ code, signal }) => {
          // Output can arrive just before 'exit': look once more.
          if (check()) return;
          finish();
          reject(new Error(`exited (${code ?? signal}) before ${pattern}; output:\n${text}`));
        });
      }),
  };
  engines.push(engine);
  return engine;
}

async function apiUrlOf(engine: Engine): Promise<string> {
  const [, url] = await engine.waitFor(/API ready at (http:\/\/127\.0\.0\.1:\d+)/);
  return url ?? '';
}

async function stopEngine(engine: Engine): Promise<number | null> {
  engine.child.kill('SIGTERM');
  const { code } = await engine.exited;
  return code;
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    process.kill(-(child.pid ?? 0), signal);
  } catch {
    child.kill(signal);
  }
}

function killPid(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // Gone already.
  }
}

/** Java processes (DynamoDB Local) whose command line names `dir`. */
function javaPidsUsing(dir: string): number[] {
  if (!hasProc) return [];
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    const args = cmdline.split('\0');
    if (/(^|\/)java$/.test(args[0] ?? '') && args.some((arg) => arg.startsWith(dir))) pids.push(Number(entry));
  }
  return pids;
}

async function until(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return true;
}

describe('npm start (local/main.ts)', () => {
  it('runs on a relative --data-dir, links the demo run on the dashboard page, and keeps the data across a restart', async () => {
    const cwd = await tempDir();
    const dataDir = join(cwd, 'data');
    const first = startEngine(['--data-dir', 'data'], cwd);
    const apiUrl = await apiUrlOf(first);
    expect(first.output()).toContain(`data: ${dataDir}\n`);
    expect(first.output()).toMatch(/^registered workflow order_processing \(version [0-9a-f]{16}, 5 tasks\)$/m);
    const [, runId, link] = await first.waitFor(/^demo: run (\S+) COMPLETED in \d+ ms; see (\S+)$/m);
    expect(link).toBe(`${apiUrl}/#workflow=order_processing&run=${runId}`);
    // The page answers at that address.
    expect((await fetch(link ?? '')).headers.get('content-type')).toMatch(/^text\/html/);
    expect(existsSync(join(dataDir, 'shared-local-instance.db'))).toBe(true);
    expect(existsSync(join(dataDir, 'engine.lock'))).toBe(true);
    expect(await stopEngine(first)).toBe(0);
    expect(existsSync(join(dataDir, 'engine.lock'))).toBe(false);

    const second = startEngine(['--no-demo', '--data-dir', 'data'], cwd);
    const secondUrl = await apiUrlOf(second);
    expect(second.output()).toMatch(/^workflow order_processing already registered \(version [0-9a-f]{16}, 5 tasks\)$/m);
    expect(second.output()).not.toContain('demo:');
    const run = (await (await fetch(`${secondUrl}/runs/${runId}`)).json()) as { status: string };
    expect(run.status).toBe('COMPLETED');
    expect(await stopEngine(second)).toBe(0);
  }, 180_000);

  it('does not make the code version of a workflow the latest again when a newer one was registered', async () => {
    const dataDir = join(await tempDir(), 'data');
    const first = startEngine(['--no-demo', '--data-dir', dataDir], REPO);
    const apiUrl = await apiUrlOf(first);
    const [, codeVersion] = /^registered workflow order_processing \(version (\w+)/m.exec(first.output()) ?? [];
    const current = (await (await fetch(`${apiUrl}/workflows/order_processing`)).json()) as { definition: Record<string, unknown> };
    const posted = await fetch(`${apiUrl}/workflows`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...current.definition, description: 'registered through the API after the code version' }),
    });
    expect(posted.status).toBe(201);
    const { version: newer } = (await posted.json()) as { version: string };
    expect(newer).not.toBe(codeVersion);
    expect(await stopEngine(first)).toBe(0);

    const second = startEngine(['--no-demo', '--data-dir', dataDir], REPO);
    const secondUrl = await apiUrlOf(second);
    expect(second.output()).toContain(
      `workflow order_processing already registered (version ${codeVersion}, 5 tasks); the latest version is ${newer}, which stays the latest\n`,
    );
    const after = (await (await fetch(`${secondUrl}/workflows/order_processing`)).json()) as { version: string };
    expect(after.version).toBe(newer);
    expect(await stopEngine(second)).toBe(0);
  }, 180_000);

  it.skipIf(!hasProc)('leaves no DynamoDB Local behind when killed with SIGKILL, and the next start takes over its lock', async () => {
    const dataDir = join(await tempDir(), 'data');
    const first = startEngine(['--no-demo', '--data-dir', dataDir], REPO);
    await apiUrlOf(first);
    expect(javaPidsUsing(dataDir)).not.toEqual([]);

    killGroup(first.child, 'SIGKILL');
    expect(await first.exited).toEqual({ code: null, signal: 'SIGKILL' });
    const gone = await until(() => javaPidsUsing(dataDir).length === 0, 8_000);
    expect(gone, `java still running: ${javaPidsUsing(dataDir).join(', ')}`).toBe(true);
    // Its lock is left behind, naming a dead process: stale, so the next engine takes it over.
    expect(existsSync(join(dataDir, 'engine.lock'))).toBe(true);

    const second = startEngine(['--no-demo', '--data-dir', dataDir], REPO);
    await apiUrlOf(second);
    expect(await stopEngine(second)).toBe(0);
    expect(javaPidsUsing(dataDir)).toEqual([]);
  }, 180_000);

  it('refuses a second engine on the same data directory, naming the lock file', async () => {
    const dataDir = join(await tempDir(), 'data');
    const first = startEngine(['--no-demo', '--data-dir', dataDir], REPO);
    const apiUrl = await apiUrlOf(first);

    const second = startEngine(['--no-demo', '--data-dir', dataDir], REPO);
    const outcome = await Promise.race([
      second.exited.then((exit) => ({ ...exit, ready: false })),
      second.waitFor(/API ready at/).then(() => ({ code: null, signal: null, ready: true })),
    ]);
    expect(outcome.ready, second.output()).toBe(false);
    expect(outcome.code).toBe(1);
    expect(second.output()).toContain(`data directory ${dataDir} is in use by another engine (pid ${first.child.pid}`);
    expect(second.output()).toContain(join(dataDir, 'engine.lock'));

    // The first engine is untouched.
    expect((await fetch(`${apiUrl}/workflows`)).status).toBe(200);
    expect(await stopEngine(first)).toBe(0);
  }, 180_000);
});
