/**
 * The lab's Kafka broker: `lab up` starts it (KRaft, one node) reachable from the host at the bridge
 * address it advertises, with the lab topics; `lab produce` writes what a reader gets back; `lab
 * status` lists it; a second `lab up` leaves it alone; `lab down` stops it and removes its data but
 * keeps its cluster id. Needs root (labUp).
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Admin } from '@platformatic/kafka';
import { labDown, labStatus, labUp, type LabInfo } from '../../lab/control.js';
import { readTopic, toVerdictInput } from '../../lab/kafka/read.js';
import { LAB_KAFKA_BOOTSTRAP } from '../../lab/paths.js';
import { createTestTopics, kafkaBootstrap } from '../support/kafka.js';
import { repoRoot, runProcess } from '../support/lab.js';

const lab = (args: string[]) => runProcess(process.execPath, [join(repoRoot, 'dist', 'lab', 'main.js'), ...args], { timeoutMs: 120_000 });

async function kafkaPid(): Promise<number | undefined> {
  return (await labStatus()).components.find((component) => component.component === 'kafka')?.pid;
}

describe('the lab Kafka broker', { timeout: 30 * 60_000 }, () => {
  let info: LabInfo;

  before(async () => {
    info = await labUp({ scope: 'control-plane', report: (line) => process.stderr.write(`[lab] ${line}\n`) });
  });

  after(async () => {
    await labDown();
  });

  it('is reachable from the host at the bridge address it advertises', async () => {
    assert.equal(kafkaBootstrap, LAB_KAFKA_BOOTSTRAP, 'the tests use the lab broker');
    const admin = new Admin({ clientId: 'lab-test', bootstrapBrokers: ['10.77.0.1:19092'] });
    try {
      const metadata = await admin.metadata({ topics: ['bg-events', 'bg-processed'] });
      assert.deepEqual(
        [...metadata.brokers.values()].map((broker) => `${broker.host}:${broker.port}`),
        ['10.77.0.1:19092'],
      );
      assert.equal(metadata.topics.get('bg-events')?.partitionsCount, 6);
      assert.equal(metadata.topics.get('bg-processed')?.partitionsCount, 6);
    } finally {
      await admin.close();
    }
  });

  it('gives back what lab produce --count wrote', async () => {
    const { input } = await createTestTopics('lab-produce', 3);
    const produced = await lab(['produce', '--count', '25', '--rate', '500', '--topic', input]);
    assert.equal(produced.code, 0, produced.stderr);
    const runId = /run (\S+)$/m.exec(produced.stdout)?.[1];
    assert.ok(runId, produced.stdout);
    assert.match(produced.stdout, /produced 25 messages/);

    const verdictInput = toVerdictInput(await readTopic(kafkaBootstrap, input), []);
    assert.equal(verdictInput.inputs.length, 25);
    assert.deepEqual(new Set(verdictInput.inputs.map((record) => record.value?.runId)), new Set([runId]));
    assert.deepEqual(
      verdictInput.inputs.map((record) => record.key).sort(),
      Array.from({ length: 25 }, (_, index) => `seq-${index + 1}`).sort(),
    );
    assert.ok(new Set(verdictInput.inputs.map((record) => record.partition)).size > 1, 'keys spread over the partitions');
  });

  it('is listed by lab status and logs to .lab/logs/kafka.log', async () => {
    const status = await lab(['status']);
    assert.equal(status.code, 0, status.stderr);
    const pid = await kafkaPid();
    assert.ok(pid, 'the broker runs');
    assert.match(status.stdout, new RegExp(`^kafka\\s+up \\(pid ${pid}\\)$`, 'm'));
    assert.match(status.stdout, /Kafka broker: 10\.77\.0\.1:19092/);
    const log = info.paths.logFile('kafka');
    assert.ok(existsSync(log), log);
    // Log4j2 is bound: the broker's own log lines are there, not SLF4J's no-operation warning.
    const text = readFileSync(log, 'utf8');
    assert.match(text, /Kafka Server started/);
    assert.doesNotMatch(text, /NOP\) logger implementation/);
  });

  it('is left alone by a second lab up, topics included', async () => {
    const before = await kafkaPid();
    const lines: string[] = [];
    await labUp({ scope: 'control-plane', report: (line) => lines.push(line) });
    assert.equal(await kafkaPid(), before);
    assert.ok(
      lines.some((line) => line.startsWith(`kafka: running (pid ${before})`)),
      lines.join('\n'),
    );
    assert.ok(
      lines.some((line) => line.startsWith('kafka topics: present (bg-events, bg-processed)')),
      lines.join('\n'),
    );
  });

  it('stops on lab down, which removes its data and keeps its cluster id', async () => {
    const clusterIdFile = join(info.paths.kafkaConfigDir, 'cluster-id');
    const clusterId = readFileSync(clusterIdFile, 'utf8');
    assert.ok(existsSync(join(info.paths.kafkaDataDir, 'meta.properties')));
    await labDown();
    assert.equal(await kafkaPid(), undefined);
    assert.equal(existsSync(info.paths.kafkaDataDir), false);
    assert.equal(readFileSync(clusterIdFile, 'utf8'), clusterId);
  });
});
