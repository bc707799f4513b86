#!/usr/bin/env node
// Thin launcher: the CLI is bundled into dist/cli/ (run `npm run build` after changing src/).
import module from 'node:module';

// Node >= 22.1 keeps V8's compiled code of the bundle between runs (in the OS temp directory), so a
// command compiles nothing it compiled before; Node 20 has no such cache for ES modules.
module.enableCompileCache?.();
const { main } = await import('../dist/cli/main.mjs');
await main(process.argv);
