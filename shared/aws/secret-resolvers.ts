// Secrets of `http` task headers on AWS (docs/secrets.md): Secrets Manager (SecretId = prefix +
// name, the SecretString as it is) or SSM Parameter Store (Name = prefix + name, decrypted). Each
// value is cached per container for 5 minutes. AWS errors become task failures by what a retry can
// change: a missing secret or a refused permission stays so (not retryable), throttling and
// outages pass (retryable, once the SDK's own retries are spent).
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { GetParameterCommand, type SSMClient } from '@aws-sdk/client-ssm';
import type { SecretsSource } from '../config/settings.js';
import { TaskFailure } from '../tasks/context.js';
import { truncateUtf8 } from '../tasks/errors.js';
import { CachingSecretResolver, EnvironmentSecretResolver, secretNotFound, type SecretResolver } from '../tasks/secrets.js';

export interface AwsSecretResolverOptions {
  /** Put before every name: `prod/` makes `payments/key` the secret `prod/payments/key`. */
  prefix?: string;
  /** How long a value is kept (default 5 minutes). */
  ttlMs?: number;
  now?: () => number;
}

/** One AWS store: how to name it in messages, what to grant, and its error names. */
interface SecretStore {
  service: string;
  /** What to call the looked-up id in messages (`secret`, `parameter`). */
  thing: string;
  /** The key of the looked-up id in a failure's details. */
  idField: string;
  /** The IAM grant a refused lookup needs, for the message. */
  grant: string;
  notFound: ReadonlySet<string>;
  denied: ReadonlySet<string>;
}

const SECRETS_MANAGER: SecretStore = {
  service: 'AWS Secrets Manager',
  thing: 'secret',
  idField: 'secretId',
  grant: 'secretsmanager:GetSecretValue on it (and kms:Decrypt on its KMS key if that is customer managed)',
  notFound: new Set(['ResourceNotFoundException']),
  // DecryptionFailure: the secret exists but its KMS key refused the worker.
  denied: new Set(['AccessDeniedException', 'DecryptionFailure']),
};

const PARAMETER_STORE: SecretStore = {
  service: 'SSM Parameter Store',
  thing: 'parameter',
  idField: 'parameter',
  grant: 'ssm:GetParameter on it (and kms:Decrypt on its KMS key if that is customer managed)',
  notFound: new Set(['ParameterNotFound']),
  denied: new Set(['AccessDeniedException']),
};

export function secretsManagerResolver(
  client: Pick<SecretsManagerClient, 'send'>,
  options: AwsSecretResolverOptions = {},
): SecretResolver {
  return cached(options, async (name) => {
    const id = `${options.prefix ?? ''}${name}`;
    const result = await lookup(SECRETS_MANAGER, name, id, () => client.send(new GetSecretValueCommand({ SecretId: id })));
    if (result.SecretString === undefined) {
      throw new TaskFailure('SecretLookupFailed', `secret "${name}": AWS Secrets Manager secret "${id}" holds binary data; a header needs a SecretString`, {
        retryable: false,
        details: { secret: name, secretId: id },
      });
    }
    return result.SecretString;
  });
}

export function ssmParameterResolver(client: Pick<SSMClient, 'send'>, options: AwsSecretResolverOptions = {}): SecretResolver {
  return cached(options, async (name) => {
    const id = `${options.prefix ?? ''}${name}`;
    const result = await lookup(PARAMETER_STORE, name, id, () =>
      client.send(new GetParameterCommand({ Name: id, WithDecryption: true })),
    );
    const value = result.Parameter?.Value;
    if (value === undefined) {
      throw new TaskFailure('SecretLookupFailed', `secret "${name}": SSM parameter "${id}" came back without a value`, {
        retryable: false,
        details: { secret: name, parameter: id },
      });
    }
    return value;
  });
}

/** The worker's resolver for its configured source. */
export function createSecretResolver(
  source: SecretsSource,
  clients: { secretsManager: () => Pick<SecretsManagerClient, 'send'>; ssm: () => Pick<SSMClient, 'send'> },
  options: AwsSecretResolverOptions = {},
): SecretResolver {
  switch (source) {
    case 'secretsmanager':
      return secretsManagerResolver(clients.secretsManager(), options);
    case 'ssm':
      return ssmParameterResolver(clients.ssm(), options);
    case 'env':
      return new EnvironmentSecretResolver();
  }
}

function cached(options: AwsSecretResolverOptions, resolve: (name: string) => Promise<string>): SecretResolver {
  return new CachingSecretResolver(
    { resolve },
    { ...(options.ttlMs === undefined ? {} : { ttlMs: options.ttlMs }), ...(options.now === undefined ? {} : { now: options.now }) },
  );
}

/** The AWS call, its errors turned into task failures that name the secret, never a value. */
async function lookup<T>(store: SecretStore, name: string, id: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw lookupFailure(store, name, id, error);
  }
}

interface AwsErrorShape {
  name?: unknown;
  message?: unknown;
  $fault?: unknown;
  $retryable?: unknown;
  $metadata?: { httpStatusCode?: unknown };
}

function lookupFailure(store: SecretStore, name: string, id: string, error: unknown): TaskFailure {
  const shape: AwsErrorShape = typeof error === 'object' && error !== null ? error : {};
  const errorName = typeof shape.name === 'string' ? shape.name : 'Error';
  const reason = truncateUtf8(`${errorName}: ${typeof shape.message === 'string' ? shape.message : String(error)}`, 512);
  const details = { secret: name, [store.idField]: id, awsError: errorName };
  if (store.notFound.has(errorName)) {
    return secretNotFound(name, `${store.service} has no ${store.thing} "${id}"`, details);
  }
  if (store.denied.has(errorName)) {
    return new TaskFailure(
      'SecretAccessDenied',
      `secret "${name}": the worker may not read ${store.service} ${store.thing} "${id}" (${reason}); grant its role ${store.grant}`,
      { retryable: false, details },
    );
  }
  const retryable = isTransient(shape);
  return new TaskFailure(
    retryable ? 'SecretUnavailable' : 'SecretLookupFailed',
    `secret "${name}": ${store.service} ${retryable ? 'did not answer' : 'refused the lookup of'} ${store.thing} "${id}" (${reason})`,
    { retryable, details },
  );
}

/** Throttling, a server fault or no answer at all (a network error has no `$metadata`): worth a retry. */
function isTransient(error: AwsErrorShape): boolean {
  if (error.$retryable !== undefined || error.$fault === 'server') return true;
  if (typeof error.name === 'string' && /throttl|toomanyrequests|ratelimit/i.test(error.name)) return true;
  const status = error.$metadata?.httpStatusCode;
  if (typeof status === 'number') return status === 429 || status >= 500;
  return error.$fault === undefined;
}
