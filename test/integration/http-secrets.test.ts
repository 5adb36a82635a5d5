// Secrets of http task headers through the real local path (HTTP -> api -> DynamoDB Local ->
// stream -> scheduler -> SQS -> worker): the target gets the value from a DAGFLOW_SECRET_<NAME>
// variable, and the value appears in no API answer (definition, run, history) nor in any log line,
// even when the target echoes it back in an output or an error.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalRuntime, type LocalRuntime } from '../../local/runtime.js';
import { ApiClient, register, startRunViaApi, waitForRun } from './e2e-support.js';

const SECRET = `sk_live_${Math.random().toString(36).slice(2)}_integration`;
const SECRET_VARIABLE = 'DAGFLOW_SECRET_PAYMENTS_STRIPE_KEY';

let runtime: LocalRuntime;
let api: ApiClient;
let target: Server;
let targetUrl: string;
let received: Array<{ path: string; headers: IncomingMessage['headers'] }> = [];
let logged = '';
let restoreStdout: () => void = () => undefined;

beforeAll(async () => {
  process.env[SECRET_VARIABLE] = SECRET;
  // Every log line of the engine, at DEBUG, kept (not printed) to look for the value in.
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = (chunk: string | Uint8Array) => {
    logged += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    return true;
  };
  restoreStdout = () => {
    process.stdout.write = write;
  };
  // The target echoes the Authorization header it got: in a 200's body, and in a 401's.
  target = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      const path = new URL(request.url ?? '/', 'http://x').pathname;
      received.push({ path, headers: request.headers });
      response.writeHead(path === '/deny' ? 401 : 200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ path, authorization: request.headers.authorization ?? null }));
    });
  });
  await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
  targetUrl = `http://127.0.0.1:${(target.address() as AddressInfo).port}`;
  runtime = await startLocalRuntime({ port: 0, handlers: new Map(), logLevel: 'DEBUG' });
  api = new ApiClient(runtime.apiUrl);
});

afterAll(async () => {
  restoreStdout();
  delete process.env[SECRET_VARIABLE];
  await runtime?.stop();
  target?.closeAllConnections();
  await new Promise<void>((resolve) => target?.close(() => resolve()));
});

const bearer = { Authorization: 'Bearer {{secret:payments/stripe-key}}' };

describe('secrets in http task headers, through the local runtime', () => {
  it('sends the value to the target and shows it in no API answer nor log line', async () => {
    received = [];
    const { workflowId } = await register(api, {
      id: 'secret_saga',
      tasks: [
        {
          id: 'charge',
          type: 'http',
          http: { url: `${targetUrl}/charge`, method: 'POST', headers: bearer, body: { orderId: '{{input.orderId}}' } },
          compensate: { type: 'http', http: { url: `${targetUrl}/refund`, method: 'POST', headers: bearer } },
        },
        {
          id: 'audit',
          type: 'http',
          dependsOn: ['charge'],
          critical: false,
          http: { url: `${targetUrl}/deny`, method: 'POST', headers: bearer },
        },
        { id: 'stop', type: 'fail', dependsOn: ['audit'], trigger: 'all_done', error: 'OrderRejected' },
      ],
    });
    const runId = await startRunViaApi(api, workflowId, { orderId: 'o-1' });
    const run = await waitForRun(api, runId);

    // The saga ran every request, each with the value in its header.
    expect(run.status).toBe('FAILED');
    expect(received.map((r) => r.path).sort()).toEqual(['/charge', '/deny', '/refund']);
    for (const request of received) expect(request.headers.authorization, request.path).toBe(`Bearer ${SECRET}`);
    const charge = run.tasks.find((t: { taskId: string }) => t.taskId === 'charge');
    expect(charge.output).toEqual({ path: '/charge', authorization: 'Bearer ***' });
    const audit = run.tasks.find((t: { taskId: string }) => t.taskId === 'audit');
    expect(audit.error).toMatchObject({ name: 'HttpError', details: { status: 401, body: '{"path":"/deny","authorization":"Bearer ***"}' } });
    expect(run.compensations).toEqual([expect.objectContaining({ taskId: 'charge', status: 'SUCCEEDED', output: { path: '/refund', authorization: 'Bearer ***' } })]);

    // What the API shows: the reference, never the value.
    const answers = await Promise.all([
      api.get(`/workflows/${workflowId}`),
      api.get(`/runs/${runId}`),
      api.get(`/runs/${runId}/history`),
      api.get(`/workflows/${workflowId}/stats`),
    ]);
    for (const answer of answers) {
      expect(answer.status).toBe(200);
      expect(JSON.stringify(answer.body)).not.toContain(SECRET);
    }
    expect(JSON.stringify(answers[0]?.body)).toContain('Bearer {{secret:payments/stripe-key}}');
    expect(JSON.stringify(answers[2]?.body)).toContain('TaskSucceeded');

    // The engine logged the run at DEBUG (the check below looks at something), and never the value.
    expect(logged).toContain(runId);
    expect(logged).not.toContain(SECRET);
  });

  it('fails a task whose secret is not set, for good, naming the variable to set', async () => {
    const { workflowId } = await register(api, {
      id: 'secret_missing',
      tasks: [
        {
          id: 'call',
          type: 'http',
          retry: { maxRetries: 3, initialDelaySeconds: 0 },
          http: { url: `${targetUrl}/charge`, method: 'POST', headers: { 'x-api-key': '{{secret:payments/not-set}}' } },
        },
      ],
    });
    const run = await waitForRun(api, await startRunViaApi(api, workflowId, {}));
    expect(run.status).toBe('FAILED');
    expect(run.tasks[0].attempt).toBe(1);
    expect(run.tasks[0].error).toMatchObject({ name: 'SecretNotFound', retryable: false });
    expect(run.tasks[0].error.message).toContain('DAGFLOW_SECRET_PAYMENTS_NOT_SET');
  });

  it('refuses at registration a secret outside the headers, and a malformed name', async () => {
    const { status, body } = await api.post('/workflows', {
      id: 'secret_in_body',
      tasks: [
        {
          id: 'call',
          type: 'http',
          http: { url: `${targetUrl}/x`, method: 'POST', headers: { a: '{{secret:bad name}}' }, body: { key: '{{secret:payments/stripe-key}}' } },
        },
      ],
    });
    expect(status).toBe(400);
    expect(body.error.code).toBe('VALIDATION_ERROR');
    expect(body.error.problems).toEqual(
      expect.arrayContaining([
        { path: 'tasks.call.http.body.key', message: 'secrets may only be used in http headers' },
        expect.objectContaining({ path: 'tasks.call.http.headers.a', message: expect.stringContaining('secret name "bad name" is invalid') }),
      ]),
    );
  });
});
