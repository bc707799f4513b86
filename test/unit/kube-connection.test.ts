/**
 * kubectl's connection flags (--server, --token, --as, --as-group, --user, --cluster,
 * --certificate-authority, --insecure-skip-tls-verify) and the proxy settings (kubeconfig proxy-url,
 * HTTPS_PROXY/HTTP_PROXY, NO_PROXY) reach every request: the API client's and the pod proxy's. A small local HTTP server stands in for the API server and records what arrives; a small
 * forwarding proxy records what passes through it.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { UsageError } from '../../src/shared/errors.js';
import { loadKubeAccess, type ConnectionOverrides } from '../../src/kube/access.js';
import { KubeCluster } from '../../src/kube/cluster.js';
import { proxyFromEnv } from '../../src/kube/credentials.js';
import type { PodInfo } from '../../src/core/ports.js';
import { DirectTransport, ProxyTransport } from '../../src/pods/transport.js';
import { DEFAULT_NAMES } from '../../src/core/names.js';

interface Seen {
  url: string;
  headers: IncomingHttpHeaders;
  /** Header lines as sent, name and value alternating. */
  raw: string[];
}

const dir = mkdtempSync(join(tmpdir(), 'bgswitch-kube-connection-'));
let apiServer: Server;
let proxy: Server;
let apiUrl = '';
let proxyUrl = '';
const seenByApi: Seen[] = [];
const seenByProxy: string[] = [];

function listen(server: Server): Promise<string> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)),
  );
}

before(async () => {
  apiServer = createServer((req, res) => {
    seenByApi.push({ url: req.url ?? '', headers: req.headers, raw: req.rawHeaders });
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404, message: 'not found' }));
  });
  // Forwards absolute-form requests (plain HTTP through a proxy) and CONNECT tunnels, recording each.
  proxy = createServer((req, res) => {
    seenByProxy.push(`${req.method} ${req.url}`);
    const forward = httpRequest(req.url!, { method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    req.pipe(forward);
  });
  proxy.on('connect', (req, socket, head) => {
    seenByProxy.push(`CONNECT ${req.url}`);
    const [host, port] = (req.url ?? '').split(':');
    const upstream = connect(Number(port), host!, () => {
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(socket);
      socket.pipe(upstream);
    });
  });
  [apiUrl, proxyUrl] = await Promise.all([listen(apiServer), listen(proxy)]);
});

after(async () => {
  apiServer.closeAllConnections();
  proxy.closeAllConnections();
  apiServer.close();
  proxy.close();
  await Promise.all([once(apiServer, 'close'), once(proxy, 'close')]);
  rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  seenByApi.length = 0;
  seenByProxy.length = 0;
});

/** A kubeconfig whose context `lab` points at `server` as user `operator`; a second cluster and user exist. */
function kubeconfig(server: string, extra: { proxyUrl?: string } = {}): string {
  const file = join(dir, `kubeconfig-${Math.random().toString(36).slice(2)}`);
  writeFileSync(
    file,
    [
      'apiVersion: v1',
      'kind: Config',
      'current-context: lab',
      'clusters:',
      `- {name: lab, cluster: {server: "${server}", insecure-skip-tls-verify: true${extra.proxyUrl ? `, proxy-url: "${extra.proxyUrl}"` : ''}}}`,
      `- {name: other, cluster: {server: "${apiUrl}", insecure-skip-tls-verify: true}}`,
      'users:',
      '- {name: operator, user: {token: operator-token}}',
      '- {name: auditor, user: {token: auditor-token}}',
      'contexts:',
      '- {name: lab, context: {cluster: lab, user: operator, namespace: team-a}}',
    ].join('\n'),
  );
  return file;
}

/** One call through the API client (src/kube/rest.ts) and one through the pod proxy, as a command makes them. */
async function callBoth(file: string, overrides: ConnectionOverrides, env: Record<string, string> = {}): Promise<void> {
  const access = loadKubeAccess({ kubeconfig: file, overrides, env });
  const cluster = new KubeCluster(access.credentials, { ...DEFAULT_NAMES, namespace: access.namespace }, { requestTimeoutMs: 5000 });
  assert.equal(await cluster.getConfigMap('kafka-consumer-state'), undefined, 'the 404 means "absent"');
  const transport = new ProxyTransport(access.credentials, access.namespace, 5000);
  try {
    // The stand-in API server answers 404 (a Status), which the transport reports as not sent; what counts is what arrived.
    await transport.send({ pod: pod('consumer-blue-0', '10.0.0.1'), port: 8082, method: 'GET', path: '/status' }).catch(() => undefined);
  } finally {
    await transport.close();
  }
}

function pod(name: string, ip: string): PodInfo {
  return { name, color: 'blue', ip, phase: 'Running', ready: true, restarts: 0, terminating: false };
}

function headerLines(seen: Seen, name: string): string[] {
  const values: string[] = [];
  for (let i = 0; i < seen.raw.length; i += 2) if (seen.raw[i]!.toLowerCase() === name) values.push(seen.raw[i + 1]!);
  return values;
}

describe('connection flags reach the API client and the pod proxy', () => {
  it('--server, --token, --as and a repeated --as-group: one Impersonate-Group line per group', async () => {
    const closed = kubeconfig('http://127.0.0.1:1');
    await callBoth(closed, { server: apiUrl, token: 'flag-token', as: 'jane', asGroups: ['team-a', 'auditors'] });
    assert.equal(seenByApi.length, 2, `both calls reached the --server: ${seenByApi.map((s) => s.url).join(', ')}`);
    const [api, pod] = seenByApi;
    assert.match(api!.url, /^\/api\/v1\/namespaces\/team-a\/configmaps\/kafka-consumer-state/);
    assert.match(pod!.url, /^\/api\/v1\/namespaces\/team-a\/pods\/consumer-blue-0:8082\/proxy\/status$/);
    for (const seen of [api!, pod!]) {
      assert.equal(seen.headers.authorization, 'Bearer flag-token');
      assert.deepEqual(headerLines(seen, 'impersonate-user'), ['jane']);
      assert.deepEqual(headerLines(seen, 'impersonate-group'), ['team-a', 'auditors']);
    }
  });

  it('--user and --cluster pick other kubeconfig entries', async () => {
    await callBoth(kubeconfig('http://127.0.0.1:1'), { cluster: 'other', user: 'auditor' });
    assert.equal(seenByApi.length, 2);
    for (const seen of seenByApi) assert.equal(seen.headers.authorization, 'Bearer auditor-token');
  });

  it('without flags, the kubeconfig credentials are used and nobody is impersonated', async () => {
    await callBoth(kubeconfig(apiUrl), {});
    assert.equal(seenByApi.length, 2);
    for (const seen of seenByApi) {
      assert.equal(seen.headers.authorization, 'Bearer operator-token');
      assert.equal(seen.headers['impersonate-user'], undefined);
    }
  });

  it('the kubeconfig proxy-url carries both kinds of call', async () => {
    await callBoth(kubeconfig(apiUrl, { proxyUrl }), {});
    assert.equal(seenByProxy.length, 2, `through the proxy: ${seenByProxy.join(', ')}`);
    assert.equal(seenByApi.length, 2);
  });

  it('HTTP_PROXY carries both kinds of call, and NO_PROXY exempts the server', async () => {
    await callBoth(kubeconfig(apiUrl), {}, { HTTP_PROXY: proxyUrl });
    assert.equal(seenByProxy.length, 2, `through the proxy: ${seenByProxy.join(', ')}`);
    seenByProxy.length = 0;
    await callBoth(kubeconfig(apiUrl), {}, { http_proxy: proxyUrl, NO_PROXY: 'localhost,127.0.0.0/8' });
    assert.deepEqual(seenByProxy, []);
    assert.equal(seenByApi.length, 4, 'all four calls reached the API server');
  });
});

describe('direct pod calls (in-cluster) follow HTTP_PROXY and NO_PROXY', () => {
  it('through the proxy unless NO_PROXY lists the pod network', async () => {
    const { port } = new URL(apiUrl);
    for (const [env, proxied] of [
      [{ HTTP_PROXY: proxyUrl }, true],
      [{ HTTP_PROXY: proxyUrl, NO_PROXY: '127.0.0.0/8' }, false],
    ] as const) {
      seenByProxy.length = 0;
      const transport = new DirectTransport(5000, undefined, env);
      try {
        const reply = await transport.send({
          pod: pod('consumer-blue-0', '127.0.0.1'),
          port: Number(port),
          method: 'GET',
          path: '/status',
        });
        assert.equal(reply.status, 404, 'the pod (here the stand-in server) answered');
      } finally {
        await transport.close();
      }
      // undici tunnels through the proxy (CONNECT) even for plain HTTP.
      assert.deepEqual(seenByProxy, proxied ? [`CONNECT 127.0.0.1:${port}`] : []);
    }
  });
});

describe('connection flags are checked before anything is sent', () => {
  const file = () => kubeconfig(apiUrl);
  const cases: Array<[string, ConnectionOverrides, RegExp]> = [
    ['an unknown --user', { user: 'nobody' }, /--user "nobody" is not in .*; available: operator, auditor/],
    ['an unknown --cluster', { cluster: 'prod' }, /--cluster "prod" is not in .*; available: lab, other/],
    ['--as-group without --as', { asGroups: ['g'] }, /--as-group needs --as/],
    ['a --server that is not a URL', { server: 'api.example.com' }, /--server "api.example.com" is not an http\(s\) URL/],
    [
      'a missing --certificate-authority',
      { certificateAuthority: join(dir, 'no-ca.pem') },
      /--certificate-authority .*no-ca.pem does not exist/,
    ],
    [
      '--certificate-authority with --insecure-skip-tls-verify',
      { certificateAuthority: join(dir, 'no-ca.pem'), insecureSkipTlsVerify: true },
      /contradict each other/,
    ],
  ];
  for (const [what, overrides, message] of cases) {
    it(`${what} is a usage error`, () => {
      assert.throws(
        () => loadKubeAccess({ kubeconfig: file(), overrides, env: {} }),
        (error: unknown) => error instanceof UsageError && message.test(error.message),
      );
    });
  }

  it('--certificate-authority replaces the kubeconfig CA and turns verification back on; --insecure-skip-tls-verify turns it off', () => {
    const ca = join(dir, 'ca.pem');
    writeFileSync(ca, '-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n');
    const verified = loadKubeAccess({ kubeconfig: file(), overrides: { certificateAuthority: ca }, env: {} }).cluster;
    assert.deepEqual([verified.caFile, verified.skipTLSVerify], [ca, false]);
    const insecure = loadKubeAccess({ kubeconfig: file(), overrides: { insecureSkipTlsVerify: true }, env: {} }).cluster;
    assert.equal(insecure.skipTLSVerify, true);
  });
});

describe('proxyFromEnv', () => {
  const env = { HTTPS_PROXY: 'http://proxy:3128', HTTP_PROXY: 'http://plain-proxy:3128' };
  it('takes HTTPS_PROXY for https and HTTP_PROXY for http, in either case', () => {
    assert.equal(proxyFromEnv('https://api.example.com:6443', env), 'http://proxy:3128');
    assert.equal(proxyFromEnv('http://10.1.2.3:8082/status', env), 'http://plain-proxy:3128');
    assert.equal(proxyFromEnv('https://api.example.com', { https_proxy: 'http://lower:1' }), 'http://lower:1');
    assert.equal(proxyFromEnv('https://api.example.com', {}), undefined);
  });

  it('NO_PROXY: *, hosts, domains with or without a dot, host:port, IPs and CIDRs', () => {
    const exempt = (url: string, noProxy: string) => proxyFromEnv(url, { ...env, NO_PROXY: noProxy }) === undefined;
    assert.ok(exempt('https://api.example.com', '*'));
    assert.ok(exempt('https://api.example.com', 'other.org, api.example.com'));
    assert.ok(exempt('https://api.example.com', '.example.com'));
    assert.ok(exempt('https://api.example.com', 'example.com'));
    assert.ok(!exempt('https://api.example.com', 'ample.com'));
    assert.ok(exempt('https://api.example.com:6443', 'api.example.com:6443'));
    assert.ok(!exempt('https://api.example.com:6443', 'api.example.com:443'));
    assert.ok(exempt('http://10.244.1.7:8082', '10.244.0.0/16'));
    assert.ok(!exempt('http://10.245.1.7:8082', '10.244.0.0/16'));
    assert.ok(exempt('http://10.245.1.7:8082', '10.245.1.7'));
    assert.ok(exempt('https://[fd00::1]:6443', 'fd00::/8'));
  });
});
