// How the API answers the errors the engine raises: the status and code a client sees.
import { InternalServerError, ThrottlingException } from '@aws-sdk/client-dynamodb';
import { describe, expect, it } from 'vitest';
import { errorResponse } from '../../lambdas/api/http.js';
import { StoreUnavailableError } from '../../shared/aws/dynamo/table.js';
import { EngineError } from '../../shared/model/errors.js';

function answer(error: unknown): { status: number | undefined; code: string; logged: boolean } {
  let logged = false;
  const response = errorResponse(error, () => {
    logged = true;
  });
  return { status: response.statusCode, code: (JSON.parse(String(response.body)) as { error: { code: string } }).error.code, logged };
}

const throttled = new ThrottlingException({ message: 'Rate exceeded', $metadata: {} });

describe('the API error answers', () => {
  it('are 429 for throttling the store could not outlast, as for throttling straight from DynamoDB', () => {
    expect(answer(throttled)).toMatchObject({ status: 429, code: 'THROTTLED' });
    expect(answer(new StoreUnavailableError(throttled))).toMatchObject({ status: 429, code: 'THROTTLED' });
  });

  it('are 503 for a table or queue that could not answer in time, and logged', () => {
    expect(answer(new StoreUnavailableError(new InternalServerError({ message: 'boom', $metadata: {} })))).toEqual({ status: 503, code: 'UNAVAILABLE', logged: true });
    expect(answer(new EngineError('QUEUE_UNAVAILABLE', 'the queue did not answer', { retryable: true }))).toMatchObject({ status: 503, code: 'UNAVAILABLE' });
  });

  it('stay 500 for an error that is not retryable, and show nothing of it', () => {
    const response = errorResponse(new Error('secret table name in a stack'), () => {});
    expect(response.statusCode).toBe(500);
    expect(String(response.body)).not.toContain('secret');
  });
});
