/**
 * Runs one container as a local process: inside the pod's network namespace (`ip netns exec`) and a
 * private mount namespace (`unshare --mount --propagation private`) in which every volume is
 * bind-mounted at its real mountPath, then `exec`s the image's command, so the recorded pid is the
 * container's own process (signals reach it directly; it leads its own process group).
 * stdout and stderr are appended to the container's log file by the process itself.
 *
 * Guarantees: only the given environment reaches the process; bind mounts never propagate to the
 * host. Not guaranteed: isolation of the filesystem outside the mountPaths, of pids or of resources
 * (the lab runs trusted code). Missing mountpoint directories are created on the host, empty.
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, openSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { OperationError } from '../../src/shared/errors.js';

export interface Mount {
  hostPath: string;
  mountPath: string;
  readOnly: boolean;
}

export interface ContainerLaunch {
  netns: string;
  argv: string[];
  env: Record<string, string>;
  mounts: Mount[];
  workingDir: string;
  logFile: string;
}

export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ContainerProcess {
  pid: number;
  exited: Promise<ProcessExit>;
}

/** The local command for an image the lab can run, or undefined (the kubelet reports ErrImagePull). */
export function commandForImage(image: string, repo: string): string[] | undefined {
  const repository = image.replace(/^docker\.io\//, '').replace(/[:@].*$/, '');
  const command = IMAGE_COMMANDS[repository];
  return command === undefined ? undefined : [process.execPath, ...withThisNode(command.nodeFlags), join(repo, command.entry)];
}

/** The sidecar image's Node flags, as its Dockerfile `CMD` gives them (test/unit/bundle.test.ts holds the two equal). */
export const SIDECAR_NODE_FLAGS: readonly string[] = ['--jitless', '--max-semi-space-size=1'];

/** What each image's CMD runs (Dockerfile): the same file of `npm run bundle` (built by `npm run build`), with the same Node flags. */
const IMAGE_COMMANDS: Record<string, { entry: string; nodeFlags: readonly string[] }> = {
  'bgswitch/reference-consumer': { entry: 'dist/bundle/consumer/main.mjs', nodeFlags: [] },
  'bgswitch/switch-sidecar': { entry: 'dist/bundle/sidecar/main.cjs', nodeFlags: SIDECAR_NODE_FLAGS },
};

/**
 * The image's flags for the Node the lab runs on. The images run Node 24, whose V8 turns WebAssembly
 * off under `--jitless` silently and refuses `--no-expose-wasm`; the V8 of Node 20 warns on every
 * start unless told `--no-expose-wasm`, so it is added where this Node accepts it.
 */
function withThisNode(flags: readonly string[]): string[] {
  return flags.includes('--jitless') && acceptsNoExposeWasm() ? [...flags, '--no-expose-wasm'] : [...flags];
}

let noExposeWasm: boolean | undefined;
function acceptsNoExposeWasm(): boolean {
  noExposeWasm ??= spawnSync(process.execPath, ['--no-expose-wasm', '-e', '0'], { stdio: 'ignore' }).status === 0;
  return noExposeWasm;
}

export function launchContainer(launch: ContainerLaunch): ContainerProcess {
  const log = openSync(launch.logFile, 'a');
  try {
    const child = spawn(
      'ip',
      [
        'netns',
        'exec',
        launch.netns,
        'unshare',
        '--mount',
        '--propagation',
        'private',
        '--',
        'sh',
        '-c',
        mountScript(launch.mounts, launch.workingDir),
        'container',
        ...launch.argv,
      ],
      { env: launch.env, stdio: ['ignore', log, log], detached: true, cwd: '/' },
    );
    if (child.pid === undefined) {
      throw new OperationError(`could not start 'ip netns exec ${launch.netns}' (is iproute2 installed?)`);
    }
    const exited = new Promise<ProcessExit>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    return { pid: child.pid, exited };
  } finally {
    closeSync(log);
  }
}

/** The shell prelude run in the new mount namespace before `exec`ing the container's command. */
export function mountScript(mounts: Mount[], workingDir: string): string {
  const lines = ['set -e'];
  for (const mount of mounts) {
    const target = shellQuote(mount.mountPath);
    if (isFile(mount.hostPath)) {
      lines.push(`mkdir -p "$(dirname ${target})"`, `[ -e ${target} ] || touch ${target}`);
    } else {
      lines.push(`mkdir -p ${target}`);
    }
    lines.push(`mount --bind ${shellQuote(mount.hostPath)} ${target}`);
    if (mount.readOnly) lines.push(`mount -o remount,bind,ro ${target}`);
  }
  // `cd` makes the shell export PWD/OLDPWD; a container's environment must not gain them.
  lines.push(`mkdir -p ${shellQuote(workingDir)}`, `cd ${shellQuote(workingDir)}`, 'unset PWD OLDPWD', 'exec "$@"');
  return lines.join('\n');
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** Signals the container's process group (falls back to the pid alone); a gone process is fine. */
export function signalContainer(pid: number, signal: NodeJS.Signals): void {
  // 0, 1 and negatives would address the kubelet's own group, init or everything.
  if (!Number.isInteger(pid) || pid <= 1) return;
  for (const target of [-pid, pid]) {
    try {
      process.kill(target, signal);
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
    }
  }
}

/**
 * Kills container processes a previous kubelet run left behind, found through the `<container>.pid`
 * files under `podsDir`. A pid is only killed if its command line still names one of the lab's
 * image entrypoints in `repo` (a recycled pid belongs to someone else).
 */
export function killLeftoverContainers(podsDir: string, repo: string): number[] {
  const killed: number[] = [];
  const entrypoints = Object.values(IMAGE_COMMANDS).map(({ entry }) => join(repo, entry));
  for (const podDir of listDir(podsDir)) {
    for (const file of listDir(join(podsDir, podDir)).filter((name) => name.endsWith('.pid'))) {
      const pid = Number(readFileSync(join(podsDir, podDir, file), 'utf8').trim());
      if (!Number.isInteger(pid) || pid <= 1) continue;
      const commandLine = readCommandLine(pid);
      if (commandLine !== undefined && entrypoints.some((entry) => commandLine.includes(entry))) {
        signalContainer(pid, 'SIGKILL');
        killed.push(pid);
      }
    }
  }
  return killed;
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function readCommandLine(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return undefined;
  }
}
