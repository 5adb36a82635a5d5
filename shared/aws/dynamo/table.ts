// The one place that sends requests to the table, and turns DynamoDB's failure modes into what the
// engine branches on:
// - a failed condition is an outcome, with the item as it now is (ALL_OLD), never a thrown error;
// - a write whose first try was applied but whose answer was lost (a timeout, then the SDK's
//   retry fails the condition) is recognized by its operation token: every conditional write
//   stores one, and a failed condition that finds its own token means "done";
// - a conflict with a transaction (TransactionConflict, which the SDK does not retry) is retried
//   here with backoff and jitter; throttling and 5xx the SDK retried already;
// - what is still failing after that is a StoreUnavailableError (retryable), never a raw SDK error.
import {
  ConditionalCheckFailedException,
  TransactionCanceledException,
  type AttributeValue,
} from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  BatchWriteCommand,
  DeleteCommand,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
  type DynamoDBDocumentClient,
  type PutCommandInput,
  type QueryCommandInput,
  type TransactWriteCommandInput,
  type UpdateCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { EngineError } from '../../model/errors.js';

export type Item = Record<string, unknown>;
export type Key = { pk: string; sk: string };

export type WriteResult = { applied: true; item: Item | undefined } | { applied: false; item: Item | undefined };

/** The store cannot answer now (throttled, unavailable, conflicting): retryable. */
export class StoreUnavailableError extends EngineError {
  constructor(cause: unknown) {
    super('STORE_UNAVAILABLE', `the table is unavailable: ${cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause)}`, {
      retryable: true,
      cause,
    });
  }
}

/** Tries at a write that conflicts with a transaction on the same item. */
const CONFLICT_TRIES = 8;
const BATCH_TRIES = 10;
/** Errors that mean "not now": the SDK retried them already (or does not retry them at all). */
const TRANSIENT = new Set([
  'TransactionConflictException',
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
  'InternalServerError',
  'ServiceUnavailable',
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
  'TransactionInProgressException',
]);

export class Table {
  constructor(
    readonly client: DynamoDBDocumentClient,
    readonly name: string,
    private readonly random: () => number = Math.random,
  ) {}

  async get(key: Key, options: { projection?: string; names?: Record<string, string>; consistent?: boolean } = {}): Promise<Item | undefined> {
    const { Item } = await this.send(() =>
      this.client.send(
        new GetCommand({
          TableName: this.name,
          Key: key,
          ConsistentRead: options.consistent ?? true,
          ...(options.projection === undefined ? {} : { ProjectionExpression: options.projection }),
          ...(options.names === undefined ? {} : { ExpressionAttributeNames: options.names }),
        }),
      ),
    );
    return Item;
  }

  /** A conditional update; with `opToken`, stored on the item so that a lost answer is recognized. */
  async update(input: Omit<UpdateCommandInput, 'TableName'>, opToken?: string): Promise<WriteResult> {
    const expression = input.UpdateExpression ?? '';
    const withToken =
      opToken === undefined
        ? expression
        : expression.startsWith('SET ')
          ? `SET opToken = :opToken, ${expression.slice(4)}`
          : `SET opToken = :opToken ${expression}`;
    try {
      const { Attributes } = await this.send(() =>
        this.client.send(
          new UpdateCommand({
            ...input,
            TableName: this.name,
            UpdateExpression: withToken,
            ExpressionAttributeValues: { ...input.ExpressionAttributeValues, ...(opToken === undefined ? {} : { ':opToken': opToken }) },
            ...(input.ConditionExpression === undefined ? {} : { ReturnValuesOnConditionCheckFailure: 'ALL_OLD' }),
          }),
        ),
      );
      return { applied: true, item: Attributes };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      const current = error.Item === undefined ? undefined : unmarshall(error.Item);
      // Our own earlier try was applied (its answer was lost): the item is as our write left it.
      if (opToken !== undefined && current?.['opToken'] === opToken) return { applied: true, item: current };
      return { applied: false, item: current };
    }
  }

  async put(input: Omit<PutCommandInput, 'TableName'>, opToken?: string): Promise<WriteResult> {
    const item = opToken === undefined ? input.Item : { ...input.Item, opToken };
    try {
      await this.send(() =>
        this.client.send(
          new PutCommand({
            ...input,
            Item: item,
            TableName: this.name,
            ...(input.ConditionExpression === undefined ? {} : { ReturnValuesOnConditionCheckFailure: 'ALL_OLD' }),
          }),
        ),
      );
      return { applied: true, item };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      const current = error.Item === undefined ? undefined : unmarshall(error.Item);
      if (opToken !== undefined && current?.['opToken'] === opToken) return { applied: true, item: current };
      return { applied: false, item: current };
    }
  }

  /** A transaction, tried again while it loses to another one on the same items (a TransactionConflict reason). */
  async transact(input: Omit<TransactWriteCommandInput, 'ReturnConsumedCapacity'>): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.send(() => this.client.send(new TransactWriteCommand(input)));
        return;
      } catch (error) {
        const conflicted = error instanceof TransactionCanceledException && (error.CancellationReasons ?? []).some((reason) => reason.Code === 'TransactionConflict' || reason.Code === 'ThrottlingError');
        if (!conflicted) throw error;
        if (attempt >= CONFLICT_TRIES) throw new StoreUnavailableError(error);
        await this.pause(attempt);
      }
    }
  }

  /** Deletes an item (there or not). */
  async delete(key: Key): Promise<void> {
    await this.send(() => this.client.send(new DeleteCommand({ TableName: this.name, Key: key })));
  }

  /** One page of a query. */
  async query(input: Omit<QueryCommandInput, 'TableName'>): Promise<{ items: Item[]; lastKey?: Item }> {
    const page = await this.send(() => this.client.send(new QueryCommand({ ...input, TableName: this.name })));
    return { items: page.Items ?? [], ...(page.LastEvaluatedKey === undefined ? {} : { lastKey: page.LastEvaluatedKey }) };
  }

  /** Every page of a query. */
  async queryAll(input: Omit<QueryCommandInput, 'TableName' | 'ExclusiveStartKey'>): Promise<Item[]> {
    const items: Item[] = [];
    let startKey: Item | undefined;
    do {
      const page = await this.query({ ...input, ...(startKey === undefined ? {} : { ExclusiveStartKey: startKey }) });
      items.push(...page.items);
      startKey = page.lastKey;
    } while (startKey !== undefined);
    return items;
  }

  /** Items by key, 100 at a time, retrying what DynamoDB leaves unprocessed. */
  async batchGet(keyList: readonly Key[], options: { projection?: string; names?: Record<string, string> } = {}): Promise<Item[]> {
    const items: Item[] = [];
    for (let i = 0; i < keyList.length; i += 100) {
      let pending: Item[] = keyList.slice(i, i + 100);
      for (let attempt = 1; pending.length > 0; attempt++) {
        const requested = pending;
        const page = await this.send(() =>
          this.client.send(
            new BatchGetCommand({
              RequestItems: {
                [this.name]: {
                  Keys: requested,
                  ConsistentRead: true,
                  ...(options.projection === undefined ? {} : { ProjectionExpression: options.projection }),
                  ...(options.names === undefined ? {} : { ExpressionAttributeNames: options.names }),
                },
              },
            }),
          ),
        );
        items.push(...(page.Responses?.[this.name] ?? []));
        pending = page.UnprocessedKeys?.[this.name]?.Keys ?? [];
        if (pending.length > 0) {
          if (attempt >= BATCH_TRIES) throw new StoreUnavailableError(new Error('batch get kept returning unprocessed keys'));
          await this.pause(attempt);
        }
      }
    }
    return items;
  }

  /** Unconditional puts, 25 at a time (writes that are the same whoever makes them). */
  async batchPut(items: readonly Item[]): Promise<void> {
    for (let i = 0; i < items.length; i += 25) {
      let pending = items.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } }));
      for (let attempt = 1; pending.length > 0; attempt++) {
        const requested = pending;
        const { UnprocessedItems } = await this.send(() => this.client.send(new BatchWriteCommand({ RequestItems: { [this.name]: requested } })));
        pending = (UnprocessedItems?.[this.name] ?? []) as typeof pending;
        if (pending.length > 0) {
          if (attempt >= BATCH_TRIES) throw new StoreUnavailableError(new Error('batch write kept returning unprocessed items'));
          await this.pause(attempt);
        }
      }
    }
  }

  /**
   * Sends with retries of what the SDK does not retry (a conflict with a transaction), and turns
   * what still fails for the store's own reasons into a StoreUnavailableError.
   */
  private async send<T>(request: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await request();
      } catch (error) {
        if (error instanceof ConditionalCheckFailedException || error instanceof TransactionCanceledException) throw error;
        const name = error instanceof Error ? error.name : '';
        if (name === 'ValidationException' && error instanceof Error && /item size/i.test(error.message)) {
          throw new EngineError('PAYLOAD_TOO_LARGE', "the change would take the item over DynamoDB's 400 KB", { cause: error });
        }
        if (!TRANSIENT.has(name) && !isNetworkError(error)) throw error;
        if (name !== 'TransactionConflictException' || attempt >= CONFLICT_TRIES) throw new StoreUnavailableError(error);
        await this.pause(attempt);
      }
    }
  }

  private pause(attempt: number): Promise<void> {
    // Full jitter on an exponential ceiling.
    return new Promise((resolve) => setTimeout(resolve, this.random() * Math.min(1_000, 20 * 2 ** attempt)));
  }
}

function isNetworkError(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && ['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT'].includes(code);
}

/** The item a failed condition returned, as plain values (what DynamoDB sent, unmarshalled). */
export function plain(item: Record<string, AttributeValue> | undefined): Item | undefined {
  return item === undefined ? undefined : unmarshall(item);
}
