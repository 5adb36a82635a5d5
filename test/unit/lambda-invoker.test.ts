import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { TaskFailure } from '../../shared/tasks/context.js';
import { createLambdaInvoker, functionNameOf, isFunctionAllowed } from '../../shared/aws/lambda-invoker.js';

const lambda = mockClient(LambdaClient);
const ARN = 'arn:aws:lambda:eu-west-1:123456789012:function:score-order';

beforeEach(() => lambda.reset());

describe('isFunctionAllowed', () => {
  it('matches a function by name or ARN, and nothing else', () => {
    expect(functionNameOf(ARN)).toBe('score-order');
    expect(functionNameOf(`${ARN}:live`)).toBe('score-order');
    expect(isFunctionAllowed('score-order', [ARN])).toBe(true);
    expect(isFunctionAllowed(ARN, ['score-order'])).toBe(true);
    expect(isFunctionAllowed('score-orders', [ARN])).toBe(false);
    expect(isFunctionAllowed('anything', [])).toBe(false);
  });
});

describe('createLambdaInvoker', () => {
  const invoker = createLambdaInvoker(new LambdaClient({ region: 'eu-west-1' }), ['score-order']);

  it('invokes the function with the JSON payload and returns its JSON result', async () => {
    lambda.on(InvokeCommand).resolves({ StatusCode: 200, Payload: Buffer.from('{"score":7}') as never });
    await expect(invoker('score-order', { orderId: 'o-1' }, new AbortController().signal)).resolves.toEqual({ score: 7 });
    const call = lambda.commandCalls(InvokeCommand)[0]?.args[0].input;
    expect(call?.FunctionName).toBe('score-order');
    expect(call?.InvocationType).toBe('RequestResponse');
    expect(JSON.parse(Buffer.from(call?.Payload as Uint8Array).toString('utf8'))).toEqual({ orderId: 'o-1' });
  });

  it("turns the function's error into a task failure named by its errorType", async () => {
    lambda.on(InvokeCommand).resolves({
      StatusCode: 200,
      FunctionError: 'Unhandled',
      Payload: Buffer.from('{"errorType":"OutOfStock","errorMessage":"none left"}') as never,
    });
    const failure = await invoker('score-order', {}, new AbortController().signal).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(TaskFailure);
    expect(failure).toMatchObject({ errorName: 'OutOfStock', message: 'none left', retryable: true });
  });

  it('refuses a function that is not allowed, without calling Lambda', async () => {
    const failure = await invoker('delete-everything', {}, new AbortController().signal).catch((error: unknown) => error);
    expect(failure).toMatchObject({ errorName: 'FunctionNotAllowed', retryable: false });
    expect(lambda.commandCalls(InvokeCommand)).toHaveLength(0);
  });
});
