// Dead letters on the in-memory ports: an attempt whose message SQS gave up on ends by the one
// failed-attempt path, unless a worker holds it.
import { describe, expect, it } from 'vitest';
import { handleDeadLetter } from '../../../shared/engine/dead-letters.js';
import type { WorkflowDefinitionInput } from '../../../shared/model/definition.js';
import type { TaskMessage } from '../../../shared/engine/messages.js';
import { Engine } from '../support/engine.js';

async function started(input: WorkflowDefinitionInput) {
  const engine = new Engine();
  const definition = await engine.define(input);
  const runId = await engine.start(definition);
  const message = engine.messageFor(input.tasks[0]?.id ?? '');
  engine.queue.take();
  return { engine, runId, message };
}

const delivery = (message: TaskMessage) => ({ messageId: 'm-1', receiveCount: '5', body: JSON.stringify(message) });

describe('handleDeadLetter', () => {
  it('fails a never-claimed attempt with DeadLettered, keeping the message body in its details', async () => {
    const { engine, runId, message } = await started({ id: 'one', tasks: [{ id: 'a', handler: 'h' }] });
    expect(await handleDeadLetter(engine.deadLetterDeps(), message, delivery(message))).toBe('failed');
    expect(engine.store.task(runId, 'a')).toMatchObject({
      status: 'FAILED',
      attempt: 1,
      error: { name: 'DeadLettered', retryable: false, details: { messageId: 'm-1', body: JSON.stringify(message) } },
      attempts: [{ attempt: 1, outcome: 'FAILED', error: { name: 'DeadLettered' } }],
    });
    expect(engine.store.task(runId, 'a')?.error?.message).toContain('after 5 deliveries');
    expect(engine.metricNames()).toContain('TaskFailed');
  });

  it('leaves alone an attempt a worker holds with a live lease, and ends it once the lease ran out', async () => {
    const { engine, runId, message } = await started({ id: 'one', tasks: [{ id: 'a', handler: 'h' }] });
    await engine.store.tasks.claim({ runId, taskId: 'a', attempt: 1, leaseToken: 'live', leaseExpiresAt: engine.clock.ms + 60_000, opToken: 'claim' });
    expect(await handleDeadLetter(engine.deadLetterDeps(), message, delivery(message))).toBe('stale');
    expect(engine.store.task(runId, 'a')).toMatchObject({ status: 'RUNNING', leaseToken: 'live' });

    engine.clock.advance(60_000);
    expect(await handleDeadLetter(engine.deadLetterDeps(), message, delivery(message))).toBe('failed');
    expect(engine.store.task(runId, 'a')).toMatchObject({ status: 'FAILED', error: { name: 'DeadLettered' } });
  });

  it('retries the attempt when the retry policy names DeadLettered in retryableErrors', async () => {
    const { engine, runId, message } = await started({ id: 'one', tasks: [{ id: 'a', handler: 'h', retry: { maxRetries: 1, initialDelaySeconds: 2, maxDelaySeconds: 2, retryableErrors: ['DeadLettered'] } }] });
    expect(await handleDeadLetter(engine.deadLetterDeps(), message, delivery(message))).toBe('retrying');
    expect(engine.store.task(runId, 'a')).toMatchObject({ status: 'QUEUED', attempt: 2, error: { name: 'DeadLettered' }, attempts: [{ outcome: 'RETRIED' }] });
    expect(engine.queue.take()).toEqual([{ message: expect.objectContaining({ taskId: 'a', attempt: 2 }), delaySeconds: 1 }]);
    expect(engine.metricNames()).toContain('TaskRetried');
  });

  it('fails a WAITING wait task whose wake-up message was dead-lettered', async () => {
    const { engine, runId, message } = await started({ id: 'nap', tasks: [{ id: 'nap', type: 'wait', seconds: 60 }] });
    expect(await handleDeadLetter(engine.deadLetterDeps(), message, delivery(message))).toBe('failed');
    expect(engine.store.task(runId, 'nap')).toMatchObject({ status: 'FAILED', error: { name: 'DeadLettered' } });
  });

  it('does nothing for a message of another attempt, or of a task that has no item', async () => {
    const { engine, runId, message } = await started({ id: 'one', tasks: [{ id: 'a', handler: 'h' }] });
    expect(await handleDeadLetter(engine.deadLetterDeps(), { ...message, attempt: 2 }, delivery(message))).toBe('not-found');
    expect(await handleDeadLetter(engine.deadLetterDeps(), { ...message, runId: 'nope' }, delivery(message))).toBe('not-found');
    expect(engine.store.task(runId, 'a')).toMatchObject({ status: 'QUEUED', attempt: 1 });
  });
});
