/**
 * Bundles each container program into one self-contained ES module, so its image needs Node and
 * that file only (no node_modules, no npm): `npm run bundle [-- consumer|sidecar ...] [--outdir DIR]`.
 * The Dockerfile's build stage runs this same script. Output: <outdir>/<program>/main.mjs
 * (default outdir: dist/bundle). Targets Node 20, so the bundles run on the CLI's Node as well as
 * on the images' Node 24.
 */
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';

const ENTRY_POINTS = { consumer: 'consumer/main.ts', sidecar: 'sidecar/main.ts' } as const;
type Program = keyof typeof ENTRY_POINTS;

/**
 * Optional native or format-specific modules that the bundled libraries load with `require` inside
 * a try/catch, falling back to built-in code when absent: @platformatic/kafka's native CRC32C (it
 * then uses its WebAssembly one) and protobufjs (schema-registry support, unused here).
 */
const OPTIONAL_AT_RUNTIME = ['@node-rs/crc32', 'protobufjs'];

/** Bundled CommonJS dependencies call `require`; an ES module has none unless it makes one. */
const REQUIRE_SHIM =
  "import { createRequire as bundleCreateRequire } from 'node:module'; const require = bundleCreateRequire(import.meta.url);";

export async function bundle(programs: Program[], outdir: string): Promise<string[]> {
  const repoRoot = resolve(import.meta.dirname, '..');
  const outputs: string[] = [];
  for (const program of programs) {
    const outfile = join(resolve(outdir), program, 'main.mjs');
    await build({
      entryPoints: [join(repoRoot, ENTRY_POINTS[program])],
      outfile,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      external: OPTIONAL_AT_RUNTIME,
      banner: { js: REQUIRE_SHIM },
      minify: true,
      keepNames: true,
      logLevel: 'warning',
    });
    outputs.push(outfile);
  }
  return outputs;
}

function isProgram(name: string): name is Program {
  return Object.hasOwn(ENTRY_POINTS, name);
}

const { values, positionals } = parseArgs({ options: { outdir: { type: 'string', default: 'dist/bundle' } }, allowPositionals: true });
const unknown = positionals.filter((name) => !isProgram(name));
if (unknown.length > 0) {
  process.stderr.write(`bundle: unknown program ${unknown.join(', ')}; choose from ${Object.keys(ENTRY_POINTS).join(', ')}\n`);
  process.exit(2);
}
const programs = positionals.length > 0 ? (positionals as Program[]) : (Object.keys(ENTRY_POINTS) as Program[]);
for (const output of await bundle(programs, values.outdir)) process.stdout.write(`bundle: ${output}\n`);
