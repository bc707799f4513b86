#!/usr/bin/env node
// Thin launcher: the compiled CLI lives in dist/ (run `npm run build` after changing src/).
import { main } from '../dist/src/cli/main.js';

await main(process.argv);
