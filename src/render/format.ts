/** Machine-readable output: exactly one document on stdout. */
import type { OutStream } from './io.js';

export async function writeDocument(stream: OutStream, format: 'json' | 'yaml', value: unknown): Promise<void> {
  if (format === 'json') {
    stream.write(`${JSON.stringify(value, null, 2)}\n`);
    return;
  }
  const { stringify } = await import('yaml');
  stream.write(stringify(value));
}
