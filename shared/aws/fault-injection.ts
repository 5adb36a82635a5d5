// Fault injection for the AWS SDK v3 clients. DynamoDB Local and the local SQS server never
// throttle, never fail with a 500, never conflict with a concurrent transaction and never lose a
// response after applying a write; AWS does all of these. This middleware makes the local servers
// (or any endpoint) fail the way AWS does, so tests and the chaos suite can check that the engine
// copes: at a seeded, reproducible rate per operation, an attempt is throttled, conflicts, fails
// with an internal error, is delayed, or is executed and then reported as a timeout.
//
// Where it sits: in the finalizeRequest step, directly after the SDK's retryMiddleware, so it runs
// once per ATTEMPT, below the retry loop. The SDK's own retry strategy therefore sees an injected
// fault exactly as it would see AWS's: it retries throttling, 5xx and timeouts (with its backoff
// and retry quota) and gives up on TransactionCanceled or TransactionConflict. The errors are the
// SDK's own exception classes where the client has them, so `instanceof` checks keep working.
//
// The ambiguous fault is the one that matters most for correctness: the write IS applied, the
// caller sees a timeout, the SDK retries, and the retry meets the state the first try already
// changed (a conditional write then fails with ConditionalCheckFailed although it was applied;
// an SQS send enqueues the message twice). It strikes only attempts the service accepted: a
// rejected request changed nothing, so its own error is passed on.
//
// It is off unless configured (no profile: every attempt passes straight through), and can be
// reconfigured or switched off at runtime (the profile may come from DAGFLOW_FAULTS). Draws come
// from one seeded generator per profile: the same sequence of attempts meets the same faults
// (concurrent callers make the sequence, not the generator, vary). Every attempt and every fault
// is counted per operation, for the chaos report.
import {
  InternalServerError,
  ProvisionedThroughputExceededException,
  RequestLimitExceeded,
  ThrottlingException,
  TransactionCanceledException,
  TransactionConflictException,
  type CancellationReason,
} from '@aws-sdk/client-dynamodb';
import { RequestThrottled, SQSServiceException } from '@aws-sdk/client-sqs';
import * as z from 'zod';

/** The environment variable faultProfileFromEnv reads: a FaultProfile as JSON. */
export const FAULTS_ENV = 'DAGFLOW_FAULTS';

/** The middleware's name in a client's stack; attaching again replaces it. */
export const FAULT_MIDDLEWARE_NAME = 'dagflowFaultInjection';

/** In the order a draw is matched against them (see pickFault). */
export const FAULT_KINDS = ['throttle', 'transactionConflict', 'internalError', 'ambiguous'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** Rate (0..1) per operation name ('UpdateItem', 'SendMessageBatch', ...); '*' for the others. */
export type Rates = Record<string, number>;

export interface FaultProfile {
  /** Seeds the generator (default DEFAULT_SEED), so a run is reproducible. */
  seed?: number;
  rules?: Partial<Record<FaultKind, Rates>>;
  /** Added before every attempt of the operation: fixed ms, or [min, max] drawn uniformly. */
  latencyMs?: Record<string, number | [number, number]>;
}

/** Counted per operation: every attempt seen while enabled, each fault kind, and added latency. */
export type FaultStatKey = FaultKind | 'attempts' | 'latency';
export type FaultStats = Record<string, Partial<Record<FaultStatKey, number>>>;

export interface FaultInjector {
  /** Replaces the profile (validated; restarts the generator from its seed). undefined: off. */
  configure(profile: FaultProfile | undefined): void;
  disable(): void;
  readonly enabled: boolean;
  /** A copy of the counters, by operation then kind. */
  stats(): FaultStats;
  resetStats(): void;
  /** Adds the middleware to a client's stack (a DynamoDBDocumentClient shares its client's). */
  attach(client: InjectableClient): void;
}

export const DEFAULT_SEED = 0x5eed;

// ---- pure parts: generator, rule lookup, operation names, the draw ----

/** mulberry32: a small, fast 32-bit generator; uniform in [0, 1). */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The operation's own entry, else the '*' entry, else undefined. */
export function ruleFor<T>(entries: Record<string, T> | undefined, operation: string): T | undefined {
  if (entries === undefined) return undefined;
  if (Object.hasOwn(entries, operation)) return entries[operation];
  return Object.hasOwn(entries, '*') ? entries['*'] : undefined;
}

export type Service = 'dynamodb' | 'sqs' | 'other';

export function serviceOf(clientName: string | undefined): Service {
  if (clientName === 'DynamoDBClient') return 'dynamodb';
  if (clientName === 'SQSClient') return 'sqs';
  return 'other';
}

/** The document client's command names, should one reach the middleware under its own name. */
const DOCUMENT_CLIENT_OPERATIONS: Record<string, string> = {
  Get: 'GetItem',
  Put: 'PutItem',
  Update: 'UpdateItem',
  Delete: 'DeleteItem',
  BatchGet: 'BatchGetItem',
  BatchWrite: 'BatchWriteItem',
  TransactGet: 'TransactGetItems',
  TransactWrite: 'TransactWriteItems',
};

/** 'UpdateItemCommand' -> 'UpdateItem' (and the document client's 'UpdateCommand' too). */
export function operationName(commandName: string | undefined, service: Service): string {
  const name = (commandName ?? 'Unknown').replace(/Command$/, '');
  if (service === 'dynamodb' && Object.hasOwn(DOCUMENT_CLIENT_OPERATIONS, name)) return DOCUMENT_CLIENT_OPERATIONS[name] ?? name;
  return name;
}

const TRANSACTION_OPERATIONS = new Set(['TransactWriteItems', 'TransactGetItems']);
const CONFLICTING_WRITES = new Set(['PutItem', 'UpdateItem', 'DeleteItem']);

/** transactionConflict exists only where DynamoDB reports it; the other kinds apply anywhere. */
export function faultApplies(kind: FaultKind, service: Service, operation: string): boolean {
  if (kind !== 'transactionConflict') return true;
  return service === 'dynamodb' && (TRANSACTION_OPERATIONS.has(operation) || CONFLICTING_WRITES.has(operation));
}

/** Sum of the rates that apply to the operation: 0 means no draw is needed. */
export function totalRate(profile: FaultProfile, service: Service, operation: string): number {
  return FAULT_KINDS.reduce(
    (sum, kind) => sum + (faultApplies(kind, service, operation) ? (ruleFor(profile.rules?.[kind], operation) ?? 0) : 0),
    0,
  );
}

/**
 * One uniform draw in [0, 1) picks at most one fault: the kinds' rates are laid end to end in
 * FAULT_KINDS order, and the draw falls into one of them or past them all (no fault). A rate is
 * thus the exact probability of its fault while the applicable rates sum to at most 1.
 */
export function pickFault(profile: FaultProfile, service: Service, operation: string, draw: number): FaultKind | undefined {
  let threshold = 0;
  for (const kind of FAULT_KINDS) {
    if (!faultApplies(kind, service, operation)) continue;
    threshold += ruleFor(profile.rules?.[kind], operation) ?? 0;
    if (draw < threshold) return kind;
  }
  return undefined;
}

// ---- the profile: validation and the environment ----

const rate = z.number().min(0, 'a rate is at least 0').max(1, 'a rate is at most 1');
const rates = z.record(z.string().min(1), rate);
const milliseconds = z.number().nonnegative().max(600_000);
const latency = z.union([
  milliseconds,
  z.tuple([milliseconds, milliseconds]).refine(([min, max]) => min <= max, 'a latency range is [min, max] with min <= max'),
]);

const RulesSchema = z.strictObject(
  {
    throttle: rates.optional(),
    transactionConflict: rates.optional(),
    internalError: rates.optional(),
    ambiguous: rates.optional(),
  },
  {
    error: (issue) =>
      issue.code === 'unrecognized_keys' ? `unknown fault kind ${issue.keys.join(', ')} (known: ${FAULT_KINDS.join(', ')})` : undefined,
  },
);

const FaultProfileSchema: z.ZodType<FaultProfile> = z.strictObject({
  seed: z.number().int().optional(),
  rules: RulesSchema.optional(),
  latencyMs: z.record(z.string().min(1), latency).optional(),
});

/** Validates a profile; the error names `source` (a variable, a file) and every problem. */
export function parseFaultProfile(value: unknown, source = 'fault profile'): FaultProfile {
  const parsed = FaultProfileSchema.safeParse(value);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => `${issue.path.length > 0 ? `${issue.path.join('.')}: ` : ''}${issue.message}`);
  throw new Error(`${source}: invalid fault profile (${problems.join('; ')})`);
}

/** The profile in DAGFLOW_FAULTS, e.g. '{"seed":1,"rules":{"throttle":{"*":0.2}}}'; unset or blank: none. */
export function faultProfileFromEnv(env: NodeJS.ProcessEnv = process.env): FaultProfile | undefined {
  const raw = env[FAULTS_ENV];
  if (raw === undefined || raw.trim() === '') return undefined;
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (error) {
    throw new Error(`${FAULTS_ENV} is not valid JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
  return parseFaultProfile(json, FAULTS_ENV);
}

// ---- the faults: one function per kind ----

const INJECTED = '(injected fault)';
let requestIds = 0;

function metadata(httpStatusCode: number): { httpStatusCode: number; requestId: string } {
  requestIds += 1;
  return { httpStatusCode, requestId: `injected-fault-${requestIds}` };
}

/** A ServiceException-shaped error for clients whose exception classes we do not import. */
function genericServiceError(name: string, fault: 'client' | 'server', httpStatusCode: number, message: string): Error {
  return Object.assign(new Error(message), { name, $fault: fault, $metadata: metadata(httpStatusCode) });
}

/**
 * The SDK classifies an error as throttling by its name (ThrottlingException,
 * ProvisionedThroughputExceededException, RequestLimitExceeded, RequestThrottled are all on its
 * list), by a 429 status, or by `$retryable.throttling`; we set the marker as well, so the
 * classification does not hang on the name list alone.
 */
export function throttleError(service: Service, random: () => number): Error {
  const error: Error & { $retryable?: { throttling?: boolean } } =
    service === 'dynamodb'
      ? dynamoDbThrottle(random)
      : service === 'sqs'
        ? sqsThrottle(random)
        : genericServiceError('ThrottlingException', 'client', 400, `Rate exceeded ${INJECTED}`);
  error.$retryable = { throttling: true };
  return error;
}

/** DynamoDB's three throttling errors: table or index capacity, request rate, account limit. */
function dynamoDbThrottle(random: () => number): Error {
  const choice = Math.floor(random() * 3);
  if (choice === 0) {
    return new ProvisionedThroughputExceededException({
      message: `The level of configured provisioned throughput for the table was exceeded ${INJECTED}`,
      $metadata: metadata(400),
    });
  }
  if (choice === 1) {
    return new ThrottlingException({ message: `Rate of requests exceeds the allowed throughput ${INJECTED}`, $metadata: metadata(400) });
  }
  return new RequestLimitExceeded({ message: `Throughput exceeds the current throughput limit for your account ${INJECTED}`, $metadata: metadata(400) });
}

/**
 * RequestThrottled is SQS's modelled throttling error (HTTP 403); ThrottlingException is its
 * common API rate limit, unmodelled, which the SDK builds as a plain SQSServiceException.
 */
function sqsThrottle(random: () => number): Error {
  if (random() < 0.5) return new RequestThrottled({ message: `Request is throttled ${INJECTED}`, $metadata: metadata(403) });
  return new SQSServiceException({ name: 'ThrottlingException', $fault: 'client', message: `Rate exceeded ${INJECTED}`, $metadata: metadata(400) });
}

/**
 * A transaction (TransactWriteItems / TransactGetItems) is cancelled with one reason per item:
 * TransactionConflict on one of them, None on the rest. A single-item write that meets an
 * ongoing transaction fails with TransactionConflictException. Neither is retried by the SDK.
 */
export function transactionConflictError(operation: string, input: unknown, random: () => number): Error {
  if (!TRANSACTION_OPERATIONS.has(operation)) {
    return new TransactionConflictException({
      message: `Transaction is ongoing for the item ${INJECTED}`,
      $metadata: metadata(400),
    });
  }
  const items = (input as { TransactItems?: unknown[] } | undefined)?.TransactItems ?? [];
  const count = Math.max(1, items.length);
  const conflicting = Math.floor(random() * count);
  const reasons: CancellationReason[] = Array.from({ length: count }, (_, index) =>
    index === conflicting ? { Code: 'TransactionConflict', Message: 'Transaction is ongoing for the item' } : { Code: 'None' },
  );
  const message = `Transaction cancelled, please refer cancellation reasons for specific reasons [${reasons.map((r) => r.Code).join(', ')}] ${INJECTED}`;
  return new TransactionCanceledException({ message, Message: message, CancellationReasons: reasons, $metadata: metadata(400) });
}

/** A 500: transient for the SDK (it retries 500, 502, 503, 504). */
export function internalError(service: Service): Error {
  if (service === 'dynamodb') return new InternalServerError({ message: `Internal server error ${INJECTED}`, $metadata: metadata(500) });
  if (service === 'sqs') {
    return new SQSServiceException({ name: 'InternalFailure', $fault: 'server', message: `Internal failure ${INJECTED}`, $metadata: metadata(500) });
  }
  return genericServiceError('InternalFailure', 'server', 500, `Internal failure ${INJECTED}`);
}

/**
 * What @smithy/node-http-handler throws when a socket times out: an Error named TimeoutError, with
 * no $metadata. The SDK classifies that name as transient and retries it.
 */
export function timeoutError(): Error {
  return Object.assign(new Error(`the request socket timed out ${INJECTED}`), { name: 'TimeoutError' });
}

/** The latency to add before the attempt, in ms (0: none). */
export function latencyFor(profile: FaultProfile, operation: string, random: () => number): number {
  const rule = ruleFor(profile.latencyMs, operation);
  if (rule === undefined) return 0;
  if (typeof rule === 'number') return rule;
  const [min, max] = rule;
  return min + random() * (max - min);
}

// ---- the middleware ----

/**
 * What the middleware sees of one attempt (the command's input, the HTTP request) and what it
 * passes back up unchanged: the shapes of the SDK's finalizeRequest handlers, generic in the
 * client's input and output types so that any client's stack accepts the middleware.
 */
interface AttemptArgs<Input> {
  input: Input;
  request: unknown;
}
interface AttemptResult<Output> {
  output: Output;
  response: unknown;
}
type AttemptHandler<Input, Output> = (args: AttemptArgs<Input>) => Promise<AttemptResult<Output>>;
interface AttemptContext {
  clientName?: string;
  commandName?: string;
}
/**
 * Any SDK v3 client. Each client's stack takes middleware typed with that client's own input and
 * output unions; ours is generic in both, which TypeScript cannot infer through the stack's union
 * of step types, so the stack is typed loosely here and `attach` casts.
 */
export interface InjectableClient {
  middlewareStack: {
    addRelativeTo(middleware: never, options: { name: string; relation: 'before' | 'after'; toMiddleware: string; override?: boolean }): void;
  };
}

export function createFaultInjector(profile?: FaultProfile): FaultInjector {
  let active: FaultProfile | undefined;
  let random: () => number = mulberry32(DEFAULT_SEED);
  let counters: FaultStats = {};

  const count = (operation: string, key: FaultStatKey): void => {
    const entry = (counters[operation] ??= {});
    entry[key] = (entry[key] ?? 0) + 1;
  };

  /** The request is sent and applied; then the response is lost, as with a socket timeout. */
  async function ambiguous<Input, Output>(
    next: AttemptHandler<Input, Output>,
    args: AttemptArgs<Input>,
    operation: string,
  ): Promise<AttemptResult<Output>> {
    // A request the service rejected changed nothing, so nothing is ambiguous: its error stands.
    await next(args);
    count(operation, 'ambiguous');
    throw timeoutError();
  }

  /** Runs once per attempt, below the SDK's retry loop. */
  function middleware<Input, Output>(next: AttemptHandler<Input, Output>, context: AttemptContext): AttemptHandler<Input, Output> {
    return async (args) => {
      const current = active;
      if (current === undefined) return next(args);
      const service = serviceOf(context.clientName);
      const operation = operationName(context.commandName, service);
      count(operation, 'attempts');

      const delay = latencyFor(current, operation, random);
      if (delay > 0) {
        count(operation, 'latency');
        await new Promise((resolve) => setTimeout(resolve, delay));
      }

      if (totalRate(current, service, operation) === 0) return next(args);
      const kind = pickFault(current, service, operation, random());
      switch (kind) {
        case undefined:
          return next(args);
        case 'ambiguous':
          return ambiguous(next, args, operation);
        case 'throttle':
          count(operation, kind);
          throw throttleError(service, random);
        case 'transactionConflict':
          count(operation, kind);
          throw transactionConflictError(operation, args.input, random);
        case 'internalError':
          count(operation, kind);
          throw internalError(service);
      }
    };
  }

  const injector: FaultInjector = {
    configure(replacement) {
      active = replacement === undefined ? undefined : parseFaultProfile(replacement);
      random = mulberry32(active?.seed ?? DEFAULT_SEED);
    },
    disable() {
      injector.configure(undefined);
    },
    get enabled() {
      return active !== undefined;
    },
    stats() {
      return Object.fromEntries(Object.entries(counters).map(([operation, entry]) => [operation, { ...entry }]));
    },
    resetStats() {
      counters = {};
    },
    attach(client) {
      client.middlewareStack.addRelativeTo(middleware as never, {
        name: FAULT_MIDDLEWARE_NAME,
        relation: 'after',
        toMiddleware: 'retryMiddleware',
        override: true,
      });
    },
  };
  injector.configure(profile);
  return injector;
}
