/**
 * The error classes every bgswitch program shares (the CLI, the sidecar, the reference consumer,
 * the lab). Each carries the exit code the program ends with and, where it helps, a hint naming the
 * fix. The CLI turns them into `process.exitCode` in one place (src/cli/main.ts); the protocol's own
 * refusals are in src/core/errors.ts.
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

/** Anything else that went wrong (exit 1). Also the base of adapter errors. */
export class OperationError extends BgswitchError {
  constructor(message: string, hint?: string, options?: ErrorOptions) {
    super(message, ExitCode.failure, hint, options);
  }
}

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

/** The message of anything thrown, for a warning, a log field or a status line. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
