// The chaos suite's workloads: small DAGs of every shape the engine handles (chains, fan-out and
// fan-in, retries, sagas that compensate, runs cancelled while they run, runs that fail and are
// resumed, maps over a list), each with the outcome a correct engine must reach whatever the faults.
import type { WorkflowDefinitionInput } from '../../shared/index.js';

/** Retries enough that a killed or stalled worker never fails a run (each kill costs an attempt). */
const retry = { maxRetries: 8, initialDelaySeconds: 0.2, backoffRate: 2, maxDelaySeconds: 2 };
const timeoutSeconds = 10;
const task = (id: string, handler: string, dependsOn: string[] = [], extra: object = {}) => ({ id, handler, dependsOn, retry, timeoutSeconds, ...extra });
/** The compensation, with the same short timeout: a killed worker's compensation is found in seconds too. */
const undo = { compensate: { type: 'handler', handler: 'undo', retry, timeoutSeconds } };

export interface Workload {
  definition: WorkflowDefinitionInput;
  /** What the run must end as. */
  expected: 'COMPLETED' | 'FAILED' | 'CANCELLED';
  /** Cancelled this long after it starts (ms). */
  cancelAfterMs?: number;
  /** Fails at first; resumed once its broken task works again. */
  resume?: boolean;
  input: (now: number) => object;
  /** Tasks that must have been compensated when the run ends. */
  compensated?: (succeeded: ReadonlySet<string>) => string[];
}

const fanWidth = 10;

export const WORKLOADS: Record<string, Workload> = {
  chain: {
    definition: { id: 'chaos_chain', tasks: ['a', 'b', 'c', 'd', 'e'].map((id, i, all) => task(id, 'work', i === 0 ? [] : [all[i - 1] ?? ''])) },
    expected: 'COMPLETED',
    input: () => ({}),
  },
  fan: {
    definition: {
      id: 'chaos_fan',
      tasks: [
        task('root', 'work'),
        ...Array.from({ length: fanWidth }, (_, i) => task(`m${i}`, 'work', ['root'])),
        task('sink', 'work', Array.from({ length: fanWidth }, (_, i) => `m${i}`)),
      ],
    },
    expected: 'COMPLETED',
    input: () => ({}),
  },
  retry: {
    definition: { id: 'chaos_retry', tasks: [task('a', 'flaky'), task('b', 'work', ['a'])] },
    expected: 'COMPLETED',
    input: () => ({ flakyAttempts: 2 }),
  },
  saga: {
    definition: {
      id: 'chaos_saga',
      tasks: [task('a', 'work', [], undo), task('b', 'work', ['a'], undo), task('c', 'broken', ['b'])],
    },
    expected: 'FAILED',
    input: () => ({}),
    compensated: (succeeded) => ['a', 'b'].filter((id) => succeeded.has(id)),
  },
  cancel: {
    definition: {
      id: 'chaos_cancel',
      tasks: [task('a', 'work', [], undo), task('long', 'slow', ['a']), task('after', 'work', ['long'])],
    },
    expected: 'CANCELLED',
    cancelAfterMs: 400,
    input: () => ({}),
    compensated: (succeeded) => ['a'].filter((id) => succeeded.has(id)),
  },
  map: {
    definition: {
      id: 'chaos_map',
      tasks: [
        task('root', 'work'),
        { id: 'each', type: 'map', dependsOn: ['root'], items: '{{input.list}}', maxConcurrency: 3, task: { handler: 'work', retry, timeoutSeconds } },
        task('sink', 'work', ['each']),
      ],
    },
    expected: 'COMPLETED',
    input: () => ({ list: Array.from({ length: 12 }, (_, i) => i) }),
  },
  resume: {
    definition: { id: 'chaos_resume', tasks: [task('a', 'work'), task('b', 'broken', ['a']), task('c', 'work', ['b'])] },
    expected: 'COMPLETED',
    resume: true,
    input: (now) => ({ brokenUntil: now + 1_500 }),
  },
};
