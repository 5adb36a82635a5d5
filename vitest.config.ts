import { defineConfig } from 'vitest/config';

// Four projects: fast unit tests with no network, integration tests against DynamoDB Local
// (started once per run by the global setup), the dashboard in a browser against the local
// engine, and the CDK stack's tests (no network either).
// The SDK's notice that its 2027 releases need Node 22 is noise in every test worker.
const env = { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          env,
          include: ['test/unit/**/*.test.ts'],
        },
      },
      {
        test: {
          name: 'integration',
          env,
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/integration/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        // The dashboard in a real browser (Chromium from the system, see test/browser/).
        test: {
          name: 'browser',
          env,
          include: ['test/browser/**/*.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
      {
        // CDK assertions on the synthesized stack, and cdk-nag's AwsSolutions checks (bundles the
        // Lambdas with esbuild once, hence the longer timeouts).
        test: {
          name: 'infra',
          env,
          include: ['test/infra/**/*.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
