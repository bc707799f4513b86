/**
 * The options every command shares (kubectl-style) and their resolution against the environment
 * variables the README lists: flag, then environment variable, then default. Everything is
 * validated here, before anything talks to the cluster.
 */
import { Option, type Command } from 'commander';
import { DEFAULT_LIFECYCLE_PORT, DEFAULT_REQUEST_TIMEOUT_MS, DEFAULT_SIDECAR_PORT } from '../shared/defaults.js';
import { UsageError } from '../shared/errors.js';
import { DEFAULT_NAMES } from '../core/names.js';
import type { ObjectNames } from '../core/ports.js';
import type { ConnectionOverrides } from '../kube/access.js';
import { parseDuration } from './durations.js';

export type OutputFormat = 'text' | 'json' | 'yaml';
export type Via = 'proxy' | 'direct' | 'auto';

/** Raw values as commander hands them over (kubectl's connection flags under their own names). */
export interface ClusterFlags extends Omit<ConnectionOverrides, 'asGroups'> {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
  output?: string;
  via?: string;
  activeConfigmap?: string;
  stateConfigmap?: string;
  lease?: string;
  blueService?: string;
  greenService?: string;
  pushKeySecret?: string;
  lifecyclePort?: string;
  sidecarPort?: string;
  requestTimeout?: string;
  /** Repeated --as-group, collected by commander. */
  asGroup?: string[];
}

export interface ClusterSettings {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
  output: OutputFormat;
  via: Via;
  names: Omit<ObjectNames, 'namespace'>;
  lifecyclePort: number;
  sidecarPort: number;
  requestTimeoutMs: number;
  connection: ConnectionOverrides;
}

export type Env = Readonly<Record<string, string | undefined>>;

export function addClusterOptions(command: Command): Command {
  return command
    .option('--kubeconfig <path>', 'path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)')
    .option('--context <name>', 'the kubeconfig context to use')
    .option('-n, --namespace <namespace>', 'workload namespace (env NAMESPACE; default: the context namespace, then kafka-bg-test)')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['text', 'json', 'yaml']))
    .addOption(
      new Option('--via <mode>', 'reach pods through the API server proxy, directly at the pod IP, or auto (direct in-cluster)').choices([
        'proxy',
        'direct',
        'auto',
      ]),
    )
    .option('--active-configmap <name>', 'active-version ConfigMap (env CONFIGMAP_NAME; default kafka-consumer-active-version)')
    .option('--state-configmap <name>', 'desired-state ConfigMap (env STATE_CONFIGMAP_NAME; default kafka-consumer-state)')
    .option('--lease <name>', 'switch lock Lease (env LEASE_NAME; default bg-consumer-active-lease)')
    .option('--blue-service <name>', 'Service selecting blue pods (env BLUE_SERVICE; default consumer-blue-svc)')
    .option('--green-service <name>', 'Service selecting green pods (env GREEN_SERVICE; default consumer-green-svc)')
    .option('--push-key-secret <name>', 'Secret holding the sidecar push key (default bgswitch-push-key)')
    .option('--lifecycle-port <port>', `consumer lifecycle port (env LIFECYCLE_PORT; default ${DEFAULT_LIFECYCLE_PORT})`)
    .option('--sidecar-port <port>', `sidecar port (env SIDECAR_PORT; default ${DEFAULT_SIDECAR_PORT})`)
    .option(
      '--request-timeout <duration>',
      `timeout of each call to a pod or the API server (default ${DEFAULT_REQUEST_TIMEOUT_MS / 1000}s)`,
    )
    .option('--cluster <name>', 'the kubeconfig cluster to use (overrides the context)')
    .option('--user <name>', 'the kubeconfig user to use (overrides the context)')
    .option('-s, --server <url>', 'the API server address (overrides the kubeconfig)')
    .option('--certificate-authority <path>', 'a CA bundle file to verify the API server with')
    .option('--insecure-skip-tls-verify', 'do not verify the API server certificate (insecure)')
    .option('--token <token>', 'bearer token for the API server (replaces the kubeconfig credentials)')
    .option('--as <user>', 'impersonate this user for every request')
    .option('--as-group <group>', 'impersonate this group (repeatable; needs --as)', (group: string, groups: string[] = []) => [
      ...groups,
      group,
    ]);
}

const K8S_NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

function name(value: string | undefined, fallback: string, flag: string): string {
  const resolved = value ?? fallback;
  if (resolved.length > 253 || !K8S_NAME.test(resolved)) {
    throw new UsageError(
      `${flag} ${JSON.stringify(resolved)} is not a valid Kubernetes name`,
      'use lower-case letters, digits, "-" and "."',
    );
  }
  return resolved;
}

export function parsePort(raw: string | undefined, fallback: number, flag: string): number {
  if (raw === undefined) return fallback;
  const port = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new UsageError(`${flag} ${JSON.stringify(raw)} is not a port`, 'use a whole number from 1 to 65535');
  }
  return port;
}

export function resolveClusterSettings(flags: ClusterFlags, env: Env): ClusterSettings {
  const namespace = flags.namespace ?? env.NAMESPACE;
  return {
    ...(flags.kubeconfig !== undefined ? { kubeconfig: flags.kubeconfig } : {}),
    ...(flags.context !== undefined ? { context: flags.context } : {}),
    ...(namespace !== undefined ? { namespace: name(namespace, '', '--namespace') } : {}),
    output: (flags.output ?? 'text') as OutputFormat,
    via: (flags.via ?? 'auto') as Via,
    names: {
      activeConfigMap: name(flags.activeConfigmap ?? env.CONFIGMAP_NAME, DEFAULT_NAMES.activeConfigMap, '--active-configmap'),
      stateConfigMap: name(flags.stateConfigmap ?? env.STATE_CONFIGMAP_NAME, DEFAULT_NAMES.stateConfigMap, '--state-configmap'),
      lease: name(flags.lease ?? env.LEASE_NAME, DEFAULT_NAMES.lease, '--lease'),
      services: {
        blue: name(flags.blueService ?? env.BLUE_SERVICE, DEFAULT_NAMES.services.blue, '--blue-service'),
        green: name(flags.greenService ?? env.GREEN_SERVICE, DEFAULT_NAMES.services.green, '--green-service'),
      },
      pushKeySecret: name(flags.pushKeySecret, DEFAULT_NAMES.pushKeySecret, '--push-key-secret'),
    },
    lifecyclePort: parsePort(flags.lifecyclePort ?? env.LIFECYCLE_PORT, DEFAULT_LIFECYCLE_PORT, '--lifecycle-port'),
    sidecarPort: parsePort(flags.sidecarPort ?? env.SIDECAR_PORT, DEFAULT_SIDECAR_PORT, '--sidecar-port'),
    requestTimeoutMs:
      flags.requestTimeout === undefined ? DEFAULT_REQUEST_TIMEOUT_MS : parseDuration(flags.requestTimeout, '--request-timeout'),
    connection: {
      ...(flags.cluster !== undefined ? { cluster: flags.cluster } : {}),
      ...(flags.user !== undefined ? { user: flags.user } : {}),
      ...(flags.server !== undefined ? { server: flags.server } : {}),
      ...(flags.certificateAuthority !== undefined ? { certificateAuthority: flags.certificateAuthority } : {}),
      ...(flags.insecureSkipTlsVerify ? { insecureSkipTlsVerify: true } : {}),
      ...(flags.token !== undefined ? { token: flags.token } : {}),
      ...(flags.as !== undefined ? { as: flags.as } : {}),
      ...(flags.asGroup !== undefined ? { asGroups: flags.asGroup } : {}),
    },
  };
}

/** The environment variables carry bare numbers in their unit (DRAIN_TIMEOUT_SECONDS=10, HEALTH_CHECK_INTERVAL_MS=500). */
export function durationFrom(
  flag: string | undefined,
  flagName: string,
  envValue: string | undefined,
  envName: string,
  envUnit: 's' | 'ms',
  fallback: string,
): number {
  if (flag !== undefined) return parseDuration(flag, flagName);
  if (envValue !== undefined) {
    if (!/^\d+$/.test(envValue.trim()))
      throw new UsageError(
        `${envName}=${JSON.stringify(envValue)} is not a whole number`,
        `unset it or set a number of ${envUnit === 's' ? 'seconds' : 'milliseconds'}`,
      );
    return Number(envValue) * (envUnit === 's' ? 1000 : 1);
  }
  return parseDuration(fallback, flagName);
}
