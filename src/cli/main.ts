/**
 * The one entry point: parses, runs, and turns every error into a message on stderr and an exit
 * code. `process.exitCode` is set here and nowhere else.
 */
import { CommanderError } from 'commander';
import { BgswitchError, ExitCode } from '../shared/errors.js';
import type { CliIO } from '../render/io.js';
import { buildProgram, invokedName } from './program.js';

/** Runs the CLI with injected streams and returns the exit code (tests call this directly). */
export async function run(argv: string[], io: CliIO): Promise<number> {
  const cli = buildProgram(io, invokedName(argv));
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
    if (error.code === 'commander.unknownOption' && /'-v'/.test(error.message)) {
      io.stderr.write("hint: --version prints the version; -v is not a flag of bgswitch (kubectl's -v verbosity is not supported)\n");
    }
    return error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.exitCode === 0
      ? ExitCode.ok
      : ExitCode.usage;
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

/**
 * A reader that went away (`bgswitch switch --help | head`) is not an error of the command: once
 * stdout or stderr breaks (EPIPE), further output is dropped and the command ends with its own exit
 * code (a running switch still finishes or rolls back; `status --watch` stops).
 */
function ignoreClosedReader(stream: NodeJS.WriteStream): void {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
  });
}

/** Used by bin/bgswitch.js. */
export async function main(argv: string[]): Promise<void> {
  ignoreClosedReader(process.stdout);
  ignoreClosedReader(process.stderr);
  process.exitCode = await run(argv, { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env });
}
