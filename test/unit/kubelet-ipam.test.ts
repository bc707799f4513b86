import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { OperationError } from '../../src/shared/errors.js';
import { FIRST_POD_HOST, LAST_POD_HOST, PodIpAllocator } from '../../lab/kubelet/ipam.js';

let dir: string;
let file: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bgs-ipam-'));
  file = join(dir, 'kubelet', 'ipam.json');
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('PodIpAllocator', () => {
  it('gives distinct non-loopback lab addresses and the same one again to the same uid', () => {
    const ipam = new PodIpAllocator(file);
    const a = ipam.allocate('uid-a');
    const b = ipam.allocate('uid-b');
    assert.equal(a, '10.77.0.10');
    assert.equal(b, '10.77.0.11');
    assert.equal(ipam.allocate('uid-a'), a);
  });

  it('persists allocations so a restarted kubelet keeps them, and reuses released addresses', async () => {
    const first = new PodIpAllocator(file);
    first.allocate('uid-a');
    first.allocate('uid-b');
    assert.deepEqual(JSON.parse(await readFile(file, 'utf8')), { allocations: { 'uid-a': '10.77.0.10', 'uid-b': '10.77.0.11' } });

    const restarted = new PodIpAllocator(file);
    assert.equal(restarted.allocate('uid-b'), '10.77.0.11');
    restarted.release('uid-a');
    assert.equal(restarted.allocate('uid-c'), '10.77.0.10');
  });

  it('gives a pod the IP its object already shows when that address is free and in range', () => {
    const ipam = new PodIpAllocator(file);
    ipam.allocate('holder', '10.77.0.20');
    assert.equal(ipam.allocate('restarted', '10.77.0.42'), '10.77.0.42');
    assert.equal(ipam.allocate('clash', '10.77.0.20'), '10.77.0.10', 'taken: the lowest free one instead');
    assert.equal(ipam.allocate('outside', '127.0.0.1'), '10.77.0.11', 'never an address outside the pod range');
  });

  it('retainOnly frees the addresses of pods that no longer exist', () => {
    const ipam = new PodIpAllocator(file);
    ipam.allocate('gone');
    ipam.allocate('live');
    ipam.retainOnly(new Set(['live']));
    assert.equal(ipam.allocate('new'), '10.77.0.10');
    assert.equal(ipam.allocate('live'), '10.77.0.11');
  });

  it('fails clearly when the range is exhausted', () => {
    const ipam = new PodIpAllocator(file);
    for (let host = FIRST_POD_HOST; host <= LAST_POD_HOST; host++) ipam.allocate(`uid-${host}`);
    assert.throws(
      () => ipam.allocate('one-too-many'),
      (error: unknown) => error instanceof OperationError && /no free pod IP/.test(error.message),
    );
  });
});
