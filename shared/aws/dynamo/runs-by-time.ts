// Runs of every workflow, newest first, from the runsByTime index (shared/config/table-schema.ts).
// A day's runs are spread over write shards, so a page reads the shards of a day side by side,
// merges them by sort key, and walks back day by day until the page is full, the lookback ends or
// the page's request budget is spent. The walk reads a shard through a function, so that the merge
// and the token are tested without DynamoDB (test/unit/runs-by-time.test.ts).
import * as z from 'zod';
import { TABLE } from '../../config/table-schema.js';
import { ValidationError } from '../../model/errors.js';
import { visibleRunStatus } from '../../model/transitions.js';
import type { RunStatus } from '../../model/states.js';
import type { RunSummary } from '../../engine/ports.js';
import { RunSummaryItemSchema, parseItem, withoutUndefined } from './items.js';
import { RUNS_SORT_KEY, runsByTimePartition } from './keys.js';
import type { Item, Table } from './table.js';

const INDEX = TABLE.indexes.runsByTime;
const DAY_MS = 86_400_000;

/**
 * Queries one page may send: enough for an unfiltered page to read every day of the lookback
 * (one query per shard and day) in one call. A filtered page that spends it returns what it
 * found, maybe nothing, with a token to go on from.
 */
export const MAX_QUERIES_PER_PAGE = INDEX.shardCount * (INDEX.lookbackDays + 1);

/**
 * Items a filtered query evaluates (DynamoDB's Limit counts them before the filter): about 60 KB
 * of index entries, 8 read units, so that a rare status is searched in big steps.
 */
export const FILTERED_READ = 200;

/**
 * Where a listing goes on: the day to read, in it only sort keys below `before` (the whole day
 * when absent), and the oldest day the listing reads, fixed by its first page so that paging
 * later neither skips nor repeats a run.
 */
export interface Cursor {
  day: string;
  before?: string;
  lastDay: string;
}

/** A run as one shard's query returns it: its sort key (`<createdAt>#<runId>`) and its value. */
export interface Entry<T> {
  sk: string;
  value: T;
}

/**
 * One query of one shard of a day, below `before`: the entries that passed the filter, newest
 * first, and, when the shard may hold more below, the sort key the query stopped at.
 */
export type ReadShard<T> = (request: { day: string; shard: number; before?: string; limit: number }) => Promise<{ entries: Entry<T>[]; stoppedAt?: string }>;

export interface WalkOptions {
  limit: number;
  /** Items a query may evaluate when `need` more are wanted. */
  readLimit: (need: number) => number;
  maxQueries?: number;
}

interface ShardState<T> {
  shard: number;
  /** Read, not yet returned, newest first. */
  buffer: Entry<T>[];
  /** The shard is unread below this sort key (all of it, when undefined). */
  from?: string;
  /** Nothing of the day is left unread in the shard. */
  done: boolean;
}

/** The first page's cursor: today (UTC) and `lookbackDays` days before it. */
export function firstCursor(now: Date): Cursor {
  return { day: dayOf(now.getTime()), lastDay: dayOf(now.getTime() - INDEX.lookbackDays * DAY_MS) };
}

/**
 * A page of at most `limit` values, newest first, from `start`, and the cursor of the next page
 * (none when the lookback has been read to its end). A value is returned only once every shard
 * that may still hold a newer one has been read past it, so the merge is exact; a shard is read
 * again only when its buffer ran dry before the page was full (a filter kept too little of it).
 */
export async function walkRuns<T>(read: ReadShard<T>, start: Cursor, options: WalkOptions): Promise<{ values: T[]; next?: Cursor }> {
  // At least one read of every shard of a day, or a page could end where it began.
  const maxQueries = Math.max(options.maxQueries ?? MAX_QUERIES_PER_PAGE, INDEX.shardCount);
  const values: T[] = [];
  let queries = 0;
  let cursor = start;
  for (;;) {
    const shards: Array<ShardState<T>> = Array.from({ length: INDEX.shardCount }, (_, shard) => ({ shard, buffer: [], from: cursor.before, done: false }));
    let last: string | undefined;
    for (;;) {
      const dry = shards.filter((state) => !state.done && state.buffer.length === 0);
      if (dry.length > 0) {
        if (queries + dry.length > maxQueries) return { values, next: withBefore(cursor, unreadBelow(shards)) };
        queries += dry.length;
        const need = options.limit - values.length;
        await Promise.all(dry.map((state) => readInto(read, cursor.day, state, options.readLimit(need))));
      }
      last = emitReady(shards, values, options.limit) ?? last;
      const dayRead = shards.every((state) => state.done && state.buffer.length === 0);
      if (values.length === options.limit) return { values, ...nextPage(cursor, dayRead ? undefined : last) };
      if (dayRead) break;
    }
    if (cursor.day <= cursor.lastDay) return { values };
    cursor = { day: previousDay(cursor.day), lastDay: cursor.lastDay };
  }
}

async function readInto<T>(read: ReadShard<T>, day: string, state: ShardState<T>, limit: number): Promise<void> {
  const page = await read({ day, shard: state.shard, ...(state.from === undefined ? {} : { before: state.from }), limit });
  state.buffer.push(...page.entries);
  state.from = page.stoppedAt;
  state.done = page.stoppedAt === undefined;
}

/**
 * Moves the newest buffered entries to `values` while it is safe: an entry goes only when no
 * shard left unread could hold a newer one. Returns the sort key of the last one moved.
 */
function emitReady<T>(shards: Array<ShardState<T>>, values: T[], limit: number): string | undefined {
  let last: string | undefined;
  while (values.length < limit) {
    const newest = newestBuffered(shards);
    if (newest === undefined) return last;
    const mayHoldNewer = shards.some((state) => !state.done && state.buffer.length === 0 && (state.from === undefined || state.from > newest.sk));
    if (mayHoldNewer) return last;
    const taken = shards.find((state) => state.buffer[0] === newest)?.buffer.shift();
    if (taken !== undefined) values.push(taken.value);
    last = newest.sk;
  }
  return last;
}

function newestBuffered<T>(shards: Array<ShardState<T>>): Entry<T> | undefined {
  let newest: Entry<T> | undefined;
  for (const state of shards) {
    const head = state.buffer[0];
    if (head !== undefined && (newest === undefined || head.sk > newest.sk)) newest = head;
  }
  return newest;
}

/**
 * Where a page cut short by its budget goes on: below the highest point any shard is unread
 * from. Everything above it was read and returned or filtered out; everything buffered but not
 * returned lies below it (it waited for that shard), so it is read again, never skipped.
 */
function unreadBelow<T>(shards: Array<ShardState<T>>): string | undefined {
  const pending = shards.filter((state) => !state.done);
  if (pending.some((state) => state.from === undefined)) return undefined;
  return pending.map((state) => state.from ?? '').reduce((highest, from) => (from > highest ? from : highest), '');
}

/** After a full page: the rest of the day below its last run, else the day before (if any). */
function nextPage(cursor: Cursor, last: string | undefined): { next?: Cursor } {
  if (last !== undefined) return { next: withBefore(cursor, last) };
  return cursor.day <= cursor.lastDay ? {} : { next: { day: previousDay(cursor.day), lastDay: cursor.lastDay } };
}

function withBefore(cursor: Cursor, before: string | undefined): Cursor {
  return before === undefined ? { day: cursor.day, lastDay: cursor.lastDay } : { day: cursor.day, before, lastDay: cursor.lastDay };
}

function dayOf(ms: number): string {
  return new Date(ms).toISOString().slice(0, 'yyyy-mm-dd'.length);
}

function previousDay(day: string): string {
  return dayOf(Date.parse(`${day}T00:00:00.000Z`) - DAY_MS);
}

export function encodeCursor(cursor: Cursor): string {
  return Buffer.from(JSON.stringify(cursor), 'utf8').toString('base64url');
}

const DaySchema = z.string().regex(/^\d{4}-\d{2}-\d{2}$/).refine((day) => dayOf(Date.parse(`${day}T00:00:00.000Z`) || 0) === day);

/**
 * A cursor only in the shape this module writes: real days, the last no later than the first and
 * within the lookback, `before` a sort key of that day. Anything else would reach DynamoDB and
 * fail there (a 500), or walk back without end.
 */
const CursorSchema = z
  .strictObject({ day: DaySchema, before: z.string().regex(RUNS_SORT_KEY).optional(), lastDay: DaySchema })
  .refine(({ day, lastDay }) => lastDay <= day && Date.parse(day) - Date.parse(lastDay) <= INDEX.lookbackDays * DAY_MS)
  .refine(({ day, before }) => before === undefined || before.startsWith(`${day}T`));

export function decodeCursor(token: string): Cursor {
  try {
    const parsed = CursorSchema.safeParse(JSON.parse(Buffer.from(token, 'base64url').toString('utf8')));
    if (parsed.success) return withoutUndefined(parsed.data);
  } catch {
    // fall through to the validation error below
  }
  throw new ValidationError([{ path: 'nextToken', message: 'nextToken is not a token this API returned' }]);
}

/** The most recent runs of every workflow (optionally of one status), from the first page or a token. */
export async function listRecentRuns(
  table: Table,
  query: { status?: RunStatus; limit?: number; nextToken?: string },
  now: Date,
): Promise<{ runs: RunSummary[]; nextToken?: string }> {
  const start = query.nextToken === undefined ? firstCursor(now) : decodeCursor(query.nextToken);
  const filter = statusFilter(query.status);
  const page = await walkRuns((request) => readShard(table, filter, request), start, {
    limit: query.limit ?? 50,
    readLimit: (need) => (filter === undefined ? need : FILTERED_READ),
  });
  return page.next === undefined ? { runs: page.values } : { runs: page.values, nextToken: encodeCursor(page.next) };
}

type Filter = { FilterExpression: string; ExpressionAttributeNames: Record<string, string>; ExpressionAttributeValues: Record<string, string> };

/** A run's listed status: RESUMING is shown as RUNNING, so a filter on RUNNING takes both. */
export function statusFilter(status: RunStatus | undefined): Filter | undefined {
  if (status === undefined) return undefined;
  const statuses = status === 'RUNNING' ? ['RUNNING', 'RESUMING'] : [status];
  const values = Object.fromEntries(statuses.map((stored, i) => [`:s${i}`, stored]));
  return { FilterExpression: `#status IN (${Object.keys(values).join(', ')})`, ExpressionAttributeNames: { '#status': 'status' }, ExpressionAttributeValues: values };
}

async function readShard(
  table: Table,
  filter: Filter | undefined,
  request: { day: string; shard: number; before?: string; limit: number },
): Promise<{ entries: Array<Entry<RunSummary>>; stoppedAt?: string }> {
  const page = await table.query({
    IndexName: INDEX.name,
    KeyConditionExpression: `${INDEX.partitionKey} = :pk${request.before === undefined ? '' : ` AND ${INDEX.sortKey} < :before`}`,
    ExpressionAttributeValues: {
      ':pk': runsByTimePartition(request.day, request.shard),
      ...(request.before === undefined ? {} : { ':before': request.before }),
      ...filter?.ExpressionAttributeValues,
    },
    ...(filter === undefined ? {} : { FilterExpression: filter.FilterExpression, ExpressionAttributeNames: filter.ExpressionAttributeNames }),
    ScanIndexForward: false,
    Limit: request.limit,
  });
  const stoppedAt = page.lastKey?.[INDEX.sortKey];
  return { entries: page.items.map(toEntry), ...(typeof stoppedAt === 'string' ? { stoppedAt } : {}) };
}

function toEntry(item: Item): Entry<RunSummary> {
  const summary = parseItem(RunSummaryItemSchema, item, 'run summary');
  return { sk: String(item[INDEX.sortKey]), value: withoutUndefined({ ...summary, status: visibleRunStatus(summary.status) }) };
}
