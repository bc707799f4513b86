/**
 * Colour on a TTY unless TERM=dumb. NO_COLOR (https://no-color.org: any non-empty value) always
 * wins. FORCE_COLOR (as chalk and Node read it) overrides the TTY and TERM checks: `0` or `false`
 * turns colour off, an empty value, `1` or `true` turns basic colour on, `2` and `3` pick 256 colours
 * and truecolour.
 */
import { Chalk, type ChalkInstance } from 'chalk';
import type { OutStream } from './io.js';

type Env = Readonly<Record<string, string | undefined>>;
export type ColorLevel = 0 | 1 | 2 | 3;

export function colorLevel(stream: OutStream, env: Env): ColorLevel {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return 0;
  const force = env.FORCE_COLOR?.trim().toLowerCase();
  if (force !== undefined) {
    if (force === '0' || force === 'false') return 0;
    if (force === '2' || force === '3') return Number(force) as ColorLevel;
    return 1;
  }
  if (env.TERM === 'dumb') return 0;
  return stream.isTTY === true ? 1 : 0;
}

export function colorEnabled(stream: OutStream, env: Env): boolean {
  return colorLevel(stream, env) > 0;
}

export function createStyle(stream: OutStream, env: Env): ChalkInstance {
  return new Chalk({ level: colorLevel(stream, env) });
}

export type Style = ChalkInstance;
