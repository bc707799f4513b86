/**
 * `npm run demo`: brings the lab up if needed, then tours bgswitch as a newcomer would see it, while
 * messages flow through the lab's Kafka broker. Each step runs the real CLI (output shown as it is)
 * and is then checked against the cluster; at the end production stops and the verdict accounts for
 * every message of the tour. The demo exits 0 only if every step did what it says and nothing was
 * lost or processed twice.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { labUp } from './control.js';
import { parseVerifyFlags, verify } from './kafka/commands.js';
import { startProduction } from './kafka/load.js';
import { findRepoRoot } from './paths.js';
import { StatusWriter } from './progress.js';

interface StatusJson {
  declaredActive?: string;
  pods: Array<{ name: string; color: string; actual: string; fault?: { processingDelayMs: number } }>;
  problems: Array<{ message: string }>;
}

const repoRoot = findRepoRoot(import.meta.url);
/** Messages per second to bg-events during the tour. */
const DEMO_RATE = 100;

function bgswitch(args: string[], kubeconfig: string, capture = false): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(repoRoot, 'bin/bgswitch.js'), ...args, '--kubeconfig', kubeconfig], {
      stdio: ['inherit', capture ? 'pipe' : 'inherit', 'inherit'],
    });
    let stdout = '';
    child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, stdout }));
  });
}

async function main(): Promise<number> {
  process.stdout.write('== Bringing the lab up (a real kube-apiserver; the first run builds it) ==\n');
  const labLines = new StatusWriter(process.stdout);
  const lab = await labUp({ repoRoot, report: (line) => labLines.line(`  ${line}`), progress: (line) => labLines.status(`  ${line}`) });
  const kubeconfig = lab.paths.operatorKubeconfig;
  const status = async (): Promise<StatusJson> =>
    JSON.parse((await bgswitch(['status', '-o', 'json'], kubeconfig, true)).stdout) as StatusJson;
  const everyPod = (view: StatusJson, active: string) =>
    view.pods.length > 0 && view.pods.every((p) => p.actual === (p.color === active ? 'ACTIVE' : 'PAUSED'));

  if ((await status()).declaredActive !== 'blue') {
    process.stdout.write('\n== Preparing: blue active ==\n');
    if ((await bgswitch(['switch', 'blue', '--yes'], kubeconfig)).code !== 0) return 1;
  }

  const steps: Array<{ args: string[]; check: (view: StatusJson) => string | undefined }> = [
    { args: ['status'], check: (v) => (everyPod(v, 'blue') ? undefined : 'blue should be ACTIVE and green PAUSED') },
    {
      args: ['switch', 'green', '--yes'],
      check: (v) => (v.declaredActive === 'green' && everyPod(v, 'green') ? undefined : 'green should now be ACTIVE, blue PAUSED'),
    },
    {
      args: ['status'],
      check: (v) => (v.problems.length === 0 ? undefined : `status reports problems: ${v.problems.map((p) => p.message).join('; ')}`),
    },
    {
      args: ['inject-fault', 'consumer-green-0', 'delay=200'],
      check: (v) =>
        v.pods.find((p) => p.name === 'consumer-green-0')?.fault?.processingDelayMs === 200
          ? undefined
          : 'consumer-green-0 should report delay=200',
    },
    {
      args: ['inject-fault', 'consumer-green-0', '--clear'],
      check: (v) =>
        v.pods.find((p) => p.name === 'consumer-green-0')?.fault?.processingDelayMs === 0 ? undefined : 'the fault should be cleared',
    },
    {
      args: ['rollback', '--yes'],
      check: (v) => (v.declaredActive === 'blue' && everyPod(v, 'blue') ? undefined : 'blue should be ACTIVE again'),
    },
    { args: ['status'], check: (v) => (v.problems.length === 0 ? undefined : 'status should report no problems') },
  ];
  process.stdout.write(`\n== Producing ${DEMO_RATE} messages/s to bg-events for the whole tour ==\n`);
  const production = await startProduction({ rate: DEMO_RATE });
  process.stdout.write(`run ${production.runId}\n`);
  const tour = async (): Promise<string | undefined> => {
    for (const [index, step] of steps.entries()) {
      process.stdout.write(
        `\n== ${index + 1}/${steps.length}: $ bgswitch ${step.args.join(' ')} (${production.produced()} messages produced so far) ==\n`,
      );
      const { code } = await bgswitch(step.args, kubeconfig);
      const problem = code !== 0 ? `exited ${code}` : step.check(await status());
      if (problem) return `step "bgswitch ${step.args.join(' ')}" failed: ${problem}`;
    }
    return undefined;
  };
  const failedStep = await tour().finally(() => production.stop());
  if (failedStep) {
    process.stderr.write(`demo: ${failedStep}\n`);
    return 1;
  }

  process.stdout.write(`\n== $ npm run lab -- verify --settle 120s --run-id ${production.runId} ==\n`);
  const verdict = await verify(parseVerifyFlags({ settle: '120s', runId: production.runId }), {
    stdout: process.stdout,
    stderr: process.stderr,
  });
  const line = `${verdict.produced} produced, ${verdict.processed} processed, ${verdict.lost} lost, ${verdict.duplicated} duplicated`;
  process.stdout.write(`${line}\n`);
  // No consumer crashed during the tour, so even a crash-explained duplicate would be wrong here.
  if (verdict.produced === 0 || verdict.lost > 0 || verdict.duplicated > 0 || verdict.overlap.count > 0) {
    process.stderr.write(
      `demo: the verdict is not clean: ${[...verdict.reasons, ...(verdict.overlap.count > 0 ? [`${verdict.overlap.count} overlaps between colours`] : [])].join('; ') || 'nothing was produced'}\n`,
    );
    return 1;
  }
  process.stdout.write(
    `\nDemo complete: every step did what it says, and every message was processed exactly once.\nTry it yourself:\n  export KUBECONFIG=${kubeconfig}\n  node bin/bgswitch.js status\n`,
  );
  return 0;
}

process.exitCode = await main().catch((error: unknown) => {
  process.stderr.write(`demo: ${error instanceof Error ? error.message : String(error)}\n`);
  return 1;
});
