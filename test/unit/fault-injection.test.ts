// The pure parts of the fault injector: the seeded generator, rule lookup with the '*' fallback,
// operation names, the draw that picks a fault, the injected errors' shapes, and profile parsing.
import {
  InternalServerError,
  TransactionCanceledException,
  TransactionConflictException,
} from '@aws-sdk/client-dynamodb';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  FAULTS_ENV,
  createFaultInjector,
  faultProfileFromEnv,
  internalError,
  latencyFor,
  mulberry32,
  operationName,
  parseFaultProfile,
  pickFault,
  ruleFor,
  serviceOf,
  throttleError,
  timeoutError,
  transactionConflictError,
  type FaultProfile,
} from '../../shared/aws/fault-injection.js';

const take = (random: () => number, n: number) => Array.from({ length: n }, () => random());

describe('mulberry32', () => {
  it('is deterministic per seed, and different seeds give different sequences', () => {
    expect(take(mulberry32(7), 20)).toEqual(take(mulberry32(7), 20));
    expect(take(mulberry32(7), 20)).not.toEqual(take(mulberry32(8), 20));
  });

  it('draws in [0, 1) for any seed', () => {
    fc.assert(
      fc.property(fc.integer(), (seed) => take(mulberry32(seed), 50).every((value) => value >= 0 && value < 1)),
    );
  });

  it('is roughly uniform', () => {
    const values = take(mulberry32(1), 20_000);
    const mean = values.reduce((sum, value) => sum + value, 0) / values.length;
    expect(mean).toBeGreaterThan(0.48);
    expect(mean).toBeLessThan(0.52);
    expect(values.filter((value) => value < 0.25).length / values.length).toBeCloseTo(0.25, 1);
  });
});

describe('ruleFor', () => {
  const rates = { GetItem: 0, PutItem: 0.3, '*': 0.1 };

  it("takes the operation's own entry, even 0, over '*'", () => {
    expect(ruleFor(rates, 'PutItem')).toBe(0.3);
    expect(ruleFor(rates, 'GetItem')).toBe(0);
  });

  it("falls back to '*', then to nothing", () => {
    expect(ruleFor(rates, 'Query')).toBe(0.1);
    expect(ruleFor({ PutItem: 1 }, 'Query')).toBeUndefined();
    expect(ruleFor(undefined, 'Query')).toBeUndefined();
  });

  it('does not read inherited properties as rules', () => {
    expect(ruleFor({ PutItem: 1 }, 'toString')).toBeUndefined();
  });
});

describe('operationName', () => {
  it('drops the Command suffix', () => {
    expect(operationName('UpdateItemCommand', 'dynamodb')).toBe('UpdateItem');
    expect(operationName('SendMessageBatchCommand', 'sqs')).toBe('SendMessageBatch');
    expect(operationName(undefined, 'other')).toBe('Unknown');
  });

  it("maps the document client's command names to DynamoDB's operations", () => {
    expect(operationName('UpdateCommand', 'dynamodb')).toBe('UpdateItem');
    expect(operationName('TransactWriteCommand', 'dynamodb')).toBe('TransactWriteItems');
    expect(operationName('QueryCommand', 'dynamodb')).toBe('Query');
  });

  it('knows the clients by name', () => {
    expect(serviceOf('DynamoDBClient')).toBe('dynamodb');
    expect(serviceOf('SQSClient')).toBe('sqs');
    expect(serviceOf('DynamoDBStreamsClient')).toBe('other');
  });
});

describe('pickFault', () => {
  const profile: FaultProfile = {
    rules: { throttle: { '*': 0.2 }, transactionConflict: { '*': 0.3 }, internalError: { GetItem: 0.1 }, ambiguous: { '*': 0.1 } },
  };

  it('lays the applicable rates end to end in kind order', () => {
    expect(pickFault(profile, 'dynamodb', 'PutItem', 0.1)).toBe('throttle');
    expect(pickFault(profile, 'dynamodb', 'PutItem', 0.2)).toBe('transactionConflict');
    expect(pickFault(profile, 'dynamodb', 'PutItem', 0.55)).toBe('ambiguous');
    expect(pickFault(profile, 'dynamodb', 'PutItem', 0.6)).toBeUndefined();
  });

  it('skips transactionConflict where DynamoDB never reports it', () => {
    // GetItem: throttle [0, 0.2), internalError [0.2, 0.3), ambiguous [0.3, 0.4).
    expect(pickFault(profile, 'dynamodb', 'GetItem', 0.25)).toBe('internalError');
    expect(pickFault(profile, 'dynamodb', 'GetItem', 0.35)).toBe('ambiguous');
    expect(pickFault(profile, 'sqs', 'SendMessageBatch', 0.25)).toBe('ambiguous');
  });

  it('never strikes at rate 0 and always at rate 1', () => {
    fc.assert(
      fc.property(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (draw) => {
        expect(pickFault({ rules: { throttle: { '*': 0 } } }, 'dynamodb', 'GetItem', draw)).toBeUndefined();
        expect(pickFault({ rules: { throttle: { '*': 1 } } }, 'dynamodb', 'GetItem', draw)).toBe('throttle');
      }),
    );
  });
});

describe('latencyFor', () => {
  it('is fixed, drawn from a range, or none', () => {
    const profile: FaultProfile = { latencyMs: { GetItem: 30, '*': [10, 20] } };
    const random = mulberry32(3);
    expect(latencyFor(profile, 'GetItem', random)).toBe(30);
    for (let i = 0; i < 100; i += 1) {
      const ms = latencyFor(profile, 'PutItem', random);
      expect(ms).toBeGreaterThanOrEqual(10);
      expect(ms).toBeLessThanOrEqual(20);
    }
    expect(latencyFor({}, 'GetItem', random)).toBe(0);
  });
});

describe('injected errors', () => {
  it('throttling errors carry the throttling marker and a 4xx status', () => {
    const random = mulberry32(9);
    const names = new Set<string>();
    for (let i = 0; i < 30; i += 1) {
      const error = throttleError('dynamodb', random) as Error & { $retryable?: unknown; $metadata?: { httpStatusCode?: number } };
      names.add(error.name);
      expect(error.$retryable).toEqual({ throttling: true });
      expect(error.$metadata?.httpStatusCode).toBe(400);
    }
    expect([...names].sort()).toEqual(['ProvisionedThroughputExceededException', 'RequestLimitExceeded', 'ThrottlingException']);
    expect(['RequestThrottled', 'ThrottlingException']).toContain(throttleError('sqs', random).name);
    expect(throttleError('other', random)).toMatchObject({ name: 'ThrottlingException', $retryable: { throttling: true } });
  });

  it('a cancelled transaction has one reason per item, one of them TransactionConflict', () => {
    const error = transactionConflictError('TransactWriteItems', { TransactItems: [{}, {}, {}, {}] }, mulberry32(2));
    expect(error).toBeInstanceOf(TransactionCanceledException);
    const codes = (error as TransactionCanceledException).CancellationReasons?.map((reason) => reason.Code) ?? [];
    expect(codes).toHaveLength(4);
    expect(codes.filter((code) => code === 'TransactionConflict')).toHaveLength(1);
    expect(codes.filter((code) => code === 'None')).toHaveLength(3);
    expect(transactionConflictError('UpdateItem', {}, mulberry32(2))).toBeInstanceOf(TransactionConflictException);
  });

  it('internal errors are 500s and timeouts are named TimeoutError', () => {
    expect(internalError('dynamodb')).toBeInstanceOf(InternalServerError);
    expect(internalError('sqs')).toMatchObject({ name: 'InternalFailure', $metadata: { httpStatusCode: 500 } });
    expect(timeoutError().name).toBe('TimeoutError');
  });
});

describe('parseFaultProfile', () => {
  it('accepts a full profile', () => {
    const profile = {
      seed: 12,
      rules: { throttle: { '*': 0.2, GetItem: 1 }, ambiguous: { PutItem: 0.05 } },
      latencyMs: { Query: 5, '*': [1, 3] },
    };
    expect(parseFaultProfile(profile)).toEqual(profile);
    expect(parseFaultProfile({})).toEqual({});
  });

  it('names the source and the problem', () => {
    expect(() => parseFaultProfile({ rules: { throttle: { GetItem: 1.5 } } }, 'chaos.json')).toThrow(
      /chaos\.json: invalid fault profile \(rules\.throttle\.GetItem: a rate is at most 1\)/,
    );
    expect(() => parseFaultProfile({ rules: { explode: { '*': 1 } } })).toThrow(
      /unknown fault kind explode \(known: throttle, transactionConflict, internalError, ambiguous\)/,
    );
    expect(() => parseFaultProfile({ latencyMs: { '*': [50, 10] } })).toThrow(/min <= max/);
    expect(() => parseFaultProfile({ seed: 1.5 })).toThrow(/seed/);
  });

  it('is applied by configure, so a bad profile is refused at runtime too', () => {
    const injector = createFaultInjector();
    expect(() => injector.configure({ rules: { throttle: { '*': -1 } } })).toThrow(/at least 0/);
    expect(injector.enabled).toBe(false);
    injector.configure({ rules: { throttle: { '*': 0.5 } } });
    expect(injector.enabled).toBe(true);
    injector.disable();
    expect(injector.enabled).toBe(false);
  });
});

describe('faultProfileFromEnv', () => {
  it('parses a valid profile', () => {
    expect(faultProfileFromEnv({ [FAULTS_ENV]: '{"seed":1,"rules":{"throttle":{"*":0.2}}}' })).toEqual({
      seed: 1,
      rules: { throttle: { '*': 0.2 } },
    });
  });

  it('is undefined when unset or blank', () => {
    expect(faultProfileFromEnv({})).toBeUndefined();
    expect(faultProfileFromEnv({ [FAULTS_ENV]: '  ' })).toBeUndefined();
  });

  it('names the variable for invalid JSON and for an unknown fault kind', () => {
    expect(() => faultProfileFromEnv({ [FAULTS_ENV]: '{"rules":' })).toThrow(/^DAGFLOW_FAULTS is not valid JSON/);
    expect(() => faultProfileFromEnv({ [FAULTS_ENV]: '{"rules":{"meteor":{"*":1}}}' })).toThrow(
      /^DAGFLOW_FAULTS: invalid fault profile \(rules: unknown fault kind meteor/,
    );
  });
});
