/**
 * How to talk to the API server (src/kube/rest.ts and the pod proxy in src/pods): its URL, its TLS
 * settings and the authentication headers, all taken from client-node's own
 * KubeConfig.applyToHTTPSOptions so every auth flavour (token, client certificate, exec and
 * auth-provider plugins, basic auth, impersonation) works as client-node implements it.
 *
 * Guarantees: headers are obtained per call, so expiring exec/auth-provider tokens are refreshed by
 * client-node's authenticators; the cluster's `proxy-url` (which access.ts fills from HTTPS_PROXY /
 * HTTP_PROXY unless NO_PROXY exempts the server) is used for the pod calls too; `--as-group`
 * impersonation reaches every request, one header line per group.
 * A SOCKS `proxy-url` (socks5://, socks5h://) is used through undici's SOCKS 5 agent (src/kube/http.ts).
 */
import type { RequestOptions } from 'node:https';
import { BlockList, isIP } from 'node:net';
import type { KubeConfig } from '@kubernetes/client-node';
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

/** What a TLS connection to the API server needs (node:tls and undici `connect` options accept these). */
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
  if (!cluster)
    throw new UsageError(`the kubeconfig context "${kubeConfig.getCurrentContext()}" names no known cluster`, 'pick another --context');
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
      return headers;
    },
  };
}
