// The reorder example: a child workflow. `place_order` runs order_processing as a child run with
// an input built from the run's own, waits for it without holding a worker, and takes its output
// (the child's leaf outputs by task id). GET /runs/{id} links the two runs both ways; cancelling a
// reorder cancels its order; a failed order fails place_order, which retries once with a new child.
import { workflow } from 'dagflow';

export const reorder = workflow('reorder', { description: 'Restocks a SKU by running order_processing as a child workflow' })
  .task('pick_supplier', { type: 'pass', output: { supplier: 'acme', currency: 'EUR' } })
  .task('place_order', {
    type: 'workflow',
    dependsOn: ['pick_supplier'],
    workflow: {
      id: 'order_processing',
      input: {
        orderId: 'restock-{{input.sku}}',
        amount: '{{input.amount}}',
        currency: '{{upstream.pick_supplier.output.currency}}',
        items: [{ sku: '{{input.sku}}', quantity: '{{input.quantity}}' }],
        customer: { email: 'purchasing@example.com' },
      },
    },
    timeoutSeconds: 3_600,
    retry: { maxRetries: 1, initialDelaySeconds: 1 },
  })
  .task('record_delivery', { type: 'pass', dependsOn: ['place_order'] });
