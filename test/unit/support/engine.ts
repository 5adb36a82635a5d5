// The engine's services built on the in-memory doubles of their ports, with one clock, one store,
// one queue and deterministic tokens: what the unit tests of the services start from.
import type { TaskHandler } from '../../../shared/tasks/context.js';
import { assertDefinition, type WorkflowDefinitionInput } from '../../../shared/model/definition.js';
import type { DeadLetterDeps } from '../../../shared/engine/dead-letters.js';
import { DefinitionCache, type LoadedDefinition } from '../../../shared/engine/definition-cache.js';
import { Dispatcher, storedScope, type DispatchRun, type ScopeSource } from '../../../shared/engine/dispatch.js';
import { taskGraph } from '../../../shared/engine/graph.js';
import type { TaskMessage } from '../../../shared/engine/messages.js';
import { RecordedMetrics } from '../../../shared/engine/metrics.js';
import type { StoredDefinition } from '../../../shared/engine/records.js';
import { RunControl } from '../../../shared/engine/run-control.js';
import { runServices } from '../../../shared/engine/keeper.js';
import { Scheduler } from '../../../shared/engine/scheduler.js';
import { Sweeper, type SweeperDeps } from '../../../shared/engine/sweeper.js';
import type { EngineTimings } from '../../../shared/engine/timing.js';
import { Worker, type WorkerDeps } from '../../../shared/engine/worker.js';
import { ManualClock, MemoryQueue, MemoryStore } from './memory-store.js';
import { silentLogger } from './task-context.js';

export { silentLogger };

/** Timings of the tests: only computed with (the clock is ManualClock), never waited for. */
export const TEST_TIMINGS: EngineTimings = {
  defaultTaskTimeoutSeconds: 30,
  leaseGraceSeconds: 5,
  deliveryGraceSeconds: 60,
  reconcileIntervalSeconds: 300,
  resumeLeaseSeconds: 60,
  sweepMarkLagSeconds: 30,
};


export class Engine {
  readonly clock = new ManualClock();
  readonly store: MemoryStore;
  readonly queue = new MemoryQueue();
  readonly metrics = new RecordedMetrics();
  readonly definitions: DefinitionCache;
  readonly timings = TEST_TIMINGS;
  private tokens = 0;

  constructor(options: { pageSize?: number } = {}) {
    this.store = new MemoryStore({ now: this.clock.now, ...options });
    this.definitions = new DefinitionCache(this.store.definitions);
  }

  /** Deterministic tokens: t1, t2, ... */
  readonly newToken = (): string => `t${++this.tokens}`;

  get now(): () => Date {
    return this.clock.now;
  }

  /** Registers a definition and returns it as stored. */
  async define(input: WorkflowDefinitionInput): Promise<StoredDefinition> {
    const definition = assertDefinition(input);
    const { version } = await this.store.definitions.saveDefinition(definition);
    const stored = await this.store.definitions.getDefinition(definition.id, version);
    if (stored === undefined) throw new Error('definition was not saved');
    return stored;
  }

  loaded(stored: StoredDefinition): Promise<LoadedDefinition> {
    return this.definitions.get(stored.workflowId, stored.version);
  }

  /** The names of the metrics recorded, in order. */
  metricNames(): string[] {
    return this.metrics.values.map((metric) => metric.name);
  }

  private common() {
    const { runs, tasks, joins, completion, maps, due } = this.store;
    return { runs, tasks, joins, completion, maps, due, queue: this.queue, definitions: this.definitions, now: this.now, metrics: this.metrics, timings: this.timings };
  }

  runControl(): RunControl {
    return new RunControl({ ...this.common(), newToken: this.newToken });
  }

  scheduler(): Scheduler {
    return new Scheduler(this.common());
  }

  sweeper(options: Partial<SweeperDeps> = {}): Sweeper {
    const { children, mapRuns } = runServices(this.common());
    return new Sweeper({ ...this.common(), children, mapRuns, random: () => 0.5, newToken: this.newToken, ...options });
  }

  worker(handlers: Record<string, TaskHandler> = {}, options: Partial<WorkerDeps> = {}): Worker {
    return new Worker({
      ...this.common(),
      executorEnv: { handlers: new Map(Object.entries(handlers)), httpAllowedHosts: [] },
      workflows: this.store.definitions,
      loggerFor: () => silentLogger,
      random: () => 0.5,
      newToken: this.newToken,
      cancelPollMs: 5,
      ...options,
    });
  }

  dispatcher(): Dispatcher {
    return new Dispatcher({ tasks: this.store.tasks, joins: this.store.joins, now: this.now, timings: this.timings });
  }

  deadLetterDeps(): DeadLetterDeps {
    return { tasks: this.store.tasks, queue: this.queue, metrics: this.metrics, timings: this.timings, now: this.now, random: () => 0.5, newToken: this.newToken, definitions: this.definitions };
  }

  /** A run of `stored` in phase `phase`, as dispatch sees it. */
  async dispatchRun(stored: StoredDefinition, runId: string, phase = 0): Promise<DispatchRun> {
    return { runId, workflowId: stored.workflowId, version: stored.version, phase, graph: taskGraph(await this.loaded(stored), this.timings) };
  }

  /** A scope that knows the input and some outputs, and reads the rest from the store. */
  scope(runId: string, known: { input?: unknown; outputs?: Record<string, { output?: unknown }> } = {}): ScopeSource {
    return storedScope(this.store, runId, { ...('input' in known ? { input: { value: known.input } } : {}), ...(known.outputs === undefined ? {} : { outputs: known.outputs }) });
  }

  /** Starts a run through RunControl (its roots queued, their messages sent); returns its id. */
  async start(stored: StoredDefinition, input: unknown = {}, runId = `run-${this.newToken()}`): Promise<string> {
    return (await this.runControl().start({ runId, definition: stored, input })).runId;
  }

  /** The message sent for a task (the latest one), or a failure naming what was sent. */
  messageFor(taskId: string): TaskMessage {
    const message = this.queue.messages().filter((sent) => sent.taskId === taskId).at(-1);
    if (message === undefined) throw new Error(`no message was sent for ${taskId}; sent: ${this.queue.messages().map((m) => m.taskId).join(', ')}`);
    return message;
  }

  /** Feeds what the store's stream shows to the scheduler until nothing more changes. */
  async settle(maxRounds = 20): Promise<void> {
    const scheduler = this.scheduler();
    for (let round = 0; round < maxRounds; round++) {
      const changes = this.store.drainChanges();
      if (changes.length === 0) return;
      const { errors } = await scheduler.handleBatch(changes);
      if (errors.length > 0) throw errors[0];
    }
    throw new Error(`the stream did not settle in ${maxRounds} rounds`);
  }
}
