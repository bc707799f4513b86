/**
 * How to talk to the API server outside client-node's generated API (the pod proxy in src/pods):
 * its URL, its TLS settings and the authentication headers, all taken from client-node's own
 * KubeConfig.applyToHTTPSOptions so every auth flavour (token, client certificate, exec and
 * auth-provider plugins, basic auth, impersonation) works exactly as for the generated API.
 *
 * Guarantees: headers are obtained per call, so expiring exec/auth-provider tokens are refreshed by
 * client-node's authenticators; the cluster's `proxy-url` (which access.ts fills from HTTPS_PROXY /
 * HTTP_PROXY unless NO_PROXY exempts the server) is used for the pod calls too; `--as-group`
 * impersonation reaches every request, one header line per group.
 * Not supported: a SOCKS `proxy-url` for pod calls (client-node supports it for API calls).
 */
import type { ClientRequest } from 'node:http';
import type { RequestOptions } from 'node:https';
import { BlockList, isIP } from 'node:net';
import type { KubeConfig } from '@kubernetes/client-node';
import { Agent, ProxyAgent, type Dispatcher } from 'undici';
import { UsageError } from '../shared/errors.js';

type Env = Readonly<Record<string, string | undefined>>;

function envValue(env: Env, name: string): string | undefined {
  return env[name] || env[name.toLowerCase()] || undefined;
}

/** True when NO_PROXY (comma list: `*`, host, `.domain`, host:port, IP, CIDR) exempts `url`. */
function exempt(url: URL, noProxy: string): boolean {
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  return noProxy
    .split(',')
    .map((entry) => entry.trim().toLowerCase())
    .filter((entry) => entry !== '')
    .some((entry) => {
      if (entry === '*') return true;
      if (entry.includes('/')) {
        const [network, bits] = entry.split('/');
        const family = isIP(network ?? '');
        if (!family || !isIP(host)) return false;
        const list = new BlockList();
        list.addSubnet(network!, Number(bits), family === 6 ? 'ipv6' : 'ipv4');
        return list.check(host, isIP(host) === 6 ? 'ipv6' : 'ipv4');
      }
      const portMatch = /^(.*):(\d+)$/.exec(entry);
      if (portMatch && !isIP(entry)) return portMatch[2] === port && exempt(url, portMatch[1]!);
      const domain = entry.replace(/^\*?\./, '');
      return host === domain || host.endsWith(`.${domain}`);
    });
}

/** The proxy for `url` from HTTPS_PROXY / HTTP_PROXY (either case) unless NO_PROXY exempts it, as kubectl reads them. */
export function proxyFromEnv(target: string, env: Env): string | undefined {
  const url = new URL(target);
  const proxy = envValue(env, url.protocol === 'https:' ? 'HTTPS_PROXY' : 'HTTP_PROXY');
  if (!proxy) return undefined;
  const noProxy = envValue(env, 'NO_PROXY');
  return noProxy && exempt(url, noProxy) ? undefined : proxy;
}

/** An undici dispatcher that connects through `proxyUrl` when given, else directly. */
export function httpDispatcher(proxyUrl: string | undefined, connect: ApiServerTls & { timeout: number }): Dispatcher {
  if (!proxyUrl) return new Agent({ connect });
  if (!/^https?:/i.test(proxyUrl)) {
    throw new UsageError(`proxy ${proxyUrl} is not an http(s) proxy; pod calls support http(s) proxies only`, 'use an http(s) proxy-url, or --via direct from inside the cluster');
  }
  return new ProxyAgent({ uri: proxyUrl, requestTls: connect, connect: { timeout: connect.timeout } });
}

const impersonatedGroups = new WeakMap<KubeConfig, string[]>();

/**
 * `--as-group`: client-node knows no Impersonate-Group, and its headers are single strings (the API
 * server would read "a,b" as one group), so each group is set as its own header line on every
 * request of the API client, through the agent client-node builds for it.
 */
export function impersonateGroups(kubeConfig: KubeConfig, groups: string[]): void {
  if (groups.length === 0) return;
  impersonatedGroups.set(kubeConfig, groups);
  const internals = kubeConfig as unknown as { createAgent(cluster: unknown, options: unknown): { addRequest(request: ClientRequest, options: unknown): void } };
  const createAgent = internals.createAgent.bind(kubeConfig);
  internals.createAgent = (cluster, options) => {
    const agent = createAgent(cluster, options);
    const addRequest = agent.addRequest.bind(agent);
    agent.addRequest = (request, requestOptions) => {
      request.setHeader('Impersonate-Group', groups);
      addRequest(request, requestOptions);
    };
    return agent;
  };
}

/** What a TLS connection to the API server needs (undici `connect` options accept these). */
export interface ApiServerTls {
  ca?: string | Buffer | Array<string | Buffer>;
  cert?: string | Buffer | Array<string | Buffer>;
  key?: string | Buffer | Array<string | Buffer>;
  rejectUnauthorized?: boolean;
  servername?: string;
}

export interface ApiServerCredentials {
  /** The server URL without a trailing slash. */
  server: string;
  tls(): Promise<ApiServerTls>;
  /** The proxy to reach the server through, if any. */
  proxyUrl?: string;
  /** Authorization (and impersonation) headers; never log them. */
  headers(): Promise<Record<string, string | string[]>>;
}

export function currentServer(kubeConfig: KubeConfig): string {
  const cluster = kubeConfig.getCurrentCluster();
  if (!cluster) throw new UsageError(`the kubeconfig context "${kubeConfig.getCurrentContext()}" names no known cluster`, 'pick another --context');
  return cluster.server.replace(/\/+$/, '');
}

async function resolvedOptions(kubeConfig: KubeConfig): Promise<RequestOptions> {
  const options: RequestOptions = {};
  await kubeConfig.applyToHTTPSOptions(options);
  return options;
}

export function apiServerCredentials(kubeConfig: KubeConfig): ApiServerCredentials {
  const proxyUrl = kubeConfig.getCurrentCluster()?.proxyUrl;
  return {
    server: currentServer(kubeConfig),
    ...(proxyUrl ? { proxyUrl } : {}),
    async tls() {
      const options = await resolvedOptions(kubeConfig);
      const tls: ApiServerTls = {};
      if (options.ca) tls.ca = options.ca;
      if (options.cert) tls.cert = options.cert;
      if (options.key) tls.key = options.key as ApiServerTls['key'];
      if (options.rejectUnauthorized !== undefined) tls.rejectUnauthorized = options.rejectUnauthorized;
      if (options.servername) tls.servername = options.servername;
      return tls;
    },
    async headers() {
      const options = await resolvedOptions(kubeConfig);
      const headers: Record<string, string | string[]> = {};
      for (const [name, value] of Object.entries(options.headers ?? {})) {
        if (value === undefined) continue;
        headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value);
      }
      if (options.auth) headers['authorization'] = `Basic ${Buffer.from(options.auth).toString('base64')}`;
      const groups = impersonatedGroups.get(kubeConfig);
      if (groups) headers['impersonate-group'] = groups;
      return headers;
    },
  };
}
