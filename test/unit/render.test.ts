/**
 * The renderers, tested by capturing what they write: plain timestamped progress lines off a TTY,
 * colour only on a TTY and never with NO_COLOR, the switch report and the status view in words.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import type { StatusView } from '../../src/core/status.js';
import type { OutStream } from '../../src/render/io.js';
import { plainProgress } from '../../src/render/progress.js';
import { renderStatus } from '../../src/render/status-view.js';
import { colorEnabled, colorLevel, createStyle } from '../../src/render/style.js';
import { renderSwitchReport } from '../../src/render/switch-report.js';
import { sampleReport } from '../support/reports.js';

class Capture extends Writable {
  text = '';
  constructor(readonly isTTY: boolean) {
    super();
  }
  override _write(chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

const ESC = '\u001b[';
const plain = createStyle(new Capture(false), {});

describe('colour', () => {
  it('is used only on a TTY, and never with NO_COLOR or TERM=dumb', () => {
    assert.equal(colorEnabled(new Capture(true) as OutStream, {}), true);
    assert.equal(colorEnabled(new Capture(false) as OutStream, {}), false);
    assert.equal(colorEnabled(new Capture(true) as OutStream, { NO_COLOR: '1' }), false);
    assert.equal(colorEnabled(new Capture(true) as OutStream, { NO_COLOR: '' }), true, 'an empty NO_COLOR does not count (no-color.org)');
    assert.equal(colorEnabled(new Capture(true) as OutStream, { TERM: 'dumb' }), false);
    assert.ok(createStyle(new Capture(true), {}).green('x').includes(ESC));
    assert.ok(!createStyle(new Capture(true), { NO_COLOR: '1' }).green('x').includes(ESC));
  });

  it('follows FORCE_COLOR off a TTY and with TERM=dumb, but NO_COLOR still wins', () => {
    const pipe = new Capture(false) as OutStream;
    assert.ok(createStyle(pipe, { FORCE_COLOR: '1' }).green('x').includes(ESC), 'FORCE_COLOR=1 colours a pipe');
    assert.ok(createStyle(pipe, { FORCE_COLOR: '' }).green('x').includes(ESC), 'an empty FORCE_COLOR forces colour, as in chalk');
    assert.equal(colorLevel(pipe, { FORCE_COLOR: '3' }), 3);
    assert.equal(colorLevel(pipe, { FORCE_COLOR: 'true', TERM: 'dumb' }), 1);
    assert.ok(!createStyle(new Capture(true), { FORCE_COLOR: '0' }).green('x').includes(ESC), 'FORCE_COLOR=0 turns colour off on a TTY');
    assert.equal(colorLevel(new Capture(true) as OutStream, { FORCE_COLOR: 'false' }), 0);
    assert.ok(!createStyle(pipe, { FORCE_COLOR: '1', NO_COLOR: '1' }).green('x').includes(ESC), 'NO_COLOR beats FORCE_COLOR');
    assert.ok(createStyle(pipe, { FORCE_COLOR: '1', NO_COLOR: '' }).green('x').includes(ESC), 'an empty NO_COLOR does not count');
  });
});

describe('plain progress', () => {
  it('writes one timestamped line per event, no escape codes', () => {
    const out = new Capture(false);
    const { sink } = plainProgress(out, plain);
    const at = Date.UTC(2026, 10, 22, 2, 3, 4, 5);
    const phase = { name: 'pause' as const, rollback: false, title: 'Pause blue' };
    sink({ type: 'phase-start', phase, at });
    sink({ type: 'pod', pod: 'consumer-blue-0', color: 'blue', state: 'DRAINING', at });
    sink({ type: 'phase-end', phase: { ...phase, rollback: true }, ok: false, detail: 'blue did not pause', durationMs: 1500, at });
    sink({ type: 'warning', message: 'push refused', at });
    assert.deepEqual(out.text.split('\n'), [
      '2026-11-22T02:03:04.005Z Pause blue ...',
      '2026-11-22T02:03:04.005Z consumer-blue-0 (blue) DRAINING',
      '2026-11-22T02:03:04.005Z [rollback] Pause blue: FAILED in 1.5s (blue did not pause)',
      '2026-11-22T02:03:04.005Z warning: push refused',
      '',
    ]);
    assert.ok(!out.text.includes(ESC));
  });
});

const report = sampleReport;

describe('switch report', () => {
  it('says what happened, with pods before and after and phase timings', () => {
    const text = renderSwitchReport(report({}), plain);
    assert.match(text, /^Switched blue -> green in 2\.5s \(generation 12\)\./);
    assert.match(text, /consumer-blue-0 +│ blue +│ ACTIVE +│ PAUSED/);
    assert.match(text, /consumer-green-0 +│ green +│ PAUSED +│ ACTIVE/);
    assert.match(text, /pause +│ ok +│ 300ms/);
  });

  it('a failed rollback says so loudly, with what is left where', () => {
    const text = renderSwitchReport(
      report({ outcome: 'rollback-failed', reason: 'green did not pause', leftovers: ['blue: consumer-blue-0 PAUSED', 'next: fix it'] }),
      plain,
    );
    assert.match(text, /FAILED and the ROLLBACK FAILED too/);
    assert.match(text, /Reason: green did not pause/);
    assert.match(text, / {2}blue: consumer-blue-0 PAUSED\n {2}next: fix it/);
  });

  it('a dry run lists the numbered plan and says nothing was written', () => {
    const text = renderSwitchReport(report({ outcome: 'dry-run', plan: ['take the lock', 'pause blue'], phases: [] }), plain);
    assert.match(text, /Dry run: switch blue -> green would:\n {2}1\. take the lock\n {2}2\. pause blue\nNothing was written\./);
  });
});

describe('status view', () => {
  const view: StatusView = {
    namespace: 'kafka-bg-test',
    declaredActive: 'blue',
    lease: { holder: 'ana@laptop/1/abc', expiresAt: '2026-11-22T02:04:00.000Z', blocking: true },
    generation: 7,
    stateKeys: { mode: 'pod', origin: 'default' },
    operation: {
      id: 'o',
      kind: 'switch',
      from: 'blue',
      to: 'green',
      phase: 'pause',
      holder: 'ana@laptop/1/abc',
      actor: 'ana@laptop',
      startedAt: 's',
      updatedAt: 'u',
    },
    pods: [
      {
        name: 'consumer-blue-0',
        color: 'blue',
        phase: 'Running',
        ready: true,
        restarts: 1,
        actual: 'DRAINING',
        desired: 'PAUSED',
        desiredGeneration: 7,
        sidecar: { reachable: true, generation: 7 },
        fault: { processingDelayMs: 200, errorRatePercent: 0, commitDelayMs: 0, pollTimeoutExceed: true },
        lastSequenceNumber: 42,
        totalMessagesReceived: 40,
      },
      {
        name: 'consumer-green-0',
        color: 'green',
        phase: 'Running',
        ready: false,
        restarts: 0,
        actual: 'unreachable',
        desired: 'malformed',
        sidecar: { reachable: false, error: 'timeout' },
      },
    ],
    problems: [{ kind: 'lock', message: 'switch blue -> green in progress by ana@laptop (step pause)', hint: 'wait for it to finish' }],
  };

  it('shows the header, every pod with its fault, and each problem with what to do', () => {
    const text = renderStatus(view, { context: 'prod', server: 'https://k8s:6443' }, plain);
    assert.match(text, /Context: +prod \(https:\/\/k8s:6443\)/);
    assert.match(text, /Lease: +ana@laptop\/1\/abc \(switch lock, expires 2026-11-22T02:04:00\.000Z\)/);
    assert.match(text, /consumer-blue-0 .*DRAINING .*PAUSED .*ok \(gen 7\) .*delay=200 poll-timeout=true .*42 .*40 .*1/);
    assert.match(text, /consumer-green-0 .*unreachable .*malformed .*unreachable/);
    assert.match(text, /1 problem:\n {2}✗ switch blue -> green in progress by ana@laptop \(step pause\) — wait for it to finish/);
  });

  it('says so when there is nothing wrong', () => {
    assert.match(renderStatus({ ...view, problems: [] }, { context: 'c', server: 's' }, plain), /No problems\./);
  });
});
