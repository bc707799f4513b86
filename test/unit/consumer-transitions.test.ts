import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { Lifecycle } from '../../src/shared/model.js';
import { analyzeTransitions, parseTransitionLog, type LifecycleRecord } from '../../consumer/transitions.js';

const colorOf = (pod: string): string => (pod.startsWith('b') ? 'blue' : 'green');
const start = (pod: string, at: number, state: Lifecycle = 'PAUSED'): LifecycleRecord => ({
  event: 'start',
  pod,
  color: colorOf(pod),
  state,
  at,
});
const move = (pod: string, from: Lifecycle, to: Lifecycle, at: number): LifecycleRecord => ({
  event: 'transition',
  pod,
  color: colorOf(pod),
  from,
  to,
  at,
});
const exit = (pod: string, at: number): LifecycleRecord => ({ event: 'exit', pod, color: colorOf(pod), state: 'PAUSED', at });

/** Blue b0 ACTIVE from 10 until it pauses at `bluePausedAt`; green g0 resumes at `greenActiveAt`. */
function switchRecords(bluePausedAt: number, greenActiveAt: number): LifecycleRecord[] {
  return [
    start('b0', 0),
    start('g0', 0),
    move('b0', 'PAUSED', 'ACTIVE', 10),
    move('b0', 'ACTIVE', 'PAUSED', bluePausedAt),
    move('g0', 'PAUSED', 'ACTIVE', greenActiveAt),
  ];
}

describe('analyzeTransitions', () => {
  it('a clean switch: no dual-active, one gap from blue PAUSED to green ACTIVE', () => {
    const analysis = analyzeTransitions(switchRecords(100, 130), { from: 50, to: 200 });
    assert.deepEqual(analysis.dualActive, []);
    assert.deepEqual(analysis.gaps, [{ from: 100, to: 130, durationMs: 30 }]);
    assert.deepEqual(analysis.window, { from: 50, to: 200 });
  });

  it('green resumed before blue paused: dual-active over exactly the overlap, no gap', () => {
    const analysis = analyzeTransitions(switchRecords(100, 90), { from: 50, to: 200 });
    assert.deepEqual(analysis.dualActive, [{ from: 90, to: 100, blue: ['b0'], green: ['g0'] }]);
    assert.deepEqual(analysis.gaps, []);
  });

  it('touching intervals (pause and resume at the same instant) are neither dual-active nor a gap', () => {
    const records = switchRecords(100, 100);
    assert.deepEqual(analyzeTransitions(records, { from: 50, to: 200 }), {
      window: { from: 50, to: 200 },
      dualActive: [],
      gaps: [],
      missingExits: [],
    });
    assert.deepEqual(analyzeTransitions([...records].reverse(), { from: 50, to: 200 }).dualActive, []);
  });

  it('DRAINING counts as consuming for dual-active but not as ACTIVE for gaps', () => {
    const records = [
      start('b0', 0, 'ACTIVE'),
      start('g0', 0),
      move('b0', 'ACTIVE', 'DRAINING', 100),
      move('g0', 'PAUSED', 'ACTIVE', 110),
      move('b0', 'DRAINING', 'PAUSED', 120),
    ];
    const analysis = analyzeTransitions(records, { from: 0, to: 200 });
    assert.deepEqual(analysis.dualActive, [{ from: 110, to: 120, blue: ['b0'], green: ['g0'] }]);
    assert.deepEqual(analysis.gaps, [{ from: 100, to: 110, durationMs: 10 }]);
  });

  it('merges a contiguous dual-active stretch and names every pod involved; separate stretches stay separate', () => {
    const records = [
      start('b0', 0, 'ACTIVE'),
      start('b1', 0, 'ACTIVE'),
      start('g0', 0),
      start('g1', 0),
      move('g0', 'PAUSED', 'ACTIVE', 90),
      move('b0', 'ACTIVE', 'PAUSED', 100),
      move('g1', 'PAUSED', 'ACTIVE', 110),
      move('b1', 'ACTIVE', 'PAUSED', 120),
      // later, blue comes back for a moment while green is still active
      move('b1', 'PAUSED', 'ACTIVE', 150),
      move('b1', 'ACTIVE', 'PAUSED', 155),
    ];
    const analysis = analyzeTransitions(records, { from: 0, to: 200 });
    assert.deepEqual(analysis.dualActive, [
      { from: 90, to: 120, blue: ['b0', 'b1'], green: ['g0', 'g1'] },
      { from: 150, to: 155, blue: ['b1'], green: ['g0', 'g1'] },
    ]);
    assert.deepEqual(analysis.gaps, []);
  });

  it('a restart without exit: the killed process is assumed to consume until the restart, and is reported', () => {
    const records = [
      start('b0', 0),
      move('b0', 'PAUSED', 'ACTIVE', 10),
      start('g0', 0),
      move('g0', 'PAUSED', 'ACTIVE', 30),
      start('b0', 50), // b0 was SIGKILLed somewhere after 10 and nobody logged it
    ];
    const analysis = analyzeTransitions(records, { from: 0, to: 100 });
    assert.deepEqual(analysis.dualActive, [{ from: 30, to: 50, blue: ['b0'], green: ['g0'] }]);
    assert.deepEqual(analysis.missingExits, [{ pod: 'b0', lastRecordAt: 10, restartAt: 50 }]);
    assert.deepEqual(analysis.gaps, [{ from: 0, to: 10, durationMs: 10 }]);
  });

  it('an exit record ends the lifetime: a dead pod neither consumes nor is ACTIVE', () => {
    const records = [
      start('b0', 0),
      move('b0', 'PAUSED', 'ACTIVE', 10),
      exit('b0', 40),
      start('g0', 0),
      move('g0', 'PAUSED', 'ACTIVE', 60),
    ];
    const analysis = analyzeTransitions(records, { from: 10, to: 70 });
    assert.deepEqual(analysis.dualActive, []);
    assert.deepEqual(analysis.gaps, [{ from: 40, to: 60, durationMs: 20 }]);
    assert.deepEqual(analysis.missingExits, []);
  });

  it('a lifetime without exit lasts to the end of the window; a transition without start counts from its own time', () => {
    const records = [move('b0', 'PAUSED', 'ACTIVE', 10), start('g0', 0), move('g0', 'PAUSED', 'ACTIVE', 20)];
    assert.deepEqual(analyzeTransitions(records, { from: 0, to: 100 }).dualActive, [{ from: 20, to: 100, blue: ['b0'], green: ['g0'] }]);
  });

  it('defaults the window to the first and last record, and clips to a given window', () => {
    const records = switchRecords(100, 130);
    assert.deepEqual(analyzeTransitions(records).window, { from: 0, to: 130 });
    assert.deepEqual(analyzeTransitions(records).gaps, [
      { from: 0, to: 10, durationMs: 10 },
      { from: 100, to: 130, durationMs: 30 },
    ]);
    assert.deepEqual(analyzeTransitions(records, { from: 110, to: 120 }).gaps, [{ from: 110, to: 120, durationMs: 10 }]);
  });

  it('no records and no window: nothing to report', () => {
    const analysis = analyzeTransitions([]);
    assert.deepEqual([analysis.dualActive, analysis.gaps, analysis.missingExits], [[], [], []]);
    assert.deepEqual(analyzeTransitions([], { from: 0, to: 5 }).gaps, [{ from: 0, to: 5, durationMs: 5 }]);
  });

  it('agrees with a point-by-point reconstruction on random histories, whatever the interleaving', () => {
    const pods = ['b0', 'b1', 'g0', 'g1'];
    const lifecycle = fc.constantFrom<Lifecycle>('ACTIVE', 'DRAINING', 'PAUSED');
    const event = fc.record({
      gap: fc.integer({ min: 0, max: 5 }),
      kind: fc.constantFrom('start', 'transition', 'exit'),
      state: lifecycle,
    });
    const history = fc.tuple(...pods.map(() => fc.array(event, { maxLength: 8 })));
    fc.assert(
      fc.property(history, fc.integer(), (histories, seed) => {
        const records: LifecycleRecord[] = [];
        histories.forEach((events, index) => {
          const pod = pods[index] as string;
          let at = 0;
          for (const { gap, kind, state } of events) {
            at += gap;
            if (kind === 'start') records.push(start(pod, at, state));
            else if (kind === 'transition') records.push(move(pod, 'PAUSED', state, at));
            else records.push(exit(pod, at));
          }
        });
        const shuffled = [...records].sort((a, b) => a.at - b.at || hash(a, seed) - hash(b, seed));
        const window = { from: 0, to: 45 };
        const analysis = analyzeTransitions(shuffled, window);
        for (let t = 0.5; t < window.to; t += 1) {
          const states = pods.map((pod) => ({ pod, state: stateAt(records, pod, t) }));
          const consuming = (color: string): boolean =>
            states.some(({ pod, state }) => colorOf(pod) === color && state !== undefined && state !== 'PAUSED');
          const inside = (intervals: Array<{ from: number; to: number }>): boolean => intervals.some(({ from, to }) => from <= t && t < to);
          assert.equal(inside(analysis.dualActive), consuming('blue') && consuming('green'), `dual-active at ${t}`);
          assert.equal(inside(analysis.gaps), !states.some(({ state }) => state === 'ACTIVE'), `gap at ${t}`);
        }
      }),
      { numRuns: 300 },
    );
  });
});

/** A pod's state at t from its own records in log order: the last record at or before t decides. */
function stateAt(records: readonly LifecycleRecord[], pod: string, t: number): Lifecycle | undefined {
  let state: Lifecycle | undefined;
  for (const record of records) {
    if (record.pod !== pod || record.at > t) continue;
    state = record.event === 'start' ? record.state : record.event === 'transition' ? record.to : undefined;
  }
  return state;
}

/** A deterministic tie-break that reorders records of different pods at the same instant. */
function hash(record: LifecycleRecord, seed: number): number {
  return [...record.pod].reduce((sum, char) => (sum * 31 + char.charCodeAt(0)) | 0, seed) % 7;
}

describe('parseTransitionLog', () => {
  it('keeps start / transition / exit records and ignores everything else in a container log', () => {
    const text = [
      '> reference-consumer starting',
      '{"event":"start","pod":"consumer-blue-0","color":"blue","state":"PAUSED","at":1763778000123.456}',
      '{"event":"listening","pod":"consumer-blue-0","color":"blue","url":"http://127.0.0.1:8080"}',
      '{"event":"transition","pod":"consumer-blue-0","color":"blue","from":"PAUSED","to":"ACTIVE","at":1763778000200.5}',
      '{"event":"transition","pod":"consumer-blue-0","color":"blue","from":"PAUSED","to":"RUNNING","at":1}',
      '{"event":"transition","pod":"consumer-blue-0","color":"blue","from":"PAUSED","to":"ACTIVE"}',
      '{"event":"start","color":"blue","state":"PAUSED","at":2}',
      '{"event":"start","pod":"consumer-blue-0","color":"blue","state":"PAUSED","at":"3"}',
      '{"event":"transition", broken',
      '{"event":"transition", "at": }',
      '[1,2,3]',
      '',
      '2025-11-22T02:00:00.000000000Z stdout F {"event":"exit","pod":"consumer-blue-0","color":"blue","state":"PAUSED","at":1763778000300}',
    ].join('\n');
    assert.deepEqual(parseTransitionLog(text), [
      { event: 'start', pod: 'consumer-blue-0', color: 'blue', state: 'PAUSED', at: 1763778000123.456 },
      { event: 'transition', pod: 'consumer-blue-0', color: 'blue', from: 'PAUSED', to: 'ACTIVE', at: 1763778000200.5 },
      { event: 'exit', pod: 'consumer-blue-0', color: 'blue', state: 'PAUSED', at: 1763778000300 },
    ]);
  });

  it("attributes the lab kubelet's pod-less exit record to the process logged before it", () => {
    const text = [
      '{"event":"exit","by":"lab-kubelet","at":5}',
      '{"event":"start","pod":"consumer-green-1","color":"green","state":"PAUSED","at":10}',
      '{"event":"transition","pod":"consumer-green-1","color":"green","from":"PAUSED","to":"ACTIVE","at":20}',
      '{"event":"exit","by":"lab-kubelet","at":40}',
      '{"event":"start","pod":"consumer-green-1","color":"green","state":"PAUSED","at":45}',
    ].join('\n');
    const records = parseTransitionLog(text);
    assert.deepEqual(records[2], { event: 'exit', pod: 'consumer-green-1', color: 'green', by: 'lab-kubelet', at: 40 });
    assert.equal(records.length, 4, 'the exit with nothing before it cannot be attributed and is dropped');
    const analysis = analyzeTransitions(records, { from: 10, to: 50 });
    assert.deepEqual(analysis.missingExits, []);
    assert.deepEqual(analysis.gaps, [
      { from: 10, to: 20, durationMs: 10 },
      { from: 40, to: 50, durationMs: 10 },
    ]);
  });
});
