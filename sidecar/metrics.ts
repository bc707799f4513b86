/**
 * Prometheus metrics of one sidecar, in the text exposition format, on a registry of its own
 * (several sidecars can live in one test process). Written by hand rather than with prom-client,
 * which would cost the sidecar about 11 MB of RSS for seven series families (docs/performance.md).
 * Every known label value starts at 0 so dashboards see the series before the first event.
 */
import { LIFECYCLES, type Lifecycle } from '../src/shared/model.js';
import type { ConfirmationResult, ConsumerCall, DesiredSource, ReconcilerObserver } from './reconciler.js';

type Labels = Record<string, string>;

/** One metric family: a value per label set, in first-seen order. */
class Family {
  private readonly values = new Map<string, number>();

  constructor(
    readonly name: string,
    private readonly help: string,
    private readonly type: 'counter' | 'gauge',
  ) {}

  inc(labels: Labels = {}, by = 1): void {
    const key = labelText(labels);
    this.values.set(key, (this.values.get(key) ?? 0) + by);
  }

  set(labels: Labels, value: number): void {
    this.values.set(labelText(labels), value);
  }

  text(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} ${this.type}`];
    for (const [labels, value] of this.values) lines.push(`${this.name}${labels} ${value}`);
    return lines.join('\n');
  }
}

function labelText(labels: Labels): string {
  const pairs = Object.entries(labels).map(
    ([name, value]) => `${name}="${value.replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`))}"`,
  );
  return pairs.length > 0 ? `{${pairs.join(',')}}` : '';
}

/** What server.ts serves at `/metrics`. */
export class MetricsRegistry {
  readonly contentType = 'text/plain; version=0.0.4; charset=utf-8';
  private readonly families: Family[] = [];
  private readonly collectors: Array<() => void> = [];

  /** Runs before every scrape, for values read at that moment. */
  collect(collector: () => void): void {
    this.collectors.push(collector);
  }

  family(name: string, help: string, type: 'counter' | 'gauge'): Family {
    const family = new Family(name, help, type);
    this.families.push(family);
    return family;
  }

  async metrics(): Promise<string> {
    for (const collector of this.collectors) collector();
    return `${this.families.map((family) => family.text()).join('\n')}\n`;
  }
}

export type PushRejection = 'too_large' | 'no_key' | 'malformed' | 'unauthorized' | 'wrong_pod' | 'stale_generation' | 'shutting_down';

const COMMANDS = ['pause', 'resume', 'set_fault'] as const;
const CALLS: readonly ConsumerCall[] = ['status', 'pause', 'resume', 'get_fault', 'set_fault'];
const SOURCES: readonly DesiredSource[] = ['push', 'api', 'file'];
const REJECTIONS: readonly PushRejection[] = [
  'too_large',
  'no_key',
  'malformed',
  'unauthorized',
  'wrong_pod',
  'stale_generation',
  'shutting_down',
];
const CONFIRMATIONS: readonly ConfirmationResult[] = ['confirmed', 'refused', 'unreachable'];
const UNKNOWN_STATE = 'UNKNOWN';

export class SidecarMetrics implements ReconcilerObserver {
  readonly registry = new MetricsRegistry();
  private readonly commands = this.registry.family(
    'bg_sidecar_lifecycle_commands_total',
    'Commands the sidecar sent to its consumer',
    'counter',
  );
  private readonly errors = this.registry.family('bg_sidecar_lifecycle_errors_total', 'Calls to the consumer that failed', 'counter');
  private readonly updates = this.registry.family(
    'bg_sidecar_state_updates_applied_total',
    'Desired-state updates adopted, by the source that provided them',
    'counter',
  );
  private readonly currentState = this.registry.family(
    'bg_sidecar_current_state',
    'The consumer lifecycle state last observed (1 for the current state, UNKNOWN when unreachable)',
    'gauge',
  );
  private readonly desiredGeneration = this.registry.family(
    'bg_sidecar_desired_generation',
    'The highest desired-state generation seen',
    'gauge',
  );
  private readonly rejections = this.registry.family(
    'bg_sidecar_push_rejections_total',
    'Desired-state pushes refused, by reason',
    'counter',
  );
  private readonly confirmations = this.registry.family(
    'bg_sidecar_resume_confirmations_total',
    'API server confirmations of resumes, by result',
    'counter',
  );

  private readonly residentMemory = this.registry.family('process_resident_memory_bytes', 'Resident memory size in bytes', 'gauge');
  private readonly heapUsed = this.registry.family('nodejs_heap_size_used_bytes', 'V8 heap in use, in bytes', 'gauge');
  private readonly heapTotal = this.registry.family('nodejs_heap_size_total_bytes', 'V8 heap reserved, in bytes', 'gauge');
  private readonly externalMemory = this.registry.family(
    'nodejs_external_memory_bytes',
    'Memory of C++ objects bound to JavaScript objects, in bytes',
    'gauge',
  );

  constructor() {
    this.registry.collect(() => {
      const memory = process.memoryUsage();
      this.residentMemory.set({}, memory.rss);
      this.heapUsed.set({}, memory.heapUsed);
      this.heapTotal.set({}, memory.heapTotal);
      this.externalMemory.set({}, memory.external);
    });
    for (const command of COMMANDS) this.commands.inc({ command }, 0);
    for (const command of CALLS) this.errors.inc({ command }, 0);
    for (const source of SOURCES) this.updates.inc({ source }, 0);
    for (const reason of REJECTIONS) this.rejections.inc({ reason }, 0);
    for (const result of CONFIRMATIONS) this.confirmations.inc({ result }, 0);
    this.actualObserved(undefined);
  }

  commandIssued(command: (typeof COMMANDS)[number]): void {
    this.commands.inc({ command });
  }

  callFailed(call: ConsumerCall): void {
    this.errors.inc({ command: call });
  }

  desiredAdopted(source: DesiredSource): void {
    this.updates.inc({ source });
  }

  actualObserved(state: Lifecycle | undefined): void {
    for (const known of [...LIFECYCLES, UNKNOWN_STATE]) this.currentState.set({ state: known }, known === (state ?? UNKNOWN_STATE) ? 1 : 0);
  }

  generationSeen(generation: number): void {
    this.desiredGeneration.set({}, generation);
  }

  resumeConfirmation(result: ConfirmationResult): void {
    this.confirmations.inc({ result });
  }

  pushRejected(reason: PushRejection): void {
    this.rejections.inc({ reason });
  }
}
