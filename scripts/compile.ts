/**
 * Compiles the TypeScript the lab, the sidecar, the consumer and the tests' processes run into
 * `dist/` (one `.js` and source map per module; the layout tsc used): `npm run build`.
 *
 * esbuild, not tsc, and with tsx's settings (ES modules, names kept): the tests run the same modules
 * through tsx, the CLI runs as an esbuild bundle, and coverage merges what every process ran only
 * when all of them were compiled alike (tsc's source maps put functions at other columns, so c8
 * counted each function twice, once per compiler). Type errors are `npm run typecheck`'s.
 */
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { transform } from 'esbuild';

const SOURCE_DIRS = ['src', 'sidecar', 'consumer', 'lab'];

async function sourcesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts'))
    .map((entry) => join(entry.parentPath, entry.name));
}

const repoRoot = resolve(import.meta.dirname, '..');
const outdir = join(repoRoot, 'dist');
// Modules whose source is gone must not stay behind in dist/.
await Promise.all(SOURCE_DIRS.map((dir) => rm(join(outdir, dir), { recursive: true, force: true })));
const sources = (await Promise.all(SOURCE_DIRS.map((dir) => sourcesUnder(join(repoRoot, dir))))).flat();
await Promise.all(
  sources.map(async (source) => {
    const path = relative(repoRoot, source);
    const out = join(outdir, path.replace(/\.ts$/, '.js'));
    const result = await transform(await readFile(source, 'utf8'), {
      loader: 'ts',
      format: 'esm',
      platform: 'node',
      target: 'node20',
      keepNames: true,
      sourcemap: 'external',
      sourcefile: relative(dirname(out), source),
      sourcesContent: false,
    });
    await mkdir(dirname(out), { recursive: true });
    const name = out.slice(dirname(out).length + 1);
    await writeFile(out, `${result.code}//# sourceMappingURL=${name}.map\n`);
    await writeFile(`${out}.map`, result.map);
  }),
);
process.stdout.write(`compile: ${sources.length} modules into ${relative(repoRoot, outdir)}/\n`);
