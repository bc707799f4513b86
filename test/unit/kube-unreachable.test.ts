/**
 * KubeCluster when there is no API server to talk to: a refused port and a socket that never
 * answers. Nothing here imitates the Kubernetes API; it checks that client-node's real failures
 * and our per-request timeout reach the operator as ClusterUnreachableError naming the server.
 */
import assert from 'node:assert/strict';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { ClusterUnreachableError } from '../../src/core/errors.js';
import type { ObjectNames } from '../../src/core/ports.js';
import { KubeCluster } from '../../src/kube/cluster.js';
import { DEFAULT_NAMES } from '../../src/core/names.js';

const NAMES: ObjectNames = DEFAULT_NAMES;

function kubeConfigFor(server: string): KubeConfig {
  const config = new KubeConfig();
  config.loadFromOptions({
    clusters: [{ name: 'c', server, skipTLSVerify: true }],
    users: [{ name: 'u', token: 'sekret-token' }],
    contexts: [{ name: 'c', cluster: 'c', user: 'u' }],
    currentContext: 'c',
  });
  return config;
}

function unreachable(server: string, pattern: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof ClusterUnreachableError, `expected ClusterUnreachableError, got ${String(error)}`);
    assert.ok(error.message.startsWith(`cannot reach the Kubernetes API server at ${server}: `), error.message);
    assert.match(error.message, pattern);
    assert.doesNotMatch(error.message, /sekret-token/);
    return true;
  };
}

describe('KubeCluster without a reachable API server', () => {
  it('a refused connection is ClusterUnreachableError', async () => {
    const probe = createTcpServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as AddressInfo;
    await new Promise((resolve) => probe.close(resolve));
    const server = `https://127.0.0.1:${port}`;
    const cluster = new KubeCluster(kubeConfigFor(server), NAMES, { requestTimeoutMs: 2_000 });
    await assert.rejects(cluster.getConfigMap('kafka-consumer-state'), unreachable(server, /ECONNREFUSED/));
  });

  it('a server that never answers hits the request timeout', async () => {
    const sockets: Socket[] = [];
    const silent = createTcpServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const server = `https://127.0.0.1:${(silent.address() as AddressInfo).port}`;
    try {
      const cluster = new KubeCluster(kubeConfigFor(server), NAMES, { requestTimeoutMs: 200 });
      await assert.rejects(cluster.listPods('blue'), unreachable(server, /no answer before the request timeout/));
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });
});
