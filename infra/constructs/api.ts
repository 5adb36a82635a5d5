// The engine's HTTP front door (docs/architecture.md): an API Gateway HTTP API whose routes
// are exactly the documented contract, every one sent to the api Lambda (payload format 2.0, which
// lambdas/api/handler.ts parses) and authorised with IAM (SigV4) unless the deployer asks for JWT.
// The default stage writes JSON access logs and throttles.
//
// Why an HTTP API and not a REST API: the api Lambda consumes payload v2 events, and HTTP APIs are
// cheaper and faster. What a REST API would add and where it lives instead:
//  - request validators (JSON schema per method): the api Lambda parses every body, query and
//    path parameter with zod and answers 400 naming the field (docs/architecture.md);
//  - request size limits: HTTP APIs cap payloads at 10 MB and Lambda at 6 MB; the engine's own
//    limits (shared/limits.ts) answer 413 well below those;
//  - WAF: HTTP APIs cannot be associated with a web ACL; IAM auth and throttling are the guards.
import type { RemovalPolicy } from 'aws-cdk-lib';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer, HttpJwtAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { StackConfig } from '../stack-config.js';

/** The contract of docs/architecture.md, one entry per route. */
export const API_ROUTES: ReadonlyArray<{ method: apigwv2.HttpMethod; path: string }> = [
  { method: apigwv2.HttpMethod.POST, path: '/workflows' },
  { method: apigwv2.HttpMethod.GET, path: '/workflows' },
  { method: apigwv2.HttpMethod.GET, path: '/workflows/{workflowId}' },
  { method: apigwv2.HttpMethod.GET, path: '/workflows/{workflowId}/versions/{version}' },
  { method: apigwv2.HttpMethod.GET, path: '/workflows/{workflowId}/versions/{version}/layout' },
  { method: apigwv2.HttpMethod.GET, path: '/workflows/{workflowId}/stats' },
  { method: apigwv2.HttpMethod.POST, path: '/workflows/{workflowId}/schedules' },
  { method: apigwv2.HttpMethod.GET, path: '/workflows/{workflowId}/schedules' },
  { method: apigwv2.HttpMethod.DELETE, path: '/workflows/{workflowId}/schedules/{scheduleId}' },
  { method: apigwv2.HttpMethod.POST, path: '/workflows/{workflowId}/schedules/{scheduleId}/pause' },
  { method: apigwv2.HttpMethod.POST, path: '/workflows/{workflowId}/schedules/{scheduleId}/resume' },
  { method: apigwv2.HttpMethod.POST, path: '/runs' },
  { method: apigwv2.HttpMethod.GET, path: '/runs' },
  { method: apigwv2.HttpMethod.GET, path: '/runs/{runId}' },
  { method: apigwv2.HttpMethod.GET, path: '/runs/{runId}/history' },
  // A large input or output, linked from GET /runs/{runId} (a 303 to the stored object).
  { method: apigwv2.HttpMethod.GET, path: '/runs/{runId}/input' },
  { method: apigwv2.HttpMethod.GET, path: '/runs/{runId}/tasks/{taskId}/output' },
  { method: apigwv2.HttpMethod.GET, path: '/runs/{runId}/tasks/{taskId}/items' },
  { method: apigwv2.HttpMethod.POST, path: '/runs/{runId}/cancel' },
  { method: apigwv2.HttpMethod.POST, path: '/runs/{runId}/retry' },
  // A callback task's answer and heartbeat: the token names the attempt and is its credential too,
  // but the caller still signs the request like every other (the API has no anonymous route).
  { method: apigwv2.HttpMethod.POST, path: '/callbacks/{token}' },
  { method: apigwv2.HttpMethod.POST, path: '/callbacks/{token}/heartbeat' },
  // The dashboard page. Under IAM auth a browser needs a SigV4-signing proxy; with auth=jwt it
  // needs a bearer token. Neither is anonymous, on purpose: the page shows run inputs and outputs.
  { method: apigwv2.HttpMethod.GET, path: '/' },
];

/** One JSON line per request, with who called (IAM principal or JWT subject) and why it failed. */
const ACCESS_LOG_FORMAT = apigw.AccessLogFormat.custom(
  JSON.stringify({
    requestId: '$context.requestId',
    requestTime: '$context.requestTime',
    ip: '$context.identity.sourceIp',
    caller: '$context.identity.userArn',
    jwtSubject: '$context.authorizer.claims.sub',
    routeKey: '$context.routeKey',
    status: '$context.status',
    protocol: '$context.protocol',
    responseLength: '$context.responseLength',
    responseLatency: '$context.responseLatency',
    integrationLatency: '$context.integrationLatency',
    integrationError: '$context.integrationErrorMessage',
    authorizerError: '$context.authorizer.error',
    error: '$context.error.message',
  }),
);

export interface EngineApiProps {
  readonly handler: lambda.IFunction;
  readonly config: Pick<StackConfig, 'auth' | 'jwtIssuer' | 'jwtAudience' | 'apiRateLimit' | 'apiBurstLimit'>;
  /** Of the access log group. */
  readonly removalPolicy: RemovalPolicy;
}

export class EngineApi extends Construct {
  public readonly httpApi: apigwv2.HttpApi;
  public readonly stage: apigwv2.HttpStage;
  public readonly accessLogs: logs.LogGroup;
  /** The invoke URL of the default stage, ending in `/`. */
  public readonly url: string;

  constructor(scope: Construct, id: string, props: EngineApiProps) {
    super(scope, id);
    const { config } = props;

    this.httpApi = new apigwv2.HttpApi(this, 'HttpApi', {
      description: 'dagflow workflow engine API',
      defaultAuthorizer: authorizerFor(config),
      // Created below, with access logs and throttling, which the built-in default stage cannot take.
      createDefaultStage: false,
    });

    const integration = new HttpLambdaIntegration('ApiIntegration', props.handler, {
      payloadFormatVersion: apigwv2.PayloadFormatVersion.VERSION_2_0,
    });
    for (const route of API_ROUTES) {
      this.httpApi.addRoutes({ path: route.path, methods: [route.method], integration });
    }

    this.accessLogs = new logs.LogGroup(this, 'AccessLogs', {
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: props.removalPolicy,
    });
    this.stage = new apigwv2.HttpStage(this, 'DefaultStage', {
      httpApi: this.httpApi,
      stageName: '$default',
      autoDeploy: true,
      accessLogSettings: { destination: new apigwv2.LogGroupLogDestination(this.accessLogs), format: ACCESS_LOG_FORMAT },
      throttle: { rateLimit: config.apiRateLimit, burstLimit: config.apiBurstLimit },
    });
    this.url = this.stage.url;
  }
}

function authorizerFor(config: EngineApiProps['config']): apigwv2.IHttpRouteAuthorizer {
  if (config.auth === 'jwt') {
    if (config.jwtIssuer === undefined) throw new Error('auth=jwt needs jwtIssuer');
    return new HttpJwtAuthorizer('JwtAuthorizer', config.jwtIssuer, { jwtAudience: [...config.jwtAudience] });
  }
  return new HttpIamAuthorizer();
}
