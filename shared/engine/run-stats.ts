// Per-task statistics of a workflow's recent runs, for GET /workflows/{id}/stats and the
// dashboard: how often each task ran, its attempt durations (p50/p95/p99), and its failure and
// retry rates. A pure function of the runs read; CloudWatch has the same figures over all time.
import type { TaskRecord } from './records.js';

export interface TaskStats {
  taskId: string;
  /** Runs in which the task finished (succeeded or failed for good). */
  count: number;
  /** Finished attempts (retried ones included). */
  attempts: number;
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
  /** Final failures / finished runs of the task. */
  failureRate: number;
  /** Attempts that were retried (failed or timed out) / all attempts. */
  retryRate: number;
}

/** Nearest-rank percentile of sorted values; null when there are none. */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] ?? null;
}

export function taskStats(taskIds: readonly string[], runs: ReadonlyArray<readonly TaskRecord[]>): TaskStats[] {
  return taskIds.map((taskId) => {
    const records = runs.flatMap((tasks) => tasks.filter((task) => task.taskId === taskId));
    const attempts = records.flatMap((task) => task.attempts);
    const durations = attempts.map((attempt) => attempt.durationMs).sort((a, b) => a - b);
    const finished = records.filter((task) => task.status === 'SUCCEEDED' || task.status === 'FAILED');
    const failed = finished.filter((task) => task.status === 'FAILED').length;
    const retried = attempts.filter((attempt) => attempt.outcome === 'RETRIED' || attempt.outcome === 'TIMED_OUT').length;
    return {
      taskId,
      count: finished.length,
      attempts: attempts.length,
      p50Ms: percentile(durations, 50),
      p95Ms: percentile(durations, 95),
      p99Ms: percentile(durations, 99),
      failureRate: finished.length === 0 ? 0 : failed / finished.length,
      retryRate: attempts.length === 0 ? 0 : retried / attempts.length,
    };
  });
}
