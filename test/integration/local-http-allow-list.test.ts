// The local runtime's allow-list for `http` tasks: localhost and 127.0.0.1, except the engine's own
// ports. A task that POSTs a DynamoDB Scan to DynamoDB Local (or calls the SQS server, or the API
// itself) must be refused before anything is sent; other local servers stay callable.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_HTTP_ALLOWED_HOSTS, localHttpAllowedHosts, startLocalRuntime, type LocalRuntime } from '../../local/runtime.js';
import { isHostAllowed } from '../../shared/tasks/host-allow-list.js';
import { ApiClient, register, startRunViaApi, waitForRun } from './e2e-support.js';

let runtime: LocalRuntime;
let api: ApiClient;
let echo: Server;
let echoUrl: string;

beforeAll(async () => {
  echo = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ echoed: request.method }));
    });
  });
  await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
  echoUrl = `http://localhost:${(echo.address() as AddressInfo).port}/echo`;
  runtime = await startLocalRuntime({ port: 0, handlers: new Map(), logLevel: 'SILENT' });
  api = new ApiClient(runtime.apiUrl);
});

afterAll(async () => {
  await runtime?.stop();
  echo?.closeAllConnections();
  await new Promise<void>((resolve) => echo?.close(() => resolve()));
});

const portOf = (url: string) => Number(new URL(url).port);

describe('http tasks in the local runtime', () => {
  it('are refused the DynamoDB Local endpoint, the SQS server and the API, under any loopback name', async () => {
    const dynamoPort = portOf(runtime.dynamoEndpoint);
    const scan = {
      method: 'POST',
      headers: {
        'content-type': 'application/x-amz-json-1.0',
        'x-amz-target': 'DynamoDB_20120810.Scan',
        authorization: 'AWS4-HMAC-SHA256 Credential=local/20200101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0',
      },
      body: { TableName: runtime.tableName },
    };
    const targets = [
      { url: `${runtime.dynamoEndpoint}/`, ...scan },
      { url: `http://localhost:${dynamoPort}/`, ...scan },
      { url: `http://LOCALHOST.:${dynamoPort}/`, ...scan },
      { url: `http://127.1:${dynamoPort}/`, ...scan },
      { url: `http://0.0.0.0:${dynamoPort}/`, ...scan },
      { url: `http://[::1]:${dynamoPort}/`, ...scan },
      { url: `${runtime.sqsEndpoint}/`, method: 'POST', headers: { 'x-amz-target': 'AmazonSQS.ListQueues' }, body: {} },
      { url: `${runtime.apiUrl}/workflows`, method: 'GET', headers: {} },
    ];
    const runs = await Promise.all(
      targets.map(async (http, index) => {
        const { workflowId } = await register(api, { id: `deny_own_port_${index}`, tasks: [{ id: 'call', type: 'http', http }] });
        return waitForRun(api, await startRunViaApi(api, workflowId, {}));
      }),
    );
    runs.forEach((run, index) => {
      expect(run.status, targets[index]?.url).toBe('FAILED');
      expect(run.tasks[0].error, targets[index]?.url).toMatchObject({ name: 'HostNotAllowed', retryable: false });
      expect(run.tasks[0].output, targets[index]?.url).toBeUndefined();
    });
  });

  it('may still call other servers on localhost', async () => {
    const { workflowId } = await register(api, {
      id: 'allow_local_server',
      tasks: [{ id: 'call', type: 'http', http: { url: echoUrl, method: 'POST', body: { hello: 'world' } } }],
    });
    const run = await waitForRun(api, await startRunViaApi(api, workflowId, {}));
    expect(run.status).toBe('COMPLETED');
    expect(run.tasks[0].output).toEqual({ echoed: 'POST' });
  });

  it('builds the list as localhost and 127.0.0.1 minus the engine ports', () => {
    const ports = [runtime.dynamoEndpoint, runtime.sqsEndpoint, runtime.apiUrl].map(portOf);
    const list = localHttpAllowedHosts(LOCAL_HTTP_ALLOWED_HOSTS, ports);
    for (const port of ports) {
      for (const host of ['localhost', '127.0.0.1', '[::1]', '0.0.0.0', '[::]', '[::ffff:7f00:1]']) {
        expect(isHostAllowed(new URL(`http://${host}:${port}/`), list), `${host}:${port}`).toBe(false);
      }
    }
    expect(isHostAllowed(new URL(runtime.dynamoEndpoint), list)).toBe(false);
    expect(isHostAllowed(new URL(echoUrl), list)).toBe(true);
    expect(isHostAllowed(new URL(echoUrl.replace('localhost', '127.0.0.1')), list)).toBe(true);
    expect(isHostAllowed(new URL('http://0.0.0.0:1/'), [...list, '0.0.0.0'])).toBe(false);
  });
});
