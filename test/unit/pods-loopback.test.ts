/**
 * The direct transport against real loopback sockets: the errors undici really raises (refused
 * connection, no answer) are classified as the retry rules expect, and a real answer is read.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { PodUnreachableError } from '../../src/shared/errors.js';
import type { PodInfo } from '../../src/core/ports.js';
import { createPodAgent } from '../../src/pods/agent.js';
import { DirectTransport, TransportFailure } from '../../src/pods/transport.js';

const servers: Server[] = [];

after(async () => {
  for (const server of servers) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

async function listen(handler: (request: IncomingMessage, response: ServerResponse) => void): Promise<number> {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

/** A port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const POD: PodInfo = {
  name: 'consumer-green-1',
  color: 'green',
  phase: 'Running',
  ready: true,
  ip: '127.0.0.1',
  restarts: 0,
  terminating: false,
};

function agentOn(port: number, timeoutMs = 2_000) {
  return createPodAgent({
    via: 'direct',
    kubeConfig: new KubeConfig(),
    namespace: 'kafka-bg-test',
    lifecyclePort: port,
    pushKey: async () => Buffer.from('k'),
    clock: { now: Date.now },
    timeoutMs,
    retry: { retries: 2, minTimeoutMs: 1 },
  });
}

describe('direct transport over loopback', () => {
  it('a refused connection is "not-sent" and ends as PodUnreachableError naming the cause', async () => {
    const port = await closedPort();
    const transport = new DirectTransport(1_000);
    try {
      await assert.rejects(transport.send({ pod: POD, port, method: 'POST', path: '/desired-state', body: '{}' }), (error: unknown) => {
        assert.ok(error instanceof TransportFailure);
        assert.equal(error.kind, 'not-sent');
        assert.match(error.message, /ECONNREFUSED/);
        return true;
      });
    } finally {
      await transport.close();
    }
    const agent = agentOn(port);
    try {
      await assert.rejects(agent.status(POD), (error: unknown) => {
        assert.ok(error instanceof PodUnreachableError);
        assert.equal(error.pod, 'consumer-green-1');
        assert.match(error.message, /pod consumer-green-1: GET \/lifecycle\/status failed: .*ECONNREFUSED/);
        return true;
      });
    } finally {
      await agent.close();
    }
  });

  it('no answer within the timeout is "timed-out" and is not resent', async () => {
    let received = 0;
    const port = await listen(() => {
      received += 1; // never answers
    });
    const agent = agentOn(port, 150);
    try {
      await assert.rejects(agent.status(POD), /pod consumer-green-1: GET \/lifecycle\/status failed: no answer within 150 ms/);
    } finally {
      await agent.close();
    }
    assert.equal(received, 1);
  });

  it('reads a real answer', async () => {
    const port = await listen((request, response) => {
      response.setHeader('content-type', 'application/json');
      response.end(
        JSON.stringify({
          state: request.url === '/lifecycle/status' ? 'ACTIVE' : 'PAUSED',
          stateCode: 0,
          lastSequenceNumber: 5,
          totalMessagesReceived: 6,
        }),
      );
    });
    const agent = agentOn(port);
    try {
      assert.deepEqual(await agent.status(POD), { state: 'ACTIVE', stateCode: 0, lastSequenceNumber: 5, totalMessagesReceived: 6 });
    } finally {
      await agent.close();
    }
  });
});
