// Secrets of http task headers on AWS, with the SDK clients mocked: Secrets Manager and SSM
// Parameter Store, found, missing, refused, throttled, failing, and cached per container.
import {
  DecryptionFailure,
  GetSecretValueCommand,
  InternalServiceError,
  ResourceNotFoundException,
  SecretsManagerClient,
  SecretsManagerServiceException,
} from '@aws-sdk/client-secrets-manager';
import { GetParameterCommand, InternalServerError, ParameterNotFound, SSMClient, SSMServiceException } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { createSecretResolver, secretsManagerResolver, ssmParameterResolver } from '../../shared/aws/secret-resolvers.js';
import { toTaskError } from '../../shared/tasks/errors.js';
import { EnvironmentSecretResolver } from '../../shared/tasks/secrets.js';
import { failureOf } from './support/task-context.js';

const secretsManager = mockClient(SecretsManagerClient);
const ssm = mockClient(SSMClient);
const region = { region: 'eu-west-1', credentials: { accessKeyId: 'a', secretAccessKey: 's' } };

beforeEach(() => {
  secretsManager.reset();
  ssm.reset();
});

const metadata = (httpStatusCode: number) => ({ httpStatusCode, requestId: 'r-1', attempts: 1, totalRetryDelay: 0 });

/** The stored TaskError of a lookup that fails. */
const lookupFailure = async (promise: Promise<unknown>) => toTaskError(await failureOf(promise));

describe('secretsManagerResolver', () => {
  const client = () => new SecretsManagerClient(region);

  it('reads the SecretString of prefix + name, as it is', async () => {
    secretsManager.on(GetSecretValueCommand).resolves({ SecretString: '  sk_live_1\n' });
    const resolver = secretsManagerResolver(client(), { prefix: 'prod/' });
    await expect(resolver.resolve('payments/stripe-key')).resolves.toBe('  sk_live_1\n');
    expect(secretsManager.commandCalls(GetSecretValueCommand)[0]?.args[0].input).toEqual({ SecretId: 'prod/payments/stripe-key' });
  });

  it('fails a missing secret for good, naming it and its SecretId', async () => {
    secretsManager
      .on(GetSecretValueCommand)
      .rejects(new ResourceNotFoundException({ message: "Secrets Manager can't find the specified secret.", $metadata: metadata(400) }));
    const error = await lookupFailure(secretsManagerResolver(client(), { prefix: 'prod/' }).resolve('payments/stripe-key'));
    expect(error).toEqual({
      name: 'SecretNotFound',
      message: 'secret "payments/stripe-key" not found: AWS Secrets Manager has no secret "prod/payments/stripe-key"',
      retryable: false,
      details: { secret: 'payments/stripe-key', secretId: 'prod/payments/stripe-key', awsError: 'ResourceNotFoundException' },
    });
  });

  it('fails a refused lookup for good, saying what to grant', async () => {
    const denied = new SecretsManagerServiceException({
      name: 'AccessDeniedException',
      $fault: 'client',
      message: 'User: arn:aws:sts::1:assumed-role/worker is not authorized to perform: secretsmanager:GetSecretValue',
      $metadata: metadata(400),
    });
    secretsManager.on(GetSecretValueCommand).rejects(denied);
    const error = await lookupFailure(secretsManagerResolver(client()).resolve('k'));
    expect(error).toMatchObject({ name: 'SecretAccessDenied', retryable: false, details: { secret: 'k', secretId: 'k' } });
    expect(error.message).toContain('the worker may not read AWS Secrets Manager secret "k" (AccessDeniedException');
    expect(error.message).toContain('grant its role secretsmanager:GetSecretValue');

    secretsManager.on(GetSecretValueCommand).rejects(new DecryptionFailure({ message: 'kms refused', $metadata: metadata(400) }));
    expect(await lookupFailure(secretsManagerResolver(client()).resolve('k'))).toMatchObject({ name: 'SecretAccessDenied', retryable: false });
  });

  it('makes throttling, a server fault and a network error retryable', async () => {
    const throttled = new SecretsManagerServiceException({
      name: 'ThrottlingException',
      $fault: 'client',
      message: 'Rate exceeded',
      $metadata: metadata(400),
    });
    const outages = [
      throttled,
      new InternalServiceError({ message: 'internal', $metadata: metadata(500) }),
      Object.assign(new Error('socket hang up'), { name: 'TimeoutError' }),
    ];
    for (const outage of outages) {
      secretsManager.on(GetSecretValueCommand).rejects(outage);
      const error = await lookupFailure(secretsManagerResolver(client()).resolve('k'));
      expect(error, outage.name).toMatchObject({ name: 'SecretUnavailable', retryable: true });
      expect(error.message, outage.name).toContain(`AWS Secrets Manager did not answer secret "k" (${outage.name}`);
    }
  });

  it('fails for good a secret that holds only binary data, or a lookup AWS refuses', async () => {
    secretsManager.on(GetSecretValueCommand).resolves({ SecretBinary: new Uint8Array([1, 2]) });
    expect(await lookupFailure(secretsManagerResolver(client()).resolve('k'))).toMatchObject({ name: 'SecretLookupFailed', retryable: false });
    secretsManager.on(GetSecretValueCommand).rejects(
      new SecretsManagerServiceException({
        name: 'InvalidRequestException',
        $fault: 'client',
        message: 'secret is marked for deletion',
        $metadata: metadata(400),
      }),
    );
    expect(await lookupFailure(secretsManagerResolver(client()).resolve('k'))).toMatchObject({ name: 'SecretLookupFailed', retryable: false });
  });

  it('caches each value for 5 minutes, and no failure', async () => {
    let now = 1_000;
    secretsManager
      .on(GetSecretValueCommand)
      .rejectsOnce(new InternalServiceError({ message: 'internal', $metadata: metadata(500) }))
      .resolvesOnce({ SecretString: 'v1' })
      .resolves({ SecretString: 'v2' });
    const resolver = secretsManagerResolver(client(), { now: () => now });
    await expect(resolver.resolve('k')).rejects.toMatchObject({ errorName: 'SecretUnavailable' });
    await expect(resolver.resolve('k')).resolves.toBe('v1');
    now += 5 * 60_000 - 1;
    await expect(resolver.resolve('k')).resolves.toBe('v1');
    expect(secretsManager.commandCalls(GetSecretValueCommand)).toHaveLength(2);
    now += 1;
    await expect(resolver.resolve('k')).resolves.toBe('v2');
    expect(secretsManager.commandCalls(GetSecretValueCommand)).toHaveLength(3);
  });
});

describe('ssmParameterResolver', () => {
  const client = () => new SSMClient(region);

  it('reads prefix + name, decrypted', async () => {
    ssm.on(GetParameterCommand).resolves({ Parameter: { Name: '/dagflow/payments/stripe-key', Type: 'SecureString', Value: 'sk_2' } });
    await expect(ssmParameterResolver(client(), { prefix: '/dagflow/' }).resolve('payments/stripe-key')).resolves.toBe('sk_2');
    expect(ssm.commandCalls(GetParameterCommand)[0]?.args[0].input).toEqual({ Name: '/dagflow/payments/stripe-key', WithDecryption: true });
  });

  it('fails a missing parameter and a refused one for good, a throttled or failing lookup not', async () => {
    ssm.on(GetParameterCommand).rejects(new ParameterNotFound({ message: '', $metadata: metadata(400) }));
    expect(await lookupFailure(ssmParameterResolver(client(), { prefix: '/d/' }).resolve('k'))).toEqual({
      name: 'SecretNotFound',
      message: 'secret "k" not found: SSM Parameter Store has no parameter "/d/k"',
      retryable: false,
      details: { secret: 'k', parameter: '/d/k', awsError: 'ParameterNotFound' },
    });

    ssm.on(GetParameterCommand).rejects(
      new SSMServiceException({ name: 'AccessDeniedException', $fault: 'client', message: 'not authorized', $metadata: metadata(400) }),
    );
    const denied = await lookupFailure(ssmParameterResolver(client()).resolve('k'));
    expect(denied).toMatchObject({ name: 'SecretAccessDenied', retryable: false });
    expect(denied.message).toContain('grant its role ssm:GetParameter');

    ssm.on(GetParameterCommand).rejects(
      new SSMServiceException({ name: 'ThrottlingException', $fault: 'client', message: 'Rate exceeded', $metadata: metadata(400) }),
    );
    expect(await lookupFailure(ssmParameterResolver(client()).resolve('k'))).toMatchObject({ name: 'SecretUnavailable', retryable: true });

    ssm.on(GetParameterCommand).rejects(new InternalServerError({ message: 'oops', $metadata: metadata(500) }));
    expect(await lookupFailure(ssmParameterResolver(client()).resolve('k'))).toMatchObject({ name: 'SecretUnavailable', retryable: true });
  });

  it('caches each value for 5 minutes', async () => {
    let now = 0;
    ssm.on(GetParameterCommand).resolves({ Parameter: { Value: 'v' } });
    const resolver = ssmParameterResolver(client(), { now: () => now });
    await resolver.resolve('k');
    await resolver.resolve('k');
    expect(ssm.commandCalls(GetParameterCommand)).toHaveLength(1);
    now = 5 * 60_000;
    await resolver.resolve('k');
    expect(ssm.commandCalls(GetParameterCommand)).toHaveLength(2);
  });
});

describe('createSecretResolver', () => {
  it('builds the configured source, creating only the client it needs', async () => {
    const made: string[] = [];
    const clients = {
      secretsManager: () => (made.push('secretsmanager'), new SecretsManagerClient(region)),
      ssm: () => (made.push('ssm'), new SSMClient(region)),
    };
    secretsManager.on(GetSecretValueCommand).resolves({ SecretString: 'from-sm' });
    ssm.on(GetParameterCommand).resolves({ Parameter: { Value: 'from-ssm' } });
    await expect(createSecretResolver('secretsmanager', clients, { prefix: 'p/' }).resolve('k')).resolves.toBe('from-sm');
    await expect(createSecretResolver('ssm', clients, { prefix: '/p/' }).resolve('k')).resolves.toBe('from-ssm');
    expect(createSecretResolver('env', clients)).toBeInstanceOf(EnvironmentSecretResolver);
    expect(made).toEqual(['secretsmanager', 'ssm']);
    expect(secretsManager.commandCalls(GetSecretValueCommand)[0]?.args[0].input).toEqual({ SecretId: 'p/k' });
    expect(ssm.commandCalls(GetParameterCommand)[0]?.args[0].input).toMatchObject({ Name: '/p/k' });
  });
});
