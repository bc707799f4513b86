/**
 * How to talk to the API server outside client-node's generated API (the pod proxy in src/pods):
 * its URL, its TLS settings and the authentication headers, all taken from client-node's own
 * KubeConfig.applyToHTTPSOptions so every auth flavour (token, client certificate, exec and
 * auth-provider plugins, basic auth, impersonation) works exactly as for the generated API.
 *
 * Guarantees: headers are obtained per call, so expiring exec/auth-provider tokens are refreshed by
 * client-node's authenticators. Not supported: a cluster `proxy-url`.
 */
import type { RequestOptions } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import { UsageError } from '../core/errors.js';

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
  /** Authorization (and impersonation) headers; never log them. */
  headers(): Promise<Record<string, string>>;
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
  return {
    server: currentServer(kubeConfig),
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
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(options.headers ?? {})) {
        if (value === undefined) continue;
        headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value);
      }
      if (options.auth) headers['authorization'] = `Basic ${Buffer.from(options.auth).toString('base64')}`;
      return headers;
    },
  };
}
