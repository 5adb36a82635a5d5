// The workflow schedules' AWS resources: one schedule group per engine, a role for EventBridge
// Scheduler that may only invoke the trigger function, and an api that may manage schedules in
// that group only and pass that role only, to EventBridge Scheduler only.
import type { CfnElement } from 'aws-cdk-lib';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import { beforeAll, describe, expect, it } from 'vitest';
import type { WorkflowEngineStack } from '../../infra/stack.js';
import { ENV } from '../../shared/config/settings.js';
import { actionsOf, allowing, refersTo, resourcesOf, statementsOfFunction, synthTemplate } from './support.js';

let template: Template;
let stack: WorkflowEngineStack;
const id = (construct: IConstruct | undefined): string => {
  if (construct === undefined) throw new Error('construct not created');
  return stack.getLogicalId(construct.node.defaultChild as CfnElement);
};

beforeAll(() => {
  ({ template, stack } = synthTemplate());
});

describe('workflow schedules', () => {
  it('has one schedule group, named by CDK, not by hand', () => {
    template.resourceCountIs('AWS::Scheduler::ScheduleGroup', 1);
    const group = stack.engine.workflowSchedules?.group;
    expect(group?.scheduleGroupName).toMatch(/WorkflowSchedules/);
    // Schedules are created by the API at run time, never by the stack.
    template.resourceCountIs('AWS::Scheduler::Schedule', 0);
  });

  it("gives EventBridge Scheduler a role of this account's that may only invoke the trigger function", () => {
    const roleId = id(stack.engine.workflowSchedules?.role);
    const role = template.toJSON().Resources[roleId];
    expect(role.Properties.AssumeRolePolicyDocument.Statement).toEqual([
      {
        Action: 'sts:AssumeRole',
        Effect: 'Allow',
        Principal: { Service: 'scheduler.amazonaws.com' },
        Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } },
      },
    ]);
    const policies = Object.values(template.findResources('AWS::IAM::Policy')).filter((policy: any) => policy.Properties.Roles.some((r: any) => r.Ref === roleId));
    const statements = policies.flatMap((policy: any) => policy.Properties.PolicyDocument.Statement);
    expect(statements).toEqual([{ Action: 'lambda:InvokeFunction', Effect: 'Allow', Resource: { 'Fn::GetAtt': [id(stack.engine.functions.trigger), 'Arn'] } }]);
  });

  it("lets the api manage schedules in the engine's group only, and pass the scheduler role only, to EventBridge Scheduler only", () => {
    const api = statementsOfFunction(template, id(stack.engine.functions.api));
    const groupName = stack.engine.workflowSchedules?.group.scheduleGroupName ?? '';
    const managing = api.filter((s) => actionsOf(s).some((action) => action.startsWith('scheduler:')));
    expect(managing).toHaveLength(1);
    expect(actionsOf(managing[0]!).sort()).toEqual(['scheduler:CreateSchedule', 'scheduler:DeleteSchedule', 'scheduler:GetSchedule', 'scheduler:UpdateSchedule']);
    expect(resourcesOf(managing[0]!)).toHaveLength(1);
    expect(JSON.stringify(managing[0]?.Resource)).toContain(`:schedule/${groupName}/*`);

    const passing = allowing(api, 'iam:PassRole');
    expect(passing).toHaveLength(1);
    expect(passing[0]?.Resource).toEqual({ 'Fn::GetAtt': [id(stack.engine.workflowSchedules?.role), 'Arn'] });
    expect(passing[0]?.Condition).toEqual({ StringEquals: { 'iam:PassedToService': 'scheduler.amazonaws.com' } });

    for (const name of ['scheduler', 'worker', 'sweeper', 'dlq', 'register', 'trigger'] as const) {
      const statements = statementsOfFunction(template, id(stack.engine.functions[name]));
      expect(statements.filter((s) => actionsOf(s).some((action) => action.startsWith('scheduler:'))), name).toEqual([]);
      expect(allowing(statements, 'iam:PassRole'), name).toEqual([]);
    }
  });

  it('tells the api where schedules go, and gives the trigger the table and the task queue only', () => {
    const env = (fn: IConstruct | undefined) => template.toJSON().Resources[id(fn)].Properties.Environment.Variables;
    expect(env(stack.engine.functions.api)).toMatchObject({
      [ENV.scheduleGroup]: stack.engine.workflowSchedules?.group.scheduleGroupName,
      [ENV.schedulerRoleArn]: { 'Fn::GetAtt': [id(stack.engine.workflowSchedules?.role), 'Arn'] },
      [ENV.triggerFunctionArn]: { 'Fn::GetAtt': [id(stack.engine.functions.trigger), 'Arn'] },
    });
    expect(env(stack.engine.functions.trigger)).toMatchObject({ [ENV.tableName]: { Ref: id(stack.engine.state.table) }, [ENV.taskQueueUrl]: { Ref: id(stack.engine.queues.taskQueue) } });
    const trigger = statementsOfFunction(template, id(stack.engine.functions.trigger));
    expect(allowing(trigger, 'sqs:SendMessage').every((s) => refersTo(s.Resource, id(stack.engine.queues.taskQueue)))).toBe(true);
    expect(allowing(trigger, 'sqs:ReceiveMessage')).toEqual([]);
    expect(allowing(trigger, 'lambda:InvokeFunction')).toEqual([]);
  });

  it('alarms on the trigger function failing, like every function', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Dimensions: Match.arrayWith([Match.objectLike({ Name: 'FunctionName', Value: { Ref: id(stack.engine.functions.trigger) } })]),
    });
  });
});
