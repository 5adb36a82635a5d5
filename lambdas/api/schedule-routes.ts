// The schedule routes of the HTTP API (docs/architecture.md, section 11): a workflow's schedules,
// created, listed, paused, resumed and deleted through the ScheduleManager, which keeps the
// schedule items and what fires them (EventBridge Scheduler, or the local timer) in step.
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import * as z from 'zod';
import { PayloadTooLargeError } from '../../shared/model/errors.js';
import { LIMITS, jsonByteLength } from '../../shared/model/limits.js';
import { nextFireTime, parseScheduleExpression } from '../../shared/model/schedule-expression.js';
import { OVERLAP_POLICIES, scheduleView, type ScheduleManager } from '../../shared/engine/schedules.js';
import { json, jsonBody, parseWith } from './http.js';

export interface ScheduleRouteDeps {
  schedules: ScheduleManager;
}

type ScheduleRoute = {
  method: string;
  pattern: string;
  handler: (event: APIGatewayProxyEventV2, params: Record<string, string>, deps: ScheduleRouteDeps) => Promise<APIGatewayProxyStructuredResultV2>;
};

/** Schedule ids are UUIDs (the API makes them); they name an EventBridge schedule, at most 64 characters. */
export const ScheduleIdSchema = z
  .string()
  .min(1, 'scheduleId must not be empty')
  .max(64, 'scheduleId must be at most 64 characters')
  .regex(/^[A-Za-z0-9][A-Za-z0-9_-]*$/, 'scheduleId must use only letters, digits, _ and -');

const CreateScheduleSchema = z.strictObject({
  expression: z.string({ error: 'expression is required: rate(<value> <unit>) or cron(<6 fields>)' }).superRefine((text, ctx) => {
    const parsed = parseScheduleExpression(text);
    if (!parsed.ok) {
      ctx.addIssue({ code: 'custom', message: parsed.message });
      return;
    }
    // A cron whose years have passed would be kept and never fire.
    if (nextFireTime(parsed.expression, Date.now(), Date.now()) === undefined) ctx.addIssue({ code: 'custom', message: `"${text}" never fires again` });
  }),
  input: z.json({ error: 'input must be JSON' }).optional(),
  overlap: z.enum(OVERLAP_POLICIES, { error: `overlap must be one of ${OVERLAP_POLICIES.join(', ')}` }).optional(),
  version: z.string({ error: 'version must be a string' }).regex(/^[0-9a-f]{16}$/, 'version must be 16 hex digits').optional(),
});

export const scheduleRoutes: ScheduleRoute[] = [
  {
    method: 'POST',
    pattern: '/workflows/{workflowId}/schedules',
    handler: async (event, { workflowId = '' }, deps) => {
      const body = jsonBody(event);
      const parsed = parseWith(CreateScheduleSchema, body, 'body');
      // The input exactly as sent: zod's copy of a JSON value drops a "__proto__" key.
      const input = (body as { input?: unknown }).input;
      const inputBytes = jsonByteLength(input ?? null);
      if (inputBytes > LIMITS.maxInputBytes) throw new PayloadTooLargeError('input', inputBytes, LIMITS.maxInputBytes);
      const schedule = await deps.schedules.create(workflowId, { ...parsed, input });
      return json(201, scheduleView(schedule, Date.now()));
    },
  },
  {
    method: 'GET',
    pattern: '/workflows/{workflowId}/schedules',
    handler: async (_event, { workflowId = '' }, deps) => {
      const now = Date.now();
      return json(200, { schedules: (await deps.schedules.list(workflowId)).map((schedule) => scheduleView(schedule, now)) });
    },
  },
  {
    method: 'DELETE',
    pattern: '/workflows/{workflowId}/schedules/{scheduleId}',
    handler: async (_event, { workflowId = '', scheduleId = '' }, deps) => {
      await deps.schedules.remove(workflowId, scheduleId);
      return { statusCode: 204 };
    },
  },
  {
    method: 'POST',
    pattern: '/workflows/{workflowId}/schedules/{scheduleId}/pause',
    handler: async (_event, { workflowId = '', scheduleId = '' }, deps) => json(200, scheduleView(await deps.schedules.setState(workflowId, scheduleId, 'PAUSED'), Date.now())),
  },
  {
    method: 'POST',
    pattern: '/workflows/{workflowId}/schedules/{scheduleId}/resume',
    handler: async (_event, { workflowId = '', scheduleId = '' }, deps) => json(200, scheduleView(await deps.schedules.setState(workflowId, scheduleId, 'ENABLED'), Date.now())),
  },
];
