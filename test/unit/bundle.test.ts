/**
 * `npm run bundle` (what the Dockerfile's build stage runs) makes each container program one file
 * that runs with nothing but Node: the bundles are copied to a directory with no node_modules
 * anywhere above it, started with the Node flags of their image's `CMD`, and the sidecar drives the
 * consumer over HTTP. CI also runs this on Node 24, the images' Node.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { systemClock } from '../../src/shared/clock.js';
import { pollUntil } from '../../src/core/poll.js';
import { commandForImage, SIDECAR_NODE_FLAGS } from '../../lab/kubelet/process.js';

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

/** The Dockerfile's build arguments' Node image and each stage's `CMD` (a stage without one has its base stage's). */
function dockerfileImages(dockerfile: string): { nodeImage: string; cmd: (stage: string) => string[] } {
  const nodeImage = /^ARG NODE_IMAGE=(\S+)$/m.exec(dockerfile)?.[1];
  assert.ok(nodeImage, 'the Dockerfile names its Node image in ARG NODE_IMAGE');
  const stages = new Map<string, { base: string; cmd?: string[] }>();
  let current: { base: string; cmd?: string[] } | undefined;
  for (const line of dockerfile.split('\n')) {
    const from = /^FROM (\S+) AS (\S+)$/.exec(line);
    if (from) {
      current = { base: from[1]! };
      stages.set(from[2]!, current);
    }
    const cmd = /^CMD (\[.*\])$/.exec(line);
    if (cmd && current) current.cmd = JSON.parse(cmd[1]!) as string[];
  }
  const cmd = (stage: string): string[] => {
    const found = stages.get(stage);
    assert.ok(found, `the Dockerfile has a stage ${stage}`);
    return found.cmd ?? cmd(found.base);
  };
  return { nodeImage, cmd };
}

function startBundle(file: string, nodeFlags: string[], env: Record<string, string>): Started {
  const child = spawn(process.execPath, [...nodeFlags, file], {
    cwd: dirname(file),
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return { child, output: () => output };
}

/** Polls `check` until it returns a value, for at most 15 s, and stops at once if `started` exits. */
async function waitFor<T>(what: string, started: Started, check: () => Promise<T | undefined>): Promise<T> {
  const outcome = await pollUntil(
    async () => {
      const { exitCode, signalCode } = started.child;
      if (exitCode !== null || signalCode !== null) throw new Error(`exited (${exitCode ?? signalCode}) before ${what}`);
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

    // Each image's CMD is `node <flags> /app/<file>`, <file> being what its stage copies from the
    // build's output: one directory per image, as the Dockerfile lays them out, each bundle started
    // with exactly its CMD's flags.
    const { nodeImage, cmd } = dockerfileImages(await readFile(join(repoRoot, 'Dockerfile'), 'utf8'));
    const image = async (program: 'consumer' | 'sidecar'): Promise<{ file: string; nodeFlags: string[] }> => {
      const [node, ...rest] = cmd(program);
      assert.equal(node, 'node');
      const file = /^\/app\/([^/]+)$/.exec(rest.at(-1) ?? '')?.[1];
      assert.ok(file, `the ${program} image runs a file in /app: ${rest.join(' ')}`);
      const dir = join(work, `${program}-image`);
      await mkdir(dir);
      await copyFile(join(work, 'out', program, file), join(dir, file));
      return { file: join(dir, file), nodeFlags: rest.slice(0, -1) };
    };
    const images = { consumer: await image('consumer'), sidecar: await image('sidecar') };
    assert.deepEqual(
      ancestors(work).filter((dir) => existsSync(join(dir, 'node_modules'))),
      [],
      'the bundles must run where no node_modules can be found',
    );
    assert.deepEqual(images.sidecar.nodeFlags, [...SIDECAR_NODE_FLAGS], "the lab kubelet runs the sidecar with its image's flags");

    const consumer = startBundle(images.consumer.file, images.consumer.nodeFlags, {
      MY_COLOR: 'blue',
      MY_POD_NAME: 'consumer-blue-0',
      PORT: '0',
      HOST: '127.0.0.1',
    });
    started.push(consumer);
    const consumerUrl = await waitFor(
      'the bundled consumer listened',
      consumer,
      async () => /"event":"listening".*"url":"(http:\/\/[^"]+)"/.exec(consumer.output())?.[1],
    );
    assert.equal((await getJson(`${consumerUrl}/actuator/health/liveness`)).status, 200);

    // What Node has loaded, written on SIGUSR2 by a preloaded script (the test's, not the image's).
    const loadedModules = join(work, 'sidecar-modules.txt');
    const preload = join(work, 'report-modules.cjs');
    await writeFile(
      preload,
      `const fs = require('node:fs');
process.on('SIGUSR2', () => {
  fs.writeFileSync(${JSON.stringify(`${loadedModules}.partial`)}, process.moduleLoadList.join('\\n'));
  fs.renameSync(${JSON.stringify(`${loadedModules}.partial`)}, ${JSON.stringify(loadedModules)});
});
`,
    );
    const sidecarPort = await freePort();
    const sidecar = startBundle(images.sidecar.file, [...images.sidecar.nodeFlags, '--require', preload], {
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
    const status = await waitFor('the bundled sidecar observed the consumer', sidecar, async () => {
      const { body } = await getJson(`http://127.0.0.1:${sidecarPort}/status`).catch(() => ({ body: undefined }));
      const report = body as { pod?: string; actual?: string } | undefined;
      return report?.actual === undefined ? undefined : report;
    }).catch((error: Error) => assert.fail(`${error.message}; sidecar output:\n${sidecar.output()}`));
    assert.deepEqual({ pod: status.pod, actual: status.actual }, { pod: 'consumer-blue-0', actual: 'PAUSED' });
    assert.equal((await getJson(`http://127.0.0.1:${sidecarPort}/healthz`)).status, 200);
    // Node's builtins are required, not imported: an ES-module import of `node:http` makes Node 24
    // read its lazy WebSocket exports, which loads undici with http2 and zlib (9 MiB of RSS).
    sidecar.child.kill('SIGUSR2');
    const modules = await waitFor('the sidecar reported its modules', sidecar, async () =>
      existsSync(loadedModules) ? (await readFile(loadedModules, 'utf8')).split('\n') : undefined,
    );
    assert.ok(modules.includes('NativeModule http'), 'the report lists the modules the sidecar loaded');
    assert.deepEqual(
      modules.filter((name) => /undici|http2|zlib/.test(name)),
      [],
    );
    // On the images' own Node, the flags start it without a word from V8 (Node 20's V8 warns that
    // --jitless turns WebAssembly off; the lab adds --no-expose-wasm there).
    const imageNodeMajor = /^node:(\d+)\./.exec(nodeImage)?.[1];
    if (imageNodeMajor === process.versions.node.split('.')[0]) {
      assert.match(sidecar.output(), /^\{.*\}$/m, 'the sidecar logged');
      assert.doesNotMatch(sidecar.output(), /warning|bad option/i);
    }
  });

  it('the lab kubelet runs the sidecar image with its flags, accepted quietly by the Node it runs on', () => {
    const command = commandForImage('bgswitch/switch-sidecar:0.1.0', repoRoot);
    assert.ok(command, 'the lab runs the sidecar image');
    const [node, ...args] = command;
    assert.equal(args.at(-1), join(repoRoot, 'dist/bundle/sidecar/main.cjs'), "the sidecar image's program, as `npm run build` bundles it");
    const flags = args.slice(0, -1);
    for (const flag of SIDECAR_NODE_FLAGS) assert.ok(flags.includes(flag), `${flag} in ${flags.join(' ')}`);
    // --jitless is in effect (WebAssembly goes with it) and V8 says nothing about the flags.
    const probe = spawnSync(node!, [...flags, '-e', 'process.stdout.write(typeof WebAssembly)'], { encoding: 'utf8' });
    assert.deepEqual({ status: probe.status, stdout: probe.stdout, stderr: probe.stderr }, { status: 0, stdout: 'undefined', stderr: '' });
  });
});
