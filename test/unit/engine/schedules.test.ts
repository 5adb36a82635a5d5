// Schedules on the in-memory ports: the manager keeps the target in step with the items, and the
// firer's idempotent starts and overlap policies (skip, allow, cancel_previous).
import { describe, expect, it } from 'vitest';
import { NotFoundError } from '../../../shared/model/errors.js';
import { ScheduleFirer, ScheduleManager, scheduleView, type OverlapPolicy } from '../../../shared/engine/schedules.js';
import { Engine } from '../support/engine.js';
import { MemoryScheduleStore, RecordingTarget } from '../support/memory-schedules.js';

const FIRE = '2030-01-01T00:01:00Z';
const NEXT_FIRE = '2030-01-01T00:02:00Z';

async function setUp(overlap: OverlapPolicy = 'skip') {
  const engine = new Engine();
  const definition = await engine.define({ id: 'nightly', tasks: [{ id: 'a', type: 'pass' }] });
  const schedules = new MemoryScheduleStore(engine.now);
  const target = new RecordingTarget();
  let ids = 0;
  let runs = 0;
  const manager = new ScheduleManager({ schedules, definitions: engine.store.definitions, target, now: engine.now, newScheduleId: () => `s${++ids}` });
  const firer = new ScheduleFirer({
    schedules,
    runs: engine.store.runs,
    definitions: engine.definitions,
    catalog: engine.store.definitions,
    runControl: engine.runControl(),
    now: engine.now,
    newRunId: () => `run-${++runs}`,
  });
  const schedule = await manager.create('nightly', { expression: 'rate(1 minute)', input: { n: 1 }, overlap });
  /** Runs every queued task and lets the scheduler finish the runs. */
  const finishRuns = async () => {
    const worker = engine.worker({}, { chain: false });
    for (let sent = engine.queue.take(); sent.length > 0; sent = engine.queue.take()) {
      for (const { message } of sent) await worker.process(message);
      await engine.settle();
    }
  };
  return { engine, definition, schedules, target, manager, firer, schedule, finishRuns };
}

describe('ScheduleManager', () => {
  it('creates an ENABLED schedule, tells the target, and shows its next fire', async () => {
    const { schedule, target, engine } = await setUp();
    expect(schedule).toMatchObject({ scheduleId: 's1', workflowId: 'nightly', expression: 'rate(1 minute)', input: { n: 1 }, overlap: 'skip', state: 'ENABLED' });
    expect(target.schedules.get('s1')).toEqual(schedule);
    expect(scheduleView(schedule, engine.clock.ms)).toMatchObject({ nextFireTime: FIRE });
  });

  it('refuses an unknown workflow or pinned version', async () => {
    const { manager } = await setUp();
    await expect(manager.create('nope', { expression: 'rate(1 minute)' })).rejects.toBeInstanceOf(NotFoundError);
    await expect(manager.create('nightly', { expression: 'rate(1 minute)', version: '0123456789abcdef' })).rejects.toThrow(/version "0123456789abcdef" not found/);
  });

  it('does not keep a schedule its target refused', async () => {
    const { manager, target, schedules } = await setUp();
    target.failing = true;
    await expect(manager.create('nightly', { expression: 'rate(5 minutes)' })).rejects.toThrow(/unavailable/);
    expect((await schedules.listSchedules('nightly')).map((s) => s.scheduleId)).toEqual(['s1']);
  });

  it('leaves the target in the state the item has when a pause and a resume cross', async () => {
    const { manager, target, schedules } = await setUp();
    // While the pause is told to the target, a resume writes the item (its own put comes first).
    const put = target.put.bind(target);
    let crossed = false;
    target.put = async (schedule) => {
      if (schedule.state === 'PAUSED' && !crossed) {
        crossed = true;
        await schedules.setState('nightly', 's1', 'ENABLED');
        await put({ ...schedule, state: 'ENABLED' });
      }
      await put(schedule);
    };
    await manager.setState('nightly', 's1', 'PAUSED');
    expect((await schedules.getSchedule('nightly', 's1'))?.state).toBe('ENABLED');
    expect(target.schedules.get('s1')?.state).toBe('ENABLED');
  });

  it('pauses and resumes through the target, and deletes from the target first', async () => {
    const { manager, target, schedules } = await setUp();
    expect((await manager.setState('nightly', 's1', 'PAUSED')).state).toBe('PAUSED');
    expect(target.schedules.get('s1')?.state).toBe('PAUSED');
    expect((await manager.setState('nightly', 's1', 'ENABLED')).state).toBe('ENABLED');
    expect(target.schedules.get('s1')?.state).toBe('ENABLED');
    target.failing = true;
    await expect(manager.remove('nightly', 's1')).rejects.toThrow(/unavailable/);
    expect(await schedules.getSchedule('nightly', 's1')).toBeDefined();
    target.failing = false;
    await manager.remove('nightly', 's1');
    expect(await schedules.getSchedule('nightly', 's1')).toBeUndefined();
    expect(target.schedules.size).toBe(0);
    await expect(manager.remove('nightly', 's1')).rejects.toBeInstanceOf(NotFoundError);
    await expect(manager.setState('nightly', 's1', 'PAUSED')).rejects.toBeInstanceOf(NotFoundError);
  });
});

describe('ScheduleFirer', () => {
  it('starts a run with the schedule input, carrying its trigger', async () => {
    const { firer, engine } = await setUp();
    expect(await firer.fire({ scheduleId: 's1', workflowId: 'nightly', fireTime: '2030-01-01T00:01:00.000Z' })).toEqual({ outcome: 'started', runId: 'run-1', fireTime: FIRE, created: true });
    expect(engine.store.run('run-1')).toMatchObject({ workflowId: 'nightly', trigger: { scheduleId: 's1', fireTime: FIRE }, idempotencyKey: `schedule:s1:${FIRE}` });
    expect(await engine.store.runs.getRunInput('run-1')).toEqual({ n: 1 });
  });

  it('starts nothing for a fire delivered more than 15 minutes late (catch-up is off)', async () => {
    const { firer, engine } = await setUp();
    engine.clock.advance(Date.parse(FIRE) - engine.clock.ms + 16 * 60_000);
    expect(await firer.fire({ scheduleId: 's1', workflowId: 'nightly', fireTime: FIRE })).toMatchObject({ outcome: 'ignored', reason: expect.stringContaining('late') });
    expect((await engine.store.runs.listRuns({ workflowId: 'nightly' })).runs).toHaveLength(0);
  });

  it('starts one run for the same fire delivered twice, even at once', async () => {
    const { firer, engine } = await setUp('allow');
    const fire = { scheduleId: 's1', workflowId: 'nightly', fireTime: FIRE };
    const outcomes = await Promise.all([firer.fire(fire), firer.fire(fire)]);
    expect(outcomes.map((outcome) => outcome.outcome)).toEqual(['started', 'started']);
    expect(new Set(outcomes.map((outcome) => (outcome.outcome === 'started' ? outcome.runId : '')))).toEqual(new Set(['run-1']));
    expect(await firer.fire(fire)).toEqual({ outcome: 'started', runId: 'run-1', fireTime: FIRE, created: false });
    expect((await engine.store.runs.listRuns({ workflowId: 'nightly' })).runs).toHaveLength(1);
  });

  it('skip: no run while the previous one goes on, a run once it ended', async () => {
    const { firer, finishRuns, schedules } = await setUp('skip');
    await firer.fire({ scheduleId: 's1', workflowId: 'nightly', fireTime: FIRE });
    expect(await firer.fire({ scheduleId: 's1', workflowId: 'nightly', fireTime: NEXT_FIRE })).toEqual({ outcome: 'skipped', runId: 'run-1', fireTime: NEXT_FIRE });
    expect(await schedules.getSchedule('nightly', 's1')).toMatchObject({ lastRunId: 'run-1', lastFire: { fireTime: NEXT_FIRE, outcome: 'skipped' } });
    await finishRuns();
    expect(await firer.fire({ scheduleId: 's1', workflowId: 'nightly', fireTime: '2030-01-01T00:03:00Z' })).toMatchObject({ outcome: 'started', runId: 'run-2' });
  });

  it('allow: a run per fire, whatever is still going', async () => {
    const { firer, engine } = await setUp('allow');
    await firer.fire({ scheduleId: 's1', workflowId: 'nightly', fireTime: FIRE });
    expect(await firer.fire({ scheduleId: 's1', workflowId: 'nightly', fireTime: NEXT_FIRE })).toMatchObject({ outcome: 'started', runId: 'run-2' });
    expect(engine.store.run('run-1')?.status).toBe('RUNNING');
  });

  it('cancel_previous: the previous run is cancelled, then a run starts', async () => {
    const { firer, engine, finishRuns } = await setUp('cancel_previous');
    await firer.fire({ scheduleId: 's1', workflowId: 'nightly', fireTime: FIRE });
    expect(await firer.fire({ scheduleId: 's1', workflowId: 'nightly', fireTime: NEXT_FIRE })).toMatchObject({ outcome: 'started', runId: 'run-2' });
    expect(engine.store.run('run-1')?.cancel?.reason).toMatch(/cancelled by schedule s1/);
    await finishRuns();
    expect(engine.store.run('run-1')?.status).toBe('CANCELLED');
    expect(engine.store.run('run-2')?.status).toBe('COMPLETED');
    // An ended previous run is left as it is.
    expect(await firer.fire({ scheduleId: 's1', workflowId: 'nightly', fireTime: '2030-01-01T00:03:00Z' })).toMatchObject({ outcome: 'started', runId: 'run-3' });
    expect(engine.store.run('run-2')?.status).toBe('COMPLETED');
  });

  it('ignores the fires of a paused or deleted schedule, and a fire older than the last one', async () => {
    const { firer, manager, engine } = await setUp('allow');
    await firer.fire({ scheduleId: 's1', workflowId: 'nightly', fireTime: NEXT_FIRE });
    expect(await firer.fire({ scheduleId: 's1', workflowId: 'nightly', fireTime: FIRE })).toMatchObject({ outcome: 'ignored', reason: expect.stringMatching(/later fire/) });
    await manager.setState('nightly', 's1', 'PAUSED');
    expect(await firer.fire({ scheduleId: 's1', workflowId: 'nightly', fireTime: '2030-01-01T00:03:00Z' })).toMatchObject({ outcome: 'ignored', reason: 'the schedule is paused' });
    await manager.remove('nightly', 's1');
    expect(await firer.fire({ scheduleId: 's1', workflowId: 'nightly', fireTime: '2030-01-01T00:04:00Z' })).toMatchObject({ outcome: 'ignored' });
    expect((await engine.store.runs.listRuns({ workflowId: 'nightly' })).runs).toHaveLength(1);
  });

  it("starts the workflow's latest version at fire time, unless the schedule pins one", async () => {
    const { firer, manager, engine, definition } = await setUp('allow');
    const pinned = await manager.create('nightly', { expression: 'rate(1 minute)', version: definition.version });
    const newer = await engine.define({ id: 'nightly', tasks: [{ id: 'a', type: 'pass' }, { id: 'b', type: 'pass' }] });
    await firer.fire({ scheduleId: 's1', workflowId: 'nightly', fireTime: FIRE });
    await firer.fire({ scheduleId: pinned.scheduleId, workflowId: 'nightly', fireTime: FIRE });
    expect(engine.store.run('run-1')?.version).toBe(newer.version);
    expect(engine.store.run('run-2')?.version).toBe(definition.version);
  });

});
