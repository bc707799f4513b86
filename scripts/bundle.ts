/**
 * Bundles each container program into one self-contained file, so its image needs Node and that
 * file only (no node_modules, no npm): `npm run bundle [-- consumer|sidecar ...] [--outdir DIR]`.
 * The Dockerfile's build stage runs this same script, and `npm run build` too, for the lab, which
 * runs these files as the images do. Output (default outdir: dist/bundle), with a source map for
 * coverage (the images copy the program only): <outdir>/consumer/main.mjs, an ES module (its Kafka
 * client needs `import.meta`), and <outdir>/sidecar/main.cjs, CommonJS (Node then runs it without
 * its ES-module loader: 0.5-0.8 MiB less RSS, docs/performance.md). Targets Node 20, so the
 * bundles run on the CLI's Node as well as on the images' Node 24.
 *
 * `cli` (only when named; `npm run build` runs `bundle.ts cli --outdir dist`) bundles the CLI for
 * start-up speed: one CommonJS file, <outdir>/cli/main.cjs, whose lazily imported modules are still
 * initialised only when imported, with the heavy dependencies left to node_modules (CLI_EXTERNAL).
 */
import { rm } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { build, type BuildOptions, type Plugin } from 'esbuild';

/** Each container program: its entry point and the file its image runs. */
const CONTAINER_PROGRAMS = {
  consumer: { entry: 'consumer/main.ts', file: 'main.mjs' },
  sidecar: { entry: 'sidecar/main.ts', file: 'main.cjs' },
} as const;
type Program = keyof typeof CONTAINER_PROGRAMS | 'cli';

/**
 * Optional native or format-specific modules that the bundled libraries load with `require` inside
 * a try/catch, falling back to built-in code when absent: @platformatic/kafka's native CRC32C (it
 * then uses its WebAssembly one) and protobufjs (schema-registry support, unused here).
 */
const OPTIONAL_AT_RUNTIME = ['@node-rs/crc32', 'protobufjs'];

/**
 * That WebAssembly module (CRC32C, LZ4, Snappy) is read from a file next to the package's own
 * module (`new URL('../dist/native.wasm', import.meta.url)`), which a bundle has not; the package's
 * `bundled` entry carries it inline. Without this the consumer image stopped at its first Kafka use.
 */
const WASM_UTILS_INLINE = join('node_modules', '@platformatic', 'wasm-utils', 'dist', 'bundled.js');

/** Bundled CommonJS dependencies call `require`; an ES module has none unless it makes one. */
const REQUIRE_SHIM =
  "import { createRequire as bundleCreateRequire } from 'node:module'; const require = bundleCreateRequire(import.meta.url);";

/**
 * Node's built-in modules reached with `require` (REQUIRE_SHIM), not `import`. An ES-module import
 * of a builtin makes Node build its ES-module facade, which reads every export, and on Node 24 the
 * lazy `WebSocket` exports of `node:http` then load undici, with http2, zlib, worker_threads and
 * web streams: 9 MiB more RSS for the sidecar (docs/performance.md). `require` reads nothing.
 */
const BUILTINS_BY_REQUIRE: Plugin = {
  name: 'builtins-by-require',
  setup(build) {
    // Builtin names are letters, digits, `_`, `/` and `node:`: nothing to escape.
    const builtin = new RegExp(`^(node:)?(${builtinModules.join('|')})$`);
    build.onResolve({ filter: builtin }, ({ path, namespace }) =>
      namespace === 'builtin' ? { path, external: true } : { path, namespace: 'builtin' },
    );
    build.onLoad({ filter: /.*/, namespace: 'builtin' }, ({ path }) => ({
      contents: `module.exports = require(${JSON.stringify(path)});`,
      loader: 'js',
    }));
  },
};

/** Every container bundle: one file for Node 20 and later, minified, with readable names in stack traces. */
const CONTAINER_BUNDLE: BuildOptions = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  minify: true,
  keepNames: true,
  logLevel: 'warning',
  external: OPTIONAL_AT_RUNTIME,
  // For c8: the lab's container processes count as coverage of their sources. Not in the images.
  sourcemap: true,
  sourcesContent: false,
};

/** An ES module bundle: CommonJS dependencies and Node's builtins reached through a `require` of its own. */
const AS_ES_MODULE: BuildOptions = { format: 'esm', banner: { js: REQUIRE_SHIM }, plugins: [BUILTINS_BY_REQUIRE] };

/**
 * What the CLI bundle leaves to node_modules: large dependencies that only some paths import lazily
 * (the Kafka client, client-node for exec plugins, undici behind a proxy, the metrics registry).
 * Bundled they would only add chunks; left out, they stay what `npm install` provides.
 */
const CLI_EXTERNAL = ['@platformatic/kafka', '@kubernetes/client-node', 'undici', 'prom-client'];

/**
 * yaml's ES-module build (the package's `default` export; the `node` condition gets its CommonJS
 * build, which runs every module of the library up front): the same code, without the Node-only
 * `!!binary` of YAML 1.1 (not used: kubeconfigs and `-o yaml` are YAML 1.2). About 5 ms of the
 * start-up of every cluster command (docs/performance.md).
 */
const YAML_ES_MODULES = join('node_modules', 'yaml', 'browser', 'index.js');

/**
 * Resolving and compiling ~60 modules was most of the CLI's start-up (docs/performance.md). One
 * CommonJS file rather than ES-module chunks: Node 20 can keep V8's compiled code of a script
 * between runs (bin/code-cache.js), not of an ES module, and that saves a cluster command ~35 ms.
 * A lazy `import()` of our own modules stays lazy (esbuild initialises the module when imported);
 * the dependencies left out are `require`d then (ES-module ones too: Node >= 20.19).
 * Identifiers are not mangled: names stay readable in stack traces (BGSWITCH_DEBUG) without
 * keepNames, whose renaming calls cost start-up.
 */
async function bundleCli(repoRoot: string, outdir: string): Promise<string> {
  const cliDir = join(resolve(outdir), 'cli');
  // A previous build's files (e.g. the chunks of an older layout) must not stay (and ship).
  await rm(cliDir, { recursive: true, force: true });
  const outfile = join(cliDir, 'main.cjs');
  await build({
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    logLevel: 'warning',
    entryPoints: [join(repoRoot, 'src', 'cli', 'main.ts')],
    outfile,
    // src/cli/version.ts finds package.json from its own file.
    define: { 'import.meta.url': 'bundleUrl' },
    banner: { js: "const bundleUrl = require('node:url').pathToFileURL(__filename).href;" },
    minifyWhitespace: true,
    minifySyntax: true,
    keepNames: false,
    alias: { yaml: join(repoRoot, YAML_ES_MODULES) },
    external: CLI_EXTERNAL,
    // For c8: the tests' CLI processes count as coverage of src/, merged with the other processes' (scripts/compile.ts). Not shipped.
    sourcemap: true,
    sourcesContent: false,
  });
  return outfile;
}

export async function bundle(programs: Program[], outdir: string): Promise<string[]> {
  const repoRoot = resolve(import.meta.dirname, '..');
  const outputs: string[] = [];
  for (const program of programs) {
    if (program === 'cli') {
      outputs.push(await bundleCli(repoRoot, outdir));
      continue;
    }
    const { entry, file } = CONTAINER_PROGRAMS[program];
    const outfile = join(resolve(outdir), program, file);
    await build({
      entryPoints: [join(repoRoot, entry)],
      ...CONTAINER_BUNDLE,
      ...(file.endsWith('.mjs') ? AS_ES_MODULE : { format: 'cjs' }),
      outfile,
      alias: { '@platformatic/wasm-utils': join(repoRoot, WASM_UTILS_INLINE) },
    });
    outputs.push(outfile);
  }
  return outputs;
}

function isProgram(name: string): name is Program {
  return name === 'cli' || Object.hasOwn(CONTAINER_PROGRAMS, name);
}

const { values, positionals } = parseArgs({ options: { outdir: { type: 'string', default: 'dist/bundle' } }, allowPositionals: true });
const unknown = positionals.filter((name) => !isProgram(name));
if (unknown.length > 0) {
  process.stderr.write(
    `bundle: unknown program ${unknown.join(', ')}; choose from ${[...Object.keys(CONTAINER_PROGRAMS), 'cli'].join(', ')}\n`,
  );
  process.exit(2);
}
const programs = positionals.length > 0 ? (positionals as Program[]) : (Object.keys(CONTAINER_PROGRAMS) as Program[]);
for (const output of await bundle(programs, values.outdir)) process.stdout.write(`bundle: ${output}\n`);
