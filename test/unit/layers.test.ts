/**
 * The "may import" table of docs/architecture.md is a lint rule (biome.json, noRestrictedImports
 * per folder): `npm run lint` fails on an import that runs up a layer. This test proves the rule
 * can fail: it lints probe files laid out like the repository, with the repository's biome.json,
 * and checks that exactly the imports the table forbids are reported.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const biome = join(root, 'node_modules', '.bin', 'biome');

/** Per probe file: each import and whether the table allows it. */
const PROBES: Record<string, Array<[specifier: string, allowed: boolean]>> = {
  'src/core/probe.ts': [
    ['../shared/model.js', true],
    ['./ports.js', true],
    ['../kube/cluster.js', false],
    ['../pods/agent.js', false],
    ['../render/text.js', false],
    ['../cli/main.js', false],
    ['../../sidecar/reconciler.js', false],
    ['undici', false],
    ['@kubernetes/client-node', false],
    ['node:fs/promises', false],
  ],
  'src/shared/probe.ts': [
    ['./model.js', true],
    ['valibot', true],
    ['../core/ports.js', false],
    ['../cli/options.js', false],
    ['node:http', false],
  ],
  'src/kube/probe.ts': [
    ['../core/ports.js', true],
    ['../shared/model.js', true],
    ['../pods/agent.js', false],
    ['../render/text.js', false],
  ],
  'src/pods/probe.ts': [
    ['../kube/credentials.js', true],
    ['../core/ports.js', true],
    ['../kafka/admin-group.js', false],
    ['../cli/runtime.js', false],
  ],
  'src/render/probe.ts': [
    ['../core/fleet.js', true],
    ['../shared/model.js', true],
    ['../kube/cluster.js', false],
    ['../metrics/switch-metrics.js', false],
  ],
  'src/cli/probe.ts': [
    ['../kube/cluster.js', true],
    ['../render/text.js', true],
    ['../../lab/main.js', false],
  ],
  'sidecar/probe.ts': [
    ['../src/shared/model.js', true],
    ['../src/core/errors.js', false],
    ['../src/pods/agent.js', false],
    ['../consumer/engine.js', false],
  ],
  'consumer/probe.ts': [
    ['../src/shared/errors.js', true],
    ['../src/core/ports.js', false],
    ['../sidecar/reconciler.js', false],
  ],
};

interface Diagnostic {
  category: string;
  location: { path: string; start: { line: number } };
}

const dir = mkdtempSync(join(tmpdir(), 'bgswitch-layers-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('the architecture as a lint rule', () => {
  it('reports exactly the imports the "may import" table forbids, and only those', () => {
    copyFileSync(join(root, 'biome.json'), join(dir, 'biome.json'));
    const expected: string[] = [];
    for (const [file, imports] of Object.entries(PROBES)) {
      mkdirSync(dirname(join(dir, file)), { recursive: true });
      const lines = imports.map(([specifier], i) => `import * as m${i} from '${specifier}';`);
      lines.push(`export const all = [${imports.map((_, i) => `m${i}`).join(', ')}];`);
      writeFileSync(join(dir, file), `${lines.join('\n')}\n`);
      imports.forEach(([specifier, allowed], i) => {
        if (!allowed) expected.push(`${file}:${i + 1} ${specifier}`);
      });
    }
    const output = lint(dir);
    const found = output.diagnostics
      .filter((d) => d.category === 'lint/style/noRestrictedImports')
      .map((d) => `${d.location.path}:${d.location.start.line} ${PROBES[d.location.path]![d.location.start.line - 1]![0]}`);
    assert.ok(output.summary, 'biome produced a report');
    assert.deepEqual(found.sort(), expected.sort());
  });
});

function lint(cwd: string): { diagnostics: Diagnostic[]; summary: unknown } {
  let stdout: string;
  try {
    stdout = execFileSync(biome, ['lint', '--vcs-enabled=false', '--reporter=json', '--max-diagnostics=none', '.'], {
      cwd,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
  } catch (error) {
    // biome exits 1 when it reports errors, which is the point here.
    stdout = (error as { stdout: string }).stdout;
  }
  return JSON.parse(stdout) as { diagnostics: Diagnostic[]; summary: unknown };
}
