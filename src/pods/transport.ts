/**
 * How an HTTP request reaches a pod: through the API server's pod proxy (works wherever kubectl
 * works) or directly at the pod IP (in-cluster). One small interface, two implementations.
 *
 * Guarantees: a reply is the pod's own HTTP answer, whatever its status. Everything else is thrown:
 * TransportFailure says whether the request certainly never left (`not-sent`, safe to resend even
 * when not idempotent), broke off after being sent (`interrupted`), ran out of time (`timed-out`) or
 * cannot succeed by retrying (`permanent`); through the proxy, the API server's own refusals become
 * ForbiddenError (naming `pods/proxy` and the verb) or RefusedError (credentials rejected).
 * An abort by the caller's signal rethrows the signal's reason. Both go through the proxy the
 * operator configured: the cluster's proxy-url for the pod proxy, HTTP_PROXY/NO_PROXY for pod IPs.
 * Not done here: retries.
 */
import type { Dispatcher } from 'undici';
import { ForbiddenError, RefusedError } from '../core/errors.js';
import type { PodInfo } from '../core/ports.js';
import { BgswitchError } from '../shared/errors.js';
import { proxyFromEnv, type ApiServerCredentials } from '../kube/credentials.js';
import { apiServerPool, DeadlineExceeded, dispatcherPool, httpPool, type HttpMethod, type HttpPool } from '../kube/http.js';
import { parseApiStatus, redact } from '../kube/errors.js';

export type Via = 'proxy' | 'direct';
export type { HttpMethod } from '../kube/http.js';

export interface PodRequest {
  pod: PodInfo;
  port: number;
  method: HttpMethod;
  /** Starts with `/`. */
  path: string;
  body?: string;
  headers?: Record<string, string>;
  /** This request's deadline (ms) when shorter than the transport's own. */
  timeoutMs?: number;
}

export interface PodReply {
  status: number;
  body: string;
}

export type FailureKind = 'not-sent' | 'interrupted' | 'timed-out' | 'permanent';

export class TransportFailure extends Error {
  constructor(
    readonly kind: FailureKind,
    message: string,
  ) {
    super(message);
    this.name = 'TransportFailure';
  }
}

export interface PodTransport {
  readonly via: Via;
  send(request: PodRequest, signal?: AbortSignal): Promise<PodReply>;
  close(): Promise<void>;
}

/** Bodies longer than this are cut before they are quoted or parsed; pod answers are tiny. */
const MAX_BODY_CHARS = 64 * 1024;

const NOT_SENT_CODES = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_CONNECT_TIMEOUT',
  // HTTP/2 to the API server: the stream was refused or cancelled before it was sent.
  'ERR_HTTP2_GOAWAY_SESSION',
  'ERR_HTTP2_INVALID_SESSION',
  'ERR_HTTP2_STREAM_CANCEL',
]);
const INTERRUPTED_CODES = new Set([
  'ECONNRESET',
  'EPIPE',
  'ECONNABORTED',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'ERR_HTTP2_STREAM_ERROR',
  'ERR_HTTP2_SESSION_ERROR',
]);
const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);

function classify(error: unknown): TransportFailure {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  const message = error instanceof Error ? error.message : String(error);
  const cause = typeof code === 'string' && !message.includes(code) ? `${code}: ${message}` : message;
  if (typeof code === 'string' && NOT_SENT_CODES.has(code)) return new TransportFailure('not-sent', cause);
  if (typeof code === 'string' && INTERRUPTED_CODES.has(code)) return new TransportFailure('interrupted', cause);
  if (typeof code === 'string' && TIMEOUT_CODES.has(code)) return new TransportFailure('timed-out', cause);
  return new TransportFailure('permanent', cause);
}

/** One HTTP exchange with a deadline; the caller's abort wins over everything else. */
async function exchange(
  pool: HttpPool,
  url: string,
  init: { method: HttpMethod; headers: Record<string, string | string[]>; body?: string },
  timeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<PodReply> {
  try {
    const answer = await pool.send(url, { ...init, timeoutMs, ...(signal ? { signal } : {}) });
    return { status: answer.status, body: answer.text.slice(0, MAX_BODY_CHARS) };
  } catch (error) {
    if (signal?.aborted) throw signal.reason;
    if (error instanceof BgswitchError) throw error;
    if (error instanceof DeadlineExceeded) throw new TransportFailure('timed-out', error.message);
    throw classify(error);
  }
}

/** The request's own timeout, never longer than the transport's; whole ms, at least 1 (undici reads 0 as "none"). */
function deadlineOf(req: PodRequest, transportTimeoutMs: number): number {
  return req.timeoutMs === undefined ? transportTimeoutMs : Math.max(1, Math.floor(Math.min(req.timeoutMs, transportTimeoutMs)));
}

const VERB_OF: Record<HttpMethod, string> = { GET: 'get', POST: 'create', PUT: 'update' };

/** The API server's proxy could not dial the pod: the request never reached it. */
const DIAL_FAILURE = /dial tcp|connection refused|no endpoints|does not have a host assigned|address not allowed/i;

export class ProxyTransport implements PodTransport {
  readonly via = 'proxy';
  private connections: Promise<HttpPool> | undefined;

  /** A given dispatcher (tests: an undici MockAgent) is used as is and not closed here. */
  constructor(
    private readonly credentials: ApiServerCredentials,
    private readonly namespace: string,
    private readonly timeoutMs: number,
    dispatcher?: Dispatcher,
  ) {
    if (dispatcher) this.connections = Promise.resolve(dispatcherPool(dispatcher));
  }

  url(pod: PodInfo, port: number, path: string): string {
    const namespace = encodeURIComponent(this.namespace);
    return `${this.credentials.server}/api/v1/namespaces/${namespace}/pods/${encodeURIComponent(pod.name)}:${port}/proxy${path}`;
  }

  private pool(): Promise<HttpPool> {
    this.connections ??= this.credentials.tls().then((tls) => apiServerPool(this.credentials.server, this.credentials.proxyUrl, tls));
    return this.connections;
  }

  async send(req: PodRequest, signal?: AbortSignal): Promise<PodReply> {
    const [pool, auth] = await Promise.all([this.pool(), this.credentials.headers()]);
    const init = { method: req.method, headers: { ...req.headers, ...auth }, ...(req.body !== undefined ? { body: req.body } : {}) };
    let reply: PodReply;
    try {
      reply = await exchange(pool, this.url(req.pod, req.port, req.path), init, deadlineOf(req, this.timeoutMs), signal);
    } catch (error) {
      if (error instanceof TransportFailure)
        throw new TransportFailure(error.kind, `API server ${this.credentials.server}: ${error.message}`);
      throw error;
    }
    return this.fromApiServer(req, reply);
  }

  /** Tells the API server's own answers (a `Status` object) apart from the pod's. */
  private fromApiServer(req: PodRequest, reply: PodReply): PodReply {
    if (reply.status < 400) return reply;
    const status = parseApiStatus(reply.body);
    if (!status) return reply;
    const said = redact(status.message ?? status.reason ?? `HTTP ${reply.status}`);
    if (reply.status === 403) {
      const verb = VERB_OF[req.method];
      throw new ForbiddenError(
        verb,
        'pods/proxy',
        `forbidden: cannot '${verb}' 'pods/proxy' in namespace ${this.namespace} (pod ${req.pod.name})`,
      );
    }
    if (reply.status === 401) {
      throw new RefusedError(
        `credentials rejected by the API server ${this.credentials.server} (401 Unauthorized)`,
        'refresh your credentials, or pick another --kubeconfig/--context',
      );
    }
    if (reply.status === 404 || DIAL_FAILURE.test(said)) {
      throw new TransportFailure('not-sent', `API server proxy answered ${reply.status}: ${said}`);
    }
    throw new TransportFailure('interrupted', `API server proxy answered ${reply.status}: ${said}`);
  }

  async close(): Promise<void> {
    const pool = await this.connections?.catch(() => undefined);
    await pool?.close();
  }
}

export class DirectTransport implements PodTransport {
  readonly via = 'direct';
  /** One pool per proxy (or none), made on first use. */
  private readonly pools = new Map<string, HttpPool>();
  private readonly given: HttpPool | undefined;

  /** A given dispatcher (tests: an undici MockAgent) is used as is and not closed here. */
  constructor(
    private readonly timeoutMs: number,
    dispatcher?: Dispatcher,
    private readonly env: Readonly<Record<string, string | undefined>> = process.env,
  ) {
    if (dispatcher) this.given = dispatcherPool(dispatcher);
  }

  private poolFor(url: string): HttpPool {
    if (this.given) return this.given;
    const proxy = proxyFromEnv(url, this.env);
    let pool = this.pools.get(proxy ?? '');
    if (!pool) {
      pool = httpPool(proxy, {});
      this.pools.set(proxy ?? '', pool);
    }
    return pool;
  }

  url(pod: PodInfo, port: number, path: string): string {
    if (!pod.ip) throw new TransportFailure('permanent', `pod has no IP address (phase ${pod.phase})`);
    const host = pod.ip.includes(':') ? `[${pod.ip}]` : pod.ip;
    return `http://${host}:${port}${path}`;
  }

  async send(req: PodRequest, signal?: AbortSignal): Promise<PodReply> {
    const init = { method: req.method, headers: { ...req.headers }, ...(req.body !== undefined ? { body: req.body } : {}) };
    const url = this.url(req.pod, req.port, req.path);
    return exchange(this.poolFor(url), url, init, deadlineOf(req, this.timeoutMs), signal);
  }

  async close(): Promise<void> {
    await Promise.all([...this.pools.values()].map((pool) => pool.close()));
  }
}
