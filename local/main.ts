// `npm start`: the whole engine on one machine (docs/architecture.md). Starts the local runtime,
// registers the example workflows (without moving a workflow's latest version back to them),
// prints the ready line, then starts one demo order run, prints its progress task by task and a
// link to it on the dashboard page. Ctrl-C or SIGTERM stops every child process.
//
//   npm start [-- --in-memory] [-- --data-dir <path>] [-- --no-demo]     (PORT=3000 by default)
//
// --data-dir is taken relative to the directory the command was run in; by default the data is
// kept in the repository's .local-data/dynamodb. One engine at a time may use a data directory.
import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ValidationError } from '../shared/model/errors.js';
import { exampleWorkflows, handlers } from '../workflows/index.js';
import { DataDirLockedError, JavaMissingError } from './dynamodb-local.js';
import { startLocalRuntime, type LocalRuntime } from './runtime.js';

/** The repository's .local-data/dynamodb (gitignored), wherever the command is run from. */
const DEFAULT_DATA_DIR = fileURLToPath(new URL('../.local-data/dynamodb', import.meta.url));

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'in-memory': { type: 'boolean', default: false },
      'data-dir': { type: 'string', default: DEFAULT_DATA_DIR },
      'no-demo': { type: 'boolean', default: false },
    },
  });
  const port = parsePort(process.env['PORT'] ?? '3000');
  const dataDir = values['in-memory'] ? undefined : absoluteDataDir(values['data-dir']);

  const runtime = await startLocalRuntime({
    port,
    ...(dataDir === undefined ? {} : { dataDir }),
    handlers,
    logLevel: (process.env['LOG_LEVEL'] as 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | undefined) ?? 'WARN',
    onError: (source, error) => console.error(`[${source}]`, error instanceof Error ? error.message : error),
  });
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${signal}: stopping DynamoDB Local, the SQS server and the pollers...`);
    runtime.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));

  for (const builder of exampleWorkflows) {
    const definition = builder.build({ knownHandlers: new Set(handlers.keys()) });
    // A restart must not make this version the latest again if a newer one was registered since.
    const { version, created } = await runtime.engine.store.definitions.saveDefinition(definition, { makeLatest: 'if-created' });
    const tasks = `${definition.tasks.length} tasks`;
    if (created) {
      console.log(`registered workflow ${definition.id} (version ${version}, ${tasks})`);
      continue;
    }
    const latest = (await runtime.engine.store.definitions.getWorkflow(definition.id))?.latestVersion;
    const latestNote = latest === undefined || latest === version ? '' : `; the latest version is ${latest}, which stays the latest`;
    console.log(`workflow ${definition.id} already registered (version ${version}, ${tasks})${latestNote}`);
  }
  console.log(`data: ${dataDir === undefined ? 'in memory (gone when stopped)' : dataDir}`);
  const { recovered } = runtime;
  if (recovered !== undefined && recovered.resent + recovered.expiredLeases + recovered.released > 0) {
    console.log(
      `resumed interrupted work: ${recovered.resent} queued task(s) sent again, ${recovered.expiredLeases} running attempt(s) ` +
        `taken for crashed, ${recovered.released} wait(s) re-armed`,
    );
  }
  console.log(`API ready at ${runtime.apiUrl}`);

  if (!values['no-demo']) await demoRun(runtime);
}

/** Starts one order through the API and prints each task's progress with its timing. */
async function demoRun(runtime: LocalRuntime): Promise<void> {
  const started = Date.now();
  const response = await fetch(`${runtime.apiUrl}/runs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      workflowId: 'order_processing',
      input: { orderId: 'demo-1', amount: 42, currency: 'EUR', customer: { email: 'demo@example.com' } },
    }),
  });
  const { runId } = (await response.json()) as { runId: string };
  console.log(`demo: started order_processing run ${runId}`);
  const seen = new Map<string, string>();
  for (;;) {
    const run = (await (await fetch(`${runtime.apiUrl}/runs/${runId}`)).json()) as {
      status: string;
      tasks: Array<{ taskId: string; status: string; attempt: number; durationMs?: number }>;
    };
    for (const task of run.tasks) {
      if (seen.get(task.taskId) === task.status) continue;
      seen.set(task.taskId, task.status);
      const timing = task.durationMs === undefined ? '' : ` in ${task.durationMs} ms`;
      const attempt = task.attempt > 1 ? ` (attempt ${task.attempt})` : '';
      console.log(`demo: +${String(Date.now() - started).padStart(5)} ms  ${task.taskId.padEnd(18)} ${task.status}${timing}${attempt}`);
    }
    if (['COMPLETED', 'FAILED', 'CANCELLED'].includes(run.status)) {
      const page = `${runtime.apiUrl}/#workflow=${encodeURIComponent('order_processing')}&run=${encodeURIComponent(runId)}`;
      console.log(`demo: run ${runId} ${run.status} in ${Date.now() - started} ms; see ${page}`);
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * --data-dir as an absolute path (DynamoDB Local runs in its package's folder, where a relative
 * path would point). Relative to where the user ran the command: under `npm start`, npm has moved
 * to the package's folder and left the user's directory in INIT_CWD.
 */
function absoluteDataDir(dir: string): string {
  if (isAbsolute(dir)) return dir;
  const initCwd = process.env['INIT_CWD'];
  const base = process.env['npm_lifecycle_event'] === 'start' && initCwd !== undefined && initCwd !== '' ? initCwd : process.cwd();
  return resolve(base, dir);
}

function parsePort(raw: string): number {
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new ValidationError([{ path: 'PORT', message: `PORT must be a port number, not "${raw}"` }]);
  }
  return port;
}

main().catch((error: unknown) => {
  if (error instanceof JavaMissingError || error instanceof ValidationError || error instanceof DataDirLockedError) {
    console.error(error.message);
  } else if (error instanceof Error && 'code' in error && error.code === 'EADDRINUSE') {
    console.error(`port ${process.env['PORT'] ?? '3000'} is in use: set PORT to a free port, e.g. PORT=3001 npm start`);
  } else {
    console.error('npm start failed:', error instanceof Error ? error.message : error);
  }
  process.exit(1);
});
