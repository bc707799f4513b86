/**
 * The few error classes of bgswitch. Each carries the exit code the CLI ends with and, where it
 * helps, a hint naming the fix. They are turned into `process.exitCode` in one place (src/cli/main.ts).
 */

export const ExitCode = {
  ok: 0,
  failure: 1,
  usage: 2,
  refused: 3,
  rolledBack: 4,
  rollbackFailed: 5,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export class BgswitchError extends Error {
  readonly exitCode: ExitCodeValue;
  readonly hint: string | undefined;

  constructor(message: string, exitCode: ExitCodeValue, hint?: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.exitCode = exitCode;
    this.hint = hint;
  }
}

/** Bad input: nothing was read from or written to the cluster. Exit 2. */
export class UsageError extends BgswitchError {
  constructor(message: string, hint?: string) {
    super(message, ExitCode.usage, hint);
  }
}

/**
 * Preflight refused: the lease is held, the fleet is inconsistent, an object is missing, the
 * cluster cannot be reached or the credentials lack a permission. Nothing was changed. Exit 3.
 */
export class RefusedError extends BgswitchError {
  constructor(message: string, hint?: string, options?: ErrorOptions) {
    super(message, ExitCode.refused, hint, options);
  }
}

/** Anything else that went wrong (exit 1). Also the base of adapter errors. */
export class OperationError extends BgswitchError {
  constructor(message: string, hint?: string, options?: ErrorOptions) {
    super(message, ExitCode.failure, hint, options);
  }
}

/** An optimistic-concurrency write lost the race (HTTP 409 / AlreadyExists). */
export class ConflictError extends OperationError {}

/** The API server answered 403: the credentials lack `verb` on `resource`. */
export class ForbiddenError extends RefusedError {
  constructor(
    readonly verb: string,
    readonly resource: string,
    message: string,
  ) {
    super(message, `ask for '${verb}' on '${resource}' (see docs/operations.md, RBAC)`);
  }
}

/** The API server could not be reached at all. */
export class ClusterUnreachableError extends RefusedError {}

/** A pod's lifecycle or sidecar endpoint could not be reached or answered with an error. */
export class PodUnreachableError extends OperationError {
  constructor(
    readonly pod: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, undefined, options);
  }
}

/** A sidecar refused a push because it has no push key yet (the Secret is not mounted in the pod yet). */
export class NoPushKeyError extends PodUnreachableError {}

/** The message of anything thrown, for a warning, a log field or a status line. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The Kafka broker did not answer (in time, or at all). Preflight turns it into a refusal. */
export class KafkaUnavailableError extends OperationError {}
