// The register function (the deploy-time custom resource of the DagflowEngine construct) on
// DynamoDB Local, answering a real HTTP server standing in for CloudFormation's presigned URL:
// every request gets exactly one answer, a deploy that changes nothing changes nothing, a changed
// definition becomes the latest version, a bad one fails the deploy with the field's name, and a
// delete keeps the definitions that stored runs refer to.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildRegister, putResponse, REGISTER_PROPERTIES } from '../../lambdas/register/handler.js';
import { workflow } from '../../shared/index.js';
import { createTestTable, type TestTable } from './support.js';

let table: TestTable;
let server: Server;
let responseUrl: string;
const answers: Array<{ body: any; contentType: string | undefined }> = [];

beforeAll(async () => {
  table = await createTestTable();
  server = createServer((request: IncomingMessage, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      answers.push({ body: JSON.parse(body), contentType: request.headers['content-type'] });
      response.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  responseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/presigned?X-Amz-Signature=x`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  await table.drop();
});

const knownHandlers = new Set(['charge', 'ship']);
const orders = (retries: number) =>
  workflow('cr_orders')
    .task('charge', { handler: 'charge', retry: { maxRetries: retries } })
    .task('ship', { handler: 'ship', dependsOn: ['charge'] })
    .toJSON();

function event(type: 'Create' | 'Update' | 'Delete', definitions: unknown): CloudFormationCustomResourceEvent {
  const common = {
    ServiceToken: 'arn:aws:lambda:eu-west-1:123456789012:function:register',
    ResponseURL: responseUrl,
    StackId: 'arn:aws:cloudformation:eu-west-1:123456789012:stack/Team/1',
    RequestId: `request-${answers.length}`,
    LogicalResourceId: 'EngineWorkflows',
    ResourceType: 'Custom::DagflowWorkflows',
    ResourceProperties: { ServiceToken: 'x', [REGISTER_PROPERTIES.definitions]: JSON.stringify(definitions) },
  };
  if (type === 'Create') return { ...common, RequestType: 'Create' };
  if (type === 'Update') return { ...common, RequestType: 'Update', PhysicalResourceId: 'EngineWorkflows-definitions', OldResourceProperties: { ServiceToken: 'x' } };
  return { ...common, RequestType: 'Delete', PhysicalResourceId: 'EngineWorkflows-definitions' };
}

async function invoke(request: CloudFormationCustomResourceEvent) {
  const before = answers.length;
  const errors: unknown[] = [];
  const handler = buildRegister({ definitions: table.store.definitions, knownHandlers, respond: putResponse, logError: (_message, extra) => errors.push(extra) });
  await handler(request);
  expect(answers.length - before).toBe(1);
  return { ...answers[answers.length - 1]!, errors };
}

describe('register (deploy-time custom resource)', () => {
  it('saves the definitions on create and answers SUCCESS with each version, without a content type', async () => {
    const { body, contentType } = await invoke(event('Create', [orders(1)]));
    expect(body).toMatchObject({ Status: 'SUCCESS', PhysicalResourceId: 'EngineWorkflows-definitions', LogicalResourceId: 'EngineWorkflows' });
    expect(contentType ?? '').toBe('');
    const version = body.Data.cr_orders;
    expect((await table.store.definitions.getWorkflow('cr_orders'))?.latestVersion).toBe(version);
  });

  it('changes nothing when a deploy repeats the same content, and makes a changed definition the latest', async () => {
    const first = (await invoke(event('Update', [orders(1)]))).body.Data.cr_orders;
    expect((await table.store.definitions.listVersions('cr_orders')).length).toBe(1);
    const second = (await invoke(event('Update', [orders(2)]))).body.Data.cr_orders;
    expect(second).not.toBe(first);
    expect((await table.store.definitions.getWorkflow('cr_orders'))?.latestVersion).toBe(second);
    expect((await table.store.definitions.getDefinition('cr_orders', first))).toBeDefined();
  });

  it('fails the deploy with the workflow and field when a definition names an unknown handler, and saves none of the batch', async () => {
    const good = workflow('cr_fine').task('a', { type: 'pass' }).toJSON();
    const bad = workflow('cr_bad').task('a', { handler: 'nope' }).toJSON();
    const { body } = await invoke(event('Update', [good, bad]));
    expect(body.Status).toBe('FAILED');
    expect(body.Reason).toMatch(/cr_bad\.tasks\.a\.handler: unknown handler/);
    expect(await table.store.definitions.getWorkflow('cr_fine')).toBeUndefined();
  });

  it('answers FAILED (never nothing) when the properties are not a list of definitions', async () => {
    const { body } = await invoke(event('Create', { not: 'a list' }));
    expect(body).toMatchObject({ Status: 'FAILED', Reason: expect.stringMatching(/Definitions must be a JSON array/) });
  });

  it('keeps the definitions on delete: stored runs refer to them', async () => {
    const { body } = await invoke(event('Delete', [orders(2)]));
    expect(body).toMatchObject({ Status: 'SUCCESS', PhysicalResourceId: 'EngineWorkflows-definitions' });
    expect(await table.store.definitions.getWorkflow('cr_orders')).toBeDefined();
  });
});
