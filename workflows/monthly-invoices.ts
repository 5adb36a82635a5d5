// The monthly_invoices example: a map task. `invoice_each` runs send_invoice once per customer
// that list_customers found (a list known only at run time), five at a time, each with its own
// retries; it tolerates up to 10% of declined invoices (their place in its output is null) and its
// output is the invoices in customer order, which summarize takes. GET
// /runs/{id}/tasks/invoice_each/items lists each customer's invoice as it goes.
import { workflow } from 'dagflow';

export const monthlyInvoices = workflow('monthly_invoices', { description: 'Bills every customer of a month: one invoice per customer, five at a time' })
  .task('list_customers', { handler: 'list_customers' })
  .task('invoice_each', {
    type: 'map',
    dependsOn: ['list_customers'],
    items: '{{upstream.list_customers.output.customers}}',
    maxConcurrency: 5,
    toleratedFailurePercentage: 10,
    task: { handler: 'send_invoice', timeoutSeconds: 30, retry: { maxRetries: 2, initialDelaySeconds: 1 } },
  })
  .task('summarize', { handler: 'summarize_invoices', dependsOn: ['invoice_each'] });
