/**
 * A small JSON client for the handful of API server endpoints bgswitch uses, over undici: one
 * keep-alive connection pool per client (TLS is negotiated once, not per request), plain JSON in and
 * out (no typed-model (de)serialisation), and the credentials of src/kube/credentials.ts, so every
 * auth flavour, proxy and impersonation setting of the kubeconfig applies.
 *
 * Guarantees: every request has a deadline; an HTTP error answer is thrown as ApiStatusError (status
 * code and body), anything that got no answer as ApiUnreachableError; the caller maps both with
 * src/kube/errors.ts. Credentials are asked for per request (expiring exec tokens are refreshed).
 * Not done here: retries.
 */
import { request, type Dispatcher } from 'undici';
import { httpDispatcher, type ApiServerCredentials } from './credentials.js';
import { ApiStatusError, ApiUnreachableError } from './errors.js';

export type ApiMethod = 'GET' | 'POST' | 'PUT';

/** Error answers longer than this are cut; a Status is small. */
const MAX_ERROR_BODY_CHARS = 16 * 1024;

export class ApiServerClient {
  private dispatcher: Promise<Dispatcher> | undefined;
  private readonly ownsDispatcher: boolean;

  /** A given dispatcher is used as is and not closed here. */
  constructor(
    readonly credentials: ApiServerCredentials,
    private readonly timeoutMs: number,
    dispatcher?: Dispatcher,
  ) {
    this.ownsDispatcher = dispatcher === undefined;
    if (dispatcher) this.dispatcher = Promise.resolve(dispatcher);
  }

  get server(): string {
    return this.credentials.server;
  }

  /** The connection pool, made on first use (reading the TLS material once). */
  pool(): Promise<Dispatcher> {
    this.dispatcher ??= this.credentials
      .tls()
      .then((tls) => httpDispatcher(this.credentials.proxyUrl, { ...tls, timeout: this.timeoutMs }));
    return this.dispatcher;
  }

  /** `path` starts with `/` and is already encoded; `query` values are encoded here. */
  async json<T>(method: ApiMethod, path: string, options: { body?: unknown; query?: Record<string, string> } = {}): Promise<T> {
    const [dispatcher, auth] = await Promise.all([this.pool(), this.credentials.headers()]);
    const search = options.query ? `?${new URLSearchParams(options.query).toString()}` : '';
    const headers: Record<string, string | string[]> = { ...auth, accept: 'application/json' };
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    const deadline = AbortSignal.timeout(this.timeoutMs);
    let status: number;
    let text: string;
    try {
      const response = await request(`${this.credentials.server}${path}${search}`, {
        dispatcher,
        method,
        headers,
        body: options.body === undefined ? null : JSON.stringify(options.body),
        signal: deadline,
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
      });
      status = response.statusCode;
      text = await response.body.text();
    } catch (error) {
      if (deadline.aborted) throw new ApiUnreachableError(`no answer within ${this.timeoutMs} ms`, true, { cause: error });
      throw unreachable(error);
    }
    if (status >= 300) throw new ApiStatusError(status, text.slice(0, MAX_ERROR_BODY_CHARS));
    return JSON.parse(text) as T;
  }

  async close(): Promise<void> {
    if (!this.ownsDispatcher) return;
    const dispatcher = await this.dispatcher?.catch(() => undefined);
    await dispatcher?.close();
  }
}

/** undici's connection errors carry the system code (ECONNREFUSED, a TLS code) on the error or its cause. */
function unreachable(error: unknown): ApiUnreachableError {
  const reason = error instanceof Error ? error : new Error(String(error));
  const code = (reason as { code?: unknown }).code;
  const timedOut = code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT';
  const message = typeof code === 'string' && !reason.message.includes(code) ? `${code}: ${reason.message}` : reason.message;
  return new ApiUnreachableError(message, timedOut, { cause: error });
}
