// The team's workflows: one written with the builder, one as the JSON config form (what
// `npx dagflow register usage-report.json` would post). Both are checked against the handler
// names when the local engine starts and when `cdk synth` runs.
import { workflow, type WorkflowDefinitionInput } from 'dagflow';

export const monthlyInvoice = workflow('monthly_invoice', { description: 'Price a month of usage, issue the invoice, e-mail it' })
  .task('load_account', { handler: 'load_account' })
  .task('price_usage', {
    handler: 'price_usage',
    params: { currency: 'EUR', unitPrices: { api_calls: 0.002, storage_gb: 0.1 } },
  })
  .task('issue_invoice', {
    handler: 'issue_invoice',
    dependsOn: ['load_account', 'price_usage'],
    retry: { maxRetries: 3, initialDelaySeconds: 1, backoffRate: 2 },
    compensate: 'void_invoice',
  })
  .task('send_invoice', { handler: 'send_invoice', dependsOn: ['issue_invoice'], params: { maxTotal: 10_000 } });

export const usageReport: WorkflowDefinitionInput = {
  id: 'usage_report',
  description: 'Price the usage without issuing anything',
  tasks: [
    { id: 'price_usage', type: 'handler', handler: 'price_usage', params: { currency: 'USD', unitPrices: { api_calls: 0.0025, storage_gb: 0.12 } } },
    { id: 'done', type: 'pass', dependsOn: ['price_usage'], output: { report: 'usage_report' } },
  ],
};
