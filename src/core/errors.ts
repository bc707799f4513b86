/**
 * The protocol's own errors: refusals (exit 3) and the failures the switch reacts to. Their base
 * classes, shared with the daemons, are in src/shared/errors.ts.
 */
import { ExitCode, OperationError, PodUnreachableError, BgswitchError } from '../shared/errors.js';

/**
 * Preflight refused: the lease is held, the fleet is inconsistent, an object is missing, the
 * cluster cannot be reached or the credentials lack a permission. Nothing was changed. Exit 3.
 */
export class RefusedError extends BgswitchError {
  constructor(message: string, hint?: string, options?: ErrorOptions) {
    super(message, ExitCode.refused, hint, options);
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

/** A sidecar refused a push because it has no push key yet (the Secret is not mounted in the pod yet). */
export class NoPushKeyError extends PodUnreachableError {}

/** The Kafka broker did not answer (in time, or at all). Preflight turns it into a refusal. */
export class KafkaUnavailableError extends OperationError {}
