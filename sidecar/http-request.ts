/**
 * The sidecar's HTTP client calls over node:http / node:https. undici would cost the sidecar about
 * 18 MB of RSS for the handful of calls it makes (docs/performance.md), so it is not loaded here.
 * Every request has a deadline; a response is either read whole (`requestText`) or streamed line
 * by line (`requestLines`, for watches).
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

function send(url: URL, call: HttpCall, signal: AbortSignal): Promise<IncomingMessage> {
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...call.headers };
    if (call.body !== undefined) headers['content-length'] = String(Buffer.byteLength(call.body));
    const req = send(url, { method: call.method, headers, agent: call.agent as HttpsAgent, signal }, resolve);
    req.on('error', reject);
    req.end(call.body);
  });
}

function deadline(call: HttpCall): AbortSignal {
  const timeout = AbortSignal.timeout(call.timeoutMs);
  return call.signal ? AbortSignal.any([timeout, call.signal]) : timeout;
}

/** The whole answer as text; throws on a network failure or when the deadline passes first. */
export async function requestText(url: URL, call: HttpCall): Promise<HttpAnswer> {
  const signal = deadline(call);
  const response = await send(url, call, signal);
  response.setEncoding('utf8');
  let text = '';
  for await (const chunk of response as AsyncIterable<string>) text += chunk;
  return { statusCode: response.statusCode ?? 0, text };
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
  const controller = new AbortController();
  const abortFromOutside = (): void => controller.abort(call.signal?.reason);
  if (call.signal?.aborted) abortFromOutside();
  call.signal?.addEventListener('abort', abortFromOutside, { once: true });
  const headersTimer = setTimeout(() => controller.abort(new Error(`no answer within ${call.timeoutMs} ms`)), call.timeoutMs);
  let response: IncomingMessage;
  try {
    response = await send(url, call, controller.signal);
  } catch (error) {
    call.signal?.removeEventListener('abort', abortFromOutside);
    throw error;
  } finally {
    clearTimeout(headersTimer);
  }
  response.setEncoding('utf8');
  const statusCode = response.statusCode ?? 0;
  if (statusCode < 200 || statusCode >= 300) {
    call.signal?.removeEventListener('abort', abortFromOutside);
    let errorText = '';
    for await (const chunk of response as AsyncIterable<string>) errorText += chunk;
    return { statusCode, errorText };
  }
  const done = (): void => call.signal?.removeEventListener('abort', abortFromOutside);
  return { statusCode, lines: linesOf(response, controller, idleTimeoutMs, done) };
}

async function* linesOf(response: IncomingMessage, controller: AbortController, idleTimeoutMs: number, done: () => void): AsyncGenerator<string> {
  const timer = setTimeout(() => controller.abort(new Error(`no data for ${idleTimeoutMs} ms`)), idleTimeoutMs);
  let partial = '';
  try {
    for await (const chunk of response as AsyncIterable<string>) {
      timer.refresh();
      const parts = (partial + chunk).split('\n');
      partial = parts.pop() ?? '';
      for (const line of parts) if (line.trim()) yield line;
    }
    if (partial.trim()) yield partial;
  } finally {
    clearTimeout(timer);
    done();
    response.destroy();
  }
}
