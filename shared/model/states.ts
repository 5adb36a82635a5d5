// The names of task and run states (docs/architecture.md). The seed's names are kept as they are;
// the transition tables that say which moves are legal live in state-machine.ts.

export const TASK_STATUSES = [
  'PENDING',
  'QUEUED',
  'WAITING',
  'RUNNING',
  'SUCCEEDED',
  'FAILED',
  'SKIPPED',
  'CANCELLED',
] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

export const FINAL_TASK_STATUSES: ReadonlySet<TaskStatus> = new Set(['SUCCEEDED', 'FAILED', 'SKIPPED', 'CANCELLED']);

export function isFinalTaskStatus(status: TaskStatus): boolean {
  return FINAL_TASK_STATUSES.has(status);
}

export const RUN_STATUSES = ['RUNNING', 'CANCELLING', 'COMPENSATING', 'COMPLETED', 'FAILED', 'CANCELLED'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

export const FINAL_RUN_STATUSES: ReadonlySet<RunStatus> = new Set(['COMPLETED', 'FAILED', 'CANCELLED']);

export function isFinalRunStatus(status: RunStatus): boolean {
  return FINAL_RUN_STATUSES.has(status);
}
