// A run's log lines from a deployed stack, with CloudWatch Logs Insights over the stack's log
// groups. The functions log JSON lines (Powertools Logger) and every line about one attempt
// carries `runId`, `taskId` and `attempt` as keys, which Insights turns into fields; lines that
// name the run only inside a nested value (an error logged with the item it was about) are found
// by their text. Insights runs a query asynchronously: start it, then poll until it is Complete.
import { CloudWatchLogsClient, GetQueryResultsCommand, StartQueryCommand, StopQueryCommand, type QueryStatus } from '@aws-sdk/client-cloudwatch-logs';

/** One result row as Insights returns it: field name to value (`@timestamp`, `@log`, `level`, ...). */
export type LogRow = Record<string, string>;

export interface RunLogQuery {
  runId: string;
  /** Log group names (at most 50, Insights' limit per query). */
  logGroups: readonly string[];
  /** The time range, epoch milliseconds; Insights counts in whole seconds. */
  from: number;
  to: number;
  /** Rows at most (Insights allows 10,000). */
  limit: number;
}

export interface QueryOptions {
  client?: CloudWatchLogsClient;
  /** Between two GetQueryResults calls (default 1 s). */
  pollMs?: number;
  /** How long the query may run before it is stopped and an error thrown (default 120 s). */
  timeoutMs?: number;
}

/** Run ids are letters, digits, _ and - (the API refuses others), so they need no quoting in a query. */
const RUN_ID = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;
export const MAX_LOG_ROWS = 10_000;
const MAX_LOG_GROUPS = 50;
/** Statuses after which a query's results will not change. */
const ENDED: ReadonlySet<QueryStatus> = new Set(['Complete', 'Failed', 'Cancelled', 'Timeout', 'Unknown']);

/** The Insights query for one run's lines, oldest first. */
export function runLogQueryString(runId: string, limit: number): string {
  if (!RUN_ID.test(runId)) throw new Error(`"${runId}" is not a run id (letters, digits, _ and -)`);
  return [
    'fields @timestamp, @log, level, taskId, attempt, message, error.name, error.message, @message',
    `| filter runId = "${runId}" or @message like "${runId}"`,
    '| sort @timestamp asc',
    `| limit ${limit}`,
  ].join('\n');
}

/** Runs the query for one run's lines and returns its rows; a query that fails or outlasts `timeoutMs` throws, in one line. */
export async function queryRunLogs(query: RunLogQuery, options: QueryOptions = {}): Promise<LogRow[]> {
  if (query.logGroups.length > MAX_LOG_GROUPS) throw new Error(`Logs Insights reads at most ${MAX_LOG_GROUPS} log groups in one query, not ${query.logGroups.length}`);
  const client = options.client ?? new CloudWatchLogsClient({});
  const startTime = Math.floor(query.from / 1000);
  const endTime = Math.ceil(query.to / 1000);
  if (endTime <= startTime) return [];
  const { queryId } = await client.send(
    new StartQueryCommand({ logGroupNames: [...query.logGroups], startTime, endTime, queryString: runLogQueryString(query.runId, query.limit) }),
  );
  if (queryId === undefined) throw new Error('Logs Insights started no query');
  const timeoutMs = options.timeoutMs ?? 120_000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const answer = await client.send(new GetQueryResultsCommand({ queryId }));
    const status = answer.status ?? 'Unknown';
    if (status === 'Complete') return (answer.results ?? []).map(toRow);
    if (ENDED.has(status)) throw new Error(`the Logs Insights query ${queryId} ended ${status}: try again, or a shorter time range (--since)`);
    if (Date.now() >= deadline) {
      // Insights would go on scanning (and charging) for up to an hour.
      await client.send(new StopQueryCommand({ queryId })).catch(() => undefined);
      throw new Error(`the Logs Insights query ${queryId} did not finish in ${Math.round(timeoutMs / 1000)} s (still ${status}); it was stopped: try a shorter time range (--since)`);
    }
    await sleep(options.pollMs ?? 1_000);
  }
}

function toRow(fields: Array<{ field?: string | undefined; value?: string | undefined }>): LogRow {
  const row: LogRow = {};
  for (const { field, value } of fields) if (field !== undefined && value !== undefined) row[field] = value;
  return row;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
