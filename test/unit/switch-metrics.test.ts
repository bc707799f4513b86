/**
 * The CLI's metrics (README, metrics): names and values from a switch report, pushed to a
 * Pushgateway (a loopback HTTP receiver records what arrives) or written to a file.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { exportMetrics, switchRegistry } from '../../src/metrics/switch-metrics.js';
import { sampleReport } from '../support/reports.js';

const report = sampleReport;

describe('switch metrics', () => {
  it('a successful switch: counted, timed, green active, no dual-active', async () => {
    const text = await switchRegistry(report({}), 'kafka-bg-test').metrics();
    assert.match(text, /^bg_switch_total\{from="blue",to="green",namespace="kafka-bg-test"\} 1$/m);
    assert.match(text, /^bg_switch_success_total\{from="blue",to="green",namespace="kafka-bg-test"\} 1$/m);
    assert.doesNotMatch(text, /^bg_switch_rollback_total\{.*\} 1$/m);
    const sum = /^bg_switch_duration_seconds_sum\{(.*)\} (.*)$/m.exec(text);
    assert.equal(sum?.[2], '2.5');
    assert.deepEqual(sum?.[1]?.split(',').sort(), ['from="blue"', 'namespace="kafka-bg-test"', 'outcome="switched"', 'to="green"']);
    assert.match(text, /^bg_switch_active_color\{namespace="kafka-bg-test"\} 1$/m);
    assert.match(text, /^bg_switch_dual_active_detected\{namespace="kafka-bg-test"\} 0$/m);
  });

  it('a rolled-back switch: a rollback, blue still active; dual-active seen before is reported', async () => {
    const podsBefore = sampleReport().podsBefore.map((p) => ({ ...p, state: 'ACTIVE' as const }));
    const text = await switchRegistry(report({ outcome: 'rolled-back', podsBefore }), 'ns').metrics();
    assert.match(text, /^bg_switch_rollback_total\{from="blue",to="green",namespace="ns"\} 1$/m);
    assert.match(text, /^bg_switch_active_color\{namespace="ns"\} 0$/m);
    assert.match(text, /^bg_switch_dual_active_detected\{namespace="ns"\} 1$/m);
  });

  it('are pushed to a Pushgateway under job bgswitch and the namespace', async () => {
    const received: Array<{ method: string; url: string; body: string }> = [];
    const server = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString()));
      request.on('end', () => {
        received.push({ method: request.method ?? '', url: request.url ?? '', body });
        response.writeHead(200).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const done = await exportMetrics(switchRegistry(report({}), 'kafka-bg-test'), { pushgateway: url }, 'kafka-bg-test');
      assert.deepEqual(done, [`metrics pushed to ${url}`]);
      assert.equal(received.length, 1);
      assert.equal(received[0]!.url, '/metrics/job/bgswitch/namespace/kafka-bg-test');
      assert.match(received[0]!.body, /bg_switch_success_total/);
    } finally {
      server.close();
    }
  });

  it('are written to a file in Prometheus text format, and a bad path is a clear error', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bgswitch-metrics-'));
    try {
      const file = join(dir, 'switch.prom');
      await exportMetrics(switchRegistry(report({}), 'ns'), { file }, 'ns');
      assert.match(readFileSync(file, 'utf8'), /# TYPE bg_switch_duration_seconds histogram/);
      await assert.rejects(
        exportMetrics(switchRegistry(report({}), 'ns'), { file: join(dir, 'missing', 'x.prom') }, 'ns'),
        /could not write metrics to .*missing/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
