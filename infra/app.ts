// CDK entry point (cdk.json: `npx tsx infra/app.ts`). Environment-agnostic on purpose: no lookups,
// so `cdk synth` works offline; the account and region come from the deployer's credentials.
import { buildApp } from './build-app.js';

buildApp().app.synth();
