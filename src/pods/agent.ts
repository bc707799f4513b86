/**
 * The PodAgent port over HTTP (src/kube/http.ts): the consumer's lifecycle and fault API (L1) and the sidecar's
 * signed desired-state push and status (L2), through the API server's pod proxy or directly.
 *
 * Guarantees: every failure is a PodUnreachableError naming the pod, the call and the cause (HTTP
 * status and a short body, or the connection error) — except the API server refusing the proxy
 * (ForbiddenError naming `pods/proxy` and the verb; RefusedError for rejected credentials) and the
 * caller's abort (its reason is rethrown). Answers are shape-checked before they are believed.
 * Retries (p-retry, with backoff) only where safe: a request that certainly never left is resent;
 * one that may have arrived is resent only for idempotent calls (GET, PUT, pause/resume); a push,
 * which is not, is never resent after an ambiguous failure. Timeouts are not retried. A lifecycle
 * call given a timeout (the switch's lock bound) sends nothing after it, resends included.
 */
import pRetry from 'p-retry';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Dispatcher } from 'undici';
import { NoPushKeyError } from '../core/errors.js';
import { PodUnreachableError } from '../shared/errors.js';
import type { Clock } from '../shared/clock.js';
import { DEFAULT_LIFECYCLE_PORT, DEFAULT_REQUEST_TIMEOUT_MS, DEFAULT_SIDECAR_PORT } from '../shared/defaults.js';
import type { LifecycleChange, LifecycleStatus, SidecarStatus } from '../shared/pod-api.js';
import type { PermissionCheck, PodAgent, PodInfo } from '../core/ports.js';
import type { ParseResult } from '../shared/validation.js';
import type { DesiredEntry, Fault } from '../shared/model.js';
import { signPush } from '../shared/push-signature.js';
import { apiServerCredentials, type ApiServerCredentials } from '../kube/credentials.js';
import { redact } from '../kube/errors.js';
import {
  parseFaultApplied,
  parseFaultReport,
  parseHealthStatus,
  parseLifecycleChange,
  parseLifecycleStatus,
  parseSidecarStatus,
} from './responses.js';
import {
  DirectTransport,
  ProxyTransport,
  TransportFailure,
  type HttpMethod,
  type PodReply,
  type PodTransport,
  type Via,
} from './transport.js';

export interface RetryPolicy {
  /** Resends after the first attempt. */
  retries: number;
  /** Delay before the first resend; doubles after each. */
  minTimeoutMs: number;
}

const DEFAULT_RETRY: RetryPolicy = { retries: 2, minTimeoutMs: 100 };

export interface PodAgentOptions {
  /** `auto`: direct when running inside a cluster (KUBERNETES_SERVICE_HOST is set), else proxy. */
  via: Via | 'auto';
  /** For `proxy`: how to reach the API server; a client-node KubeConfig (the lab, tests) or the CLI's credentials. */
  kubeConfig?: KubeConfig;
  credentials?: ApiServerCredentials;
  namespace: string;
  lifecyclePort?: number;
  sidecarPort?: number;
  /** Read once, on the first push. */
  pushKey: () => Promise<Buffer>;
  /** Per HTTP attempt, connection included. */
  timeoutMs?: number;
  clock: Pick<Clock, 'now'>;
  retry?: Partial<RetryPolicy>;
  /** Defaults to process.env; KUBERNETES_SERVICE_HOST and, for direct calls, HTTP_PROXY/NO_PROXY are read. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Tests only: an undici MockAgent in place of real connections. */
  dispatcher?: Dispatcher;
}

/** A PodAgent that owns connections: close it when done. */
export interface PodClient extends PodAgent {
  readonly via: Via;
  close(): Promise<void>;
}

/** The sidecar refused a push; `status` tells why (401 signature, 409 stale generation, 4xx malformed). */
export class PushRejectedError extends PodUnreachableError {
  constructor(
    pod: string,
    readonly status: number,
    message: string,
  ) {
    super(pod, message);
  }
}

export function resolveVia(via: Via | 'auto', env: Readonly<Record<string, string | undefined>>): Via {
  if (via !== 'auto') return via;
  return env['KUBERNETES_SERVICE_HOST'] ? 'direct' : 'proxy';
}

function proxyCredentials(options: PodAgentOptions): ApiServerCredentials {
  if (options.credentials) return options.credentials;
  if (options.kubeConfig) return apiServerCredentials(options.kubeConfig);
  throw new Error('createPodAgent: --via proxy needs the API server credentials or a KubeConfig');
}

export function createPodAgent(options: PodAgentOptions): PodClient {
  const timeoutMs = options.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const via = resolveVia(options.via, options.env ?? process.env);
  const transport =
    via === 'proxy'
      ? new ProxyTransport(proxyCredentials(options), options.namespace, timeoutMs, options.dispatcher)
      : new DirectTransport(timeoutMs, options.dispatcher, options.env);
  return new HttpPodAgent(transport, {
    lifecyclePort: options.lifecyclePort ?? DEFAULT_LIFECYCLE_PORT,
    sidecarPort: options.sidecarPort ?? DEFAULT_SIDECAR_PORT,
    pushKey: options.pushKey,
    clock: options.clock,
    retry: { ...DEFAULT_RETRY, ...options.retry },
  });
}

interface Call {
  pod: PodInfo;
  port: number;
  method: HttpMethod;
  path: string;
  body?: string;
  /** Built per attempt, so a resent push carries a fresh signature timestamp. */
  headers?: () => Record<string, string>;
  idempotent: boolean;
}

const SHORT_BODY = 200;

function shortBody(body: string): string {
  const flat = body.replace(/\s+/g, ' ').trim();
  return flat === '' ? '(empty body)' : redact(flat.slice(0, SHORT_BODY));
}

function label(call: Call): string {
  return `${call.method} ${call.path}`;
}

function jsonBody(value: unknown): { body: string; headers: () => Record<string, string> } {
  return { body: JSON.stringify(value), headers: () => ({ 'content-type': 'application/json' }) };
}

/** Through the pod proxy: GET (status, fault), POST (pause, resume, push) and PUT (faults). */
const PROXY_PERMISSIONS: PermissionCheck[] = ['get', 'create', 'update'].map((verb) => ({ verb, resource: 'pods/proxy' }));

class HttpPodAgent implements PodClient {
  readonly via: Via;
  readonly permissions: PermissionCheck[];
  private key: Promise<Buffer> | undefined;

  constructor(
    private readonly transport: PodTransport,
    private readonly settings: {
      lifecyclePort: number;
      sidecarPort: number;
      pushKey: () => Promise<Buffer>;
      clock: Pick<Clock, 'now'>;
      retry: RetryPolicy;
    },
  ) {
    this.via = transport.via;
    this.permissions = transport.via === 'proxy' ? PROXY_PERMISSIONS : [];
  }

  private failure(call: Call, cause: string): PodUnreachableError {
    return new PodUnreachableError(call.pod.name, `pod ${call.pod.name}: ${label(call)} failed: ${cause}`);
  }

  /**
   * Sends with retries where safe; any HTTP status is returned, transport failures are mapped.
   * With `timeoutMs` the whole call, resends included, ends by then: each attempt gets what is
   * left, and none is sent once nothing is.
   */
  private async send(call: Call, signal?: AbortSignal, timeoutMs?: number): Promise<PodReply> {
    const deadline = timeoutMs === undefined ? undefined : this.settings.clock.now() + timeoutMs;
    const attempt = () => {
      const left = deadline === undefined ? undefined : deadline - this.settings.clock.now();
      if (left !== undefined && left <= 0) throw new TransportFailure('timed-out', `no time left of the ${timeoutMs} ms the call had`);
      return this.transport.send(
        {
          pod: call.pod,
          port: call.port,
          method: call.method,
          path: call.path,
          ...(call.body !== undefined ? { body: call.body } : {}),
          ...(call.headers ? { headers: call.headers() } : {}),
          ...(left !== undefined ? { timeoutMs: left } : {}),
        },
        signal,
      );
    };
    try {
      return await pRetry(attempt, {
        retries: this.settings.retry.retries,
        minTimeout: this.settings.retry.minTimeoutMs,
        factor: 2,
        signal,
        shouldRetry: ({ error }) =>
          error instanceof TransportFailure && (error.kind === 'not-sent' || (call.idempotent && error.kind === 'interrupted')),
      });
    } catch (error) {
      if (error instanceof TransportFailure) throw this.failure(call, error.message);
      throw error;
    }
  }

  /** A 2xx answer whose body passes `parse`. */
  private async expect<T>(call: Call, parse: (body: string) => ParseResult<T>, signal?: AbortSignal, timeoutMs?: number): Promise<T> {
    const reply = await this.send(call, signal, timeoutMs);
    if (reply.status < 200 || reply.status > 299) throw this.failure(call, `HTTP ${reply.status}: ${shortBody(reply.body)}`);
    const parsed = parse(reply.body);
    if (!parsed.ok) throw this.failure(call, `unexpected answer (${parsed.error}): ${shortBody(reply.body)}`);
    return parsed.value;
  }

  private consumer(pod: PodInfo, method: HttpMethod, path: string, idempotent: boolean): Call {
    return { pod, port: this.settings.lifecyclePort, method, path, idempotent };
  }

  lifecycle(pod: PodInfo, action: 'pause' | 'resume', signal?: AbortSignal, timeoutMs?: number): Promise<LifecycleChange> {
    // Pause and resume are idempotent by the consumer's contract, so resending is safe.
    return this.expect(this.consumer(pod, 'POST', `/lifecycle/${action}`, true), parseLifecycleChange, signal, timeoutMs);
  }

  status(pod: PodInfo, signal?: AbortSignal): Promise<LifecycleStatus> {
    return this.expect(this.consumer(pod, 'GET', '/lifecycle/status', true), parseLifecycleStatus, signal);
  }

  async ready(pod: PodInfo, signal?: AbortSignal): Promise<boolean> {
    const call = this.consumer(pod, 'GET', '/actuator/health/readiness', true);
    const reply = await this.send(call, signal);
    // Spring answers 503 with a status body (DOWN, OUT_OF_SERVICE) when not ready.
    if (reply.status !== 200 && reply.status !== 503) throw this.failure(call, `HTTP ${reply.status}: ${shortBody(reply.body)}`);
    const health = parseHealthStatus(reply.body);
    if (!health.ok) throw this.failure(call, `unexpected answer (${health.error}): ${shortBody(reply.body)}`);
    return reply.status === 200 && health.value === 'UP';
  }

  getFault(pod: PodInfo, signal?: AbortSignal): Promise<Fault> {
    return this.expect(this.consumer(pod, 'GET', '/fault', true), parseFaultReport, signal);
  }

  async setFault(pod: PodInfo, fault: Fault, signal?: AbortSignal): Promise<void> {
    // Every field, zero and false included: that is how a fault is cleared.
    const puts: Array<[string, unknown]> = [
      ['/fault/processing-delay', { delayMs: fault.processingDelayMs }],
      ['/fault/error-rate', { errorRatePercent: fault.errorRatePercent }],
      ['/fault/commit-delay', { delayMs: fault.commitDelayMs }],
      ['/fault/poll-timeout', { enabled: fault.pollTimeoutExceed }],
    ];
    const results = await Promise.allSettled(
      puts.map(([path, value]) => this.expect({ ...this.consumer(pod, 'PUT', path, true), ...jsonBody(value) }, parseFaultApplied, signal)),
    );
    const failed = results.find((result) => result.status === 'rejected');
    if (failed) throw failed.reason;
  }

  private pushKey(): Promise<Buffer> {
    this.key ??= this.settings.pushKey().catch((error: unknown) => {
      this.key = undefined;
      throw error;
    });
    return this.key;
  }

  async push(pod: PodInfo, entry: DesiredEntry, signal?: AbortSignal): Promise<void> {
    const key = await this.pushKey();
    const payload = {
      pod: pod.name,
      generation: entry.generation,
      lifecycle: entry.lifecycle,
      ...(entry.fault ? { fault: entry.fault } : {}),
    };
    const body = JSON.stringify(payload);
    const call: Call = {
      pod,
      port: this.settings.sidecarPort,
      method: 'POST',
      path: '/desired-state',
      body,
      headers: () => signPush(key, pod.name, entry.generation, body, this.settings.clock.now()),
      idempotent: false,
    };
    const reply = await this.send(call, signal);
    if (reply.status >= 200 && reply.status <= 299) return;
    if (reply.status === 401 && NO_KEY_REFUSAL.test(reply.body)) {
      throw new NoPushKeyError(
        pod.name,
        `pod ${pod.name}: ${label(call)} refused: the sidecar has no push key yet (the kubelet mounts the push-key Secret within about a minute of \`bgswitch init\`)`,
      );
    }
    throw new PushRejectedError(pod.name, reply.status, `pod ${pod.name}: ${label(call)} failed: ${pushRefusal(reply, entry.generation)}`);
  }

  sidecarStatus(pod: PodInfo, signal?: AbortSignal): Promise<SidecarStatus> {
    return this.expect(
      { pod, port: this.settings.sidecarPort, method: 'GET', path: '/status', idempotent: true },
      parseSidecarStatus,
      signal,
    );
  }

  close(): Promise<void> {
    return this.transport.close();
  }
}

/** The sidecar's answer when its push-key file is missing: `reason` since this release, the message before. */
const NO_KEY_REFUSAL = /"reason"\s*:\s*"no_key"|has no push key/;

function pushRefusal(reply: PodReply, generation: number): string {
  const said = shortBody(reply.body);
  switch (reply.status) {
    case 401:
      return `the sidecar rejected the signature (HTTP 401: ${said}): the push key does not match the sidecar's, or the clocks differ by more than a minute; the sidecar reads the key from the mounted push-key Secret, which the kubelet may take a minute to refresh after \`bgswitch init\``;
    case 409:
      return `the sidecar has already seen a newer generation than ${generation}, so this push is stale (HTTP 409: ${said})`;
    default:
      return `HTTP ${reply.status}: ${said}`;
  }
}
