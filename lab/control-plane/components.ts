/**
 * The lab's background processes — etcd, kube-apiserver, kube-controller-manager, the Kafka broker
 * (lab/kafka/broker.ts) and the lab kubelet — as command lines plus a readiness probe each. Start order is the array order; stop
 * order is the reverse. Listening sockets: etcd on loopback only; the API server on :16443 of every
 * interface (pods reach it at 10.77.0.1, host tools at 127.0.0.1) with anonymous access disabled,
 * so only lab-CA client certificates and service-account tokens get in; the controller manager
 * serves its health endpoint on loopback only.
 */
import { join } from 'node:path';
import { CoreV1Api } from '@kubernetes/client-node';
import { kafkaComponent } from '../kafka/broker.js';
import type { LabPki } from '../pki.js';
import { LAB_NETWORK, type Component, type LabPaths } from '../paths.js';
import { adminClient, adminRequest } from './clients.js';
import type { ProcessSpec } from './process.js';
import { describeError, type Probe } from './wait.js';

export interface LabComponent {
  component: Component;
  process: ProcessSpec;
  /** Runs before each start (e.g. formatting a data directory once). */
  prepare?: () => Promise<void>;
  ready(): Promise<Probe<void>>;
  readyTimeoutMs: number;
  /** How long SIGTERM may take before SIGKILL. */
  stopGraceMs: number;
}

export interface ComponentSettings {
  paths: LabPaths;
  pki: LabPki;
  /** Directory holding kube-apiserver and kube-controller-manager. */
  binDir: string;
  etcdBinary: string;
  javaBinary: string;
  configMapSyncSeconds: number;
}

const ETCD_URL = `http://127.0.0.1:${LAB_NETWORK.etcdClientPort}`;
const SERVICE_ACCOUNT_ISSUER = 'https://kubernetes.default.svc.cluster.local';

/**
 * Controllers that need real nodes or a cloud: node lifecycle must be off because the lab kubelet
 * does not heartbeat (it would mark the node NotReady and evict every pod); pod GC would delete
 * pods bound to a node object the lab kubelet may not register.
 */
const DISABLED_CONTROLLERS = [
  'node-ipam-controller',
  'node-lifecycle-controller',
  'cloud-node-lifecycle-controller',
  'service-lb-controller',
  'node-route-controller',
  'pod-garbage-collector-controller',
];

function processSpec(settings: ComponentSettings, component: Component, command: string, args: string[], script?: string): ProcessSpec {
  const { paths } = settings;
  return {
    name: component,
    command,
    ...(script === undefined ? {} : { script }),
    args,
    pidFile: paths.pidFile(component),
    logFile: paths.logFile(component),
    labMarker: paths.labDir,
    cwd: paths.repoRoot,
  };
}

function etcd(settings: ComponentSettings): LabComponent {
  const peerUrl = `http://127.0.0.1:${LAB_NETWORK.etcdPeerPort}`;
  return {
    component: 'etcd',
    process: processSpec(settings, 'etcd', settings.etcdBinary, [
      '--name=bgswitch-lab',
      `--data-dir=${settings.paths.etcdDataDir}`,
      `--listen-client-urls=${ETCD_URL}`,
      `--advertise-client-urls=${ETCD_URL}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=bgswitch-lab=${peerUrl}`,
      '--initial-cluster-state=new',
      '--logger=zap',
    ]),
    ready: async () => {
      try {
        const response = await fetch(`${ETCD_URL}/health`, { signal: AbortSignal.timeout(2000) });
        const body = (await response.json()) as { health?: string };
        return body.health === 'true' ? { done: true, value: undefined } : { done: false, reason: `health ${JSON.stringify(body)}` };
      } catch (error) {
        return { done: false, reason: describeError(error) };
      }
    },
    readyTimeoutMs: 30_000,
    stopGraceMs: 15_000,
  };
}

function apiServer(settings: ComponentSettings): LabComponent {
  const { pki } = settings;
  return {
    component: 'kube-apiserver',
    process: processSpec(settings, 'kube-apiserver', join(settings.binDir, 'kube-apiserver'), [
      `--etcd-servers=${ETCD_URL}`,
      '--bind-address=0.0.0.0',
      `--secure-port=${LAB_NETWORK.apiServerPort}`,
      `--advertise-address=${LAB_NETWORK.bridgeAddress}`,
      `--tls-cert-file=${pki.leaves.apiServer.cert}`,
      `--tls-private-key-file=${pki.leaves.apiServer.key}`,
      `--client-ca-file=${pki.caCert}`,
      '--anonymous-auth=false',
      '--authorization-mode=RBAC',
      `--service-account-issuer=${SERVICE_ACCOUNT_ISSUER}`,
      `--service-account-key-file=${pki.serviceAccountPublicKey}`,
      `--service-account-signing-key-file=${pki.serviceAccountKey}`,
      `--service-cluster-ip-range=${LAB_NETWORK.serviceClusterIpRange}`,
      '--profiling=false',
    ]),
    ready: async () => {
      try {
        const { status, body } = await adminRequest(pki, 'GET', '/readyz?verbose');
        if (status === 200) return { done: true, value: undefined };
        const failing = body.split('\n').filter((line) => line.includes('[-]'));
        return { done: false, reason: `/readyz ${status}: ${failing.join('; ') || body.trim().slice(0, 200)}` };
      } catch (error) {
        return { done: false, reason: describeError(error) };
      }
    },
    readyTimeoutMs: 120_000,
    stopGraceMs: 15_000,
  };
}

function controllerManager(settings: ComponentSettings): LabComponent {
  const { pki, paths } = settings;
  let core: CoreV1Api | undefined;
  const controllerManagerUrl = `https://127.0.0.1:${LAB_NETWORK.controllerManagerPort}`;
  return {
    component: 'kube-controller-manager',
    process: processSpec(settings, 'kube-controller-manager', join(settings.binDir, 'kube-controller-manager'), [
      `--kubeconfig=${paths.controllerManagerKubeconfig}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${LAB_NETWORK.controllerManagerPort}`,
      // The API server's certificate names 127.0.0.1 and is signed by the lab CA: good enough to
      // let the readiness probe verify whom it talks to.
      `--tls-cert-file=${pki.leaves.apiServer.cert}`,
      `--tls-private-key-file=${pki.leaves.apiServer.key}`,
      '--leader-elect=false',
      `--service-account-private-key-file=${pki.serviceAccountKey}`,
      `--root-ca-file=${pki.caCert}`,
      // Each controller acts as its own service account with the narrow bootstrap role made for it;
      // the controller manager's own role (system:kube-controller-manager) may not create pods.
      '--use-service-account-credentials=true',
      `--controllers=*,${DISABLED_CONTROLLERS.map((name) => `-${name}`).join(',')}`,
    ]),
    // Healthy, and working controllers leave traces: the root-CA publisher fills kube-root-ca.crt
    // in every namespace and the service-account controller creates `default` in each.
    ready: async () => {
      try {
        const health = await adminRequest(pki, 'GET', '/healthz', undefined, { baseUrl: controllerManagerUrl });
        if (health.status !== 200) return { done: false, reason: `/healthz ${health.status}: ${health.body.trim().slice(0, 200)}` };
        core ??= adminClient(paths, CoreV1Api);
        await core.readNamespacedConfigMap({ name: 'kube-root-ca.crt', namespace: 'kube-system' });
        await core.readNamespacedServiceAccount({ name: 'default', namespace: 'kube-system' });
        return { done: true, value: undefined };
      } catch (error) {
        return { done: false, reason: `controllers not working yet: ${describeError(error)}` };
      }
    },
    readyTimeoutMs: 60_000,
    stopGraceMs: 15_000,
  };
}

/** Script of the lab kubelet, built by `npm run build`. */
export function kubeletScript(paths: LabPaths): string {
  return join(paths.repoRoot, 'dist', 'lab', 'kubelet', 'main.js');
}

function kubelet(settings: ComponentSettings): LabComponent {
  const { paths } = settings;
  const spec = processSpec(
    settings,
    'kubelet',
    process.execPath,
    [
      '--kubeconfig',
      paths.adminKubeconfig,
      '--lab-dir',
      paths.labDir,
      '--repo',
      paths.repoRoot,
      '--configmap-sync-seconds',
      String(settings.configMapSyncSeconds),
    ],
    kubeletScript(paths),
  );
  return {
    component: 'kubelet',
    process: spec,
    // Whether it works shows in the pods becoming Ready; that wait also watches it stay alive.
    ready: async () => ({ done: true, value: undefined }),
    readyTimeoutMs: 30_000,
    stopGraceMs: 60_000,
  };
}

/** In start order. */
export function labComponents(settings: ComponentSettings): LabComponent[] {
  return [
    etcd(settings),
    apiServer(settings),
    controllerManager(settings),
    kafkaComponent(settings.paths, settings.javaBinary),
    kubelet(settings),
  ];
}
