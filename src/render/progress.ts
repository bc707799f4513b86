/**
 * Progress of a long command, on stderr (stdout stays for the result):
 *  - on a TTY, an ora spinner per phase with its elapsed time, redrawn only while it runs;
 *  - otherwise plain timestamped lines, one per event (CI logs, pipes).
 * Either way, warnings marked `repeated` (e.g. every sidecar refusing a push before its key is
 * mounted) are counted per step and shown as one line per step at the end: they come from
 * background calls, which may finish after their step has ended.
 */
import type { ProgressEvent, ProgressSink } from '../core/events.js';
import type { OutStream } from './io.js';
import type { Style } from './style.js';
import { formatDuration } from './text.js';

export interface ProgressRenderer {
  sink: ProgressSink;
  /** Stops any spinner; call before printing the result. */
  stop(): void;
}

function phaseLabel(event: Pick<Extract<ProgressEvent, { phase: unknown }>, 'phase'>): string {
  return event.phase.rollback ? `[rollback] ${event.phase.title}` : event.phase.title;
}

function podLine(event: Extract<ProgressEvent, { type: 'pod' }>, style: Style): string {
  const paint =
    event.state === 'ACTIVE' ? style.green : event.state === 'PAUSED' ? style.cyan : event.state === 'DRAINING' ? style.yellow : style.red;
  return `  ${event.pod} (${event.color}) ${paint(event.state)}${event.detail ? style.dim(` ${event.detail}`) : ''}`;
}

export function plainProgress(stream: OutStream, style: Style): ProgressRenderer {
  const line = (at: number, text: string) => stream.write(`${new Date(at).toISOString()} ${text}\n`);
  return {
    stop: () => undefined,
    sink: (event) => {
      switch (event.type) {
        case 'phase-start':
          return line(event.at, `${phaseLabel(event)} ...`);
        case 'phase-progress':
          return line(event.at, `  ${event.detail}`);
        case 'phase-end':
          return line(
            event.at,
            `${phaseLabel(event)}: ${event.ok ? style.green('ok') : style.red('FAILED')} in ${formatDuration(event.durationMs)}${event.detail ? ` (${event.detail})` : ''}`,
          );
        case 'pod':
          return line(event.at, podLine(event, style).trimStart());
        case 'warning':
          return line(event.at, style.yellow(`warning: ${event.message}`));
        case 'info':
          return line(event.at, event.message);
      }
    },
  };
}

export async function ttyProgress(stream: OutStream, style: Style): Promise<ProgressRenderer> {
  const { default: ora } = await import('ora');
  const spinner = ora({ stream, discardStdin: false });
  let ticker: NodeJS.Timeout | undefined;
  let started = 0;
  let title = '';
  const above = (text: string) => {
    const spinning = spinner.isSpinning;
    if (spinning) spinner.clear();
    stream.write(`${text}\n`);
    if (spinning) spinner.render();
  };
  const stopTicker = () => {
    if (ticker) clearInterval(ticker);
    ticker = undefined;
  };
  return {
    stop: () => {
      stopTicker();
      if (spinner.isSpinning) spinner.stop();
    },
    sink: (event) => {
      switch (event.type) {
        case 'phase-start':
          title = phaseLabel(event);
          started = Date.now();
          spinner.start(title);
          stopTicker();
          // Elapsed time, redrawn at most 5 times a second and only while the phase runs.
          ticker = setInterval(() => {
            spinner.text = `${title} ${style.dim(formatDuration(Date.now() - started))}`;
          }, 200);
          ticker.unref();
          return;
        case 'phase-progress':
          spinner.text = `${title} ${style.dim(event.detail)}`;
          return;
        case 'phase-end': {
          stopTicker();
          const text = `${phaseLabel(event)} ${style.dim(formatDuration(event.durationMs))}${event.detail ? style.dim(` — ${event.detail}`) : ''}`;
          if (event.ok) spinner.succeed(text);
          else spinner.fail(text);
          return;
        }
        case 'pod':
          return above(podLine(event, style));
        case 'warning':
          return above(style.yellow(`⚠ ${event.message}`));
        case 'info':
          return above(event.message);
      }
    },
  };
}

/** Holds back `repeated` warnings until stop() and then shows each kind once per step, with its count. */
export function collapseRepeated(renderer: ProgressRenderer): ProgressRenderer {
  const pending = new Map<string, { label: string; noun: string; text: string; count: number; at: number }>();
  return {
    stop: () => {
      for (const { label, noun, text, count, at } of pending.values()) {
        renderer.sink({ type: 'warning', message: `${label}${count} ${noun}${count === 1 ? '' : 's'} ${text}`, at });
      }
      pending.clear();
      renderer.stop();
    },
    sink: (event) => {
      if (event.type !== 'warning' || !event.repeated) return renderer.sink(event);
      const { noun, text, step } = event.repeated;
      const label = step ? `${phaseLabel({ phase: step })}: ` : '';
      const key = `${label}${noun} ${text}`;
      pending.set(key, { label, noun, text, count: (pending.get(key)?.count ?? 0) + 1, at: event.at });
    },
  };
}

export async function createProgress(stream: OutStream, style: Style): Promise<ProgressRenderer> {
  return collapseRepeated(stream.isTTY ? await ttyProgress(stream, style) : plainProgress(stream, style));
}
