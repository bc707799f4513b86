/**
 * The lab's pod network: one Linux bridge `bgslab0` (10.77.0.1/24, the host's address on the lab
 * subnet) and, per pod, a network namespace `bgs-<hash>` whose `eth0` is one end of a veth pair
 * whose host end `bgv<hash>` is a port of the bridge. Host <-> pod and pod <-> pod traffic stays on
 * that one L2 segment, so no forwarding, NAT or firewall rule is involved.
 *
 * Guarantees: every function is idempotent and touches only links and namespaces carrying the lab's
 * names. Not guaranteed: reachability of anything outside 10.77.0.0/24 from a pod (by design).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { OperationError } from '../../src/shared/errors.js';

export const LAB_BRIDGE = 'bgslab0';
export const LAB_GATEWAY_IP = '10.77.0.1';
export const LAB_PREFIX_LENGTH = 24;
export const POD_NETNS_PREFIX = 'bgs-';
export const HOST_VETH_PREFIX = 'bgv';

const execFileAsync = promisify(execFile);

/** Runs `ip` with the given arguments; fails with the command and its stderr in the message. */
async function ip(args: string[]): Promise<string> {
  try {
    const { stdout } = await execFileAsync('ip', args, { encoding: 'utf8' });
    return stdout;
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr?.trim() ?? String(error);
    throw new OperationError(`'ip ${args.join(' ')}' failed: ${stderr}`, 'the lab needs root and iproute2');
  }
}

/** Deletes a link; one that vanished meanwhile (a veth goes with its namespace) is not an error. */
async function deleteLinkIfPresent(name: string): Promise<void> {
  try {
    await ip(['link', 'del', name]);
  } catch (error) {
    if (!/Cannot find device/.test(String((error as Error).message))) throw error;
  }
}

async function linkExists(name: string): Promise<boolean> {
  const links = await listLinkNames();
  return links.includes(name);
}

async function listLinkNames(): Promise<string[]> {
  return listedLinkNames(await ip(['-o', 'link', 'show']));
}

/** Link names from `ip -o link show` output: "7: bgv1a2b3c4d@if2: <BROADCAST,...>" -> "bgv1a2b3c4d". */
function listedLinkNames(out: string): string[] {
  return out
    .split('\n')
    .map((line) => line.split(':')[1]?.trim().split('@')[0] ?? '')
    .filter((name) => name !== '');
}

/** Every network namespace whose name carries the lab's pod prefix. */
export async function listPodNetns(): Promise<string[]> {
  const out = await ip(['netns', 'list']);
  return out
    .split('\n')
    .map((line) => line.split(' ')[0] ?? '')
    .filter((name) => name.startsWith(POD_NETNS_PREFIX));
}

/** Creates the bridge if missing, gives it 10.77.0.1/24 and brings it up. */
export async function ensureLabBridge(): Promise<void> {
  if (!(await linkExists(LAB_BRIDGE))) {
    await ip(['link', 'add', LAB_BRIDGE, 'type', 'bridge']);
  }
  await ip(['addr', 'replace', `${LAB_GATEWAY_IP}/${LAB_PREFIX_LENGTH}`, 'dev', LAB_BRIDGE]);
  await ip(['link', 'set', LAB_BRIDGE, 'up']);
}

/** The names one pod's network uses; derived from its uid, so a recreated pod gets fresh ones. */
export interface PodNetworkNames {
  netns: string;
  hostVeth: string;
}

export function podNetworkNames(podUid: string): PodNetworkNames {
  const hash = createHash('sha256').update(podUid).digest('hex').slice(0, 8);
  // Interface names are limited to 15 characters: "bgv" + 8 hex = 11.
  return { netns: `${POD_NETNS_PREFIX}${hash}`, hostVeth: `${HOST_VETH_PREFIX}${hash}` };
}

/**
 * Creates the pod's namespace with loopback up and `eth0` = `ip`/24, default route via the bridge.
 * A leftover namespace or veth of the same name is removed first.
 */
export async function createPodNetwork(names: PodNetworkNames, podIp: string): Promise<void> {
  await removePodNetwork(names);
  await ip(['netns', 'add', names.netns]);
  await ip(['link', 'add', names.hostVeth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', names.netns]);
  await ip(['link', 'set', names.hostVeth, 'master', LAB_BRIDGE]);
  await ip(['link', 'set', names.hostVeth, 'up']);
  const inPod = (args: string[]) => ip(['-n', names.netns, ...args]);
  await inPod(['link', 'set', 'lo', 'up']);
  await inPod(['link', 'set', 'eth0', 'address', macForPodIp(podIp)]);
  await inPod(['addr', 'add', `${podIp}/${LAB_PREFIX_LENGTH}`, 'dev', 'eth0']);
  await inPod(['link', 'set', 'eth0', 'up']);
  await inPod(['route', 'add', 'default', 'via', LAB_GATEWAY_IP]);
}

/**
 * Whether the pod's namespace exists and its veth is still a port of the bridge (something outside
 * the kubelet, e.g. `lab down`, may have removed either, or recreated the bridge without it).
 */
export async function podNetworkIntact(names: PodNetworkNames): Promise<boolean> {
  if (!(await listPodNetns()).includes(names.netns)) return false;
  const links = await ip(['-o', 'link', 'show', 'master', LAB_BRIDGE]).catch(() => '');
  return listedLinkNames(links).includes(names.hostVeth);
}

/**
 * The pod interface's MAC, derived from its IP (locally administered 02:42:<ip bytes>): a pod that
 * reuses a freed IP answers at the MAC the host and other pods may still have cached, so no stale
 * ARP entry ever points at a vanished interface.
 */
export function macForPodIp(podIp: string): string {
  const octets = podIp.split('.').map((octet) => Number(octet).toString(16).padStart(2, '0'));
  return ['02', '42', ...octets].join(':');
}

/** Removes the pod's veth and namespace if they exist. */
export async function removePodNetwork(names: PodNetworkNames): Promise<void> {
  if (await linkExists(names.hostVeth)) {
    await deleteLinkIfPresent(names.hostVeth);
  }
  if ((await listPodNetns()).includes(names.netns)) {
    await ip(['netns', 'del', names.netns]);
  }
}

/** Removes every lab pod namespace and host veth, keeping the bridge. */
export async function removeAllPodNetworks(): Promise<void> {
  for (const netns of await listPodNetns()) {
    await ip(['netns', 'del', netns]);
  }
  for (const link of await listLinkNames()) {
    if (link.startsWith(HOST_VETH_PREFIX)) {
      await deleteLinkIfPresent(link);
    }
  }
}

/** Removes every lab pod namespace, their veths, and the bridge. */
export async function removeLabNetwork(): Promise<void> {
  await removeAllPodNetworks();
  if (await linkExists(LAB_BRIDGE)) {
    await ip(['link', 'del', LAB_BRIDGE]);
  }
}
