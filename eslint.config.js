// Lint rules the style guide asks for: no floating promises, type-only imports, strict TS; and the
// layering of the engine, enforced here rather than in comments: each folder may import only the
// layers below it, and nothing in shared/ may import in a cycle.
import { createNodeResolver, importX } from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

/** An import of any file in one of these folders (relative imports, at any depth). */
const folders = (...names) => names.map((name) => `**/${name}/**`);

/** no-restricted-imports for a layer: the folders (and packages) it must not import. */
function layer(files, forbidden, why, packages = []) {
  return {
    files,
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: forbidden, message: why },
            ...(packages.length === 0 ? [] : [{ group: packages, message: why }]),
          ],
        },
      ],
    },
  };
}

const OUTER = ['lambdas', 'local', 'workflows', 'infra', 'test', 'bench'];


export default tseslint.config(
  { ignores: ['node_modules/**', 'cdk.out/**', '.local-data/**', 'coverage/**', 'examples/*/node_modules/**', 'examples/*/cdk.out/**'] },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/only-throw-error': 'error',
      eqeqeq: ['error', 'always'],
    },
  },

  // ---- layers of shared/ (see docs/architecture.md) -------------------------------------------
  layer(
    ['shared/model/**/*.ts'],
    folders('engine', 'tasks', 'aws', 'config', ...OUTER),
    'shared/model is the bottom layer: definitions, checks, states and errors import nothing else of the engine',
  ),
  layer(
    ['shared/config/**/*.ts'],
    folders('model', 'engine', 'tasks', 'aws', ...OUTER),
    'shared/config holds settings shared with the CDK app and the env loaders: it imports nothing else of the engine',
  ),
  layer(
    ['shared/tasks/**/*.ts'],
    folders('engine', 'aws', 'config', ...OUTER),
    'shared/tasks (the task executors) may import shared/model only',
  ),
  layer(
    ['shared/engine/**/*.ts'],
    folders('aws', ...OUTER),
    'shared/engine talks to storage and queues only through its own ports: no AWS adapter, SDK or Lambda type here',
    ['@aws-sdk/*', '@aws-lambda-powertools/*', 'aws-lambda', '@middy/*'],
  ),
  layer(['shared/aws/**/*.ts'], folders(...OUTER), 'shared/aws (the adapters) may not import the deployables'),
  layer(
    ['shared/index.ts'],
    folders('engine', 'aws', 'config', ...OUTER),
    'the public entry point exports the model and the task contract only',
  ),
  layer(
    ['workflows/**/*.ts'],
    ['../shared/*', '../shared/**', '!../shared/index.js', ...folders('lambdas', 'local', 'infra')],
    "workflows are a team's own code: they use only the public entry point, shared/index.ts",
  ),
  layer(
    ['client/**/*.ts'],
    ['../shared/*', '../shared/**', '!../shared/index.js', ...folders('lambdas', 'local', 'infra', 'workflows', 'cli')],
    'the client is what other programs use: it speaks HTTP and uses only the public entry point',
  ),
  layer(
    ['cli/**/*.ts'],
    ['../shared/*', '../shared/**', '!../shared/index.js', ...folders('lambdas', 'local', 'infra', 'workflows')],
    'the CLI is built on the client and the public entry point only',
  ),
  layer(['lambdas/**/*.ts'], folders('local', 'test', 'bench', 'infra', 'workflows'), 'a Lambda entry builds only what its function uses'),
  // The worker's composition root is the one place that bundles the team's handlers.
  layer(['lambdas/worker/index.ts'], folders('local', 'test', 'bench', 'infra'), 'a Lambda entry builds only what its function uses'),
  {
    files: ['shared/**/*.ts'],
    plugins: { 'import-x': importX },
    settings: { 'import-x/resolver-next': [createNodeResolver({ extensionAlias: { '.js': ['.ts', '.js'] } })] },
    rules: { 'import-x/no-cycle': ['error', { ignoreExternal: true }] },
  },

  {
    // API responses in end-to-end tests are untyped JSON, and SDK middlewares that count requests
    // see untyped arguments; asserting on or counting them is the point.
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      // Fake task handlers are async to match the handler contract, whether or not they await.
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    // The example team app's handlers are stand-ins for calls to other systems: async to match
    // the handler contract, with nothing to await.
    files: ['examples/**/*.ts'],
    rules: { '@typescript-eslint/require-await': 'off' },
  },
  {
    // The package's commands: plain JavaScript that loads the TypeScript sources through tsx.
    files: ['eslint.config.js', 'bin/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
  },
);
