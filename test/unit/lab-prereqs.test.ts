import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LabPrerequisiteError, checkPrerequisites, installCommands, type CommandRunner } from '../../lab/prereqs.js';

/**
 * A machine as the prerequisite check sees it: which commands exist. `apt-get install` makes the
 * tools of the packages it installs appear, as on Debian.
 */
function fakeMachine(present: Set<string>, options: { javaVersion?: string; aptFails?: boolean } = {}) {
  const ran: string[][] = [];
  const packageTools: Record<string, string[]> = {
    'etcd-server': ['etcd'],
    openssl: ['openssl'],
    iproute2: ['ip'],
    'util-linux': ['unshare'],
    'openjdk-17-jre-headless': ['java'],
    maven: ['mvn'],
  };
  const run: CommandRunner = async (command, args) => {
    if (command === 'sh') {
      const tool = args[2] as string;
      return present.has(tool) ? { ok: true, output: `/usr/bin/${tool}\n` } : { ok: false, output: '' };
    }
    const name = command.replace(/^\/usr\/bin\//, '');
    if (name === 'apt-get') {
      ran.push([command, ...args]);
      if (options.aptFails) return { ok: false, output: 'E: Unable to locate package etcd-server\n' };
      if (args[0] === 'install')
        for (const pkg of args.filter((arg) => !arg.startsWith('-')).slice(1))
          for (const tool of packageTools[pkg] ?? []) present.add(tool);
      return { ok: true, output: '' };
    }
    if (!present.has(name)) return { ok: false, output: `${name}: not found` };
    if (name === 'java') return { ok: true, output: `openjdk version "${options.javaVersion ?? '17.0.15'}" 2025-04-15\n` };
    return { ok: true, output: '' };
  };
  return { run, ran };
}

const EVERYTHING = ['apt-get', 'etcd', 'openssl', 'ip', 'unshare', 'java', 'mvn', 'go'];
const without = (...missing: string[]) => new Set(EVERYTHING.filter((tool) => !missing.includes(tool)));

describe('lab prerequisites', () => {
  it('installs nothing when everything is there, and returns the tools the lab runs by path', async () => {
    const { run, ran } = fakeMachine(without());
    assert.deepEqual(await checkPrerequisites({ go: true, maven: true }, { run, isRoot: true }), {
      etcd: '/usr/bin/etcd',
      java: '/usr/bin/java',
    });
    assert.deepEqual(ran, []);
  });

  it('as root with apt-get: apt-get update once, then one install of every missing Debian package', async () => {
    const { run, ran } = fakeMachine(without('etcd', 'java', 'mvn', 'openssl'));
    const reported: string[] = [];
    const tools = await checkPrerequisites({ go: false, maven: true }, { run, isRoot: true, report: (line) => reported.push(line) });
    assert.deepEqual(ran, [
      ['apt-get', 'update', '-qq'],
      ['apt-get', 'install', '-y', '-qq', '--no-install-recommends', 'etcd-server', 'openssl', 'openjdk-17-jre-headless', 'maven'],
    ]);
    assert.equal(tools.etcd, '/usr/bin/etcd');
    assert.match(reported.join('\n'), /installing Debian packages: etcd-server openssl openjdk-17-jre-headless maven/);
  });

  it('does not ask for Maven or Go when their results are cached', async () => {
    const { run, ran } = fakeMachine(without('mvn', 'go'));
    await checkPrerequisites({ go: false, maven: false }, { run, isRoot: true });
    assert.deepEqual(ran, []);
  });

  it('an old Java counts as missing', async () => {
    const { run, ran } = fakeMachine(without('apt-get'), { javaVersion: '11.0.2' });
    await assert.rejects(checkPrerequisites({ go: false, maven: false }, { run, isRoot: true }), (error: unknown) => {
      assert.ok(error instanceof LabPrerequisiteError);
      assert.deepEqual(error.missing, ['Java >= 17 (runs the lab Kafka broker): apt-get install openjdk-17-jre-headless']);
      return true;
    });
    assert.deepEqual(ran, []);
  });

  it('not root: installs nothing and names root and each missing thing with how to get it (exit 2)', async () => {
    const { run, ran } = fakeMachine(without('etcd', 'mvn', 'go'));
    await assert.rejects(checkPrerequisites({ go: true, maven: true }, { run, isRoot: false }), (error: unknown) => {
      assert.ok(error instanceof LabPrerequisiteError);
      assert.equal(error.exitCode, 2);
      assert.equal(error.missing.length, 4, error.message);
      assert.match(error.missing[0] as string, /^root: /);
      assert.match(error.message, /etcd: apt-get install etcd-server/);
      assert.match(error.message, /Maven .*apt-get install maven/);
      assert.match(error.message, /Go >= 1\.24.*go\.dev\/dl/);
      return true;
    });
    assert.deepEqual(ran, []);
  });

  it("Go is never installed by apt-get (Debian's may be too old): it is named with where to get it", async () => {
    const { run, ran } = fakeMachine(without('go'));
    await assert.rejects(checkPrerequisites({ go: true, maven: false }, { run, isRoot: true }), /Go >= 1\.24/);
    assert.deepEqual(ran, []);
  });

  it('a failing apt-get stops with its message', async () => {
    const { run } = fakeMachine(without('etcd'), { aptFails: true });
    await assert.rejects(
      checkPrerequisites({ go: false, maven: false }, { run, isRoot: true }),
      /apt-get update -qq' failed: E: Unable to locate package/,
    );
  });

  it('installCommands: nothing without root, without apt-get, or with nothing to install', () => {
    assert.deepEqual(installCommands(['maven'], { isRoot: false, hasAptGet: true }), []);
    assert.deepEqual(installCommands(['maven'], { isRoot: true, hasAptGet: false }), []);
    assert.deepEqual(installCommands([], { isRoot: true, hasAptGet: true }), []);
  });
});
