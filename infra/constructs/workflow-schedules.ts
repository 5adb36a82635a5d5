// Workflow schedules on AWS (docs/architecture.md): the engine's own EventBridge Scheduler schedule
// group, in which the api function creates, updates and deletes one schedule per workflow schedule,
// and the role those schedules run as, which may only invoke the trigger function. The api may
// manage schedules in this group only, and pass this role only, to EventBridge Scheduler only; its
// env vars are set in the same place as its grants.
import { Stack, Validations, type RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import { Construct } from 'constructs';
import { ENV } from '../../shared/config/settings.js';

export interface EngineWorkflowSchedulesProps {
  /** The function that manages the schedules (the api). */
  readonly manager: lambda.Function;
  /** Every schedule's target. */
  readonly trigger: lambda.Function;
  readonly removalPolicy: RemovalPolicy;
}

export class EngineWorkflowSchedules extends Construct {
  public readonly group: scheduler.ScheduleGroup;
  /** The role EventBridge Scheduler assumes to invoke the trigger. */
  public readonly role: iam.Role;

  constructor(scope: Construct, id: string, props: EngineWorkflowSchedulesProps) {
    super(scope, id);
    const stack = Stack.of(this);
    // Deleting the group deletes its schedules: a destroyed stack leaves none firing at nothing.
    this.group = new scheduler.ScheduleGroup(this, 'Group', { removalPolicy: props.removalPolicy });
    this.role = new iam.Role(this, 'SchedulerRole', {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com').withConditions({
        // The confused deputy: only this account's schedules may assume it.
        StringEquals: { 'aws:SourceAccount': stack.account },
      }),
      description: 'Role of the dagflow workflow schedules: invokes the trigger function only',
    });
    this.role.addToPolicy(new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [props.trigger.functionArn] }));
    this.allowManager(props.manager, props.trigger);
  }

  private allowManager(manager: lambda.Function, trigger: lambda.Function): void {
    const groupName = this.group.scheduleGroupName;
    const schedules = Stack.of(this).formatArn({ service: 'scheduler', resource: 'schedule', resourceName: `${groupName}/*` });
    manager.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['scheduler:CreateSchedule', 'scheduler:UpdateSchedule', 'scheduler:DeleteSchedule', 'scheduler:GetSchedule'], resources: [schedules] }),
    );
    manager.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['iam:PassRole'], resources: [this.role.roleArn], conditions: { StringEquals: { 'iam:PassedToService': 'scheduler.amazonaws.com' } } }),
    );
    manager.addEnvironment(ENV.scheduleGroup, groupName);
    manager.addEnvironment(ENV.schedulerRoleArn, this.role.roleArn);
    manager.addEnvironment(ENV.triggerFunctionArn, trigger.functionArn);
    if (manager.role !== undefined) {
      Validations.of(manager.role).acknowledge({
        id: `AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:scheduler:<AWS::Region>:<AWS::AccountId>:schedule/${groupName}/*]`,
        reason:
          'The api creates one schedule per workflow schedule, named by an id it makes at run time; the grant is scoped to ' +
          "the engine's own schedule group.",
      });
    }
  }
}
