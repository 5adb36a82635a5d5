// `npm start`: the whole engine on one machine (DESIGN.md section 6). Starts the local runtime,
// registers the example workflows, prints the ready line, then starts one demo order run and
// prints its progress task by task. Ctrl-C or SIGTERM stops every child process.
//
//   npm start [-- --in-memory] [-- --data-dir <path>] [-- --no-demo]     (PORT=3000 by default)
import { parseArgs } from 'node:util';
import { ValidationError } from '../shared/errors.js';
import { exampleWorkflows, handlers } from '../workflows/index.js';
import { JavaMissingError } from './dynamodb-local.js';
import { startLocalRuntime, type LocalRuntime } from './runtime.js';

const DEFAULT_DATA_DIR = '.local-data/dynamodb';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'in-memory': { type: 'boolean', default: false },
      'data-dir': { type: 'string', default: DEFAULT_DATA_DIR },
      'no-demo': { type: 'boolean', default: false },
    },
  });
  const port = parsePort(process.env['PORT'] ?? '3000');
  const dataDir = values['in-memory'] ? undefined : values['data-dir'];
  if (dataDir !== undefined) {
    const { mkdir } = await import('node:fs/promises');
    await mkdir(dataDir, { recursive: true });
  }

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
    const { version } = await runtime.engine.store.saveDefinition(definition);
    console.log(`registered workflow ${definition.id} (version ${version}, ${definition.tasks.length} tasks)`);
  }
  console.log(`data: ${dataDir === undefined ? 'in memory (gone when stopped)' : dataDir}`);
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
      console.log(`demo: run ${runId} ${run.status} in ${Date.now() - started} ms; see ${runtime.apiUrl}/runs/${runId}`);
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function parsePort(raw: string): number {
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new ValidationError([{ path: 'PORT', message: `PORT must be a port number, not "${raw}"` }]);
  }
  return port;
}

main().catch((error: unknown) => {
  if (error instanceof JavaMissingError || error instanceof ValidationError) {
    console.error(error.message);
  } else if (error instanceof Error && 'code' in error && error.code === 'EADDRINUSE') {
    console.error(`port ${process.env['PORT'] ?? '3000'} is in use: set PORT to a free port, e.g. PORT=3001 npm start`);
  } else {
    console.error('npm start failed:', error instanceof Error ? error.message : error);
  }
  process.exit(1);
});
