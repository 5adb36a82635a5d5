// The sweeper Lambda: an EventBridge schedule (every minute in AWS, every few seconds locally)
// runs one sweep within the invocation's time.
import type { Context } from 'aws-lambda';
import type { SweepReport, Sweeper } from '../../shared/engine/sweeper.js';
import { localContext } from '../lambda-context.js';

export type SweeperHandler = (event?: unknown, context?: Context) => Promise<SweepReport>;

/** Time kept back from the invocation's deadline for the last writes of a sweep. */
const MARGIN_MS = 10_000;

export function makeSweeperHandler(deps: { sweeper: Sweeper }): SweeperHandler {
  return async (_event, context) => {
    const invocation = context ?? localContext('sweeper', 60_000);
    return deps.sweeper.sweep(Math.max(1_000, invocation.getRemainingTimeInMillis() - MARGIN_MS));
  };
}
