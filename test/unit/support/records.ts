// Run and task records as the engine's stores return them, for the tests of the pure analyses of
// a run (explain, critical path, run view, run statistics): every field at its quiet default, the
// ones a test is about given in `extra`. Times are milliseconds after T0.
import type { RunRecord, TaskRecord } from '../../../shared/engine/records.js';

export const T0 = Date.parse('2030-01-01T00:00:00.000Z');
export const at = (ms: number) => new Date(T0 + ms).toISOString();

export function runRecord(status: RunRecord['status'] = 'RUNNING', extra: Partial<RunRecord> = {}): RunRecord {
  return {
    runId: 'r',
    workflowId: 'w',
    version: 'v',
    status,
    phase: 0,
    createdAt: at(0),
    startedAt: at(0),
    updatedAt: at(0),
    taskCount: 0,
    groupCount: 1,
    doneGroups: [],
    failedCount: 0,
    failedTasks: [],
    ...extra,
  };
}

/** A task item of run `r` in phase 0: attempt 0 while PENDING, 1 otherwise. */
export function taskRecord(taskId: string, status: TaskRecord['status'], extra: Partial<TaskRecord> = {}): TaskRecord {
  return {
    runId: 'r',
    taskId,
    workflowId: 'w',
    version: 'v',
    phase: 0,
    status,
    attempt: status === 'PENDING' ? 0 : 1,
    attemptBase: 0,
    attempts: [],
    dependencies: { succeeded: [], failed: [], skipped: [], cancelled: [] },
    joinGroups: {},
    cancelRequested: false,
    updatedAt: at(0),
    ...extra,
  };
}
