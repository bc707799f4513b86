/**
 * One HTTP exchange at a time over a keep-alive connection pool, for the API server client
 * (src/kube/rest.ts) and the pod transports (src/pods/transport.ts).
 *
 * Without a proxy the pool is node:http / node:https with a keep-alive Agent: undici costs the CLI
 * about 140 ms of start-up to load (docs/performance.md) for a dozen requests. Through a proxy
 * (http(s) CONNECT or SOCKS 5), or with a given undici dispatcher (tests: MockAgent), the pool is
 * undici's, imported only then (./http-undici.ts).
 *
 * Guarantees: every exchange has a deadline; the caller's abort rethrows its reason; the deadline
 * passing throws DeadlineExceeded; anything else is the connection error as raised (its `code`
 * tells refused, reset, TLS...). TLS material is parsed into one SecureContext per pool.
 */
import type { IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { connect as http2Connect, constants as http2, type ClientHttp2Session } from 'node:http2';
import { isIP } from 'node:net';
import { connect as tlsConnect, createSecureContext, type SecureContext } from 'node:tls';
import type { Dispatcher } from 'undici';
import type { ApiServerTls } from './credentials.js';

/**
 * Not `import ... from 'node:http'`: on Node >= 22 that ES-module import reads every export,
 * including the lazy WebSocket/EventSource getters that load Node's own copy of undici (~10 ms of
 * every command's start-up); the built-in module as CommonJS sees them only when used.
 */
const { Agent: HttpAgent, request: httpRequest } = process.getBuiltinModule('node:http');

export type HttpMethod = 'GET' | 'POST' | 'PUT';

export interface HttpExchange {
  method: HttpMethod;
  headers: Record<string, string | string[]>;
  body?: string;
  timeoutMs: number;
  signal?: AbortSignal;
}

export interface HttpAnswer {
  status: number;
  text: string;
}

export interface HttpPool {
  send(url: string, exchange: HttpExchange): Promise<HttpAnswer>;
  close(): Promise<void>;
}

/** No whole answer within the exchange's deadline. */
export class DeadlineExceeded extends Error {
  readonly code = 'ETIMEDOUT';
  constructor(timeoutMs: number) {
    super(`no answer within ${timeoutMs} ms`);
    this.name = 'DeadlineExceeded';
  }
}

/**
 * The API server's pool: HTTP/2 (one TLS connection carries every concurrent call, as kubectl
 * does) when the server offers it and no proxy is in the way, else as httpPool.
 */
export function apiServerPool(server: string, proxyUrl: string | undefined, tls: ApiServerTls): HttpPool {
  return proxyUrl || !server.startsWith('https:') ? httpPool(proxyUrl, tls) : new Http2Pool(server, tls);
}

/** A keep-alive pool that connects through `proxyUrl` (http(s) or SOCKS 5) when given, else directly. */
export function httpPool(proxyUrl: string | undefined, tls: ApiServerTls): HttpPool {
  if (proxyUrl)
    return lazyUndiciPool(
      import('./http-undici.js').then(({ proxyDispatcher }) => proxyDispatcher(proxyUrl, tls)),
      true,
    );
  return new NodePool(sharedContext(tls));
}

/** A pool over a given undici dispatcher (tests: MockAgent), used as is and not closed here. */
export function dispatcherPool(dispatcher: Dispatcher): HttpPool {
  return lazyUndiciPool(Promise.resolve(dispatcher), false);
}

function lazyUndiciPool(dispatcher: Promise<Dispatcher>, owned: boolean): HttpPool {
  const pool = import('./http-undici.js').then(({ UndiciPool }) => dispatcher.then((it) => new UndiciPool(it, owned)));
  return {
    send: async (url, exchange) => (await pool).send(url, exchange),
    close: async () => (await pool.catch(() => undefined))?.close(),
  };
}

/**
 * CA, certificate and key as one SecureContext made once: given as plain options, every new TLS
 * connection (one per concurrent call) would parse them into a context of its own.
 */
export function sharedContext(tls: ApiServerTls): { secureContext?: SecureContext; rejectUnauthorized?: boolean; servername?: string } {
  const { ca, cert, key, ...rest } = tls;
  if (ca === undefined && cert === undefined && key === undefined) return rest;
  return { ...rest, secureContext: createSecureContext({ ca, cert, key }) };
}

/** Settles with the caller's reason, DeadlineExceeded, or `work`'s own outcome, whichever comes first. */
export async function withDeadline<T>(
  exchange: Pick<HttpExchange, 'timeoutMs' | 'signal'>,
  work: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  exchange.signal?.throwIfAborted();
  const controller = new AbortController();
  const deadline = new DeadlineExceeded(exchange.timeoutMs);
  const timer = setTimeout(() => controller.abort(deadline), exchange.timeoutMs);
  const follow = (): void => controller.abort(exchange.signal?.reason);
  exchange.signal?.addEventListener('abort', follow, { once: true });
  try {
    return await work(controller.signal);
  } catch (error) {
    if (exchange.signal?.aborted) throw exchange.signal.reason;
    if (controller.signal.aborted) throw deadline;
    throw error;
  } finally {
    clearTimeout(timer);
    exchange.signal?.removeEventListener('abort', follow);
  }
}

class NodePool implements HttpPool {
  private readonly http = new HttpAgent({ keepAlive: true, scheduling: 'lifo' });
  private readonly https: HttpsAgent;

  constructor(context: ReturnType<typeof sharedContext>) {
    this.https = new HttpsAgent({ keepAlive: true, scheduling: 'lifo', ...context });
  }

  send(url: string, exchange: HttpExchange): Promise<HttpAnswer> {
    return withDeadline(exchange, (signal) => this.exchange(new URL(url), exchange, signal));
  }

  private async exchange(url: URL, exchange: HttpExchange, signal: AbortSignal): Promise<HttpAnswer> {
    const secure = url.protocol === 'https:';
    const headers: Record<string, string | string[]> = { ...exchange.headers };
    if (exchange.body !== undefined) headers['content-length'] = String(Buffer.byteLength(exchange.body));
    const response = await new Promise<IncomingMessage>((resolve, reject) => {
      const options = { method: exchange.method, headers, signal, agent: secure ? this.https : this.http };
      const req = (secure ? httpsRequest : httpRequest)(url, options, resolve);
      req.on('error', reject);
      req.end(exchange.body);
    });
    response.setEncoding('utf8');
    let text = '';
    for await (const chunk of response as AsyncIterable<string>) text += chunk;
    return { status: response.statusCode ?? 0, text };
  }

  async close(): Promise<void> {
    this.http.destroy();
    this.https.destroy();
  }
}

/**
 * One HTTP/2 session to the server, opened on first use with ALPN offering h2 and http/1.1: a
 * server that picks http/1.1 is then spoken to through a NodePool from then on. A session that
 * closes (GOAWAY, a broken connection) is replaced on the next call.
 */
class Http2Pool implements HttpPool {
  private readonly context: ReturnType<typeof sharedContext>;
  private session: Promise<ClientHttp2Session | NodePool> | undefined;
  private readonly fallback: NodePool;

  constructor(
    private readonly server: string,
    tls: ApiServerTls,
  ) {
    this.context = sharedContext(tls);
    // The same SecureContext: making one is OpenSSL work (~1 ms, ~20 ms for the first in a process).
    this.fallback = new NodePool(this.context);
  }

  send(url: string, exchange: HttpExchange): Promise<HttpAnswer> {
    return withDeadline(exchange, async (signal) => {
      const session = await this.connected(signal);
      if (session instanceof NodePool) return session.send(url, { ...exchange, signal });
      return exchangeOver(session, new URL(url), exchange, signal);
    });
  }

  /** A connection attempt that outlives the deadline of the call that started it is given up. */
  private connected(signal: AbortSignal): Promise<ClientHttp2Session | NodePool> {
    this.session ??= new Promise<ClientHttp2Session | NodePool>((resolve, reject) => {
      const origin = new URL(this.server);
      const host = origin.hostname.replace(/^\[|\]$/g, '');
      const socket = tlsConnect({
        host,
        port: Number(origin.port || 443),
        ...(isIP(host) ? {} : { servername: host }),
        ...this.context,
        ALPNProtocols: ['h2', 'http/1.1'],
      });
      const giveUp = () => socket.destroy(signal.reason instanceof Error ? signal.reason : new Error(String(signal.reason)));
      signal.addEventListener('abort', giveUp, { once: true });
      socket.once('error', (error) => {
        this.session = undefined;
        reject(error);
      });
      socket.once('secureConnect', () => {
        signal.removeEventListener('abort', giveUp);
        if (socket.alpnProtocol !== 'h2') {
          socket.destroy();
          resolve(this.fallback);
          return;
        }
        const session = http2Connect(origin.origin, { createConnection: () => socket });
        const forget = () => {
          if (this.session === current) this.session = undefined;
        };
        session.on('error', forget);
        session.once('close', forget);
        session.once('goaway', forget);
        // Idle sessions must not keep the process alive (the CLI exits when its work is done).
        session.unref();
        resolve(session);
      });
    });
    const current = this.session;
    return current;
  }

  async close(): Promise<void> {
    const session = await this.session?.catch(() => undefined);
    this.session = undefined;
    if (session && !(session instanceof NodePool)) session.close();
    await this.fallback.close();
  }
}

function exchangeOver(session: ClientHttp2Session, url: URL, exchange: HttpExchange, signal: AbortSignal): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | string[]> = {
      ...exchange.headers,
      [http2.HTTP2_HEADER_METHOD]: exchange.method,
      [http2.HTTP2_HEADER_PATH]: `${url.pathname}${url.search}`,
    };
    if (exchange.body !== undefined) headers['content-length'] = String(Buffer.byteLength(exchange.body));
    const stream = session.request(headers, { signal, endStream: exchange.body === undefined });
    let status = 0;
    let text = '';
    stream.setEncoding('utf8');
    stream.on('response', (response) => (status = Number(response[http2.HTTP2_HEADER_STATUS] ?? 0)));
    stream.on('data', (chunk: string) => (text += chunk));
    stream.once('end', () => resolve({ status, text }));
    stream.once('error', reject);
    if (exchange.body !== undefined) stream.end(exchange.body);
  });
}
