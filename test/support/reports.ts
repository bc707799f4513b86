import type { SwitchReport } from '../../src/core/switch.js';

/** A finished blue -> green switch report for renderer and metrics tests; override what matters. */
export function sampleReport(overrides: Partial<SwitchReport> = {}): SwitchReport {
  return {
    id: 'x',
    kind: 'switch',
    outcome: 'switched',
    from: 'blue',
    to: 'green',
    actor: 'ana@laptop',
    generation: 12,
    startedAt: '2026-11-22T02:03:04.005Z',
    finishedAt: '2026-11-22T02:03:06.505Z',
    durationMs: 2500,
    phases: [{ name: 'pause', ok: true, durationMs: 300 }],
    podsBefore: [
      { name: 'consumer-blue-0', color: 'blue', state: 'ACTIVE', desired: 'ACTIVE' },
      { name: 'consumer-green-0', color: 'green', state: 'PAUSED', desired: 'PAUSED' },
    ],
    podsAfter: [
      { name: 'consumer-blue-0', color: 'blue', state: 'PAUSED', desired: 'PAUSED', ready: true },
      { name: 'consumer-green-0', color: 'green', state: 'ACTIVE', desired: 'ACTIVE', ready: true },
    ],
    ...overrides,
  };
}
