// The names of task and run states (docs/architecture.md). The seed's names are kept as they are;
// the moves between them live in transitions.ts.

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

export const FINAL_RUN_STATUSES: ReadonlySet<StoredRunStatus> = new Set(['COMPLETED', 'FAILED', 'CANCELLED']);

/**
 * What the store holds: the run's own statuses plus RESUMING, while a resume moves the run's tasks
 * into its next phase (readers see RUNNING; nothing executes until it is RUNNING).
 */
export const STORED_RUN_STATUSES = [...RUN_STATUSES, 'RESUMING'] as const;
export type StoredRunStatus = (typeof STORED_RUN_STATUSES)[number];

export function isFinalRunStatus(status: StoredRunStatus): boolean {
  return FINAL_RUN_STATUSES.has(status);
}
