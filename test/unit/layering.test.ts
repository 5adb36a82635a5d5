// The layers of the code are a lint rule, not a comment: an import that breaks them fails
// `npm run lint`. Each case lints a one-line file placed in a layer, with the project's own config.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';
import tseslint from 'typescript-eslint';
import { beforeAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
let eslint: ESLint;

beforeAll(() => {
  // The type-checked rules need the file on disk; the layering rules do not.
  eslint = new ESLint({ cwd: ROOT, overrideConfig: [{ files: ['**/*.ts'], ...tseslint.configs.disableTypeChecked }] });
});

async function problems(file: string, source: string): Promise<string[]> {
  const [result] = await eslint.lintText(`${source}\nexport const probe = 1;\n`, { filePath: path.join(ROOT, file) });
  return (result?.messages ?? []).filter((message) => message.ruleId === 'no-restricted-imports').map((message) => message.message);
}

describe('the layering lint', () => {
  it.each([
    ['shared/model/probe.ts', "import { Worker } from '../engine/worker.js';", 'shared/model is the bottom layer'],
    ['shared/model/probe.ts', "import { Table } from '../aws/dynamo/table.js';", 'shared/model is the bottom layer'],
    ['shared/tasks/probe.ts', "import { Scheduler } from '../engine/scheduler.js';", 'shared/tasks'],
    ['shared/engine/probe.ts', "import { Table } from '../aws/dynamo/table.js';", 'only through its own ports'],
    ['shared/engine/probe.ts', "import { DynamoDBClient } from '@aws-sdk/client-dynamodb';", 'only through its own ports'],
    ['shared/aws/probe.ts', "import { wireEngine } from '../../lambdas/wiring.js';", 'may not import the deployables'],
    ['workflows/probe.ts', "import { Worker } from '../shared/engine/worker.js';", 'only the public entry point'],
    ['lambdas/api/probe.ts', "import { handlers } from '../../workflows/index.js';", 'builds only what its function uses'],
  ])('refuses, in %s: %s', async (file, source, why) => {
    const found = await problems(file, source);
    expect(found).toHaveLength(1);
    expect(found[0]).toContain(why);
  });

  it.each([
    ['shared/engine/probe.ts', "import { LIMITS } from '../model/limits.js';"],
    ['shared/aws/probe.ts', "import type { EngineStore } from '../engine/ports.js';"],
    ['workflows/probe.ts', "import { TaskFailure } from '../shared/index.js';"],
    ['lambdas/worker/index.ts', "import { handlers } from '../../workflows/index.js';"],
  ])('allows, in %s: %s', async (file, source) => {
    expect(await problems(file, source)).toEqual([]);
  });
});
