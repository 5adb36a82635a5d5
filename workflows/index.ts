// The user's side of the engine: the example workflows and the handler registry the worker runs.
//
// To add your own workflow: write its handlers (`async (ctx) => output`, see
// shared/tasks/context.ts; read `ctx.input` and `ctx.upstream` through a zod schema, throw a
// TaskFailure with `retryable: false` for failures a retry cannot fix, derive ids sent to other
// systems from `ctx.idempotencyKey`, and stop when `ctx.signal` fires), register each under a name
// in handlers.ts, then describe the DAG with `workflow(...)` in its own file (or as a JSON file)
// and add it to `exampleWorkflows` below so the local runtime registers it. Registration checks
// the definition against the registry's names, so a typo in a handler name fails at deploy time,
// not at run time. Tasks of type http, lambda, pass, wait and fail need no handler at all.
import type { WorkflowBuilder } from '../shared/index.js';
import { dataPipeline } from './data-pipeline.js';
import { orderProcessing } from './order-processing.js';

export { handlers } from './handlers.js';
export { dataPipeline, orderProcessing };

/** The workflows registered by the local runtime; `toJSON()` of each is its config form. */
export const exampleWorkflows: readonly WorkflowBuilder[] = [orderProcessing, dataPipeline];
