/**
 * Wires a command to a real cluster: kubeconfig, the Kubernetes adapter, the pod client, the
 * operator's identity. Imported lazily by the commands that talk to a cluster.
 */
import { randomBytes } from 'node:crypto';
import { hostname, userInfo } from 'node:os';
import { systemClock } from '../shared/clock.js';
import type { Clock } from '../shared/clock.js';
import type { ObjectNames } from '../core/ports.js';
import { loadKubeAccess, type KubeAccess } from '../kube/access.js';
import { KubeCluster } from '../kube/cluster.js';
import { createPodAgent, type PodClient } from '../pods/agent.js';
import type { CliIO } from '../render/io.js';
import type { ClusterSettings } from './options.js';

export interface Runtime {
  access: KubeAccess;
  cluster: KubeCluster;
  pods: PodClient;
  names: ObjectNames;
  clock: Clock;
  /** user@host */
  actor: string;
  /** Unique per invocation: the Lease holder while switching. */
  holder: string;
}

export function operatorIdentity(env: CliIO['env']): { actor: string; holder: string } {
  let user = env.USER ?? 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // no passwd entry (some containers): keep $USER
  }
  const actor = `${user}@${hostname()}`;
  return { actor, holder: `${actor}/${process.pid}/${randomBytes(3).toString('hex')}` };
}

/**
 * Runs `work` with a runtime and always closes its connections afterwards, so the process exits as
 * soon as the command is done.
 */
export async function withRuntime<T>(settings: ClusterSettings, io: CliIO, work: (runtime: Runtime) => Promise<T>): Promise<T> {
  const runtime = createRuntime(settings, io);
  try {
    return await work(runtime);
  } finally {
    await Promise.all([runtime.pods.close(), runtime.cluster.close()]);
  }
}

function createRuntime(settings: ClusterSettings, io: CliIO): Runtime {
  const access = loadKubeAccess({
    ...(settings.kubeconfig !== undefined ? { kubeconfig: settings.kubeconfig } : {}),
    ...(settings.context !== undefined ? { context: settings.context } : {}),
    ...(settings.namespace !== undefined ? { namespace: settings.namespace } : {}),
    overrides: settings.connection,
    env: io.env,
  });
  const names: ObjectNames = { namespace: access.namespace, ...settings.names };
  const cluster = new KubeCluster(access.credentials, names, { requestTimeoutMs: settings.requestTimeoutMs });
  const pods = createPodAgent({
    via: settings.via,
    credentials: access.credentials,
    namespace: access.namespace,
    lifecyclePort: settings.lifecyclePort,
    sidecarPort: settings.sidecarPort,
    pushKey: () => cluster.readPushKey(),
    timeoutMs: settings.requestTimeoutMs,
    clock: systemClock,
    env: io.env,
  });
  return { access, cluster, pods, names, clock: systemClock, ...operatorIdentity(io.env) };
}
