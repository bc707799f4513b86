#!/usr/bin/env node
// Thin launcher of the CLI bundle, dist/cli/main.cjs (run `npm run build` after changing src/).
// The code V8 compiled is kept between runs: by Node itself where it can (>= 22.1), else by
// ./code-cache.js (Node 20). Under coverage (NODE_V8_COVERAGE) the bundle is required as is, so
// Node maps what ran to src/ through its source map.
import module, { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const bundle = fileURLToPath(new URL('../dist/cli/main.cjs', import.meta.url));
if (module.enableCompileCache || process.env.NODE_V8_COVERAGE) {
  module.enableCompileCache?.();
  await createRequire(import.meta.url)(bundle).main(process.argv);
} else {
  const { requireWithCodeCache } = await import('./code-cache.js');
  const cli = requireWithCodeCache(bundle, process.argv[2] ?? '');
  await cli.exports.main(process.argv);
  cli.save();
}
