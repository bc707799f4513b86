/**
 * The consumer group's part of the outputs: the switch report's hand-off lines, the history's KAFKA
 * column, the JSON document, and the hand-off metrics.
 */
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import type { KafkaHandoff } from '../../src/core/history.js';
import { switchRegistry } from '../../src/metrics/switch-metrics.js';
import { formatDocument } from '../../src/render/format.js';
import { renderHistory } from '../../src/render/history-view.js';
import { createStyle } from '../../src/render/style.js';
import { renderSwitchReport } from '../../src/render/switch-report.js';
import { sampleReport } from '../support/reports.js';

const plain = createStyle(Object.assign(new PassThrough(), { isTTY: false }), {});
const kafka: KafkaHandoff = {
  groupId: 'bg-consumer',
  lagBefore: 120,
  lagAfter: 15,
  handoffWaitMs: 1_250,
  handoffOffsets: [
    { topic: 'bg-events', partition: 0, offset: 1200 },
    { topic: 'bg-events', partition: 1, offset: 1187 },
  ],
};

test('the switch report shows lag before and after, the hand-off wait and the hand-off offsets', async () => {
  const text = renderSwitchReport(sampleReport({ kafka }), plain);
  assert.match(
    text,
    /^Kafka group bg-consumer: lag 120 before, 15 after; hand-off wait 1\.3s \(old colour PAUSED -> every partition on the new colour\)$/m,
  );
  assert.match(text, /^Hand-off offsets \(partition:committed\): bg-events 0:1200 1:1187$/m);
  assert.doesNotMatch(renderSwitchReport(sampleReport(), plain), /Kafka/, 'no Kafka section without Kafka');
  const json = JSON.parse(await formatDocument('json', sampleReport({ kafka }))) as { kafka: KafkaHandoff };
  assert.deepEqual(json.kafka, kafka);
});

test('history gets a KAFKA column when any entry has a hand-off', () => {
  const { phases, ...rest } = sampleReport();
  const entry = { ...rest, outcome: 'switched' as const, phases };
  const text = renderHistory([{ ...entry, kafka }, entry], plain);
  assert.match(text, /KAFKA/);
  assert.match(text, /hand-off 1\.3s, lag 120 -> 15/);
  assert.doesNotMatch(renderHistory([entry], plain), /KAFKA/);
});

test('metrics: the hand-off wait and the lag before and after', async () => {
  const text = await switchRegistry(sampleReport({ kafka }), 'kafka-bg-test').metrics();
  assert.match(text, /^bg_switch_kafka_handoff_seconds\{namespace="kafka-bg-test"\} 1\.25$/m);
  assert.match(text, /^bg_switch_kafka_lag\{when="before",namespace="kafka-bg-test"\} 120$/m);
  assert.match(text, /^bg_switch_kafka_lag\{when="after",namespace="kafka-bg-test"\} 15$/m);
  assert.doesNotMatch(await switchRegistry(sampleReport(), 'kafka-bg-test').metrics(), /bg_switch_kafka/);
});
