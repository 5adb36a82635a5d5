// `npm start`: the whole engine on one machine (docs/architecture.md). Starts the local runtime,
// registers the app's workflows (without moving a workflow's latest version back to them),
// prints the ready line, then starts one demo order run, prints its progress task by task and a
// link to it on the dashboard page. Ctrl-C or SIGTERM stops every child process.
//
//   npm start [-- --in-memory] [-- --data-dir <path>] [-- --no-demo]     (PORT=3000 by default)
//   npx dagflow-local --app <module> [--in-memory] [--data-dir <path>]  (a team's own app)
//
// The app is the repository's examples (workflows/index.ts) unless --app names a team's module
// (local/app-module.ts says what it exports; relative to the working directory, which for a
// package.json script is its package's folder); a team's app gets no demo run. --data-dir is
// taken relative to the directory the command was run in; by default the data is kept in the
// repository's .local-data/dynamodb for the examples and in .dagflow-data/ of the working
// directory for an --app. One engine at a time may use a data directory.
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ValidationError } from '../shared/model/errors.js';
import { handlers as exampleHandlers, workflows as exampleWorkflows } from '../workflows/index.js';
import { buildDefinitions } from '../shared/model/builder.js';
import { loadAppModule, type LoadedApp } from './app-module.js';
import { DataDirLockedError, JavaMissingError } from './dynamodb-local.js';
import { startLocalRuntime, type LocalRuntime } from './runtime.js';

/** The repository's .local-data/dynamodb (gitignored), wherever the command is run from. */
const DEFAULT_DATA_DIR = fileURLToPath(new URL('../.local-data/dynamodb', import.meta.url));

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'in-memory': { type: 'boolean', default: false },
      'data-dir': { type: 'string' },
      'no-demo': { type: 'boolean', default: false },
      app: { type: 'string' },
    },
  });
  const port = parsePort(process.env['PORT'] ?? '3000');
  const appFile = values.app;
  const app: LoadedApp =
    appFile === undefined
      ? { handlers: exampleHandlers, definitions: buildDefinitions(exampleWorkflows, { knownHandlers: new Set(exampleHandlers.keys()) }) }
      : // Relative to the working directory: a package.json script runs in its package's folder.
        await loadAppModule(appFile, process.cwd());
  const dataDir = values['in-memory']
    ? undefined
    : values['data-dir'] !== undefined
      ? resolve(userDir(), values['data-dir'])
      : appFile === undefined
        ? DEFAULT_DATA_DIR
        : resolve(process.cwd(), '.dagflow-data');

  const runtime = await startLocalRuntime({
    port,
    ...(dataDir === undefined ? {} : { dataDir }),
    handlers: app.handlers,
    logLevel: (process.env['LOG_LEVEL'] as 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | undefined) ?? 'WARN',
    onError: (source, error) => console.error(`[${source}]`, error instanceof Error ? error.message : error),
  });
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${signal}: stopping the pollers, DynamoDB Local, the SQS server and the S3 server...`);
    runtime.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));

  for (const definition of app.definitions) {
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

  if (appFile === undefined && !values['no-demo']) await demoRun(runtime);
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
 * The directory the user ran the command in, which --data-dir is taken relative to (DynamoDB Local
 * runs in its package's folder, where a relative path would point): under an npm script, npm has
 * moved to the package's folder and left the user's directory in INIT_CWD.
 */
function userDir(): string {
  const initCwd = process.env['INIT_CWD'];
  return process.env['npm_lifecycle_event'] !== undefined && initCwd !== undefined && initCwd !== '' ? initCwd : process.cwd();
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
