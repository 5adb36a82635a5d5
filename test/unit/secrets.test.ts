// The secret port of http task headers: the environment resolver and its variable names, the
// per-container cache, masking, and the worker's settings for choosing a source.
import { describe, expect, it } from 'vitest';
import { loadWorkerConfig } from '../../shared/config/env.js';
import { ENV } from '../../shared/config/settings.js';
import { TaskFailure } from '../../shared/tasks/context.js';
import { toTaskError } from '../../shared/tasks/errors.js';
import {
  CachingSecretResolver,
  EnvironmentSecretResolver,
  maskSecrets,
  SECRET_CACHE_TTL_MS,
  secretEnvName,
  type SecretResolver,
} from '../../shared/tasks/secrets.js';
import { failureOf } from './support/task-context.js';

describe('secretEnvName', () => {
  it('upper-cases the name and replaces every character other than a letter or digit with _', () => {
    expect(secretEnvName('payments/stripe-key')).toBe('DAGFLOW_SECRET_PAYMENTS_STRIPE_KEY');
    expect(secretEnvName('a.b+c=d@e_f')).toBe('DAGFLOW_SECRET_A_B_C_D_E_F');
    expect(secretEnvName('Key2')).toBe('DAGFLOW_SECRET_KEY2');
  });
});

describe('EnvironmentSecretResolver', () => {
  it('reads DAGFLOW_SECRET_<NAME> at each lookup', async () => {
    const env: NodeJS.ProcessEnv = { DAGFLOW_SECRET_PAYMENTS_STRIPE_KEY: 'sk_test_1' };
    const resolver = new EnvironmentSecretResolver(env);
    await expect(resolver.resolve('payments/stripe-key')).resolves.toBe('sk_test_1');
    env['DAGFLOW_SECRET_PAYMENTS_STRIPE_KEY'] = 'sk_test_2';
    await expect(resolver.resolve('payments/stripe-key')).resolves.toBe('sk_test_2');
  });

  it('fails a missing one for good, naming the secret and the variable to set', async () => {
    const failure = await failureOf(new EnvironmentSecretResolver({}).resolve('payments/stripe-key'));
    expect(failure).toBeInstanceOf(TaskFailure);
    expect(toTaskError(failure)).toEqual({
      name: 'SecretNotFound',
      message:
        'secret "payments/stripe-key" not found: environment variable DAGFLOW_SECRET_PAYMENTS_STRIPE_KEY is not set; ' +
        "set it in the worker's environment",
      retryable: false,
      details: { secret: 'payments/stripe-key', variable: 'DAGFLOW_SECRET_PAYMENTS_STRIPE_KEY' },
    });
  });
});

describe('CachingSecretResolver', () => {
  function counting(answer: (name: string, call: number) => Promise<string>) {
    const calls: string[] = [];
    const inner: SecretResolver = { resolve: (name) => answer(name, calls.push(name)) };
    return { inner, calls };
  }

  it('keeps a value for the TTL, then looks it up again', async () => {
    let now = 0;
    const { inner, calls } = counting((name, call) => Promise.resolve(`${name}-v${call}`));
    const resolver = new CachingSecretResolver(inner, { now: () => now });
    await expect(resolver.resolve('a')).resolves.toBe('a-v1');
    now = SECRET_CACHE_TTL_MS - 1;
    await expect(resolver.resolve('a')).resolves.toBe('a-v1');
    await expect(resolver.resolve('b')).resolves.toBe('b-v2');
    now = SECRET_CACHE_TTL_MS;
    await expect(resolver.resolve('a')).resolves.toBe('a-v3');
    expect(calls).toEqual(['a', 'b', 'a']);
    expect(SECRET_CACHE_TTL_MS).toBe(5 * 60_000);
  });

  it('shares one lookup between concurrent attempts', async () => {
    const { inner, calls } = counting((name) => new Promise((resolve) => setTimeout(() => resolve(`${name}!`), 5)));
    const resolver = new CachingSecretResolver(inner);
    await expect(Promise.all([resolver.resolve('a'), resolver.resolve('a'), resolver.resolve('a')])).resolves.toEqual(['a!', 'a!', 'a!']);
    expect(calls).toEqual(['a']);
  });

  it('keeps no failure, so a secret created after a miss is found by the next attempt', async () => {
    const { inner, calls } = counting((name, call) =>
      call === 1 ? Promise.reject(new TaskFailure('SecretNotFound', 'no', { retryable: false })) : Promise.resolve(`${name}-now`),
    );
    const resolver = new CachingSecretResolver(inner, { now: () => 0 });
    await expect(resolver.resolve('a')).rejects.toMatchObject({ errorName: 'SecretNotFound' });
    await expect(resolver.resolve('a')).resolves.toBe('a-now');
    await expect(resolver.resolve('a')).resolves.toBe('a-now');
    expect(calls).toHaveLength(2);
  });
});

describe('maskSecrets', () => {
  it('replaces each value in strings and keys, at any depth, longest first', () => {
    const echoed = { headers: { authorization: 'Bearer sk_live_abc', 'sk_live_abc': 1 }, list: ['x sk_live_abc y', 42, null, true] };
    expect(maskSecrets(echoed, ['sk_live', 'sk_live_abc'])).toEqual({
      headers: { authorization: 'Bearer ***', '***': 1 },
      list: ['x *** y', 42, null, true],
    });
    expect(maskSecrets('no secret here', ['sk_live_abc'])).toBe('no secret here');
  });

  it('leaves everything as it is for no values or only empty ones', () => {
    const value = { a: 'text' };
    expect(maskSecrets(value, [])).toBe(value);
    expect(maskSecrets(value, [''])).toBe(value);
  });
});

describe('loadWorkerConfig: secrets', () => {
  const base = { [ENV.tableName]: 'dagflow', [ENV.taskQueueUrl]: 'https://sqs.eu-west-1.amazonaws.com/1/tasks' };

  it('reads Secrets Manager with no prefix unless told otherwise', () => {
    expect(loadWorkerConfig(base)).toMatchObject({ secretsSource: 'secretsmanager', secretsPrefix: '' });
    expect(loadWorkerConfig({ ...base, [ENV.secretsSource]: '' })).toMatchObject({ secretsSource: 'secretsmanager' });
  });

  it('takes ssm, env and secretsmanager in any case, and a prefix', () => {
    expect(loadWorkerConfig({ ...base, DAGFLOW_SECRETS_SOURCE: 'ssm', DAGFLOW_SECRETS_PREFIX: '/dagflow/' })).toMatchObject({
      secretsSource: 'ssm',
      secretsPrefix: '/dagflow/',
    });
    expect(loadWorkerConfig({ ...base, DAGFLOW_SECRETS_SOURCE: 'env' }).secretsSource).toBe('env');
    expect(loadWorkerConfig({ ...base, DAGFLOW_SECRETS_SOURCE: 'SecretsManager' }).secretsSource).toBe('secretsmanager');
  });

  it('refuses an unknown source or a prefix no secret name could carry, naming the variable', () => {
    expect(() => loadWorkerConfig({ ...base, DAGFLOW_SECRETS_SOURCE: 'vault' })).toThrow(
      'invalid configuration: DAGFLOW_SECRETS_SOURCE must be one of secretsmanager, ssm, env',
    );
    expect(() => loadWorkerConfig({ ...base, DAGFLOW_SECRETS_PREFIX: 'arn:aws:secretsmanager:x' })).toThrow(
      'invalid configuration: DAGFLOW_SECRETS_PREFIX may use only letters, digits and / _ + = . @ -',
    );
  });
});
