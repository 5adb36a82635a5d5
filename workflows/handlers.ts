// The worker bundle's handler registry: every handler name a definition may use, mapped to its
// function. The worker Lambda and the local runtime import this one map.
import type { HandlerRegistry, TaskHandler } from 'dagflow';
import { checkPayment, createShipment, notifyCustomer, refundCharge, reserveItems, runCharge } from './order-handlers.js';
import { aggregate, extract, load, transformPartition } from './pipeline-handlers.js';
import { listCustomers, sendInvoice, summarizeInvoices } from './invoice-handlers.js';

export const handlers: HandlerRegistry = new Map<string, TaskHandler>([
  // order_processing
  ['check_payment', checkPayment],
  ['reserve_items', reserveItems],
  ['run_charge', runCharge],
  ['create_shipment', createShipment],
  ['notify_customer', notifyCustomer],
  ['refund_charge', refundCharge],
  // data_pipeline
  ['extract', extract],
  ['transform_partition', transformPartition],
  ['load', load],
  ['aggregate', aggregate],
  // monthly_invoices
  ['list_customers', listCustomers],
  ['send_invoice', sendInvoice],
  ['summarize_invoices', summarizeInvoices],
]);
