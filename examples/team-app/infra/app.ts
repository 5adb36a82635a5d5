// The team's CDK app: one stack per stage, each with its own engine (no fixed names, so dev and
// prod live side by side in one account and region). The construct bundles src/app.ts's handlers
// into the worker, checks the workflows now, and registers them when the stack deploys.
//
//   npx cdk synth                    (npm run synth)
//   npx cdk deploy TeamApp-dev       (credentials and region from the AWS CLI's chain)
import { fileURLToPath } from 'node:url';
import { App, CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { DagflowEngine, type DagflowEngineConfig } from 'dagflow/cdk';
import { handlers, workflows } from '../src/app.js';

interface StageProps extends StackProps {
  readonly config: DagflowEngineConfig;
}

class TeamAppStack extends Stack {
  constructor(scope: Construct, id: string, props: StageProps) {
    super(scope, id, props);
    const engine = new DagflowEngine(this, 'Engine', {
      app: { handlers, workflows },
      appEntry: fileURLToPath(new URL('../src/app.ts', import.meta.url)),
      config: props.config,
    });
    new CfnOutput(this, 'ApiUrl', { value: engine.apiUrl, description: 'The engine API (SigV4): npx dagflow --stack <this stack> ...' });
    new CfnOutput(this, 'DashboardUrl', { value: engine.monitoring.dashboardUrl });
  }
}

const app = new App();
new TeamAppStack(app, 'TeamApp-dev', { config: { removalPolicy: 'destroy' } });
new TeamAppStack(app, 'TeamApp-prod', { config: { removalPolicy: 'retain', alarmEmail: 'billing-oncall@example.com' } });
app.synth();
