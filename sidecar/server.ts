/**
 * The sidecar's HTTP surface on node:http: `POST /desired-state` (L2 push), `GET /status`,
 * `/healthz`, `/readyz`, `/metrics`. It counts in-flight requests so shutdown can wait for them.
 * The push key is re-read from its file on every push (a Secret created later is picked up);
 * neither the key nor a signature is ever logged or echoed.
 */
import { errorMessage } from '../src/shared/errors.js';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Clock } from '../src/shared/clock.js';
import { MAX_PUSH_BODY_BYTES, SIGNATURE_HEADER, TIMESTAMP_HEADER, pushKeyFromText } from '../src/shared/push-signature.js';
import type { Logger } from './log.js';
import type { SidecarMetrics } from './metrics.js';
import { evaluatePush } from './push.js';
import type { Reconciler } from './reconciler.js';

export interface ProcessHealth {
  shuttingDown(): boolean;
  /** The first reconcile has finished. */
  reconciled(): boolean;
  /** Undefined when healthy, else why not (e.g. the loop is stuck). */
  unhealthyReason(): string | undefined;
}

export interface SidecarServerOptions {
  podName: string;
  pushKeyFile: string;
  reconciler: Reconciler;
  metrics: SidecarMetrics;
  health: ProcessHealth;
  clock: Clock;
  log: Logger;
}

export interface SidecarServer {
  server: Server;
  /** Resolves when no request is in flight. */
  drained(): Promise<void>;
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

/** A probe answer: 200 UP, or 503 DOWN with the reason. */
function sendProbe(res: ServerResponse, downReason: string | undefined): void {
  sendJson(res, downReason ? 503 : 200, downReason ? { status: 'DOWN', reason: downReason } : { status: 'UP' });
}

/** The body as text, or undefined once it exceeds `limit` bytes. */
async function readBody(req: IncomingMessage, limit: number): Promise<string | undefined> {
  if (Number(req.headers['content-length'] ?? 0) > limit) return undefined;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

export function createSidecarServer(options: SidecarServerOptions): SidecarServer {
  const { reconciler, metrics, health, log } = options;
  let inFlight = 0;
  let waiters: (() => void)[] = [];

  async function loadKey(): Promise<Buffer | undefined> {
    try {
      return pushKeyFromText(await readFile(options.pushKeyFile, 'utf8'));
    } catch (error) {
      log.error('cannot read the push key; refusing pushes until it exists (create it with `bgswitch init`)', {
        keyFile: options.pushKeyFile,
        error: errorMessage(error),
      });
      return undefined;
    }
  }

  /** For `/status`: whether the key file is there and readable, without logging on every status call. */
  async function keyMounted(): Promise<boolean> {
    try {
      pushKeyFromText(await readFile(options.pushKeyFile, 'utf8'));
      return true;
    } catch {
      return false;
    }
  }

  async function handlePush(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (health.shuttingDown()) {
      metrics.pushRejected('shutting_down');
      sendJson(res, 503, { error: 'sidecar is shutting down' });
      return;
    }
    const body = await readBody(req, MAX_PUSH_BODY_BYTES);
    if (body === undefined) {
      metrics.pushRejected('too_large');
      log.warn('push refused', { status: 413, reason: 'too_large' });
      sendJson(res, 413, { error: `body exceeds ${MAX_PUSH_BODY_BYTES} bytes` }, { connection: 'close' });
      return;
    }
    const key = await loadKey();
    const verdict = evaluatePush({
      body,
      timestamp: header(req, TIMESTAMP_HEADER),
      signature: header(req, SIGNATURE_HEADER),
      key,
      myPod: options.podName,
      nowMs: options.clock.now(),
    });
    if (!verdict.ok) {
      metrics.pushRejected(verdict.reason);
      log.warn('push refused', { status: verdict.status, reason: verdict.reason, detail: verdict.message, keyFile: options.pushKeyFile });
      sendJson(res, verdict.status, { error: verdict.message, reason: verdict.reason });
      return;
    }
    const outcome = await reconciler.acceptPush(verdict.entry);
    if (!outcome.accepted) {
      metrics.pushRejected('stale_generation');
      log.warn('push refused', {
        status: 409,
        reason: 'stale_generation',
        generation: verdict.entry.generation,
        highestGeneration: outcome.highestGeneration,
      });
      sendJson(res, 409, {
        error: `generation ${verdict.entry.generation} is older than ${outcome.highestGeneration}, the highest this sidecar has seen`,
        highestGeneration: outcome.highestGeneration,
      });
      return;
    }
    log.info('push accepted', { generation: verdict.entry.generation, lifecycle: verdict.entry.lifecycle, fault: verdict.entry.fault });
    sendJson(res, 200, outcome.status);
  }

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://sidecar').pathname;
    const method = req.method ?? 'GET';
    const routes: Record<string, [string, () => Promise<void> | void]> = {
      '/desired-state': ['POST', () => handlePush(req, res)],
      '/status': ['GET', async () => sendJson(res, 200, { ...reconciler.status(), pushKeyMounted: await keyMounted() })],
      '/healthz': ['GET', () => sendProbe(res, health.unhealthyReason())],
      '/readyz': [
        'GET',
        () => sendProbe(res, health.shuttingDown() ? 'shutting down' : health.reconciled() ? undefined : 'first reconcile not finished'),
      ],
      '/metrics': [
        'GET',
        async () => {
          const text = await metrics.registry.metrics();
          res.writeHead(200, { 'content-type': metrics.registry.contentType });
          res.end(text);
        },
      ],
    };
    const match = routes[path];
    if (!match) return sendJson(res, 404, { error: `no route ${path}` });
    if (match[0] !== method && !(match[0] === 'GET' && method === 'HEAD')) {
      return sendJson(res, 405, { error: `${path} accepts ${match[0]} only` }, { allow: match[0] });
    }
    await match[1]();
  }

  const server = createServer((req, res) => {
    inFlight++;
    route(req, res)
      .catch((error: unknown) => {
        log.error('request failed', { path: req.url, error: errorMessage(error) });
        if (!res.headersSent) sendJson(res, 500, { error: 'internal error' });
        else res.destroy();
      })
      .finally(() => {
        inFlight--;
        if (inFlight === 0) {
          for (const wake of waiters) wake();
          waiters = [];
        }
      });
  });

  return {
    server,
    drained: () => (inFlight === 0 ? Promise.resolve() : new Promise<void>((resolve) => waiters.push(resolve))),
  };
}
