/**
 * A reference consumer process for tests (`consumer/main.ts` through tsx, or the built
 * `dist/consumer/main.js`), with its output captured as it comes, so a test can read the listening
 * line and the transition log while the process runs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

export interface ConsumerRun {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

/** Runs `node <args>` in the repository root with only PATH and `env` in its environment. */
export function spawnConsumer(args: string[], env: Record<string, string>): ConsumerRun {
  const child = spawn(process.execPath, args, {
    cwd: repoRoot,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, stdout: () => out, stderr: () => err, exited };
}

/** The consumer's base URL, from its `listening` line, once it printed one. */
export function listeningUrl(run: ConsumerRun): string | undefined {
  return /"event":"listening".*"url":"([^"]+)"/.exec(run.stdout())?.[1];
}
