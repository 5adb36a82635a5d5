// The synthesized CloudFormation of the engine stack: durability and encryption of the state, the
// queue and stream settings the engine's guarantees rest on, least privilege per function, the
// API's auth, logging and throttling, the sweeper's schedule, monitoring and outputs.
import * as path from 'node:path';
import type { CfnElement } from 'aws-cdk-lib';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import { beforeAll, describe, expect, it } from 'vitest';
import { API_ROUTES } from '../../infra/constructs/api.js';
import { routes as apiRoutes } from '../../lambdas/api/routes.js';
import { findFunctionEntries } from '../../infra/constructs/functions.js';
import { PROJECT_ROOT } from '../../infra/build-app.js';
import { parseStackConfig } from '../../infra/stack-config.js';
import type { WorkflowEngineStack } from '../../infra/stack.js';
import { loadApiConfig, loadQueueingConfig, loadRegisterConfig, loadScheduleTargetConfig, loadTriggerConfig, loadWorkerConfig } from '../../shared/config/env.js';
import { ENV, QUEUES, TIMINGS } from '../../shared/config/settings.js';
import { handlers } from '../../workflows/index.js';
import { createTableInput, TABLE } from '../../shared/config/table-schema.js';
import { allowing, refersTo, resourcesOf, statementsOfFunction, synthTemplate } from './support.js';

let template: Template;
let stack: WorkflowEngineStack;
const id = (construct: IConstruct | undefined): string => {
  if (construct === undefined) throw new Error('construct not created');
  return stack.getLogicalId(construct.node.defaultChild as CfnElement);
};
const resourcesOfType = (type: string): Record<string, any> => template.findResources(type);
const only = <T>(values: T[]): T => {
  expect(values).toHaveLength(1);
  return values[0] as T;
};

beforeAll(() => {
  ({ template, stack } = synthTemplate({ context: { httpAllowedHosts: 'api.example.com,*.example.org' } }));
});

describe('state', () => {
  it('is one on-demand table with the keys of shared/table-schema.ts', () => {
    const expected = createTableInput('ignored');
    template.resourceCountIs('AWS::DynamoDB::Table', 1);
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      BillingMode: 'PAY_PER_REQUEST',
      KeySchema: expected.KeySchema,
      AttributeDefinitions: Match.arrayWith(expected.AttributeDefinitions ?? []),
    });
  });

  it('streams new and old images, keeps point-in-time recovery, expires items by the TTL attribute and is encrypted', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      StreamSpecification: { StreamViewType: 'NEW_AND_OLD_IMAGES' },
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      TimeToLiveSpecification: { AttributeName: TABLE.ttlAttribute, Enabled: true },
      SSESpecification: { SSEEnabled: true },
    });
  });

  it('keeps large payloads in one private, encrypted, TLS-only bucket whose objects expire with their runs', () => {
    const bucket = only(Object.values(resourcesOfType('AWS::S3::Bucket')));
    expect(bucket.Properties.BucketEncryption.ServerSideEncryptionConfiguration).toEqual([{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }]);
    expect(bucket.Properties.PublicAccessBlockConfiguration).toEqual({ BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true });
    expect(bucket.Properties.LifecycleConfiguration.Rules).toContainEqual({ Id: 'ExpireWithRuns', Prefix: 'runs/', ExpirationInDays: TIMINGS.retentionDays + 30, Status: 'Enabled' });
    expect(bucket.DeletionPolicy).toBe('Retain');
    const policy = only(Object.values(resourcesOfType('AWS::S3::BucketPolicy')));
    expect(policy.Properties.PolicyDocument.Statement).toContainEqual(
      expect.objectContaining({ Effect: 'Deny', Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
    );
  });

  it('has every GSI exactly as the shared schema says (keys and INCLUDE projections)', () => {
    const table = only(Object.values(resourcesOfType('AWS::DynamoDB::Table')));
    const byName = (indexes: any[]) => [...indexes].sort((a, b) => String(a.IndexName).localeCompare(String(b.IndexName)));
    expect(byName(table.Properties.GlobalSecondaryIndexes)).toEqual(byName(createTableInput('ignored').GlobalSecondaryIndexes ?? []));
  });

  it('indexes runs by day and write shard for the cross-workflow listing, on the sort key and projection of runsByWorkflow', () => {
    const table = only(Object.values(resourcesOfType('AWS::DynamoDB::Table')));
    const { runsByTime, runsByWorkflow } = TABLE.indexes;
    expect(table.Properties.GlobalSecondaryIndexes.find((index: any) => index.IndexName === runsByTime.name)).toEqual({
      IndexName: 'runsByTime',
      KeySchema: [
        { AttributeName: 'gsi2pk', KeyType: 'HASH' },
        { AttributeName: runsByWorkflow.sortKey, KeyType: 'RANGE' },
      ],
      Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: [...runsByWorkflow.projectedAttributes] },
    });
    // One attribute serves as the sort key of both indexes: defined once, stored once per run.
    const definitions = table.Properties.AttributeDefinitions.map((definition: any) => definition.AttributeName);
    expect(definitions.filter((name: string) => name === runsByWorkflow.sortKey)).toHaveLength(1);
    expect(definitions).toContain('gsi2pk');
  });

  it('is retained and deletion-protected by default, destroyable with removalPolicy=destroy', () => {
    template.hasResource('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
      Properties: Match.objectLike({ DeletionProtectionEnabled: true }),
    });
    const dev = synthTemplate({ context: { removalPolicy: 'destroy' } }).template;
    dev.hasResource('AWS::DynamoDB::Table', { DeletionPolicy: 'Delete', Properties: Match.objectLike({ DeletionProtectionEnabled: false }) });
  });
});

describe('queues', () => {
  it('gives the task queue a visibility timeout of at least six times the worker timeout', () => {
    const worker = template.toJSON().Resources[id(stack.engine.functions.worker)];
    const queue = template.toJSON().Resources[id(stack.engine.queues.taskQueue)];
    expect(worker.Properties.Timeout).toBe(QUEUES.workerTimeoutSeconds);
    expect(queue.Properties.VisibilityTimeout).toBe(QUEUES.visibilityTimeoutSeconds);
    expect(queue.Properties.VisibilityTimeout).toBeGreaterThanOrEqual(6 * worker.Properties.Timeout);
  });

  it('redrives task messages to the DLQ after at least five receives, and the DLQ keeps them 14 days', () => {
    const queue = template.toJSON().Resources[id(stack.engine.queues.taskQueue)];
    expect(queue.Properties.RedrivePolicy.maxReceiveCount).toBe(QUEUES.maxReceiveCount);
    expect(queue.Properties.RedrivePolicy.maxReceiveCount).toBeGreaterThanOrEqual(5);
    expect(queue.Properties.RedrivePolicy.deadLetterTargetArn).toEqual({ 'Fn::GetAtt': [id(stack.engine.queues.taskDlq), 'Arn'] });
    const dlq = template.toJSON().Resources[id(stack.engine.queues.taskDlq)];
    expect(dlq.Properties.MessageRetentionPeriod).toBe(QUEUES.dlqRetentionSeconds);
  });

  it('encrypts every queue and denies every request that does not use TLS', () => {
    const queues = resourcesOfType('AWS::SQS::Queue');
    expect(Object.keys(queues)).toHaveLength(3);
    const policies = Object.values(resourcesOfType('AWS::SQS::QueuePolicy'));
    for (const [logicalId, queue] of Object.entries(queues)) {
      expect(queue.Properties.SqsManagedSseEnabled ?? queue.Properties.KmsMasterKeyId, logicalId).toBeTruthy();
      const policy = policies.find((p) => p.Properties.Queues.some((q: any) => q.Ref === logicalId));
      expect(policy, `${logicalId} has no queue policy`).toBeDefined();
      expect(policy.Properties.PolicyDocument.Statement).toContainEqual(
        expect.objectContaining({ Effect: 'Deny', Action: 'sqs:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
      );
    }
  });
});

describe('event sources', () => {
  it('feeds the table stream to the scheduler with bisection, bounded retries, a failure queue and partial batch responses', () => {
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: id(stack.engine.functions.scheduler) },
      EventSourceArn: { 'Fn::GetAtt': [id(stack.engine.state.table), 'StreamArn'] },
      StartingPosition: 'TRIM_HORIZON',
      BisectBatchOnFunctionError: true,
      MaximumRetryAttempts: 10,
      MaximumRecordAgeInSeconds: 86_400,
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [id(stack.engine.queues.streamFailureQueue), 'Arn'] } } },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      BatchSize: 1000,
      MaximumBatchingWindowInSeconds: 1,
      ParallelizationFactor: Match.anyValue(),
    });
  });

  it("filters the scheduler's records: run changes, final task and map item states, completion and chunk counts only", () => {
    const mapping = Object.values(resourcesOfType('AWS::Lambda::EventSourceMapping')).find((m) => refersTo(m.Properties.FunctionName, id(stack.engine.functions.scheduler)));
    const patterns = (mapping?.Properties.FilterCriteria.Filters as Array<{ Pattern: string }>).map((filter) => JSON.parse(filter.Pattern));
    expect(patterns).toHaveLength(3);
    expect(patterns.map((p) => p.dynamodb.Keys.sk.S)).toEqual([['RUN'], [{ prefix: 'TASK#' }, { prefix: 'ITEM#' }], [{ prefix: 'DONE#' }, { prefix: 'MAPDONE#' }]]);
    expect([...patterns[1].dynamodb.NewImage.status.S].sort()).toEqual(['CANCELLED', 'FAILED', 'SKIPPED', 'SUCCEEDED']);
    // Deletions (TTL) carry no new image and invoke nothing.
    for (const pattern of patterns) expect(pattern.eventName).toEqual(['INSERT', 'MODIFY']);
  });

  it('feeds the task queue to the worker in batches of 10 without a batching window, reporting failures per message', () => {
    const mapping = Object.values(resourcesOfType('AWS::Lambda::EventSourceMapping')).find((m) => refersTo(m.Properties.EventSourceArn, id(stack.engine.queues.taskQueue)));
    expect(mapping?.Properties).toMatchObject({ FunctionName: { Ref: id(stack.engine.functions.worker) }, BatchSize: 10, FunctionResponseTypes: ['ReportBatchItemFailures'] });
    expect(mapping?.Properties.MaximumBatchingWindowInSeconds ?? 0).toBe(0);
  });

  it('feeds the DLQ to the dlq handler only', () => {
    const mappings = Object.values(resourcesOfType('AWS::Lambda::EventSourceMapping'));
    const fromDlq = mappings.filter((m) => refersTo(m.Properties.EventSourceArn, id(stack.engine.queues.taskDlq)));
    expect(fromDlq.map((m) => m.Properties.FunctionName)).toEqual([{ Ref: id(stack.engine.functions.dlq) }]);
    expect(fromDlq[0].Properties.FunctionResponseTypes).toEqual(['ReportBatchItemFailures']);
  });

  it('caps the worker mapping and reserves worker concurrency only when the context asks', () => {
    const worker = template.toJSON().Resources[id(stack.engine.functions.worker)];
    expect(worker.Properties.ReservedConcurrentExecutions).toBeUndefined();
    const capped = synthTemplate({ context: { workerReservedConcurrency: '20', workerMaxConcurrency: '10' } });
    capped.template.hasResourceProperties('AWS::Lambda::Function', {
      Handler: 'index.handler',
      ReservedConcurrentExecutions: 20,
      Timeout: QUEUES.workerTimeoutSeconds,
    });
    capped.template.hasResourceProperties('AWS::Lambda::EventSourceMapping', { ScalingConfig: { MaximumConcurrency: 10 } });
  });
});

describe('functions', () => {
  const names = ['api', 'scheduler', 'worker', 'sweeper', 'dlq', 'register', 'trigger'] as const;
  const queueing = ['api', 'scheduler', 'worker', 'sweeper', 'dlq', 'trigger'] as const;

  it('run on the newest Node.js runtime, on arm64, each with its own role, log group and the Powertools settings', () => {
    const functions = Object.values(resourcesOfType('AWS::Lambda::Function'));
    expect(functions).toHaveLength(names.length);
    const roles = new Set<string>();
    for (const fn of functions) {
      expect(fn.Properties.Runtime).toBe('nodejs24.x');
      expect(fn.Properties.Architectures).toEqual(['arm64']);
      expect(fn.Properties.LoggingConfig.LogGroup).toBeDefined();
      expect(fn.Properties.Environment.Variables).toMatchObject({
        // The engine's own service name: its metrics and alarms are not another stage's.
        POWERTOOLS_SERVICE_NAME: stack.engine.serviceName,
        POWERTOOLS_METRICS_NAMESPACE: 'Dagflow',
        POWERTOOLS_LOG_LEVEL: 'INFO',
      });
      roles.add(fn.Properties.Role['Fn::GetAtt'][0]);
    }
    expect(roles.size).toBe(names.length);
    for (const role of Object.values(resourcesOfType('AWS::IAM::Role'))) expect(role.Properties.ManagedPolicyArns).toBeUndefined();
    template.resourcePropertiesCountIs('AWS::Logs::LogGroup', { RetentionInDays: 30 }, names.length + 1);
  });

  it('get the env vars their config needs, set by the same helper that grants the access', () => {
    const env = (name: (typeof names)[number]) => template.toJSON().Resources[id(stack.engine.functions[name])].Properties.Environment.Variables;
    const tableName = { Ref: id(stack.engine.state.table) };
    const queueUrl = { Ref: id(stack.engine.queues.taskQueue) };
    for (const name of queueing) expect(env(name)).toMatchObject({ [ENV.tableName]: tableName, [ENV.taskQueueUrl]: queueUrl });
    expect(env('register')).toMatchObject({ [ENV.tableName]: tableName, [ENV.handlerNames]: [...handlers.keys()].join(',') });
    expect(env('register')[ENV.taskQueueUrl]).toBeUndefined();
    expect(env('worker')[ENV.httpAllowedHosts]).toBe('api.example.com,*.example.org');
    expect(env('dlq')[ENV.taskDlqUrl]).toEqual({ Ref: id(stack.engine.queues.taskDlq) });
    expect(env('api')[ENV.taskDlqUrl]).toBeUndefined();
    expect(env('api')[ENV.handlerNames]).toBe([...handlers.keys()].join(','));
  });

  it("each function's config loader accepts the environment the stack gives it", () => {
    // CloudFormation references (a table name, a queue URL) become plausible strings, as at deploy.
    const deployed = (name: (typeof names)[number]): NodeJS.ProcessEnv => {
      const variables = template.toJSON().Resources[id(stack.engine.functions[name])].Properties.Environment.Variables as Record<string, unknown>;
      return Object.fromEntries(Object.entries(variables).map(([key, value]) => [key, typeof value === 'string' ? value : key === ENV.tableName ? 'dagflow-table' : 'https://sqs.eu-west-1.amazonaws.com/123456789012/q']));
    };
    expect(loadApiConfig(deployed('api')).handlerNames).toEqual([...handlers.keys()]);
    for (const name of ['scheduler', 'sweeper', 'dlq'] as const) expect(() => loadQueueingConfig(deployed(name)), name).not.toThrow();
    expect(loadRegisterConfig(deployed('register')).handlerNames).toEqual([...handlers.keys()]);
    expect(() => loadWorkerConfig(deployed('worker'))).not.toThrow();
    expect(loadTriggerConfig(deployed('trigger')).handlerBuild).toBe(loadApiConfig(deployed('api')).handlerBuild);
    expect(loadScheduleTargetConfig(deployed('api'))?.groupName).toBe(stack.engine.workflowSchedules?.group.scheduleGroupName);
  });

  it('builds without the sweeper, dlq handler and trigger when not given their entries (the construct always gives all seven)', () => {
    const { api, scheduler, worker } = findFunctionEntries(PROJECT_ROOT);
    const { stack: without } = synthTemplate({ entries: { api, scheduler, worker } });
    expect(without.engine.functions.sweeper).toBeUndefined();
    expect(without.engine.functions.dlq).toBeUndefined();
    expect(without.engine.schedule).toBeUndefined();
    expect(without.engine.workflowSchedules).toBeUndefined();
    expect([...without.engine.functions.byName.keys()]).toEqual(['api', 'scheduler', 'worker']);
  });
});

describe('least privilege', () => {
  const statements = (name: 'api' | 'scheduler' | 'worker' | 'sweeper' | 'dlq' | 'register' | 'trigger') => statementsOfFunction(template, id(stack.engine.functions[name]));

  it('never lets a function delete the table, scan it, or use a wildcard action', () => {
    for (const name of ['api', 'scheduler', 'worker', 'sweeper', 'dlq', 'register', 'trigger'] as const) {
      expect(allowing(statements(name), 'dynamodb:DeleteTable'), name).toEqual([]);
      expect(allowing(statements(name), 'dynamodb:Scan'), name).toEqual([]);
      for (const statement of statements(name)) {
        for (const action of [statement.Action].flat()) expect(action, name).not.toMatch(/(^\*$|:\*$)/);
      }
    }
  });

  it('lets the worker write items and send retries, but not read the DLQ', () => {
    const worker = statements('worker');
    expect(allowing(worker, 'dynamodb:UpdateItem').length).toBeGreaterThan(0);
    expect(allowing(worker, 'sqs:SendMessage').some((s) => refersTo(s.Resource, id(stack.engine.queues.taskQueue)))).toBe(true);
    const receives = allowing(worker, 'sqs:ReceiveMessage');
    expect(receives.some((s) => refersTo(s.Resource, id(stack.engine.queues.taskDlq)))).toBe(false);
    expect(receives.every((s) => resourcesOf(s).every((r) => refersTo(r, id(stack.engine.queues.taskQueue))))).toBe(true);
  });

  it("gives the api the table and sending to the task queue (a run's roots), but no receiving and no stream", () => {
    const api = statements('api');
    expect(allowing(api, 'dynamodb:Query').length).toBeGreaterThan(0);
    expect(allowing(api, 'sqs:ReceiveMessage')).toEqual([]);
    expect(allowing(api, 'sqs:SendMessage').every((s) => refersTo(s.Resource, id(stack.engine.queues.taskQueue)))).toBe(true);
    expect(allowing(api, 'sqs:SendMessage').length).toBeGreaterThan(0);
    expect(allowing(api, 'dynamodb:GetRecords')).toEqual([]);
    expect(allowing(api, 'dynamodb:GetShardIterator')).toEqual([]);
  });

  it('scopes the scheduler to the table, its stream and the task queue; only ListStreams (no resource-level permission) is on *', () => {
    const scheduler = statements('scheduler');
    expect(allowing(scheduler, 'dynamodb:GetRecords').every((s) => refersTo(s.Resource, id(stack.engine.state.table)))).toBe(true);
    expect(allowing(scheduler, 'dynamodb:GetRecords').length).toBeGreaterThan(0);
    expect(allowing(scheduler, 'sqs:SendMessage').some((s) => refersTo(s.Resource, id(stack.engine.queues.taskQueue)))).toBe(true);
    const onStar = scheduler.filter((s) => resourcesOf(s).includes('*'));
    expect(onStar.map((s) => s.Action)).toEqual(['dynamodb:ListStreams']);
  });

  it('lets the functions that read or write inputs and outputs get and put payload objects under runs/ only, with PAYLOAD_BUCKET; not the register function', () => {
    const bucket = id(stack.engine.payloads.bucket);
    for (const name of ['api', 'scheduler', 'worker', 'sweeper', 'dlq', 'trigger'] as const) {
      const s3 = statements(name).filter((statement) => [statement.Action].flat().some((action) => String(action).startsWith('s3:')));
      expect(s3.flatMap((statement) => [statement.Action].flat()).sort(), name).toEqual(['s3:GetObject', 's3:PutObject']);
      for (const statement of s3) expect(JSON.stringify(statement.Resource), name).toMatch(new RegExp(`${bucket}.*/runs/\\*`));
      const fn = resourcesOfType('AWS::Lambda::Function')[id(stack.engine.functions[name])];
      expect(fn.Properties.Environment.Variables[ENV.payloadBucket], name).toEqual({ Ref: bucket });
    }
    expect(allowing(statements('register'), 's3:GetObject')).toEqual([]);
  });

  it('gives the register function (the deploy-time custom resource) the table and no queue', () => {
    const register = statements('register');
    expect(allowing(register, 'dynamodb:PutItem').length).toBeGreaterThan(0);
    expect(allowing(register, 'sqs:SendMessage')).toEqual([]);
    expect(allowing(register, 'sqs:ReceiveMessage')).toEqual([]);
    expect(allowing(register, 'dynamodb:GetRecords')).toEqual([]);
  });

  it('names the GSIs one by one instead of index/*', () => {
    for (const name of ['api', 'worker', 'sweeper'] as const) {
      const query = allowing(statements(name), 'dynamodb:Query');
      expect(JSON.stringify(query)).not.toContain('/index/*');
      for (const index of Object.values(TABLE.indexes)) expect(JSON.stringify(query)).toContain(`/index/${index.name}`);
    }
  });

  it('lets the api query the runsByTime index by its ARN, and no function every index of the table', () => {
    const apiQuery = allowing(statements('api'), 'dynamodb:Query');
    expect(JSON.stringify(apiQuery)).toContain(`/index/${TABLE.indexes.runsByTime.name}"`);
    for (const name of ['api', 'scheduler', 'worker', 'sweeper', 'dlq', 'register'] as const) {
      expect(JSON.stringify(allowing(statements(name), 'dynamodb:Query')), name).not.toMatch(/\/index\/\*/);
    }
  });

  it('lets only the worker read secrets, only under the prefix, and says where in its env', () => {
    const worker = template.toJSON().Resources[id(stack.engine.functions.worker)].Properties.Environment.Variables;
    expect(worker).toMatchObject({ [ENV.secretsSource]: 'secretsmanager', [ENV.secretsPrefix]: 'dagflow/' });
    const reads = allowing(statements('worker'), 'secretsmanager:GetSecretValue');
    expect(JSON.stringify(reads.map((s) => s.Resource))).toContain(':secret:dagflow/*');
    for (const name of ['api', 'scheduler', 'sweeper', 'dlq', 'register'] as const) {
      expect(allowing(statements(name), 'secretsmanager:GetSecretValue'), name).toEqual([]);
    }
    const ssm = synthTemplate({ context: { secretsSource: 'ssm', secretsPrefix: '/team/billing/' } });
    const ssmWorkerId = ssm.stack.getLogicalId(ssm.stack.engine.functions.worker.node.defaultChild as CfnElement);
    const ssmReads = allowing(statementsOfFunction(ssm.template, ssmWorkerId), 'ssm:GetParameter');
    expect(JSON.stringify(ssmReads.map((s) => s.Resource))).toContain(':parameter/team/billing/*');
    expect(allowing(statementsOfFunction(ssm.template, ssmWorkerId), 'secretsmanager:GetSecretValue')).toEqual([]);
    expect(() => parseStackConfig({ secretsSource: 'ssm', secretsPrefix: 'team/' })).toThrow(/secretsPrefix must start with \//);
  });

  it('lets the worker invoke exactly the functions lambda tasks may call, and says which in its env', () => {
    expect(allowing(statements('worker'), 'lambda:InvokeFunction')).toEqual([]);
    const { template: allowed, stack: allowedStack } = synthTemplate({ context: { lambdaAllowedFunctions: 'pricing,arn:aws:lambda:eu-west-1:123456789012:function:tax' } });
    const workerId = allowedStack.getLogicalId(allowedStack.engine.functions.worker.node.defaultChild as CfnElement);
    const invoke = allowing(statementsOfFunction(allowed, workerId), 'lambda:InvokeFunction');
    expect(invoke).toHaveLength(1);
    expect(JSON.stringify(invoke[0]?.Resource)).toContain(':function:pricing');
    expect(resourcesOf(invoke[0]!)).toContain('arn:aws:lambda:eu-west-1:123456789012:function:tax');
    expect(allowed.toJSON().Resources[workerId].Properties.Environment.Variables[ENV.lambdaAllowedFunctions]).toBe(
      'pricing,arn:aws:lambda:eu-west-1:123456789012:function:tax',
    );
  });
});

describe('trigger', () => {
  it('drops a schedule fire Lambda could not take within 15 minutes (catch-up is off)', () => {
    // Another function has one too (its own async settings); the trigger's is the one naming it.
    const config = only(Object.values(resourcesOfType('AWS::Lambda::EventInvokeConfig')).filter((c) => refersTo(c.Properties.FunctionName, id(stack.engine.functions.trigger))));
    expect(config.Properties).toMatchObject({ MaximumEventAgeInSeconds: 900, MaximumRetryAttempts: 2 });
  });
});

describe('api', () => {
  it('has exactly the routes of docs/architecture.md, all to the api Lambda', () => {
    const routes = Object.values(resourcesOfType('AWS::ApiGatewayV2::Route'));
    expect(routes.map((r) => r.Properties.RouteKey).sort()).toEqual(
      [
        'POST /workflows',
        'GET /workflows',
        'GET /workflows/{workflowId}',
        'GET /workflows/{workflowId}/versions/{version}',
        'GET /workflows/{workflowId}/versions/{version}/layout',
        'POST /runs',
        'GET /runs',
        'GET /runs/{runId}',
        'GET /runs/{runId}/history',
        'GET /runs/{runId}/input',
        'GET /runs/{runId}/tasks/{taskId}/output',
        'GET /runs/{runId}/tasks/{taskId}/items',
        'POST /runs/{runId}/cancel',
        'POST /runs/{runId}/retry',
        'POST /callbacks/{token}',
        'POST /callbacks/{token}/heartbeat',
        'GET /workflows/{workflowId}/stats',
        'POST /workflows/{workflowId}/schedules',
        'GET /workflows/{workflowId}/schedules',
        'DELETE /workflows/{workflowId}/schedules/{scheduleId}',
        'POST /workflows/{workflowId}/schedules/{scheduleId}/pause',
        'POST /workflows/{workflowId}/schedules/{scheduleId}/resume',
        'GET /',
      ].sort(),
    );
    expect(API_ROUTES).toHaveLength(routes.length);
    // Every route the api Lambda answers is one the gateway passes on (a route only the local
    // gateway reaches would work in every local test and 404 on AWS).
    expect(apiRoutes.map((route) => `${route.method} ${route.pattern}`).sort()).toEqual(routes.map((r) => r.Properties.RouteKey).sort());
    const integration = only(Object.values(resourcesOfType('AWS::ApiGatewayV2::Integration')));
    expect(integration.Properties).toMatchObject({ IntegrationType: 'AWS_PROXY', PayloadFormatVersion: '2.0' });
    expect(refersTo(integration.Properties.IntegrationUri, id(stack.engine.functions.api))).toBe(true);
  });

  it('authorises every route with IAM (SigV4) by default', () => {
    const routes = Object.values(resourcesOfType('AWS::ApiGatewayV2::Route'));
    for (const route of routes) expect(route.Properties.AuthorizationType, route.Properties.RouteKey).toBe('AWS_IAM');
  });

  it('authorises every route with a JWT authorizer when auth=jwt', () => {
    const jwt = synthTemplate({ context: { auth: 'jwt', jwtIssuer: 'https://issuer.example.com', jwtAudience: 'dagflow,cli' } }).template;
    jwt.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', {
      AuthorizerType: 'JWT',
      JwtConfiguration: { Issuer: 'https://issuer.example.com', Audience: ['dagflow', 'cli'] },
    });
    const routes = Object.values(jwt.findResources('AWS::ApiGatewayV2::Route'));
    expect(routes).toHaveLength(API_ROUTES.length);
    for (const route of routes) expect(route.Properties.AuthorizationType).toBe('JWT');
  });

  it('logs every request to a log group and throttles on the default stage', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AutoDeploy: true,
      AccessLogSettings: {
        DestinationArn: { 'Fn::GetAtt': [id(stack.engine.api.accessLogs), 'Arn'] },
        Format: Match.stringLikeRegexp('\\$context\\.requestId'),
      },
      DefaultRouteSettings: Match.objectLike({ ThrottlingRateLimit: 100, ThrottlingBurstLimit: 200 }),
    });
    const tuned = synthTemplate({ context: { apiRateLimit: '25', apiBurstLimit: '50' } }).template;
    tuned.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      DefaultRouteSettings: Match.objectLike({ ThrottlingRateLimit: 25, ThrottlingBurstLimit: 50 }),
    });
  });
});

describe('schedule', () => {
  it('runs the sweeper every minute and does not retry a failed sweep', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(1 minute)',
      State: 'ENABLED',
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [id(stack.engine.functions.sweeper), 'Arn'] } })],
    });
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: id(stack.engine.functions.sweeper) },
      MaximumRetryAttempts: 0,
    });
  });
});

describe('monitoring', () => {
  const alarmProps = (name: string) => template.toJSON().Resources[id(stack.engine.monitoring.alarms.get(name))].Properties;
  /** The metrics an alarm reads, whether CloudFormation holds them as one metric or as metric math. */
  const metricsOf = (props: any): Array<{ MetricName: string; Namespace: string; Dimensions?: unknown }> =>
    props.MetricName !== undefined
      ? [{ MetricName: props.MetricName, Namespace: props.Namespace, Dimensions: props.Dimensions }]
      : props.Metrics.flatMap((m: any) => (m.MetricStat ? [m.MetricStat.Metric] : []));
  const metricNames = (props: any): string[] => metricsOf(props).map((metric) => metric.MetricName);

  it('has a dashboard with the engine, queue, stream, Lambda and API metrics', () => {
    const dashboard = only(Object.values(resourcesOfType('AWS::CloudWatch::Dashboard')));
    const body = JSON.stringify(dashboard.Properties.DashboardBody);
    for (const metric of [
      'RunStarted', 'RunCompleted', 'RunFailed', 'TaskDuration', 'TaskSucceeded', 'TaskFailed', 'TaskRetried',
      'ApproximateNumberOfMessagesVisible', 'ApproximateAgeOfOldestMessage', 'IteratorAge', 'Errors', 'Throttles',
    ]) {
      expect(body, metric).toContain(metric);
    }
    for (const stat of ['p50', 'p95', 'p99']) expect(body).toContain(stat);
  });

  it('alarms on the DLQ, the stream, the queue age, failure and retry rates, overdue runs and each function\'s errors', () => {
    expect([...stack.engine.monitoring.alarms.keys()].sort()).toEqual(
      [
        'TaskDlqNotEmpty', 'StreamBatchesFailed', 'SchedulerIteratorAgeHigh', 'TaskQueueOldestMessageHigh',
        'RunFailureRateHigh', 'TaskRetryRateHigh', 'RunsOverdue',
        'ApiErrors', 'SchedulerErrors', 'WorkerErrors', 'SweeperErrors', 'DlqErrors', 'RegisterErrors', 'TriggerErrors',
      ].sort(),
    );
    template.resourceCountIs('AWS::CloudWatch::Alarm', stack.engine.monitoring.alarms.size);
    const dlqDimensions = [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [id(stack.engine.queues.taskDlq), 'QueueName'] } }];
    expect(metricsOf(alarmProps('TaskDlqNotEmpty'))).toEqual([
      { MetricName: 'ApproximateNumberOfMessagesVisible', Namespace: 'AWS/SQS', Dimensions: dlqDimensions },
      { MetricName: 'ApproximateNumberOfMessagesNotVisible', Namespace: 'AWS/SQS', Dimensions: dlqDimensions },
      { MetricName: 'Invocations', Namespace: 'AWS/Lambda', Dimensions: [{ Name: 'FunctionName', Value: { Ref: id(stack.engine.functions.dlq) } }] },
    ]);
    expect(alarmProps('TaskDlqNotEmpty')).toMatchObject({ Threshold: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold' });
    expect(metricsOf(alarmProps('SchedulerIteratorAgeHigh'))).toEqual([
      { MetricName: 'IteratorAge', Namespace: 'AWS/Lambda', Dimensions: [{ Name: 'FunctionName', Value: { Ref: id(stack.engine.functions.scheduler) } }] },
    ]);
    expect(metricNames(alarmProps('TaskQueueOldestMessageHigh'))).toEqual(['ApproximateAgeOfOldestMessage']);
    expect(metricNames(alarmProps('RunFailureRateHigh')).sort()).toEqual(['RunCompleted', 'RunFailed']);
    expect(metricNames(alarmProps('TaskRetryRateHigh')).sort()).toEqual(['TaskFailed', 'TaskRetried', 'TaskSucceeded']);
    expect(metricsOf(alarmProps('RunsOverdue'))).toEqual([
      { MetricName: 'OverdueRuns', Namespace: 'Dagflow', Dimensions: [{ Name: 'service', Value: stack.engine.serviceName }] },
    ]);
    expect(alarmProps('RunsOverdue')).toMatchObject({ Threshold: 0, ComparisonOperator: 'GreaterThanThreshold' });
    for (const name of ['Api', 'Scheduler', 'Worker', 'Sweeper', 'Dlq', 'Register']) {
      expect(metricNames(alarmProps(`${name}Errors`)), name).toEqual(['Errors']);
    }
  });

  it('notifies nobody by default, a new encrypted TLS-only topic for alarmEmail, or the given alarmTopic', () => {
    template.resourceCountIs('AWS::SNS::Topic', 0);
    const withEmail = synthTemplate({ context: { alarmEmail: 'ops@example.com' } }).template;
    withEmail.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
    withEmail.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
    withEmail.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com' });
    withEmail.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
    });
    for (const alarm of Object.values(withEmail.findResources('AWS::CloudWatch::Alarm'))) {
      expect(alarm.Properties.AlarmActions).toHaveLength(1);
    }
    const topicArn = 'arn:aws:sns:eu-west-1:123456789012:ops-alarms';
    const withTopic = synthTemplate({ context: { alarmTopic: topicArn } }).template;
    withTopic.resourceCountIs('AWS::SNS::Topic', 0);
    for (const alarm of Object.values(withTopic.findResources('AWS::CloudWatch::Alarm'))) {
      expect(alarm.Properties.AlarmActions).toEqual([topicArn]);
    }
  });
});

describe('outputs', () => {
  it('names the API URL, the table, the queues and the dashboard', () => {
    for (const output of ['ApiUrl', 'TableName', 'TaskQueueUrl', 'TaskDlqUrl', 'DashboardUrl']) {
      template.hasOutput(output, { Value: Match.anyValue() });
    }
  });
});

describe('context', () => {
  it('refuses a misspelt or incomplete choice with the key\'s name', () => {
    expect(() => parseStackConfig({ auth: 'jwtt' })).toThrow(/auth/);
    expect(() => parseStackConfig({ auth: 'jwt', jwtAudience: 'x' })).toThrow(/jwtIssuer/);
    expect(() => parseStackConfig({ removalPolicy: 'delete' })).toThrow(/removalPolicy/);
    expect(() => parseStackConfig({ workerMaxConcurrency: '1' })).toThrow(/workerMaxConcurrency/);
    expect(() => parseStackConfig({ alarmEmail: 'a@example.com', alarmTopic: 'arn:aws:sns:eu-west-1:1:t' })).toThrow(/alarmTopic/);
  });

  it('finds every function entry under lambdas/, and names a missing one', () => {
    expect(Object.keys(findFunctionEntries(PROJECT_ROOT)).sort()).toEqual(['api', 'dlq', 'register', 'scheduler', 'sweeper', 'trigger', 'worker']);
    expect(() => findFunctionEntries(path.join(PROJECT_ROOT, 'test'))).toThrow(/api function's entry lambdas\/api\/index\.ts/);
  });

  it('defaults to IAM auth, retained data and no allowed hosts', () => {
    expect(parseStackConfig({})).toMatchObject({ auth: 'iam', removalPolicy: 'retain', httpAllowedHosts: [], lambdaAllowedFunctions: [] });
  });
});
