// Schedule expressions in EventBridge Scheduler's syntax, parsed and evaluated here so that the
// local engine fires schedules at the times AWS would, and the API can refuse (naming the
// problem) what EventBridge would refuse:
//
//   rate(<n> minute|minutes|hour|hours|day|days)           singular exactly when n is 1
//   cron(<minutes> <hours> <day-of-month> <month> <day-of-week> <year>)
//
// Cron fields take `*`, lists (`,`), ranges (`-`) and steps (`/`); months JAN-DEC and days of the
// week SUN-SAT (1-7, Sunday is 1, as in EventBridge); one of day-of-month and day-of-week must be
// `?`. Also `L` (the last day of the month) in day-of-month and `<day>#<n>` (the n-th such day of
// the month) in day-of-week. `W` and `L` in day-of-week are refused: not evaluated here. Times are
// UTC, to the minute. Pure: no clock, every time is passed in.

export type ScheduleExpression =
  | { kind: 'rate'; text: string; everyMs: number }
  | { kind: 'cron'; text: string; cron: CronFields };

export interface CronFields {
  minutes: ReadonlySet<number>;
  hours: ReadonlySet<number>;
  /** Days of the month, or 'L' (the last), or undefined for `?`. */
  daysOfMonth: { days: ReadonlySet<number>; last: boolean } | undefined;
  months: ReadonlySet<number>;
  /** Days of the week, 1 (Sunday) to 7, or the n-th of one; undefined for `?`. */
  daysOfWeek: { days: ReadonlySet<number>; nth: ReadonlyArray<{ day: number; n: number }> } | undefined;
  years: ReadonlySet<number>;
}

export type ParsedExpression = { ok: true; expression: ScheduleExpression } | { ok: false; message: string };

const MINUTE_MS = 60_000;
const DAY_MS = 24 * 60 * MINUTE_MS;
const UNITS: Record<string, number> = { minute: MINUTE_MS, hour: 60 * MINUTE_MS, day: DAY_MS };
const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const WEEKDAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];
/** EventBridge's range of years. */
const FIRST_YEAR = 1970;
const LAST_YEAR = 2199;

export function parseScheduleExpression(text: string): ParsedExpression {
  const trimmed = text.trim();
  const rate = /^rate\((.*)\)$/.exec(trimmed);
  if (rate !== null) return parseRate(trimmed, rate[1] ?? '');
  const cron = /^cron\((.*)\)$/.exec(trimmed);
  if (cron !== null) return parseCron(trimmed, cron[1] ?? '');
  return fail(`"${text}" is neither rate(<value> <unit>) nor cron(<minutes> <hours> <day-of-month> <month> <day-of-week> <year>)`);
}

function parseRate(text: string, body: string): ParsedExpression {
  const match = /^\s*(\d+)\s+([a-z]+)\s*$/.exec(body);
  if (match === null) return fail(`rate expression "${text}" must be rate(<value> <unit>), e.g. rate(5 minutes)`);
  const value = Number(match[1]);
  const unit = match[2] ?? '';
  const singular = unit.endsWith('s') ? unit.slice(0, -1) : unit;
  const unitMs = UNITS[singular];
  if (unitMs === undefined) return fail(`rate expression "${text}": the unit must be minute(s), hour(s) or day(s)`);
  if (!Number.isSafeInteger(value) || value < 1) return fail(`rate expression "${text}": the value must be a whole number of at least 1`);
  if ((value === 1) !== (unit === singular)) {
    return fail(`rate expression "${text}": the unit is singular for 1 and plural above (rate(1 ${singular}), rate(${value === 1 ? 2 : value} ${singular}s))`);
  }
  if (value * unitMs > 3650 * DAY_MS) return fail(`rate expression "${text}" is longer than ten years`);
  return { ok: true, expression: { kind: 'rate', text, everyMs: value * unitMs } };
}

function parseCron(text: string, body: string): ParsedExpression {
  const fields = body.trim().split(/\s+/);
  if (fields.length !== 6) {
    return fail(`cron expression "${text}" must have 6 fields (minutes hours day-of-month month day-of-week year), not ${fields.length}`);
  }
  const [minutes, hours, dayOfMonth, month, dayOfWeek, year] = fields as [string, string, string, string, string, string];
  try {
    if ((dayOfMonth === '?') === (dayOfWeek === '?')) {
      throw new CronError('exactly one of day-of-month and day-of-week must be ?');
    }
    const cron: CronFields = {
      minutes: parseField(minutes, 'minutes', 0, 59),
      hours: parseField(hours, 'hours', 0, 23),
      daysOfMonth: dayOfMonth === '?' ? undefined : parseDaysOfMonth(dayOfMonth),
      months: parseField(month, 'month', 1, 12, MONTHS),
      daysOfWeek: dayOfWeek === '?' ? undefined : parseDaysOfWeek(dayOfWeek),
      years: parseField(year, 'year', FIRST_YEAR, LAST_YEAR),
    };
    return { ok: true, expression: { kind: 'cron', text, cron } };
  } catch (error) {
    if (error instanceof CronError) return fail(`cron expression "${text}": ${error.message}`);
    throw error;
  }
}

class CronError extends Error {}

function parseDaysOfMonth(field: string): NonNullable<CronFields['daysOfMonth']> {
  if (/W/i.test(field)) throw new CronError('W (nearest weekday) in day-of-month is not supported');
  const parts = field.split(',');
  const last = parts.some((part) => part.toUpperCase() === 'L');
  const rest = parts.filter((part) => part.toUpperCase() !== 'L');
  return { days: rest.length === 0 ? new Set() : parseField(rest.join(','), 'day-of-month', 1, 31), last };
}

function parseDaysOfWeek(field: string): NonNullable<CronFields['daysOfWeek']> {
  if (/L/i.test(field)) throw new CronError('L (last weekday) in day-of-week is not supported');
  const nth: Array<{ day: number; n: number }> = [];
  const plain: string[] = [];
  for (const part of field.split(',')) {
    const hash = /^([A-Za-z]+|\d+)#(\d+)$/.exec(part);
    if (hash === null) {
      plain.push(part);
      continue;
    }
    const day = valueOf(hash[1] ?? '', 'day-of-week', 1, 7, WEEKDAYS);
    const n = Number(hash[2]);
    if (n < 1 || n > 5) throw new CronError(`day-of-week "${part}": the occurrence after # must be 1 to 5`);
    nth.push({ day, n });
  }
  return { days: plain.length === 0 ? new Set() : parseField(plain.join(','), 'day-of-week', 1, 7, WEEKDAYS), nth };
}

/** A field of `*`, values, ranges and steps, as the set of the values it allows. */
function parseField(field: string, name: string, min: number, max: number, names?: readonly string[]): Set<number> {
  const values = new Set<number>();
  for (const part of field.split(',')) {
    const [range = '', stepText] = part.split('/') as [string, string | undefined];
    let step = 1;
    if (stepText !== undefined) {
      if (!/^\d+$/.test(stepText) || Number(stepText) < 1) throw new CronError(`${name} "${part}": the step after / must be a whole number of at least 1`);
      step = Number(stepText);
    }
    let from: number;
    let to: number;
    if (range === '*') {
      from = min;
      to = max;
    } else if (range.includes('-')) {
      const [a = '', b = '', ...more] = range.split('-');
      if (more.length > 0) throw new CronError(`${name} "${part}" is not a range`);
      from = valueOf(a, name, min, max, names);
      to = valueOf(b, name, min, max, names);
      if (from > to) throw new CronError(`${name} "${part}": the range runs backwards`);
    } else {
      from = valueOf(range, name, min, max, names);
      // `5/15` means from 5 to the end, every 15.
      to = stepText === undefined ? from : max;
    }
    for (let value = from; value <= to; value += step) values.add(value);
  }
  return values;
}

function valueOf(text: string, name: string, min: number, max: number, names?: readonly string[]): number {
  const named = names?.indexOf(text.toUpperCase()) ?? -1;
  if (named >= 0) return named + 1;
  if (!/^\d+$/.test(text)) throw new CronError(`${name} "${text}" is not a number${names === undefined ? '' : ` or a name (${names[0]}-${names[names.length - 1]})`}`);
  const value = Number(text);
  if (value < min || value > max) throw new CronError(`${name} ${value} is out of range (${min}-${max})`);
  return value;
}

function fail(message: string): ParsedExpression {
  return { ok: false, message };
}

/**
 * The first fire time strictly after `after` (epoch ms), or undefined when there is none (a cron
 * whose years are past). A rate fires every `everyMs` from `anchor` (the schedule's start).
 */
export function nextFireTime(expression: ScheduleExpression, after: number, anchor: number): number | undefined {
  if (expression.kind === 'rate') {
    if (after < anchor) return anchor + expression.everyMs;
    const periods = Math.floor((after - anchor) / expression.everyMs) + 1;
    return anchor + periods * expression.everyMs;
  }
  return nextCronTime(expression.cron, after);
}

/**
 * The next minute the cron allows, strictly after `after`: each field is advanced to its next
 * allowed value in turn (year, month, day, hour, minute), so a sparse cron takes a few steps,
 * not a walk through every minute.
 */
function nextCronTime(cron: CronFields, after: number): number | undefined {
  const t = new Date(Math.floor(after / MINUTE_MS) * MINUTE_MS + MINUTE_MS);
  for (let steps = 0; steps < 100_000; steps++) {
    const year = t.getUTCFullYear();
    if (year > LAST_YEAR) return undefined;
    if (!cron.years.has(year)) {
      const next = [...cron.years].filter((y) => y > year).sort((a, b) => a - b)[0];
      if (next === undefined) return undefined;
      t.setTime(Date.UTC(next, 0, 1));
      continue;
    }
    if (!cron.months.has(t.getUTCMonth() + 1)) {
      t.setTime(Date.UTC(year, t.getUTCMonth() + 1, 1));
      continue;
    }
    if (!dayMatches(cron, t)) {
      t.setTime(Date.UTC(year, t.getUTCMonth(), t.getUTCDate() + 1));
      continue;
    }
    if (!cron.hours.has(t.getUTCHours())) {
      t.setTime(Date.UTC(year, t.getUTCMonth(), t.getUTCDate(), t.getUTCHours() + 1));
      continue;
    }
    if (!cron.minutes.has(t.getUTCMinutes())) {
      t.setTime(t.getTime() + MINUTE_MS);
      continue;
    }
    return t.getTime();
  }
  return undefined;
}

function dayMatches(cron: CronFields, t: Date): boolean {
  const date = t.getUTCDate();
  if (cron.daysOfMonth !== undefined) {
    const lastDay = new Date(Date.UTC(t.getUTCFullYear(), t.getUTCMonth() + 1, 0)).getUTCDate();
    return cron.daysOfMonth.days.has(date) || (cron.daysOfMonth.last && date === lastDay);
  }
  if (cron.daysOfWeek !== undefined) {
    const weekday = t.getUTCDay() + 1;
    const occurrence = Math.floor((date - 1) / 7) + 1;
    return cron.daysOfWeek.days.has(weekday) || cron.daysOfWeek.nth.some((nth) => nth.day === weekday && nth.n === occurrence);
  }
  return true;
}

/** A fire time as EventBridge Scheduler writes <aws.scheduler.scheduled-time>: UTC, to the second. */
export function formatFireTime(epochMs: number): string {
  return new Date(Math.floor(epochMs / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}
