/**
 * The lab's detached background processes: each has a pid file in `.lab/pids` and a log in
 * `.lab/logs`. A pid is only ever treated as the lab's when /proc/<pid>/cmdline shows the lab's
 * executable with arguments naming the lab directory, so a stale pid file that now points at an
 * unrelated process is never signalled. Linux only (reads /proc).
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { OperationError } from '../../src/shared/errors.js';
import { waitFor } from './wait.js';

export interface ProcessSpec {
  /** Short name used in messages. */
  name: string;
  command: string;
  /** For interpreters (node): the script, which identifies the program as much as the command. */
  script?: string;
  args: string[];
  pidFile: string;
  logFile: string;
  /** A string every command line of this lab's instance contains (the lab directory). */
  labMarker: string;
  cwd?: string;
}

export type ProcessState =
  /** Running with exactly the wanted command line. */
  | { state: 'running'; pid: number }
  /** The lab's process, but started with another command line (other version or settings). */
  | { state: 'outdated'; pid: number }
  | { state: 'down' };

/** argv of a live (non-zombie) process, or undefined. */
export function readCommandLine(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "123 (name with spaces) S ..." — the state follows the last ')'.
    if (stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z') return undefined;
    const raw = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return (raw.endsWith('\0') ? raw.slice(0, -1) : raw).split('\0');
  } catch {
    return undefined;
  }
}

function readPid(pidFile: string): number | undefined {
  if (!existsSync(pidFile)) return undefined;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  return Number.isSafeInteger(pid) && pid > 1 ? pid : undefined;
}

export function inspectProcess(spec: ProcessSpec): ProcessState {
  const pid = readPid(spec.pidFile);
  if (pid === undefined) return { state: 'down' };
  const argv = readCommandLine(pid);
  if (argv === undefined || argv.length === 0) return { state: 'down' };
  const wanted = commandLine(spec);
  if (argv.length === wanted.length && argv.every((part, index) => part === wanted[index])) return { state: 'running', pid };
  const sameProgram = basename(argv[0] ?? '') === basename(spec.command) && (spec.script === undefined || argv[1] === spec.script);
  return sameProgram && argv.some((part) => part.includes(spec.labMarker)) ? { state: 'outdated', pid } : { state: 'down' };
}

function commandLine(spec: ProcessSpec): string[] {
  return [spec.command, ...(spec.script === undefined ? [] : [spec.script]), ...spec.args];
}

/** Starts the process detached (own session, survives this process) and records its pid. */
export async function startProcess(spec: ProcessSpec): Promise<number> {
  mkdirSync(dirname(spec.pidFile), { recursive: true });
  mkdirSync(dirname(spec.logFile), { recursive: true });
  const log = openSync(spec.logFile, 'a');
  try {
    const [command, ...args] = commandLine(spec) as [string, ...string[]];
    writeSync(log, `\n--- ${new Date().toISOString()} starting: ${[command, ...args].join(' ')}\n`);
    const child = spawn(command, args, { detached: true, stdio: ['ignore', log, log], cwd: spec.cwd });
    const pid = await new Promise<number>((resolve, reject) => {
      child.once('spawn', () => resolve(child.pid as number));
      child.once('error', (error) => reject(new OperationError(`cannot start ${spec.name} (${spec.command}): ${error.message}`)));
    });
    child.unref();
    writeFileSync(spec.pidFile, `${pid}\n`);
    return pid;
  } finally {
    closeSync(log);
  }
}

export function isAlive(pid: number): boolean {
  return readCommandLine(pid) !== undefined;
}

/** The last lines of a component's log, for error messages. */
export async function logTail(logFile: string, lines = 15): Promise<string> {
  try {
    return (await readFile(logFile, 'utf8')).trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Fails at once, with the log tail, when a process that should be running has exited. */
export async function assertStillRunning(spec: ProcessSpec, pid: number): Promise<void> {
  if (isAlive(pid)) return;
  throw new OperationError(`${spec.name} exited right after starting; last lines of ${spec.logFile}:\n${await logTail(spec.logFile)}`);
}

export type StopOutcome = 'not running' | 'stopped' | 'killed';

/**
 * SIGTERM, then after `graceMs` SIGKILL to the whole process group the lab's process leads (a
 * detached process is its group's leader, so this also ends children it failed to stop).
 */
export async function stopProcess(spec: ProcessSpec, graceMs: number): Promise<StopOutcome> {
  const current = inspectProcess(spec);
  if (current.state === 'down') {
    rmSync(spec.pidFile, { force: true });
    return 'not running';
  }
  const { pid } = current;
  const gone = async (timeoutMs: number): Promise<boolean> => {
    try {
      await waitFor(
        `${spec.name} (pid ${pid}) to exit`,
        async () => (isAlive(pid) ? { done: false, reason: 'still running' } : { done: true, value: true }),
        {
          timeoutMs,
          firstIntervalMs: 20,
          maxIntervalMs: 250,
        },
      );
      return true;
    } catch {
      return false;
    }
  };
  signal(pid, 'SIGTERM');
  let outcome: StopOutcome = 'stopped';
  if (!(await gone(graceMs))) {
    outcome = 'killed';
    signal(-pid, 'SIGKILL');
    signal(pid, 'SIGKILL');
    if (!(await gone(5000))) throw new OperationError(`${spec.name} (pid ${pid}) survived SIGKILL`);
  }
  rmSync(spec.pidFile, { force: true });
  return outcome;
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}
