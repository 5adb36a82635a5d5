// `dagflow dashboard`: a local proxy that forwards every request to the API, signed with SigV4 when
// the API needs it. A plain HTTP server stands in for the API and records what it receives; the
// credentials come from the environment, as the SDK's default chain reads them. The proxy answers
// only its own page (another origin or host name, or a form's body, never reaches the API) and
// listens on loopback only.
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { EXIT, main } from '../../cli/dagflow.js';
import { startDashboardProxy } from '../../cli/dashboard.js';

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

let api: Server;
let apiUrl: string;
let apiHost: string;
const seen: Seen[] = [];
const saved = { ...process.env };

beforeAll(async () => {
  api = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      seen.push({ method: request.method ?? '', url: request.url ?? '', headers: request.headers, body });
      if (request.url === '/' || request.url === '/prod/') return void response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<!doctype html><title>dagflow</title>');
      if (request.method === 'POST') return void response.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ runId: 'r-1', status: 'RUNNING', echo: JSON.parse(body) as unknown }));
      response.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'NOT_FOUND', message: `${request.url} not found` } }));
    });
  });
  await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
  apiHost = `127.0.0.1:${(api.address() as AddressInfo).port}`;
  apiUrl = `http://${apiHost}`;
  Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'secret', AWS_SESSION_TOKEN: 'token-1', AWS_REGION: 'eu-west-1' });
});

afterAll(() => {
  process.env = saved;
  api.close();
});

beforeEach(() => {
  seen.length = 0;
});

/** Runs `dagflow dashboard ...` until the returned stop() is called; resolves once it has printed its address. */
async function dashboard(...args: string[]): Promise<{ url: string; out: string[]; err: string[]; stop: () => Promise<number> }> {
  const out: string[] = [];
  const err: string[] = [];
  const controller = new AbortController();
  const exit = main(['dashboard', '--port', '0', '--url', apiUrl, ...args], { out: (line) => out.push(line), err: (line) => err.push(line) }, {}, controller.signal);
  while (out.length === 0) {
    const code = await Promise.race([exit, new Promise((resolve) => setTimeout(resolve, 10))]);
    if (typeof code === 'number') throw new Error(`dashboard exited ${code}: ${err.join('; ')}`);
  }
  const url = /^dashboard: (http:\/\/127\.0\.0\.1:\d+)\/ -> /.exec(out[0] ?? '')?.[1];
  if (url === undefined) throw new Error(`unexpected first line: ${out[0]}`);
  return {
    url,
    out,
    err,
    stop: () => {
      controller.abort();
      return exit;
    },
  };
}

/** A raw request, for what fetch will not let a caller set (Host, a proxy-style target). */
function rawGet(url: string, headers: Record<string, string>, path?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(url, { headers, ...(path === undefined ? {} : { path }) }, (response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    });
    request.on('error', reject);
    request.end();
  });
}

describe('dagflow dashboard', () => {
  it('forwards the page and the API calls with --sign: SigV4 Authorization, the target host, and the answer streamed back', async () => {
    const proxy = await dashboard('--sign');
    try {
      expect(proxy.out).toEqual([`dashboard: ${proxy.url}/ -> ${apiUrl}`]);

      const page = await fetch(`${proxy.url}/`);
      expect(page.status).toBe(200);
      expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(await page.text()).toBe('<!doctype html><title>dagflow</title>');

      const started = await fetch(`${proxy.url}/runs?source=cli`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': 'k-1', cookie: 'session=secret' },
        body: JSON.stringify({ workflowId: 'order_processing' }),
      });
      expect(started.status).toBe(201);
      expect(started.headers.get('content-type')).toBe('application/json');
      expect(await started.json()).toEqual({ runId: 'r-1', status: 'RUNNING', echo: { workflowId: 'order_processing' } });

      const missing = await fetch(`${proxy.url}/runs/nope`);
      expect(missing.status).toBe(404);
      expect(await missing.json()).toEqual({ error: { code: 'NOT_FOUND', message: '/runs/nope not found' } });

      expect(seen.map(({ method, url }) => `${method} ${url}`)).toEqual(['GET /', 'POST /runs?source=cli', 'GET /runs/nope']);
      for (const { headers } of seen) {
        expect(headers['authorization']).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/eu-west-1\/execute-api\/aws4_request, SignedHeaders=[a-z;-]*host[a-z;-]*, Signature=[0-9a-f]{64}$/);
        expect(headers['x-amz-security-token']).toBe('token-1');
        expect(headers['host']).toBe(apiHost);
        expect(headers['cookie']).toBeUndefined();
      }
      expect(seen[1]).toMatchObject({ body: '{"workflowId":"order_processing"}', headers: { 'content-type': 'application/json', 'idempotency-key': 'k-1' } });
      expect(seen[1]?.headers['authorization']).toContain('idempotency-key');
    } finally {
      expect(await proxy.stop()).toBe(EXIT.ok);
    }
    // Closed: nothing listens there any more.
    await expect(fetch(`${proxy.url}/`)).rejects.toThrow();
  });

  it('forwards unsigned without --sign (a URL that is not execute-api)', async () => {
    const proxy = await dashboard();
    try {
      expect((await fetch(`${proxy.url}/workflows`)).status).toBe(404);
      expect(seen).toHaveLength(1);
      expect(seen[0]?.headers['authorization']).toBeUndefined();
      expect(seen[0]?.headers['host']).toBe(apiHost);
    } finally {
      expect(await proxy.stop()).toBe(EXIT.ok);
    }
  });

  it("answers only its own page: another origin, another host name or a form's body never reaches the API", async () => {
    const proxy = await dashboard('--sign');
    try {
      const foreign = await fetch(`${proxy.url}/runs`, { method: 'POST', headers: { origin: 'https://evil.example', 'content-type': 'application/json' }, body: '{}' });
      expect(foreign.status).toBe(403);
      expect(((await foreign.json()) as { error: { code: string } }).error.code).toBe('FORBIDDEN_ORIGIN');
      expect((await fetch(`${proxy.url}/runs/r-1/cancel`, { method: 'POST', headers: { 'sec-fetch-site': 'cross-site' } })).status).toBe(403);
      const rebound = await rawGet(`${proxy.url}/workflows`, { host: 'attacker.example:3300' });
      expect(rebound.status).toBe(403);
      expect(rebound.body).toContain('FORBIDDEN_HOST');
      expect((await rawGet(proxy.url, {}, 'http://elsewhere.example/workflows')).status).toBe(400);
      const form = await fetch(`${proxy.url}/runs`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'workflowId=x' });
      expect(form.status).toBe(415);
      // Its own origin is fine.
      expect((await fetch(`${proxy.url}/runs`, { method: 'POST', headers: { origin: proxy.url, 'content-type': 'application/json' }, body: '{}' })).status).toBe(201);
      expect(seen).toHaveLength(1);
    } finally {
      await proxy.stop();
    }
  });

  it('says what is wrong in one line: a port in use, no region to sign for, a bad --port', async () => {
    const taken = (api.address() as AddressInfo).port;
    const errors: string[] = [];
    expect(await main(['dashboard', '--port', String(taken), '--url', apiUrl], { out: () => {}, err: (line) => errors.push(line) }, {}, AbortSignal.abort())).toBe(EXIT.error);
    expect(errors).toEqual([`dagflow: port ${taken} is in use: choose another with --port`]);

    const { AWS_REGION: _region, AWS_DEFAULT_REGION: _defaultRegion, ...withoutRegion } = process.env;
    const before = process.env;
    process.env = withoutRegion;
    try {
      errors.length = 0;
      expect(await main(['dashboard', '--port', '0', '--url', apiUrl, '--sign'], { out: () => {}, err: (line) => errors.push(line) }, {}, AbortSignal.abort())).toBe(EXIT.error);
      expect(errors).toEqual([`dagflow: cannot sign requests to ${apiUrl}: no AWS region for ${apiHost}: set AWS_REGION`]);
    } finally {
      process.env = before;
    }
    errors.length = 0;
    expect(await main(['dashboard', '--port', 'http'], { out: () => {}, err: (line) => errors.push(line) }, {}, AbortSignal.abort())).toBe(EXIT.usage);
    expect(errors[0]).toBe('dagflow: --port must be a port number (0 for a free one), got http');
  });
});

describe('the dashboard proxy', () => {
  it('listens on loopback only', async () => {
    await expect(startDashboardProxy({ target: apiUrl, port: 0, host: '0.0.0.0' })).rejects.toThrow(/listens on 127\.0\.0\.1, localhost or ::1 only, not 0\.0\.0\.0/);
  });

  it("puts the target's path before each request's, and answers 502 when the API cannot be reached", async () => {
    const proxy = await startDashboardProxy({ target: `${apiUrl}/prod/`, port: 0 });
    try {
      expect((await fetch(`${proxy.url}/`)).status).toBe(200);
      expect(seen.map((request) => request.url)).toEqual(['/prod/']);
    } finally {
      await proxy.close();
    }

    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const errors: string[] = [];
    const orphan = await startDashboardProxy({ target: `http://127.0.0.1:${closedPort}`, port: 0, onError: (message) => errors.push(message) });
    try {
      const answer = await fetch(`${orphan.url}/workflows`);
      expect(answer.status).toBe(502);
      expect(await answer.json()).toEqual({ error: { code: 'BAD_GATEWAY', message: `cannot reach http://127.0.0.1:${closedPort}: ECONNREFUSED` } });
      expect(errors).toEqual([`GET /workflows: cannot reach http://127.0.0.1:${closedPort}: ECONNREFUSED`]);
    } finally {
      await orphan.close();
    }
  });
});
