/**
 * Prometheus metrics of one sidecar, on a registry of its own (several sidecars can live in one
 * test process). Every known label value starts at 0 so dashboards see the series before the
 * first event.
 */
import { Counter, Gauge, Registry } from 'prom-client';
import { LIFECYCLES, type Lifecycle } from '../src/shared/model.js';
import type { ConfirmationResult, ConsumerCall, DesiredSource, ReconcilerObserver } from './reconciler.js';

export type PushRejection = 'too_large' | 'no_key' | 'malformed' | 'unauthorized' | 'wrong_pod' | 'stale_generation' | 'shutting_down';

const COMMANDS = ['pause', 'resume', 'set_fault'] as const;
const CALLS: readonly ConsumerCall[] = ['status', 'pause', 'resume', 'get_fault', 'set_fault'];
const SOURCES: readonly DesiredSource[] = ['push', 'api', 'file'];
const REJECTIONS: readonly PushRejection[] = ['too_large', 'no_key', 'malformed', 'unauthorized', 'wrong_pod', 'stale_generation', 'shutting_down'];
const CONFIRMATIONS: readonly ConfirmationResult[] = ['confirmed', 'refused', 'unreachable'];
const UNKNOWN_STATE = 'UNKNOWN';

export class SidecarMetrics implements ReconcilerObserver {
  readonly registry = new Registry();
  private readonly commands = new Counter({
    name: 'bg_sidecar_lifecycle_commands_total',
    help: 'Commands the sidecar sent to its consumer',
    labelNames: ['command'],
    registers: [this.registry],
  });
  private readonly errors = new Counter({
    name: 'bg_sidecar_lifecycle_errors_total',
    help: 'Calls to the consumer that failed',
    labelNames: ['command'],
    registers: [this.registry],
  });
  private readonly updates = new Counter({
    name: 'bg_sidecar_state_updates_applied_total',
    help: 'Desired-state updates adopted, by the source that provided them',
    labelNames: ['source'],
    registers: [this.registry],
  });
  private readonly currentState = new Gauge({
    name: 'bg_sidecar_current_state',
    help: 'The consumer lifecycle state last observed (1 for the current state, UNKNOWN when unreachable)',
    labelNames: ['state'],
    registers: [this.registry],
  });
  private readonly desiredGeneration = new Gauge({
    name: 'bg_sidecar_desired_generation',
    help: 'The highest desired-state generation seen',
    registers: [this.registry],
  });
  private readonly rejections = new Counter({
    name: 'bg_sidecar_push_rejections_total',
    help: 'Desired-state pushes refused, by reason',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  private readonly confirmations = new Counter({
    name: 'bg_sidecar_resume_confirmations_total',
    help: 'API server confirmations of resumes not pushed to this process, by result',
    labelNames: ['result'],
    registers: [this.registry],
  });

  constructor() {
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
    this.desiredGeneration.set(generation);
  }

  resumeConfirmation(result: ConfirmationResult): void {
    this.confirmations.inc({ result });
  }

  pushRejected(reason: PushRejection): void {
    this.rejections.inc({ reason });
  }
}
