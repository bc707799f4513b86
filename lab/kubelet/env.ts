/**
 * A container's environment as the kubelet builds it: `envFrom` first, then `env` in order (later
 * wins), `$(VAR)` references expanded against what is already defined, plus the few variables every
 * container gets. Nothing of the kubelet's own environment leaks in, except NODE_V8_COVERAGE so
 * coverage of the lab's child processes can be collected.
 *
 * Guarantees: a missing non-optional ConfigMap/Secret or key is a ContainerConfigError (the
 * container waits with CreateContainerConfigError). Not supported: resourceFieldRef.
 */
import type { V1ConfigMap, V1Container, V1EnvVar, V1Pod, V1Secret } from '@kubernetes/client-node';
import { ContainerConfigError, resolveFieldRef, type PodRuntimeFacts } from './field-ref.js';
import type { ObjectSource } from './object-source.js';

/** The reachable API server: there is no kube-proxy, so no ClusterIP service address works. */
export const API_SERVER_HOST = '10.77.0.1';
export const API_SERVER_PORT = '16443';

const BASE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const PASSED_THROUGH = ['NODE_V8_COVERAGE'];

export async function resolveContainerEnv(
  pod: V1Pod,
  container: V1Container,
  facts: PodRuntimeFacts,
  objects: ObjectSource,
): Promise<Record<string, string>> {
  const namespace = pod.metadata?.namespace ?? 'default';
  const env: Record<string, string> = {
    PATH: BASE_PATH,
    HOME: '/root',
    HOSTNAME: pod.spec?.hostname ?? pod.metadata?.name ?? '',
    KUBERNETES_SERVICE_HOST: API_SERVER_HOST,
    KUBERNETES_SERVICE_PORT: API_SERVER_PORT,
  };
  for (const name of PASSED_THROUGH) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  for (const source of container.envFrom ?? []) {
    const ref = source.configMapRef ?? source.secretRef;
    if (ref === undefined) continue;
    const kind = source.configMapRef !== undefined ? 'configmap' : 'secret';
    const values = await readKeyedValues(objects, kind, namespace, ref.name ?? '');
    if (values === undefined) {
      if (ref.optional === true) continue;
      throw new ContainerConfigError(`${kind} "${ref.name}" not found`);
    }
    for (const [key, value] of Object.entries(values)) env[`${source.prefix ?? ''}${key}`] = value;
  }
  for (const variable of container.env ?? []) {
    const value = await resolveEnvVar(variable, pod, facts, objects, namespace, env);
    if (value !== undefined) env[variable.name] = value;
  }
  return env;
}

async function resolveEnvVar(
  variable: V1EnvVar,
  pod: V1Pod,
  facts: PodRuntimeFacts,
  objects: ObjectSource,
  namespace: string,
  defined: Record<string, string>,
): Promise<string | undefined> {
  const from = variable.valueFrom;
  if (from === undefined) return expandReferences(variable.value ?? '', defined);
  if (from.fieldRef !== undefined) return resolveFieldRef(pod, from.fieldRef.fieldPath, facts);
  const keyRef = from.configMapKeyRef ?? from.secretKeyRef;
  if (keyRef === undefined) {
    throw new ContainerConfigError(`env ${variable.name}: only value, fieldRef, configMapKeyRef and secretKeyRef are supported`);
  }
  const kind = from.configMapKeyRef !== undefined ? 'configmap' : 'secret';
  const values = await readKeyedValues(objects, kind, namespace, keyRef.name ?? '');
  const value = values?.[keyRef.key];
  if (value !== undefined) return value;
  if (keyRef.optional === true) return undefined;
  if (values === undefined) throw new ContainerConfigError(`${kind} "${keyRef.name}" not found`);
  throw new ContainerConfigError(`couldn't find key ${keyRef.key} in ${kind} ${namespace}/${keyRef.name}`);
}

/** A ConfigMap's data (binaryData decoded as UTF-8) or a Secret's decoded data; undefined if missing. */
async function readKeyedValues(
  objects: ObjectSource,
  kind: 'configmap' | 'secret',
  namespace: string,
  name: string,
): Promise<Record<string, string> | undefined> {
  const entries =
    kind === 'configmap'
      ? configMapEntries(await objects.configMap(namespace, name))
      : secretEntries(await objects.secret(namespace, name));
  if (entries === undefined) return undefined;
  return Object.fromEntries(Object.entries(entries).map(([key, bytes]) => [key, bytes.toString('utf8')]));
}

/** Every key of a ConfigMap as bytes (data and binaryData); undefined if there is no ConfigMap. */
export function configMapEntries(configMap: V1ConfigMap | undefined): Record<string, Buffer> | undefined {
  if (configMap === undefined) return undefined;
  const entries: Record<string, Buffer> = {};
  for (const [key, value] of Object.entries(configMap.data ?? {})) entries[key] = Buffer.from(value, 'utf8');
  for (const [key, value] of Object.entries(configMap.binaryData ?? {})) entries[key] = Buffer.from(value, 'base64');
  return entries;
}

/** Every key of a Secret, base64-decoded; undefined if there is no Secret. */
export function secretEntries(secret: V1Secret | undefined): Record<string, Buffer> | undefined {
  if (secret === undefined) return undefined;
  const entries: Record<string, Buffer> = {};
  for (const [key, value] of Object.entries(secret.data ?? {})) entries[key] = Buffer.from(value, 'base64');
  for (const [key, value] of Object.entries(secret.stringData ?? {})) entries[key] = Buffer.from(value, 'utf8');
  return entries;
}

/** Kubernetes' `$(NAME)` expansion: known names are replaced, `$$` escapes, unknown ones stay. */
export function expandReferences(value: string, defined: Record<string, string>): string {
  return value.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (match, name: string | undefined) => {
    if (name === undefined) return '$';
    return defined[name] ?? match;
  });
}
