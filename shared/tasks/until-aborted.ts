// Ending an attempt when its signal fires, whether or not the code behind it looks at the signal.
// Used by the worker around a whole attempt and by the executors around user code.

/**
 * `work`, or a rejection with the signal's reason as soon as the signal fires. The work may still
 * settle after it was given up on: its result is dropped and its rejection is always handled, so
 * a late failure can never become an unhandled rejection (which would end the whole process).
 */
export function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  work.catch(() => undefined);
  if (signal.aborted) return Promise.reject(abortError(signal));
  let onAbort = (): void => undefined;
  const aborted = new Promise<never>((_resolve, reject) => {
    onAbort = () => reject(abortError(signal));
  });
  signal.addEventListener('abort', onAbort, { once: true });
  return Promise.race([work, aborted]).finally(() => signal.removeEventListener('abort', onAbort));
}

function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new Error(String(reason));
}
