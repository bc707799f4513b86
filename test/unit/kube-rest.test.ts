/**
 * The CLI's own API client (src/kube/rest.ts) with the credentials of src/kube/kubeconfig.ts,
 * against a loopback HTTPS server with the lab's kind of certificates (made by lab/pki.ts with
 * openssl): the server checks the CA and client certificate, and records what arrives. Behaviour
 * against the real API server is covered by test/lab and test/e2e.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { after, before, beforeEach, describe, it } from 'node:test';
import { ensurePki, type LabPki } from '../../lab/pki.js';
import { ConflictError } from '../../src/core/errors.js';
import { DEFAULT_NAMES } from '../../src/core/names.js';
import { loadKubeAccess } from '../../src/kube/access.js';
import { KubeCluster } from '../../src/kube/cluster.js';
import { ApiStatusError } from '../../src/kube/errors.js';
import { credentialsFor, inClusterConfig } from '../../src/kube/kubeconfig.js';
import { ApiServerClient } from '../../src/kube/rest.js';

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  raw: string[];
  peer: string | undefined;
  body: string;
}

const dir = mkdtempSync(join(tmpdir(), 'bgswitch-kube-rest-'));
let pki: LabPki;
let server: Server;
let url = '';
let tlsConnections = 0;
const seen: Seen[] = [];
/** What the stand-in answers next, by path prefix; default: an empty ConfigMap. */
type Answer = { status: number; body: unknown };
let answer: (seen: Seen) => Answer | Promise<Answer> = () => ({
  status: 200,
  body: { kind: 'ConfigMap', metadata: { name: 'x', resourceVersion: '1' }, data: {} },
});

before(async () => {
  ({ files: pki } = await ensurePki(join(dir, 'pki')));
  server = createServer(
    {
      cert: readFileSync(pki.leaves.apiServer.cert),
      key: readFileSync(pki.leaves.apiServer.key),
      ca: readFileSync(pki.caCert),
      requestCert: true,
      rejectUnauthorized: false,
    },
    (req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        const peer = (req.socket as TLSSocket).getPeerCertificate();
        const entry: Seen = {
          method: req.method ?? '',
          url: req.url ?? '',
          headers: req.headers,
          raw: req.rawHeaders,
          peer: peer && 'subject' in peer && peer.subject ? String(peer.subject.CN) : undefined,
          body,
        };
        seen.push(entry);
        void Promise.resolve(answer(entry)).then(({ status, body: reply }) => {
          res.writeHead(status, { 'content-type': 'application/json' });
          res.end(JSON.stringify(reply));
        });
      });
    },
  );
  server.on('secureConnection', () => tlsConnections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  server.closeAllConnections();
  server.close();
  await once(server, 'close');
  rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  seen.length = 0;
  tlsConnections = 0;
  answer = () => ({ status: 200, body: { kind: 'ConfigMap', metadata: { name: 'x', resourceVersion: '1' }, data: {} } });
});

/** A kubeconfig in `dir` whose paths are relative to it, as kubectl allows. */
function kubeconfig(user: string[]): string {
  const file = join(dir, `kubeconfig-${Math.random().toString(36).slice(2)}`);
  const rel = (path: string) => relative(dir, path);
  writeFileSync(
    file,
    [
      'apiVersion: v1',
      'kind: Config',
      'current-context: lab',
      `clusters: [{name: lab, cluster: {server: "${url}", certificate-authority: ${rel(pki.caCert)}}}]`,
      'contexts: [{name: lab, context: {cluster: lab, user: operator, namespace: team-a}}]',
      'users:',
      '- name: operator',
      '  user:',
      ...user.map((line) => `    ${line}`),
    ].join('\n'),
  );
  return file;
}

const clientCertificate = () => [
  `client-certificate: ${relative(dir, pki.leaves.operator.cert)}`,
  `client-key: ${relative(dir, pki.leaves.operator.key)}`,
];

describe('the REST client', () => {
  it('verifies the server with the kubeconfig CA, presents the client certificate, and reuses its TLS connections', async () => {
    const access = loadKubeAccess({ kubeconfig: kubeconfig(clientCertificate()), env: {} });
    const cluster = new KubeCluster(access.credentials, { ...DEFAULT_NAMES, namespace: access.namespace });
    try {
      for (let i = 0; i < 5; i++) assert.ok(await cluster.getConfigMap('kafka-consumer-state'));
    } finally {
      await cluster.close();
    }
    assert.equal(seen.length, 5);
    assert.ok(
      seen.every((request) => request.peer === 'bgswitch-operator'),
      'the client certificate reached the server',
    );
    assert.ok(seen.every((request) => request.url === '/api/v1/namespaces/team-a/configmaps/kafka-consumer-state'));
    // undici may open a second connection while the first is finishing a response; never one per request.
    assert.ok(tlsConnections <= 2, `five requests, ${tlsConnections} TLS handshakes`);
  });

  it('a token file is re-read per request (a rotated token is used at once)', async () => {
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, 'first-token\n');
    const api = new ApiServerClient(loadKubeAccess({ kubeconfig: kubeconfig([`tokenFile: ${tokenFile}`]), env: {} }).credentials, 5000);
    try {
      await api.json('GET', '/api/v1/namespaces/team-a/configmaps/a');
      writeFileSync(tokenFile, 'second-token\n');
      await api.json('GET', '/api/v1/namespaces/team-a/configmaps/a');
    } finally {
      await api.close();
    }
    assert.deepEqual(
      seen.map((request) => request.headers.authorization),
      ['Bearer first-token', 'Bearer second-token'],
    );
  });

  it('an exec plugin supplies the token (through client-node), with --as and --as-group added', async () => {
    const plugin = join(dir, 'plugin.mjs');
    writeFileSync(
      plugin,
      "process.stdout.write(JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential', status: { token: 'token-from-exec' } }));\n",
    );
    const file = kubeconfig([
      'exec:',
      '  apiVersion: client.authentication.k8s.io/v1',
      `  command: ${process.execPath}`,
      `  args: [${plugin}]`,
      '  interactiveMode: Never',
    ]);
    const access = loadKubeAccess({ kubeconfig: file, overrides: { as: 'jane', asGroups: ['team-a', 'auditors'] }, env: {} });
    const api = new ApiServerClient(access.credentials, 10_000);
    try {
      await api.json('GET', '/api/v1/namespaces/team-a/configmaps/a');
    } finally {
      await api.close();
    }
    const [request] = seen;
    assert.equal(request?.headers.authorization, 'Bearer token-from-exec');
    assert.equal(request?.headers['impersonate-user'], 'jane');
    const groups = request!.raw.filter((_, i) => i % 2 === 1 && request!.raw[i - 1]!.toLowerCase() === 'impersonate-group');
    assert.deepEqual(groups, ['team-a', 'auditors']);
  });

  it('in-cluster: the service account token and CA from their files, the server from the environment', async () => {
    const accountDir = join(dir, 'serviceaccount');
    mkdirSync(accountDir, { recursive: true });
    writeFileSync(join(accountDir, 'token'), 'service-account-token');
    writeFileSync(join(accountDir, 'ca.crt'), readFileSync(pki.caCert));
    const { port } = new URL(url);
    const config = inClusterConfig({ KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: port }, accountDir);
    const api = new ApiServerClient(credentialsFor(config), 5000);
    try {
      await api.json('GET', '/api/v1/namespaces/team-a/configmaps/a');
    } finally {
      await api.close();
    }
    assert.equal(seen[0]?.headers.authorization, 'Bearer service-account-token');
  });

  it('an error answer is ApiStatusError with the Status body, mapped by KubeCluster (409 -> ConflictError)', async () => {
    answer = () => ({
      status: 409,
      body: { kind: 'Status', status: 'Failure', reason: 'Conflict', code: 409, message: 'the object has been modified' },
    });
    const access = loadKubeAccess({ kubeconfig: kubeconfig(clientCertificate()), env: {} });
    const api = new ApiServerClient(access.credentials, 5000);
    const cluster = new KubeCluster(access.credentials, { ...DEFAULT_NAMES, namespace: access.namespace });
    try {
      await assert.rejects(
        api.json('PUT', '/api/v1/namespaces/team-a/configmaps/a', { body: {} }),
        (error: unknown) => error instanceof ApiStatusError && error.code === 409 && /modified/.test(error.body),
      );
      await assert.rejects(
        cluster.writeConfigMap({ name: 'kafka-consumer-state', data: {}, annotations: {}, resourceVersion: '1' }),
        (error: unknown) => error instanceof ConflictError && /changed by someone else/.test(error.message),
      );
    } finally {
      await Promise.all([api.close(), cluster.close()]);
    }
    const write = seen.at(-1)!;
    assert.equal(write.method, 'PUT');
    assert.equal(write.headers['content-type'], 'application/json');
    assert.equal(JSON.parse(write.body).metadata.resourceVersion, '1', 'the replace carries the version it was given');
  });
});

describe('pods behind a Service', () => {
  it('lists with the selector seen last while the Service is read again, and lists again when the selector changed', async () => {
    let selector: Record<string, string> = { app: 'bg-consumer', color: 'blue' };
    let podsAsked: () => void = () => {};
    let holdService: Promise<void> | undefined;
    answer = async (entry) => {
      if (entry.url.includes('/services/')) {
        await holdService;
        return { status: 200, body: { kind: 'Service', metadata: { name: 'consumer-blue-svc' }, spec: { selector } } };
      }
      podsAsked();
      const query = new URL(entry.url, 'https://x').searchParams.get('labelSelector') ?? '';
      const name = query.includes('track=next') ? 'consumer-blue-next-0' : 'consumer-blue-0';
      return { status: 200, body: { kind: 'PodList', items: [{ metadata: { name }, status: { phase: 'Running', podIP: '10.0.0.1' } }] } };
    };
    const access = loadKubeAccess({ kubeconfig: kubeconfig(clientCertificate()), env: {} });
    const cluster = new KubeCluster(access.credentials, { ...DEFAULT_NAMES, namespace: access.namespace });
    const paths = () => seen.map((entry) => decodeURIComponent(entry.url.replace(/^.*\/namespaces\/team-a\//, '')));
    try {
      assert.deepEqual(
        (await cluster.listPods('blue')).map((pod) => pod.name),
        ['consumer-blue-0'],
      );
      assert.deepEqual(paths(), ['services/consumer-blue-svc', 'pods?labelSelector=app=bg-consumer,color=blue']);

      // The Service answers only once the pods were asked for: a client that waited for it would hang here.
      seen.length = 0;
      holdService = new Promise((resolve) => (podsAsked = resolve));
      assert.deepEqual(
        (await cluster.listPods('blue')).map((pod) => pod.name),
        ['consumer-blue-0'],
      );
      assert.deepEqual(paths().sort(), ['pods?labelSelector=app=bg-consumer,color=blue', 'services/consumer-blue-svc']);

      seen.length = 0;
      holdService = undefined;
      selector = { app: 'bg-consumer', color: 'blue', track: 'next' };
      assert.deepEqual(
        (await cluster.listPods('blue')).map((pod) => pod.name),
        ['consumer-blue-next-0'],
        'the pods of the new selector',
      );
      assert.equal(paths().at(-1), 'pods?labelSelector=app=bg-consumer,color=blue,track=next');
    } finally {
      await cluster.close();
    }
  });
});

describe('the permission preflight', () => {
  const checks = [
    { verb: 'get', resource: 'configmaps', name: 'kafka-consumer-state' },
    { verb: 'update', resource: 'configmaps', name: 'kafka-consumer-state' },
    { verb: 'create', resource: 'pods/proxy' },
  ];

  async function missing(): Promise<string[]> {
    const access = loadKubeAccess({ kubeconfig: kubeconfig(clientCertificate()), env: {} });
    const cluster = new KubeCluster(access.credentials, { ...DEFAULT_NAMES, namespace: access.namespace });
    try {
      return (await cluster.missingPermissions(checks)).map((check) => `${check.verb} ${check.resource}`);
    } finally {
      await cluster.close();
    }
  }

  it('one SelfSubjectRulesReview decides every check when it is complete', async () => {
    answer = () => ({
      status: 201,
      body: {
        status: {
          incomplete: false,
          resourceRules: [
            { verbs: ['get', 'update'], apiGroups: [''], resources: ['configmaps'], resourceNames: ['kafka-consumer-state'] },
          ],
        },
      },
    });
    assert.deepEqual(await missing(), ['create pods/proxy']);
    assert.deepEqual(
      seen.map((request) => request.url),
      ['/apis/authorization.k8s.io/v1/selfsubjectrulesreviews'],
    );
    assert.deepEqual(JSON.parse(seen[0]!.body).spec, { namespace: 'team-a' });
  });

  it('an incomplete review: only the undecided checks are asked one by one', async () => {
    answer = (request) =>
      request.url.endsWith('selfsubjectrulesreviews')
        ? {
            status: 201,
            body: { status: { incomplete: true, resourceRules: [{ verbs: ['*'], apiGroups: [''], resources: ['configmaps'] }] } },
          }
        : { status: 201, body: { status: { allowed: true } } };
    assert.deepEqual(await missing(), []);
    const reviews = seen.filter((request) => request.url.endsWith('selfsubjectaccessreviews'));
    assert.equal(reviews.length, 1, 'only pods/proxy was undecided');
    assert.deepEqual(JSON.parse(reviews[0]!.body).spec.resourceAttributes, {
      namespace: 'team-a',
      verb: 'create',
      group: '',
      resource: 'pods',
      subresource: 'proxy',
    });
  });
});
