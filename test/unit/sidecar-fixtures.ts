/**
 * Test helpers for the sidecar: a kubelet-style ConfigMap projection on a real directory, small
 * in-memory implementations of the sidecar's own interfaces, a capturing logger, signed pushes
 * over real HTTP and a deadline-bound wait.
 */
import { mkdir, mkdtemp, readdir, readlink, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { systemClock } from '../../src/shared/clock.js';
import { pollUntil } from '../../src/core/poll.js';
import { encodeEntry } from '../../src/shared/desired-state.js';
import { NO_FAULT, type DesiredEntry, type Fault, type Lifecycle } from '../../src/shared/model.js';
import { signPush } from '../../src/shared/push-signature.js';
import type { SidecarConfig } from '../../sidecar/config.js';
import type { Logger } from '../../sidecar/log.js';
import type { ConsumerPort, GenerationStore, StateDataSource } from '../../sidecar/reconciler.js';

export async function tempDir(prefix: string): Promise<{ path: string; remove(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), `bgswitch-${prefix}-`));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

let projections = 0;

/**
 * Projects `data` into `dir` exactly as the kubelet does for a ConfigMap volume: a new timestamped
 * directory, `..data` swapped to it atomically by rename, one `<key> -> ..data/<key>` symlink per
 * key, then stale key links and the old directory removed.
 */
export async function projectConfigMap(dir: string, data: Record<string, string>): Promise<void> {
  const stamp = new Date().toISOString().replace(/[-:T]/g, '_').replace(/\..*$/, '');
  const name = `..${stamp}.${String(++projections).padStart(9, '0')}`;
  await mkdir(join(dir, name), { recursive: true });
  for (const [key, value] of Object.entries(data)) await writeFile(join(dir, name, key), value);
  const previous = await readlink(join(dir, '..data')).catch(() => undefined);
  await symlink(name, join(dir, '..data_tmp'));
  await rename(join(dir, '..data_tmp'), join(dir, '..data'));
  for (const key of Object.keys(data)) {
    await symlink(join('..data', key), join(dir, key)).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw error;
    });
  }
  for (const entry of await readdir(dir)) {
    if (!entry.startsWith('..') && !(entry in data)) await rm(join(dir, entry));
  }
  if (previous) await rm(join(dir, previous), { recursive: true });
}

export function entryText(lifecycle: DesiredEntry['lifecycle'], generation: number, fault?: Fault): string {
  return encodeEntry(fault ? { lifecycle, generation, fault } : { lifecycle, generation });
}

/** The state ConfigMap as an in-memory StateDataSource; `unreachable` makes reads fail like a down API server. */
export class MemoryStateData implements StateDataSource {
  data: Record<string, string> = {};
  unreachable = false;
  reads = 0;
  /** Runs after each read returns, e.g. to change the data between two reads. */
  afterRead: (() => void) | undefined;

  /** While set, reads wait for it (a slow API server). */
  readGate: Promise<void> | undefined;

  async read(): Promise<Record<string, string>> {
    this.reads++;
    await this.readGate;
    if (this.unreachable) throw new Error('connect ECONNREFUSED (test: API server down)');
    const snapshot = { ...this.data };
    this.afterRead?.();
    return snapshot;
  }
}

export class MemoryGenerations implements GenerationStore {
  constructor(public value = 0) {}
  async load(): Promise<number> {
    return this.value;
  }
  async save(generation: number): Promise<void> {
    this.value = generation;
  }
}

/** A consumer in memory: records every command; `down` makes every call fail. */
export class MemoryConsumer implements ConsumerPort {
  lifecycle: Lifecycle = 'PAUSED';
  fault: Fault = { ...NO_FAULT };
  down = false;
  readonly calls: string[] = [];
  /** While set, resume waits for it (to hold a reconcile in flight). */
  resumeGate: Promise<void> | undefined;
  private running = 0;
  maxConcurrent = 0;

  private async enter<T>(call: string, action: () => T | Promise<T>): Promise<T> {
    this.calls.push(call);
    this.running++;
    this.maxConcurrent = Math.max(this.maxConcurrent, this.running);
    try {
      await Promise.resolve();
      if (this.down) throw new Error('connect ECONNREFUSED (test: consumer down)');
      return await action();
    } finally {
      this.running--;
    }
  }

  state(): Promise<Lifecycle> {
    return this.enter('state', () => this.lifecycle);
  }
  pause(): Promise<Lifecycle> {
    return this.enter<Lifecycle>('pause', () => (this.lifecycle = 'PAUSED'));
  }
  resume(): Promise<Lifecycle> {
    return this.enter('resume', async (): Promise<Lifecycle> => {
      await this.resumeGate;
      this.lifecycle = 'ACTIVE';
      return this.lifecycle;
    });
  }
  getFault(): Promise<Fault> {
    return this.enter('getFault', () => ({ ...this.fault }));
  }
  setFault(fault: Fault): Promise<void> {
    return this.enter('setFault', () => {
      this.fault = { ...fault };
    });
  }
  commands(): string[] {
    return this.calls.filter((call) => call === 'pause' || call === 'resume' || call === 'setFault');
  }
}

export interface CapturedLog {
  log: Logger;
  lines: Record<string, unknown>[];
  text(): string;
}

export function captureLog(): CapturedLog {
  const lines: Record<string, unknown>[] = [];
  const record = (level: string) => (msg: string, fields?: Record<string, unknown>) => {
    lines.push({ level, msg, ...fields });
  };
  return {
    log: { info: record('info'), warn: record('warn'), error: record('error') },
    lines,
    text: () => lines.map((line) => JSON.stringify(line)).join('\n'),
  };
}

/** Polls `check` (first at once, then from 10 ms up) until it is true; fails with `what` at the deadline. */
export async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 3000): Promise<void> {
  const outcome = await pollUntil(async () => ({ done: await check(), value: undefined }), {
    clock: systemClock,
    timeoutMs,
    initialIntervalMs: 10,
    maxIntervalMs: 100,
  });
  if (!outcome.done) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
}

export interface PushOptions {
  key?: Buffer;
  /** Overrides the signed timestamp (ms). */
  nowMs?: number;
  /** Sends this body instead of the signed one (tampering). */
  sendBody?: string;
  headers?: Record<string, string>;
}

export interface HttpAnswer {
  status: number;
  body: Record<string, unknown>;
}

export async function httpCall(
  url: string,
  method: 'GET' | 'POST' = 'GET',
  body?: string,
  headers: Record<string, string> = {},
): Promise<HttpAnswer> {
  const response = await request(url, { method, body: body ?? null, headers, signal: AbortSignal.timeout(3000) });
  const text = await response.body.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    json = { text };
  }
  return { status: response.statusCode, body: json };
}

/** A signed `POST /desired-state`, as the CLI sends it. */
export function push(sidecarUrl: string, body: Record<string, unknown>, options: PushOptions = {}): Promise<HttpAnswer> {
  const raw = JSON.stringify(body);
  const signed = options.key
    ? signPush(options.key, String(body['pod']), Number(body['generation']), raw, options.nowMs ?? Date.now())
    : { 'content-type': 'application/json' };
  return httpCall(`${sidecarUrl}/desired-state`, 'POST', options.sendBody ?? raw, { ...signed, ...options.headers });
}

/** A sidecar configuration for loopback tests: files under `dir`, fast ticks, short timeouts. */
export function loopbackSidecarConfig(dir: string, podName: string, consumerUrl: string): SidecarConfig {
  return {
    color: 'blue',
    podName,
    namespace: 'kafka-bg-test',
    consumerUrl,
    stateDir: join(dir, 'state'),
    configMapName: 'kafka-consumer-state',
    pushKeyFile: join(dir, 'push-key', 'key'),
    generationFile: join(dir, 'run', 'generation'),
    port: 0,
    host: '127.0.0.1',
    reconcileIntervalMs: 20,
    consumerTimeoutMs: 1000,
    apiTimeoutMs: 1000,
  };
}
