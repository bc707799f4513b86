/** Machine-readable output: exactly one document on stdout. */
import type { OutStream } from './io.js';

export async function formatDocument(format: 'json' | 'yaml', value: unknown): Promise<string> {
  if (format === 'json') return `${JSON.stringify(value, null, 2)}\n`;
  const { stringify } = await import('yaml');
  return stringify(value);
}

export async function writeDocument(stream: OutStream, format: 'json' | 'yaml', value: unknown): Promise<void> {
  stream.write(await formatDocument(format, value));
}
