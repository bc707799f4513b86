/**
 * The one place where failures of Kubernetes API calls become the errors of src/core/errors.ts.
 *
 * Guarantees: every message names the verb and the object (or the API server); no credential ever
 * reaches a message (error texts are not passed through verbatim, and what is quoted is
 * redacted). A BgswitchError passes through unchanged. Not decided here: whether a 404 on a read
 * means "absent" — callers check isNotFound() first.
 */
import { BgswitchError, OperationError } from '../shared/errors.js';
import { ClusterUnreachableError, ConflictError, ForbiddenError, RefusedError } from '../core/errors.js';

/** What was being attempted, in RBAC terms, so a 403 can name exactly the missing permission. */
export interface KubeCallContext {
  verb: 'get' | 'list' | 'create' | 'update';
  /** The resource as RBAC spells it: configmaps, leases, services, pods, events, secrets, pods/proxy. */
  resource: string;
  name?: string;
  namespace: string;
  /** The API server URL, named when it cannot be reached. */
  server: string;
}

/** The parts of a Kubernetes `Status` body worth showing. */
export interface ApiStatus {
  reason?: string;
  message?: string;
}

const MAX_QUOTED = 300;

/** Removes anything that looks like a credential, then shortens. */
export function redact(text: string): string {
  const cleaned = text
    .replace(/(bearer|basic)\s+[A-Za-z0-9._~+/=-]+/gi, '$1 <redacted>')
    .replace(/((?:token|password|secret|key)["']?\s*[:=]\s*["']?)[^\s"',}]+/gi, '$1<redacted>');
  return cleaned.length > MAX_QUOTED ? `${cleaned.slice(0, MAX_QUOTED)}…` : cleaned;
}

/** Reads a Kubernetes `Status` object from an error body (JSON text). */
export function parseApiStatus(body: unknown): ApiStatus | undefined {
  let value = body;
  if (typeof body === 'string') {
    try {
      value = JSON.parse(body);
    } catch {
      return undefined;
    }
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const record = value as Record<string, unknown>;
  if (record['kind'] !== 'Status') return undefined;
  const status: ApiStatus = {};
  if (typeof record['reason'] === 'string') status.reason = record['reason'];
  if (typeof record['message'] === 'string') status.message = record['message'];
  return status;
}

/** The API server answered with an HTTP error (src/kube/rest.ts). */
export class ApiStatusError extends Error {
  constructor(
    readonly code: number,
    readonly body: string,
  ) {
    super(`HTTP ${code}`);
    this.name = 'ApiStatusError';
  }
}

/** The request never got an HTTP answer: refused, reset, TLS, DNS, or our timeout (`timedOut`). */
export class ApiUnreachableError extends Error {
  constructor(
    message: string,
    readonly timedOut: boolean,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'ApiUnreachableError';
  }
}

export function isNotFound(error: unknown): boolean {
  return error instanceof ApiStatusError && error.code === 404;
}

/** Connection-level failure codes: the API server (or a pod) was never reached or the link broke. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
]);

function errorCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

/** True for failures below HTTP: refused/reset connections, DNS, TLS, timeouts. */
export function isTransportFailure(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error instanceof ApiUnreachableError) return true;
  if (error.name === 'AbortError' || error.name === 'TimeoutError') return true;
  const code = errorCode(error);
  return code !== undefined && NETWORK_CODES.has(code);
}

function transportCause(error: Error): string {
  if (error instanceof ApiUnreachableError ? error.timedOut : error.name === 'AbortError' || error.name === 'TimeoutError')
    return 'no answer before the request timeout';
  return redact(error.message);
}

function describeObject(context: KubeCallContext): string {
  return context.name ? `${context.resource} "${context.name}"` : context.resource;
}

function forbiddenError(context: KubeCallContext, status: ApiStatus | undefined): ForbiddenError {
  const base = `forbidden: cannot '${context.verb}' '${context.resource}' in namespace ${context.namespace}`;
  // A 403 is not always RBAC (e.g. a namespace being deleted): then the server's own words matter.
  const detail = status?.message && !/cannot/.test(status.message) ? ` (${redact(status.message)})` : '';
  return new ForbiddenError(context.verb, context.resource, base + detail);
}

function apiError(code: number, body: unknown, context: KubeCallContext): BgswitchError {
  const status = parseApiStatus(body);
  const object = describeObject(context);
  const said = status?.message ? `: ${redact(status.message)}` : '';
  switch (code) {
    case 401:
      return new RefusedError(
        `credentials rejected by the API server ${context.server} (401 Unauthorized)`,
        'refresh your credentials, or pick another --kubeconfig/--context',
      );
    case 403:
      return forbiddenError(context, status);
    case 404:
      return new OperationError(`${object} not found in namespace ${context.namespace}${said}`);
    case 409:
      return status?.reason === 'AlreadyExists'
        ? new ConflictError(`${object} already exists in namespace ${context.namespace}`)
        : new ConflictError(`${object} was changed by someone else since it was read (409 Conflict)`);
    default:
      return new OperationError(`cannot ${context.verb} ${object} in namespace ${context.namespace}: HTTP ${code}${said}`);
  }
}

/** Maps anything thrown by an API call (src/kube/rest.ts) into a BgswitchError. */
export function toBgswitchError(error: unknown, context: KubeCallContext): BgswitchError {
  if (error instanceof BgswitchError) return error;
  if (error instanceof ApiStatusError) return apiError(error.code, error.body, context);
  if (isTransportFailure(error)) {
    return new ClusterUnreachableError(
      `cannot reach the Kubernetes API server at ${context.server}: ${transportCause(error as Error)}`,
      'check --kubeconfig/--context (or KUBECONFIG) and that the cluster is up and reachable',
      { cause: error },
    );
  }
  const message = error instanceof Error ? error.message : String(error);
  return new OperationError(
    `cannot ${context.verb} ${describeObject(context)} in namespace ${context.namespace}: ${redact(message)}`,
    undefined,
    { cause: error },
  );
}
