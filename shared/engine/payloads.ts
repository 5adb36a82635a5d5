// Large payloads: a run input or task output over the inline limit is kept as an object of its own
// (S3 on AWS, an S3 protocol server locally) and its item holds a reference instead. The store
// reads it back wherever the engine needs the value (a task's scope, a condition, a child's
// output), so handlers and templates never see the difference; the API shows a link instead.
import { LIMITS } from '../model/limits.js';

/** Where large payloads are kept, by key. */
export interface PayloadStore {
  put(key: string, json: string): Promise<void>;
  get(key: string): Promise<string>;
  /** A URL a client can fetch the payload from for a few minutes (a presigned GET). */
  url(key: string): Promise<string>;
}

/** What an item holds instead of a large payload. */
export interface PayloadRef {
  key: string;
  bytes: number;
}

/** The limits a store enforces: without a payload store, only what fits in an item. */
export function payloadLimits(payloads: object | undefined): { inlineBytes: number; maxInputBytes: number; maxOutputBytes: number } {
  return payloads === undefined
    ? { inlineBytes: Number.POSITIVE_INFINITY, maxInputBytes: LIMITS.maxInputBytes, maxOutputBytes: LIMITS.maxOutputBytes }
    : { inlineBytes: LIMITS.inlinePayloadBytes, maxInputBytes: LIMITS.maxPayloadBytes, maxOutputBytes: LIMITS.maxPayloadBytes };
}

/** Keys under one prefix per run, so that an object is easy to trace to its run. */
export const PAYLOAD_KEYS = {
  input: (runId: string) => `runs/${runId}/input.json`,
  /** Per write: a refused write (another answer won) never overwrites the payload of the one that won. */
  output: (runId: string, taskId: string, attempt: number, opToken: string) => `runs/${runId}/tasks/${taskId}/${attempt}-${opToken}.json`,
};
