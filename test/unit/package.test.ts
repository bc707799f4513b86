/**
 * What `npm pack` ships: the CLI and nothing else (its bundle; no lab, consumer, sidecar, tests,
 * sources, unbundled modules or source maps), every module the launcher imports, and a packed
 * launcher that runs. Also the krew plugin
 * manifest: it parses and installs the launcher as `kubectl-bgswitch`. Needs `npm run build` first
 * (as `npm test` does).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, normalize } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const root = fileURLToPath(new URL('../..', import.meta.url));
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { name: string; version: string; bin: Record<string, string> };
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const dir = mkdtempSync(join(tmpdir(), 'bgswitch-package-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let packed: Set<string>;
before(() => {
  assert.ok(existsSync(join(root, 'dist', 'cli', 'main.cjs')), 'the CLI is not built: run `npm run build` first');
  const listing = JSON.parse(
    execFileSync(npm, ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8' }),
  ) as Array<{ files: Array<{ path: string }> }>;
  packed = new Set(listing[0]!.files.map((file) => file.path));
});

describe('npm pack', () => {
  it('ships the launcher, the bundled CLI with every command, the licence, README and changelog', () => {
    const files = ['package.json', 'LICENSE', 'README.md', 'CHANGELOG.md', 'bin/bgswitch.js', 'bin/code-cache.js', 'dist/cli/main.cjs'];
    for (const file of files) assert.ok(packed.has(file), `${file} is packed`);
    // Each command is a lazily initialised module of the one bundle (esbuild keys it by its source file).
    const bundle = readFileSync(join(root, 'dist', 'cli', 'main.cjs'), 'utf8');
    for (const command of ['switch', 'status', 'history'])
      assert.ok(bundle.includes(`"src/cli/${command}.ts"`), `the ${command} command is bundled`);
    for (const target of Object.values(pkg.bin)) assert.ok(packed.has(normalize(target)), `the bin ${target} is packed`);
  });

  it('ships nothing of the lab, consumer, sidecar, tests, TypeScript sources or source maps', () => {
    const unwanted = [...packed].filter((file) =>
      /^(dist\/(src|lab|consumer|sidecar|bundle)\/|lab\/|consumer\/|sidecar\/|test\/|src\/|bench\/|\.ci\/)|\.map$|\.test\.|\.ts$/.test(
        file,
      ),
    );
    assert.deepEqual(unwanted, []);
  });

  it('every module the packed CLI imports is packed too', () => {
    const missing: string[] = [];
    for (const file of [...packed].filter((path) => /\.m?js$/.test(path))) {
      const text = readFileSync(join(root, file), 'utf8');
      for (const [, specifier] of text.matchAll(/(?:from|import\()\s*['"](\.{1,2}\/[^'"]+)['"]/g)) {
        const target = normalize(join(dirname(file), specifier!));
        if (!packed.has(target)) missing.push(`${file} -> ${specifier}`);
      }
    }
    assert.deepEqual(missing, []);
  });

  it('the packed launcher runs: --version, and as kubectl-bgswitch a command that loads the cluster code', () => {
    execFileSync(npm, ['pack', '--ignore-scripts', '--pack-destination', dir], { cwd: root, stdio: 'ignore' });
    execFileSync('tar', ['xzf', join(dir, `${pkg.name}-${pkg.version}.tgz`), '-C', dir]);
    const unpacked = join(dir, 'package');
    // The runtime dependencies, as `npm install` would put them next to the package.
    symlinkSync(join(root, 'node_modules'), join(unpacked, 'node_modules'));
    const launcher = join(unpacked, 'bin', 'bgswitch.js');
    assert.equal(execFileSync(process.execPath, [launcher, '--version'], { encoding: 'utf8' }).trim(), pkg.version);

    const plugin = join(dir, 'kubectl-bgswitch');
    symlinkSync(launcher, plugin);
    assert.match(execFileSync(process.execPath, [plugin, 'switch', '--help'], { encoding: 'utf8' }), /^Usage: kubectl bgswitch switch/);
    let failure: { status?: number; stderr?: string } = {};
    try {
      execFileSync(process.execPath, [plugin, 'history', '--kubeconfig', join(dir, 'no-such-kubeconfig')], {
        encoding: 'utf8',
        stdio: 'pipe',
      });
    } catch (error) {
      failure = error as typeof failure;
    }
    assert.equal(failure.status, 2, 'a usage error, after loading the history command and the Kubernetes adapter');
    assert.match(failure.stderr ?? '', /kubeconfig .*no-such-kubeconfig does not exist/);
  });
});

describe('krew plugin manifest', () => {
  const manifest = parse(readFileSync(join(root, 'plugins', 'bgswitch.yaml'), 'utf8')) as {
    apiVersion: string;
    kind: string;
    metadata: { name: string };
    spec: {
      version: string;
      shortDescription: string;
      platforms: Array<{ uri: string; sha256: string; bin: string; files: Array<{ from: string; to: string }> }>;
    };
  };

  it('parses as a krew Plugin of this version', () => {
    assert.equal(manifest.apiVersion, 'krew.googlecontainertools.github.com/v1alpha2');
    assert.equal(manifest.kind, 'Plugin');
    assert.equal(manifest.spec.version, `v${pkg.version}`);
    assert.ok(manifest.spec.shortDescription.length > 0 && manifest.spec.shortDescription.length <= 70);
    assert.ok(manifest.spec.platforms.length > 0);
  });

  it('installs as kubectl-bgswitch, pointing at the packed launcher that package.json also installs as kubectl-bgswitch', () => {
    // krew links kubectl-<metadata.name> to each platform's `bin`.
    assert.equal(`kubectl-${manifest.metadata.name}`, 'kubectl-bgswitch');
    assert.equal(pkg.bin['kubectl-bgswitch'], 'bin/bgswitch.js');
    for (const platform of manifest.spec.platforms) {
      assert.match(
        platform.uri,
        new RegExp(`/v${pkg.version.replace(/\./g, '\\.')}/kubectl-bgswitch-v${pkg.version.replace(/\./g, '\\.')}\\.tar\\.gz$`),
      );
      assert.match(platform.sha256, /^[0-9a-f]{64}$/);
      // The archive holds the npm package under package/; files copies it to the plugin root.
      assert.deepEqual(platform.files, [{ from: 'package/*', to: '.' }]);
      assert.equal(platform.bin, pkg.bin['kubectl-bgswitch']);
      assert.ok(packed.has(platform.bin), `${platform.bin} is in the package`);
    }
  });
});
