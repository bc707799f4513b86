import { UsageError } from '../shared/errors.js';
import { isColor, type Color } from '../shared/model.js';

export function parseColor(raw: string, what = 'colour'): Color {
  if (isColor(raw)) return raw;
  throw new UsageError(`unknown ${what} ${JSON.stringify(raw)}`, 'use blue or green');
}
