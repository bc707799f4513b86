/**
 * Progress of long lab work (a Kubernetes build, a Maven resolution, a load run): the work reports
 * its current state often; a `StatusWriter` shows it as one line rewritten in place on a terminal,
 * and as a plain line every `plainIntervalMs` otherwise (CI logs stay readable).
 */

/** Receives the current one-line state of some long work, as often as the work likes. */
export type ProgressSink = (line: string) => void;

export function formatElapsed(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  return seconds < 60 ? `${seconds}s` : `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, '0')}s`;
}

/** Calls `sink` with "<what>: <status()>, <elapsed>" every `everyMs` until `work` settles. */
export async function trackProgress<T>(
  sink: ProgressSink,
  what: string,
  status: () => string,
  work: Promise<T>,
  everyMs = 1000,
): Promise<T> {
  const started = performance.now();
  const emit = (): void => sink(`${what}: ${status()}, ${formatElapsed(performance.now() - started)} elapsed`);
  emit();
  const timer = setInterval(emit, everyMs);
  try {
    return await work;
  } finally {
    clearInterval(timer);
  }
}

interface Output {
  write(text: string): unknown;
  isTTY?: boolean;
}

export class StatusWriter {
  #shown = false;
  #lastPlainAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly output: Output,
    private readonly plainIntervalMs = 15_000,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** The current state: rewritten in place on a terminal, else printed at most every `plainIntervalMs`. */
  readonly status = (line: string): void => {
    if (this.output.isTTY) {
      this.output.write(`\r\x1b[K${line}`);
      this.#shown = true;
      return;
    }
    if (this.now() - this.#lastPlainAt < this.plainIntervalMs) return;
    this.#lastPlainAt = this.now();
    this.output.write(`${line}\n`);
  };

  /** A permanent line; clears a status line shown in place first. */
  readonly line = (text: string): void => {
    this.clear();
    this.output.write(`${text}\n`);
  };

  clear(): void {
    if (!this.#shown) return;
    this.output.write('\r\x1b[K');
    this.#shown = false;
  }
}
