/**
 * The sidecar's HTTP client calls over node:http / node:https. undici would cost the sidecar about
 * 18 MB of RSS for the handful of calls it makes (docs/performance.md), so it is not loaded here.
 * Every request has a deadline; a response is either read whole (`requestText`) or streamed line
 * by line (`requestLines`, for watches).
 *
 * The deadline is a timer cleared as soon as the request settles (not `AbortSignal.timeout`, whose
 * timer would keep every finished request reachable for the whole timeout, long enough for V8 to
 * move it to the old generation: the heap then grew by a few MiB a minute between full GCs).
 */
import { request as httpRequest, type Agent as HttpAgent, type IncomingMessage } from 'node:http';
import { request as httpsRequest, type Agent as HttpsAgent } from 'node:https';

export interface HttpCall {
  method: 'GET' | 'POST' | 'PUT';
  headers?: Record<string, string>;
  body?: string;
  agent: HttpAgent | HttpsAgent;
  /** Whole-request deadline for requestText; for requestLines, until the response headers. */
  timeoutMs: number;
  signal?: AbortSignal;
}

export interface HttpAnswer {
  statusCode: number;
  text: string;
}

/** An abort controller that follows `outer` and can be armed with a deadline; release() detaches both. */
class Deadline {
  readonly controller = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private readonly abortFromOutside = (): void => this.controller.abort(this.outer?.reason);

  constructor(private readonly outer: AbortSignal | undefined) {
    if (outer?.aborted) this.abortFromOutside();
    outer?.addEventListener('abort', this.abortFromOutside, { once: true });
  }

  arm(ms: number, message: string): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.controller.abort(new Error(message)), ms);
  }

  release(): void {
    clearTimeout(this.timer);
    this.outer?.removeEventListener('abort', this.abortFromOutside);
  }
}

function send(url: URL, call: HttpCall, signal: AbortSignal): Promise<IncomingMessage> {
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...call.headers };
    if (call.body !== undefined) headers['content-length'] = String(Buffer.byteLength(call.body));
    const req = send(url, { method: call.method, headers, agent: call.agent as HttpsAgent, signal }, resolve);
    // An abort surfaces as a generic AbortError: report why (the deadline, or the caller's reason).
    req.on('error', (error) => reject(signal.aborted && signal.reason instanceof Error ? signal.reason : error));
    req.end(call.body);
  });
}

async function readAll(response: IncomingMessage, signal: AbortSignal): Promise<string> {
  response.setEncoding('utf8');
  let text = '';
  try {
    for await (const chunk of response as AsyncIterable<string>) text += chunk;
  } catch (error) {
    throw signal.aborted && signal.reason instanceof Error ? signal.reason : error;
  }
  return text;
}

/** The whole answer as text; throws on a network failure or when the deadline passes first. */
export async function requestText(url: URL, call: HttpCall): Promise<HttpAnswer> {
  const deadline = new Deadline(call.signal);
  deadline.arm(call.timeoutMs, `no whole answer within ${call.timeoutMs} ms`);
  try {
    const response = await send(url, call, deadline.controller.signal);
    return { statusCode: response.statusCode ?? 0, text: await readAll(response, deadline.controller.signal) };
  } finally {
    deadline.release();
  }
}

export interface LineStream {
  statusCode: number;
  /** The body of a non-2xx answer (read whole), else undefined. */
  errorText?: string;
  /** Every line of a 2xx body until the server ends it; throws on a network failure or abort. */
  lines?: AsyncIterable<string>;
}

/**
 * Starts a streaming request. `idleTimeoutMs` aborts a stream that stays silent that long (a
 * connection that died without a FIN); `call.signal` aborts it from outside.
 */
export async function requestLines(url: URL, call: HttpCall, idleTimeoutMs: number): Promise<LineStream> {
  const deadline = new Deadline(call.signal);
  const signal = deadline.controller.signal;
  deadline.arm(call.timeoutMs, `no answer within ${call.timeoutMs} ms`);
  let response: IncomingMessage;
  try {
    response = await send(url, call, signal);
  } catch (error) {
    deadline.release();
    throw error;
  }
  const statusCode = response.statusCode ?? 0;
  if (statusCode < 200 || statusCode >= 300) {
    try {
      return { statusCode, errorText: await readAll(response, signal) };
    } finally {
      deadline.release();
    }
  }
  return { statusCode, lines: linesOf(response, deadline, idleTimeoutMs) };
}

async function* linesOf(response: IncomingMessage, deadline: Deadline, idleTimeoutMs: number): AsyncGenerator<string> {
  response.setEncoding('utf8');
  const silence = `no data for ${idleTimeoutMs} ms`;
  deadline.arm(idleTimeoutMs, silence);
  let partial = '';
  try {
    for await (const chunk of response as AsyncIterable<string>) {
      deadline.arm(idleTimeoutMs, silence);
      const parts = (partial + chunk).split('\n');
      partial = parts.pop() ?? '';
      for (const line of parts) if (line.trim()) yield line;
    }
    if (partial.trim()) yield partial;
  } catch (error) {
    const signal = deadline.controller.signal;
    throw signal.aborted && signal.reason instanceof Error ? signal.reason : error;
  } finally {
    deadline.release();
    response.destroy();
  }
}
