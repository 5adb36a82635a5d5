// The engine's error types. Every error carries a stable `code`, whether retrying could help
// (`retryable`) and its `cause`, so callers branch on classes and codes, never on SDK names.

export interface EngineErrorOptions {
  retryable?: boolean;
  cause?: unknown;
  details?: Record<string, unknown>;
}

export class EngineError extends Error {
  readonly code: string;
  readonly retryable: boolean;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: string, message: string, options: EngineErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.details = options.details;
  }
}

/** One thing wrong with a piece of input, with where it is. */
export interface Problem {
  /** Where, e.g. `tasks.charge_payment.retry.maxRetries` or `input`. */
  path: string;
  message: string;
}

/** Input that breaks the contract: a definition, a request body, a run input. Maps to 400. */
export class ValidationError extends EngineError {
  readonly problems: readonly Problem[];

  constructor(problems: readonly Problem[], options: EngineErrorOptions = {}) {
    super('VALIDATION_ERROR', formatProblems(problems), options);
    this.problems = problems;
  }
}

/** A payload over its size limit. Maps to 413. */
export class PayloadTooLargeError extends EngineError {
  constructor(what: string, bytes: number, limit: number) {
    super('PAYLOAD_TOO_LARGE', `${what} is ${bytes} bytes, over the limit of ${limit} bytes`, {
      details: { what, bytes, limit },
    });
  }
}

/** Something that was looked up and is not there. Maps to 404. */
export class NotFoundError extends EngineError {
  constructor(what: string) {
    super('NOT_FOUND', `${what} not found`);
  }
}

/** A request that contradicts the current state (cancel of a finished run...). Maps to 409. */
export class ConflictError extends EngineError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('CONFLICT', message, details === undefined ? {} : { details });
  }
}

/** A state change the task or run state machine does not allow. A bug if it ever escapes. */
export class IllegalTransitionError extends EngineError {
  constructor(kind: 'task' | 'run', from: string, to: string) {
    super('ILLEGAL_TRANSITION', `${kind} cannot go from ${from} to ${to}`, { details: { kind, from, to } });
  }
}

/**
 * A template placeholder (`{{input.a}}`, `{{upstream.t.output.b}}`) with nothing at its path. The
 * request is not sent: a missing value is a mistake in the definition or the data, never an empty
 * string. Not retryable, since the same data gives the same answer.
 */
export class UnresolvedPlaceholderError extends EngineError {
  constructor(placeholder: string, where: string) {
    super('UNRESOLVED_PLACEHOLDER', `${where}: {{${placeholder}}} resolves to nothing (no value at that path)`, {
      details: { placeholder },
    });
    // The name a task's error carries (what retry policies match on).
    this.name = 'UnresolvedPlaceholder';
  }
}

export function formatProblems(problems: readonly Problem[]): string {
  return problems.map((p) => (p.path === '' ? p.message : `${p.path}: ${p.message}`)).join('; ');
}
