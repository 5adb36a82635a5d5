// The sweeper Lambda: an EventBridge schedule (every minute in AWS, every few seconds locally)
// runs one sweep within the invocation's time.
import type { Context } from 'aws-lambda';
import { RunControl } from '../../shared/engine/run-control.js';
import { runServices } from '../../shared/engine/keeper.js';
import { Sweeper, type SweepReport } from '../../shared/engine/sweeper.js';
import { localContext } from '../lambda-context.js';
import { flushing, type EngineParts } from '../parts.js';

export type SweeperHandler = (event?: unknown, context?: Context) => Promise<SweepReport>;

/** Time kept back from the invocation's deadline for the last writes of a sweep. */
const MARGIN_MS = 10_000;

export function makeSweeperHandler(deps: { sweeper: Pick<Sweeper, 'sweep'> }): SweeperHandler {
  return async (_event, context) => {
    const invocation = context ?? localContext('sweeper', 60_000);
    return deps.sweeper.sweep(Math.max(1_000, invocation.getRemainingTimeInMillis() - MARGIN_MS));
  };
}

/** The sweeper, with the scheduler's reconcile and run control's take-over of resumes it falls back on. */
export function buildSweeper(parts: EngineParts): { sweeper: Sweeper; handler: SweeperHandler } {
  const { store, queue, definitions, now, random, metrics, timings } = parts;
  const services = { ...store, queue, definitions, now, metrics, timings };
  const { keeper, children, mapRuns } = runServices(services);
  const runControl = new RunControl(services);
  const sweeper = new Sweeper({
    tasks: store.tasks,
    runs: store.runs,
    due: store.due,
    queue,
    definitions,
    now,
    random,
    metrics,
    timings,
    children,
    mapRuns,
    reconcile: (runId) => keeper.reconcile(runId),
    takeOverResume: (runId) => runControl.takeOverResume(runId),
    onError: (error, item) => parts.logError('sweeper could not handle an item; it is tried again later', { error, item }),
  });
  return { sweeper, handler: flushing(metrics, makeSweeperHandler({ sweeper })) };
}
