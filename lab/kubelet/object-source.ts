/**
 * Where the kubelet reads the objects a pod refers to (ConfigMaps, Secrets, service-account tokens).
 * `ApiObjectSource` reads them from the API server; unit tests pass a small in-memory source.
 *
 * Guarantees: a missing object is `undefined`, every other failure throws.
 */
import type { CoreV1Api, V1ConfigMap, V1Pod, V1Secret } from '@kubernetes/client-node';

export interface ServiceAccountTokenRequest {
  audience?: string;
  expirationSeconds: number;
}

export interface ObjectSource {
  configMap(namespace: string, name: string): Promise<V1ConfigMap | undefined>;
  secret(namespace: string, name: string): Promise<V1Secret | undefined>;
  /** A token for the pod's service account, bound to the pod (the TokenRequest API). */
  serviceAccountToken(pod: V1Pod, request: ServiceAccountTokenRequest): Promise<string>;
}

export function isNotFound(error: unknown): boolean {
  return (error as { code?: number }).code === 404;
}

async function undefinedIfMissing<T>(read: Promise<T>): Promise<T | undefined> {
  try {
    return await read;
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

export class ApiObjectSource implements ObjectSource {
  constructor(private readonly core: CoreV1Api) {}

  configMap(namespace: string, name: string): Promise<V1ConfigMap | undefined> {
    return undefinedIfMissing(this.core.readNamespacedConfigMap({ namespace, name }));
  }

  secret(namespace: string, name: string): Promise<V1Secret | undefined> {
    return undefinedIfMissing(this.core.readNamespacedSecret({ namespace, name }));
  }

  async serviceAccountToken(pod: V1Pod, request: ServiceAccountTokenRequest): Promise<string> {
    const response = await this.core.createNamespacedServiceAccountToken({
      namespace: pod.metadata?.namespace ?? 'default',
      name: pod.spec?.serviceAccountName ?? 'default',
      body: {
        spec: {
          audiences: request.audience === undefined ? [] : [request.audience],
          expirationSeconds: request.expirationSeconds,
          boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: pod.metadata?.name, uid: pod.metadata?.uid },
        },
      },
    });
    return response.status?.token ?? '';
  }
}
