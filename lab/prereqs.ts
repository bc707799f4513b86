/**
 * What the lab needs from the machine, checked up front so that `lab up` fails in one second with
 * the full list of what is missing and how to get it, rather than halfway through. As root on a
 * machine with apt-get, the missing Debian packages are installed first (`apt-get update` once, then
 * one `apt-get install`), so `npm ci && npm run demo` works on a fresh Debian or Ubuntu machine.
 * The decision (which packages, which commands) is plain logic over an injected command runner.
 */
import { execFile } from 'node:child_process';
import { BgswitchError, ExitCode } from '../src/shared/errors.js';
import { trackProgress, type ProgressSink } from './progress.js';

/** Exit 2: the machine lacks something; nothing was started. */
export class LabPrerequisiteError extends BgswitchError {
  constructor(readonly missing: string[]) {
    super(`the lab cannot start on this machine:\n${missing.map((line) => `  - ${line}`).join('\n')}`, ExitCode.usage);
  }
}

export interface CommandResult {
  ok: boolean;
  /** stdout and stderr together. */
  output: string;
}

/** Runs a command to completion; never throws for a failing or missing command. */
export type CommandRunner = (
  command: string,
  args: string[],
  options?: { env?: NodeJS.ProcessEnv; timeoutMs?: number },
) => Promise<CommandResult>;

export const runCommand: CommandRunner = (command, args, options = {}) =>
  new Promise((resolve) => {
    execFile(
      command,
      args,
      { encoding: 'utf8', timeout: options.timeoutMs ?? 10_000, maxBuffer: 16 * 1024 * 1024, ...(options.env ? { env: options.env } : {}) },
      (error, stdout, stderr) => resolve({ ok: error === null, output: `${stdout}${stderr}` }),
    );
  });

export interface PrerequisiteNeeds {
  /** Go is only needed when the Kubernetes binaries are not cached yet. */
  go: boolean;
  /** Maven is only needed when the Kafka broker's jars are not cached yet. */
  maven: boolean;
}

export interface FoundTools {
  etcd: string;
  java: string;
}

export interface PrerequisiteOptions {
  run?: CommandRunner;
  isRoot?: boolean;
  /** One line per install step. */
  report?: (line: string) => void;
  progress?: ProgressSink;
}

interface Requirement {
  /** What the user is told is missing, with how to get it. */
  missing: string;
  /** The Debian package that provides it, when apt-get can. */
  debianPackage?: string;
  /** For tools the lab runs by absolute path: which one this is. */
  tool?: keyof FoundTools;
  /** The tool's absolute path (for tools the lab runs by path) or `true`; undefined when missing. */
  probe(run: CommandRunner): Promise<string | true | undefined>;
}

async function locate(run: CommandRunner, command: string): Promise<string | undefined> {
  const { ok, output } = await run('sh', ['-c', 'command -v "$0"', command]);
  return ok ? output.trim() || undefined : undefined;
}

const succeeds = (command: string, args: string[]) => async (run: CommandRunner) =>
  (await run(command, args)).ok ? (true as const) : undefined;

/** Kafka 4 needs Java 17 or later. */
export async function locateJava(run: CommandRunner = runCommand): Promise<string | undefined> {
  const java = await locate(run, 'java');
  if (java === undefined) return undefined;
  const { ok, output } = await run(java, ['-version']);
  const major = Number(/version "(\d+)/.exec(output)?.[1] ?? 0);
  return ok && major >= 17 ? java : undefined;
}

/** Absolute path of etcd on PATH, if any. */
export function locateEtcd(run: CommandRunner = runCommand): Promise<string | undefined> {
  return locate(run, 'etcd');
}

function requirements(needs: PrerequisiteNeeds, isRoot: boolean): Requirement[] {
  const all: Array<Requirement | false> = [
    // 'ip netns list' only works as root; without root the root requirement is reported instead.
    isRoot && {
      missing: "'ip netns' (iproute2 with network-namespace support): apt-get install iproute2",
      debianPackage: 'iproute2',
      probe: succeeds('ip', ['netns', 'list']),
    },
    { missing: 'etcd: apt-get install etcd-server', debianPackage: 'etcd-server', tool: 'etcd', probe: (run) => locateEtcd(run) },
    {
      missing: 'openssl (makes the lab certificates): apt-get install openssl',
      debianPackage: 'openssl',
      probe: succeeds('openssl', ['version']),
    },
    {
      missing: 'unshare (gives each lab container its own mounts): apt-get install util-linux',
      debianPackage: 'util-linux',
      probe: succeeds('unshare', ['--version']),
    },
    {
      missing: 'Java >= 17 (runs the lab Kafka broker): apt-get install openjdk-17-jre-headless',
      debianPackage: 'openjdk-17-jre-headless',
      tool: 'java',
      probe: (run) => locateJava(run),
    },
    needs.maven && {
      missing: 'Maven (fetches the Kafka broker jars once): apt-get install maven',
      debianPackage: 'maven',
      probe: succeeds('mvn', ['--version']),
    },
    needs.go && {
      missing:
        'Go >= 1.24, to build kube-apiserver and kube-controller-manager once: https://go.dev/dl/ (or apt-get install golang-go if recent enough)',
      probe: succeeds('go', ['version']),
    },
  ];
  return all.filter((requirement): requirement is Requirement => requirement !== false);
}

/** The commands that install `packages`, or none when they cannot be installed here (not root, no apt-get). */
export function installCommands(packages: string[], machine: { isRoot: boolean; hasAptGet: boolean }): Array<[string, ...string[]]> {
  if (packages.length === 0 || !machine.isRoot || !machine.hasAptGet) return [];
  return [
    ['apt-get', 'update', '-qq'],
    ['apt-get', 'install', '-y', '-qq', '--no-install-recommends', ...packages],
  ];
}

async function probeAll(reqs: Requirement[], run: CommandRunner): Promise<Array<string | true | undefined>> {
  return Promise.all(reqs.map((requirement) => requirement.probe(run)));
}

export async function checkPrerequisites(needs: PrerequisiteNeeds, options: PrerequisiteOptions = {}): Promise<FoundTools> {
  const run = options.run ?? runCommand;
  const isRoot = options.isRoot ?? process.getuid?.() === 0;
  const reqs = requirements(needs, isRoot);
  let found = await probeAll(reqs, run);
  const packages = [
    ...new Set(
      reqs.flatMap((requirement, index) => (found[index] === undefined && requirement.debianPackage ? [requirement.debianPackage] : [])),
    ),
  ];
  const commands = installCommands(packages, { isRoot, hasAptGet: (await locate(run, 'apt-get')) !== undefined });
  if (commands.length > 0) {
    options.report?.(`installing Debian packages: ${packages.join(' ')} (apt-get, as root)`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    for (const [command, ...args] of commands) {
      const done = run(command, args, { env, timeoutMs: 15 * 60_000 });
      const { ok, output } = await (options.progress
        ? trackProgress(options.progress, `${command} ${args[0]}`, () => packages.join(' '), done)
        : done);
      if (!ok)
        throw new LabPrerequisiteError([`'${[command, ...args].join(' ')}' failed: ${output.trim().split('\n').slice(-3).join(' / ')}`]);
    }
    found = await probeAll(reqs, run);
  }
  const missing = reqs.filter((_, index) => found[index] === undefined).map((requirement) => requirement.missing);
  if (!isRoot) missing.unshift('root: the lab creates a bridge and network namespaces; run it as root (sudo npm run lab -- up)');
  if (missing.length > 0) throw new LabPrerequisiteError(missing);
  const tools: Partial<FoundTools> = {};
  reqs.forEach((requirement, index) => {
    if (requirement.tool) tools[requirement.tool] = found[index] as string;
  });
  return tools as FoundTools;
}
