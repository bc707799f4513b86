/**
 * The lab's load generator (`npm run lab -- produce`), also a programmatic API for tests:
 * `startProduction` returns at once; `stop()` ends it early; `finished` resolves with the summary.
 * Keys are `seq-<n>` (n from 1), values `EventValue`s sharing one runId. The rate is held over time:
 * every tick sends what the elapsed time allows, at most `maxBatch` messages at a time, so a slow
 * broker lowers the rate instead of causing a burst afterwards beyond one small batch.
 */
import { randomUUID } from 'node:crypto';
import { DEFAULT_INPUT_TOPIC, type EventValue } from '../../src/shared/kafka-records.js';
import { LAB_KAFKA_BOOTSTRAP } from '../paths.js';

export interface ProductionOptions {
  /** Messages per second. */
  rate: number;
  /** Stop after this many messages, or after `durationMs`, whichever comes first; neither: until stopped. */
  count?: number;
  durationMs?: number;
  topic?: string;
  bootstrap?: string;
}

export interface ProductionSummary {
  runId: string;
  topic: string;
  produced: number;
  elapsedMs: number;
  /** Messages per second over the whole run. */
  achievedRate: number;
  stoppedEarly: boolean;
}

export interface Production {
  runId: string;
  topic: string;
  /** Messages acknowledged by the broker so far. */
  produced(): number;
  /** Ends production after the batch in flight; resolves with the summary. */
  stop(): Promise<ProductionSummary>;
  finished: Promise<ProductionSummary>;
}

const TICK_MS = 20;

export async function startProduction(options: ProductionOptions): Promise<Production> {
  const { Producer, stringSerializer, serializersFrom } = await import('@platformatic/kafka');
  const topic = options.topic ?? DEFAULT_INPUT_TOPIC;
  const runId = randomUUID();
  const producer = new Producer<string, string, string, string>({
    clientId: `bgswitch-lab-produce-${runId.slice(0, 8)}`,
    bootstrapBrokers: [options.bootstrap ?? LAB_KAFKA_BOOTSTRAP],
    serializers: serializersFrom(stringSerializer),
    autocreateTopics: false,
    // A retried batch (e.g. after NOT_LEADER on a new topic) must not be written twice: every input
    // message exists exactly once, or the verdict would count duplicates the consumers never made.
    idempotent: true,
    // Idempotence alone retries without end; a lab without a broker must fail in seconds.
    retries: 5,
  });
  // A small batch per tick; at least one message.
  const maxBatch = Math.max(1, Math.ceil((options.rate * TICK_MS) / 1000) * 2);
  let produced = 0;
  let stopping = false;
  const started = performance.now();

  const limit = options.count ?? Number.POSITIVE_INFINITY;
  const run = async (): Promise<ProductionSummary> => {
    try {
      while (!stopping && produced < limit) {
        const elapsed = performance.now() - started;
        if (options.durationMs !== undefined && elapsed >= options.durationMs) break;
        const due = Math.min(limit, Math.floor((options.rate * elapsed) / 1000) + 1) - produced;
        if (due <= 0) {
          await new Promise((resolve) => setTimeout(resolve, TICK_MS));
          continue;
        }
        const batch = Math.min(due, maxBatch);
        const now = Date.now();
        const messages = Array.from({ length: batch }, (_, index) => {
          const seq = produced + index + 1;
          const value: EventValue = { seq, runId, producedAt: now };
          return { topic, key: `seq-${seq}`, value: JSON.stringify(value) };
        });
        await producer.send({ messages });
        produced += batch;
      }
    } finally {
      await producer.close();
    }
    const elapsedMs = performance.now() - started;
    return { runId, topic, produced, elapsedMs, achievedRate: elapsedMs > 0 ? (produced * 1000) / elapsedMs : 0, stoppedEarly: stopping };
  };
  const finished = run();
  return {
    runId,
    topic,
    produced: () => produced,
    stop: () => {
      stopping = true;
      return finished;
    },
    finished,
  };
}
