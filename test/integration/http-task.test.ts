// http tasks against a real HTTP server on 127.0.0.1: what is sent, how answers are classified,
// the allow-list, and cancellation closing the connection. No DynamoDB needed.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { JsonValue } from '../../shared/model/condition.js';
import type { TaskDefinition } from '../../shared/model/definition.js';
import type { TaskContext } from '../../shared/tasks/context.js';
import { TaskCancelled, toTaskError } from '../../shared/tasks/errors.js';
import { executeAction, type ExecutorEnv } from '../../shared/tasks/executors.js';
import { failureOf, taskContext } from '../unit/support/task-context.js';

interface SlowRequest {
  arrived: Promise<void>;
  closed: Promise<void>;
}

let server: Server;
let origin: string;
let requests: Array<{ method: string; url: string; headers: IncomingMessage['headers']; body: string }> = [];
let slow: SlowRequest & { markArrived: () => void; markClosed: () => void };

function newSlowRequest() {
  let markArrived = () => undefined as void;
  let markClosed = () => undefined as void;
  const arrived = new Promise<void>((resolve) => (markArrived = resolve));
  const closed = new Promise<void>((resolve) => (markClosed = resolve));
  return { arrived, closed, markArrived, markClosed };
}

function route(req: IncomingMessage, res: ServerResponse, body: string): void {
  const path = new URL(req.url ?? '/', 'http://x').pathname;
  if (req.method === 'POST' && path.startsWith('/charges/')) {
    res.writeHead(201, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ chargeId: `ch_${decodeURIComponent(path.slice('/charges/'.length))}`, received: JSON.parse(body) as unknown }));
  } else if (path === '/unavailable') {
    res.writeHead(503, { 'content-type': 'text/plain', 'retry-after': '2' });
    res.end('try again later');
  } else if (path === '/slow') {
    // Never answers: the test aborts the request and waits for the connection to close.
    res.on('close', () => slow.markClosed());
    slow.markArrived();
  } else if (path === '/big') {
    res.writeHead(200, { 'content-type': 'application/json' });
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    let sent = 0;
    const pump = () => {
      while (sent < 64 && res.write(chunk)) sent++;
      if (sent >= 64) res.end();
      else res.once('drain', pump);
    };
    pump();
  } else {
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: 'not found' }));
  }
}

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      route(req, res, body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
});

beforeEach(() => {
  requests = [];
  slow = newSlowRequest();
});

function context(signal: AbortSignal = new AbortController().signal): TaskContext {
  return taskContext({ runId: 'run-7', input: { orderId: 'o/7' }, upstream: { validate: { output: { amount: 12.5 } } }, signal });
}

function env(allowed?: string[]): ExecutorEnv {
  return { handlers: new Map(), httpAllowedHosts: allowed ?? [new URL(origin).host] };
}

function httpTask(path: string, method: 'GET' | 'POST' = 'GET', body?: JsonValue): TaskDefinition {
  return httpTaskTo(`${origin}${path}`, method, body);
}

function httpTaskTo(url: string, method: 'GET' | 'POST', body?: JsonValue): TaskDefinition {
  return {
    id: 'charge',
    type: 'http',
    dependsOn: ['validate'],
    trigger: 'all_success',
    critical: true,
    http: { url, method, headers: {}, ...(body === undefined ? {} : { body }) },
  };
}

describe('http task against a real server', () => {
  it('sends the rendered request and returns the JSON answer as output', async () => {
    const task = httpTask('/charges/{{input.orderId}}', 'POST', { amount: '{{upstream.validate.output.amount}}' });
    await expect(executeAction(task, context(), env())).resolves.toEqual({ chargeId: 'ch_o/7', received: { amount: 12.5 } });
    expect(requests).toHaveLength(1);
    expect(requests[0]).toMatchObject({
      method: 'POST',
      url: '/charges/o%2F7',
      headers: { 'idempotency-key': 'run-7:charge', 'content-type': 'application/json' },
      body: '{"amount":12.5}',
    });
  });

  it('makes a 503 retryable, with the status and body in the details', async () => {
    const error = toTaskError(await failureOf(executeAction(httpTask('/unavailable'), context(), env())));
    expect(error).toEqual({
      name: 'HttpError',
      message: `GET ${origin}/unavailable returned 503`,
      retryable: true,
      details: { status: 503, body: 'try again later', retryAfter: '2' },
    });
  });

  it('makes a 404 final', async () => {
    const error = toTaskError(await failureOf(executeAction(httpTask('/nothing-here'), context(), env())));
    expect(error).toMatchObject({ name: 'HttpError', retryable: false, details: { status: 404, body: '{"error":"not found"}' } });
  });

  it('refuses a host outside the allow-list before any request is made', async () => {
    const error = toTaskError(await failureOf(executeAction(httpTask('/charges/x', 'POST', {}), context(), env(['api.example.com']))));
    expect(error).toMatchObject({ name: 'HostNotAllowed', retryable: false });
    expect(requests).toHaveLength(0);
  });

  it('aborts an in-flight request when the signal fires, and the server sees the connection close', async () => {
    const controller = new AbortController();
    const attempt = executeAction(httpTask('/slow'), context(controller.signal), env());
    await slow.arrived;
    const reason = new TaskCancelled();
    controller.abort(reason);
    expect(await failureOf(attempt)).toBe(reason);
    await slow.closed;
    expect(toTaskError(reason)).toMatchObject({ name: 'Cancelled', retryable: false });
  });

  it('stops reading a response over the size limit', async () => {
    const error = toTaskError(await failureOf(executeAction(httpTask('/big'), context(), env())));
    expect(error).toMatchObject({ name: 'ResponseTooLarge', retryable: false });
  });

  it('makes a refused connection a retryable network error', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const host = `127.0.0.1:${(closed.address() as AddressInfo).port}`;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const error = toTaskError(await failureOf(executeAction(httpTaskTo(`http://${host}/`, 'GET'), context(), env([host]))));
    expect(error).toMatchObject({ name: 'HttpNetworkError', retryable: true });
  });
});
