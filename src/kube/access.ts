/**
 * Finds the kubeconfig the way kubectl does and settles context and namespace.
 *
 * Order: --kubeconfig; else KUBECONFIG (a path list: missing files are skipped, the first file that
 * defines a cluster/user/context or the current context wins); else ~/.kube/config; else the
 * in-cluster service account. Namespace: the value passed in (flag, or the seed's NAMESPACE), else
 * the context's namespace, else `kafka-bg-test`.
 *
 * Guarantees: every problem is a UsageError naming the file or context and the flag that fixes it;
 * nothing is sent to the cluster. Not checked here: whether the credentials work.
 */
import { accessSync, constants } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { UsageError } from '../core/errors.js';
import { DEFAULT_NAMES } from '../core/names.js';
import { currentServer } from './credentials.js';

export const DEFAULT_NAMESPACE = DEFAULT_NAMES.namespace;
const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

export interface KubeAccessOptions {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
  /** Defaults to process.env; injectable for tests. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Defaults to the user's home directory; injectable for tests. */
  homeDir?: string;
}

export interface KubeAccess {
  kubeConfig: KubeConfig;
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

function loadFile(file: string, how: string): KubeConfig {
  if (!readable(file)) throw new UsageError(`kubeconfig ${file} does not exist or cannot be read`, `fix ${how}`);
  const config = new KubeConfig();
  try {
    config.loadFromFile(file);
  } catch (error) {
    const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
    throw new UsageError(`kubeconfig ${file} is not a valid kubeconfig: ${reason}`, `fix the file or ${how}`);
  }
  return config;
}

/** kubectl's merge rule: the first definition of a name wins, and so does the first current-context. */
function mergeFirstWins(target: KubeConfig, next: KubeConfig): void {
  const add = <T extends { name: string }>(into: T[], from: T[]) => {
    for (const item of from) if (!into.some((existing) => existing.name === item.name)) into.push(item);
  };
  add(target.clusters, next.clusters);
  add(target.users, next.users);
  add(target.contexts, next.contexts);
  if (!target.currentContext && next.currentContext) target.currentContext = next.currentContext;
}

function loadKubeConfig(options: KubeAccessOptions): { kubeConfig: KubeConfig; source: string; inCluster: boolean } {
  const env = options.env ?? process.env;
  if (options.kubeconfig) {
    return { kubeConfig: loadFile(options.kubeconfig, '--kubeconfig'), source: options.kubeconfig, inCluster: false };
  }
  const listed = (env['KUBECONFIG'] ?? '').split(delimiter).filter((file) => file !== '');
  if (listed.length > 0) {
    const present = listed.filter(readable);
    if (present.length === 0) {
      throw new UsageError(`none of the KUBECONFIG files exists or is readable: ${listed.join(', ')}`, 'fix KUBECONFIG or pass --kubeconfig');
    }
    const [first, ...rest] = present.map((file) => loadFile(file, 'KUBECONFIG or pass --kubeconfig'));
    for (const next of rest) mergeFirstWins(first!, next);
    return { kubeConfig: first!, source: present.join(delimiter), inCluster: false };
  }
  const home = options.homeDir ?? homedir();
  const defaultFile = join(home, '.kube', 'config');
  if (readable(defaultFile)) return { kubeConfig: loadFile(defaultFile, '--kubeconfig'), source: defaultFile, inCluster: false };
  if (env['KUBERNETES_SERVICE_HOST'] && env['KUBERNETES_SERVICE_PORT'] && readable(SERVICE_ACCOUNT_TOKEN)) {
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromCluster();
    return { kubeConfig, source: 'in-cluster', inCluster: true };
  }
  throw new UsageError(`no kubeconfig found (looked at KUBECONFIG, ${defaultFile} and the in-cluster service account)`, 'pass --kubeconfig or set KUBECONFIG');
}

export function loadKubeAccess(options: KubeAccessOptions = {}): KubeAccess {
  const { kubeConfig, source, inCluster } = loadKubeConfig(options);
  const available = kubeConfig.getContexts().map((context) => context.name);
  const availableText = available.length > 0 ? available.join(', ') : 'none';
  if (options.context !== undefined) {
    if (!available.includes(options.context)) {
      throw new UsageError(`context "${options.context}" is not in ${source}; available contexts: ${availableText}`, 'pass one of them with --context');
    }
    kubeConfig.setCurrentContext(options.context);
  }
  const context = kubeConfig.getContextObject(kubeConfig.getCurrentContext());
  if (!context) {
    const current = kubeConfig.getCurrentContext();
    const problem = current ? `its current context "${current}" is not defined` : 'it sets no current context';
    throw new UsageError(`cannot use ${source}: ${problem}; available contexts: ${availableText}`, 'pass --context');
  }
  if (!kubeConfig.getCluster(context.cluster)) {
    throw new UsageError(`context "${context.name}" in ${source} names cluster "${context.cluster}", which is not defined`, 'fix the kubeconfig or pass another --context');
  }
  return {
    kubeConfig,
    source,
    inCluster,
    contextName: context.name,
    server: currentServer(kubeConfig),
    userName: context.user,
    namespace: options.namespace || context.namespace || DEFAULT_NAMESPACE,
  };
}
