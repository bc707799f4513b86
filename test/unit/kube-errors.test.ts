/**
 * The mapping of API call failures (an HTTP answer with a Status body, connection errors, timeouts)
 * to bgswitch errors: the right class, a message naming verb/object/server, no secrets.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ClusterUnreachableError, ConflictError, ForbiddenError, RefusedError } from '../../src/core/errors.js';
import { OperationError, UsageError } from '../../src/shared/errors.js';
import { ApiStatusError, ApiUnreachableError, isNotFound, redact, toBgswitchError, type KubeCallContext } from '../../src/kube/errors.js';

const SERVER = 'https://10.77.0.1:6443';
const context: KubeCallContext = {
  verb: 'update',
  resource: 'configmaps',
  name: 'kafka-consumer-state',
  namespace: 'kafka-bg-test',
  server: SERVER,
};

function apiException(code: number, reason: string, message: string): ApiStatusError {
  return new ApiStatusError(
    code,
    JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code }),
  );
}

describe('API errors', () => {
  it('409 Conflict on update is a ConflictError (lost the race)', () => {
    const error = toBgswitchError(apiException(409, 'Conflict', 'the object has been modified'), context);
    assert.ok(error instanceof ConflictError);
    assert.match(error.message, /configmaps "kafka-consumer-state" was changed by someone else/);
  });

  it('409 AlreadyExists on create is a ConflictError saying so', () => {
    const error = toBgswitchError(apiException(409, 'AlreadyExists', 'leases "l" already exists'), {
      ...context,
      verb: 'create',
      resource: 'leases',
      name: 'l',
    });
    assert.ok(error instanceof ConflictError);
    assert.equal(error.message, 'leases "l" already exists in namespace kafka-bg-test');
  });

  it('403 names the verb, the resource and the namespace', () => {
    const error = toBgswitchError(
      apiException(403, 'Forbidden', 'configmaps "kafka-consumer-state" is forbidden: User "dev" cannot update resource "configmaps"'),
      context,
    );
    assert.ok(error instanceof ForbiddenError);
    assert.equal(error.verb, 'update');
    assert.equal(error.resource, 'configmaps');
    assert.equal(error.message, "forbidden: cannot 'update' 'configmaps' in namespace kafka-bg-test");
    assert.equal(error.exitCode, 3);
  });

  it('a 403 that is not about RBAC keeps the server reason', () => {
    const error = toBgswitchError(
      apiException(403, 'Forbidden', 'unable to create new content in namespace kafka-bg-test because it is being terminated'),
      { ...context, verb: 'create' },
    );
    assert.match(error.message, /being terminated/);
  });

  it('401 is a refusal about credentials, without echoing anything secret', () => {
    const error = toBgswitchError(new ApiStatusError(401, ''), context);
    assert.ok(error instanceof RefusedError);
    assert.equal(error.message, `credentials rejected by the API server ${SERVER} (401 Unauthorized)`);
  });

  it('404 outside a read names the object', () => {
    const notFound = apiException(404, 'NotFound', 'configmaps "kafka-consumer-state" not found');
    assert.equal(isNotFound(notFound), true);
    const error = toBgswitchError(notFound, context);
    assert.ok(error instanceof OperationError);
    assert.match(error.message, /^configmaps "kafka-consumer-state" not found in namespace kafka-bg-test/);
  });

  it('422 Invalid passes on the validation message', () => {
    const error = toBgswitchError(
      apiException(422, 'Invalid', 'Lease.coordination.k8s.io "l" is invalid: spec.leaseDurationSeconds: must be greater than 0'),
      context,
    );
    assert.ok(error instanceof OperationError);
    assert.match(error.message, /HTTP 422: .*must be greater than 0/);
  });

  it('a BgswitchError passes through unchanged', () => {
    const original = new UsageError('bad flag');
    assert.equal(toBgswitchError(original, context), original);
  });
});

describe('transport errors', () => {
  it('connection refused names the server and the fix', () => {
    const refused = new ApiUnreachableError('connect ECONNREFUSED 10.77.0.1:6443', false);
    const error = toBgswitchError(refused, context);
    assert.ok(error instanceof ClusterUnreachableError);
    assert.equal(error.message, `cannot reach the Kubernetes API server at ${SERVER}: connect ECONNREFUSED 10.77.0.1:6443`);
    assert.match(error.hint ?? '', /--kubeconfig\/--context/);
  });

  it('a TLS failure is unreachable too', () => {
    const tls = new ApiUnreachableError('DEPTH_ZERO_SELF_SIGNED_CERT: self-signed certificate', false);
    assert.ok(toBgswitchError(tls, context) instanceof ClusterUnreachableError);
  });

  it('our request timeout says so', () => {
    const error = toBgswitchError(new ApiUnreachableError('no answer within 15000 ms', true), context);
    assert.ok(error instanceof ClusterUnreachableError);
    assert.match(error.message, /no answer before the request timeout/);
  });

  it('other failures keep a redacted reason', () => {
    const error = toBgswitchError(new Error('exec plugin failed: token=abc123 Bearer xyz.789'), context);
    assert.ok(error instanceof OperationError);
    assert.doesNotMatch(error.message, /abc123|xyz\.789/);
    assert.match(error.message, /^cannot update configmaps "kafka-consumer-state" in namespace kafka-bg-test: exec plugin failed/);
  });

  it('redact hides credentials', () => {
    assert.equal(redact('Authorization: Bearer eyJhbGciOi.payload'), 'Authorization: Bearer <redacted>');
    assert.equal(redact('{"password":"hunter2"}'), '{"password":"<redacted>"}');
  });
});
