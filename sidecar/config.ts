/**
 * The sidecar's configuration, read from its environment (k8s/statefulset-*.yaml). Every problem
 * is collected and reported in one UsageError, so a misconfigured pod says everything at once;
 * main.ts turns it into exit code 2. Nothing here touches the file system or the network.
 */
import { UsageError } from '../src/shared/errors.js';
import { isColor, type Color } from '../src/shared/model.js';

export interface SidecarConfig {
  color: Color;
  podName: string;
  namespace: string;
  /** Base URL of the consumer's lifecycle API. */
  consumerUrl: string;
  /** The mounted state ConfigMap directory (kubelet `..data` layout). */
  stateDir: string;
  /** The state ConfigMap, read through the API server to confirm resumes. */
  configMapName: string;
  /** Holds the push key as text; re-read on every push. */
  pushKeyFile: string;
  /** Where the highest generation seen is persisted (an emptyDir). */
  generationFile: string;
  port: number;
  /** Listen address; all interfaces when absent. */
  host?: string;
  reconcileIntervalMs: number;
  /** Per-call timeout towards the consumer. */
  consumerTimeoutMs: number;
  /** Timeout of one API server read. */
  apiTimeoutMs: number;
}

export const DEFAULTS = {
  consumerUrl: 'http://localhost:8080',
  stateDir: '/etc/consumer-state',
  configMapName: 'kafka-consumer-state',
  pushKeyFile: '/etc/bgswitch-push-key/key',
  generationFile: '/var/run/bgswitch/generation',
  port: 8082,
  reconcileIntervalMs: 1000,
  consumerTimeoutMs: 3000,
  apiTimeoutMs: 3000,
} as const;

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

type Env = Readonly<Record<string, string | undefined>>;

export function loadConfig(env: Env): SidecarConfig {
  const problems: string[] = [];
  const text = (name: string, fallback?: string): string => {
    const value = env[name]?.trim();
    if (value) return value;
    if (fallback === undefined) problems.push(`${name} is required`);
    return fallback ?? '';
  };
  const integer = (name: string, fallback: number, min: number, max: number): number => {
    const raw = env[name]?.trim();
    if (!raw) return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) {
      problems.push(`${name} must be an integer from ${min} to ${max}, got "${raw}"`);
    }
    return value;
  };
  const matching = (name: string, value: string, pattern: RegExp, what: string): void => {
    if (value && !pattern.test(value)) problems.push(`${name} must be ${what}, got "${value}"`);
  };

  const color = text('MY_COLOR');
  if (color && !isColor(color)) problems.push(`MY_COLOR must be "blue" or "green", got "${color}"`);
  const podName = text('MY_POD_NAME');
  matching('MY_POD_NAME', podName, DNS_SUBDOMAIN, 'a Kubernetes object name');
  const namespace = text('MY_NAMESPACE');
  matching('MY_NAMESPACE', namespace, DNS_LABEL, 'a Kubernetes namespace name');
  const configMapName = text('CONFIGMAP_NAME', DEFAULTS.configMapName);
  matching('CONFIGMAP_NAME', configMapName, DNS_SUBDOMAIN, 'a Kubernetes object name');
  const consumerUrl = text('CONSUMER_LIFECYCLE_URL', DEFAULTS.consumerUrl);
  if (!/^https?:\/\/[^/]/.test(consumerUrl) || !URL.canParse(consumerUrl)) {
    problems.push(`CONSUMER_LIFECYCLE_URL must be an http(s) URL, got "${consumerUrl}"`);
  }

  const config: SidecarConfig = {
    color: color as Color,
    podName,
    namespace,
    consumerUrl,
    stateDir: text('STATE_FILE_PATH', DEFAULTS.stateDir),
    configMapName,
    pushKeyFile: text('PUSH_KEY_FILE', DEFAULTS.pushKeyFile),
    generationFile: text('GENERATION_FILE', DEFAULTS.generationFile),
    port: integer('SIDECAR_PORT', DEFAULTS.port, 1, 65535),
    reconcileIntervalMs: integer('RECONCILE_INTERVAL_MS', DEFAULTS.reconcileIntervalMs, 50, 600_000),
    consumerTimeoutMs: DEFAULTS.consumerTimeoutMs,
    apiTimeoutMs: DEFAULTS.apiTimeoutMs,
  };
  if (problems.length > 0) {
    throw new UsageError(`invalid sidecar environment: ${problems.join('; ')}`, 'fix the switch-sidecar container env in the StatefulSet');
  }
  return config;
}
