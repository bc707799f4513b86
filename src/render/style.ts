/**
 * Colour only on a TTY, never with NO_COLOR (https://no-color.org: any non-empty value) or TERM=dumb.
 */
import { Chalk, type ChalkInstance } from 'chalk';
import type { OutStream } from './io.js';

export function colorEnabled(stream: OutStream, env: Readonly<Record<string, string | undefined>>): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.TERM === 'dumb') return false;
  return stream.isTTY === true;
}

export function createStyle(stream: OutStream, env: Readonly<Record<string, string | undefined>>): ChalkInstance {
  return new Chalk({ level: colorEnabled(stream, env) ? 1 : 0 });
}

export type Style = ChalkInstance;
