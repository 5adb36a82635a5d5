// `dagflow logs`: a run's lines from CloudWatch Logs Insights over the stack's log groups, with the
// CloudFormation and CloudWatch Logs clients mocked and a plain HTTP server standing in for the API
// (GET /runs/{runId}): the query names the run, reads the stack's log groups over the run's time
// range, is polled until Complete, and its rows print one line each; a failed or slow query is one
// line of error; --follow queries again without printing a line twice; the local engine gets a note.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CloudFormationClient, DescribeStackResourcesCommand, DescribeStacksCommand, ListStackResourcesCommand } from '@aws-sdk/client-cloudformation';
import { CloudWatchLogsClient, GetQueryResultsCommand, StartQueryCommand, StopQueryCommand } from '@aws-sdk/client-cloudwatch-logs';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DagflowClient, RunView } from '../../client/index.js';
import { queryRunLogs, runLogQueryString } from '../../client/logs.js';
import { logGroupsOfStack } from '../../client/stack.js';
import { EXIT, main } from '../../cli/dagflow.js';
import { deployedLogGroups, functionOf, logLine, printRunLogs } from '../../cli/logs.js';

const RUN_ID = '684e748c-980c-43b5-8e7b-b500e78d9afe';
const CREATED = '2025-03-01T10:00:00.000Z';
const COMPLETED = '2025-03-01T10:02:30.000Z';
const ACCOUNT = '123456789012';
const GROUPS = {
  worker: 'Dagflow-FunctionsWorkerLogs81C46784-AbCdEf123456',
  scheduler: 'Dagflow-FunctionsSchedulerLogs0B02D5D8-GhIjKl789012',
  access: 'Dagflow-ApiAccessLogs50B185DB-MnOpQr345678',
};

const cloudFormation = mockClient(CloudFormationClient);
const logs = mockClient(CloudWatchLogsClient);
const saved = { ...process.env };
let api: Server;
let apiUrl: string;
const runs = new Map<string, Partial<RunView>>();

beforeAll(async () => {
  api = createServer((request, response) => {
    const run = runs.get(decodeURIComponent(/^\/runs\/([^/?]+)$/.exec(request.url ?? '')?.[1] ?? ''));
    if (run === undefined) return void response.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'NOT_FOUND', message: 'run not found' } }));
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(run));
  });
  await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
  apiUrl = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
  runs.set(RUN_ID, { runId: RUN_ID, workflowId: 'order_processing', status: 'COMPLETED', createdAt: CREATED, completedAt: COMPLETED, tasks: [] });
  Object.assign(process.env, { AWS_REGION: 'eu-west-1', AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'secret' });
});

afterAll(() => {
  process.env = saved;
  api.close();
  cloudFormation.restore();
  logs.restore();
});

afterEach(() => {
  cloudFormation.reset();
  logs.reset();
});

/** The stack "Dagflow": its ApiUrl is the fake API, and it has three log groups (and other resources), over two pages. */
function stackWithLogGroups(): void {
  cloudFormation.on(DescribeStacksCommand, { StackName: 'Dagflow' }).resolves({
    Stacks: [{ StackName: 'Dagflow', CreationTime: new Date(), StackStatus: 'CREATE_COMPLETE', Outputs: [{ OutputKey: 'ApiUrl', OutputValue: `${apiUrl}/` }] }],
  });
  const resource = (logicalId: string, type: string, physicalId: string) => ({ LogicalResourceId: logicalId, ResourceType: type, PhysicalResourceId: physicalId, LastUpdatedTimestamp: new Date(), ResourceStatus: 'CREATE_COMPLETE' as const });
  cloudFormation
    .on(ListStackResourcesCommand, { StackName: 'Dagflow' })
    .resolvesOnce({
      StackResourceSummaries: [resource('FunctionsWorkerLogs81C46784', 'AWS::Logs::LogGroup', GROUPS.worker), resource('FunctionsWorker1234ABCD', 'AWS::Lambda::Function', 'Dagflow-Worker')],
      NextToken: 'page-2',
    })
    .resolvesOnce({
      StackResourceSummaries: [resource('FunctionsSchedulerLogs0B02D5D8', 'AWS::Logs::LogGroup', GROUPS.scheduler), resource('ApiAccessLogs50B185DB', 'AWS::Logs::LogGroup', GROUPS.access)],
    });
}

/** An Insights result row, as GetQueryResults returns it. */
function row(fields: Record<string, string>): Array<{ field: string; value: string }> {
  return Object.entries(fields).map(([field, value]) => ({ field, value }));
}

const ROWS = [
  row({ '@timestamp': '2025-03-01 10:00:01.250', '@log': `${ACCOUNT}:${GROUPS.worker}`, level: 'INFO', taskId: 'validate_payment', attempt: '1', message: 'task succeeded', '@ptr': 'p1' }),
  row({ '@timestamp': '2025-03-01 10:00:02.500', '@log': `${ACCOUNT}:${GROUPS.worker}`, level: 'WARN', taskId: 'charge_payment', attempt: '2', message: 'task failed; retrying', 'error.name': 'Declined', 'error.message': 'card declined', '@ptr': 'p2' }),
  row({ '@timestamp': '2025-03-01 10:00:03.000', '@log': `${ACCOUNT}:${GROUPS.scheduler}`, level: 'ERROR', message: 'stream records failed', '@ptr': 'p3' }),
];

async function cli(...args: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, { out: (line) => out.push(line), err: (line) => err.push(line) }, {});
  return { code, out, err };
}

describe('dagflow logs on a deployed stack', () => {
  it("queries the stack's log groups for the run over its time range, polls until Complete, and prints one line per event", async () => {
    stackWithLogGroups();
    logs.on(StartQueryCommand).resolves({ queryId: 'q-1' });
    logs.on(GetQueryResultsCommand, { queryId: 'q-1' }).resolvesOnce({ status: 'Scheduled' }).resolvesOnce({ status: 'Running' }).resolves({ status: 'Complete', results: ROWS });

    const result = await cli('logs', RUN_ID, '--stack', 'Dagflow');
    expect(result.err).toEqual([]);
    expect(result.code).toBe(EXIT.ok);
    expect(result.out).toEqual([
      '2025-03-01T10:00:01.250Z  worker     INFO   validate_payment  task succeeded',
      '2025-03-01T10:00:02.500Z  worker     WARN   charge_payment #2  task failed; retrying: Declined: card declined',
      '2025-03-01T10:00:03.000Z  scheduler  ERROR  stream records failed',
    ]);

    const [start] = logs.commandCalls(StartQueryCommand);
    const input = start?.args[0].input;
    expect(input?.logGroupNames).toEqual([GROUPS.worker, GROUPS.scheduler, GROUPS.access]);
    expect(input?.queryString).toContain(`runId = "${RUN_ID}"`);
    expect(input?.queryString).toContain('| limit 1000');
    // From the run's creation to five minutes after its end, in seconds.
    expect(input?.startTime).toBe(Date.parse(CREATED) / 1000);
    expect(input?.endTime).toBe(Date.parse(COMPLETED) / 1000 + 300);
    expect(logs.commandCalls(GetQueryResultsCommand)).toHaveLength(3);
  }, 10_000);

  it('prints the raw rows with --json, one per line, and narrows the range with --since and the rows with --limit', async () => {
    stackWithLogGroups();
    runs.set('r-running', { runId: 'r-running', status: 'RUNNING', createdAt: new Date(Date.now() - 3_600_000).toISOString(), tasks: [] });
    logs.on(StartQueryCommand).resolves({ queryId: 'q-2' });
    logs.on(GetQueryResultsCommand).resolves({ status: 'Complete', results: ROWS.slice(0, 1) });

    const before = Math.floor(Date.now() / 1000);
    const result = await cli('logs', 'r-running', '--stack', 'Dagflow', '--json', '--since', '10m', '--limit', '1');
    expect(result.out.map((line) => JSON.parse(line))).toEqual([
      { '@timestamp': '2025-03-01 10:00:01.250', '@log': `${ACCOUNT}:${GROUPS.worker}`, level: 'INFO', taskId: 'validate_payment', attempt: '1', message: 'task succeeded', '@ptr': 'p1' },
    ]);
    expect(result.err).toEqual(['(the first 1 lines: --limit up to 10000, or --since for the latest)']);
    const input = logs.commandCalls(StartQueryCommand)[0]?.args[0].input;
    // A running run: from ten minutes ago (not its creation an hour ago) to now.
    expect(input?.startTime).toBeGreaterThanOrEqual(before - 600 - 1);
    expect(input?.startTime).toBeLessThanOrEqual(before - 600 + 2);
    expect(input?.endTime).toBeGreaterThanOrEqual(before);
    expect(input?.queryString).toContain('| limit 1');
  });

  it('says in one line that a query Failed or timed out (exit 1), and stops a query that outlasts its time', async () => {
    stackWithLogGroups();
    logs.on(StartQueryCommand).resolves({ queryId: 'q-3' });
    logs.on(GetQueryResultsCommand).resolves({ status: 'Failed' });
    expect(await cli('logs', RUN_ID, '--stack', 'Dagflow')).toEqual({
      code: EXIT.error,
      out: [],
      err: ['dagflow: the Logs Insights query q-3 ended Failed: try again, or a shorter time range (--since)'],
    });

    logs.on(GetQueryResultsCommand).resolves({ status: 'Timeout' });
    expect(await queryRunLogs({ runId: RUN_ID, logGroups: ['g'], from: 0, to: 60_000, limit: 10 }).catch((error: Error) => error.message)).toBe(
      'the Logs Insights query q-3 ended Timeout: try again, or a shorter time range (--since)',
    );

    logs.on(GetQueryResultsCommand).resolves({ status: 'Running' });
    logs.on(StopQueryCommand).resolves({ success: true });
    const slow = await queryRunLogs({ runId: RUN_ID, logGroups: ['g'], from: 0, to: 60_000, limit: 10 }, { pollMs: 5, timeoutMs: 30 }).catch((error: Error) => error.message);
    expect(slow).toBe('the Logs Insights query q-3 did not finish in 0 s (still Running); it was stopped: try a shorter time range (--since)');
    expect(logs.commandCalls(StopQueryCommand)[0]?.args[0].input).toEqual({ queryId: 'q-3' });
  });

  it('finds the stack of an execute-api URL, and reads it in that region', async () => {
    cloudFormation.on(DescribeStackResourcesCommand, { PhysicalResourceId: 'abc123' }).resolves({
      StackResources: [{ StackName: 'DagflowProd', LogicalResourceId: 'ApiHttpApi1234', ResourceType: 'AWS::ApiGatewayV2::Api', Timestamp: new Date(), ResourceStatus: 'CREATE_COMPLETE' }],
    });
    cloudFormation.on(ListStackResourcesCommand, { StackName: 'DagflowProd' }).resolves({
      StackResourceSummaries: [{ LogicalResourceId: 'FunctionsApiLogs401B0128', ResourceType: 'AWS::Logs::LogGroup', PhysicalResourceId: 'DagflowProd-FunctionsApiLogs401B0128-x', LastUpdatedTimestamp: new Date(), ResourceStatus: 'CREATE_COMPLETE' }],
    });
    const deployed = await deployedLogGroups('https://abc123.execute-api.ap-southeast-2.amazonaws.com/', undefined);
    expect(deployed?.logGroups).toEqual([{ name: 'DagflowProd-FunctionsApiLogs401B0128-x', logicalId: 'FunctionsApiLogs401B0128' }]);
    expect(await deployed?.logs.config.region()).toBe('ap-southeast-2');
    expect(await deployedLogGroups('http://127.0.0.1:3000', undefined)).toBeUndefined();
  });

  it('says so when the stack has no log groups', async () => {
    cloudFormation.on(ListStackResourcesCommand).resolves({ StackResourceSummaries: [] });
    await expect(logGroupsOfStack('Other', new CloudFormationClient({ region: 'eu-west-1' }))).rejects.toThrow('stack "Other" has no log groups: is it a dagflow stack?');
  });
});

describe('dagflow logs --follow', () => {
  it('queries again until the run has ended, printing each line once', async () => {
    logs.on(StartQueryCommand).resolvesOnce({ queryId: 'f-1' }).resolves({ queryId: 'f-2' });
    logs.on(GetQueryResultsCommand, { queryId: 'f-1' }).resolves({ status: 'Complete', results: ROWS.slice(0, 2) });
    logs.on(GetQueryResultsCommand, { queryId: 'f-2' }).resolves({ status: 'Complete', results: ROWS });
    const views: Array<Partial<RunView>> = [
      { runId: 'r-f', status: 'RUNNING', createdAt: CREATED, tasks: [] },
      { runId: 'r-f', status: 'FAILED', createdAt: CREATED, completedAt: '2025-03-01T10:00:04.000Z', tasks: [] },
    ];
    const client = { getRun: () => Promise.resolve(views.length > 1 ? views.shift() : views[0]) } as unknown as DagflowClient;
    const out: string[] = [];
    await printRunLogs(
      { runId: 'r-f', limit: 100, follow: true, json: false },
      { client, logGroups: [{ name: GROUPS.worker, logicalId: 'FunctionsWorkerLogs81C46784' }], out: (line) => out.push(line), err: () => {}, now: () => Date.parse('2025-03-01T10:01:00Z'), followEveryMs: 1 },
    );
    expect(out.map((line) => line.slice(0, 24))).toEqual(['2025-03-01T10:00:01.250Z', '2025-03-01T10:00:02.500Z', '2025-03-01T10:00:03.000Z']);
    expect(logs.commandCalls(StartQueryCommand)).toHaveLength(2);
  });
});

describe('dagflow logs on the local engine', () => {
  it('says in one line where the local engine prints its logs (exit 0), after checking the run exists', async () => {
    const local = await cli('logs', RUN_ID, '--url', apiUrl);
    expect(local.code).toBe(EXIT.ok);
    expect(local.out).toEqual([]);
    expect(local.err).toHaveLength(1);
    expect(local.err[0]).toMatch(/is not a deployed stack, and the local engine keeps no logs: they are printed in the terminal running `npm start`/);
    expect(await cli('logs', 'no-such-run', '--url', apiUrl)).toMatchObject({ code: EXIT.error, err: ['dagflow: 404 NOT_FOUND: run not found'] });
    expect(await cli('logs', RUN_ID, '--url', apiUrl, '--since', 'yesterday')).toMatchObject({ code: EXIT.usage });
    expect(logs.commandCalls(StartQueryCommand)).toHaveLength(0);
  });
});

describe('log lines', () => {
  it('name the function from the log group, and keep a line that is not JSON', () => {
    expect(functionOf('FunctionsWorkerLogs81C46784')).toBe('worker');
    expect(functionOf('FunctionsDlqLogs338A0B8F')).toBe('dlq');
    expect(functionOf('ApiAccessLogs50B185DB')).toBe('api-access');
    expect(logLine({ '@timestamp': '2025-03-01 10:00:00.000', '@log': `${ACCOUNT}:elsewhere`, '@message': `sweeper could not handle ${RUN_ID}\nmore` }, new Map())).toBe(
      `2025-03-01T10:00:00.000Z  elsewhere  sweeper could not handle ${RUN_ID}`,
    );
  });

  it('come from a query that quotes nothing it cannot', () => {
    expect(() => runLogQueryString('x" or 1=1', 10)).toThrow('is not a run id');
  });
});
