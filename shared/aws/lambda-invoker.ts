// `lambda` tasks on AWS: invoke a function synchronously with the task's payload. Only functions
// on the allow-list (LAMBDA_ALLOWED_FUNCTIONS, the same list the stack grants invoke rights on)
// may be called. A function error is the task's failure, named by the function's errorType.
import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { TaskFailure } from '../tasks/context.js';
import type { LambdaInvoker } from '../tasks/executors.js';

/** The function name of a name, a partial ARN or a full ARN (with or without a qualifier). */
export function functionNameOf(nameOrArn: string): string {
  const parts = nameOrArn.split(':');
  const at = parts.indexOf('function');
  return at >= 0 ? (parts[at + 1] ?? nameOrArn) : (parts[0] ?? nameOrArn);
}

export function isFunctionAllowed(nameOrArn: string, allowed: readonly string[]): boolean {
  return allowed.some((entry) => entry === nameOrArn || functionNameOf(entry) === functionNameOf(nameOrArn));
}

export function createLambdaInvoker(client: Pick<LambdaClient, 'send'>, allowed: readonly string[]): LambdaInvoker {
  return async (functionName, payload, signal) => {
    if (!isFunctionAllowed(functionName, allowed)) {
      throw new TaskFailure('FunctionNotAllowed', `lambda function "${functionName}" is not in LAMBDA_ALLOWED_FUNCTIONS`, {
        retryable: false,
      });
    }
    const result = await client.send(
      new InvokeCommand({
        FunctionName: functionName,
        InvocationType: 'RequestResponse',
        Payload: Buffer.from(JSON.stringify(payload ?? null), 'utf8'),
      }),
      { abortSignal: signal },
    );
    const text = result.Payload === undefined ? '' : Buffer.from(result.Payload).toString('utf8');
    const body = parseJson(text);
    if (result.FunctionError !== undefined) {
      const error = typeof body === 'object' && body !== null ? (body as { errorType?: unknown; errorMessage?: unknown }) : {};
      throw new TaskFailure(
        typeof error.errorType === 'string' ? error.errorType : 'LambdaFunctionError',
        typeof error.errorMessage === 'string' ? error.errorMessage : `function ${functionName} failed (${result.FunctionError})`,
        { retryable: true },
      );
    }
    return body;
  };
}

function parseJson(text: string): unknown {
  if (text === '') return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}
