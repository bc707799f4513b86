/**
 * Finds the kubeconfig the way kubectl does and settles context and namespace.
 *
 * Order: --kubeconfig; else KUBECONFIG (a path list: missing files are skipped, the first file that
 * defines a cluster/user/context or the current context wins); else ~/.kube/config; else the
 * in-cluster service account. Namespace: the value passed in (flag, or the NAMESPACE variable), else
 * the context's namespace, else `kafka-bg-test`.
 *
 * kubectl's connection flags then override the context: --cluster/--user pick other entries,
 * --server, --certificate-authority, --insecure-skip-tls-verify change the cluster, --token the
 * credentials, --as/--as-group impersonate. A cluster without `proxy-url` gets one from
 * HTTPS_PROXY/HTTP_PROXY unless NO_PROXY exempts its server, so every request (API and pod proxy)
 * takes the same path.
 *
 * Guarantees: every problem is a UsageError naming the file or context and the flag that fixes it;
 * nothing is sent to the cluster. Not checked here: whether the credentials work.
 */
import { accessSync, constants, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { UsageError } from '../shared/errors.js';
import { DEFAULT_NAMES } from '../core/names.js';
import { proxyFromEnv, type ApiServerCredentials } from './credentials.js';
import { credentialsFor, inClusterConfig, parseKubeConfig, type ClusterEntry, type KubeConfigData } from './kubeconfig.js';

export const DEFAULT_NAMESPACE = DEFAULT_NAMES.namespace;
const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

export interface KubeAccessOptions {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
  overrides?: ConnectionOverrides;
  /** Defaults to process.env; injectable for tests. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Defaults to the user's home directory; injectable for tests. */
  homeDir?: string;
}

/** kubectl's connection flags, each overriding what the kubeconfig context says. */
export interface ConnectionOverrides {
  cluster?: string;
  user?: string;
  server?: string;
  certificateAuthority?: string;
  insecureSkipTlsVerify?: boolean;
  token?: string;
  as?: string;
  asGroups?: string[];
}

export interface KubeAccess {
  /** The merged kubeconfig with the flags applied. */
  config: KubeConfigData;
  /** The cluster entry in use (after --cluster, --server, the TLS flags and the proxy settings). */
  cluster: ClusterEntry;
  credentials: ApiServerCredentials;
  /** Where the configuration came from: file paths, or `in-cluster`. */
  source: string;
  inCluster: boolean;
  contextName: string;
  server: string;
  userName: string;
  namespace: string;
}

function readable(file: string): boolean {
  try {
    accessSync(file, constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

function loadFile(file: string, how: string): KubeConfigData {
  if (!readable(file)) throw new UsageError(`kubeconfig ${file} does not exist or cannot be read`, `fix ${how}`);
  try {
    return parseKubeConfig(readFileSync(file, 'utf8'), file);
  } catch (error) {
    const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
    throw new UsageError(`kubeconfig ${file} is not a valid kubeconfig: ${reason}`, `fix the file or ${how}`);
  }
}

/** kubectl's merge rule: the first definition of a name wins, and so does the first current-context. */
function mergeFirstWins(target: KubeConfigData, next: KubeConfigData): void {
  const add = <T extends { name: string }>(into: T[], from: T[]) => {
    for (const item of from) if (!into.some((existing) => existing.name === item.name)) into.push(item);
  };
  add(target.clusters, next.clusters);
  add(target.users, next.users);
  add(target.contexts, next.contexts);
  if (!target.currentContext && next.currentContext) target.currentContext = next.currentContext;
}

function loadKubeConfig(options: KubeAccessOptions): { config: KubeConfigData; source: string; inCluster: boolean } {
  const env = options.env ?? process.env;
  if (options.kubeconfig) {
    return { config: loadFile(options.kubeconfig, '--kubeconfig'), source: options.kubeconfig, inCluster: false };
  }
  const listed = (env['KUBECONFIG'] ?? '').split(delimiter).filter((file) => file !== '');
  if (listed.length > 0) {
    const present = listed.filter(readable);
    if (present.length === 0) {
      throw new UsageError(
        `none of the KUBECONFIG files exists or is readable: ${listed.join(', ')}`,
        'fix KUBECONFIG or pass --kubeconfig',
      );
    }
    const [first, ...rest] = present.map((file) => loadFile(file, 'KUBECONFIG or pass --kubeconfig'));
    for (const next of rest) mergeFirstWins(first!, next);
    return { config: first!, source: present.join(delimiter), inCluster: false };
  }
  const home = options.homeDir ?? homedir();
  const defaultFile = join(home, '.kube', 'config');
  if (readable(defaultFile)) return { config: loadFile(defaultFile, '--kubeconfig'), source: defaultFile, inCluster: false };
  if (env['KUBERNETES_SERVICE_HOST'] && env['KUBERNETES_SERVICE_PORT'] && readable(SERVICE_ACCOUNT_TOKEN)) {
    return { config: inClusterConfig(env), source: 'in-cluster', inCluster: true };
  }
  throw new UsageError(
    `no kubeconfig found (looked at KUBECONFIG, ${defaultFile} and the in-cluster service account)`,
    'pass --kubeconfig or set KUBECONFIG',
  );
}

export function loadKubeAccess(options: KubeAccessOptions = {}): KubeAccess {
  const { config, source, inCluster } = loadKubeConfig(options);
  const available = config.contexts.map((context) => context.name);
  const availableText = available.length > 0 ? available.join(', ') : 'none';
  if (options.context !== undefined) {
    if (!available.includes(options.context)) {
      throw new UsageError(
        `context "${options.context}" is not in ${source}; available contexts: ${availableText}`,
        'pass one of them with --context',
      );
    }
    config.currentContext = options.context;
  }
  const context = config.contexts.find((entry) => entry.name === config.currentContext);
  if (!context) {
    const current = config.currentContext;
    const problem = current ? `its current context "${current}" is not defined` : 'it sets no current context';
    throw new UsageError(`cannot use ${source}: ${problem}; available contexts: ${availableText}`, 'pass --context');
  }
  const overrides = options.overrides ?? {};
  for (const [flag, name, known] of [
    ['--cluster', overrides.cluster, config.clusters],
    ['--user', overrides.user, config.users],
  ] as const) {
    if (name !== undefined && !known.some((entry) => entry.name === name)) {
      throw new UsageError(
        `${flag} "${name}" is not in ${source}; available: ${known.map((entry) => entry.name).join(', ') || 'none'}`,
        `pass one of them with ${flag}`,
      );
    }
  }
  if (overrides.cluster !== undefined || overrides.user !== undefined) {
    const picked = { ...context, cluster: overrides.cluster ?? context.cluster, user: overrides.user ?? context.user };
    config.contexts = config.contexts.map((entry) => (entry.name === context.name ? picked : entry));
  }
  const current = config.contexts.find((entry) => entry.name === config.currentContext)!;
  if (!config.clusters.some((entry) => entry.name === current.cluster)) {
    throw new UsageError(
      `context "${current.name}" in ${source} names cluster "${current.cluster}", which is not defined`,
      'fix the kubeconfig or pass another --context',
    );
  }
  const cluster = applyOverrides(config, overrides, options.env ?? process.env);
  return {
    config,
    cluster,
    credentials: credentialsFor(config),
    source,
    inCluster,
    contextName: context.name,
    server: cluster.server,
    userName: current.user,
    namespace: options.namespace || context.namespace || DEFAULT_NAMESPACE,
  };
}

/** Rewrites the current cluster and user entries; returns the cluster entry now in use. */
function applyOverrides(
  config: KubeConfigData,
  overrides: ConnectionOverrides,
  env: Readonly<Record<string, string | undefined>>,
): ClusterEntry {
  const context = config.contexts.find((entry) => entry.name === config.currentContext)!;
  const cluster = { ...config.clusters.find((entry) => entry.name === context.cluster)! };
  if (overrides.server !== undefined) {
    if (!/^https?:\/\/[^/]/i.test(overrides.server))
      throw new UsageError(`--server ${JSON.stringify(overrides.server)} is not an http(s) URL`, 'e.g. --server https://10.0.0.1:6443');
    cluster.server = overrides.server.replace(/\/+$/, '');
  }
  if (overrides.certificateAuthority !== undefined) {
    if (overrides.insecureSkipTlsVerify)
      throw new UsageError('--certificate-authority and --insecure-skip-tls-verify contradict each other', 'pass one of them');
    if (!readable(overrides.certificateAuthority))
      throw new UsageError(
        `--certificate-authority ${overrides.certificateAuthority} does not exist or cannot be read`,
        'pass the CA bundle file of the API server',
      );
    Object.assign(cluster, { caFile: overrides.certificateAuthority, skipTLSVerify: false });
    delete cluster.caData;
  }
  if (overrides.insecureSkipTlsVerify) {
    cluster.skipTLSVerify = true;
    delete cluster.caFile;
    delete cluster.caData;
  }
  if (!cluster.proxyUrl) {
    const proxyUrl = proxyFromEnv(cluster.server, env);
    if (proxyUrl) cluster.proxyUrl = proxyUrl;
  }
  config.clusters = config.clusters.map((entry) => (entry.name === cluster.name ? cluster : entry));

  const user = { ...(config.users.find((entry) => entry.name === context.user) ?? { name: context.user }) };
  // A token replaces every other way the user authenticates, as with kubectl --token.
  if (overrides.token !== undefined) {
    for (const field of ['tokenFile', 'exec', 'authProvider', 'username', 'password'] as const) delete user[field];
    user.token = overrides.token;
  }
  if (overrides.as !== undefined) user.impersonateUser = overrides.as;
  if (overrides.asGroups?.length) {
    if (overrides.as === undefined) throw new UsageError('--as-group needs --as', 'name the user to impersonate with --as');
    user.impersonateGroups = overrides.asGroups;
  }
  config.users = [...config.users.filter((entry) => entry.name !== user.name), user];
  return cluster;
}
