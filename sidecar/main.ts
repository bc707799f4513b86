/**
 * Entry point of the switch sidecar container (`npm run bundle`'s `sidecar/main.cjs`), configured by env
 * (sidecar/config.ts). Exit codes: 2 invalid env, 0 after a graceful SIGTERM/SIGINT, 1 on a
 * failure to start or to stop.
 *
 * Memory (docs/performance.md): the sidecar runs on V8's interpreter alone, the baseline and
 * optimising compilers (Sparkplug, Turbofan) switched off before the rest of the sidecar is loaded,
 * which is why that is a dynamic import (set after the modules were loaded, the flags saved
 * nothing). One reconcile a second needs no JIT; compilers never used save about 5 MiB of RSS. The
 * young generation keeps its initial size instead of growing with bursts of allocation.
 */
import { setFlagsFromString } from 'node:v8';

setFlagsFromString('--no-turbofan');
setFlagsFromString('--no-sparkplug');
setFlagsFromString('--semi-space-growth-factor=1');
// No top-level await: the image runs the sidecar as one CommonJS file (scripts/bundle.ts). A failure
// to load or start ends the process with 1, as an unhandled rejection does.
void import('./start.js').then(({ start }) => start());
