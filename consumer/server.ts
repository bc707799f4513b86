/**
 * The reference consumer's HTTP API (docs/consumer-contract.md) on node:http, over a ConsumerEngine.
 *
 * Guarantees: exactly the routes, bodies and shapes of the contract; malformed fault bodies get
 * 400 with a JSON error and change nothing; unknown paths 404, known paths with another method 405
 * (with an Allow header); a resume after shutdown began is refused with 503; readiness is DOWN (503)
 * while the engine is not ready, and the aggregate `/actuator/health` follows readiness, as Spring's
 * does (its readiness state is part of the aggregate). Library code: prints nothing; the
 * transition log goes to the `writeLog` the caller passes.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as v from 'valibot';
import { UsageError } from '../src/shared/errors.js';
import type { Fault } from '../src/shared/model.js';
import { check, openRecord } from '../src/shared/validation.js';
import { ConsumerEngine } from './engine.js';
import { ShuttingDownError, type LifecycleEngine } from './lifecycle-engine.js';

export interface ConsumerOptions {
  /** 0 = an ephemeral port. */
  port: number;
  /** Default 0.0.0.0. */
  host?: string;
  podName: string;
  color: string;
  messageIntervalMs?: number;
  batchSize?: number;
  writeLog?: (line: string) => void;
  /** The engine to serve (the Kafka consumer); default: the simulated stream built from the options above. */
  engine?: LifecycleEngine;
}

export interface ConsumerHandle {
  /** Base URL to reach the API, e.g. `http://127.0.0.1:41234` (loopback when listening on all interfaces). */
  url: string;
  port: number;
  engine: LifecycleEngine;
  /** Ends the consumer at once (logs `exit` with its current state), closes the server and the engine's connections. Idempotent. */
  close(): Promise<void>;
}

const MAX_BODY_BYTES = 16 * 1024;

type Method = 'GET' | 'POST' | 'PUT';
interface Reply {
  status: number;
  body: unknown;
}
type Handler = (engine: LifecycleEngine, body: unknown) => Reply;

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** One `PUT /fault/...` route: which body field sets which fault field, and the `type` it answers with. */
interface FaultRoute {
  type: string;
  bodyField: string;
  faultField: keyof Fault;
}

const FAULT_ROUTES: Record<string, FaultRoute> = {
  '/fault/processing-delay': { type: 'processing-delay', bodyField: 'delayMs', faultField: 'processingDelayMs' },
  '/fault/error-rate': { type: 'error-rate', bodyField: 'errorRatePercent', faultField: 'errorRatePercent' },
  '/fault/commit-delay': { type: 'commit-delay', bodyField: 'delayMs', faultField: 'commitDelayMs' },
  '/fault/poll-timeout': { type: 'poll-timeout-exceed', bodyField: 'enabled', faultField: 'pollTimeoutExceed' },
};

function applyFault(route: FaultRoute): Handler {
  const expectedType = route.faultField === 'pollTimeoutExceed' ? 'boolean' : 'number';
  const example = JSON.stringify({ [route.bodyField]: expectedType === 'boolean' ? true : 100 });
  const wrongType = `must be a ${expectedType}`;
  const bodySchema = openRecord({ [route.bodyField]: expectedType === 'boolean' ? v.boolean(wrongType) : v.number(wrongType) });
  return (engine, body) => {
    const parsed = check(bodySchema, body);
    if (!parsed.ok) {
      const problem = parsed.error === 'not a JSON object' ? 'body must be a JSON object' : parsed.error;
      throw new HttpError(400, `${problem}, like ${example}`);
    }
    const applied = engine.setFault({ [route.faultField]: parsed.value[route.bodyField] });
    return { status: 200, body: { type: route.type, [route.bodyField]: applied[route.faultField], status: 'applied' } };
  };
}

function health(up: boolean): Reply {
  return up ? { status: 200, body: { status: 'UP' } } : { status: 503, body: { status: 'DOWN' } };
}

const ROUTES: Record<string, Partial<Record<Method, Handler>>> = {
  '/lifecycle/pause': { POST: (engine) => ({ status: 200, body: engine.pause() }) },
  '/lifecycle/resume': { POST: (engine) => ({ status: 200, body: engine.resume() }) },
  '/lifecycle/status': { GET: (engine) => ({ status: 200, body: engine.status() }) },
  '/fault': { GET: (engine) => ({ status: 200, body: engine.fault() }) },
  '/actuator/health': { GET: (engine) => health(engine.isReady()) },
  '/actuator/health/readiness': { GET: (engine) => health(engine.isReady()) },
  '/actuator/health/liveness': { GET: () => health(true) },
  ...Object.fromEntries(Object.entries(FAULT_ROUTES).map(([path, route]) => [path, { PUT: applyFault(route) }])),
};

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  404: 'Not Found',
  405: 'Method Not Allowed',
  413: 'Payload Too Large',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

export async function startConsumer(options: ConsumerOptions): Promise<ConsumerHandle> {
  const engine = options.engine ?? new ConsumerEngine(options);
  const server = createServer((request, response) => {
    void handle(engine, request, response);
  });
  const host = options.host ?? '0.0.0.0';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  engine.start();
  const { port } = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${urlHost(host)}:${port}`,
    port,
    engine,
    close() {
      closing ??= new Promise<void>((resolve) => {
        engine.stop();
        server.close(() => resolve());
        server.closeAllConnections();
      }).then(() => engine.close());
      return closing;
    },
  };
}

function urlHost(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}

async function handle(engine: LifecycleEngine, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const path = new URL(request.url ?? '/', 'http://consumer').pathname;
  try {
    const handlers = ROUTES[path];
    if (!handlers) throw new HttpError(404, `no route ${path}`);
    // HEAD is answered like GET; node:http leaves the body out.
    const method = request.method === 'HEAD' ? 'GET' : request.method;
    const handler = handlers[method as Method];
    if (!handler) {
      response.setHeader('Allow', Object.keys(handlers).join(', '));
      throw new HttpError(405, `${request.method} is not allowed on ${path}`);
    }
    let body: unknown;
    if (method === 'PUT') body = await readJsonBody(request);
    else request.resume(); // no body expected; discard whatever came
    const reply = handler(engine, body);
    send(response, reply.status, reply.body);
  } catch (error) {
    const status =
      error instanceof HttpError ? error.status : error instanceof UsageError ? 400 : error instanceof ShuttingDownError ? 503 : 500;
    const message = error instanceof Error ? error.message : String(error);
    send(response, status, { status, error: REASONS[status], message, path });
  }
}

/** Reads the whole body (discarding, past the limit, what it will not parse) and parses it as JSON. */
async function readJsonBody(request: IncomingMessage): Promise<unknown> {
  const text = await new Promise<string | undefined>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    request.on('end', () => resolve(size <= MAX_BODY_BYTES ? Buffer.concat(chunks).toString('utf8') : undefined));
    request.on('error', reject);
  });
  if (text === undefined) throw new HttpError(413, `body larger than ${MAX_BODY_BYTES} bytes`);
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new HttpError(400, text.trim() === '' ? 'a JSON body is required' : 'body is not valid JSON');
  }
}

function send(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  response.end(text);
}
