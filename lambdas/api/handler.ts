// The api Lambda: API Gateway HTTP API (payload v2) events in and out. middy wraps the router
// with the error mapping, so every failure leaves as the documented error shape.
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { NotFoundError } from '../../shared/model/errors.js';
import { localContext } from '../lambda-context.js';
import { MethodNotAllowedError, errorResponse, parseWith } from './http.js';
import { PATH_PARAMETERS, routes, type ApiDeps, type Route } from './routes.js';
import { randomUUID } from 'node:crypto';
import { Callbacks } from '../../shared/engine/callbacks.js';
import { LatestVersions } from '../../shared/engine/definition-cache.js';
import { RunControl } from '../../shared/engine/run-control.js';
import { NO_SCHEDULE_TARGET, ScheduleManager, type ScheduleTarget } from '../../shared/engine/schedules.js';
import type { EngineParts } from '../parts.js';

export type ApiHandler = (event: APIGatewayProxyEventV2, context?: Context) => Promise<APIGatewayProxyStructuredResultV2>;

export function makeApiHandler(deps: ApiDeps & { logError?: (message: string, error: unknown) => void }): ApiHandler {
  const logError = deps.logError ?? ((message, error) => console.error(message, error));
  const handler = middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>({ timeoutEarlyInMillis: 0 })
    .use({
      onError: (request) => {
        request.response = errorResponse(request.error, logError);
      },
    })
    .handler(async (event: APIGatewayProxyEventV2) => {
      const method = event.requestContext.http.method.toUpperCase();
      const { route, params, pathMatched } = match(routes, method, event.rawPath);
      if (route === undefined) {
        if (pathMatched) throw new MethodNotAllowedError(method, event.rawPath);
        throw new NotFoundError(`route ${method} ${event.rawPath}`);
      }
      return route.handler(event, parsePathParameters(params), deps);
    });
  return (event, context) => handler(event, context ?? localContext('api'));
}

/**
 * The api function from the engine's parts: it needs handler names (and the worker's build), never
 * handler code; and what fires schedules (EventBridge Scheduler, the local timer), if anything.
 */
export function buildApi(parts: EngineParts, knownHandlers: ReadonlySet<string>, handlerBuild?: string, scheduleTarget: ScheduleTarget = NO_SCHEDULE_TARGET): ApiHandler {
  const { store, queue, definitions, now, timings, metrics, random } = parts;
  const runControl = new RunControl({ ...store, queue, definitions, now, timings, metrics });
  const callbacks = new Callbacks({ tasks: store.tasks, runs: store.runs, joins: store.joins, definitions, queue, metrics, timings, now, random, newToken: () => randomUUID() });
  return makeApiHandler({
    store,
    definitions,
    latest: new LatestVersions(store.definitions),
    runControl,
    schedules: new ScheduleManager({ schedules: parts.schedules, definitions: store.definitions, target: scheduleTarget, now }),
    callbacks,
    ...(parts.payloads === undefined ? {} : { payloads: parts.payloads }),
    knownHandlers,
    ...(handlerBuild === undefined ? {} : { handlerBuild }),
    logError: (message, error) => parts.logError(message, { error }),
  });
}

function match(table: readonly Route[], method: string, path: string) {
  const segments = splitPath(path);
  let pathMatched = false;
  for (const route of table) {
    const params = matchPattern(splitPath(route.pattern), segments);
    if (params === undefined) continue;
    pathMatched = true;
    if (route.method === method) return { route, params, pathMatched };
  }
  return { route: undefined, params: {}, pathMatched };
}

function splitPath(path: string): string[] {
  return path.split('/').filter((segment) => segment !== '');
}

function matchPattern(pattern: string[], segments: string[]): Record<string, string> | undefined {
  if (pattern.length !== segments.length) return undefined;
  const params: Record<string, string> = {};
  for (const [i, part] of pattern.entries()) {
    const segment = segments[i] ?? '';
    if (part.startsWith('{') && part.endsWith('}')) {
      try {
        params[part.slice(1, -1)] = decodeURIComponent(segment);
      } catch {
        return undefined;
      }
    } else if (part !== segment) return undefined;
  }
  return params;
}

/** Each path parameter parsed by its schema: a 400 naming it, before anything reads the table. */
function parsePathParameters(params: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(params).map(([name, value]) => {
      const schema = PATH_PARAMETERS[name];
      return [name, schema === undefined ? value : parseWith(schema, value, name)];
    }),
  );
}
