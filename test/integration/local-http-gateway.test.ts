// The local front door over real sockets: the API Gateway (HTTP API, payload 2.0) event a request
// becomes, the response a structured result becomes, and the limits it enforces before the handler:
// body size, JSON only, same origin only, and JSON answers to requests node cannot parse.
import { request as httpRequest, type OutgoingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { afterEach, describe, expect, it } from 'vitest';
import { startHttpGateway, type HttpGateway, type HttpGatewayOptions } from '../../local/http-gateway.js';

let gateway: HttpGateway | undefined;

afterEach(async () => {
  await gateway?.stop();
  gateway = undefined;
});

async function start(
  respond: (event: APIGatewayProxyEventV2) => APIGatewayProxyStructuredResultV2 | Promise<APIGatewayProxyStructuredResultV2>,
  options: Partial<HttpGatewayOptions> = {},
): Promise<{ gateway: HttpGateway; events: APIGatewayProxyEventV2[] }> {
  const events: APIGatewayProxyEventV2[] = [];
  gateway = await startHttpGateway({
    port: 0,
    handler: async (event) => {
      events.push(event);
      return respond(event);
    },
    ...options,
  });
  return { gateway, events };
}

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** node's client, so that a header can be sent twice and a body chunked without a length. */
function send(url: string, options: { method?: string; headers?: OutgoingHttpHeaders; body?: Buffer | Buffer[] } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    // One Buffer goes with its Content-Length; several are sent chunked, with no length declared.
    const length = Buffer.isBuffer(options.body) ? { 'content-length': options.body.length } : {};
    const req = httpRequest(url, { method: options.method ?? 'GET', headers: { ...length, ...options.headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    for (const chunk of Array.isArray(options.body) ? options.body : options.body === undefined ? [] : [options.body]) req.write(chunk);
    req.end();
  });
}

describe('startHttpGateway', () => {
  it('turns a request into a payload 2.0 event and the structured result into the response', async () => {
    const { gateway, events } = await start(() => ({
      statusCode: 201,
      headers: { 'content-type': 'application/json', 'x-run-count': 3 },
      cookies: ['a=1; Path=/', 'b=2'],
      body: '{"runId":"r1"}',
    }));
    expect(gateway.port).toBeGreaterThan(0);
    expect(gateway.url).toBe(`http://127.0.0.1:${gateway.port}`);

    const reply = await send(`${gateway.url}/runs/r%201?status=RUNNING&tag=a&tag=b&q=x%20y`, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        'Idempotency-Key': 'k-1',
        'X-Multi': ['one', 'two'],
        Cookie: 'session=s1; theme=dark',
        'User-Agent': 'local-test',
      },
      body: Buffer.from('{"workflowId":"w"}'),
    });

    expect(reply.status).toBe(201);
    expect(reply.headers['content-type']).toBe('application/json');
    expect(reply.headers['x-run-count']).toBe('3');
    expect(reply.headers['set-cookie']).toEqual(['a=1; Path=/', 'b=2']);
    expect(reply.body.toString()).toBe('{"runId":"r1"}');

    expect(events).toHaveLength(1);
    const [event] = events;
    expect(event).toMatchObject({
      version: '2.0',
      routeKey: '$default',
      rawPath: '/runs/r%201',
      rawQueryString: 'status=RUNNING&tag=a&tag=b&q=x%20y',
      cookies: ['session=s1', 'theme=dark'],
      queryStringParameters: { status: 'RUNNING', tag: 'a,b', q: 'x y' },
      requestContext: {
        accountId: expect.any(String),
        apiId: expect.any(String),
        domainName: `127.0.0.1:${gateway.port}`,
        http: { method: 'POST', path: '/runs/r%201', protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'local-test' },
        requestId: expect.any(String),
        routeKey: '$default',
        stage: '$default',
        time: expect.stringMatching(/^\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2} \+0000$/),
        timeEpoch: expect.any(Number),
      },
      body: '{"workflowId":"w"}',
      isBase64Encoded: false,
    });
    expect(event?.headers).toMatchObject({
      'content-type': 'application/json',
      'idempotency-key': 'k-1',
      'x-multi': 'one,two',
      'user-agent': 'local-test',
      'content-length': '18',
    });
    expect(event?.headers).not.toHaveProperty('cookie');
    expect(event?.pathParameters).toBeUndefined();
    expect(Math.abs((event?.requestContext.timeEpoch ?? 0) - Date.now())).toBeLessThan(5_000);
    expect(reply.headers['apigw-requestid']).toBe(event?.requestContext.requestId);
  });

  it('leaves out body, query and cookies a request does not have', async () => {
    const { gateway, events } = await start(() => ({ statusCode: 204 }));
    const reply = await send(`${gateway.url}/health`);

    expect(reply.status).toBe(204);
    const [event] = events;
    expect(event?.rawQueryString).toBe('');
    expect(event?.requestContext.http.method).toBe('GET');
    expect(event).not.toHaveProperty('body');
    expect(event).not.toHaveProperty('queryStringParameters');
    expect(event).not.toHaveProperty('cookies');
    expect(event?.isBase64Encoded).toBe(false);
  });

  it('passes a binary body base64-encoded and decodes a base64-encoded result', async () => {
    const bytes = Buffer.from([0, 1, 2, 250, 255]);
    const { gateway, events } = await start(() => ({
      statusCode: 200,
      headers: { 'content-type': 'application/octet-stream' },
      body: bytes.toString('base64'),
      isBase64Encoded: true,
    }), { jsonOnly: false });
    const reply = await send(`${gateway.url}/blob`, { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body: bytes });

    expect(events[0]?.isBase64Encoded).toBe(true);
    expect(events[0]?.body).toBe(bytes.toString('base64'));
    expect(reply.body.equals(bytes)).toBe(true);
  });

  it('answers 413 for a body over maxBodyBytes, declared or chunked, without calling the handler', async () => {
    const { gateway, events } = await start(() => ({ statusCode: 200 }), { maxBodyBytes: 1024, jsonOnly: false });

    const declared = await send(`${gateway.url}/runs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: Buffer.alloc(2048, 'a') });
    const chunked = await send(`${gateway.url}/runs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: [Buffer.alloc(700, 'a'), Buffer.alloc(700, 'b')],
    });
    const atLimit = await send(`${gateway.url}/runs`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: Buffer.alloc(1024, 'c') });

    for (const reply of [declared, chunked]) {
      expect(reply.status).toBe(413);
      expect(JSON.parse(reply.body.toString())).toEqual({ error: { code: 'PAYLOAD_TOO_LARGE', message: expect.any(String) } });
    }
    expect(atLimit.status).toBe(200);
    expect(events).toHaveLength(1);
  });

  it('answers 413 on a declared Content-Length over the limit, before the body arrives', async () => {
    const { gateway, events } = await start(() => ({ statusCode: 200 }), { maxBodyBytes: 1024 });
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(`${gateway.url}/runs`, { method: 'POST', headers: { 'content-length': 4096, 'content-type': 'application/json' } }, (res) => {
        resolve(res.statusCode ?? 0);
        req.destroy();
      });
      req.on('error', reject);
      // A first piece only: the rest never comes.
      req.write(Buffer.alloc(16, 'a'));
    });

    expect(status).toBe(413);
    expect(events).toHaveLength(0);
  });

  it('holds to 10 MB by default, as API Gateway does', async () => {
    const { gateway, events } = await start(() => ({ statusCode: 200 }));
    const reply = await send(`${gateway.url}/runs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: Buffer.alloc(10 * 1024 * 1024 + 1, 'a') });

    expect(reply.status).toBe(413);
    expect(events).toHaveLength(0);
  });

  it('answers 500 with no internals when the handler throws', async () => {
    const errors: unknown[] = [];
    const { gateway } = await start(
      () => {
        throw new Error('table dagflow is missing at /work/secret/path.ts:12');
      },
      { onError: (error) => errors.push(error) },
    );
    const reply = await send(`${gateway.url}/runs`);

    expect(reply.status).toBe(500);
    expect(JSON.parse(reply.body.toString())).toEqual({ error: { code: 'INTERNAL', message: 'internal error' } });
    expect(errors).toEqual([expect.objectContaining({ message: expect.stringMatching(/table dagflow/) })]);
  });

  it('answers 500 when the result cannot be written, such as an invalid status code', async () => {
    const errors: unknown[] = [];
    const { gateway } = await start(() => ({ statusCode: 42, headers: { 'x-partial': 'yes' }, body: 'never sent' }), {
      onError: (error) => errors.push(error),
    });
    const reply = await send(`${gateway.url}/runs`);

    expect(reply.status).toBe(500);
    expect(reply.headers).not.toHaveProperty('x-partial');
    expect(JSON.parse(reply.body.toString())).toEqual({ error: { code: 'INTERNAL', message: 'internal error' } });
    expect(errors).toHaveLength(1);
  });

  it('answers 415 to a body that is not declared application/json, without calling the handler', async () => {
    const { gateway, events } = await start(() => ({ statusCode: 200 }));
    const body = Buffer.from('{"workflowId":"w"}');
    const refused = [
      await send(`${gateway.url}/runs`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body }),
      await send(`${gateway.url}/runs`, { method: 'POST', headers: { 'content-type': 'text/plain;charset=UTF-8' }, body }),
      await send(`${gateway.url}/runs`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body }),
      await send(`${gateway.url}/runs`, { method: 'POST', headers: { 'content-type': 'multipart/form-data; boundary=x' }, body }),
      await send(`${gateway.url}/runs`, { method: 'POST', body }),
      await send(`${gateway.url}/runs`, { method: 'POST', body: [body, body] }),
      await send(`${gateway.url}/workflows/w`, { method: 'PUT', headers: { 'content-type': 'application/json-seq' }, body }),
      // An empty body with a non-JSON type too: what `curl -d ''` sends.
      await send(`${gateway.url}/runs/r1/cancel`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: Buffer.alloc(0) }),
    ];
    for (const reply of refused) {
      expect(reply.status).toBe(415);
      expect(reply.headers['content-type']).toBe('application/json');
      expect(JSON.parse(reply.body.toString())).toEqual({ error: { code: 'UNSUPPORTED_MEDIA_TYPE', message: expect.any(String) } });
    }
    expect(events).toHaveLength(0);

    const accepted = [
      await send(`${gateway.url}/runs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body }),
      await send(`${gateway.url}/runs`, { method: 'POST', headers: { 'Content-Type': 'Application/JSON; charset=utf-8' }, body }),
      // No body, no type: POST /runs/{id}/cancel and /retry as curl and fetch send them.
      await send(`${gateway.url}/runs/r1/cancel`, { method: 'POST' }),
      await send(`${gateway.url}/runs/r1`, { method: 'DELETE' }),
      await send(`${gateway.url}/runs`, { headers: { 'content-type': 'text/plain' } }),
    ];
    expect(accepted.map((reply) => reply.status)).toEqual([200, 200, 200, 200, 200]);
    expect(events).toHaveLength(5);
  });

  it('answers 403 to a page of another origin or a request naming another host, and serves its own origin', async () => {
    const { gateway, events } = await start(() => ({ statusCode: 200, headers: { 'content-type': 'application/json' }, body: '{}' }));
    const json = { 'content-type': 'application/json' };
    const body = Buffer.from('{"workflowId":"w"}');
    const foreignOrigins = [
      'http://evil.example',
      'null',
      `https://127.0.0.1:${gateway.port}`,
      `http://127.0.0.1:${gateway.port + 1}`,
      `http://localhost:${gateway.port}.evil.example`,
    ];
    for (const origin of foreignOrigins) {
      const reply = await send(`${gateway.url}/runs`, { method: 'POST', headers: { ...json, origin }, body });
      expect(reply.status, origin).toBe(403);
      expect(JSON.parse(reply.body.toString())).toEqual({ error: { code: 'FORBIDDEN_ORIGIN', message: expect.any(String) } });
    }
    // A GET too: no page of another origin reads the API's data.
    const foreignGet = await send(`${gateway.url}/workflows`, { headers: { origin: 'http://evil.example' } });
    expect(foreignGet.status).toBe(403);
    // A no-cors request (an <img> or <script> of another site) carries no Origin, but says where it is from.
    const crossSite = await send(`${gateway.url}/workflows`, { headers: { 'sec-fetch-site': 'cross-site' } });
    expect(crossSite.status).toBe(403);
    expect(JSON.parse(crossSite.body.toString()).error.code).toBe('FORBIDDEN_ORIGIN');
    // DNS rebinding: a page of evil.example whose name now points at 127.0.0.1 is "same-origin".
    const rebound = await send(`${gateway.url}/workflows`, { headers: { host: `evil.example:${gateway.port}` } });
    expect(rebound.status).toBe(403);
    expect(JSON.parse(rebound.body.toString())).toEqual({ error: { code: 'FORBIDDEN_HOST', message: expect.any(String) } });
    expect(events).toHaveLength(0);

    // The dashboard page at GET / on either name of the API: same-origin fetches, with or without an Origin.
    for (const name of ['127.0.0.1', 'localhost']) {
      const own = `http://${name}:${gateway.port}`;
      const page = await send(`${gateway.url}/`, { headers: { host: `${name}:${gateway.port}`, 'sec-fetch-site': 'none' } });
      const read = await send(`${gateway.url}/workflows`, { headers: { host: `${name}:${gateway.port}`, 'sec-fetch-site': 'same-origin' } });
      const write = await send(`${gateway.url}/runs`, {
        method: 'POST',
        headers: { ...json, host: `${name}:${gateway.port}`, origin: own, 'sec-fetch-site': 'same-origin' },
        body,
      });
      expect([page.status, read.status, write.status], name).toEqual([200, 200, 200]);
    }
    // Non-browser clients (curl, the SDKs, the tests) send neither Origin nor Sec-Fetch-Site.
    expect((await send(`${gateway.url}/runs`, { method: 'POST', headers: json, body })).status).toBe(200);
    expect(events).toHaveLength(7);
  });

  it('lets a test turn the origin and media-type checks off', async () => {
    const { gateway, events } = await start(() => ({ statusCode: 200 }), { sameOriginOnly: false, jsonOnly: false });
    const reply = await send(`${gateway.url}/runs`, {
      method: 'POST',
      headers: { origin: 'http://evil.example', host: 'elsewhere:1', 'content-type': 'text/plain' },
      body: Buffer.from('hi'),
    });
    expect(reply.status).toBe(200);
    expect(events).toHaveLength(1);
  });

  it('answers a request node cannot parse (an unknown method, a malformed request line) with a JSON error', async () => {
    const { gateway, events } = await start(() => ({ statusCode: 200 }));
    const unknownMethod = await rawExchange(gateway.port, `FOO /runs HTTP/1.1\r\nHost: 127.0.0.1:${gateway.port}\r\n\r\n`);
    const malformed = await rawExchange(gateway.port, 'this is not http\r\n\r\n');
    const badHeader = await rawExchange(gateway.port, `GET / HTTP/1.1\r\nHost: 127.0.0.1:${gateway.port}\r\nBad Header: x\r\n\r\n`);

    for (const raw of [unknownMethod, malformed, badHeader]) {
      const [head = '', body = ''] = raw.split('\r\n\r\n');
      expect(head).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
      expect(head.toLowerCase()).toContain('content-type: application/json');
      expect(head.toLowerCase()).toContain(`content-length: ${Buffer.byteLength(body)}`);
      expect(JSON.parse(body)).toEqual({ error: { code: 'BAD_REQUEST', message: expect.any(String) } });
    }
    expect(JSON.parse(unknownMethod.split('\r\n\r\n')[1] ?? '').error.message).toMatch(/method/);
    expect(events).toHaveLength(0);
  });

  it('listens on 127.0.0.1 only', async () => {
    const { gateway } = await start(() => ({ statusCode: 200 }));
    expect(gateway.url).toBe(`http://127.0.0.1:${gateway.port}`);
    // ::1 is the local machine too, but not where the API listens.
    await expect(rawExchange(gateway.port, 'GET / HTTP/1.1\r\n\r\n', '::1')).rejects.toThrow(/ECONNREFUSED|EADDRNOTAVAIL|EAFNOSUPPORT/);
  });
});

/** Sends raw bytes and returns everything the server writes before it closes the connection. */
function rawExchange(port: number, text: string, host = '127.0.0.1'): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host }, () => socket.write(text));
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => resolve(Buffer.concat(chunks).toString()));
    socket.on('error', reject);
    socket.setTimeout(5_000, () => socket.destroy(new Error('no answer within 5 s')));
  });
}
