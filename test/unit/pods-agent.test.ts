/**
 * The pod client against undici's MockAgent: URLs of both transports, answer validation, error
 * mapping (API server refusals through the proxy, unreachable pods, bad bodies), retries only where
 * safe, exact fault PUT bodies and a push signature the sidecar's verifier accepts.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { MockAgent } from 'undici';
import { ForbiddenError, RefusedError } from '../../src/core/errors.js';
import { PodUnreachableError } from '../../src/shared/errors.js';
import type { PodInfo } from '../../src/core/ports.js';
import { createPodAgent, PushRejectedError, resolveVia, type PodClient } from '../../src/pods/agent.js';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, verifyPush } from '../../src/shared/push-signature.js';

const SERVER = 'https://127.0.0.1:6443';
const NOW = 1_700_000_000_000;
const KEY = Buffer.from('a'.repeat(64));
const POD: PodInfo = {
  name: 'consumer-blue-0',
  color: 'blue',
  phase: 'Running',
  ready: true,
  ip: '10.77.0.11',
  restarts: 0,
  terminating: false,
};
const PROXY_BASE = '/api/v1/namespaces/kafka-bg-test/pods/consumer-blue-0';
const STATUS_BODY = { state: 'PAUSED', stateCode: 2, lastSequenceNumber: 123, totalMessagesReceived: 456 };

function kubeConfig(): KubeConfig {
  const config = new KubeConfig();
  config.loadFromOptions({
    clusters: [{ name: 'lab', server: SERVER, skipTLSVerify: false }],
    users: [{ name: 'operator', token: 'operator-token' }],
    contexts: [{ name: 'lab', cluster: 'lab', user: 'operator' }],
    currentContext: 'lab',
  });
  return config;
}

const open: Array<{ mock: MockAgent; agent: PodClient }> = [];

function setup(via: 'proxy' | 'direct', now: () => number = () => NOW) {
  const mock = new MockAgent({ enableCallHistory: true });
  mock.disableNetConnect();
  const agent = createPodAgent({
    via,
    kubeConfig: kubeConfig(),
    namespace: 'kafka-bg-test',
    pushKey: async () => KEY,
    clock: { now },
    timeoutMs: 2_000,
    retry: { retries: 2, minTimeoutMs: 1 },
    dispatcher: mock,
  });
  open.push({ mock, agent });
  const calls = () => mock.getCallHistory()?.calls() ?? [];
  return {
    mock,
    agent,
    calls,
    direct: mock.get('http://10.77.0.11:8080'),
    sidecar: mock.get('http://10.77.0.11:8082'),
    api: mock.get(SERVER),
  };
}

afterEach(async () => {
  for (const { mock, agent } of open.splice(0)) {
    await agent.close();
    await mock.close();
  }
});

function apiStatus(code: number, reason: string, message: string) {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

function systemError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

describe('pod agent: URLs and transports', () => {
  it('direct: GET http://<pod ip>:8080/lifecycle/status and returns the state', async () => {
    const { agent, direct, calls } = setup('direct');
    direct.intercept({ path: '/lifecycle/status', method: 'GET' }).reply(200, STATUS_BODY);
    assert.deepEqual(await agent.status(POD), STATUS_BODY);
    assert.equal(calls()[0]?.fullUrl, 'http://10.77.0.11:8080/lifecycle/status');
  });

  it('proxy: goes through the API server pod proxy with the kubeconfig token', async () => {
    const { agent, api, calls } = setup('proxy');
    api.intercept({ path: `${PROXY_BASE}:8080/proxy/lifecycle/status`, method: 'GET' }).reply(200, STATUS_BODY);
    assert.equal((await agent.status(POD)).state, 'PAUSED');
    const call = calls()[0]!;
    assert.equal(call.fullUrl, `${SERVER}${PROXY_BASE}:8080/proxy/lifecycle/status`);
    assert.equal((call.headers as Record<string, string>)['authorization'], 'Bearer operator-token');
  });

  it('proxy: the sidecar port goes into the proxy path', async () => {
    const { agent, api } = setup('proxy');
    api
      .intercept({ path: `${PROXY_BASE}:8082/proxy/status`, method: 'GET' })
      .reply(200, { pod: POD.name, generation: 7, actual: 'ACTIVE' });
    assert.deepEqual(await agent.sidecarStatus(POD), { pod: POD.name, generation: 7, actual: 'ACTIVE' });
  });

  it('direct: a pod without an IP is unreachable, without any request', async () => {
    const { agent, calls } = setup('direct');
    const { ip: _ip, ...pending } = POD;
    await assert.rejects(agent.status({ ...pending, phase: 'Pending' }), (error: unknown) => {
      assert.ok(error instanceof PodUnreachableError);
      assert.match(error.message, /consumer-blue-0: GET \/lifecycle\/status failed: pod has no IP address \(phase Pending\)/);
      return true;
    });
    assert.equal(calls().length, 0);
  });

  it('auto picks direct inside a cluster and the proxy outside', () => {
    assert.equal(resolveVia('auto', { KUBERNETES_SERVICE_HOST: '10.96.0.1' }), 'direct');
    assert.equal(resolveVia('auto', {}), 'proxy');
    assert.equal(resolveVia('proxy', { KUBERNETES_SERVICE_HOST: '10.96.0.1' }), 'proxy');
  });
});

describe('pod agent: answers are validated', () => {
  it('rejects a status body that says `status` instead of `state`', async () => {
    const { agent, direct } = setup('direct');
    direct
      .intercept({ path: '/lifecycle/status', method: 'GET' })
      .reply(200, { status: 'ACTIVE', stateCode: 0, lastSequenceNumber: 1, totalMessagesReceived: 1 });
    await assert.rejects(agent.status(POD), (error: unknown) => {
      assert.ok(error instanceof PodUnreachableError);
      assert.equal(error.pod, 'consumer-blue-0');
      assert.match(error.message, /state is missing/);
      return true;
    });
  });

  it('rejects a body that is not JSON, quoting it', async () => {
    const { agent, direct } = setup('direct');
    direct.intercept({ path: '/lifecycle/pause', method: 'POST' }).reply(200, '<html>oops</html>');
    await assert.rejects(
      agent.lifecycle(POD, 'pause'),
      /consumer-blue-0: POST \/lifecycle\/pause failed: unexpected answer \(the body is not JSON\): <html>oops<\/html>/,
    );
  });

  it('returns the lifecycle change of pause', async () => {
    const { agent, direct } = setup('direct');
    const change = { previousState: 'ACTIVE', currentState: 'DRAINING', lastSequenceNumber: 9 };
    direct.intercept({ path: '/lifecycle/pause', method: 'POST' }).reply(200, change);
    assert.deepEqual(await agent.lifecycle(POD, 'pause'), change);
  });

  it('names the HTTP status and body of an error answer', async () => {
    const { agent, direct } = setup('direct');
    direct.intercept({ path: '/lifecycle/resume', method: 'POST' }).reply(500, 'kafka down');
    await assert.rejects(agent.lifecycle(POD, 'resume'), /consumer-blue-0: POST \/lifecycle\/resume failed: HTTP 500: kafka down/);
  });

  it('readiness: 200 UP is ready, 503 DOWN is not, anything else is an error', async () => {
    const { agent, direct } = setup('direct');
    const path = '/actuator/health/readiness';
    direct.intercept({ path, method: 'GET' }).reply(200, { status: 'UP' });
    direct.intercept({ path, method: 'GET' }).reply(503, { status: 'DOWN' });
    direct.intercept({ path, method: 'GET' }).reply(404, 'not found');
    assert.equal(await agent.ready(POD), true);
    assert.equal(await agent.ready(POD), false);
    await assert.rejects(agent.ready(POD), /HTTP 404: not found/);
  });

  it('readiness through the proxy: the API server failing to reach the pod is an error, not "not ready"', async () => {
    const { agent, api } = setup('proxy');
    api
      .intercept({ path: `${PROXY_BASE}:8080/proxy/actuator/health/readiness`, method: 'GET' })
      .reply(
        503,
        apiStatus(503, 'ServiceUnavailable', 'error trying to reach service: dial tcp 10.77.0.11:8080: connect: connection refused'),
      )
      .times(3);
    await assert.rejects(agent.ready(POD), (error: unknown) => {
      assert.ok(error instanceof PodUnreachableError);
      assert.match(
        error.message,
        /consumer-blue-0: GET \/actuator\/health\/readiness failed: API server proxy answered 503: .*connection refused/,
      );
      return true;
    });
  });

  it('reads the fault settings', async () => {
    const { agent, direct } = setup('direct');
    const fault = { processingDelayMs: 200, errorRatePercent: 0, commitDelayMs: 5, pollTimeoutExceed: true };
    direct.intercept({ path: '/fault', method: 'GET' }).reply(200, fault);
    assert.deepEqual(await agent.getFault(POD), fault);
  });
});

describe('pod agent: API server refusals through the proxy', () => {
  const forbidden = apiStatus(403, 'Forbidden', 'pods "consumer-blue-0" is forbidden: User "dev" cannot create resource "pods/proxy"');

  for (const [method, verb, run] of [
    ['GET', 'get', (agent: PodClient) => agent.status(POD)],
    ['POST', 'create', (agent: PodClient) => agent.lifecycle(POD, 'pause')],
    [
      'PUT',
      'update',
      (agent: PodClient) => agent.setFault(POD, { processingDelayMs: 0, errorRatePercent: 0, commitDelayMs: 0, pollTimeoutExceed: false }),
    ],
  ] as const) {
    it(`403 on ${method} becomes ForbiddenError('${verb}', 'pods/proxy'), not retried`, async () => {
      const { agent, api, calls } = setup('proxy');
      api
        .intercept({ path: (path) => path.startsWith(PROXY_BASE), method })
        .reply(403, forbidden)
        .persist();
      await assert.rejects(run(agent), (error: unknown) => {
        assert.ok(error instanceof ForbiddenError);
        assert.equal(error.verb, verb);
        assert.equal(error.resource, 'pods/proxy');
        assert.match(error.message, new RegExp(`forbidden: cannot '${verb}' 'pods/proxy' in namespace kafka-bg-test`));
        return true;
      });
      assert.equal(calls().length, method === 'PUT' ? 4 : 1);
    });
  }

  it('401 from the API server is a refusal about credentials and never echoes the token', async () => {
    const { agent, api } = setup('proxy');
    api
      .intercept({ path: `${PROXY_BASE}:8080/proxy/lifecycle/status`, method: 'GET' })
      .reply(401, apiStatus(401, 'Unauthorized', 'Unauthorized'));
    await assert.rejects(agent.status(POD), (error: unknown) => {
      assert.ok(error instanceof RefusedError);
      assert.match(error.message, /credentials rejected by the API server https:\/\/127\.0\.0\.1:6443/);
      assert.doesNotMatch(error.message, /operator-token/);
      return true;
    });
  });

  it("a pod's own 404 through the proxy is reported with its body", async () => {
    const { agent, api } = setup('proxy');
    api.intercept({ path: `${PROXY_BASE}:8080/proxy/fault`, method: 'GET' }).reply(404, 'no such endpoint');
    await assert.rejects(agent.getFault(POD), /consumer-blue-0: GET \/fault failed: HTTP 404: no such endpoint/);
  });
});

describe('pod agent: retries only where safe', () => {
  it('retries a refused connection, then reports the pod unreachable with the cause', async () => {
    const { agent, direct, calls } = setup('direct');
    direct
      .intercept({ path: '/lifecycle/status', method: 'GET' })
      .replyWithError(systemError('ECONNREFUSED', 'connect ECONNREFUSED 10.77.0.11:8080'))
      .times(3);
    await assert.rejects(agent.status(POD), (error: unknown) => {
      assert.ok(error instanceof PodUnreachableError);
      assert.match(error.message, /consumer-blue-0: GET \/lifecycle\/status failed: connect ECONNREFUSED 10\.77\.0\.11:8080/);
      return true;
    });
    assert.equal(calls().length, 3);
  });

  it('a refused connection that recovers succeeds', async () => {
    const { agent, direct, calls } = setup('direct');
    direct
      .intercept({ path: '/lifecycle/status', method: 'GET' })
      .replyWithError(systemError('ECONNREFUSED', 'connect ECONNREFUSED 10.77.0.11:8080'));
    direct.intercept({ path: '/lifecycle/status', method: 'GET' }).reply(200, STATUS_BODY);
    assert.equal((await agent.status(POD)).state, 'PAUSED');
    assert.equal(calls().length, 2);
  });

  it('resends pause after a reset connection (idempotent)', async () => {
    const { agent, direct, calls } = setup('direct');
    direct.intercept({ path: '/lifecycle/pause', method: 'POST' }).replyWithError(systemError('ECONNRESET', 'read ECONNRESET'));
    direct
      .intercept({ path: '/lifecycle/pause', method: 'POST' })
      .reply(200, { previousState: 'ACTIVE', currentState: 'PAUSED', lastSequenceNumber: 3 });
    assert.equal((await agent.lifecycle(POD, 'pause')).currentState, 'PAUSED');
    assert.equal(calls().length, 2);
  });

  it('never resends a push after a reset connection (it may have arrived)', async () => {
    const { agent, sidecar, calls } = setup('direct');
    sidecar.intercept({ path: '/desired-state', method: 'POST' }).replyWithError(systemError('ECONNRESET', 'read ECONNRESET'));
    sidecar.intercept({ path: '/desired-state', method: 'POST' }).reply(200, {});
    await assert.rejects(
      agent.push(POD, { lifecycle: 'PAUSED', generation: 3 }),
      /consumer-blue-0: POST \/desired-state failed: read ECONNRESET/,
    );
    assert.equal(calls().length, 1);
  });

  it('resends a push the proxy could not deliver (dial failure), with a fresh signature', async () => {
    const { agent, api, calls } = setup('proxy');
    const path = `${PROXY_BASE}:8082/proxy/desired-state`;
    api
      .intercept({ path, method: 'POST' })
      .reply(
        503,
        apiStatus(503, 'ServiceUnavailable', 'error trying to reach service: dial tcp 10.77.0.11:8082: connect: connection refused'),
      );
    api.intercept({ path, method: 'POST' }).reply(200, {});
    await agent.push(POD, { lifecycle: 'PAUSED', generation: 3 });
    assert.equal(calls().length, 2);
  });

  it('a caller abort is rethrown as is and stops retrying', async () => {
    const { agent, direct, calls } = setup('direct');
    direct
      .intercept({ path: '/lifecycle/status', method: 'GET' })
      .replyWithError(systemError('ECONNREFUSED', 'connect ECONNREFUSED'))
      .persist();
    const controller = new AbortController();
    const reason = new Error('operator pressed Ctrl-C');
    controller.abort(reason);
    await assert.rejects(agent.status(POD, controller.signal), (error: unknown) => error === reason);
    assert.equal(calls().length, 0);
  });
});

describe('pod agent: a lifecycle call bounded by the switch lock', () => {
  it('a call given a timeout shorter than the request timeout gives up at it', async () => {
    const { agent, direct } = setup('direct');
    direct
      .intercept({ path: '/lifecycle/resume', method: 'POST' })
      .reply(200, { previousState: 'PAUSED', currentState: 'ACTIVE', lastSequenceNumber: 3 })
      .delay(1_500);
    await assert.rejects(agent.lifecycle(POD, 'resume', undefined, 50), /POST \/lifecycle\/resume failed: no answer within 50 ms/);
  });

  it('resends stop at the deadline of the call: nothing is sent once its time is up', async () => {
    // Every reading of the clock is 30 ms later: the deadline is 50 ms after the first, the first
    // attempt goes out with 20 ms left, a resend would have none.
    let now = NOW;
    const { agent, direct, calls } = setup('direct', () => (now += 30));
    direct
      .intercept({ path: '/lifecycle/resume', method: 'POST' })
      .replyWithError(systemError('ECONNREFUSED', 'connect ECONNREFUSED 10.77.0.11:8080'))
      .persist();
    await assert.rejects(
      agent.lifecycle(POD, 'resume', undefined, 50),
      /POST \/lifecycle\/resume failed: no time left of the 50 ms the call had/,
    );
    assert.equal(calls().length, 1, 'refused once, not resent');
  });
});

describe('pod agent: faults and pushes', () => {
  it('setFault PUTs all four fields in parallel, zeros and false included', async () => {
    const { agent, direct, calls } = setup('direct');
    for (const [path, type] of [
      ['/fault/processing-delay', 'processing-delay'],
      ['/fault/error-rate', 'error-rate'],
      ['/fault/commit-delay', 'commit-delay'],
      ['/fault/poll-timeout', 'poll-timeout-exceed'],
    ] as const) {
      direct.intercept({ path, method: 'PUT' }).reply(200, { type, status: 'applied' });
    }
    await agent.setFault(POD, { processingDelayMs: 0, errorRatePercent: 50, commitDelayMs: 0, pollTimeoutExceed: false });
    const bodies = Object.fromEntries(calls().map((call) => [call.path, call.body]));
    assert.deepEqual(bodies, {
      '/fault/processing-delay': '{"delayMs":0}',
      '/fault/error-rate': '{"errorRatePercent":50}',
      '/fault/commit-delay': '{"delayMs":0}',
      '/fault/poll-timeout': '{"enabled":false}',
    });
    for (const call of calls()) assert.equal((call.headers as Record<string, string>)['content-type'], 'application/json');
  });

  it('setFault fails when one PUT is not applied, naming it', async () => {
    const { agent, direct } = setup('direct');
    direct.intercept({ path: '/fault/processing-delay', method: 'PUT' }).reply(200, { status: 'applied' });
    direct.intercept({ path: '/fault/error-rate', method: 'PUT' }).reply(200, { status: 'applied' });
    direct.intercept({ path: '/fault/commit-delay', method: 'PUT' }).reply(200, { status: 'rejected' });
    direct.intercept({ path: '/fault/poll-timeout', method: 'PUT' }).reply(200, { status: 'applied' });
    await assert.rejects(
      agent.setFault(POD, { processingDelayMs: 1, errorRatePercent: 1, commitDelayMs: 1, pollTimeoutExceed: true }),
      /PUT \/fault\/commit-delay failed: unexpected answer \(field "status" is "rejected", not "applied"\)/,
    );
  });

  it('push sends the signed body the sidecar verifies', async () => {
    const { agent, sidecar, calls } = setup('direct');
    sidecar.intercept({ path: '/desired-state', method: 'POST' }).reply(200, { applied: true });
    const fault = { processingDelayMs: 200, errorRatePercent: 0, commitDelayMs: 0, pollTimeoutExceed: false };
    await agent.push(POD, { lifecycle: 'ACTIVE', generation: 8, fault });
    const call = calls()[0]!;
    const body = call.body as string;
    assert.deepEqual(JSON.parse(body), { pod: 'consumer-blue-0', generation: 8, lifecycle: 'ACTIVE', fault });
    const headers = call.headers as Record<string, string>;
    assert.equal(headers[TIMESTAMP_HEADER], String(NOW));
    assert.deepEqual(verifyPush(KEY, POD.name, 8, body, headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER], NOW), { ok: true });
    assert.equal(verifyPush(KEY, 'consumer-blue-1', 8, body, headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER], NOW).ok, false);
  });

  it('push: 401 says the push key does not match, 409 says the generation is stale', async () => {
    const { agent, sidecar } = setup('direct');
    sidecar.intercept({ path: '/desired-state', method: 'POST' }).reply(401, { error: 'signature mismatch' });
    sidecar.intercept({ path: '/desired-state', method: 'POST' }).reply(409, { error: 'generation 3 < 9' });
    await assert.rejects(agent.push(POD, { lifecycle: 'PAUSED', generation: 3 }), (error: unknown) => {
      assert.ok(error instanceof PushRejectedError);
      assert.equal(error.status, 401);
      assert.match(error.message, /push key does not match the sidecar's/);
      return true;
    });
    await assert.rejects(agent.push(POD, { lifecycle: 'PAUSED', generation: 3 }), (error: unknown) => {
      assert.ok(error instanceof PushRejectedError);
      assert.equal(error.status, 409);
      assert.match(error.message, /already seen a newer generation than 3/);
      return true;
    });
  });

  it('push: a failing key read is reported as is and retried on the next push; a good key is read once', async () => {
    const mock = new MockAgent();
    mock.disableNetConnect();
    let reads = 0;
    const agent = createPodAgent({
      via: 'direct',
      kubeConfig: kubeConfig(),
      namespace: 'kafka-bg-test',
      pushKey: async () => {
        reads += 1;
        if (reads === 1) throw new RefusedError('Secret "bgswitch-push-key" does not exist');
        return KEY;
      },
      clock: { now: () => NOW },
      dispatcher: mock,
    });
    open.push({ mock, agent });
    mock.get('http://10.77.0.11:8082').intercept({ path: '/desired-state', method: 'POST' }).reply(200, {}).times(2);
    await assert.rejects(agent.push(POD, { lifecycle: 'PAUSED', generation: 1 }), RefusedError);
    await agent.push(POD, { lifecycle: 'PAUSED', generation: 1 });
    await agent.push(POD, { lifecycle: 'PAUSED', generation: 2 });
    assert.equal(reads, 2, 'a failed read is retried once, a successful one is kept');
  });

  it('sidecar status: a malformed desired entry is an error', async () => {
    const { agent, sidecar } = setup('direct');
    sidecar.intercept({ path: '/status', method: 'GET' }).reply(200, { pod: POD.name, generation: 2, desired: { lifecycle: 'DRAINING' } });
    await assert.rejects(agent.sidecarStatus(POD), /desired\.lifecycle must be "ACTIVE" or "PAUSED", got "DRAINING"/);
  });
});
