import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { kubeBuildProgress } from '../../lab/control-plane/build-progress.js';
import { StatusWriter, formatElapsed } from '../../lab/progress.js';

function output(isTTY: boolean) {
  const written: string[] = [];
  return { written, stream: { isTTY, write: (text: string) => written.push(text) } };
}

describe('progress of long lab work', () => {
  it('on a terminal the status line is rewritten in place and cleared before a permanent line', () => {
    const { written, stream } = output(true);
    const writer = new StatusWriter(stream);
    writer.status('building: 1/10');
    writer.status('building: 2/10');
    writer.line('done');
    assert.deepEqual(written, ['\r\x1b[Kbuilding: 1/10', '\r\x1b[Kbuilding: 2/10', '\r\x1b[K', 'done\n']);
  });

  it('elsewhere (CI logs) one plain line per interval', () => {
    const { written, stream } = output(false);
    let now = 0;
    const writer = new StatusWriter(stream, 15_000, () => now);
    for (now = 0; now <= 40_000; now += 1000) writer.status(`at ${now / 1000}s`);
    writer.line('done');
    assert.deepEqual(written, ['at 0s\n', 'at 15s\n', 'at 30s\n', 'done\n']);
  });

  it('formats elapsed time', () => {
    assert.equal(formatElapsed(9_900), '9s');
    assert.equal(formatElapsed(125_000), '2m05s');
  });

  it('reads how far the Kubernetes build is from its log', () => {
    assert.equal(kubeBuildProgress(''), 'starting');
    assert.equal(
      kubeBuildProgress('build.sh: resolving modules for k8s.io/kubernetes v1.34.4 (31 staging modules at v0.34.4)\n'),
      'resolving modules for k8s.io/kubernetes v1.34.4 (31 staging modules at v0.34.4)',
    );
    const log = [
      'build.sh: building kube-apiserver (2000 packages)',
      'internal/goarch',
      'k8s.io/api/core/v1',
      'build.sh: building kube-controller-manager (2100 packages)',
      'k8s.io/kubernetes/pkg/controller',
      'k8s.io/kubernetes/cmd/kube-controller-manager',
      'go: some warning with spaces',
      '',
    ].join('\n');
    assert.equal(kubeBuildProgress(log), 'kube-controller-manager: 2/2100 packages compiled');
  });
});
