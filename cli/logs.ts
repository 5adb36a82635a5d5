// `dagflow logs <runId>`: a run's log lines from a deployed stack's log groups (CloudWatch Logs
// Insights, client/logs.ts), one line per event: time, function, level, task, message. The time
// range is the run's own, from its creation to five minutes after its end (or now), so that a
// query scans only what the run can have logged; --since narrows it to the last minutes.
// --follow queries again every few seconds until the run has ended and its last lines are in.
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { FINAL_RUN_STATUSES, type DagflowClient, type RunView } from '../client/index.js';
import { MAX_LOG_ROWS, queryRunLogs, type LogRow, type QueryOptions } from '../client/logs.js';
import { regionOf } from '../client/sigv4.js';
import { logGroupsOfStack, stackOfApiUrl, type StackLogGroup } from '../client/stack.js';

/** Lines logged this long after a run's end (a worker's last words, a late sweep) are still its. */
export const AFTER_END_MS = 5 * 60_000;
/** --follow: a query every this many ms. */
const FOLLOW_EVERY_MS = 5_000;
/** --follow: lines reach Insights seconds after they are written; stop only this long after the end. */
const FOLLOW_GRACE_MS = 15_000;
/** --follow: each query looks back this far past the last one, for lines that arrived late. */
const FOLLOW_OVERLAP_MS = 60_000;

export interface LogsParams {
  runId: string;
  /** Only lines of the last this many ms (--since). */
  sinceMs?: number;
  limit: number;
  follow: boolean;
  json: boolean;
}

export interface LogsDeps {
  client: DagflowClient;
  logGroups: readonly StackLogGroup[];
  query?: QueryOptions;
  out: (line: string) => void;
  err: (line: string) => void;
  now?: () => number;
  /** --follow's pause between queries (default 5 s). */
  followEveryMs?: number;
}

/**
 * The log groups of the stack behind the API, and a Logs client for them: the stack --stack names
 * (in the SDK's default region, where it was found), or the one that created an execute-api URL
 * (in the URL's region). Undefined for any other URL: the local engine, which keeps no logs.
 */
export async function deployedLogGroups(url: string, stackName: string | undefined): Promise<{ logGroups: StackLogGroup[]; logs: CloudWatchLogsClient } | undefined> {
  const region = regionOf(url);
  if (stackName !== undefined) return { logGroups: await logGroupsOfStack(stackName), logs: new CloudWatchLogsClient({}) };
  if (region === undefined) return undefined;
  const cloudFormation = new CloudFormationClient({ region });
  const logGroups = await logGroupsOfStack(await stackOfApiUrl(url, cloudFormation), cloudFormation);
  return { logGroups, logs: new CloudWatchLogsClient({ region }) };
}

/** Prints the run's lines; with `follow`, until the run has ended and its last lines are in (Ctrl-C ends it sooner, as any command). */
export async function printRunLogs(params: LogsParams, deps: LogsDeps): Promise<void> {
  const now = deps.now ?? Date.now;
  let run = await deps.client.getRun(params.runId);
  const functions = new Map(deps.logGroups.map((group) => [group.name, functionOf(group.logicalId)]));
  const query = (from: number, to: number) =>
    queryRunLogs({ runId: params.runId, logGroups: deps.logGroups.map((group) => group.name), from, to, limit: params.limit }, deps.query);
  const print = (row: LogRow) => deps.out(params.json ? JSON.stringify(row) : logLine(row, functions));

  const start = Math.max(Date.parse(run.createdAt), params.sinceMs === undefined ? 0 : now() - params.sinceMs);
  if (!params.follow) {
    const end = endOf(run, now());
    const rows = await query(start, end);
    rows.forEach(print);
    if (rows.length === 0) deps.err(`no log lines of run ${params.runId} between ${iso(start)} and ${iso(end)} in ${deps.logGroups.length} log groups`);
    if (rows.length >= params.limit) deps.err(`(the first ${rows.length} lines: --limit up to ${MAX_LOG_ROWS}, or --since for the latest)`);
    return;
  }

  const seen = new Set<string>();
  let from = start;
  for (;;) {
    const to = endOf(run, now());
    for (const row of await query(from, to)) {
      // Overlapping windows give some lines twice; @ptr names each line uniquely.
      const id = row['@ptr'] ?? JSON.stringify(row);
      if (seen.has(id)) continue;
      seen.add(id);
      print(row);
    }
    if (runIsOver(run, to)) return;
    from = Math.max(start, to - FOLLOW_OVERLAP_MS);
    await sleep(deps.followEveryMs ?? FOLLOW_EVERY_MS);
    run = await deps.client.getRun(params.runId);
  }
}

/** The end of the range to read: five minutes after the run's end, and never past now. */
function endOf(run: RunView, now: number): number {
  return !FINAL_RUN_STATUSES.includes(run.status) || run.completedAt === undefined ? now : Math.min(now, Date.parse(run.completedAt) + AFTER_END_MS);
}

/** Whether --follow has seen all there is: the run ended, and long enough ago that its last lines are in. */
function runIsOver(run: RunView, queriedTo: number): boolean {
  if (!FINAL_RUN_STATUSES.includes(run.status) || run.completedAt === undefined) return false;
  return queriedTo >= Date.parse(run.completedAt) + FOLLOW_GRACE_MS;
}

/** time, function, level, task (and attempt after the first), message (and the error logged with it). */
export function logLine(row: LogRow, functions: ReadonlyMap<string, string>): string {
  const group = (row['@log'] ?? '').replace(/^\d+:/, ''); // Insights prefixes the account id
  const attempt = Number(row['attempt'] ?? 1);
  const task = row['taskId'] === undefined ? '' : `${row['taskId']}${attempt > 1 ? ` #${attempt}` : ''}`;
  const error = row['error.name'] === undefined && row['error.message'] === undefined ? '' : `: ${[row['error.name'], row['error.message']].filter(Boolean).join(': ')}`;
  const message = row['message'] ?? (row['@message'] ?? '').trim().split('\n')[0] ?? '';
  return [insightsTimeToIso(row['@timestamp'] ?? ''), (functions.get(group) ?? group).padEnd(9), (row['level'] ?? '').padEnd(5), task, `${message}${error}`]
    .filter((part) => part.trim() !== '')
    .join('  ');
}

/**
 * The function a log group belongs to, from the logical id the stack gave it: FunctionsWorkerLogs81C46784
 * is the worker's, ApiAccessLogs50B185DB the API's access logs (api-access).
 */
export function functionOf(logicalId: string): string {
  const name = logicalId.replace(/[0-9A-F]{8}$/, '').replace(/Logs$/, '').replace(/^Functions(?=[A-Z])/, '');
  return name.replace(/(?<=[a-z0-9])(?=[A-Z])/g, '-').toLowerCase() || logicalId;
}

/** Insights writes `2024-05-01 12:34:56.789` (UTC); the API and the other commands write ISO 8601. */
function insightsTimeToIso(time: string): string {
  return /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?$/.test(time) ? `${time.replace(' ', 'T')}Z` : time;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
