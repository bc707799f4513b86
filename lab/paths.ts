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
} as const;

export const API_SERVER_URL = `https://127.0.0.1:${LAB_NETWORK.apiServerPort}`;
export const WORKLOAD_NAMESPACE = 'kafka-bg-test';

export type Component = 'etcd' | 'kube-apiserver' | 'kube-controller-manager' | 'kubelet';

export interface LabPaths {
  repoRoot: string;
  labDir: string;
  pidsDir: string;
  logsDir: string;
  pkiDir: string;
  etcdDataDir: string;
  /** Everything that describes the running cluster (etcd data, the lab kubelet's pod and IP state). */
  clusterStateDirs: string[];
  adminKubeconfig: string;
  operatorKubeconfig: string;
  controllerManagerKubeconfig: string;
  /** The kustomize overlay the lab applies. */
  manifestsDir: string;
  pidFile(component: Component): string;
  logFile(component: Component): string;
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
    clusterStateDirs: [join(lab, 'etcd'), join(lab, 'kubelet'), join(lab, 'pods')],
    adminKubeconfig: join(lab, 'kubeconfig'),
    operatorKubeconfig: join(lab, 'operator.kubeconfig'),
    controllerManagerKubeconfig: join(pkiDir, 'kube-controller-manager.kubeconfig'),
    manifestsDir: join(root, 'k8s', 'overlays', 'lab'),
    pidFile: (component) => join(pidsDir, `${component}.pid`),
    logFile: (component) => join(logsDir, `${component}.log`),
  };
}

/** `${XDG_CACHE_HOME:-~/.cache}/bgswitch-lab/kubernetes-<version>` */
export function binaryCacheDir(version: string, env: NodeJS.ProcessEnv = process.env): string {
  const cacheHome = env.XDG_CACHE_HOME && env.XDG_CACHE_HOME.length > 0 ? env.XDG_CACHE_HOME : join(homedir(), '.cache');
  return join(cacheHome, 'bgswitch-lab', `kubernetes-${version}`);
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
