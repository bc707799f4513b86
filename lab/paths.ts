/**
 * Where the lab keeps things and which addresses it uses. Everything the lab writes lives under
 * one directory (`<repo>/.lab` by default, git-ignored); only the built Kubernetes binaries live in
 * the user's cache so that `down --purge` never forces a 15-minute rebuild.
 * Pure path arithmetic, no I/O except `findRepoRoot`, which reads package.json files.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { OperationError } from '../src/shared/errors.js';

export const DEFAULT_K8S_VERSION = 'v1.34.4';

/** Lab-private ports and addresses (loopback and the lab bridge only). */
export const LAB_NETWORK = {
  /** The host's address on the lab bridge `bgslab0`; pods reach the API server here. */
  bridgeAddress: '10.77.0.1',
  etcdClientPort: 23790,
  etcdPeerPort: 23800,
  apiServerPort: 16443,
  /** kube-controller-manager's health endpoint, loopback only. */
  controllerManagerPort: 10357,
  serviceClusterIpRange: '10.96.0.0/24',
  /** First address of the service range: the `kubernetes` Service's ClusterIP. */
  kubernetesServiceIp: '10.96.0.1',
  /** The Kafka broker listens on every interface and is advertised at the bridge address. */
  kafkaBrokerPort: 19092,
  /** The KRaft controller listener, loopback only. */
  kafkaControllerPort: 19093,
} as const;

export const KAFKA_VERSION = '4.1.1';
/** Where pods and the host reach the lab's broker (the address it advertises). */
export const LAB_KAFKA_BOOTSTRAP = `${LAB_NETWORK.bridgeAddress}:${LAB_NETWORK.kafkaBrokerPort}`;

export const API_SERVER_URL = `https://127.0.0.1:${LAB_NETWORK.apiServerPort}`;
export const WORKLOAD_NAMESPACE = 'kafka-bg-test';

export type Component = 'etcd' | 'kube-apiserver' | 'kube-controller-manager' | 'kafka' | 'kubelet';
/** Lab processes with a pid file and a log: the components and the background load generator. */
export type LabProcessName = Component | 'produce';

export interface LabPaths {
  repoRoot: string;
  labDir: string;
  pidsDir: string;
  logsDir: string;
  pkiDir: string;
  etcdDataDir: string;
  /** The broker's settings and its kept cluster id (survive `down`). */
  kafkaConfigDir: string;
  /** The broker's log directories (cluster state). */
  kafkaDataDir: string;
  /** Everything that describes the running cluster (etcd data, the lab kubelet's pod and IP state). */
  clusterStateDirs: string[];
  adminKubeconfig: string;
  operatorKubeconfig: string;
  controllerManagerKubeconfig: string;
  /** The kustomize overlay the lab applies. */
  manifestsDir: string;
  pidFile(name: LabProcessName): string;
  logFile(name: LabProcessName): string;
}

export function labPaths(repoRoot: string, labDir?: string): LabPaths {
  const root = resolve(repoRoot);
  const lab = resolve(root, labDir ?? '.lab');
  const pidsDir = join(lab, 'pids');
  const logsDir = join(lab, 'logs');
  const pkiDir = join(lab, 'pki');
  return {
    repoRoot: root,
    labDir: lab,
    pidsDir,
    logsDir,
    pkiDir,
    etcdDataDir: join(lab, 'etcd'),
    kafkaConfigDir: join(lab, 'kafka'),
    kafkaDataDir: join(lab, 'kafka-data'),
    clusterStateDirs: [join(lab, 'etcd'), join(lab, 'kafka-data'), join(lab, 'kubelet'), join(lab, 'pods')],
    adminKubeconfig: join(lab, 'kubeconfig'),
    operatorKubeconfig: join(lab, 'operator.kubeconfig'),
    controllerManagerKubeconfig: join(pkiDir, 'kube-controller-manager.kubeconfig'),
    manifestsDir: join(root, 'k8s', 'overlays', 'lab'),
    pidFile: (name) => join(pidsDir, `${name}.pid`),
    logFile: (name) => join(logsDir, `${name}.log`),
  };
}

/** `${XDG_CACHE_HOME:-~/.cache}/bgswitch-lab/<entry>`: built or downloaded things keyed by version. */
function labCacheDir(entry: string, env: NodeJS.ProcessEnv): string {
  const cacheHome = env.XDG_CACHE_HOME && env.XDG_CACHE_HOME.length > 0 ? env.XDG_CACHE_HOME : join(homedir(), '.cache');
  return join(cacheHome, 'bgswitch-lab', entry);
}

/** `${XDG_CACHE_HOME:-~/.cache}/bgswitch-lab/kubernetes-<version>` */
export function binaryCacheDir(version: string, env: NodeJS.ProcessEnv = process.env): string {
  return labCacheDir(`kubernetes-${version}`, env);
}

/** `${XDG_CACHE_HOME:-~/.cache}/bgswitch-lab/kafka-<version>/libs`: the broker's runtime classpath. */
export function kafkaLibsDir(version: string = KAFKA_VERSION, env: NodeJS.ProcessEnv = process.env): string {
  return join(labCacheDir(`kafka-${version}`, env), 'libs');
}

/** The bgswitch checkout containing `moduleUrl` (works from lab/*.ts under tsx and from dist/lab/*.js). */
export function findRepoRoot(moduleUrl: string): string {
  let dir = dirname(fileURLToPath(moduleUrl));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'bgswitch') {
      return dir;
    }
    const parent = dirname(dir);
    if (parent === dir) throw new OperationError(`no bgswitch package.json above ${fileURLToPath(moduleUrl)}`);
    dir = parent;
  }
}
