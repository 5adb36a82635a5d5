// Secrets of `http` task headers (docs/secrets.md). A definition holds `{{secret:NAME}}`, never a
// value; the worker asks a SecretResolver for the value just before the request. The resolver is a
// port: the environment here (the local runtime, and the default), Secrets Manager or SSM Parameter
// Store in shared/aws/secret-resolvers.ts. A resolved value is never stored, logged or returned:
// http-task.ts masks it in whatever the attempt keeps.
import { TaskFailure } from './context.js';

export interface SecretResolver {
  /**
   * The value of the secret `name` (already checked against SECRET_NAME_PATTERN). Rejects with a
   * TaskFailure: `SecretNotFound` and other refusals are not retryable, an outage is.
   */
  resolve(name: string): Promise<string>;
}

/** The prefix of the environment variables the environment resolver reads. */
export const SECRET_ENV_PREFIX = 'DAGFLOW_SECRET_';

/**
 * The environment variable that holds secret `name`: the prefix, then the name upper-cased with
 * every character other than a letter or digit replaced by `_` (`payments/stripe-key` ->
 * `DAGFLOW_SECRET_PAYMENTS_STRIPE_KEY`). Names differing only there share a variable.
 */
export function secretEnvName(name: string): string {
  return SECRET_ENV_PREFIX + name.toUpperCase().replace(/[^A-Z0-9]/g, '_');
}

/**
 * Secrets from environment variables: on a laptop, a secret is an exported variable, as for any
 * other tool. Read at each lookup, so a variable set after start-up is seen.
 */
export class EnvironmentSecretResolver implements SecretResolver {
  constructor(private readonly env: NodeJS.ProcessEnv = process.env) {}

  resolve(name: string): Promise<string> {
    const variable = secretEnvName(name);
    const value = this.env[variable];
    if (value === undefined) {
      return Promise.reject(
        secretNotFound(name, `environment variable ${variable} is not set; set it in the worker's environment`, { variable }),
      );
    }
    return Promise.resolve(value);
  }
}

/**
 * The failure of a secret that does not exist. Not retryable: the same lookup gives the same
 * answer until someone creates the secret, and then a resume runs the task again.
 */
export function secretNotFound(name: string, why: string, details: Record<string, unknown> = {}): TaskFailure {
  return new TaskFailure('SecretNotFound', `secret "${name}" not found: ${why}`, {
    retryable: false,
    details: { secret: name, ...details },
  });
}

/** How long a cached secret value is used before it is looked up again. */
export const SECRET_CACHE_TTL_MS = 5 * 60_000;

/**
 * Keeps each value for `ttlMs` per container, so a burst of tasks costs one lookup per secret and a
 * rotated secret is picked up within the TTL. Concurrent lookups of one name share a request.
 * Failures are not kept: a secret created after a SecretNotFound is found by the next attempt.
 */
export class CachingSecretResolver implements SecretResolver {
  private readonly entries = new Map<string, { value: Promise<string>; expiresAt: number }>();

  constructor(
    private readonly inner: SecretResolver,
    private readonly options: { ttlMs?: number; now?: () => number } = {},
  ) {}

  resolve(name: string): Promise<string> {
    const now = this.options.now?.() ?? Date.now();
    const cached = this.entries.get(name);
    if (cached !== undefined && cached.expiresAt > now) return cached.value;
    const value = this.inner.resolve(name);
    const entry = { value, expiresAt: now + (this.options.ttlMs ?? SECRET_CACHE_TTL_MS) };
    this.entries.set(name, entry);
    value.catch(() => {
      if (this.entries.get(name) === entry) this.entries.delete(name);
    });
    return value;
  }
}

/**
 * Replaces every occurrence of a resolved value in the strings (and keys) of `value` with `***`, as
 * CI systems mask their secrets in logs: what a server echoes back (an output, an error body) is
 * stored on the task, and a value it quotes must not be. Empty values are not masked.
 */
export function maskSecrets<T>(value: T, secrets: readonly string[]): T {
  const masked = secrets.filter((secret) => secret !== '').sort((a, b) => b.length - a.length);
  if (masked.length === 0) return value;
  return maskValue(value, masked) as T;
}

function maskValue(value: unknown, secrets: readonly string[]): unknown {
  if (typeof value === 'string') return maskText(value, secrets);
  if (Array.isArray(value)) return value.map((item) => maskValue(item, secrets));
  if (typeof value === 'object' && value !== null) {
    // fromEntries defines own properties, so a "__proto__" key stays data.
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [maskText(key, secrets), maskValue(item, secrets)]));
  }
  return value;
}

/** `text` with each secret replaced, longest first, so one secret inside another is masked whole. */
function maskText(text: string, secrets: readonly string[]): string {
  return secrets.reduce((current, secret) => current.replaceAll(secret, '***'), text);
}
