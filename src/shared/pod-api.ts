/**
 * What a pod's two HTTP servers answer: the consumer's lifecycle API (docs/consumer-contract.md)
 * and the sidecar's status. The CLI reads them, the reference consumer and the sidecar serve them.
 */
import type { DesiredEntry, Lifecycle } from './model.js';

/** `GET /lifecycle/status` */
export interface LifecycleStatus {
  state: Lifecycle;
  stateCode: number;
  lastSequenceNumber: number;
  totalMessagesReceived: number;
}

/** `POST /lifecycle/pause|resume` */
export interface LifecycleChange {
  previousState: Lifecycle;
  currentState: Lifecycle;
  lastSequenceNumber: number;
}

/** `GET /status` of a sidecar. */
export interface SidecarStatus {
  pod: string;
  generation: number;
  desired?: DesiredEntry;
  desiredSource?: string;
  actual?: Lifecycle;
  lastError?: string;
  /** False when the sidecar has no push key (the Secret is not mounted yet); absent from older sidecars. */
  pushKeyMounted?: boolean;
}
