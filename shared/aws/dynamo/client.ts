// The DynamoDB document client, configured once: undefined attributes are dropped (optional
// fields), the SDK retries throttling and 5xx longer than its default of 3 attempts (a worker
// holding a result would rather wait than lose it), and an endpoint may point it at DynamoDB Local.
import { DynamoDBClient, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/** Attempts of one request, the first included, for what the SDK retries (throttling, 5xx, timeouts). */
export const DYNAMODB_MAX_ATTEMPTS = 8;

export function createDocumentClient(config: DynamoDBClientConfig = {}): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(new DynamoDBClient({ maxAttempts: DYNAMODB_MAX_ATTEMPTS, ...config }), {
    marshallOptions: { removeUndefinedValues: true },
  });
}
