import { describe, expect, it } from 'vitest';
import { percentile, taskStats } from '../../shared/engine/run-stats.js';
import type { AttemptRecord, TaskRecord } from '../../shared/engine/records.js';
import { taskRecord } from './support/records.js';

function task(taskId: string, status: TaskRecord['status'], attempts: Array<Pick<AttemptRecord, 'durationMs' | 'outcome'>>): TaskRecord {
  return taskRecord(taskId, status, {
    attempt: attempts.length,
    attempts: attempts.map((a, i) => ({ attempt: i + 1, phase: 0, startedAt: 't', completedAt: 't', ...a })),
  });
}

describe('percentile', () => {
  it('takes the nearest rank, and null of nothing', () => {
    const values = Array.from({ length: 100 }, (_, i) => i + 1);
    expect([percentile(values, 50), percentile(values, 95), percentile(values, 99)]).toEqual([50, 95, 99]);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeNull();
  });
});

describe('taskStats', () => {
  it('counts finished runs, attempts, failures and retries per task', () => {
    const runs = [
      [task('a', 'SUCCEEDED', [{ durationMs: 10, outcome: 'SUCCEEDED' }]), task('b', 'SKIPPED', [])],
      [task('a', 'SUCCEEDED', [{ durationMs: 30, outcome: 'RETRIED' }, { durationMs: 20, outcome: 'SUCCEEDED' }])],
      [task('a', 'FAILED', [{ durationMs: 40, outcome: 'TIMED_OUT' }, { durationMs: 50, outcome: 'FAILED' }])],
    ];
    const [a, b] = taskStats(['a', 'b'], runs);
    expect(a).toEqual({ taskId: 'a', count: 3, attempts: 5, p50Ms: 30, p95Ms: 50, p99Ms: 50, failureRate: 1 / 3, retryRate: 2 / 5 });
    expect(b).toEqual({ taskId: 'b', count: 0, attempts: 0, p50Ms: null, p95Ms: null, p99Ms: null, failureRate: 0, retryRate: 0 });
  });
});
