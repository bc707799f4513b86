/**
 * Finding the kubeconfig, context and namespace like kubectl, from real files in a temp dir.
 * Nothing talks to a cluster here.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { UsageError } from '../../src/shared/errors.js';
import { loadKubeAccess } from '../../src/kube/access.js';

const dir = mkdtempSync(join(tmpdir(), 'bgswitch-kube-access-'));
after(() => rmSync(dir, { recursive: true, force: true }));

interface Ctx {
  name: string;
  cluster: string;
  user: string;
  namespace?: string;
}

function kubeconfig(
  file: string,
  options: { current?: string; clusters: Array<[string, string]>; contexts: Ctx[]; users: string[] },
): string {
  const path = join(dir, file);
  const lines = ['apiVersion: v1', 'kind: Config'];
  if (options.current) lines.push(`current-context: ${options.current}`);
  lines.push('clusters:');
  for (const [name, server] of options.clusters) lines.push(`- name: ${name}`, '  cluster:', `    server: ${server}`);
  lines.push('users:');
  for (const name of options.users) lines.push(`- name: ${name}`, '  user:', `    token: token-of-${name}`);
  lines.push('contexts:');
  for (const context of options.contexts) {
    lines.push(`- name: ${context.name}`, '  context:', `    cluster: ${context.cluster}`, `    user: ${context.user}`);
    if (context.namespace) lines.push(`    namespace: ${context.namespace}`);
  }
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}

const lab = kubeconfig('lab.yaml', {
  current: 'lab',
  clusters: [['lab', 'https://10.77.0.1:6443/']],
  users: ['operator'],
  contexts: [
    { name: 'lab', cluster: 'lab', user: 'operator', namespace: 'team-a' },
    { name: 'lab-plain', cluster: 'lab', user: 'operator' },
  ],
});
const other = kubeconfig('other.yaml', {
  current: 'other',
  clusters: [
    ['lab', 'https://10.77.0.99:6443'],
    ['other', 'https://10.77.0.2:6443'],
  ],
  users: ['dev'],
  contexts: [{ name: 'other', cluster: 'other', user: 'dev' }],
});
const emptyHome = join(dir, 'home');
mkdirSync(emptyHome);

function usageError(pattern: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof UsageError, `expected UsageError, got ${String(error)}`);
    assert.match(error.message, pattern);
    return true;
  };
}

describe('loadKubeAccess', () => {
  it('--kubeconfig: context, server, user and the context namespace', () => {
    const access = loadKubeAccess({ kubeconfig: lab, env: {}, homeDir: emptyHome });
    assert.equal(access.contextName, 'lab');
    assert.equal(access.server, 'https://10.77.0.1:6443');
    assert.equal(access.userName, 'operator');
    assert.equal(access.namespace, 'team-a');
    assert.equal(access.source, lab);
    assert.equal(access.inCluster, false);
  });

  it('namespace: the value passed in wins; without one and without a context namespace, kafka-bg-test', () => {
    assert.equal(loadKubeAccess({ kubeconfig: lab, namespace: 'ns-flag', env: {}, homeDir: emptyHome }).namespace, 'ns-flag');
    assert.equal(loadKubeAccess({ kubeconfig: lab, context: 'lab-plain', env: {}, homeDir: emptyHome }).namespace, 'kafka-bg-test');
  });

  it('a missing --kubeconfig file is a usage error naming it and the flag', () => {
    const missing = join(dir, 'nope.yaml');
    assert.throws(
      () => loadKubeAccess({ kubeconfig: missing, env: {}, homeDir: emptyHome }),
      (error: unknown) => {
        usageError(new RegExp(`kubeconfig ${missing} does not exist`))(error);
        assert.match((error as UsageError).hint ?? '', /--kubeconfig/);
        return true;
      },
    );
  });

  it('a file that is not a kubeconfig is a usage error', () => {
    const broken = join(dir, 'broken.yaml');
    writeFileSync(broken, 'clusters: [ {');
    assert.throws(() => loadKubeAccess({ kubeconfig: broken, env: {}, homeDir: emptyHome }), usageError(/is not a valid kubeconfig/));
  });

  it('an unknown --context lists the available ones', () => {
    assert.throws(
      () => loadKubeAccess({ kubeconfig: lab, context: 'prod', env: {}, homeDir: emptyHome }),
      usageError(/context "prod" is not in .*; available contexts: lab, lab-plain/),
    );
  });

  it('KUBECONFIG: missing entries skipped, files merged, the first definition and current-context win', () => {
    const env = { KUBECONFIG: [join(dir, 'missing.yaml'), lab, other].join(delimiter) };
    const access = loadKubeAccess({ env, homeDir: emptyHome });
    assert.equal(access.contextName, 'lab');
    assert.equal(access.server, 'https://10.77.0.1:6443', 'cluster "lab" from the first file wins');
    assert.equal(access.source, [lab, other].join(delimiter));
    const switched = loadKubeAccess({ env, context: 'other', homeDir: emptyHome });
    assert.equal(switched.server, 'https://10.77.0.2:6443');
    assert.equal(switched.userName, 'dev');
  });

  it('KUBECONFIG with no existing file is a usage error naming KUBECONFIG', () => {
    assert.throws(
      () => loadKubeAccess({ env: { KUBECONFIG: join(dir, 'a.yaml') }, homeDir: emptyHome }),
      (error: unknown) => {
        usageError(/none of the KUBECONFIG files exists/)(error);
        assert.match((error as UsageError).hint ?? '', /KUBECONFIG/);
        return true;
      },
    );
  });

  it('falls back to ~/.kube/config', () => {
    const home = join(dir, 'home-with-config');
    mkdirSync(join(home, '.kube'), { recursive: true });
    kubeconfig(join('home-with-config', '.kube', 'config'), {
      current: 'other',
      clusters: [['other', 'https://10.77.0.2:6443']],
      users: ['dev'],
      contexts: [{ name: 'other', cluster: 'other', user: 'dev' }],
    });
    assert.equal(loadKubeAccess({ env: {}, homeDir: home }).contextName, 'other');
  });

  it('no kubeconfig anywhere and not in a cluster is a usage error', () => {
    assert.throws(() => loadKubeAccess({ env: {}, homeDir: emptyHome }), usageError(/no kubeconfig found/));
  });

  it('a kubeconfig without current context asks for --context', () => {
    const noCurrent = kubeconfig('no-current.yaml', {
      clusters: [['c', 'https://10.77.0.3:6443']],
      users: ['u'],
      contexts: [{ name: 'c', cluster: 'c', user: 'u' }],
    });
    assert.throws(
      () => loadKubeAccess({ kubeconfig: noCurrent, env: {}, homeDir: emptyHome }),
      usageError(/sets no current context; available contexts: c/),
    );
    assert.equal(loadKubeAccess({ kubeconfig: noCurrent, context: 'c', env: {}, homeDir: emptyHome }).server, 'https://10.77.0.3:6443');
  });
});
