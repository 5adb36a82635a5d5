// The DagflowEngine construct as a team uses it in its own CDK app: the team's handler module in
// the worker only, its workflows checked at synth and registered at deploy by a custom resource,
// and several engines (stages) side by side without a name or a metric in common.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { DagflowEngine, ENGINE_ROOT, findLockFile } from '../../infra/engine.js';
import { workflow, type DagflowApp } from '../../shared/index.js';
import { handlers, workflows } from '../../workflows/index.js';

const APP_ENTRY = path.join(ENGINE_ROOT, 'workflows', 'index.ts');

function newApp(options: { bundle?: boolean } = {}): App {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'dagflow-engine-'));
  return new App({ outdir, context: options.bundle === true ? {} : { 'aws:cdk:bundling-stacks': [] } });
}

function engineIn(stack: Stack, app: DagflowApp = { handlers, workflows }, config = {}): DagflowEngine {
  return new DagflowEngine(stack, 'Engine', { app, appEntry: APP_ENTRY, config, projectRoot: ENGINE_ROOT });
}

const resources = (template: Template, type: string): any[] => Object.values(template.findResources(type));

describe('DagflowEngine', () => {
  it('registers the workflows at deploy through a custom resource backed by the register function', () => {
    const stack = new Stack(newApp(), 'Team');
    const engine = engineIn(stack);
    const template = Template.fromStack(stack);
    const custom = resources(template, 'Custom::DagflowWorkflows');
    expect(custom).toHaveLength(1);
    const registered = JSON.parse(custom[0].Properties.Definitions);
    expect(registered.map((definition: { id: string }) => definition.id)).toEqual(workflows.map((builder) => builder.toJSON().id));
    expect(custom[0].Properties.ServiceToken).toEqual({ 'Fn::GetAtt': [stack.getLogicalId(engine.functions.register!.node.defaultChild as any), 'Arn'] });
  });

  it('fails the synth on a bad definition, naming the workflow and the field', () => {
    const stack = new Stack(newApp(), 'Team');
    const broken = workflow('broken').task('a', { handler: 'no_such_handler' });
    expect(() => engineIn(stack, { handlers, workflows: [broken] })).toThrow(/broken\.tasks\.a\.handler: unknown handler/);
  });

  it('needs no custom resource when the app has no workflows (they can be registered through the API)', () => {
    const stack = new Stack(newApp(), 'Team');
    engineIn(stack, { handlers, workflows: [] });
    expect(resources(Template.fromStack(stack), 'Custom::DagflowWorkflows')).toEqual([]);
  });

  it("writes a worker entry that hands the app's handlers to the engine's worker, under the project root", () => {
    const stack = new Stack(newApp(), 'Team');
    const engine = engineIn(stack);
    const metadata = (engine.functions.worker.node.defaultChild as any).cfnOptions.metadata ?? {};
    const entries = fs.readdirSync(path.join(ENGINE_ROOT, 'node_modules', '.cache', 'dagflow')).map((name) => path.join(ENGINE_ROOT, 'node_modules', '.cache', 'dagflow', name));
    const worker = entries.map((file) => fs.readFileSync(file, 'utf8')).filter((source) => source.includes(`import { handlers } from ${JSON.stringify(APP_ENTRY)}`));
    expect(worker.length, JSON.stringify(metadata)).toBeGreaterThan(0);
    expect(worker[0]).toContain('createWorker(handlers)');
  });

  it('keeps two stages apart: no fixed name, each its own service dimension and dashboard', () => {
    const app = newApp();
    const dev = engineIn(new Stack(app, 'Dev'));
    const prod = engineIn(new Stack(app, 'Prod'));
    expect(dev.serviceName).not.toBe(prod.serviceName);
    const names = (stack: Stack) => {
      const template = Template.fromStack(stack);
      return {
        dashboard: resources(template, 'AWS::CloudWatch::Dashboard')[0].Properties.DashboardName,
        tables: resources(template, 'AWS::DynamoDB::Table').map((table) => table.Properties.TableName),
        queues: resources(template, 'AWS::SQS::Queue').map((queue) => queue.Properties.QueueName),
        functions: resources(template, 'AWS::Lambda::Function').map((fn) => fn.Properties.FunctionName),
        alarmDimensions: JSON.stringify(resources(template, 'AWS::CloudWatch::Alarm')),
      };
    };
    const [devNames, prodNames] = [names(Stack.of(dev)), names(Stack.of(prod))];
    expect(devNames.dashboard).not.toBe(prodNames.dashboard);
    for (const fixed of [...devNames.tables, ...devNames.queues, ...devNames.functions]) expect(fixed).toBeUndefined();
    expect(devNames.alarmDimensions).toContain(dev.serviceName);
    expect(devNames.alarmDimensions).not.toContain(prod.serviceName);
  });

  it("records the worker bundle's hash as the API's HANDLER_BUILD, which changes with the handler code", () => {
    const build = (appEntry: string) => {
      const stack = new Stack(newApp({ bundle: true }), 'Team');
      const engine = new DagflowEngine(stack, 'Engine', { app: { handlers, workflows: [] }, appEntry, projectRoot: ENGINE_ROOT });
      const api = Template.fromStack(stack).toJSON().Resources[stack.getLogicalId(engine.functions.api.node.defaultChild as any)];
      return api.Properties.Environment.Variables.HANDLER_BUILD as string;
    };
    const first = build(APP_ENTRY);
    expect(first).toMatch(/^[0-9a-f]{12}$/);
    // Another module with the same handlers plus a line of code: another bundle, another build.
    const changed = path.join(fs.mkdtempSync(path.join(ENGINE_ROOT, 'test', 'infra', '.tmp-')), 'app.ts');
    try {
      fs.writeFileSync(changed, `export { handlers } from ${JSON.stringify(APP_ENTRY.replace(/\.ts$/, '.js'))};\nconsole.log('changed');\n`);
      expect(build(changed)).not.toBe(first);
    } finally {
      fs.rmSync(path.dirname(changed), { recursive: true, force: true });
    }
  });

  it('finds the lock file above the working directory, and says what to do when there is none', () => {
    expect(findLockFile(path.join(ENGINE_ROOT, 'examples', 'team-app', 'src'))).toBe(path.join(ENGINE_ROOT, 'package-lock.json'));
    expect(() => findLockFile(os.tmpdir())).toThrow(/no package-lock.json.*run npm install, or pass projectRoot/);
  });

  it('refuses a misspelt choice in its config with the key name, as cdk.json context is', () => {
    expect(() => engineIn(new Stack(newApp(), 'Team'), { handlers, workflows: [] }, { auth: 'jwtt' })).toThrow(/auth/);
  });
});
