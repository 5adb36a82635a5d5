// The team's handlers: plain async functions of the task context. Each reads what it needs through
// a zod schema (a bad input fails the attempt for good instead of retrying), derives the ids it
// sends to other systems from ctx.idempotencyKey (a retried attempt re-sends the same one), and
// reads its static settings from ctx.params (the definition's `params`).
import { TaskFailure, type HandlerRegistry, type TaskContext, type TaskHandler } from 'dagflow';
import { z } from 'zod';

const InvoiceInput = z.object({
  accountId: z.string().min(1),
  month: z.string().regex(/^\d{4}-\d{2}$/, 'month is YYYY-MM'),
  usage: z.array(z.object({ meter: z.string(), units: z.number().nonnegative() })),
});

const PricingParams = z.object({ currency: z.string().length(3), unitPrices: z.record(z.string(), z.number().nonnegative()) });

function parse<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new TaskFailure('InvalidInput', `${what}: ${parsed.error.issues.map((issue) => issue.message).join('; ')}`, { retryable: false });
  return parsed.data;
}

function upstreamOutput<T>(ctx: TaskContext, taskId: string, schema: z.ZodType<T>): T {
  return parse(schema, ctx.upstream[taskId]?.output, `output of ${taskId}`);
}

/** Looks the account up (a stand-in for the team's account service). */
export const loadAccount: TaskHandler = async (ctx) => {
  const { accountId } = parse(InvoiceInput, ctx.input, 'input');
  if (accountId.startsWith('closed-')) throw new TaskFailure('AccountClosed', `account ${accountId} is closed`, { retryable: false });
  return { accountId, email: `billing+${accountId}@example.com`, plan: accountId.startsWith('ent-') ? 'enterprise' : 'standard' };
};

/** Prices the month's usage with the unit prices the definition gives as params. */
export const priceUsage: TaskHandler = async (ctx) => {
  const { usage } = parse(InvoiceInput, ctx.input, 'input');
  const { currency, unitPrices } = parse(PricingParams, ctx.params, 'params');
  const lines = usage.map(({ meter, units }) => {
    const unitPrice = unitPrices[meter];
    if (unitPrice === undefined) throw new TaskFailure('UnknownMeter', `no unit price for meter "${meter}"`, { retryable: false });
    return { meter, units, amount: Math.round(units * unitPrice * 100) / 100 };
  });
  return { currency, lines, total: Math.round(lines.reduce((sum, line) => sum + line.amount, 0) * 100) / 100 };
};

const Priced = z.object({ currency: z.string(), total: z.number() });
const Account = z.object({ accountId: z.string(), email: z.string() });

/** Issues the invoice; its number comes from the idempotency key, so a retry issues the same one. */
export const issueInvoice: TaskHandler = async (ctx) => {
  const { month } = parse(InvoiceInput, ctx.input, 'input');
  const account = upstreamOutput(ctx, 'load_account', Account);
  const priced = upstreamOutput(ctx, 'price_usage', Priced);
  const invoiceId = `inv-${month}-${ctx.idempotencyKey.slice(0, 8)}`;
  ctx.logger.info('invoice issued', { invoiceId, total: priced.total });
  return { invoiceId, accountId: account.accountId, email: account.email, total: priced.total, currency: priced.currency };
};

/** The saga's undo of issueInvoice: runs when a later task fails the run. */
export const voidInvoice: TaskHandler = async (ctx) => {
  const issued = z.object({ invoiceId: z.string() }).safeParse(ctx.upstream['issue_invoice']?.output);
  return { voided: issued.success ? issued.data.invoiceId : null };
};

/** Sends the invoice by e-mail (a stand-in): refuses amounts over the params' limit. */
export const sendInvoice: TaskHandler = async (ctx) => {
  const invoice = upstreamOutput(ctx, 'issue_invoice', z.object({ invoiceId: z.string(), email: z.string(), total: z.number() }));
  const { maxTotal } = parse(z.object({ maxTotal: z.number().positive() }), ctx.params, 'params');
  if (invoice.total > maxTotal) throw new TaskFailure('NeedsReview', `invoice ${invoice.invoiceId} is over ${maxTotal}`, { retryable: false });
  return { sentTo: invoice.email, invoiceId: invoice.invoiceId };
};

/** Every handler the team's workflows may name. The worker bundles this module (infra/app.ts). */
export const handlers: HandlerRegistry = new Map<string, TaskHandler>([
  ['load_account', loadAccount],
  ['price_usage', priceUsage],
  ['issue_invoice', issueInvoice],
  ['void_invoice', voidInvoice],
  ['send_invoice', sendInvoice],
]);
