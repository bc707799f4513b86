/**
 * The only API server requests the sidecar makes, on its one ConfigMap: get, list (by field
 * selector, for a resourceVersion to watch from) and watch. In-cluster credentials: the address
 * from KUBERNETES_SERVICE_HOST/PORT, the service account's CA file, and its token, which is read
 * again for every request (the kubelet rotates the projected token file; requests are few). One
 * keep-alive agent, so a confirmation GET reuses the TLS connection.
 * Not supported: anything but bearer-token auth (a sidecar has nothing else).
 */
import { readFile } from 'node:fs/promises';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { requestLines, requestText } from './http-request.js';

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface ApiEndpoint {
  /** `https://host:port` in a cluster; plain http only in tests on loopback. */
  baseUrl: string;
  /** PEM of the CA that signed the API server's certificate. */
  ca?: string;
  /** File holding the bearer token; re-read on every request. Absent: no Authorization header. */
  tokenFile?: string;
}

/** The endpoint a pod is given: KUBERNETES_SERVICE_HOST/PORT and the mounted service account. */
export async function inClusterEndpoint(
  env: Readonly<Record<string, string | undefined>>,
  dir = SERVICE_ACCOUNT_DIR,
): Promise<ApiEndpoint | undefined> {
  const host = env['KUBERNETES_SERVICE_HOST'];
  if (!host) return undefined;
  const port = env['KUBERNETES_SERVICE_PORT'] || '443';
  const ca = await readFile(`${dir}/ca.crt`, 'utf8').catch(() => undefined);
  const endpoint: ApiEndpoint = { baseUrl: `https://${host.includes(':') ? `[${host}]` : host}:${port}`, tokenFile: `${dir}/token` };
  if (ca !== undefined) endpoint.ca = ca;
  return endpoint;
}

/** A failed API request; `statusCode` is the HTTP status (or the watch ERROR event's code). */
export class ApiRequestError extends Error {
  constructor(
    message: string,
    readonly statusCode?: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'ApiRequestError';
  }
}

/** What the sidecar takes from one version of its ConfigMap: `{}` for both when it does not exist. */
export interface ConfigMapContent {
  data: Readonly<Record<string, string>>;
  annotations: Readonly<Record<string, string>>;
}

export interface ConfigMapState {
  /** undefined: the ConfigMap does not exist. */
  content: ConfigMapContent | undefined;
  resourceVersion: string;
}

export type WatchEvent =
  | { type: 'ADDED' | 'MODIFIED' | 'DELETED'; content: ConfigMapContent; resourceVersion: string }
  | { type: 'BOOKMARK'; resourceVersion: string };

export interface WatchHandlers {
  /** The server accepted the watch (HTTP 200). */
  opened(): void;
  /** Every event, in order; awaited before the next. */
  event(event: WatchEvent): Promise<void> | void;
}

interface ObjectMeta {
  metadata?: { resourceVersion?: string; annotations?: Record<string, string> };
  data?: Record<string, string>;
}

/** The content of a ConfigMap that does not exist. */
export const ABSENT_CONFIGMAP: ConfigMapContent = Object.freeze({ data: Object.freeze({}), annotations: Object.freeze({}) });

function contentOf(object: ObjectMeta | undefined): ConfigMapContent {
  return { data: object?.data ?? {}, annotations: object?.metadata?.annotations ?? {} };
}

function describeFailure(what: string, statusCode: number, text: string): ApiRequestError {
  let message = text.slice(0, 200);
  try {
    const status = JSON.parse(text) as { message?: unknown };
    if (typeof status.message === 'string') message = status.message;
  } catch {
    // not a Status object: keep the text
  }
  return new ApiRequestError(`${what}: HTTP ${statusCode}${message ? ` ${message}` : ''}`, statusCode);
}

function parseJson(what: string, text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new ApiRequestError(`${what}: the API server answered non-JSON: ${text.slice(0, 200)}`);
  }
}

export class ConfigMapApi {
  private readonly agent: HttpAgent | HttpsAgent;
  private readonly collection: string;
  readonly what: string;

  constructor(
    private readonly endpoint: ApiEndpoint,
    namespace: string,
    private readonly name: string,
    private readonly timeoutMs: number,
  ) {
    const https = endpoint.baseUrl.startsWith('https:');
    this.agent = https
      ? new HttpsAgent({ keepAlive: true, ...(endpoint.ca ? { ca: endpoint.ca } : {}) })
      : new HttpAgent({ keepAlive: true });
    this.collection = `/api/v1/namespaces/${encodeURIComponent(namespace)}/configmaps`;
    this.what = `ConfigMap ${namespace}/${name}`;
  }

  /** The ConfigMap's data; `{}` when it does not exist. */
  async read(): Promise<Record<string, string>> {
    const url = new URL(`${this.collection}/${encodeURIComponent(this.name)}`, this.endpoint.baseUrl);
    const answer = await this.call(`reading ${this.what}`, () => this.get(url));
    if (answer.statusCode === 404) return {};
    if (answer.statusCode !== 200) throw describeFailure(`reading ${this.what}`, answer.statusCode, answer.text);
    return (parseJson(`reading ${this.what}`, answer.text) as ObjectMeta).data ?? {};
  }

  /** The ConfigMap (if any) and the list's resourceVersion, to watch from. */
  async list(): Promise<ConfigMapState> {
    const url = this.selectorUrl({});
    const what = `listing ${this.what}`;
    const answer = await this.call(what, () => this.get(url));
    if (answer.statusCode !== 200) throw describeFailure(what, answer.statusCode, answer.text);
    const list = parseJson(what, answer.text) as { metadata?: { resourceVersion?: string }; items?: ObjectMeta[] };
    const resourceVersion = list.metadata?.resourceVersion;
    if (!resourceVersion) throw new ApiRequestError(`${what}: the answer has no resourceVersion`);
    const item = list.items?.[0];
    return { content: item ? contentOf(item) : undefined, resourceVersion };
  }

  /**
   * Watches from `resourceVersion` until the server ends the watch (after `timeoutSeconds`) or it
   * fails; every event is handed to `handlers.event` in order. Throws ApiRequestError 410 when that
   * resourceVersion is too old (the caller lists again), and on any other failure.
   */
  async watch(resourceVersion: string, timeoutSeconds: number, handlers: WatchHandlers, signal: AbortSignal): Promise<void> {
    const what = `watching ${this.what}`;
    const url = this.selectorUrl({ watch: '1', resourceVersion, allowWatchBookmarks: 'true', timeoutSeconds: String(timeoutSeconds) });
    // The server ends the watch after timeoutSeconds; silence well past that means a dead connection.
    const idleTimeoutMs = (timeoutSeconds + 30) * 1000;
    const stream = await this.call(what, async () =>
      requestLines(
        url,
        { method: 'GET', headers: await this.headers(), agent: this.agent, timeoutMs: this.timeoutMs, signal },
        idleTimeoutMs,
      ),
    );
    if (!stream.lines) throw describeFailure(what, stream.statusCode, stream.errorText ?? '');
    handlers.opened();
    try {
      for await (const line of stream.lines) await handlers.event(this.event(what, line));
    } catch (error) {
      if (error instanceof ApiRequestError || signal.aborted) throw error;
      throw new ApiRequestError(`${what}: ${(error as Error).message}`, undefined, { cause: error });
    }
  }

  close(): void {
    this.agent.destroy();
  }

  private event(what: string, line: string): WatchEvent {
    const { type, object } = parseJson(what, line) as { type?: unknown; object?: ObjectMeta & { code?: unknown; message?: unknown } };
    if (type === 'ERROR') {
      const code = typeof object?.code === 'number' ? object.code : undefined;
      throw new ApiRequestError(`${what}: ${typeof object?.message === 'string' ? object.message : 'ERROR event'}`, code);
    }
    const resourceVersion = object?.metadata?.resourceVersion;
    if (!resourceVersion) throw new ApiRequestError(`${what}: a ${String(type)} event without resourceVersion`);
    if (type === 'BOOKMARK') return { type, resourceVersion };
    if (type === 'ADDED' || type === 'MODIFIED') return { type, content: contentOf(object), resourceVersion };
    if (type === 'DELETED') return { type, content: ABSENT_CONFIGMAP, resourceVersion };
    throw new ApiRequestError(`${what}: unknown event type ${JSON.stringify(type)}`);
  }

  private selectorUrl(params: Record<string, string>): URL {
    const url = new URL(this.collection, this.endpoint.baseUrl);
    url.searchParams.set('fieldSelector', `metadata.name=${this.name}`);
    for (const [key, value] of Object.entries(params)) url.searchParams.set(key, value);
    return url;
  }

  private async get(url: URL) {
    return requestText(url, { method: 'GET', headers: await this.headers(), agent: this.agent, timeoutMs: this.timeoutMs });
  }

  private async headers(): Promise<Record<string, string>> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.endpoint.tokenFile) {
      const token = (await readFile(this.endpoint.tokenFile, 'utf8').catch(() => '')).trim();
      if (token) headers['authorization'] = `Bearer ${token}`;
    }
    return headers;
  }

  private async call<T>(what: string, action: () => Promise<T>): Promise<T> {
    try {
      return await action();
    } catch (error) {
      if (error instanceof ApiRequestError) throw error;
      throw new ApiRequestError(`${what}: ${(error as Error).message}`, undefined, { cause: error });
    }
  }
}
