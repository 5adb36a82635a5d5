// All the functions in one process, from the same parts: what the local runtime and the tests
// run. Deployed, each function's own entry (lambdas/<name>/index.ts) builds only its part.
import { RunControl } from '../shared/engine/run-control.js';
import type { HandlerRegistry } from '../shared/tasks/context.js';
import type { LambdaInvoker } from '../shared/tasks/executors.js';
import type { SecretResolver } from '../shared/tasks/secrets.js';
import { buildApi } from './api/handler.js';
import { buildDlq } from './dlq/handler.js';
import { engineParts, type PartsOptions } from './parts.js';
import { buildScheduler } from './scheduler/handler.js';
import { buildSweeper } from './sweeper/handler.js';
import { buildTrigger } from './trigger/handler.js';
import type { ScheduleTarget } from '../shared/engine/schedules.js';
import { buildWorker } from './worker/handler.js';

export interface EngineWiring extends PartsOptions {
  handlers: HandlerRegistry;
  httpAllowedHosts: readonly string[];
  lambdaInvoker?: LambdaInvoker;
  /** Resolves `{{secret:NAME}}` in http headers (environment variables when not given). */
  secrets?: SecretResolver;
  /** How often a running attempt checks for cancellation (ms). */
  cancelPollMs?: number;
  /** Whether a dependent that becomes ready runs in the worker's invocation (default: yes). */
  chain?: boolean;
  /** Recorded on each run the API starts (on AWS, the worker bundle's hash). */
  handlerBuild?: string;
  /** What fires workflow schedules (the local runtime's timer); without it, schedules are kept but never fire. */
  scheduleTarget?: ScheduleTarget;
}

export function wireEngine(wiring: EngineWiring) {
  const parts = engineParts(wiring);
  const { store, queue, definitions, now, timings } = parts;
  const scheduler = buildScheduler(parts);
  const worker = buildWorker(parts, {
    handlers: wiring.handlers,
    httpAllowedHosts: wiring.httpAllowedHosts,
    ...(wiring.lambdaInvoker === undefined ? {} : { lambdaInvoker: wiring.lambdaInvoker }),
    ...(wiring.secrets === undefined ? {} : { secrets: wiring.secrets }),
    ...(wiring.cancelPollMs === undefined ? {} : { cancelPollMs: wiring.cancelPollMs }),
    ...(wiring.chain === undefined ? {} : { chain: wiring.chain }),
  });
  const sweeper = buildSweeper(parts);
  const trigger = buildTrigger(parts, wiring.handlerBuild);
  return {
    ...parts,
    runControl: new RunControl({ ...store, queue, definitions, now, timings, metrics: parts.metrics }),
    scheduler: scheduler.scheduler,
    worker: worker.worker,
    sweeper: sweeper.sweeper,
    api: buildApi(parts, new Set(wiring.handlers.keys()), wiring.handlerBuild, wiring.scheduleTarget),
    scheduleFirer: trigger.firer,
    triggerHandler: trigger.handler,
    schedulerHandler: scheduler.handler,
    workerHandler: worker.handler,
    sweeperHandler: sweeper.handler,
    dlqHandler: buildDlq(parts),
  };
}

export type Engine = ReturnType<typeof wireEngine>;
