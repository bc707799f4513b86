/** API clients authenticated with the lab's credentials. */
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { ApiException, KubeConfig, type ApiConstructor, type ApiType } from '@kubernetes/client-node';
import { API_SERVER_URL, type LabPaths } from '../paths.js';
import type { LabPki } from '../pki.js';

export function kubeConfigFrom(file: string): KubeConfig {
  const config = new KubeConfig();
  config.loadFromFile(file);
  return config;
}

export function adminClient<T extends ApiType>(paths: LabPaths, api: ApiConstructor<T>): T {
  return kubeConfigFrom(paths.adminKubeconfig).makeApiClient(api);
}

/** "HTTP 403: <the API server's Status message>" for API errors, the message otherwise. */
export function apiErrorDetail(error: unknown): string {
  if (!(error instanceof ApiException)) return error instanceof Error ? error.message : String(error);
  const body: unknown = error.body;
  let message: unknown = body;
  if (typeof body === 'string') {
    try {
      message = (JSON.parse(body) as { message?: unknown }).message ?? body;
    } catch {
      message = body;
    }
  } else if (typeof body === 'object' && body !== null) {
    message = (body as { message?: unknown }).message;
  }
  return `HTTP ${error.code}${typeof message === 'string' && message.length > 0 ? `: ${message}` : ''}`;
}

export function isApiStatus(error: unknown, code: number): boolean {
  return error instanceof ApiException && error.code === code;
}

export interface RawResponse {
  status: number;
  body: string;
}

/**
 * One HTTPS request to the lab API server (or another lab server whose certificate the lab CA
 * signed) with the admin certificate, below any client library: for health endpoints and for
 * checking exactly what the server accepts and stores.
 */
export function adminRequest(
  pki: LabPki,
  method: string,
  path: string,
  json?: unknown,
  { baseUrl = API_SERVER_URL, timeoutMs = 3000 }: { baseUrl?: string; timeoutMs?: number } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const call = request(
      `${baseUrl}${path}`,
      {
        method,
        ca: readFileSync(pki.caCert),
        cert: readFileSync(pki.leaves.admin.cert),
        key: readFileSync(pki.leaves.admin.key),
        timeout: timeoutMs,
        headers: json === undefined ? {} : { 'content-type': 'application/json' },
      },
      (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (body += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      },
    );
    call.on('timeout', () => call.destroy(new Error(`no answer within ${timeoutMs}ms`)));
    call.on('error', reject);
    call.end(json === undefined ? undefined : JSON.stringify(json));
  });
}
