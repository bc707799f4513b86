import { createInterface } from 'node:readline/promises';
import { UsageError } from '../shared/errors.js';
import type { CliIO } from '../render/io.js';

/**
 * Asks on a TTY; refuses without one, because an unattended run must say --yes explicitly.
 * Returns false when the operator declines.
 */
export async function confirm(io: CliIO, question: string): Promise<boolean> {
  if (!io.stdin.isTTY) {
    throw new UsageError(
      'refusing to change the fleet without confirmation: stdin is not a terminal',
      'pass --yes to confirm non-interactively, or --dry-run to see the plan',
    );
  }
  const prompt = createInterface({ input: io.stdin, output: io.stderr });
  try {
    const answer = await prompt.question(`${question} [y/N] `);
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    prompt.close();
  }
}
