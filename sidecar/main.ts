/**
 * Entry point of the switch sidecar container: `node dist/sidecar/main.js`, configured by env
 * (sidecar/config.ts). Exit codes: 2 invalid env, 0 after a graceful SIGTERM/SIGINT, 1 on a
 * failure to start or to stop.
 *
 * The sidecar runs on V8's interpreter alone: the baseline and optimising compilers (Sparkplug,
 * Turbofan) are switched off before the rest of the sidecar is loaded, which is why that is a
 * dynamic import. One reconcile a second needs no JIT, and compilers never used save about 5 MiB of
 * RSS (docs/performance.md); set after the sidecar's modules were loaded, the flags saved nothing.
 */
import { setFlagsFromString } from 'node:v8';

setFlagsFromString('--no-turbofan');
setFlagsFromString('--no-sparkplug');
await import('./start.js');
