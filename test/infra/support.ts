// Helpers for the infra tests: build the app with cdk.json's context (what `cdk synth` uses), read
// a function's IAM statements out of the template, and collect cdk-nag's findings.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { findFunctionEntries, type FunctionEntries } from '../../infra/constructs/functions.js';
import { buildApp, PROJECT_ROOT } from '../../infra/build-app.js';
import type { WorkflowEngineStack } from '../../infra/stack.js';

export function cdkJsonContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> };
  return cdkJson.context;
}

export interface SynthOptions {
  context?: Record<string, unknown>;
  entries?: FunctionEntries;
  /** Run esbuild for real (slow-ish); the assertions on the template do not need it. */
  bundle?: boolean;
  /** cdk-nag's AwsSolutions plugin, and CDK's own CloudFormation schema validation (~15 s). */
  nag?: boolean;
}

export function buildTestApp(options: SynthOptions = {}): { app: App; stack: WorkflowEngineStack; outdir: string } {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'dagflow-cdk-'));
  const context = {
    ...cdkJsonContext(),
    // An empty list of stacks to bundle: assets get a placeholder instead of running esbuild.
    ...(options.bundle === true ? {} : { 'aws:cdk:bundling-stacks': [] }),
    ...options.context,
  };
  const nag = options.nag ?? false;
  const { app, stack } = buildApp({
    appProps: { context, outdir, builtinCloudFormationValidation: nag },
    entries: options.entries ?? findFunctionEntries(PROJECT_ROOT),
    nag,
  });
  return { app, stack, outdir };
}

export function synthTemplate(options: SynthOptions = {}): { template: Template; stack: WorkflowEngineStack } {
  const { stack } = buildTestApp(options);
  return { template: Template.fromStack(stack), stack };
}

export interface PolicyStatement {
  Effect: 'Allow' | 'Deny';
  Action: string | string[];
  Resource: unknown;
  Condition?: unknown;
}

export function actionsOf(statement: PolicyStatement): string[] {
  return Array.isArray(statement.Action) ? statement.Action : [statement.Action];
}

export function resourcesOf(statement: PolicyStatement): unknown[] {
  return Array.isArray(statement.Resource) ? statement.Resource : [statement.Resource];
}

/** True when an IAM action pattern (`dynamodb:*`, `*`, `sqs:Receive*`) covers `action`. */
export function actionMatches(pattern: string, action: string): boolean {
  const regex = new RegExp(`^${pattern.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`, 'i');
  return regex.test(action);
}

/** Every statement of the policies attached to the role of the function with this logical id. */
export function statementsOfFunction(template: Template, functionLogicalId: string): PolicyStatement[] {
  const resources = template.toJSON().Resources as Record<string, any>;
  const roleRef = resources[functionLogicalId]?.Properties?.Role;
  const roleId: string | undefined = roleRef?.['Fn::GetAtt']?.[0];
  if (roleId === undefined) throw new Error(`no role for ${functionLogicalId}`);
  const role = resources[roleId];
  const inline = (role.Properties.Policies ?? []).flatMap((policy: any) => policy.PolicyDocument.Statement);
  const attached = Object.values(resources)
    .filter((resource) => resource.Type === 'AWS::IAM::Policy' && resource.Properties.Roles.some((r: any) => r.Ref === roleId))
    .flatMap((policy) => policy.Properties.PolicyDocument.Statement);
  return [...inline, ...attached];
}

/** Statements that allow `action` (directly or through a wildcard). */
export function allowing(statements: PolicyStatement[], action: string): PolicyStatement[] {
  return statements.filter((s) => s.Effect === 'Allow' && actionsOf(s).some((pattern) => actionMatches(pattern, action)));
}

export function refersTo(value: unknown, logicalId: string): boolean {
  return JSON.stringify(value).includes(`"${logicalId}"`);
}

export interface NagFinding {
  plugin: string;
  rule: string;
  severity: string;
  paths: string[];
}

export interface NagReport {
  /** Findings nobody acknowledged: the ones that must be zero. */
  findings: NagFinding[];
  /** Acknowledged findings, each with its written reason. */
  acknowledged: Array<NagFinding & { reason: string }>;
  plugins: string[];
}

/**
 * Synthesizes an app that has validation plugins registered and reads CDK's validation report.
 * Under vitest (NODE_ENV=test) a failing validation makes synth throw; the report is written
 * before that, so both outcomes end up here as data.
 */
export function synthWithValidation(app: App, outdir: string): NagReport {
  try {
    app.synth();
  } catch (error) {
    if (!fs.existsSync(path.join(outdir, 'validation-report.json'))) throw error;
  }
  const report = JSON.parse(fs.readFileSync(path.join(outdir, 'validation-report.json'), 'utf8'));
  const toFinding = (plugin: string, v: any): NagFinding => ({
    plugin,
    rule: v.ruleName,
    severity: v.severity,
    paths: (v.violatingConstructs ?? v.violatingResources ?? []).map((c: any) => c.constructPath ?? c.resourceLogicalId),
  });
  return {
    plugins: report.pluginReports.map((r: any) => r.pluginName),
    findings: report.pluginReports.flatMap((r: any) => (r.violations ?? []).map((v: any) => toFinding(r.pluginName, v))),
    acknowledged: report.pluginReports.flatMap((r: any) =>
      (r.suppressedViolations ?? []).map((v: any) => ({ ...toFinding(r.pluginName, v), reason: v.reason })),
    ),
  };
}
