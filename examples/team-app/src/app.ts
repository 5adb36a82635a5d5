// The team's app module: what the local engine (`npm start` here: `dagflow-local --app src/app.ts`)
// and the CDK construct (infra/app.ts) take. Its `handlers` export is what the worker bundles.
import type { DagflowApp } from 'dagflow';
import { handlers } from './handlers.js';
import { monthlyInvoice, usageReport } from './workflows.js';

export { handlers };
export const workflows: DagflowApp['workflows'] = [monthlyInvoice, usageReport];
