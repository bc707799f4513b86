/**
 * `npm run bundle` (what the Dockerfile's build stage runs) makes each container program one file
 * that runs with nothing but Node: the bundles are copied to a directory with no node_modules
 * anywhere above it, started with `node`, and the sidecar drives the consumer over HTTP.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { systemClock } from '../../src/shared/clock.js';
import { pollUntil } from '../../src/core/poll.js';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

function run(command: string, args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, output }));
  });
}

/** Every directory from `dir` up to `/`: Node looks for packages in each one's node_modules. */
function ancestors(dir: string): string[] {
  const parent = dirname(dir);
  return parent === dir ? [dir] : [dir, ...ancestors(parent)];
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

interface Started {
  child: ChildProcess;
  output: () => string;
}

function startBundle(file: string, env: Record<string, string>): Started {
  const child = spawn(process.execPath, [file], {
    cwd: dirname(file),
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return { child, output: () => output };
}

/** Polls `check` until it returns a value, for at most 15 s. */
async function waitFor<T>(what: string, check: () => Promise<T | undefined>): Promise<T> {
  const outcome = await pollUntil(
    async () => {
      const value = await check();
      return { done: value !== undefined, value };
    },
    { clock: systemClock, timeoutMs: 15_000, maxIntervalMs: 200 },
  );
  if (!outcome.done || outcome.value === undefined) throw new Error(`timed out waiting for ${what}`);
  return outcome.value;
}

async function getJson(url: string): Promise<{ status: number; body: unknown }> {
  const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
  return { status: response.status, body: await response.json() };
}

describe('npm run bundle', () => {
  let work: string;
  const started: Started[] = [];

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'bgswitch-bundle-'));
  });

  after(async () => {
    for (const { child } of started) child.kill('SIGKILL');
    await rm(work, { recursive: true, force: true });
  });

  it('bundles the consumer and the sidecar into one file each that runs without node_modules', async () => {
    const built = await run('npm', ['run', '--silent', 'bundle', '--', '--outdir', join(work, 'out')]);
    assert.equal(built.code, 0, built.output);

    // One directory per image, as the Dockerfile's image stages lay them out.
    const images = { consumer: join(work, 'consumer-image'), sidecar: join(work, 'sidecar-image') };
    for (const [program, dir] of Object.entries(images)) {
      await mkdir(dir);
      await copyFile(join(work, 'out', program, 'main.mjs'), join(dir, 'main.mjs'));
    }
    assert.deepEqual(
      ancestors(work).filter((dir) => existsSync(join(dir, 'node_modules'))),
      [],
      'the bundles must run where no node_modules can be found',
    );

    const consumer = startBundle(join(images.consumer, 'main.mjs'), {
      MY_COLOR: 'blue',
      MY_POD_NAME: 'consumer-blue-0',
      PORT: '0',
      HOST: '127.0.0.1',
    });
    started.push(consumer);
    const consumerUrl = await waitFor(
      'the bundled consumer to listen',
      async () => /"event":"listening".*"url":"(http:\/\/[^"]+)"/.exec(consumer.output())?.[1],
    );
    assert.equal((await getJson(`${consumerUrl}/actuator/health/liveness`)).status, 200);

    const sidecarPort = await freePort();
    const sidecar = startBundle(join(images.sidecar, 'main.mjs'), {
      MY_COLOR: 'blue',
      MY_POD_NAME: 'consumer-blue-0',
      MY_NAMESPACE: 'kafka-bg-test',
      CONSUMER_LIFECYCLE_URL: consumerUrl,
      SIDECAR_PORT: String(sidecarPort),
      STATE_FILE_PATH: join(work, 'no-state-mounted'),
      GENERATION_FILE: join(work, 'sidecar-data', 'generation'),
    });
    started.push(sidecar);
    // The bundled sidecar (with its bundled Kubernetes and HTTP clients) reads the bundled consumer's state.
    const status = await waitFor('the bundled sidecar to observe the consumer', async () => {
      const { body } = await getJson(`http://127.0.0.1:${sidecarPort}/status`).catch(() => ({ body: undefined }));
      const report = body as { pod?: string; actual?: string } | undefined;
      return report?.actual === undefined ? undefined : report;
    }).catch((error: Error) => assert.fail(`${error.message}; sidecar output:\n${sidecar.output()}`));
    assert.deepEqual({ pod: status.pod, actual: status.actual }, { pod: 'consumer-blue-0', actual: 'PAUSED' });
    assert.equal((await getJson(`http://127.0.0.1:${sidecarPort}/healthz`)).status, 200);
  });
});
