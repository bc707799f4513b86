/**
 * No CLI needed (issue 9 §1): the sidecars watch the state ConfigMap and converge on their own.
 * (1) With no CLI at all, the state ConfigMap is written by hand through the admin API client as a
 * CLI would (every pod PAUSED, then the new colour ACTIVE, rising generations): the old colour
 * pauses, the new one resumes, each by its own sidecar acting on the API watch, long before any
 * kubelet file refresh. (2) A CLI SIGKILLed right after desired-active: the new colour resumes
 * without any other command. Convergence times are printed (target: 3 s), never asserted; S1 is
 * checked from the consumers' own transition logs. Also prints the sidecars' memory and CPU.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import type { LifecycleRecord } from '../../consumer/transitions.js';
import { encodeEntry, GENERATION_ANNOTATION, parseEntry, parseGeneration } from '../../src/shared/desired-state.js';
import type { Color, DesiredLifecycle } from '../../src/shared/model.js';
import {
  assertFleet,
  assertNoDualActive,
  bgswitch,
  containerPid,
  coreApi,
  ensureLab,
  namespace,
  nextStateFileRefresh,
  podDir,
  podRecords,
  resetFleet,
  startBgswitch,
  status,
  waitFor,
} from '../support/lab.js';

const PODS: Record<Color, string[]> = {
  blue: ['consumer-blue-0', 'consumer-blue-1', 'consumer-blue-2'],
  green: ['consumer-green-0', 'consumer-green-1', 'consumer-green-2'],
};
const ALL_PODS = [...PODS.blue, ...PODS.green];
const STATE_CONFIGMAP = 'kafka-consumer-state';
/** Never wait into a window where a kubelet file refresh could explain the outcome. */
const FILE_REFRESH_HEADROOM_MS = 8_000;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** Writes the state ConfigMap as the CLI's desired-state steps do: the given pods' entries at the next generation. */
async function writeDesired(lifecycles: Record<string, DesiredLifecycle>): Promise<number> {
  const core = coreApi();
  const current = await core.readNamespacedConfigMap({ name: STATE_CONFIGMAP, namespace });
  const generation = parseGeneration(current.metadata?.annotations?.[GENERATION_ANNOTATION]) + 1;
  const data = { ...current.data };
  for (const [key, lifecycle] of Object.entries(lifecycles)) {
    const previous = data[key] === undefined ? undefined : parseEntry(data[key]!);
    const fault = previous?.ok ? previous.value.fault : undefined;
    data[key] = encodeEntry({ lifecycle, generation, ...(fault ? { fault } : {}) });
  }
  await core.replaceNamespacedConfigMap({
    name: STATE_CONFIGMAP,
    namespace,
    body: {
      ...current,
      data,
      metadata: { ...current.metadata, annotations: { ...current.metadata?.annotations, [GENERATION_ANNOTATION]: String(generation) } },
    },
  });
  return generation;
}

function lastRecord(pod: string, from: number): LifecycleRecord | undefined {
  return podRecords(pod, from).at(-1);
}

function stateOf(record: LifecycleRecord | undefined): string | undefined {
  if (record === undefined) return undefined;
  return record.event === 'transition' ? record.to : record.state;
}

/** Waits until every pod's consumer logged `state` after `from`; returns when the last one did (epoch ms). */
async function convergence(pods: string[], state: 'ACTIVE' | 'PAUSED', from: number, deadlineMs: number): Promise<number> {
  await waitFor(`${pods.join(', ')} to be ${state}`, async () => pods.every((pod) => stateOf(lastRecord(pod, from)) === state), deadlineMs);
  return Math.max(...pods.map((pod) => lastRecord(pod, from)!.at));
}

interface SidecarCommand {
  at: number;
  command: string;
  source: string;
}

/** The lifecycle commands a pod's sidecar applied after `from`, from its container log. */
function sidecarCommands(pod: string, from: number): SidecarCommand[] {
  const commands: SidecarCommand[] = [];
  for (const line of readFileSync(join(podDir(pod), 'switch-sidecar.log'), 'utf8').split('\n')) {
    const start = line.indexOf('{');
    if (start < 0) continue;
    try {
      const record = JSON.parse(line.slice(start)) as { time?: string; msg?: string; command?: string; source?: string };
      const at = Date.parse(record.time ?? '');
      if (record.msg === 'lifecycle command applied' && at >= from)
        commands.push({ at, command: String(record.command), source: String(record.source) });
    } catch {
      // not a log record
    }
  }
  return commands;
}

/** A sidecar's `GET /metrics`, directly at the pod IP on the lab bridge. */
async function sidecarMetrics(pod: string): Promise<string> {
  const ip = (await coreApi().readNamespacedPod({ name: pod, namespace })).status?.podIP;
  const response = await fetch(`http://${ip}:8082/metrics`, { signal: AbortSignal.timeout(2000) });
  assert.equal(response.status, 200);
  return response.text();
}

/**
 * How long until the first of these pods' mounted state files is refreshed by the lab kubelet. Each pod
 * refreshes on its own 60 s timer, so after one refresh passes another may be near: waits refresh by
 * refresh until the window to the next one is long enough. With at most 6 pods a window of 60/6 s always exists.
 */
async function fileRefreshHeadroom(pods: string[]): Promise<number> {
  const nextRefresh = () => Math.min(...pods.map((pod) => nextStateFileRefresh(pod)));
  for (let refreshes = 0; refreshes <= pods.length; refreshes++) {
    const soon = nextRefresh();
    if (soon - Date.now() >= FILE_REFRESH_HEADROOM_MS) return soon - Date.now();
    await waitFor('a kubelet file refresh that is due to pass', async () => Date.now() > soon + 500, FILE_REFRESH_HEADROOM_MS + 5000);
  }
  throw new Error(`no window of ${FILE_REFRESH_HEADROOM_MS} ms between the kubelet's file refreshes of ${pods.join(', ')}`);
}

/** Every pod of the window logged at least one lifecycle record, so the S1 analysis has data for all six. */
function assertRecordsForEveryPod(from: number): void {
  for (const pod of ALL_PODS) assert.ok(podRecords(pod, from).length > 0, `${pod} logged no lifecycle record in the window`);
}

before(async () => {
  await ensureLab();
  await resetFleet();
});

describe('no CLI: sidecars converge on the state ConfigMap by themselves', () => {
  it("a switch written by hand (PAUSED, then ACTIVE): each colour follows through its sidecars' API watch", async (t) => {
    assertFleet(await status(), 'blue');
    const start = Date.now();
    const pauseTimes: number[] = [];
    const resumeTimes: number[] = [];
    // Three round trips blue -> green -> blue, so the fleet ends as it started (active-version: blue).
    const steps: Array<[Color, Color]> = [];
    for (let round = 0; round < 3; round++) steps.push(['blue', 'green'], ['green', 'blue']);
    for (const [from, to] of steps) {
      const headroomMs = await fileRefreshHeadroom(ALL_PODS);
      const pausedAt = Date.now();
      const pausedGeneration = await writeDesired(Object.fromEntries(ALL_PODS.map((pod) => [pod, 'PAUSED' as const])));
      const paused = await convergence(PODS[from], 'PAUSED', pausedAt, headroomMs - 1000);
      pauseTimes.push(paused - pausedAt);
      // As the CLI: the new colour only once every old pod is seen PAUSED.
      const activeAt = Date.now();
      const activeGeneration = await writeDesired(Object.fromEntries(PODS[to].map((pod) => [pod, 'ACTIVE' as const])));
      const resumed = await convergence(PODS[to], 'ACTIVE', activeAt, headroomMs - (activeAt - pausedAt) - 1000);
      resumeTimes.push(resumed - activeAt);
      assert.ok(activeGeneration > pausedGeneration);
      // Each change was made by the pod's own sidecar, on the API server's entry (not the mounted
      // file). The sidecar logs a command once the consumer has answered, so its line may trail the
      // consumer's own record a little.
      await waitFor(
        `${from} paused and ${to} resumed by their sidecars on the watch (source api)`,
        async () =>
          PODS[from].every((pod) => sidecarCommands(pod, pausedAt).some((c) => c.command === 'pause' && c.source === 'api')) &&
          PODS[to].every((pod) => sidecarCommands(pod, activeAt).some((c) => c.command === 'resume' && c.source === 'api')),
        5000,
      );
      t.diagnostic(
        `${from} -> ${to} by hand: ${from} PAUSED ${(paused - pausedAt).toFixed(0)} ms after the write of generation ${pausedGeneration}, ${to} ACTIVE ${(resumed - activeAt).toFixed(0)} ms after the write of generation ${activeGeneration} (next file refresh was ${(headroomMs / 1000).toFixed(0)} s away)`,
      );
    }
    t.diagnostic(
      `convergence over ${steps.length} hand-written switches: pause median ${median(pauseTimes).toFixed(0)} ms (max ${Math.max(...pauseTimes).toFixed(0)}), resume median ${median(resumeTimes).toFixed(0)} ms (max ${Math.max(...resumeTimes).toFixed(0)}); target 3 s`,
    );
    assertRecordsForEveryPod(start);
    assertNoDualActive(t, start, 'switches written by hand');
    assertFleet(await status(), 'blue');
  });

  it('a CLI SIGKILLed right after desired-active: the new colour resumes with no other command', async (t) => {
    // From a known fleet even when the case before failed half-way.
    await resetFleet();
    assertFleet(await status(), 'blue');
    const start = Date.now();
    const headroomMs = await fileRefreshHeadroom(PODS.green);
    const cli = startBgswitch(['switch', 'green', '--yes', '--lease-duration', '5s']);
    await cli.stderrLine(/^\S+Z Resume green \.\.\.$/);
    cli.kill('SIGKILL');
    const killedAt = Date.now();
    assert.equal((await cli.exited).code, 128, 'the CLI was killed');
    const state = await coreApi().readNamespacedConfigMap({ name: STATE_CONFIGMAP, namespace });
    for (const pod of PODS.green) {
      const entry = parseEntry(state.data?.[pod] ?? '');
      assert.ok(entry.ok && entry.value.lifecycle === 'ACTIVE', `${pod}: the killed CLI had written desired ACTIVE`);
    }

    const resumed = await convergence(PODS.green, 'ACTIVE', start, headroomMs - (killedAt - start) - 1000);
    // Attribution from the sidecars' logs, which may trail the consumers' records a little.
    await waitFor(
      "the sidecars' logs to catch up",
      async () => PODS.green.every((pod) => sidecarCommands(pod, start).length > 0) || undefined,
      3000,
    ).catch(() => undefined);
    const bySidecar = PODS.green.filter((pod) =>
      sidecarCommands(pod, killedAt - 50).some((c) => c.command === 'resume' && c.source === 'api'),
    );
    t.diagnostic(
      `green ACTIVE ${Math.max(0, resumed - killedAt).toFixed(0)} ms after the kill; resumed by their sidecars on the API server's entry (at their next tick: the killed CLI's operation record is still there): ${bySidecar.length} of 3${bySidecar.length < 3 ? " (the others got the CLI's own resume before the kill)" : ''}`,
    );
    for (const pod of PODS.blue) assert.equal(stateOf(lastRecord(pod, start)), 'PAUSED', `${pod} stays PAUSED`);
    assertRecordsForEveryPod(start);
    assertNoDualActive(t, start, 'CLI killed after desired-active');

    // Leave the lab as found: the next command finishes the interrupted switch once the lock expires.
    await waitFor("the killed CLI's lock to expire", async () => !(await status()).lease.blocking, 20_000);
    const finish = await bgswitch(['switch', 'green', '--yes']);
    assert.equal(finish.code, 0, finish.stdout + finish.stderr);
    assertFleet(await status(), 'green');
  });

  it("the sidecars' memory and CPU (printed for docs/performance.md)", async (t) => {
    const ticksPerSecond = 100;
    const uptimeSeconds = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
    for (const pod of ALL_PODS) {
      const pid = containerPid(pod, 'switch-sidecar');
      assert.ok(pid !== undefined, `${pod}'s sidecar runs`);
      const procStatus = readFileSync(`/proc/${pid}/status`, 'utf8');
      const kib = (key: string) => Number(procStatus.match(new RegExp(`${key}:\\s+(\\d+)`))?.[1]);
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      const cpuSeconds = (Number(stat[11]) + Number(stat[12])) / ticksPerSecond;
      const aliveSeconds = uptimeSeconds - Number(stat[19]) / ticksPerSecond;
      assert.ok(kib('VmRSS') > 0);
      const metrics = await sidecarMetrics(pod);
      const mib = (name: string) => (Number(metrics.match(new RegExp(`^${name} (\\d+)`, 'm'))?.[1]) / 2 ** 20).toFixed(1);
      t.diagnostic(
        `${pod} sidecar: RSS ${(kib('VmRSS') / 1024).toFixed(1)} MiB (anon ${(kib('RssAnon') / 1024).toFixed(1)}, file ${(kib('RssFile') / 1024).toFixed(1)}), peak ${(kib('VmHWM') / 1024).toFixed(1)} MiB; V8 heap ${mib('nodejs_heap_size_used_bytes')} of ${mib('nodejs_heap_size_total_bytes')} MiB, external ${mib('nodejs_external_memory_bytes')} MiB; CPU ${cpuSeconds.toFixed(2)} s in ${aliveSeconds.toFixed(0)} s (${((100 * cpuSeconds) / aliveSeconds).toFixed(2)}%)`,
      );
    }
  });
});
