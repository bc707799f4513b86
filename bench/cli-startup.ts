/**
 * `npm run bench`: how fast the CLI starts, and what importing the Kubernetes client would cost if
 * it were not lazy. Prints figures; asserts nothing (speed is measured, not tested).
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../bin/bgswitch.js', import.meta.url));
const RUNS = Number(process.env.BENCH_RUNS ?? 15);

function measure(label: string, args: string[]): void {
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const start = performance.now();
    const result = spawnSync(process.execPath, args, { stdio: 'ignore' });
    if (result.status !== 0) throw new Error(`${label} exited ${result.status}`);
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))]!.toFixed(0);
  process.stdout.write(`${label.padEnd(44)} median ${at(0.5)} ms   p90 ${at(0.9)} ms   (${RUNS} runs)\n`);
}

measure('bgswitch --help', [bin, '--help']);
measure('bgswitch switch --help', [bin, 'switch', '--help']);
measure('node: import @kubernetes/client-node only', ['--input-type=module', '-e', "await import('@kubernetes/client-node')"]);
