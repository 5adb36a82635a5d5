// Handlers of the order_processing example: a payment check, a stock reservation, the charge and
// its refund (the saga's compensation), the shipment and the confirmation. Deterministic: ids come
// from the run's idempotency key, so a retried attempt produces the same charge, never a second.
//
// The run input is `{ orderId, amount, currency?, items?, customer?: { email }, simulate? }`, where
// `simulate` makes failures happen on purpose for demos and tests:
//   delayMs         how long each step takes (default 50-120 ms)
//   chargeFailures  the first N attempts of run_charge fail with a retryable PaymentGatewayUnavailable
//   outOfStock      reserve_items fails with OutOfStock (not retried)
//   shipmentFails   create_shipment fails with ShipmentFailed (not retried), so the charge is refunded
import { createHash } from 'node:crypto';
import * as z from 'zod';
import { TaskFailure, type TaskContext, type TaskHandler } from 'dagflow';
import { parseOrFail, simulateWork, upstreamOutput, workDuration } from './handler-support.js';

/** Payments above this need a human: check_payment does not approve them. */
export const APPROVAL_LIMIT = 10_000;

const SimulateSchema = z
  .object({
    chargeFailures: z.int().min(0).default(0),
    outOfStock: z.boolean().default(false),
    shipmentFails: z.boolean().default(false),
  })
  .default({ chargeFailures: 0, outOfStock: false, shipmentFails: false });

const ItemSchema = z.object({ sku: z.string().min(1), quantity: z.int().positive() });

const OrderInputSchema = z.object({
  orderId: z.string().min(1),
  amount: z.number(),
  currency: z.string().regex(/^[A-Z]{3}$/, 'must be a three-letter currency code').default('USD'),
  items: z.array(ItemSchema).default([]),
  customer: z.object({ email: z.string().min(3) }).optional(),
  simulate: SimulateSchema,
});

const PaymentCheckSchema = z.object({ approved: z.boolean(), amount: z.number(), currency: z.string() });
const ReservationSchema = z.object({ reservationId: z.string(), items: z.array(ItemSchema) });
const ChargeSchema = z.object({ chargeId: z.string(), amount: z.number(), currency: z.string() });
const ShipmentSchema = z.object({ shipmentId: z.string(), carrier: z.string(), trackingNumber: z.string() });

function orderInput(ctx: TaskContext) {
  return parseOrFail(OrderInputSchema, ctx.input, 'run input');
}

export const checkPayment: TaskHandler = async (ctx) => {
  const order = orderInput(ctx);
  if (!Number.isFinite(order.amount) || order.amount <= 0) {
    throw new TaskFailure('InvalidAmount', `order ${order.orderId}: amount must be greater than 0, got ${order.amount}`, {
      retryable: false,
    });
  }
  await simulateWork(workDuration(ctx, 50), ctx.signal);
  return { approved: order.amount <= APPROVAL_LIMIT, amount: order.amount, currency: order.currency };
};

export const reserveItems: TaskHandler = async (ctx) => {
  const order = orderInput(ctx);
  await simulateWork(workDuration(ctx, 80), ctx.signal);
  if (order.simulate.outOfStock) {
    throw new TaskFailure('OutOfStock', `order ${order.orderId}: an item is out of stock`, { retryable: false });
  }
  return { reservationId: `rsv_${ctx.idempotencyKey}`, items: order.items };
};

export const runCharge: TaskHandler = async (ctx) => {
  const order = orderInput(ctx);
  const check = upstreamOutput(ctx, 'validate_payment', PaymentCheckSchema);
  await simulateWork(workDuration(ctx, 120), ctx.signal);
  if (!check.approved) {
    throw new TaskFailure('PaymentDeclined', `order ${order.orderId}: payment of ${check.amount} was not approved`, {
      retryable: false,
    });
  }
  if (ctx.attempt <= order.simulate.chargeFailures) {
    throw new TaskFailure('PaymentGatewayUnavailable', `payment gateway unavailable (attempt ${ctx.attempt})`);
  }
  const charge = { chargeId: `ch_${ctx.idempotencyKey}`, amount: check.amount, currency: check.currency };
  ctx.logger.info('charged', { chargeId: charge.chargeId, amount: charge.amount });
  return charge;
};

export const createShipment: TaskHandler = async (ctx) => {
  const order = orderInput(ctx);
  const reservation = upstreamOutput(ctx, 'reserve_inventory', ReservationSchema);
  const charge = upstreamOutput(ctx, 'charge_payment', ChargeSchema);
  await simulateWork(workDuration(ctx, 100), ctx.signal);
  if (order.simulate.shipmentFails) {
    throw new TaskFailure('ShipmentFailed', `order ${order.orderId}: the carrier refused the shipment`, { retryable: false });
  }
  return {
    shipmentId: `shp_${order.orderId}`,
    reservationId: reservation.reservationId,
    chargeId: charge.chargeId,
    carrier: 'ACME Freight',
    trackingNumber: `TRK${digest(ctx.idempotencyKey).slice(0, 12).toUpperCase()}`,
  };
};

export const notifyCustomer: TaskHandler = async (ctx) => {
  const order = orderInput(ctx);
  const shipment = upstreamOutput(ctx, 'ship_order', ShipmentSchema);
  await simulateWork(workDuration(ctx, 50), ctx.signal);
  const to = order.customer?.email ?? null;
  return {
    notified: to !== null,
    channel: 'email',
    to,
    message: `Order ${order.orderId} is on its way with ${shipment.carrier}, tracking ${shipment.trackingNumber}`,
  };
};

/** Compensation of charge_payment: it reads the output of the task it undoes. */
export const refundCharge: TaskHandler = async (ctx) => {
  const charge = upstreamOutput(ctx, 'charge_payment', ChargeSchema);
  await simulateWork(workDuration(ctx, 80), ctx.signal);
  ctx.logger.info('refunded', { chargeId: charge.chargeId, amount: charge.amount });
  return { refundId: `re_${charge.chargeId}`, chargeId: charge.chargeId, amount: charge.amount, currency: charge.currency };
};

function digest(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
