// The repository's example app: the example workflows and the handler registry the worker runs.
// It imports only the package's public entry point ('dagflow', shared/index.ts), as a team's own
// app does (examples/team-app is one in its own package).
//
// To add your own workflow: write its handlers (`async (ctx) => output`, see
// shared/tasks/context.ts; read `ctx.input` and `ctx.upstream` through a zod schema, throw a
// TaskFailure with `retryable: false` for failures a retry cannot fix, derive ids sent to other
// systems from `ctx.idempotencyKey`, and stop when `ctx.signal` fires), register each under a name
// in handlers.ts, then describe the DAG with `workflow(...)` in its own file (or as a JSON file)
// and add it to `workflows` below so the local runtime (and the stack, at deploy) registers it. Registration checks
// the definition against the registry's names, so a typo in a handler name fails at deploy time,
// not at run time. Tasks of type http, lambda, pass, wait, fail, callback and workflow need no handler at all (a map's
// task, when it is a handler, does).
import type { WorkflowBuilder } from 'dagflow';
import { dataPipeline } from './data-pipeline.js';
import { expenseApproval } from './expense-approval.js';
import { monthlyInvoices } from './monthly-invoices.js';
import { orderProcessing } from './order-processing.js';
import { reorder } from './reorder.js';

export { handlers } from './handlers.js';
export { dataPipeline, expenseApproval, monthlyInvoices, orderProcessing, reorder };

/** The workflows registered by the local runtime and at deploy; `toJSON()` of each is its config form. */
export const workflows: readonly WorkflowBuilder[] = [orderProcessing, dataPipeline, expenseApproval, reorder, monthlyInvoices];
