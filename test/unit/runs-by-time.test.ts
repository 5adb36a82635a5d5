// The cross-workflow listing's merge and token (shared/aws/dynamo/runs-by-time.ts), on shards held
// in memory that answer as DynamoDB's Query does (Limit counts the items evaluated before the
// filter; a query that reached its Limit says where it stopped, even when nothing is left).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TABLE } from '../../shared/config/table-schema.js';
import { keys, runsByTimeShard } from '../../shared/aws/dynamo/keys.js';
import {
  FILTERED_READ,
  MAX_QUERIES_PER_PAGE,
  decodeCursor,
  encodeCursor,
  firstCursor,
  walkRuns,
  type Cursor,
  type ReadShard,
} from '../../shared/aws/dynamo/runs-by-time.js';
import { ValidationError } from '../../shared/model/errors.js';

const { shardCount, lookbackDays } = TABLE.indexes.runsByTime;
const NOW = new Date('2026-03-10T12:00:00.000Z');
const DAY_MS = 86_400_000;

interface Run {
  runId: string;
  createdAt: string;
  failed: boolean;
}

const sortKey = (run: Run) => keys.runsByWorkflowSort(run.createdAt, run.runId);

/** Shards as the index holds them, and a count of the queries sent to them. */
function shards(runs: readonly Run[], filter: (run: Run) => boolean = () => true) {
  const partitions = new Map<string, Run[]>();
  for (const run of runs) {
    const partition = keys.runsByTime(run.createdAt, run.runId);
    partitions.set(partition, [...(partitions.get(partition) ?? []), run]);
  }
  for (const list of partitions.values()) list.sort((a, b) => (sortKey(a) < sortKey(b) ? 1 : -1));
  const counter = { queries: 0 };
  const read: ReadShard<Run> = ({ day, shard, before, limit }) => {
    counter.queries++;
    const below = (partitions.get(`RUNS#${day}#${shard}`) ?? []).filter((run) => before === undefined || sortKey(run) < before);
    const evaluated = below.slice(0, limit);
    const last = evaluated.at(-1);
    return Promise.resolve({
      entries: evaluated.filter(filter).map((run) => ({ sk: sortKey(run), value: run })),
      ...(evaluated.length === limit && last !== undefined ? { stoppedAt: sortKey(last) } : {}),
    });
  };
  return { read, counter };
}

/** Every page from the first, as a client following nextToken would read them. */
async function allPages(read: ReadShard<Run>, options: { limit: number; readSize?: number; maxQueries?: number }) {
  const pages: Run[][] = [];
  let cursor: Cursor | undefined = firstCursor(NOW);
  while (cursor !== undefined) {
    const page: { values: Run[]; next?: Cursor } = await walkRuns(read, cursor, {
      limit: options.limit,
      readLimit: (need) => options.readSize ?? need,
      ...(options.maxQueries === undefined ? {} : { maxQueries: options.maxQueries }),
    });
    pages.push(page.values);
    // The token goes through its text form, as it does through the API.
    cursor = page.next === undefined ? undefined : decodeCursor(encodeCursor(page.next));
  }
  return pages;
}

function newestFirst(runs: readonly Run[]): Run[] {
  return [...runs].sort((a, b) => (sortKey(a) < sortKey(b) ? 1 : -1));
}

const inLookback = (run: Run) => run.createdAt.slice(0, 10) >= firstCursor(NOW).lastDay;

const runArbitrary = fc.record({
  runId: fc.uuid(),
  // From 10 days before NOW to NOW: some beyond the lookback, several per day, per shard.
  createdAt: fc.integer({ min: NOW.getTime() - 10 * DAY_MS, max: NOW.getTime() }).map((ms) => new Date(ms).toISOString()),
  failed: fc.boolean(),
});

describe('listing runs across workflows', () => {
  it('pages through every run of the lookback once, newest first, whatever the page size', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(runArbitrary, { selector: (run) => run.runId, maxLength: 120 }), fc.integer({ min: 1, max: 30 }), async (runs, limit) => {
        const { read } = shards(runs);
        const pages = await allPages(read, { limit });
        expect(pages.flat()).toEqual(newestFirst(runs.filter(inLookback)));
        // Full pages, except the last; an unfiltered walk never stops for its budget.
        expect(pages.slice(0, -1).every((page) => page.length === limit)).toBe(true);
      }),
      { numRuns: 60 },
    );
  });

  it('with a filter, keeps reading past short pages, and a page cut short by its budget goes on exactly where it stopped', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(runArbitrary, { selector: (run) => run.runId, maxLength: 120 }),
        fc.integer({ min: 1, max: 10 }),
        // Small reads as well as the real one, so that shards run dry before pages fill.
        fc.constantFrom(1, 2, 5, FILTERED_READ),
        fc.constantFrom(undefined, 1, shardCount + 3, 2 * shardCount),
        async (runs, limit, readSize, maxQueries) => {
          const { read } = shards(runs, (run) => run.failed);
          const pages = await allPages(read, { limit, readSize, ...(maxQueries === undefined ? {} : { maxQueries }) });
          expect(pages.flat()).toEqual(newestFirst(runs.filter((run) => run.failed && inLookback(run))));
        },
      ),
      { numRuns: 60 },
    );
  });

  it('merges a shard that a filter left short with the others, reading it again before going past it', async () => {
    // One item read per query: a shard's read often finds nothing that passes, and the others'
    // runs must wait until it has been read past them, page after page.
    const runs: Run[] = [];
    for (let i = 0; runs.length < 40; i++) {
      const createdAt = new Date(NOW.getTime() - i * 60_000).toISOString();
      runs.push({ runId: `r${i}`, createdAt, failed: i % 3 === 0 });
    }
    const { read } = shards(runs, (run) => run.failed);
    let cursor: Cursor | undefined = firstCursor(NOW);
    const seen: Run[] = [];
    while (cursor !== undefined) {
      const page: { values: Run[]; next?: Cursor } = await walkRuns(read, cursor, { limit: 4, readLimit: () => 1 });
      seen.push(...page.values);
      cursor = page.next;
    }
    expect(seen).toEqual(newestFirst(runs.filter((run) => run.failed)));
  });

  it('reads each shard of a day once per page, and at most the budget per page', async () => {
    const today = Array.from({ length: 500 }, (_, i) => ({ runId: `t${i}`, createdAt: new Date(NOW.getTime() - i * 1_000).toISOString(), failed: false }));
    const busy = shards(today);
    const page = await walkRuns(busy.read, firstCursor(NOW), { limit: 100, readLimit: (need) => need });
    expect(page.values).toHaveLength(100);
    expect(busy.counter.queries).toBe(shardCount);

    const quiet = shards([]);
    expect(await walkRuns(quiet.read, firstCursor(NOW), { limit: 100, readLimit: (need) => need })).toEqual({ values: [] });
    // Nothing to find: every day of the lookback, every shard, once; within the budget.
    expect(quiet.counter.queries).toBe(shardCount * (lookbackDays + 1));
    expect(quiet.counter.queries).toBeLessThanOrEqual(MAX_QUERIES_PER_PAGE);

    const rare = shards(today, () => false);
    const filtered = await walkRuns(rare.read, firstCursor(NOW), { limit: 10, readLimit: () => 10, maxQueries: 2 * shardCount });
    expect(filtered.values).toEqual([]);
    expect(filtered.next).toEqual({ day: '2026-03-10', before: expect.any(String), lastDay: '2026-03-03' });
    expect(rare.counter.queries).toBeLessThanOrEqual(2 * shardCount);
  });

  it('starts today (UTC) and looks back lookbackDays whole days', () => {
    expect(firstCursor(NOW)).toEqual({ day: '2026-03-10', lastDay: '2026-03-03' });
    expect(firstCursor(new Date('2026-03-01T00:00:00.000Z'))).toEqual({ day: '2026-03-01', lastDay: '2026-02-22' });
  });

  it('spreads runs over the shards by a stable hash of their id, keyed by the day they were created', () => {
    const counts = new Array<number>(shardCount).fill(0);
    for (let i = 0; i < 8_000; i++) counts[runsByTimeShard(`run-${i}`)]! += 1;
    // About 1,000 each: no shard takes much more than its share.
    for (const count of counts) expect(count).toBeGreaterThan(850);
    expect(keys.runsByTime('2026-03-10T23:59:59.999Z', 'run-1')).toBe(`RUNS#2026-03-10#${runsByTimeShard('run-1')}`);
  });
});

describe('the listing token', () => {
  const valid: Cursor = { day: '2026-03-10', before: '2026-03-10T11:59:00.000Z#r1', lastDay: '2026-03-03' };
  const token = (value: unknown) => Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');

  it('comes back as it was encoded', () => {
    expect(decodeCursor(encodeCursor(valid))).toEqual(valid);
    expect(decodeCursor(encodeCursor({ day: '2026-03-09', lastDay: '2026-03-03' }))).toEqual({ day: '2026-03-09', lastDay: '2026-03-03' });
  });

  it('is refused, as a validation error naming nextToken, when it is not one this listing wrote', () => {
    const tampered = [
      'garbage',
      token('a string'),
      token({ ...valid, extra: 1 }),
      token({ ...valid, day: '2026-02-30', before: undefined }),
      token({ ...valid, lastDay: '2026-03-11' }),
      // Walking back further than the lookback.
      token({ ...valid, lastDay: '2025-01-01' }),
      // A position of another day, or not a sort key at all.
      token({ ...valid, before: '2026-03-09T11:59:00.000Z#r1' }),
      token({ ...valid, before: '2026-03-10T11:59:00.000Z#r1 OR 1=1' }),
      token({ ...valid, before: 42 }),
      // A token of the per-workflow listing.
      token({ pk: 'RUN#r1', sk: 'RUN', gsi1pk: 'WF#a', gsi1sk: '2026-03-10T11:59:00.000Z#r1' }),
    ];
    for (const bad of tampered) {
      expect(() => decodeCursor(bad), bad).toThrow(ValidationError);
      expect(() => decodeCursor(bad)).toThrow(expect.objectContaining({ problems: [expect.objectContaining({ path: 'nextToken' })] }));
    }
  });
});
