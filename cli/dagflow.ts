// The dagflow command line, on the typed client (client/index.ts):
//
//   npm run dagflow -- <command> [options]
//
//   register <file.json|file.ts> [--dry-run]     register a definition (JSON, or a module whose exports are builders)
//   start <workflowId> [--input JSON|@file] [--version V] [--idempotency-key K] [--wait]
//   describe <runId>                              the run and each task
//   list [workflowId] [--status S] [--limit N]    recent runs, newest first (all workflows' without an id)
//   history <runId>                               every event of the run, in order
//   cancel <runId>
//   retry <runId> [--wait]                        resume a FAILED or CANCELLED run
//   schedules <workflowId>                        the workflow's schedules
//   schedule <workflowId> --expression E [--input JSON|@file] [--overlap P] [--version V]
//   schedule pause|resume|delete <workflowId> <scheduleId>
//   logs <runId> [--since 10m] [--limit N] [--follow]   a deployed run's log lines (cli/logs.ts)
//   dashboard [--port P] [--open]                 the dashboard page through a local signing proxy (cli/dashboard.ts)
//
// It talks to the local engine (`npm start`) by default, or to --url (or DAGFLOW_URL), or to a
// deployed stack by name (--stack: its ApiUrl output). Requests to a deployed stack (an
// execute-api URL, or --sign) are signed with SigV4 from the AWS SDK's default credential chain;
// so are the dashboard proxy's. `logs` reads CloudWatch Logs Insights over the stack's log groups
// (from --stack, or the stack that created an execute-api URL); the local engine has no log store
// (its logs go to the terminal running `npm start`), which `logs` says in one line, exit 0.
// --json prints the API's answer as it is (`logs`: one Insights row per line). With --wait it
// prints each task's progress and exits with the run's outcome: 0 COMPLETED, 3 FAILED, 4
// CANCELLED. A bad command or option exits 2; an error of the API, of AWS or of the connection
// exits 1. Every error is one line on stderr. `dashboard` runs until Ctrl-C, then exits 0.
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { ApiError, DagflowClient, type RunTask, type RunView, type Schedule } from '../client/index.js';
import { DEFAULT_DASHBOARD_PORT, startDashboardProxy } from './dashboard.js';
import { parseDefinition } from '../shared/index.js';

const DEFAULT_URL = 'http://127.0.0.1:3000';
/** Insights' most rows per query, as client/logs.ts has it (imported only by `logs`: it loads the AWS SDK's Logs client). */
const MAX_LOG_ROWS = 10_000;
const DEFAULT_LOG_LIMIT = 1_000;
export const EXIT = { ok: 0, error: 1, usage: 2, failed: 3, cancelled: 4 } as const;

const USAGE = `usage: dagflow <command> [options]

commands:
  register <file.json|file.ts> [--dry-run]   register a definition (a JSON file, or a module exporting builders)
  start <workflowId> [--input JSON|@file] [--version V] [--idempotency-key K] [--wait]
  describe <runId>                            the run and its tasks
  list [workflowId] [--status S] [--limit N]  recent runs, newest first; without an id, of every workflow (7 days)
  history <runId>                             the run's events, in order
  cancel <runId>                              cancel a run (its running tasks see the signal)
  retry <runId> [--wait]                      resume a FAILED or CANCELLED run
  schedules <workflowId>                      the workflow's schedules: state, expression, next and last fire
  schedule <workflowId> --expression E [--input JSON|@file] [--overlap skip|allow|cancel_previous] [--version V]
                                              start the workflow on a schedule: rate(5 minutes), cron(0 2 * * ? *) (UTC)
  schedule pause|resume|delete <workflowId> <scheduleId>
  logs <runId> [--since 10m] [--limit N] [--follow]
                                              a deployed run's log lines (CloudWatch Logs Insights over
                                              the stack's log groups): time, function, level, task, message
  dashboard [--port P] [--open]               serve the dashboard on http://127.0.0.1:P/ (default ${DEFAULT_DASHBOARD_PORT}),
                                              forwarding its calls to the API, signed; Ctrl-C stops it

options:
  --url URL    the API (default: DAGFLOW_URL, or ${DEFAULT_URL}); an execute-api URL is
               signed with SigV4 from the AWS credential chain (AWS_PROFILE, SSO, ...)
  --stack NAME a deployed stack: its ApiUrl output (region and credentials from the AWS chain)
  --sign       sign every request with SigV4 (another host name in front of the API)
  --unsigned   never sign (a stack deployed with auth=jwt behind a proxy, say)
  --json       print the API's answer as JSON (logs: one Insights row per line)
  --wait       follow the run until it ends; exit 0 COMPLETED, 3 FAILED, 4 CANCELLED
  --since D    logs: only the last D of the run (30s, 10m, 2h, 1d)
  --expression E  schedule: rate(<n> minute[s]|hour[s]|day[s]) or cron(<min> <hour> <day> <month> <weekday> <year>)
  --overlap P  schedule: while the last scheduled run goes on, skip (default), allow, or cancel_previous
  --limit N    list: runs (1-100); logs: lines per query (1-${MAX_LOG_ROWS}, default ${DEFAULT_LOG_LIMIT})
  --follow     logs: query again every 5 s until the run has ended and its last lines are in
  --port P     dashboard: the local port (default ${DEFAULT_DASHBOARD_PORT}; 0 picks a free one)
  --open       dashboard: open the page in the default browser`;

/** A mistake in the command line: its message, then exit 2. */
class UsageError extends Error {}

export interface Io {
  out: (line: string) => void;
  err: (line: string) => void;
}

const consoleIo: Io = { out: (line) => console.log(line), err: (line) => console.error(line) };

/**
 * Runs one command line; returns the exit code (never throws). `stop` ends a command that runs
 * until stopped (dashboard); without it, Ctrl-C or SIGTERM does.
 */
export async function main(argv: readonly string[], io: Io = consoleIo, env: NodeJS.ProcessEnv = process.env, stop?: AbortSignal): Promise<number> {
  try {
    return await run(argv, io, env, stop);
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`dagflow: ${error.message}`);
      io.err('run "dagflow help" for the commands');
      return EXIT.usage;
    }
    if (error instanceof ApiError) {
      const problems = error.problems.map((problem) => `${problem.path}: ${problem.message}`).join('; ');
      io.err(`dagflow: ${error.status} ${error.code}: ${error.message}${problems === '' ? '' : ` (${problems})`}`);
      return EXIT.error;
    }
    io.err(`dagflow: ${error instanceof Error ? error.message : String(error)}`);
    return EXIT.error;
  }
}

async function run(argv: readonly string[], io: Io, env: NodeJS.ProcessEnv, stop: AbortSignal | undefined): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        url: { type: 'string' },
        stack: { type: 'string' },
        json: { type: 'boolean', default: false },
        wait: { type: 'boolean', default: false },
        'dry-run': { type: 'boolean', default: false },
        input: { type: 'string' },
        version: { type: 'string' },
        'idempotency-key': { type: 'string' },
        expression: { type: 'string' },
        overlap: { type: 'string' },
        status: { type: 'string' },
        limit: { type: 'string' },
        since: { type: 'string' },
        follow: { type: 'boolean', default: false },
        port: { type: 'string' },
        open: { type: 'boolean', default: false },
        sign: { type: 'boolean', default: false },
        unsigned: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  const [command, ...args] = positionals;
  if (values.help || command === undefined || command === 'help') {
    io.out(USAGE);
    return command === undefined && !values.help ? EXIT.usage : EXIT.ok;
  }
  if (values.url !== undefined && values.stack !== undefined) throw new UsageError('give --url or --stack, not both');
  const url = values.stack === undefined ? (values.url ?? env['DAGFLOW_URL'] ?? DEFAULT_URL) : await (await import('../client/stack.js')).apiUrlOfStack(values.stack);
  const auth = await signing(url, values);
  const client = new DagflowClient({ url, ...auth });
  const print = (value: unknown, text: () => string[]) => {
    for (const line of values.json ? [JSON.stringify(value, null, 2)] : text()) io.out(line);
  };
  const one = (what: string) => {
    if (args.length !== 1 || args[0] === undefined) throw new UsageError(`${command} takes one ${what}, got ${args.length === 0 ? 'none' : args.join(' ')}`);
    return args[0];
  };

  switch (command) {
    case 'register': {
      const file = one('file (.json, or a .ts/.js module)');
      const definitions = await loadDefinitions(file);
      for (const definition of definitions) {
        const checked = parseDefinition(definition);
        if (!checked.ok) {
          const id = typeof (definition as { id?: unknown }).id === 'string' ? ` ${(definition as { id: string }).id}` : '';
          throw new Error(`${file}: workflow${id} is not valid: ${checked.problems.map((problem) => `${problem.path}: ${problem.message}`).join('; ')}`);
        }
        if (values['dry-run']) {
          io.out(JSON.stringify(checked.definition, null, 2));
          continue;
        }
        const result = await client.registerWorkflow(checked.definition);
        print(result, () => [`${result.created ? 'registered' : 'already registered'} ${result.workflowId} version ${result.version}`]);
      }
      return EXIT.ok;
    }
    case 'start': {
      const workflowId = one('workflow id');
      const input = values.input === undefined ? undefined : await parseInput(values.input);
      const started = await client.startRun({
        workflowId,
        ...(values.version === undefined ? {} : { version: values.version }),
        ...(values.input === undefined ? {} : { input }),
        ...(values['idempotency-key'] === undefined ? {} : { idempotencyKey: values['idempotency-key'] }),
      });
      if (!values.wait) {
        print(started, () => [`${started.created ? 'started' : 'already started (same Idempotency-Key)'} run ${started.runId} of ${workflowId}`]);
        return EXIT.ok;
      }
      if (!values.json) io.out(`started run ${started.runId} of ${workflowId}`);
      return follow(client, started.runId, io, values.json);
    }
    case 'describe': {
      const view = await client.getRun(one('run id'));
      print(view, () => describeRun(view));
      return EXIT.ok;
    }
    case 'list': {
      if (args.length > 1) throw new UsageError(`list takes at most one workflow id, got ${args.join(' ')}`);
      const workflowId = args[0];
      const limit = parseLimit(values.limit, 100);
      const page = await client.listRuns({
        ...(workflowId === undefined ? {} : { workflowId }),
        ...(values.status === undefined ? {} : { status: values.status.toUpperCase() as RunView['status'] }),
        ...(limit === undefined ? {} : { limit }),
      });
      const status = values.status === undefined ? '' : ` with status ${values.status.toUpperCase()}`;
      print(page, () => [
        ...(page.runs.length === 0 && page.nextToken === undefined ? [workflowId === undefined ? `no runs in the last 7 days${status}` : `no runs of ${workflowId}${status}`] : []),
        // Across workflows, each line names its workflow.
        ...page.runs.map(
          (summary) =>
            `${summary.runId}  ${summary.status.padEnd(12)} ${summary.createdAt}  ${workflowId === undefined ? `${summary.workflowId}  ` : ''}version ${summary.version}  ${summary.taskCount} tasks`,
        ),
        ...(page.nextToken === undefined ? [] : ['(more: the API pages with nextToken; use --json to see it)']),
      ]);
      return EXIT.ok;
    }
    case 'history': {
      const runId = one('run id');
      const events = await client.getHistory(runId);
      print({ runId, events }, () =>
        events.map((event) =>
          [
            event.at,
            event.phase > 0 ? `phase ${event.phase}` : '',
            event.type.padEnd(18),
            event.taskId ?? '',
            event.attempt === undefined ? '' : `attempt ${event.attempt}`,
            event.durationMs === undefined ? '' : `${event.durationMs} ms`,
            event.error === undefined ? '' : `${event.error.name}: ${event.error.message}`,
            event.reason ?? '',
          ]
            .filter((part) => part !== '')
            .join('  '),
        ),
      );
      return EXIT.ok;
    }
    case 'cancel': {
      const result = await client.cancelRun(one('run id'));
      print(result, () => [`run ${result.runId} is ${result.status}`]);
      return EXIT.ok;
    }
    case 'retry': {
      const result = await client.retryRun(one('run id'));
      if (!values.wait) {
        print(result, () => [`run ${result.runId} resumed: ${result.status}`]);
        return EXIT.ok;
      }
      if (!values.json) io.out(`run ${result.runId} resumed`);
      return follow(client, result.runId, io, values.json);
    }
    case 'schedules': {
      const workflowId = one('workflow id');
      const schedules = await client.listSchedules(workflowId);
      print({ schedules }, () => (schedules.length === 0 ? [`no schedules of ${workflowId}`] : schedules.map(describeSchedule)));
      return EXIT.ok;
    }
    case 'schedule': {
      const [verb, workflowId, scheduleId] = args;
      if (args.length === 3 && workflowId !== undefined && scheduleId !== undefined && (verb === 'pause' || verb === 'resume' || verb === 'delete')) {
        if (verb === 'delete') {
          await client.deleteSchedule(workflowId, scheduleId);
          print({ scheduleId, deleted: true }, () => [`deleted schedule ${scheduleId} of ${workflowId}`]);
          return EXIT.ok;
        }
        const schedule = verb === 'pause' ? await client.pauseSchedule(workflowId, scheduleId) : await client.resumeSchedule(workflowId, scheduleId);
        print(schedule, () => [describeSchedule(schedule)]);
        return EXIT.ok;
      }
      if (args.length !== 1 || verb === undefined) throw new UsageError('schedule takes <workflowId> --expression E, or pause|resume|delete <workflowId> <scheduleId>');
      if (values.expression === undefined) throw new UsageError('schedule needs --expression, e.g. --expression "rate(5 minutes)"');
      const overlap = values.overlap;
      if (overlap !== undefined && overlap !== 'skip' && overlap !== 'allow' && overlap !== 'cancel_previous') {
        throw new UsageError(`--overlap must be skip, allow or cancel_previous, got ${overlap}`);
      }
      const schedule = await client.createSchedule(verb, {
        expression: values.expression,
        ...(values.input === undefined ? {} : { input: await parseInput(values.input) }),
        ...(overlap === undefined ? {} : { overlap }),
        ...(values.version === undefined ? {} : { version: values.version }),
      });
      print(schedule, () => [`created schedule ${schedule.scheduleId} of ${verb}`, describeSchedule(schedule)]);
      return EXIT.ok;
    }
    case 'logs': {
      const runId = one('run id');
      const limit = parseLimit(values.limit, MAX_LOG_ROWS) ?? DEFAULT_LOG_LIMIT;
      const sinceMs = values.since === undefined ? undefined : parseSince(values.since);
      const { deployedLogGroups, printRunLogs } = await import('./logs.js');
      const deployed = await deployedLogGroups(url, values.stack);
      if (deployed === undefined) {
        if (values.sign) throw new UsageError(`logs reads a deployed stack's log groups, and ${url} names none: give the stack's name with --stack`);
        await client.getRun(runId); // an unknown run is still a 404, here as anywhere
        // Not an error: the lines exist, in the one place the local engine writes them.
        io.err(`dagflow: ${url} is not a deployed stack, and the local engine keeps no logs: they are printed in the terminal running \`npm start\` (LOG_LEVEL=INFO npm start prints every task's lines)`);
        return EXIT.ok;
      }
      await printRunLogs(
        { runId, limit, follow: values.follow, json: values.json, ...(sinceMs === undefined ? {} : { sinceMs }) },
        { client, logGroups: deployed.logGroups, query: { client: deployed.logs }, out: io.out, err: io.err },
      );
      return EXIT.ok;
    }
    case 'dashboard': {
      if (args.length > 0) throw new UsageError(`dashboard takes no arguments, got ${args.join(' ')}`);
      const port = values.port === undefined ? DEFAULT_DASHBOARD_PORT : parsePort(values.port);
      if (auth.sign !== undefined) await checkCredentials(auth.sign, url);
      const proxy = await startDashboardProxy({ target: url, port, ...auth, onError: (message) => io.err(`dashboard: ${message}`) }).catch((error: NodeJS.ErrnoException) => {
        throw error.code === 'EADDRINUSE' ? new Error(`port ${port} is in use: choose another with --port`) : error;
      });
      io.out(`dashboard: ${proxy.url}/ -> ${url}`);
      if (values.open) openBrowser(`${proxy.url}/`, io);
      await untilStopped(stop);
      await proxy.close();
      return EXIT.ok;
    }
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

/**
 * A deployed stack's API (an execute-api URL, or --sign) gets each request signed with SigV4, with
 * credentials from the AWS SDK's default chain (AWS_PROFILE, SSO, ...); --unsigned turns it off.
 */
async function signing(url: string, values: { sign: boolean; unsigned: boolean }): Promise<{ sign?: (request: Request) => Promise<Request> }> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(`--url must be a URL such as ${DEFAULT_URL}, got ${url}`);
  }
  if (values.unsigned) return {};
  const { regionOf, sigV4Signer } = await import('../client/sigv4.js');
  if (!values.sign && regionOf(parsed.href) === undefined) return {};
  return { sign: sigV4Signer() };
}

/** Signs one request before serving, so that missing credentials or region are one line now rather than an error per page load. */
async function checkCredentials(sign: (request: Request) => Promise<Request>, url: string): Promise<void> {
  try {
    await sign(new Request(url));
  } catch (error) {
    throw new Error(`cannot sign requests to ${url}: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`);
  }
}

/** Resolves when `stop` aborts or, without it, on Ctrl-C (SIGINT) or SIGTERM. */
function untilStopped(stop: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (stop !== undefined) {
      if (stop.aborted) resolve();
      else stop.addEventListener('abort', () => resolve(), { once: true });
      return;
    }
    const done = () => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      resolve();
    };
    process.on('SIGINT', done);
    process.on('SIGTERM', done);
  });
}

/** --open: the platform's own opener; failing to open is worth a line, not the command. */
function openBrowser(url: string, io: Io): void {
  const [command, ...args] = process.platform === 'darwin' ? ['open', url] : process.platform === 'win32' ? ['cmd', '/c', 'start', '', url] : ['xdg-open', url];
  const child = spawn(command ?? 'xdg-open', args, { stdio: 'ignore', detached: true });
  child.on('error', (error) => io.err(`dashboard: cannot open a browser (${error.message}): open ${url} yourself`));
  child.unref();
}

/** --limit: a whole number from 1 to `max`. */
function parseLimit(text: string | undefined, max: number): number | undefined {
  if (text === undefined) return undefined;
  const limit = Number(text);
  if (!(Number.isInteger(limit) && limit >= 1 && limit <= max)) throw new UsageError(`--limit must be a whole number from 1 to ${max}, got ${text}`);
  return limit;
}

/** --since: 30s, 10m, 2h or 1d. */
function parseSince(text: string): number {
  const match = /^(\d+)(s|m|h|d)$/.exec(text.trim());
  if (match === null) throw new UsageError(`--since must be a duration such as 30s, 10m, 2h or 1d, got ${text}`);
  return Number(match[1]) * { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] as 's' | 'm' | 'h' | 'd'];
}

/** --port: 0 (a free port) to 65535. */
function parsePort(text: string): number {
  const port = Number(text);
  if (!(Number.isInteger(port) && port >= 0 && port <= 65_535) || text.trim() === '') throw new UsageError(`--port must be a port number (0 for a free one), got ${text}`);
  return port;
}

/** Follows a run to its end, printing each task's progress; the exit code is its outcome. */
async function follow(client: DagflowClient, runId: string, io: Io, json: boolean): Promise<number> {
  const started = Date.now();
  const view = await client.waitForRun(runId, {
    pollMs: 300,
    onChange: ({ task }) => {
      if (json || task.status === 'PENDING') return;
      io.out(`+${String(Date.now() - started).padStart(6)} ms  ${task.taskId.padEnd(20)} ${taskLine(task)}`);
    },
  });
  if (json) io.out(JSON.stringify(view, null, 2));
  else io.out(`run ${runId} ${view.status}${view.error === undefined ? '' : `: ${view.error.name}: ${view.error.message}`}`);
  return view.status === 'COMPLETED' ? EXIT.ok : view.status === 'CANCELLED' ? EXIT.cancelled : EXIT.failed;
}

/** One line: id, state, expression, overlap, then the next and last fires. */
function describeSchedule(schedule: Schedule): string {
  return [
    schedule.scheduleId,
    schedule.state.padEnd(7),
    schedule.expression,
    `overlap ${schedule.overlap}`,
    schedule.version === undefined ? '' : `version ${schedule.version}`,
    schedule.nextFireTime === undefined ? '' : `next ${schedule.nextFireTime}`,
    schedule.lastFireTime === undefined ? '' : `last ${schedule.lastFireTime} ${schedule.lastOutcome ?? ''}${schedule.lastRunId === undefined ? '' : ` (run ${schedule.lastRunId})`}`,
  ]
    .filter((part) => part !== '')
    .join('  ');
}

function describeRun(view: RunView): string[] {
  const lines = [
    `run ${view.runId}  ${view.status}`,
    `workflow ${view.workflowId} version ${view.version}${view.handlerBuild === undefined ? '' : `, handler build ${view.handlerBuild}`}`,
    `created ${view.createdAt}${view.completedAt === undefined ? '' : `, ended ${view.completedAt}`}`,
    ...(view.error === undefined ? [] : [`error ${view.error.name}: ${view.error.message}`]),
    '',
    ...view.tasks.map((task) => `  ${task.taskId.padEnd(22)} ${taskLine(task)}`),
  ];
  if (view.compensations !== undefined) {
    lines.push('', 'compensations:', ...view.compensations.map((c) => `  ${c.taskId.padEnd(22)} ${c.status}${c.error === undefined ? '' : `  ${c.error.name}: ${c.error.message}`}`));
  }
  return lines;
}

function taskLine(task: RunTask): string {
  return [
    task.status.padEnd(9),
    task.attempt > 1 ? `attempt ${task.attempt}` : '',
    task.durationMs === undefined ? '' : `${task.durationMs} ms`,
    task.wakeAt === undefined ? '' : `until ${task.wakeAt}`,
    task.error === undefined ? '' : `${task.error.name}: ${task.error.message}`,
    task.reason ?? '',
  ]
    .filter((part) => part !== '')
    .join('  ')
    .trimEnd();
}

/** --input: JSON text, or @file holding JSON. */
async function parseInput(text: string): Promise<unknown> {
  const source = text.startsWith('@') ? await readFile(text.slice(1), 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new UsageError(`--input ${text}: cannot read the file (${error.code ?? error.message})`);
  }) : text;
  try {
    return JSON.parse(source) as unknown;
  } catch (error) {
    throw new UsageError(`--input is not valid JSON: ${(error as Error).message}`);
  }
}

/** The definitions of a file: a JSON definition (or a list of them), or a module's exported builders and definitions. */
async function loadDefinitions(file: string): Promise<unknown[]> {
  const absolute = path.resolve(file);
  if (file.endsWith('.json')) {
    const text = await readFile(absolute, 'utf8').catch((error: NodeJS.ErrnoException) => {
      throw new UsageError(`cannot read ${file} (${error.code ?? error.message})`);
    });
    let parsed: unknown;
    try {
      parsed = JSON.parse(text) as unknown;
    } catch (error) {
      throw new Error(`${file} is not valid JSON: ${(error as Error).message}`);
    }
    return Array.isArray(parsed) ? (parsed as unknown[]) : [parsed];
  }
  if (!/\.(ts|mts|js|mjs)$/.test(file)) throw new UsageError(`register takes a .json file or a .ts/.js module, got ${file}`);
  const module = (await import(pathToFileURL(absolute).href).catch((error: Error) => {
    throw new Error(`cannot load ${file}: ${error.message.split('\n')[0]}`);
  })) as Record<string, unknown>;
  const definitions = Object.values(module).flatMap((value): unknown[] => {
    if (typeof value !== 'object' || value === null) return [];
    const json = typeof (value as { toJSON?: unknown }).toJSON === 'function' ? (value as { toJSON(): unknown }).toJSON() : value;
    return typeof (json as { id?: unknown }).id === 'string' && Array.isArray((json as { tasks?: unknown }).tasks) ? [json] : [];
  });
  if (definitions.length === 0) throw new Error(`${file} exports no workflow (a builder from workflow(...) or a definition object)`);
  return definitions;
}

/**
 * Runs the command line of this process (the `dagflow` bin, or `npm run dagflow`). Output piped to
 * a reader that stops early (`| head`) ends the command quietly, as other CLIs do.
 */
export async function runProcess(): Promise<void> {
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw error;
  });
  process.exitCode = await main(process.argv.slice(2));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await runProcess();
