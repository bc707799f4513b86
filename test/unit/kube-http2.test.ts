/**
 * The API server client speaks HTTP/2 when the server offers it (as kube-apiserver does): every
 * concurrent call rides one TLS connection, bodies and repeated headers arrive intact, and a call to a
 * server gone away fails as unreachable. (test/unit/kube-rest.test.ts covers an HTTP/1.1-only server.)
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createSecureServer, type Http2SecureServer, type IncomingHttpHeaders } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { ensurePki } from '../../lab/pki.js';
import { loadKubeAccess } from '../../src/kube/access.js';
import { ApiUnreachableError } from '../../src/kube/errors.js';
import { ApiServerClient } from '../../src/kube/rest.js';

const dir = mkdtempSync(join(tmpdir(), 'bgswitch-kube-http2-'));
let server: Http2SecureServer;
let kubeconfig = '';
let connections = 0;
const seen: Array<{ method: string; path: string; headers: IncomingHttpHeaders; body: string }> = [];

before(async () => {
  const { files: pki } = await ensurePki(join(dir, 'pki'));
  server = createSecureServer({ cert: readFileSync(pki.leaves.apiServer.cert), key: readFileSync(pki.leaves.apiServer.key) });
  server.on('secureConnection', () => connections++);
  server.on('stream', (stream, headers) => {
    let body = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => (body += chunk));
    stream.on('end', () => {
      seen.push({ method: String(headers[':method']), path: String(headers[':path']), headers, body });
      stream.respond({ ':status': 200, 'content-type': 'application/json' });
      stream.end(JSON.stringify({ echo: body === '' ? null : JSON.parse(body) }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(
    kubeconfig,
    [
      'apiVersion: v1',
      'kind: Config',
      'current-context: lab',
      `clusters: [{name: lab, cluster: {server: "https://127.0.0.1:${(server.address() as AddressInfo).port}", certificate-authority: ${pki.caCert}}}]`,
      'contexts: [{name: lab, context: {cluster: lab, user: operator}}]',
      'users: [{name: operator, user: {token: abc, as: dana, as-groups: [ops, audit]}}]',
    ].join('\n'),
  );
});

after(async () => {
  server.close();
  rmSync(dir, { recursive: true, force: true });
});

it('ten concurrent calls share one HTTP/2 connection, with their bodies and headers', async () => {
  const api = new ApiServerClient(loadKubeAccess({ kubeconfig, env: {} }).credentials, 5000);
  try {
    const answers = await Promise.all(
      Array.from({ length: 10 }, (_, i) => api.json<{ echo: unknown }>('PUT', `/api/v1/things/${i}`, { body: { i } })),
    );
    assert.deepEqual(
      answers.map((answer) => answer.echo),
      Array.from({ length: 10 }, (_, i) => ({ i })),
    );
    assert.equal(await api.json<{ echo: unknown }>('GET', '/api/v1/things', { query: { labelSelector: 'a=b' } }).then((a) => a.echo), null);
  } finally {
    await api.close();
  }
  assert.equal(connections, 1, `11 calls, ${connections} TLS connections`);
  assert.equal(seen.length, 11);
  const get = seen.find((call) => call.method === 'GET')!;
  assert.equal(get.path, '/api/v1/things?labelSelector=a%3Db');
  assert.equal(get.headers['authorization'], 'Bearer abc');
  assert.equal(get.headers['impersonate-user'], 'dana');
  assert.deepEqual(get.headers['impersonate-group'], 'ops, audit');
});

it('a server that went away: the call fails as unreachable', async () => {
  server.close();
  await once(server, 'close');
  const api = new ApiServerClient(loadKubeAccess({ kubeconfig, env: {} }).credentials, 5000);
  try {
    await assert.rejects(api.json('GET', '/api/v1/things'), (error: unknown) => {
      assert.ok(error instanceof ApiUnreachableError, String(error));
      assert.match(error.message, /ECONNREFUSED/);
      return true;
    });
  } finally {
    await api.close();
  }
});
