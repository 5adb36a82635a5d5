// The critical path of a finished run, on task records with known times.
import { describe, expect, it } from 'vitest';
import { criticalPath } from '../../shared/engine/critical-path.js';
import type { AttemptRecord, TaskRecord } from '../../shared/engine/records.js';
import { assertDefinition, type WorkflowDefinitionInput } from '../../shared/model/definition.js';
import { at, taskRecord as record } from './support/records.js';

const RUN = { phase: 0, startedAt: at(0) };

/** A task that ran from `start` to `end` (ms after the run began). */
function ran(taskId: string, start: number, end: number, extra: Partial<TaskRecord> = {}): TaskRecord {
  return record(taskId, 'SUCCEEDED', { startedAt: at(start), completedAt: at(end), durationMs: end - start, ...extra });
}

function attempt(n: number, start: number, end: number, outcome: AttemptRecord['outcome']): AttemptRecord {
  return { attempt: n, phase: 0, startedAt: at(start), completedAt: at(end), durationMs: end - start, outcome };
}

function pathOf(tasks: WorkflowDefinitionInput['tasks'], records: TaskRecord[], run = RUN) {
  return criticalPath(run, assertDefinition({ id: 'w', tasks }), records);
}

const ids = (steps: ReturnType<typeof criticalPath>) => steps.map((step) => step.taskId);

describe('criticalPath', () => {
  it('is empty when no task started', () => {
    expect(pathOf([{ id: 'a', type: 'pass' }], [])).toEqual([]);
    // Cancelled before it ran: it finished, but took no time of its own.
    expect(pathOf([{ id: 'a', type: 'pass' }], [record('a', 'CANCELLED', { completedAt: at(5) })])).toEqual([]);
  });

  it('follows a chain, with each task\'s duration and its wait after its dependency finished', () => {
    const steps = pathOf(
      [
        { id: 'a', type: 'pass' },
        { id: 'b', type: 'pass', dependsOn: ['a'] },
      ],
      [ran('a', 10, 110), ran('b', 150, 400)],
    );
    expect(steps).toEqual([
      { taskId: 'a', startedAt: at(10), completedAt: at(110), durationMs: 100, waitMs: 10 },
      { taskId: 'b', startedAt: at(150), completedAt: at(400), durationMs: 250, waitMs: 40 },
    ]);
    // Together, the steps are the run's time to its last task's end.
    expect(steps.reduce((sum, step) => sum + step.durationMs + step.waitMs, 0)).toBe(400);
  });

  it('takes the longer of parallel branches', () => {
    const tasks: WorkflowDefinitionInput['tasks'] = [
      { id: 'fast', type: 'pass' },
      { id: 'slow', type: 'pass' },
      { id: 'join', type: 'pass', dependsOn: ['fast', 'slow'] },
    ];
    expect(ids(pathOf(tasks, [ran('fast', 0, 100), ran('slow', 0, 900), ran('join', 910, 1_000)]))).toEqual(['slow', 'join']);
    // Two independent branches: the one that ends last is the run's end.
    const branches: WorkflowDefinitionInput['tasks'] = [
      { id: 'a1', type: 'pass' },
      { id: 'a2', type: 'pass', dependsOn: ['a1'] },
      { id: 'b1', type: 'pass' },
      { id: 'b2', type: 'pass', dependsOn: ['b1'] },
    ];
    expect(ids(pathOf(branches, [ran('a1', 0, 100), ran('a2', 100, 200), ran('b1', 0, 300), ran('b2', 300, 600)]))).toEqual(['b1', 'b2']);
  });

  it('walks a diamond through the side that finished last', () => {
    const diamond: WorkflowDefinitionInput['tasks'] = [
      { id: 'top', type: 'pass' },
      { id: 'left', type: 'pass', dependsOn: ['top'] },
      { id: 'right', type: 'pass', dependsOn: ['top'] },
      { id: 'bottom', type: 'pass', dependsOn: ['left', 'right'] },
    ];
    const steps = pathOf(diamond, [ran('top', 0, 100), ran('left', 120, 300), ran('right', 110, 500), ran('bottom', 530, 600)]);
    expect(ids(steps)).toEqual(['top', 'right', 'bottom']);
    expect(steps.map((step) => step.waitMs)).toEqual([0, 10, 30]);
  });

  it('counts a retried task from its first attempt, its backoff included', () => {
    const steps = pathOf(
      [
        { id: 'a', type: 'pass' },
        { id: 'flaky', type: 'pass', dependsOn: ['a'], retry: { maxRetries: 2 } },
      ],
      [
        ran('a', 0, 100),
        // Attempt 1 ran 120-200 and was retried; attempt 2 ran 1,200-1,300 (the item's startedAt is the last attempt's).
        ran('flaky', 1_200, 1_300, { attempt: 2, attempts: [attempt(1, 120, 200, 'RETRIED'), attempt(2, 1_200, 1_300, 'SUCCEEDED')] }),
      ],
    );
    expect(steps[1]).toEqual({ taskId: 'flaky', startedAt: at(120), completedAt: at(1_300), durationMs: 1_180, waitMs: 20 });
  });

  it('ends a failed run\'s path at the task that failed last, past the tasks its failure skipped', () => {
    const steps = pathOf(
      [
        { id: 'a', type: 'pass' },
        { id: 'b', type: 'pass', dependsOn: ['a'] },
        { id: 'c', type: 'pass', dependsOn: ['b'] },
        { id: 'side', type: 'pass' },
      ],
      [
        ran('a', 0, 100),
        record('b', 'FAILED', { startedAt: at(100), completedAt: at(700), error: { name: 'Boom', message: 'x', retryable: false } }),
        record('c', 'SKIPPED', { completedAt: at(710), reason: 'upstream b FAILED' }),
        ran('side', 0, 300),
      ],
    );
    expect(ids(steps)).toEqual(['a', 'b']);
  });

  it('passes through a skipped dependency: the wait counts from what released it', () => {
    const steps = pathOf(
      [
        { id: 'a', type: 'pass' },
        { id: 'b', type: 'pass', dependsOn: ['a'] },
        { id: 'cleanup', type: 'pass', dependsOn: ['b'], trigger: 'all_done' },
      ],
      [record('a', 'FAILED', { startedAt: at(0), completedAt: at(100) }), record('b', 'SKIPPED', { completedAt: at(110) }), ran('cleanup', 130, 200)],
    );
    expect(steps.map((step) => [step.taskId, step.waitMs])).toEqual([
      ['a', 0],
      ['cleanup', 30],
    ]);
  });

  it('follows the first success that released a one_success task, not the slower dependency', () => {
    const steps = pathOf(
      [
        { id: 'primary', type: 'pass' },
        { id: 'fallback', type: 'pass' },
        { id: 'use', type: 'pass', dependsOn: ['primary', 'fallback'], trigger: 'one_success' },
      ],
      [ran('primary', 0, 100), ran('fallback', 0, 150), ran('use', 110, 1_000)],
    );
    expect(ids(steps)).toEqual(['primary', 'use']);
  });

  it('keeps to the current phase of a resumed run: kept successes released their dependents when it began', () => {
    const steps = pathOf(
      [
        { id: 'a', type: 'pass' },
        { id: 'b', type: 'pass', dependsOn: ['a'] },
      ],
      [ran('a', 0, 100), ran('b', 5_050, 5_200, { phase: 1 }), record('compensate:a', 'SUCCEEDED', { phase: 1, startedAt: at(5_300), completedAt: at(5_400) })],
      { phase: 1, startedAt: at(5_000) },
    );
    expect(steps).toEqual([{ taskId: 'b', startedAt: at(5_050), completedAt: at(5_200), durationMs: 150, waitMs: 50 }]);
  });
});
