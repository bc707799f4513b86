/**
 * The one entry point: parses, runs, and turns every error into a message on stderr and an exit
 * code. `process.exitCode` is set here and nowhere else.
 */
import { CommanderError } from 'commander';
import { BgswitchError, ExitCode } from '../core/errors.js';
import type { CliIO } from '../render/io.js';
import { buildProgram } from './program.js';

/** Runs the CLI with injected streams and returns the exit code (tests call this directly). */
export async function run(argv: string[], io: CliIO): Promise<number> {
  const cli = buildProgram(io);
  try {
    await cli.program.parseAsync(argv);
    return cli.exitCode();
  } catch (error) {
    return report(error, io);
  }
}

function report(error: unknown, io: CliIO): number {
  if (error instanceof CommanderError) {
    // commander already printed its message to our stderr; help and --version are successes.
    return error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
  }
  if (error instanceof BgswitchError) {
    io.stderr.write(`error: ${error.message}\n`);
    if (error.hint) io.stderr.write(`hint: ${error.hint}\n`);
    return error.exitCode;
  }
  const message = error instanceof Error ? error.message : String(error);
  io.stderr.write(`error: ${message}\n`);
  if (io.env.BGSWITCH_DEBUG && error instanceof Error && error.stack) io.stderr.write(`${error.stack}\n`);
  else io.stderr.write('hint: this is unexpected; rerun with BGSWITCH_DEBUG=1 for details and report it\n');
  return ExitCode.failure;
}

/** Used by bin/bgswitch.js. */
export async function main(argv: string[]): Promise<void> {
  process.exitCode = await run(argv, { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env });
}
