/**
 * `npm run bench`: how fast bgswitch is in the lab, against the floor measured in the same run.
 *
 * Takes the machine-wide lab lock for its whole run (re-running itself under `flock`), brings the
 * lab up, and for each size (pods per colour, default 3, 10, 30) scales both StatefulSets, then runs
 * N switches each way, `status` and `--help`. The switches run twice over the same fleet: with the
 * consumers on their simulated stream (the orchestration alone: a pause and a resume are immediate,
 * so every millisecond is bgswitch's or the lab's) `--via direct` and `--via proxy` with
 * `--no-kafka`; and with the lab's real Kafka consumers (a pause commits and leaves the group), once
 * with `--no-kafka` and, when the lab broker answers, once with the Kafka hand-off. The consumers
 * change stream by a merge patch of the `bg-consumer-kafka` ConfigMap their pods read
 * (KAFKA_BOOTSTRAP_SERVERS empty = simulated) and a restart of every consumer pod; the lab's own
 * setting (Kafka) is put back at the end. Prints, and writes into
 * docs/performance.md between its markers, medians and spread of whole-process time, each phase,
 * the gap from the consumers' transition logs, the floor (API and pod round trips times the
 * sequential round trips a switch needs) and every figure as a ratio to it; plus the consumers'
 * and sidecars' RSS and CPU from /proc. Leaves the lab down. Asserts nothing: speed is measured.
 *
 * Options (environment): BENCH_SIZES=3,10,30  BENCH_RUNS=3  BENCH_KEEP_LAB=1 (leave the lab up)
 * BENCH_CONSUMERS=both|simulated|kafka (which consumer streams to measure; default both).
 * BENCH_KAFKA_SIZES=3,10 (the sizes at which the Kafka consumers are measured: 60 Kafka consumers
 * restarting and joining one group did not settle within 5 minutes on the 2-core machine).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { AppsV1Api, CoreV1Api, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { labDown, labUp } from '../lab/control.js';
import { loadKubeAccess } from '../src/kube/access.js';
import { ApiServerClient } from '../src/kube/rest.js';
import { DirectTransport, ProxyTransport, type PodTransport } from '../src/pods/transport.js';
import type { PodInfo } from '../src/core/ports.js';
import { kafkaBootstrap } from '../test/support/kafka.js';
import {
  adminConfig,
  analyzeWindow,
  bgswitch,
  containerPid,
  namespace,
  paths,
  repoRoot,
  runProcess,
  status,
  waitFor,
  type ContainerName,
} from '../test/support/lab.js';

const LOCK = '/tmp/bgswitch-lab.lock';
const SIZES = (process.env.BENCH_SIZES ?? '3,10,30').split(',').map(Number);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
type ConsumerStream = 'simulated' | 'kafka';
const STREAMS: ConsumerStream[] =
  process.env.BENCH_CONSUMERS === 'simulated' || process.env.BENCH_CONSUMERS === 'kafka'
    ? [process.env.BENCH_CONSUMERS]
    : ['simulated', 'kafka'];
const KAFKA_SIZES = new Set((process.env.BENCH_KAFKA_SIZES ?? '3,10').split(',').map(Number));
const FLOOR_SAMPLES = 30;
/**
 * The sequential round trips a switch cannot do without, each step's calls made in parallel:
 * preflight (reads + permission review, then the pod list behind the Service), lock, two
 * desired-state writes, the record; and on the pods: observe, pause, verify paused, resume, verify active.
 */
const NEEDED_API_ROUND_TRIPS = 6;
const NEEDED_POD_ROUND_TRIPS = 5;
const DOC = join(repoRoot, 'docs', 'performance.md');
const BEGIN = '<!-- bench:begin (written by `npm run bench`) -->';
const END = '<!-- bench:end -->';

if (process.env.BGSWITCH_LAB_LOCKED !== '1') {
  process.stderr.write(`bench: waiting for the lab lock ${LOCK}\n`);
  const held = spawnSync('flock', [LOCK, process.execPath, ...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, BGSWITCH_LAB_LOCKED: '1' },
  });
  process.exit(held.status ?? 1);
}

interface Spread {
  median: number;
  min: number;
  max: number;
  n: number;
}

function spread(values: number[]): Spread {
  const sorted = [...values].sort((a, b) => a - b);
  const n = sorted.length;
  const median = n === 0 ? NaN : n % 2 ? sorted[(n - 1) / 2]! : (sorted[n / 2 - 1]! + sorted[n / 2]!) / 2;
  return { median, min: sorted[0] ?? NaN, max: sorted[n - 1] ?? NaN, n };
}

const ms = (value: number) => (Number.isFinite(value) ? (value >= 100 ? value.toFixed(0) : value.toFixed(1)) : '–');
const rows: string[][] = [];
const log = (line: string) => process.stderr.write(`bench: ${line}\n`);

/** One table row; `unit` is part of every figure's cell, milliseconds unless said. */
function row(size: string, figure: string, values: number[], floor?: number, unit = 'ms'): void {
  const s = spread(values);
  const ratio = floor && Number.isFinite(s.median) ? `${(s.median / floor).toFixed(1)}x` : '';
  rows.push([size, figure, `${ms(s.median)} ${unit}`, `${ms(s.min)}–${ms(s.max)} ${unit}`, String(s.n), ratio]);
  log(`${size.padEnd(5)} ${figure.padEnd(48)} median ${ms(s.median).padStart(6)} ${unit}  (${ms(s.min)}–${ms(s.max)}, n=${s.n}) ${ratio}`);
}

async function timed(run: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await run();
  return performance.now() - start;
}

async function samples(count: number, run: () => Promise<unknown>): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < count; i++) times.push(await timed(run));
  return times;
}

/**
 * Raw round trips with a warm keep-alive connection, as the CLI's own clients make them: to one pod,
 * and to every pod at once (what each fan-out step of a switch costs on this machine, whatever
 * the protocol does; with many pods it is bound by how fast the lab's processes get a core).
 */
async function measureFloor(
  pods: PodInfo[],
): Promise<{ apiGet: number; apiWrite: number; podDirect: number; podProxy: number; fanOutDirect: number; fanOutProxy: number }> {
  const pod = pods[0]!;
  const { credentials } = loadKubeAccess({ kubeconfig: paths.operatorKubeconfig, env: {} });
  const api = new ApiServerClient(credentials, 10_000);
  const configMap = `/api/v1/namespaces/${namespace}/configmaps/kafka-consumer-active-version`;
  const transports: PodTransport[] = [new DirectTransport(10_000, undefined, {}), new ProxyTransport(credentials, namespace, 10_000)];
  try {
    const current = await api.json<{ metadata: Record<string, unknown> }>('GET', configMap);
    const apiGet = await samples(FLOOR_SAMPLES, () => api.json('GET', configMap));
    // A write that changes nothing (the same object back) still goes through admission and etcd.
    let body = current;
    const apiWrite = await samples(FLOOR_SAMPLES, async () => (body = await api.json('PUT', configMap, { body })));
    const podTimes: number[][] = [];
    const fanOutTimes: number[][] = [];
    const status = (transport: PodTransport, to: PodInfo) =>
      transport.send({ pod: to, port: 8080, method: 'GET', path: '/lifecycle/status' });
    for (const transport of transports) {
      await Promise.all(pods.map((each) => status(transport, each)));
      podTimes.push(await samples(FLOOR_SAMPLES, () => status(transport, pod)));
      fanOutTimes.push(await samples(FLOOR_SAMPLES, () => Promise.all(pods.map((each) => status(transport, each)))));
    }
    return {
      apiGet: spread(apiGet).median,
      apiWrite: spread(apiWrite).median,
      podDirect: spread(podTimes[0]!).median,
      podProxy: spread(podTimes[1]!).median,
      fanOutDirect: spread(fanOutTimes[0]!).median,
      fanOutProxy: spread(fanOutTimes[1]!).median,
    };
  } finally {
    await Promise.all([api.close(), ...transports.map((transport) => transport.close())]);
  }
}

async function scale(replicas: number): Promise<void> {
  const apps = adminConfig().makeApiClient(AppsV1Api);
  for (const color of ['blue', 'green']) {
    await apps.patchNamespacedStatefulSetScale(
      { name: `consumer-${color}`, namespace, body: { spec: { replicas } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
  }
  await waitFor(
    `${replicas} ready pods per colour with reachable sidecars`,
    async () => {
      const view = await status(['--no-kafka']);
      const ready = view.pods.filter((pod) => pod.ready && pod.sidecar.reachable && pod.actual !== 'UNKNOWN');
      return view.pods.length === 2 * replicas && ready.length === 2 * replicas;
    },
    15 * 60_000,
  );
}

/** The ConfigMap the consumer containers take their KAFKA_* environment from (its name carries kustomize's hash). */
async function kafkaConfigMapName(): Promise<string> {
  const apps = adminConfig().makeApiClient(AppsV1Api);
  const set = await apps.readNamespacedStatefulSet({ name: 'consumer-blue', namespace });
  const consumer = set.spec?.template.spec?.containers.find((container) => container.name === 'consumer');
  const name = consumer?.envFrom?.find((source) => source.configMapRef?.name?.startsWith('bg-consumer-kafka'))?.configMapRef?.name;
  if (!name) throw new Error('the consumer container of consumer-blue takes no bg-consumer-kafka ConfigMap');
  return name;
}

let labBootstrap: string | undefined;
let lastSize: number | undefined;

/** The stream the running consumers read, from their own process environment. */
function runningStream(pods: string[]): ConsumerStream | 'mixed' {
  const seen = new Set(
    pods.map((pod) => {
      const pid = containerPid(pod, 'consumer');
      if (pid === undefined) return 'none';
      const env = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
      return env.some((entry) => /^KAFKA_BOOTSTRAP_SERVERS=\S/.test(entry)) ? 'kafka' : 'simulated';
    }),
  );
  return seen.size === 1 && !seen.has('none') ? ([...seen][0] as ConsumerStream) : 'mixed';
}

/**
 * Makes every consumer of the fleet read `stream`: sets KAFKA_BOOTSTRAP_SERVERS in their ConfigMap
 * (empty counts as unset: the simulated stream), restarts every consumer pod (the StatefulSets
 * recreate them at once, podManagementPolicy Parallel), waits for them as `scale` does and brings
 * their desired state in line with one unmeasured switch.
 */
async function useStream(stream: ConsumerStream, replicas: number): Promise<void> {
  const core = adminConfig().makeApiClient(CoreV1Api);
  const pods = async () => (await core.listNamespacedPod({ namespace, labelSelector: 'app=bg-consumer' })).items;
  const names = (await pods()).map((pod) => pod.metadata?.name ?? '');
  if (runningStream(names) === stream) return;
  const name = await kafkaConfigMapName();
  const current = await core.readNamespacedConfigMap({ name, namespace });
  labBootstrap ??= current.data?.KAFKA_BOOTSTRAP_SERVERS || kafkaBootstrap;
  log(`consumers: ${stream} stream (ConfigMap ${name}, restarting ${names.length} pods)`);
  await core.patchNamespacedConfigMap(
    { name, namespace, body: { data: { KAFKA_BOOTSTRAP_SERVERS: stream === 'kafka' ? labBootstrap : '' } } },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
  const before = new Set((await pods()).map((pod) => pod.metadata?.uid));
  await core.deleteCollectionNamespacedPod({ namespace, labelSelector: 'app=bg-consumer' });
  await waitFor(
    `every consumer pod recreated`,
    async () => {
      const now = await pods();
      return now.length === 2 * replicas && now.every((pod) => !before.has(pod.metadata?.uid) && !pod.metadata?.deletionTimestamp);
    },
    5 * 60_000,
  );
  await scale(replicas);
  const running = runningStream(names);
  if (running !== stream) throw new Error(`the consumers run the ${running} stream, not the ${stream} one`);
  await oneSwitch('blue', ['--via', 'direct', '--no-kafka']);
}

interface SwitchJson {
  startedAt: string;
  durationMs: number;
  phases: Array<{ name: string; durationMs: number }>;
  kafka?: { handoffWaitMs?: number };
}

/**
 * Where the gap went, from the consumers' logs and the report's phases (they run one after the
 * other from `startedAt`): the last old pod stops being ACTIVE -> the verify-paused poll that saw
 * every old pod PAUSED ends (the consumers' own drain, then our poll) -> the desired-active write
 * ends -> the first new pod is ACTIVE (the resume calls and the consumer's resume).
 */
interface GapParts {
  toPollSawPaused: number;
  desiredActive: number;
  toFirstActive: number;
}

function gapParts(report: SwitchJson, gap: { from: number; to: number } | undefined): GapParts | undefined {
  if (!gap) return undefined;
  let at = Date.parse(report.startedAt);
  const ends = new Map<string, number>();
  for (const phase of report.phases) {
    at += phase.durationMs;
    ends.set(phase.name, at);
  }
  const sawPaused = ends.get('verify-paused');
  const wrote = ends.get('desired-active');
  if (sawPaused === undefined || wrote === undefined) return undefined;
  return { toPollSawPaused: sawPaused - gap.from, desiredActive: wrote - sawPaused, toFirstActive: gap.to - wrote };
}

/** One switch as a user runs it; returns whole-process time, its report and the gap in its window. */
async function oneSwitch(
  to: 'blue' | 'green',
  extra: string[],
  env: Record<string, string> = {},
): Promise<{ wall: number; report: SwitchJson; gap: number; parts: GapParts | undefined }> {
  const from = Date.now();
  const start = performance.now();
  const result = await bgswitch(['switch', to, '--yes', '-o', 'json', ...extra], { env, timeoutMs: 180_000 });
  const wall = performance.now() - start;
  if (result.code !== 0) throw new Error(`switch ${to} ${extra.join(' ')} failed (${result.code}): ${result.stderr}`);
  const report = JSON.parse(result.stdout) as SwitchJson;
  // The consumers write their transition records as they happen; the window closes after the process.
  const { gaps } = analyzeWindow(from, Date.now());
  const whole = gaps.length > 0 ? { from: gaps[0]!.from, to: gaps[gaps.length - 1]!.to } : undefined;
  return { wall, report, gap: gaps.reduce((sum, gap) => sum + gap.durationMs, 0), parts: gapParts(report, whole) };
}

async function switches(size: string, label: string, extra: string[], floorMs: number, env: Record<string, string> = {}): Promise<void> {
  const walls: number[] = [];
  const protocol: number[] = [];
  const gaps: number[] = [];
  const handoffs: number[] = [];
  const phases = new Map<string, number[]>();
  const parts: GapParts[] = [];
  for (let i = 0; i < RUNS; i++) {
    for (const to of ['green', 'blue'] as const) {
      const result = await oneSwitch(to, extra, env);
      walls.push(result.wall);
      protocol.push(result.report.durationMs);
      gaps.push(result.gap);
      if (result.parts) parts.push(result.parts);
      if (result.report.kafka?.handoffWaitMs !== undefined) handoffs.push(result.report.kafka.handoffWaitMs);
      for (const phase of result.report.phases) phases.set(phase.name, [...(phases.get(phase.name) ?? []), phase.durationMs]);
    }
  }
  row(size, `switch ${label}: whole process`, walls, floorMs);
  row(size, `switch ${label}: protocol (durationMs)`, protocol, floorMs);
  for (const [name, values] of phases) row(size, `↳ phase ${name}`, values);
  row(size, `switch ${label}: gap (no pod ACTIVE)`, gaps);
  row(
    size,
    '↳ gap: old stops ACTIVE -> poll saw all PAUSED',
    parts.map((p) => p.toPollSawPaused),
  );
  row(
    size,
    '↳ gap: desired-active write',
    parts.map((p) => p.desiredActive),
  );
  row(
    size,
    '↳ gap: write done -> first new ACTIVE (resume)',
    parts.map((p) => p.toFirstActive),
  );
  if (handoffs.length > 0) row(size, `switch ${label}: Kafka hand-off wait`, handoffs);
}

/** RSS (MiB) and CPU seconds of every container process of one kind, from /proc. */
function processUsage(container: ContainerName, pods: string[]): { rss: number[]; cpu: number[] } {
  const ticks = 100; // USER_HZ on Linux
  const rss: number[] = [];
  const cpu: number[] = [];
  for (const pod of pods) {
    const pid = containerPid(pod, container);
    if (pid === undefined) continue;
    try {
      const rssKb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      rss.push(rssKb / 1024);
      cpu.push((Number(fields[11]) + Number(fields[12])) / ticks);
    } catch {
      // the process ended between the pid check and the read
    }
  }
  return { rss, cpu };
}

async function idleCpu(container: ContainerName, pods: string[], windowMs: number): Promise<number[]> {
  const before = processUsage(container, pods).cpu;
  await new Promise((resolve) => setTimeout(resolve, windowMs));
  const after = processUsage(container, pods).cpu;
  return after.map((seconds, i) => ((seconds - (before[i] ?? seconds)) * 1000 * 100) / windowMs);
}

function kafkaAnswers(): Promise<boolean> {
  const [host, port] = kafkaBootstrap.split(':');
  return new Promise((resolve) => {
    const answer = (answered: boolean) => {
      socket.destroy();
      resolve(answered);
    };
    const socket = connect({ host: host!, port: Number(port), timeout: 1000 }, () => answer(true));
    socket.on('error', () => resolve(false));
    socket.on('timeout', () => answer(false));
  });
}

function writeDoc(started: Date, finished: Date): void {
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, load average ${loadavg()[0]!.toFixed(1)} at the end`;
  const table = [
    '| pods/colour | figure | median | min–max | n | × floor |',
    '|---|---|---|---|---|---|',
    ...rows.map((cells) => `| ${cells.join(' | ')} |`),
  ].join('\n');
  const section = [
    BEGIN,
    `Run ${started.toISOString()} – ${finished.toISOString()} on ${machine}; ${RUNS} switches each way per row.`,
    'Absolute times depend on what else the machine runs (see the load average); the ratios to the floor of the same run are the figures to compare.',
    '',
    table,
    END,
  ].join('\n');
  const current = readFileSync(DOC, 'utf8');
  const begin = current.indexOf(BEGIN);
  const end = current.indexOf(END);
  writeFileSync(
    DOC,
    begin >= 0 && end > begin
      ? current.slice(0, begin) + section + current.slice(end + END.length)
      : `${current.trimEnd()}\n\n${section}\n`,
  );
  log(`wrote ${DOC}`);
}

/**
 * A lab kubelet started by `npm test` hands its V8 coverage setting to every container
 * (lab/kubelet/env.ts), and a process under coverage keeps more memory (the sidecar ~2 MiB) and
 * spends more CPU than in production: such a lab is restarted first.
 */
function kubeletUnderCoverage(): boolean {
  try {
    const pid = readFileSync(paths.pidFile('kubelet'), 'utf8').trim();
    return readFileSync(`/proc/${pid}/environ`, 'latin1')
      .split('\0')
      .some((entry) => entry.startsWith('NODE_V8_COVERAGE='));
  } catch {
    return false;
  }
}

async function main(): Promise<void> {
  const started = new Date();
  if (kubeletUnderCoverage()) {
    log('the lab kubelet was started under V8 coverage (by npm test): taking the lab down, so the pods run as in production');
    await labDown({ repoRoot, report: (line) => log(`[lab] ${line}`) });
  }
  log('bringing the lab up');
  try {
    await labUp({ repoRoot, report: (line) => log(`[lab] ${line}`) });
    const bin = join(repoRoot, 'bin', 'bgswitch.js');
    row('–', 'bgswitch --help: whole process', await samples(10, () => runProcess(process.execPath, [bin, '--help'])));
    row('–', 'node -e 0 (the process floor)', await samples(10, () => runProcess(process.execPath, ['-e', '0'])));
    row(
      '–',
      'node: import @kubernetes/client-node alone',
      await samples(5, () => runProcess(process.execPath, ['--input-type=module', '-e', "await import('@kubernetes/client-node')"])),
    );
    const withKafka = await kafkaAnswers();
    log(
      withKafka
        ? `the lab broker answers at ${kafkaBootstrap}: the hand-off is measured too`
        : `no broker at ${kafkaBootstrap}: the hand-off is not measured`,
    );
    for (const [sizeIndex, size] of SIZES.entries()) {
      const label = String(size);
      lastSize = size;
      log(`scaling both StatefulSets to ${size}`);
      await scale(size);
      // Brings the new pods' desired state in line; not measured.
      await oneSwitch('blue', ['--via', 'direct', '--no-kafka']);
      const view = await status(['--no-kafka']);
      const floor = await measureFloor(await podInfos(view.pods.map((pod) => pod.name)));
      const apiRoundTrip = (floor.apiGet + floor.apiWrite) / 2;
      // Each pod step of a switch is one fan-out to a colour's pods; a colour is half the fleet, so
      // the fan-out to all of them is an upper bound, and equals one round trip with few pods.
      const floors = {
        direct: NEEDED_API_ROUND_TRIPS * apiRoundTrip + NEEDED_POD_ROUND_TRIPS * floor.fanOutDirect,
        proxy: NEEDED_API_ROUND_TRIPS * apiRoundTrip + NEEDED_POD_ROUND_TRIPS * floor.fanOutProxy,
      };
      row(label, `floor: API GET round trip (median of ${FLOOR_SAMPLES})`, [floor.apiGet]);
      row(label, `floor: API write (PUT) round trip (median of ${FLOOR_SAMPLES})`, [floor.apiWrite]);
      row(label, `floor: pod round trip, direct (median of ${FLOOR_SAMPLES})`, [floor.podDirect]);
      row(label, `floor: pod round trip, via the API server proxy (median of ${FLOOR_SAMPLES})`, [floor.podProxy]);
      row(label, `floor: one GET to each of the ${2 * size} pods at once, direct (median of ${FLOOR_SAMPLES})`, [floor.fanOutDirect]);
      row(label, `floor: one GET to each of the ${2 * size} pods at once, proxy (median of ${FLOOR_SAMPLES})`, [floor.fanOutProxy]);
      row(label, `floor of a switch, direct (${NEEDED_API_ROUND_TRIPS} API + ${NEEDED_POD_ROUND_TRIPS} pod fan-outs)`, [floors.direct]);
      row(label, `floor of a switch, proxy (${NEEDED_API_ROUND_TRIPS} API + ${NEEDED_POD_ROUND_TRIPS} pod fan-outs)`, [floors.proxy]);
      // Alternating the order from one size to the next restarts the consumers once per size.
      const streams = STREAMS.filter((stream) => stream === 'simulated' || KAFKA_SIZES.has(size));
      if (streams.length < STREAMS.length) {
        log(`the Kafka consumers are not measured at ${size} pods per colour (BENCH_KAFKA_SIZES)`);
        rows.push([label, 'switch, Kafka consumers', 'not measured at this size (BENCH_KAFKA_SIZES)', '', '', '']);
      }
      for (const stream of sizeIndex % 2 === 0 ? streams : [...streams].reverse()) {
        await useStream(stream, size);
        if (stream === 'simulated') {
          await switches(label, '--via direct, simulated consumers', ['--via', 'direct', '--no-kafka'], floors.direct);
          await switches(label, '--via proxy, simulated consumers', ['--via', 'proxy', '--no-kafka'], floors.proxy);
          continue;
        }
        await switches(label, '--via direct, Kafka consumers', ['--via', 'direct', '--no-kafka'], floors.direct);
        if (withKafka) {
          // Reported, not fatal: the orchestration figures above do not depend on it.
          await switches(label, '--via direct, Kafka consumers + hand-off wait', ['--via', 'direct'], floors.direct, {
            KAFKA_BOOTSTRAP_SERVERS: kafkaBootstrap,
            KAFKA_GROUP: 'bg-consumer',
          }).catch((error: unknown) => {
            log(`the Kafka hand-off run failed: ${String(error).split('\n')[0]}`);
            rows.push([label, 'switch --via direct, Kafka consumers + hand-off wait', 'failed', '', '', '']);
          });
        }
      }
      // status: its reads in parallel, the pod list behind the Service, then every pod at once.
      row(
        label,
        'status: whole process',
        await samples(RUNS * 2, () => bgswitch(['status', '--no-kafka'])),
        2 * apiRoundTrip + floor.podProxy,
      );
      const pods = view.pods.map((pod) => pod.name);
      for (const container of ['consumer', 'switch-sidecar'] as const) {
        const usage = processUsage(container, pods);
        row(label, `${container} RSS, per process`, usage.rss, undefined, 'MiB');
        row(label, `${container} idle CPU over 10 s, per process`, await idleCpu(container, pods, 10_000), undefined, '% of a core');
      }
    }
  } finally {
    if (rows.length > 0) writeDoc(started, new Date());
    // Puts the lab's own setting back (the ConfigMap; the pods follow at their next restart).
    if (labBootstrap !== undefined) await restoreLabBootstrap(labBootstrap);
    if (process.env.BENCH_KEEP_LAB === '1' && lastSize !== undefined) {
      if (KAFKA_SIZES.has(lastSize)) await useStream('kafka', lastSize);
      else log(`left at ${lastSize} pods per colour on their current stream; they take the lab's Kafka setting when restarted`);
    }
    if (process.env.BENCH_KEEP_LAB !== '1') {
      log('taking the lab down');
      await labDown({ repoRoot, report: (line) => log(`[lab] ${line}`) });
    }
  }
}

async function restoreLabBootstrap(bootstrap: string): Promise<void> {
  const core = adminConfig().makeApiClient(CoreV1Api);
  const name = await kafkaConfigMapName();
  await core.patchNamespacedConfigMap(
    { name, namespace, body: { data: { KAFKA_BOOTSTRAP_SERVERS: bootstrap } } },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
}

/** The pods with their IPs from the API server (the admin's view), for the floor. */
async function podInfos(names: string[]): Promise<PodInfo[]> {
  const core = adminConfig().makeApiClient(CoreV1Api);
  return Promise.all(
    names.map(async (name) => {
      const pod = await core.readNamespacedPod({ name, namespace });
      if (!pod.status?.podIP) throw new Error(`${name} has no IP`);
      const color = name.includes('green') ? 'green' : 'blue';
      return { name, color, ip: pod.status.podIP, phase: 'Running', ready: true, restarts: 0, terminating: false };
    }),
  );
}

await main();
