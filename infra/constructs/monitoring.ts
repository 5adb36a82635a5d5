// What an operator watches (docs/architecture.md): one CloudWatch dashboard for the engine's own
// metrics (ENGINE_METRICS, emitted by the handlers through Powertools/EMF) next to the AWS ones
// (queues, stream iterator age, Lambda errors and throttles, API), and the alarms that say
// something needs a human: a dead-lettered message, a lagging scheduler, a stuck queue, failing
// runs, a retry storm, a function erroring, a run past its deadline. Alarms notify an SNS topic
// when the deployer gives one (or an e-mail address, for which an encrypted topic is created).
import { ArnFormat, Duration, type RemovalPolicy, Stack } from 'aws-cdk-lib';
import type * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import { ENGINE_METRICS, type EngineMetricName } from '../metrics.js';
import type { StackConfig } from '../stack-config.js';
import type { EngineFunctionName } from './functions.js';
import type { EngineQueues } from './queues.js';

/** Alarm thresholds; each one a judgement, explained where it is not obvious. */
export const ALARM_THRESHOLDS = {
  /** The scheduler should keep up with the stream within seconds; a minute behind for 3 minutes is lag. */
  iteratorAgeMs: 60_000,
  /**
   * Messages may legitimately wait out an SQS delay of up to 15 minutes (retries, `wait` tasks),
   * so only an oldest message twice that old means the workers are not draining the queue.
   */
  oldestMessageAgeSeconds: 1_800,
  /** Percent of runs finishing FAILED over 15 minutes. */
  runFailureRatePercent: 20,
  /** Retries per 100 finished tasks over 5 minutes, twice in a row. */
  retryRatePercent: 50,
} as const;

export interface EngineMonitoringProps {
  readonly functions: ReadonlyMap<EngineFunctionName, lambda.Function>;
  readonly scheduler: lambda.Function;
  readonly queues: EngineQueues;
  readonly httpApi: apigwv2.HttpApi;
  readonly config: Pick<StackConfig, 'alarmEmail' | 'alarmTopic'>;
  /** The `service` dimension this engine's functions emit with (POWERTOOLS_SERVICE_NAME). */
  readonly serviceName: string;
  /** The dashboard's name: unique in the account and region. */
  readonly dashboardName: string;
  /** Of the alarm topic's key, when one is created. */
  readonly removalPolicy: RemovalPolicy;
}

export class EngineMonitoring extends Construct {
  public readonly dashboard: cloudwatch.Dashboard;
  /** Every alarm, by a stable name (tests and the dashboard's alarm widget read it). */
  public readonly alarms: ReadonlyMap<string, cloudwatch.Alarm>;
  /** Where alarms notify, if the deployer asked for notifications. */
  public readonly alarmTopic: sns.ITopic | undefined;
  /** Console link to the dashboard. */
  public readonly dashboardUrl: string;

  constructor(scope: Construct, id: string, props: EngineMonitoringProps) {
    super(scope, id);
    const { queues, scheduler, functions, httpApi, serviceName: service } = props;
    const stack = Stack.of(this);

    this.alarmTopic = this.createAlarmTopic(props);
    const alarms = new Map<string, cloudwatch.Alarm>();
    const alarm = (name: string, alarmProps: Omit<cloudwatch.AlarmProps, 'treatMissingData'>) => {
      const created = new cloudwatch.Alarm(this, name, { ...alarmProps, treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING });
      if (this.alarmTopic !== undefined) created.addAlarmAction(new actions.SnsAction(this.alarmTopic));
      alarms.set(name, created);
      return created;
    };

    // Queues and stream.
    // The dlq handler drains the DLQ within seconds (each message becomes a FAILED task), so the
    // queue is rarely seen non-empty by a once-a-minute metric: its invocations count too. Messages
    // it cannot place stay in the DLQ, mostly in flight between its retries, hence visible + in flight.
    const dlqPeriod = Duration.minutes(1);
    const deadLetterActivity: Record<string, cloudwatch.IMetric> = {
      visible: queues.taskDlq.metricApproximateNumberOfMessagesVisible({ period: dlqPeriod, statistic: 'Maximum' }),
      inFlight: queues.taskDlq.metricApproximateNumberOfMessagesNotVisible({ period: dlqPeriod, statistic: 'Maximum' }),
    };
    const dlqHandler = functions.get('dlq');
    if (dlqHandler !== undefined) deadLetterActivity['handled'] = dlqHandler.metricInvocations({ period: dlqPeriod, statistic: 'Sum' });
    alarm('TaskDlqNotEmpty', {
      alarmDescription:
        'Task messages reached the DLQ: a task could not be delivered or crashed the worker maxReceiveCount times ' +
        '(messages in the DLQ, plus invocations of the dlq handler that turns them into FAILED tasks).',
      metric: new cloudwatch.MathExpression({
        expression: Object.keys(deadLetterActivity).map((name) => `FILL(${name}, 0)`).join(' + '),
        usingMetrics: deadLetterActivity,
        period: dlqPeriod,
        label: 'Dead-letter activity',
      }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
    });
    const streamFailures = queues.streamFailureQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: 'Maximum' });
    alarm('StreamBatchesFailed', {
      alarmDescription: 'The scheduler gave up on stream records (see the stream-failure queue): some tasks may never be scheduled.',
      metric: streamFailures,
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
    });
    const iteratorAge = scheduler.metric('IteratorAge', { period: Duration.minutes(1), statistic: 'Maximum' });
    alarm('SchedulerIteratorAgeHigh', {
      alarmDescription: 'The scheduler is behind the table stream: tasks become ready late.',
      metric: iteratorAge,
      threshold: ALARM_THRESHOLDS.iteratorAgeMs,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 3,
    });
    const oldestMessage = queues.taskQueue.metricApproximateAgeOfOldestMessage({ period: Duration.minutes(1), statistic: 'Maximum' });
    alarm('TaskQueueOldestMessageHigh', {
      alarmDescription: 'Task messages wait too long in the queue: workers are throttled, failing or too few.',
      metric: oldestMessage,
      threshold: ALARM_THRESHOLDS.oldestMessageAgeSeconds,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 3,
    });

    // The engine's own metrics.
    const m = ENGINE_METRICS.names;
    alarm('RunFailureRateHigh', {
      alarmDescription: `More than ${ALARM_THRESHOLDS.runFailureRatePercent}% of the runs that finished in 15 minutes FAILED.`,
      metric: new cloudwatch.MathExpression({
        expression: '100 * FILL(failed, 0) / (FILL(completed, 0) + FILL(failed, 0))',
        usingMetrics: { failed: engineMetric(service, m.runFailed, 'Sum', 15), completed: engineMetric(service, m.runCompleted, 'Sum', 15) },
        period: Duration.minutes(15),
        label: 'Run failure rate (%)',
      }),
      threshold: ALARM_THRESHOLDS.runFailureRatePercent,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
    });
    alarm('TaskRetryRateHigh', {
      alarmDescription: `More than ${ALARM_THRESHOLDS.retryRatePercent} retries per 100 finished tasks, twice in a row: a dependency is failing.`,
      metric: new cloudwatch.MathExpression({
        expression: '100 * FILL(retried, 0) / (FILL(succeeded, 0) + FILL(failed, 0))',
        usingMetrics: {
          retried: engineMetric(service, m.taskRetried, 'Sum', 5),
          succeeded: engineMetric(service, m.taskSucceeded, 'Sum', 5),
          failed: engineMetric(service, m.taskFailed, 'Sum', 5),
        },
        period: Duration.minutes(5),
        label: 'Retries per 100 finished tasks',
      }),
      threshold: ALARM_THRESHOLDS.retryRatePercent,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 2,
    });
    alarm('RunsOverdue', {
      alarmDescription: 'Runs are past their deadline (reported by the sweeper).',
      metric: engineMetric(service, m.overdueRuns, 'Maximum', 5),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
    });

    // Function errors: task failures are not Lambda errors (the worker reports them as data), so
    // any Errors datapoint is an infrastructure problem or a bug.
    for (const [name, fn] of functions) {
      alarm(`${capitalize(name)}Errors`, {
        alarmDescription: `The ${name} function failed invocations.`,
        metric: fn.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
      });
    }
    this.alarms = alarms;

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: props.dashboardName,
      defaultInterval: Duration.hours(3),
    });
    const fnList = [...functions.entries()];
    const graph = (title: string, left: cloudwatch.IMetric[], width = 8, right?: cloudwatch.IMetric[]) =>
      new cloudwatch.GraphWidget({ title, left, ...(right ? { right } : {}), width, height: 6 });
    this.dashboard.addWidgets(
      graph('Runs', [engineMetric(service, m.runStarted, 'Sum'), engineMetric(service, m.runCompleted, 'Sum'), engineMetric(service, m.runFailed, 'Sum')]),
      graph('Tasks', [engineMetric(service, m.taskSucceeded, 'Sum'), engineMetric(service, m.taskFailed, 'Sum'), engineMetric(service, m.taskRetried, 'Sum')]),
      graph('Task duration (ms)', percentiles(service, m.taskDuration)),
    );
    this.dashboard.addWidgets(
      graph('Run duration (ms)', percentiles(service, m.runDuration)),
      graph('Scheduling latency, ready -> started (ms)', percentiles(service, m.schedulingLatency)),
      graph('Overdue runs', [engineMetric(service, m.overdueRuns, 'Maximum')]),
    );
    this.dashboard.addWidgets(
      graph(
        'Task queue',
        [
          queues.taskQueue.metricApproximateNumberOfMessagesVisible({ label: 'Visible', statistic: 'Maximum' }),
          queues.taskQueue.metricApproximateNumberOfMessagesNotVisible({ label: 'In flight', statistic: 'Maximum' }),
        ],
        8,
        [queues.taskQueue.metricApproximateAgeOfOldestMessage({ label: 'Age of oldest (s)', statistic: 'Maximum' })],
      ),
      graph('Dead letters', [
        queues.taskDlq.metricApproximateNumberOfMessagesVisible({ label: 'Task DLQ', statistic: 'Maximum' }),
        queues.streamFailureQueue.metricApproximateNumberOfMessagesVisible({ label: 'Stream failures', statistic: 'Maximum' }),
      ]),
      graph('Scheduler stream iterator age (ms)', [scheduler.metric('IteratorAge', { statistic: 'Maximum', label: 'IteratorAge' })]),
    );
    this.dashboard.addWidgets(
      graph('Lambda errors', fnList.map(([name, fn]) => fn.metricErrors({ label: name, statistic: 'Sum' }))),
      graph('Lambda throttles', fnList.map(([name, fn]) => fn.metricThrottles({ label: name, statistic: 'Sum' }))),
      graph('Lambda duration p95 (ms)', fnList.map(([name, fn]) => fn.metricDuration({ label: name, statistic: 'p95' }))),
    );
    this.dashboard.addWidgets(
      graph('API requests and errors', [
        httpApi.metricCount({ label: 'Requests', statistic: 'Sum' }),
        httpApi.metricClientError({ label: '4xx', statistic: 'Sum' }),
        httpApi.metricServerError({ label: '5xx', statistic: 'Sum' }),
      ]),
      graph('API latency (ms)', [httpApi.metricLatency({ label: 'p50', statistic: 'p50' }), httpApi.metricLatency({ label: 'p95', statistic: 'p95' })]),
      new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: [...alarms.values()], width: 8, height: 6 }),
    );

    this.dashboardUrl = `https://console.aws.amazon.com/cloudwatch/home?region=${stack.region}#dashboards:name=${this.dashboard.dashboardName}`;
  }

  private createAlarmTopic(props: EngineMonitoringProps): sns.ITopic | undefined {
    const { alarmEmail, alarmTopic } = props.config;
    if (alarmTopic !== undefined) return sns.Topic.fromTopicArn(this, 'AlarmTopic', alarmTopic);
    if (alarmEmail === undefined) return undefined;

    // CloudWatch cannot publish to a topic encrypted with the AWS managed key (aws/sns): it needs
    // a customer managed key whose policy lets cloudwatch.amazonaws.com use it.
    const key = new kms.Key(this, 'AlarmTopicKey', {
      description: 'Encrypts the dagflow alarm topic',
      enableKeyRotation: true,
      removalPolicy: props.removalPolicy,
    });
    const stack = Stack.of(this);
    const fromThisAccountsAlarms = {
      StringEquals: { 'aws:SourceAccount': stack.account },
      ArnLike: { 'aws:SourceArn': stack.formatArn({ service: 'cloudwatch', resource: 'alarm', resourceName: '*', arnFormat: ArnFormat.COLON_RESOURCE_NAME }) },
    };
    key.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: fromThisAccountsAlarms,
      }),
    );
    const topic = new sns.Topic(this, 'AlarmTopic', { displayName: 'dagflow alarms', masterKey: key, enforceSSL: true });
    topic.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [topic.topicArn],
        conditions: fromThisAccountsAlarms,
      }),
    );
    topic.addSubscription(new subscriptions.EmailSubscription(alarmEmail));
    return topic;
  }
}

/** An engine metric with the Powertools `service` dimension: this engine's, not another stage's. */
function engineMetric(service: string, metricName: EngineMetricName, statistic: string, periodMinutes = 5): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: ENGINE_METRICS.namespace,
    metricName,
    dimensionsMap: { service },
    statistic,
    period: Duration.minutes(periodMinutes),
    label: metricName,
  });
}

function percentiles(service: string, metricName: EngineMetricName): cloudwatch.Metric[] {
  return ['p50', 'p95', 'p99'].map((statistic) => engineMetric(service, metricName, statistic).with({ label: statistic }));
}

function capitalize(name: string): string {
  return name.charAt(0).toUpperCase() + name.slice(1);
}
