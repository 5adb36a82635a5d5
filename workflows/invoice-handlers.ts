// Handlers of the monthly_invoices example: list_customers finds who to bill (known only when the
// run starts), send_invoice bills one customer (run once per customer by the map task), and
// summarize_invoices adds up what the map collected, in customer order (null for a customer whose
// invoice failed, which the map tolerates up to 10%).
//
// The run input is `{ month?: "2026-11", customers?: number, declined?: string[] }`: without a list,
// `customers` sample customers (default 12); the customer ids in `declined` always fail to bill.
import * as z from 'zod';
import { TaskFailure, type TaskHandler } from 'dagflow';
import { parseOrFail, simulateWork, upstreamOutput, workDuration } from './handler-support.js';

const InvoiceInputSchema = z.object({
  month: z.string().regex(/^\d{4}-\d{2}$/, 'month must be YYYY-MM').default('2026-11'),
  customers: z.int().min(0).max(100_000).default(12),
  declined: z.array(z.string()).default([]),
});

const CustomerSchema = z.object({ id: z.string().min(1), email: z.email(), amountCents: z.int().min(0) });
const InvoiceSchema = z.object({ invoiceId: z.string(), customerId: z.string(), amountCents: z.int() });

export const listCustomers: TaskHandler = async (ctx) => {
  const input = parseOrFail(InvoiceInputSchema, ctx.input ?? {}, 'run input');
  await simulateWork(workDuration(ctx, 50), ctx.signal);
  const customers = Array.from({ length: input.customers }, (_, i) => ({
    id: `cus_${String(i + 1).padStart(4, '0')}`,
    email: `billing+${i + 1}@example.com`,
    amountCents: 1_000 + ((i * 731) % 9_000),
  }));
  return { month: input.month, customers };
};

export const sendInvoice: TaskHandler = async (ctx) => {
  const customer = parseOrFail(CustomerSchema, ctx.item?.value, 'item');
  const input = parseOrFail(InvoiceInputSchema, ctx.input ?? {}, 'run input');
  await simulateWork(workDuration(ctx, 100), ctx.signal);
  if (input.declined.includes(customer.id)) {
    throw new TaskFailure('PaymentDeclined', `the card of ${customer.id} was declined`, { retryable: false });
  }
  // The same invoice id for every attempt (and every attempt of the map): a retry never bills twice.
  return { invoiceId: `inv_${input.month}_${customer.id}`, customerId: customer.id, amountCents: customer.amountCents, idempotencyKey: ctx.idempotencyKey };
};

export const summarizeInvoices: TaskHandler = async (ctx) => {
  const invoices = upstreamOutput(ctx, 'invoice_each', z.array(InvoiceSchema.nullable()));
  const sent = invoices.filter((invoice) => invoice !== null);
  await simulateWork(workDuration(ctx, 20), ctx.signal);
  return {
    invoices: invoices.length,
    sent: sent.length,
    failed: invoices.length - sent.length,
    billedCents: sent.reduce((sum, invoice) => sum + invoice.amountCents, 0),
  };
};
