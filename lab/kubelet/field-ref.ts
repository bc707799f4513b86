/**
 * The downward API as the kubelet resolves it, for env `fieldRef`s and downwardAPI volume items,
 * and the error that keeps a container Waiting with `CreateContainerConfigError`.
 *
 * Guarantees: the field paths the kubelet supports for env give the kubelet's values; an unknown
 * path is a ContainerConfigError, never an empty string. Not supported: resourceFieldRef.
 */
import type { V1Pod } from '@kubernetes/client-node';
import { OperationError } from '../../src/shared/errors.js';

/** A container cannot be configured yet (missing ConfigMap, Secret, key...); retried by the kubelet. */
export class ContainerConfigError extends OperationError {}

/** What the kubelet knows about a pod beyond its spec. */
export interface PodRuntimeFacts {
  podIp: string;
  hostIp: string;
}

const SUBSCRIPT = /^metadata\.(labels|annotations)\['(.+)'\]$/;

export function resolveFieldRef(pod: V1Pod, fieldPath: string, facts: PodRuntimeFacts): string {
  const metadata = pod.metadata ?? {};
  const subscript = SUBSCRIPT.exec(fieldPath);
  if (subscript !== null) {
    const map = subscript[1] === 'labels' ? metadata.labels : metadata.annotations;
    return map?.[subscript[2] ?? ''] ?? '';
  }
  switch (fieldPath) {
    case 'metadata.name':
      return metadata.name ?? '';
    case 'metadata.namespace':
      return metadata.namespace ?? '';
    case 'metadata.uid':
      return metadata.uid ?? '';
    case 'metadata.labels':
      return formatMap(metadata.labels);
    case 'metadata.annotations':
      return formatMap(metadata.annotations);
    case 'spec.nodeName':
      return pod.spec?.nodeName ?? '';
    case 'spec.serviceAccountName':
      return pod.spec?.serviceAccountName ?? '';
    case 'status.podIP':
    case 'status.podIPs':
      return facts.podIp;
    case 'status.hostIP':
    case 'status.hostIPs':
      return facts.hostIp;
    default:
      throw new ContainerConfigError(`unsupported fieldRef fieldPath '${fieldPath}'`);
  }
}

/** The downward API's rendering of a whole label/annotation map: sorted `key="value"` lines. */
function formatMap(map: Record<string, string> | undefined): string {
  return Object.keys(map ?? {})
    .sort()
    .map((key) => `${key}=${JSON.stringify(map?.[key] ?? '')}`)
    .join('\n');
}
