/**
 * The sidecar's configuration, read from its environment (k8s/statefulset-*.yaml). Every problem
 * is collected and reported in one UsageError, so a misconfigured pod says everything at once;
 * main.ts turns it into exit code 2. Nothing here touches the file system or the network.
 */
import * as v from 'valibot';
import { DEFAULT_LIFECYCLE_PORT, DEFAULT_SIDECAR_PORT } from '../src/shared/defaults.js';
import { UsageError } from '../src/shared/errors.js';
import { colorSchema, type Color } from '../src/shared/model.js';
import { describeIssue } from '../src/shared/validation.js';

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
  consumerUrl: `http://localhost:${DEFAULT_LIFECYCLE_PORT}`,
  stateDir: '/etc/consumer-state',
  configMapName: 'kafka-consumer-state',
  pushKeyFile: '/etc/bgswitch-push-key/key',
  generationFile: '/var/run/bgswitch/generation',
  port: DEFAULT_SIDECAR_PORT,
  reconcileIntervalMs: 1000,
  consumerTimeoutMs: 3000,
  apiTimeoutMs: 3000,
} as const;

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

type Env = Readonly<Record<string, string | undefined>>;

/** An environment variable: trimmed; unset or blank is undefined. */
const variable = v.pipe(
  v.union([v.string(), v.undefined()]),
  v.transform((raw) => raw?.trim() || undefined),
);
const required = v.pipe(variable, v.string('is required'));
const withDefault = (fallback: string) =>
  v.pipe(
    variable,
    v.transform((value) => value ?? fallback),
  );
const matching = (pattern: RegExp, what: string) => v.regex(pattern, (issue) => `must be ${what}, got "${issue.input}"`);
const objectName = matching(DNS_SUBDOMAIN, 'a Kubernetes object name');
const integer = (fallback: number, min: number, max: number) =>
  v.pipe(
    variable,
    v.check(
      (raw) => raw === undefined || (Number.isInteger(Number(raw)) && Number(raw) >= min && Number(raw) <= max),
      (issue) => `must be an integer from ${min} to ${max}, got "${issue.input}"`,
    ),
    v.transform((raw) => (raw === undefined ? fallback : Number(raw))),
  );

const environmentSchema = v.object({
  MY_COLOR: v.pipe(required, colorSchema),
  MY_POD_NAME: v.pipe(required, objectName),
  MY_NAMESPACE: v.pipe(required, matching(DNS_LABEL, 'a Kubernetes namespace name')),
  CONFIGMAP_NAME: v.pipe(withDefault(DEFAULTS.configMapName), objectName),
  CONSUMER_LIFECYCLE_URL: v.pipe(
    withDefault(DEFAULTS.consumerUrl),
    v.check(
      (url) => /^https?:\/\/[^/]/.test(url) && URL.canParse(url),
      (issue) => `must be an http(s) URL, got "${issue.input}"`,
    ),
  ),
  STATE_FILE_PATH: withDefault(DEFAULTS.stateDir),
  PUSH_KEY_FILE: withDefault(DEFAULTS.pushKeyFile),
  GENERATION_FILE: withDefault(DEFAULTS.generationFile),
  SIDECAR_PORT: integer(DEFAULTS.port, 1, 65535),
  RECONCILE_INTERVAL_MS: integer(DEFAULTS.reconcileIntervalMs, 50, 600_000),
});

export function loadConfig(env: Env): SidecarConfig {
  // Every variable is present (maybe undefined), so each is checked, and every problem is reported.
  const variables = Object.fromEntries(Object.keys(environmentSchema.entries).map((name) => [name, env[name]]));
  const parsed = v.safeParse(environmentSchema, variables, { abortEarly: false });
  if (!parsed.success) {
    const problems = parsed.issues.map(describeIssue);
    throw new UsageError(`invalid sidecar environment: ${problems.join('; ')}`, 'fix the switch-sidecar container env in the StatefulSet');
  }
  const settings = parsed.output;
  return {
    color: settings.MY_COLOR,
    podName: settings.MY_POD_NAME,
    namespace: settings.MY_NAMESPACE,
    consumerUrl: settings.CONSUMER_LIFECYCLE_URL,
    stateDir: settings.STATE_FILE_PATH,
    configMapName: settings.CONFIGMAP_NAME,
    pushKeyFile: settings.PUSH_KEY_FILE,
    generationFile: settings.GENERATION_FILE,
    port: settings.SIDECAR_PORT,
    reconcileIntervalMs: settings.RECONCILE_INTERVAL_MS,
    consumerTimeoutMs: DEFAULTS.consumerTimeoutMs,
    apiTimeoutMs: DEFAULTS.apiTimeoutMs,
  };
}
