import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatFireTime, nextFireTime, parseScheduleExpression, type ScheduleExpression } from '../../shared/model/schedule-expression.js';

function parsed(text: string): ScheduleExpression {
  const result = parseScheduleExpression(text);
  if (!result.ok) throw new Error(result.message);
  return result.expression;
}

function problem(text: string): string {
  const result = parseScheduleExpression(text);
  if (result.ok) throw new Error(`${text} was accepted`);
  return result.message;
}

const at = (iso: string) => Date.parse(iso);
const next = (text: string, after: string, anchor = after) => {
  const time = nextFireTime(parsed(text), at(after), at(anchor));
  return time === undefined ? undefined : new Date(time).toISOString();
};

describe('parseScheduleExpression', () => {
  it('reads rates in minutes, hours and days, singular for 1 only', () => {
    expect(parsed('rate(1 minute)')).toMatchObject({ kind: 'rate', everyMs: 60_000 });
    expect(parsed('rate(5 minutes)')).toMatchObject({ kind: 'rate', everyMs: 300_000 });
    expect(parsed('rate(2 hours)')).toMatchObject({ kind: 'rate', everyMs: 7_200_000 });
    expect(parsed(' rate(1 day) ')).toMatchObject({ kind: 'rate', everyMs: 86_400_000 });
    expect(problem('rate(1 minutes)')).toMatch(/singular for 1/);
    expect(problem('rate(5 minute)')).toMatch(/plural/);
    expect(problem('rate(0 minutes)')).toMatch(/at least 1/);
    expect(problem('rate(5 seconds)')).toMatch(/minute\(s\), hour\(s\) or day\(s\)/);
    expect(problem('rate(five minutes)')).toMatch(/rate\(<value> <unit>\)/);
  });

  it('reads six-field crons with names, lists, ranges, steps, ? and L', () => {
    expect(parsed('cron(0 12 * * ? *)').kind).toBe('cron');
    expect(parsed('cron(0/15 8-17 ? * MON-FRI *)').kind).toBe('cron');
    expect(parsed('cron(0 0 L JAN,JUL ? 2030-2035)').kind).toBe('cron');
    expect(parsed('cron(30 9 ? * 2#1 *)').kind).toBe('cron');
  });

  it('names the problem of a bad cron', () => {
    expect(problem('cron(0 12 * * *)')).toMatch(/6 fields/);
    expect(problem('cron(0 12 * * * *)')).toMatch(/exactly one of day-of-month and day-of-week must be \?/);
    expect(problem('cron(0 12 ? * ? *)')).toMatch(/exactly one/);
    expect(problem('cron(60 12 * * ? *)')).toMatch(/minutes 60 is out of range \(0-59\)/);
    expect(problem('cron(0 24 * * ? *)')).toMatch(/hours 24 is out of range/);
    expect(problem('cron(0 12 ? * 8 *)')).toMatch(/day-of-week 8 is out of range \(1-7\)/);
    expect(problem('cron(0 12 ? FOO * *)')).toMatch(/month "FOO" is not a number or a name \(JAN-DEC\)/);
    expect(problem('cron(0 12 15W * ? *)')).toMatch(/W .* not supported/);
    expect(problem('cron(0 12 ? * 6L *)')).toMatch(/L .* not supported/);
    expect(problem('cron(0 12 * * ? 1969)')).toMatch(/year 1969 is out of range/);
    expect(problem('cron(10-5 * * * ? *)')).toMatch(/runs backwards/);
    expect(problem('cron(*/0 * * * ? *)')).toMatch(/step/);
    expect(problem('every 5 minutes')).toMatch(/neither rate/);
  });
});

describe('nextFireTime', () => {
  it('fires a rate every period from its anchor, strictly after the time asked', () => {
    expect(next('rate(1 minute)', '2026-01-01T00:00:30.000Z', '2026-01-01T00:00:00.000Z')).toBe('2026-01-01T00:01:00.000Z');
    expect(next('rate(1 minute)', '2026-01-01T00:01:00.000Z', '2026-01-01T00:00:00.000Z')).toBe('2026-01-01T00:02:00.000Z');
    expect(next('rate(5 minutes)', '2025-12-31T00:00:00.000Z', '2026-01-01T00:00:00.000Z')).toBe('2026-01-01T00:05:00.000Z');
  });

  it('finds the next minute a cron allows, in UTC', () => {
    expect(next('cron(0 12 * * ? *)', '2026-03-01T12:00:00.000Z')).toBe('2026-03-02T12:00:00.000Z');
    expect(next('cron(0 12 * * ? *)', '2026-03-01T11:59:59.999Z')).toBe('2026-03-01T12:00:00.000Z');
    // Sunday is 1: the first Sunday after Wednesday 2026-04-01.
    expect(next('cron(0 8 ? * 1 *)', '2026-04-01T00:00:00.000Z')).toBe('2026-04-05T08:00:00.000Z');
    expect(next('cron(0 8 ? * SUN *)', '2026-04-01T00:00:00.000Z')).toBe('2026-04-05T08:00:00.000Z');
    // The last day of February in a leap year, and the first Monday of a month.
    expect(next('cron(0 0 L 2 ? *)', '2028-01-15T00:00:00.000Z')).toBe('2028-02-29T00:00:00.000Z');
    expect(next('cron(30 9 ? * MON#1 *)', '2026-06-02T00:00:00.000Z')).toBe('2026-07-06T09:30:00.000Z');
    expect(next('cron(*/20 * * * ? *)', '2026-01-01T00:41:00.000Z')).toBe('2026-01-01T01:00:00.000Z');
  });

  it('has no next time once the years have passed, or for a day that never comes', () => {
    expect(next('cron(0 0 1 1 ? 2020)', '2026-01-01T00:00:00.000Z')).toBeUndefined();
    expect(next('cron(0 0 30 2 ? *)', '2026-01-01T00:00:00.000Z')).toBeUndefined();
  });

  it('agrees with a minute-by-minute walk for any cron of these fields', () => {
    const values = (min: number, max: number) => fc.uniqueArray(fc.integer({ min, max }), { minLength: 1, maxLength: 4 });
    const field = (min: number, max: number) => fc.oneof(fc.constant('*'), values(min, max).map((list) => list.join(',')), fc.integer({ min, max }).chain((from) => fc.integer({ min: 1, max: 9 }).map((step) => `${from}/${step}`)));
    fc.assert(
      fc.property(
        field(0, 59),
        field(0, 23),
        fc.oneof(fc.constant({ dom: '?', dow: '*' }), field(1, 31).map((dom) => ({ dom, dow: '?' })), field(1, 7).map((dow) => ({ dom: '?', dow }))),
        fc.integer({ min: Date.UTC(2026, 0, 1), max: Date.UTC(2027, 0, 1) }),
        (minutes, hours, days, after) => {
          const expression = parsed(`cron(${minutes} ${hours} ${days.dom} * ${days.dow} *)`);
          const found = nextFireTime(expression, after, 0);
          expect(found).toBe(walk(minutes, hours, days, after));
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe('formatFireTime', () => {
  it('writes UTC to the second, as <aws.scheduler.scheduled-time> does', () => {
    expect(formatFireTime(Date.UTC(2026, 11, 1, 20, 45, 0, 123))).toBe('2026-12-01T20:45:00Z');
  });
});

/** The reference: try every minute (for 70 days) against the fields read the simple way. */
function walk(minutes: string, hours: string, days: { dom: string; dow: string }, after: number): number | undefined {
  const allows = (field: string, value: number) =>
    field === '*' ||
    field.split(',').some((part) => {
      const [from, step] = part.split('/');
      return step === undefined ? Number(from) === value : value >= Number(from) && (value - Number(from)) % Number(step) === 0;
    });
  let t = Math.floor(after / 60_000) * 60_000 + 60_000;
  for (let i = 0; i < 70 * 24 * 60; i++, t += 60_000) {
    const date = new Date(t);
    if (!allows(minutes, date.getUTCMinutes()) || !allows(hours, date.getUTCHours())) continue;
    if (days.dom !== '?' && !allows(days.dom, date.getUTCDate())) continue;
    if (days.dow !== '?' && days.dow !== '*' && !allows(days.dow, date.getUTCDay() + 1)) continue;
    return t;
  }
  return undefined;
}
