/**
 * The kubeconfig as plain data, read without @kubernetes/client-node (whose import costs the CLI
 * most of a second), and the credentials of its current context.
 *
 * Guarantees: the entries keep client-node's field names (so the rare flavours can be handed to it
 * unchanged); relative file paths are resolved against the kubeconfig's directory, as kubectl does;
 * tokens from a token file (the in-cluster service account's included) are re-read per request, so
 * a rotated token is picked up. Tokens, client certificates, basic auth and impersonation are
 * handled here; exec and auth-provider plugins are delegated to client-node, imported only then.
 * Not guaranteed: anything about whether the credentials work.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { parse } from 'yaml';
import type { ApiServerCredentials, ApiServerTls } from './credentials.js';

export interface ClusterEntry {
  name: string;
  server: string;
  caData?: string;
  caFile?: string;
  skipTLSVerify: boolean;
  tlsServerName?: string;
  proxyUrl?: string;
}

export interface UserEntry {
  name: string;
  token?: string;
  tokenFile?: string;
  certData?: string;
  certFile?: string;
  keyData?: string;
  keyFile?: string;
  username?: string;
  password?: string;
  impersonateUser?: string;
  impersonateGroups?: string[];
  exec?: unknown;
  authProvider?: unknown;
}

export interface ContextEntry {
  name: string;
  cluster: string;
  user: string;
  namespace?: string;
}

export interface KubeConfigData {
  clusters: ClusterEntry[];
  users: UserEntry[];
  contexts: ContextEntry[];
  currentContext: string;
}

type Fields = Record<string, unknown>;

const text = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);

function entries(document: Fields, key: string, inner: string): Array<{ name: string; body: Fields }> {
  const list = document[key] ?? [];
  if (!Array.isArray(list)) throw new Error(`${key} is not a list`);
  return list.map((item: unknown, index) => {
    const entry = (item ?? {}) as Fields;
    const name = text(entry['name']);
    if (!name) throw new Error(`${key}[${index}].name is missing`);
    const body = entry[inner];
    if (key !== 'users' && (typeof body !== 'object' || body === null)) throw new Error(`${key}[${index}].${inner} is missing`);
    return { name, body: (body ?? {}) as Fields };
  });
}

/** Drops undefined fields, so entries compare and spread cleanly. */
function defined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, field]) => field !== undefined)) as T;
}

/** Parses one kubeconfig file's text; throws a plain Error saying what is wrong. */
export function parseKubeConfig(source: string, file: string): KubeConfigData {
  const document = (parse(source) ?? {}) as Fields;
  if (typeof document !== 'object' || Array.isArray(document)) throw new Error('not a YAML mapping');
  const path = (value: unknown) => {
    const given = text(value);
    return given && !isAbsolute(given) ? join(dirname(file), given) : given;
  };
  const clusters = entries(document, 'clusters', 'cluster').map(({ name, body }) => {
    const server = text(body['server']);
    if (!server) throw new Error(`clusters "${name}": server is missing`);
    return defined<ClusterEntry>({
      name,
      server: server.replace(/\/+$/, ''),
      caData: text(body['certificate-authority-data']),
      caFile: path(body['certificate-authority']),
      skipTLSVerify: body['insecure-skip-tls-verify'] === true,
      tlsServerName: text(body['tls-server-name']),
      proxyUrl: text(body['proxy-url']),
    });
  });
  const users = entries(document, 'users', 'user').map(({ name, body }) =>
    defined<UserEntry>({
      name,
      token: text(body['token']),
      tokenFile: path(body['tokenFile'] ?? body['token-file']),
      certData: text(body['client-certificate-data']),
      certFile: path(body['client-certificate']),
      keyData: text(body['client-key-data']),
      keyFile: path(body['client-key']),
      username: text(body['username']),
      password: text(body['password']),
      impersonateUser: text(body['as']),
      impersonateGroups: Array.isArray(body['as-groups']) ? body['as-groups'].map(String) : undefined,
      exec: body['exec'] ?? undefined,
      authProvider: body['auth-provider'] ?? undefined,
    }),
  );
  const contexts = entries(document, 'contexts', 'context').map(({ name, body }) => {
    const cluster = text(body['cluster']);
    if (!cluster) throw new Error(`contexts "${name}": cluster is missing`);
    return defined<ContextEntry>({ name, cluster, user: text(body['user']) ?? '', namespace: text(body['namespace']) });
  });
  return { clusters, users, contexts, currentContext: text(document['current-context']) ?? '' };
}

const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** The pod's service account, as client-node's loadFromCluster sets it up. */
export function inClusterConfig(env: Readonly<Record<string, string | undefined>>, dir = SERVICE_ACCOUNT_DIR): KubeConfigData {
  const host = env['KUBERNETES_SERVICE_HOST'] ?? '';
  const server = `https://${host.includes(':') ? `[${host}]` : host}:${env['KUBERNETES_SERVICE_PORT'] ?? '443'}`;
  return {
    clusters: [{ name: 'inCluster', server, caFile: join(dir, 'ca.crt'), skipTLSVerify: false }],
    users: [{ name: 'inClusterUser', tokenFile: join(dir, 'token') }],
    contexts: [{ name: 'inClusterContext', cluster: 'inCluster', user: 'inClusterUser' }],
    currentContext: 'inClusterContext',
  };
}

export function currentEntries(config: KubeConfigData): { context: ContextEntry; cluster: ClusterEntry; user: UserEntry } {
  const context = config.contexts.find((entry) => entry.name === config.currentContext);
  const cluster = context && config.clusters.find((entry) => entry.name === context.cluster);
  if (!context || !cluster) throw new Error(`the current context "${config.currentContext}" or its cluster is not defined`);
  return { context, cluster, user: config.users.find((entry) => entry.name === context.user) ?? { name: context.user } };
}

const fromData = (data: string) => Buffer.from(data, 'base64');

/** The credentials of the current context; exec and auth-provider users go through client-node. */
export function credentialsFor(config: KubeConfigData): ApiServerCredentials {
  const { context, cluster, user } = currentEntries(config);
  const base = { server: cluster.server, ...(cluster.proxyUrl ? { proxyUrl: cluster.proxyUrl } : {}) };
  const impersonation = (): Record<string, string | string[]> => ({
    ...(user.impersonateUser ? { 'impersonate-user': user.impersonateUser } : {}),
    ...(user.impersonateGroups?.length ? { 'impersonate-group': user.impersonateGroups } : {}),
  });
  if (user.exec || user.authProvider) {
    const delegate = import('./plugin-credentials.js').then(({ pluginCredentials }) => pluginCredentials(cluster, user, context));
    return {
      ...base,
      tls: async () => (await delegate).tls(),
      headers: async () => ({ ...(await (await delegate).headers()), ...impersonation() }),
    };
  }
  return {
    ...base,
    async tls() {
      const tls: ApiServerTls = { rejectUnauthorized: !cluster.skipTLSVerify };
      if (!cluster.skipTLSVerify) {
        if (cluster.caData) tls.ca = fromData(cluster.caData);
        else if (cluster.caFile) tls.ca = readFileSync(cluster.caFile);
      }
      if (cluster.tlsServerName) tls.servername = cluster.tlsServerName;
      if (user.certData) tls.cert = fromData(user.certData);
      else if (user.certFile) tls.cert = readFileSync(user.certFile);
      if (user.keyData) tls.key = fromData(user.keyData);
      else if (user.keyFile) tls.key = readFileSync(user.keyFile);
      return tls;
    },
    async headers() {
      const headers: Record<string, string | string[]> = impersonation();
      const token = user.token ?? (user.tokenFile ? readFileSync(user.tokenFile, 'utf8').trim() : undefined);
      if (token) headers['authorization'] = `Bearer ${token}`;
      else if (user.username !== undefined || user.password !== undefined) {
        headers['authorization'] = `Basic ${Buffer.from(`${user.username ?? ''}:${user.password ?? ''}`).toString('base64')}`;
      }
      return headers;
    },
  };
}
