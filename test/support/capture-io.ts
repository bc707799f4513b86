/** Runs the real CLI with captured stdout/stderr and a chosen environment. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { run } from '../../src/cli/main.js';
import type { CliIO } from '../../src/render/io.js';

export interface CapturedRun {
  code: number;
  stdout: string;
  stderr: string;
}

class Capture extends Writable {
  text = '';
  isTTY = false;
  override _write(chunk: Buffer | string, _encoding: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

export async function runCli(
  args: string[],
  env: Record<string, string | undefined> = {},
  options: { stdinTTY?: boolean; input?: string; argv1?: string } = {},
): Promise<CapturedRun> {
  const stdout = new Capture();
  const stderr = new Capture();
  const stdin = Object.assign(new PassThrough(), { isTTY: options.stdinTTY ?? false });
  if (options.input !== undefined) stdin.end(options.input);
  const io: CliIO = { stdout, stderr, stdin, env: { NO_COLOR: '1', HOME: '/nonexistent-home', ...env } };
  const code = await run(['node', options.argv1 ?? 'bgswitch', ...args], io);
  return { code, stdout: stdout.text, stderr: stderr.text };
}

/**
 * A temporary directory holding a kubeconfig whose API server is a closed loopback port: any
 * attempt to reach a cluster fails (exit 3), so a test can tell "refused before touching the
 * cluster" (exit 2) from "tried". Call `remove()` when done.
 */
export function closedClusterKubeconfig(prefix: string): { dir: string; kubeconfig: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(
    kubeconfig,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters: [{name: closed, cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}}]',
      'users: [{name: nobody, user: {token: not-a-real-token}}]',
      'contexts: [{name: closed, context: {cluster: closed, user: nobody, namespace: kafka-bg-test}}]',
      'current-context: closed',
    ].join('\n'),
  );
  return { dir, kubeconfig, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
