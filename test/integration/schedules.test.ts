// Workflow schedules on the local stack, through the HTTP API: created, listed, fired by the local
// runtime's timer (its time moved on with fireDue instead of waited for), the trigger function
// called twice for one fire, the overlap policies, pause, resume and delete, and bad requests; and
// the same through `dagflow schedule` and `dagflow schedules`.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT, main } from '../../cli/dagflow.js';
import type { LocalRuntime } from '../../local/runtime.js';
import { register, startRuntime, waitForRun, type ApiClient } from './e2e-support.js';

let runtime: LocalRuntime;
let api: ApiClient;

/** A run that stays RUNNING for a minute: the previous run an overlap policy sees. */
const waiting = (id: string) => ({ id, tasks: [{ id: 'hold', type: 'wait', seconds: 60 }] });

beforeAll(async () => {
  ({ runtime, api } = await startRuntime());
  for (const id of ['sched_skip', 'sched_cancel', 'sched_pause']) await register(api, waiting(id));
  await register(api, { id: 'sched_quick', tasks: [{ id: 'a', type: 'pass' }] });
}, 120_000);

afterAll(async () => {
  await runtime?.stop();
});

async function createSchedule(workflowId: string, body: Record<string, unknown>): Promise<{ scheduleId: string; nextFireTime: string }> {
  const created = await api.post(`/workflows/${workflowId}/schedules`, body);
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  return created.body;
}

async function runsOf(workflowId: string): Promise<Array<{ runId: string; status: string }>> {
  const { status, body } = await api.get(`/runs?workflowId=${workflowId}`);
  expect(status).toBe(200);
  return body.runs;
}

async function scheduleOf(workflowId: string, scheduleId: string) {
  const { status, body } = await api.get(`/workflows/${workflowId}/schedules`);
  expect(status).toBe(200);
  return body.schedules.find((schedule: { scheduleId: string }) => schedule.scheduleId === scheduleId);
}

/** Moves the timer's time to just after `iso` and fires what is due then. */
const fireAt = (iso: string) => runtime.scheduleTimer.fireDue(new Date(Date.parse(iso) + 1_000));

describe('workflow schedules on the local stack', () => {
  it('creates a schedule, lists it with its next fire, and arms the timer for it', async () => {
    const created = await createSchedule('sched_quick', { expression: 'rate(1 minute)', input: { n: 1 }, overlap: 'allow' });
    expect(created).toMatchObject({ workflowId: 'sched_quick', expression: 'rate(1 minute)', input: { n: 1 }, overlap: 'allow', state: 'ENABLED' });
    expect(created.scheduleId).toMatch(/^[0-9a-f-]{36}$/);
    const fireIn = Date.parse(created.nextFireTime) - Date.now();
    expect(fireIn).toBeGreaterThan(55_000);
    expect(fireIn).toBeLessThanOrEqual(60_000);
    expect(await scheduleOf('sched_quick', created.scheduleId)).toEqual(created);
    expect(runtime.scheduleTimer.nextDueAt()).toBe(Date.parse(created.nextFireTime));
    expect((await api.request('DELETE', `/workflows/sched_quick/schedules/${created.scheduleId}`)).status).toBe(204);
  });

  it('a fire starts a run carrying its trigger; the same fire again starts no other', async () => {
    const { scheduleId, nextFireTime } = await createSchedule('sched_quick', { expression: 'rate(5 minutes)', input: { from: 'schedule' } });
    const outcomes = await fireAt(nextFireTime);
    const fired = outcomes.find((outcome) => outcome.fireTime === nextFireTime.replace('.000Z', 'Z') && outcome.outcome === 'started');
    expect(fired).toBeDefined();
    const runId = fired?.outcome === 'started' ? fired.runId : '';
    const run = await waitForRun(api, runId);
    expect(run).toMatchObject({ status: 'COMPLETED', workflowId: 'sched_quick', input: { from: 'schedule' }, trigger: { scheduleId, fireTime: fired?.fireTime } });

    // EventBridge may deliver a fire twice: the trigger function called again with it.
    const again = await runtime.engine.triggerHandler({ scheduleId, workflowId: 'sched_quick', fireTime: fired?.fireTime });
    expect(again).toMatchObject({ outcome: 'started', runId, created: false });
    const ofThisSchedule = (await runsOf('sched_quick')).filter((listed) => listed.runId === runId);
    expect(ofThisSchedule).toHaveLength(1);
    expect(await scheduleOf('sched_quick', scheduleId)).toMatchObject({ lastRunId: runId, lastFireTime: fired?.fireTime, lastOutcome: 'started' });
    expect((await api.request('DELETE', `/workflows/sched_quick/schedules/${scheduleId}`)).status).toBe(204);
  });

  it('skip: no run while the previous one is still going', async () => {
    const { scheduleId, nextFireTime } = await createSchedule('sched_skip', { expression: 'rate(1 minute)', overlap: 'skip' });
    const [first] = await fireAt(nextFireTime);
    expect(first).toMatchObject({ outcome: 'started' });
    const next = (await scheduleOf('sched_skip', scheduleId)).nextFireTime as string;
    expect(await fireAt(next)).toEqual(expect.arrayContaining([expect.objectContaining({ outcome: 'skipped', runId: first?.outcome === 'started' ? first.runId : '' })]));
    expect(await runsOf('sched_skip')).toHaveLength(1);
    expect(await scheduleOf('sched_skip', scheduleId)).toMatchObject({ lastOutcome: 'skipped' });
    expect((await api.request('DELETE', `/workflows/sched_skip/schedules/${scheduleId}`)).status).toBe(204);
  });

  it('cancel_previous: the previous run is cancelled, and a new one starts', async () => {
    const { scheduleId, nextFireTime } = await createSchedule('sched_cancel', { expression: 'rate(1 minute)', overlap: 'cancel_previous' });
    const [first] = await fireAt(nextFireTime);
    const firstRunId = first?.outcome === 'started' ? first.runId : '';
    const next = (await scheduleOf('sched_cancel', scheduleId)).nextFireTime as string;
    const [second] = await fireAt(next);
    expect(second).toMatchObject({ outcome: 'started' });
    expect(second?.outcome === 'started' ? second.runId : firstRunId).not.toBe(firstRunId);
    expect((await waitForRun(api, firstRunId)).status).toBe('CANCELLED');
    expect((await api.get(`/runs/${second?.outcome === 'started' ? second.runId : ''}`)).body).toMatchObject({ status: 'RUNNING', trigger: { scheduleId } });
    expect((await api.request('DELETE', `/workflows/sched_cancel/schedules/${scheduleId}`)).status).toBe(204);
  });

  it('pause stops the fires, resume starts them again, delete removes the schedule', async () => {
    const { scheduleId, nextFireTime } = await createSchedule('sched_pause', { expression: 'cron(* * * * ? *)', overlap: 'allow' });
    const paused = await api.post(`/workflows/sched_pause/schedules/${scheduleId}/pause`);
    expect(paused.status).toBe(200);
    expect(paused.body).toMatchObject({ scheduleId, state: 'PAUSED' });
    expect(paused.body.nextFireTime).toBeUndefined();
    expect(runtime.scheduleTimer.nextDueAt()).toBeUndefined();
    await fireAt(nextFireTime);
    // A fire already on its way when the schedule was paused (EventBridge's, say) starts nothing either.
    expect(await runtime.engine.triggerHandler({ scheduleId, workflowId: 'sched_pause', fireTime: nextFireTime })).toMatchObject({ outcome: 'ignored' });
    expect(await runsOf('sched_pause')).toHaveLength(0);

    const resumed = await api.post(`/workflows/sched_pause/schedules/${scheduleId}/resume`);
    expect(resumed.status).toBe(200);
    expect(resumed.body).toMatchObject({ state: 'ENABLED', nextFireTime: expect.any(String) });
    expect(await fireAt(resumed.body.nextFireTime)).toEqual([expect.objectContaining({ outcome: 'started' })]);
    expect(await runsOf('sched_pause')).toHaveLength(1);

    expect((await api.request('DELETE', `/workflows/sched_pause/schedules/${scheduleId}`)).status).toBe(204);
    expect(await scheduleOf('sched_pause', scheduleId)).toBeUndefined();
    expect(runtime.scheduleTimer.nextDueAt()).toBeUndefined();
    expect(await runtime.engine.triggerHandler({ scheduleId, workflowId: 'sched_pause', fireTime: new Date(Date.now() + 3_600_000).toISOString() })).toMatchObject({ outcome: 'ignored' });
    expect(await runsOf('sched_pause')).toHaveLength(1);
    expect((await api.request('DELETE', `/workflows/sched_pause/schedules/${scheduleId}`)).status).toBe(404);
    expect((await api.post(`/workflows/sched_pause/schedules/${scheduleId}/resume`)).status).toBe(404);
  });

  it('answers a bad request with a 400 naming the field, and an unknown workflow with a 404', async () => {
    const problems = async (body: unknown) => {
      const answer = await api.post('/workflows/sched_quick/schedules', body);
      expect(answer.status).toBe(400);
      expect(answer.body.error.code).toBe('VALIDATION_ERROR');
      return answer.body.error.problems as Array<{ path: string; message: string }>;
    };
    expect(await problems({ expression: 'rate(1 minutes)' })).toEqual([{ path: 'body.expression', message: expect.stringMatching(/singular for 1/) }]);
    expect(await problems({ expression: 'cron(0 12 * * *)' })).toEqual([{ path: 'body.expression', message: expect.stringMatching(/6 fields/) }]);
    expect(await problems({ expression: 'cron(0 0 1 1 ? 2020)' })).toEqual([{ path: 'body.expression', message: expect.stringMatching(/never fires again/) }]);
    expect(await problems({})).toEqual([{ path: 'body.expression', message: expect.stringMatching(/expression is required/) }]);
    expect(await problems({ expression: 'rate(1 minute)', overlap: 'queue' })).toEqual([{ path: 'body.overlap', message: 'overlap must be one of skip, allow, cancel_previous' }]);
    expect(await problems({ expression: 'rate(1 minute)', version: 'latest' })).toEqual([{ path: 'body.version', message: 'version must be 16 hex digits' }]);
    expect((await problems({ expression: 'rate(1 minute)', inputs: {} }))[0]?.message).toMatch(/inputs/);
    expect((await api.post('/workflows/sched_quick/schedules', 'not json')).status).toBe(400);

    const unknown = await api.post('/workflows/nope/schedules', { expression: 'rate(1 minute)' });
    expect(unknown.status).toBe(404);
    expect((await api.get('/workflows/nope/schedules')).status).toBe(404);
    expect((await api.post('/workflows/sched_quick/schedules', { expression: 'rate(1 minute)', version: '0123456789abcdef' })).status).toBe(404);
    const badId = await api.request('DELETE', '/workflows/sched_quick/schedules/no%20such');
    expect(badId.status).toBe(400);
    expect(badId.body.error.problems[0].path).toBe('scheduleId');
  });
});

describe('dagflow schedule and schedules', () => {
  const cli = async (...args: string[]) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(args, { out: (line) => out.push(line), err: (line) => err.push(line) }, { DAGFLOW_URL: runtime.apiUrl });
    return { code, out, err };
  };

  it('creates, lists, pauses, resumes and deletes a schedule', async () => {
    const created = await cli('schedule', 'sched_quick', '--expression', 'rate(2 hours)', '--input', '{"a":1}', '--overlap', 'allow');
    expect(created.code, created.err.join('\n')).toBe(EXIT.ok);
    const scheduleId = /^created schedule (\S+) of sched_quick$/.exec(created.out[0] ?? '')?.[1] ?? '';
    expect(scheduleId).not.toBe('');
    expect(created.out[1]).toMatch(new RegExp(`^${scheduleId}  ENABLED  rate\\(2 hours\\)  overlap allow  next \\S+Z$`));

    const listed = await cli('schedules', 'sched_quick', '--json');
    expect(JSON.parse(listed.out.join('\n')).schedules).toEqual([expect.objectContaining({ scheduleId, input: { a: 1 }, overlap: 'allow', state: 'ENABLED' })]);
    expect((await cli('schedule', 'pause', 'sched_quick', scheduleId)).out).toEqual([expect.stringMatching(new RegExp(`^${scheduleId}  PAUSED   rate`))]);
    expect((await cli('schedule', 'resume', 'sched_quick', scheduleId)).out).toEqual([expect.stringMatching(/ENABLED .* next /)]);
    expect((await cli('schedule', 'delete', 'sched_quick', scheduleId)).out).toEqual([`deleted schedule ${scheduleId} of sched_quick`]);
    expect((await cli('schedules', 'sched_quick')).out).toEqual(['no schedules of sched_quick']);
  });

  it('refuses a bad command line with exit 2, and says the API\'s refusal with exit 1', async () => {
    expect((await cli('schedule', 'sched_quick')).code).toBe(EXIT.usage);
    expect((await cli('schedule', 'sched_quick', '--expression', 'rate(1 minute)', '--overlap', 'queue')).err[0]).toMatch(/--overlap must be skip, allow or cancel_previous/);
    const refused = await cli('schedule', 'sched_quick', '--expression', 'rate(1 minutes)');
    expect(refused.code).toBe(EXIT.error);
    expect(refused.err).toEqual([expect.stringMatching(/^dagflow: 400 VALIDATION_ERROR: .*body\.expression: rate expression "rate\(1 minutes\)"/)]);
    expect((await cli('schedule', 'delete', 'sched_quick', 'no-such-schedule')).err).toEqual([expect.stringMatching(/^dagflow: 404 NOT_FOUND/)]);
  });
});
