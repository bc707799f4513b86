/** Runs the real CLI with captured stdout/stderr and a chosen environment. */
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

export async function runCli(args: string[], env: Record<string, string | undefined> = {}, options: { stdinTTY?: boolean } = {}): Promise<CapturedRun> {
  const stdout = new Capture();
  const stderr = new Capture();
  const stdin = Object.assign(new PassThrough(), { isTTY: options.stdinTTY ?? false });
  const io: CliIO = { stdout, stderr, stdin, env: { NO_COLOR: '1', HOME: '/nonexistent-home', ...env } };
  const code = await run(['node', 'bgswitch', ...args], io);
  return { code, stdout: stdout.text, stderr: stderr.text };
}
