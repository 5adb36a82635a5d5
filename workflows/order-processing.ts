// The order_processing example, exactly as docs/architecture.md writes it in JSON: payment check
// and stock reservation in parallel, the charge (retried, timed out, refunded if the run fails
// later: the saga), then shipment and confirmation. Handlers: order-handlers.ts.
import { workflow } from 'dagflow';

export const orderProcessing = workflow('order_processing')
  .task('validate_payment', { handler: 'check_payment' })
  .task('reserve_inventory', { handler: 'reserve_items' })
  .task('charge_payment', {
    handler: 'run_charge',
    dependsOn: ['validate_payment'],
    retry: { maxRetries: 3, initialDelaySeconds: 1, backoffRate: 2, maxDelaySeconds: 300 },
    timeoutSeconds: 30,
    compensate: 'refund_charge',
  })
  .task('ship_order', { handler: 'create_shipment', dependsOn: ['reserve_inventory', 'charge_payment'] })
  .task('send_confirmation', { handler: 'notify_customer', dependsOn: ['ship_order'] });
