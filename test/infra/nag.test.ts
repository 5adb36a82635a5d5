// cdk-nag's AwsSolutions pack on the app exactly as `cdk synth` builds it (cdk.json's context,
// real esbuild bundles): no finding may be left unacknowledged, and every acknowledgment carries
// a reason. A deliberately non-compliant stack proves the check can fail.
import { Stack, Validations } from 'aws-cdk-lib';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { buildTestApp, synthWithValidation } from './support.js';

describe('cdk-nag AwsSolutions', () => {
  it('finds nothing unacknowledged in the engine stack, and every acknowledgment says why', () => {
    const { app, outdir } = buildTestApp({ bundle: true, nag: true });
    const report = synthWithValidation(app, outdir);
    expect(report.plugins).toContain('AwsSolutions');
    expect(report.findings).toEqual([]);
    for (const ack of report.acknowledged) expect(ack.reason.length, ack.rule).toBeGreaterThan(40);
    const payloadObjects = /^AwsSolutions-IAM5\[Resource::<[\w]*PayloadsBucket[\w]*\.Arn>\/runs\/\*\]$/;
    expect(report.acknowledged.map((ack) => ack.rule).sort()).toEqual([
      'AwsSolutions-IAM5[Resource::*]',
      // The objects of the payload bucket under runs/, for each function that reads or writes
      // inputs and outputs: api, scheduler, worker, sweeper, dlq, trigger.
      ...Array.from({ length: 6 }, () => expect.stringMatching(payloadObjects)),
      // The api manages the schedules of the engine's own schedule group (named by CDK).
      expect.stringMatching(/^AwsSolutions-IAM5\[Resource::arn:<AWS::Partition>:scheduler:<AWS::Region>:<AWS::AccountId>:schedule\/[\w-]*WorkflowSchedules-Group[\w-]*\/\*\]$/),
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:dagflow/*]',
      // The payload bucket keeps no server access logs (payloads.ts says why).
      'AwsSolutions-S1',
      'AwsSolutions-SQS3',
    ]);
  });

  it('finds nothing unacknowledged with the optional parts on either (alarm topic, JWT auth, lambda tasks, concurrency)', () => {
    const { app, outdir } = buildTestApp({
      nag: true,
      context: {
        alarmEmail: 'ops@example.com',
        auth: 'jwt',
        jwtIssuer: 'https://issuer.example.com',
        jwtAudience: 'dagflow',
        lambdaAllowedFunctions: 'pricing',
        workerReservedConcurrency: 20,
        workerMaxConcurrency: 10,
        removalPolicy: 'destroy',
        secretsSource: 'ssm',
        secretsPrefix: '/team/billing/',
      },
    });
    expect(synthWithValidation(app, outdir).findings).toEqual([]);
  });

  it('reports a finding when a resource breaks a rule (the check above can fail)', () => {
    const { app, outdir } = buildTestApp({ nag: false });
    const bad = new Stack(app, 'NonCompliant');
    new sqs.Queue(bad, 'PlainQueue', { enforceSSL: false, encryption: sqs.QueueEncryption.SQS_MANAGED });
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    const report = synthWithValidation(app, outdir);
    const rules = report.findings.filter((f) => f.paths.some((p) => p.startsWith('NonCompliant/'))).map((f) => f.rule);
    expect(rules).toContain('AwsSolutions-SQS4');
  });
});
