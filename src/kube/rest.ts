/**
 * A small JSON client for the handful of API server endpoints bgswitch uses (src/kube/http.ts): one
 * keep-alive connection pool per client (TLS is negotiated once, not per request), plain JSON in and
 * out (no typed-model (de)serialisation), and the credentials of src/kube/credentials.ts, so every
 * auth flavour, proxy and impersonation setting of the kubeconfig applies.
 *
 * Guarantees: every request has a deadline; an HTTP error answer is thrown as ApiStatusError (status
 * code and body), anything that got no answer as ApiUnreachableError; the caller maps both with
 * src/kube/errors.ts. Credentials are asked for per request (expiring exec tokens are refreshed).
 * Not done here: retries.
 */
import type { Dispatcher } from 'undici';
import { BgswitchError } from '../shared/errors.js';
import type { ApiServerCredentials } from './credentials.js';
import { ApiStatusError, ApiUnreachableError } from './errors.js';
import { apiServerPool, DeadlineExceeded, dispatcherPool, type HttpPool } from './http.js';

export type ApiMethod = 'GET' | 'POST' | 'PUT';

/** Error answers longer than this are cut; a Status is small. */
const MAX_ERROR_BODY_CHARS = 16 * 1024;

export class ApiServerClient {
  private connections: Promise<HttpPool> | undefined;

  /** A given undici dispatcher (tests) is used as is and not closed here. */
  constructor(
    readonly credentials: ApiServerCredentials,
    private readonly timeoutMs: number,
    dispatcher?: Dispatcher,
  ) {
    if (dispatcher) this.connections = Promise.resolve(dispatcherPool(dispatcher));
  }

  get server(): string {
    return this.credentials.server;
  }

  /** The connection pool, made on first use (reading the TLS material once). */
  pool(): Promise<HttpPool> {
    this.connections ??= this.credentials.tls().then((tls) => apiServerPool(this.credentials.server, this.credentials.proxyUrl, tls));
    return this.connections;
  }

  /** `path` starts with `/` and is already encoded; `query` values are encoded here. */
  async json<T>(method: ApiMethod, path: string, options: { body?: unknown; query?: Record<string, string> } = {}): Promise<T> {
    const [pool, auth] = await Promise.all([this.pool(), this.credentials.headers()]);
    const search = options.query ? `?${new URLSearchParams(options.query).toString()}` : '';
    const headers: Record<string, string | string[]> = { ...auth, accept: 'application/json' };
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    let answer: { status: number; text: string };
    try {
      answer = await pool.send(`${this.credentials.server}${path}${search}`, {
        method,
        headers,
        ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
        timeoutMs: this.timeoutMs,
      });
    } catch (error) {
      if (error instanceof BgswitchError) throw error;
      if (error instanceof DeadlineExceeded) throw new ApiUnreachableError(error.message, true, { cause: error });
      throw unreachable(error);
    }
    if (answer.status >= 300) throw new ApiStatusError(answer.status, answer.text.slice(0, MAX_ERROR_BODY_CHARS));
    return JSON.parse(answer.text) as T;
  }

  async close(): Promise<void> {
    const pool = await this.connections?.catch(() => undefined);
    await pool?.close();
  }
}

/** Connection errors (node's or undici's) carry the system code (ECONNREFUSED, a TLS code) on the error or its cause. */
function unreachable(error: unknown): ApiUnreachableError {
  const reason = error instanceof Error ? error : new Error(String(error));
  const code = (reason as { code?: unknown }).code;
  const timedOut = code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT';
  const message = typeof code === 'string' && !reason.message.includes(code) ? `${code}: ${reason.message}` : reason.message;
  return new ApiUnreachableError(message, timedOut, { cause: error });
}
