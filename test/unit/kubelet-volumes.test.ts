import assert from 'node:assert/strict';
import { lstat, mkdtemp, readdir, readFile, readlink, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { V1Pod, V1Volume } from '@kubernetes/client-node';
import { writeAtomically, type Payload } from '../../lab/kubelet/atomic-writer.js';
import { ContainerConfigError } from '../../lab/kubelet/field-ref.js';
import { PodVolumes } from '../../lab/kubelet/volumes.js';
import { MemoryObjects } from './kubelet-fixtures.js';

function payloadOf(entries: Record<string, string>): Payload {
  return new Map(Object.entries(entries).map(([path, text]) => [path, { data: Buffer.from(text), mode: 0o644 }]));
}

async function timestampDirs(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((name) => /^\.\.\d{4}_\d\d_\d\d_\d\d_\d\d_\d\d\./.test(name));
}

let root: string;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'bgs-kubelet-volumes-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('writeAtomically (the kubelet ..data layout)', () => {
  it('writes one timestamped dir, ..data pointing at it, and one ..data/<key> symlink per key', async () => {
    const dir = join(root, 'layout');
    assert.equal(await writeAtomically(dir, payloadOf({ 'consumer-blue-0': '{"lifecycle":"ACTIVE"}', blue: 'x' })), true);

    const [timestamped, ...others] = await timestampDirs(dir);
    assert.ok(timestamped !== undefined && others.length === 0, 'exactly one timestamped directory');
    assert.equal(await readlink(join(dir, '..data')), timestamped);
    assert.equal(await readlink(join(dir, 'consumer-blue-0')), '..data/consumer-blue-0');
    assert.equal(await readlink(join(dir, 'blue')), '..data/blue');
    assert.equal(await readFile(join(dir, 'consumer-blue-0'), 'utf8'), '{"lifecycle":"ACTIVE"}');
    assert.deepEqual((await readdir(dir)).sort(), ['..data', 'blue', 'consumer-blue-0', timestamped].sort());
  });

  it('swaps ..data to a new dir on change, drops removed keys and the old dir', async () => {
    const dir = join(root, 'swap');
    await writeAtomically(dir, payloadOf({ a: '1', b: '2' }));
    const [first] = await timestampDirs(dir);

    assert.equal(await writeAtomically(dir, payloadOf({ a: '3' })), true);
    const dirs = await timestampDirs(dir);
    assert.equal(dirs.length, 1);
    assert.notEqual(dirs[0], first);
    assert.equal(await readlink(join(dir, '..data')), dirs[0]);
    assert.equal(await readFile(join(dir, 'a'), 'utf8'), '3');
    await assert.rejects(lstat(join(dir, 'b')), { code: 'ENOENT' });
  });

  it('leaves everything untouched when the payload is unchanged', async () => {
    const dir = join(root, 'unchanged');
    await writeAtomically(dir, payloadOf({ a: '1' }));
    const before = await readlink(join(dir, '..data'));
    assert.equal(await writeAtomically(dir, payloadOf({ a: '1' })), false);
    assert.equal(await readlink(join(dir, '..data')), before);
  });

  it('rejects paths that escape the volume', async () => {
    await assert.rejects(writeAtomically(join(root, 'escape'), payloadOf({ '../etc/passwd': 'x' })), ContainerConfigError);
    await assert.rejects(writeAtomically(join(root, 'escape'), payloadOf({ '/abs': 'x' })), ContainerConfigError);
  });
});

function podWith(volumes: V1Volume[]): V1Pod {
  return {
    metadata: { name: 'consumer-blue-0', namespace: 'kafka-bg-test', uid: 'uid-1', labels: { color: 'blue' } },
    spec: { containers: [], serviceAccountName: 'bgswitch-sidecar', volumes },
  };
}

const facts = { podIp: '10.77.0.10', hostIp: '10.77.0.1' };

describe('PodVolumes', () => {
  it('projects a ConfigMap with every key, then refreshes it on the next sync', async () => {
    const objects = new MemoryObjects();
    objects.configMaps.set('kafka-bg-test/kafka-consumer-state', { data: { 'consumer-blue-0': 'PAUSED' } });
    const volumes = new PodVolumes(
      podWith([{ name: 'state', configMap: { name: 'kafka-consumer-state' } }]),
      join(root, 'cm'),
      facts,
      objects,
    );

    await volumes.sync();
    assert.equal(await readFile(join(root, 'cm', 'state', 'consumer-blue-0'), 'utf8'), 'PAUSED');

    objects.configMaps.set('kafka-bg-test/kafka-consumer-state', { data: { 'consumer-blue-0': 'ACTIVE' } });
    assert.equal(await readFile(join(root, 'cm', 'state', 'consumer-blue-0'), 'utf8'), 'PAUSED', 'no refresh before sync');
    await volumes.sync();
    assert.equal(await readFile(join(root, 'cm', 'state', 'consumer-blue-0'), 'utf8'), 'ACTIVE');
  });

  it('honours items (key -> path, mode) and decodes Secret data', async () => {
    const objects = new MemoryObjects();
    objects.secrets.set('kafka-bg-test/push-key', { data: { key: Buffer.from('s3cret').toString('base64'), other: 'eA==' } });
    const pod = podWith([{ name: 'key', secret: { secretName: 'push-key', items: [{ key: 'key', path: 'nested/k', mode: 0o400 }] } }]);
    await new PodVolumes(pod, join(root, 'secret'), facts, objects).sync();

    const dir = join(root, 'secret', 'key');
    assert.equal(await readFile(join(dir, 'nested', 'k'), 'utf8'), 's3cret');
    assert.equal((await stat(join(dir, 'nested', 'k'))).mode & 0o777, 0o400);
    assert.deepEqual(
      (await readdir(dir)).filter((name) => !name.startsWith('..')),
      ['nested'],
    );
  });

  it('an optional missing Secret gives an empty volume; a required missing ConfigMap is a config error', async () => {
    const objects = new MemoryObjects();
    await new PodVolumes(
      podWith([{ name: 'key', secret: { secretName: 'absent', optional: true } }]),
      join(root, 'opt'),
      facts,
      objects,
    ).sync();
    assert.deepEqual(
      (await readdir(join(root, 'opt', 'key'))).filter((name) => !name.startsWith('..')),
      [],
    );

    const required = new PodVolumes(podWith([{ name: 'state', configMap: { name: 'absent' } }]), join(root, 'req'), facts, objects);
    await assert.rejects(
      required.sync(),
      (error: unknown) => error instanceof ContainerConfigError && /configmap "absent" not found/.test(error.message),
    );
  });

  it('projects the service-account volume: token, kube-root-ca.crt and the namespace; keeps a fresh token', async () => {
    const objects = new MemoryObjects();
    objects.configMaps.set('kafka-bg-test/kube-root-ca.crt', { data: { 'ca.crt': 'PEM' } });
    const pod = podWith([
      {
        name: 'kube-api-access-x',
        projected: {
          defaultMode: 0o644,
          sources: [
            { serviceAccountToken: { path: 'token', expirationSeconds: 3607 } },
            { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
            { downwardAPI: { items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }] } },
          ],
        },
      },
    ]);
    const volumes = new PodVolumes(pod, join(root, 'sa'), facts, objects);
    await volumes.sync();
    await volumes.sync();

    const dir = join(root, 'sa', 'kube-api-access-x');
    assert.equal(await readFile(join(dir, 'token'), 'utf8'), 'token-1-for-consumer-blue-0');
    assert.equal(await readFile(join(dir, 'ca.crt'), 'utf8'), 'PEM');
    assert.equal(await readFile(join(dir, 'namespace'), 'utf8'), 'kafka-bg-test');
    assert.deepEqual(objects.tokenRequests, [{ expirationSeconds: 3607 }], 'one request: the token is not near expiry');
  });

  it('creates emptyDir volumes and removes them all with the pod', async () => {
    const volumes = new PodVolumes(podWith([{ name: 'data', emptyDir: {} }]), join(root, 'empty'), facts, new MemoryObjects());
    await volumes.sync();
    assert.ok((await stat(join(root, 'empty', 'data'))).isDirectory());
    await volumes.remove();
    await assert.rejects(stat(join(root, 'empty')), { code: 'ENOENT' });
  });
});
