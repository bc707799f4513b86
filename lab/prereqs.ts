/**
 * What the lab needs from the machine, checked up front so that `lab up` fails in one second with
 * the full list of what is missing and how to get it, rather than halfway through.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { BgswitchError, ExitCode } from '../src/shared/errors.js';

const execFileAsync = promisify(execFile);

/** Exit 2: the machine lacks something; nothing was started. */
export class LabPrerequisiteError extends BgswitchError {
  constructor(readonly missing: string[]) {
    super(`the lab cannot start on this machine:\n${missing.map((line) => `  - ${line}`).join('\n')}`, ExitCode.usage);
  }
}

export interface PrerequisiteNeeds {
  /** Go is only needed when the Kubernetes binaries are not cached yet. */
  go: boolean;
}

export interface FoundTools {
  etcd: string;
}

async function succeeds(command: string, args: string[]): Promise<boolean> {
  try {
    await execFileAsync(command, args, { timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

async function locate(command: string): Promise<string | undefined> {
  try {
    const { stdout } = await execFileAsync('sh', ['-c', 'command -v "$0"', command], { encoding: 'utf8' });
    return stdout.trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Absolute path of etcd on PATH, if any. */
export function locateEtcd(): Promise<string | undefined> {
  return locate('etcd');
}

export async function checkPrerequisites(needs: PrerequisiteNeeds): Promise<FoundTools> {
  const missing: string[] = [];
  const isRoot = process.getuid?.() === 0;
  if (!isRoot) missing.push('root: the lab creates a bridge and network namespaces; run it as root (sudo npm run lab -- up)');
  const [netns, etcd, openssl, unshare, go] = await Promise.all([
    isRoot ? succeeds('ip', ['netns', 'list']) : Promise.resolve(true),
    locateEtcd(),
    succeeds('openssl', ['version']),
    succeeds('unshare', ['--version']),
    needs.go ? succeeds('go', ['version']) : Promise.resolve(true),
  ]);
  if (!netns) missing.push("'ip netns' (iproute2 with network-namespace support): apt-get install iproute2");
  if (etcd === undefined) missing.push('etcd: apt-get install etcd-server');
  if (!openssl) missing.push('openssl (makes the lab certificates): apt-get install openssl');
  if (!unshare) missing.push('unshare (gives each lab container its own mounts): apt-get install util-linux');
  if (!go) {
    missing.push('Go >= 1.24, to build kube-apiserver and kube-controller-manager once: https://go.dev/dl/ (or apt-get install golang-go if recent enough)');
  }
  if (missing.length > 0) throw new LabPrerequisiteError(missing);
  return { etcd: etcd as string };
}
