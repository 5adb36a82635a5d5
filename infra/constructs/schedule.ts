// The sweeper's clock (docs/architecture.md): an EventBridge rule that invokes it every minute.
// A sweep is idempotent and the next one is a minute away, so a failed or late sweep is dropped
// rather than retried: retries would only pile sweeps on top of each other.
import { Duration } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';

export const SWEEP_INTERVAL = Duration.minutes(1);

export interface EngineScheduleProps {
  readonly sweeper: lambda.Function;
}

export class EngineSchedule extends Construct {
  public readonly rule: events.Rule;

  constructor(scope: Construct, id: string, props: EngineScheduleProps) {
    super(scope, id);
    // A sweep that throws is not run again by Lambda's async retries: the next tick is the retry.
    props.sweeper.configureAsyncInvoke({ retryAttempts: 0, maxEventAge: SWEEP_INTERVAL });

    this.rule = new events.Rule(this, 'SweepRule', {
      description: 'Runs the dagflow sweeper every minute',
      schedule: events.Schedule.rate(SWEEP_INTERVAL),
      // EventBridge retries only failed deliveries (e.g. throttling), and only within the minute.
      targets: [new targets.LambdaFunction(props.sweeper, { retryAttempts: 2, maxEventAge: SWEEP_INTERVAL })],
    });
  }
}
