/** In-memory stand-ins for the lab kubelet's own interfaces, shared by its unit tests. */
import type { V1ConfigMap, V1Pod, V1Secret } from '@kubernetes/client-node';
import type { ObjectSource, ServiceAccountTokenRequest } from '../../lab/kubelet/object-source.js';

/** ConfigMaps and Secrets held in memory; tokens numbered so renewals are visible. */
export class MemoryObjects implements ObjectSource {
  readonly configMaps = new Map<string, V1ConfigMap>();
  readonly secrets = new Map<string, V1Secret>();
  readonly tokenRequests: ServiceAccountTokenRequest[] = [];

  async configMap(namespace: string, name: string): Promise<V1ConfigMap | undefined> {
    return this.configMaps.get(`${namespace}/${name}`);
  }

  async secret(namespace: string, name: string): Promise<V1Secret | undefined> {
    return this.secrets.get(`${namespace}/${name}`);
  }

  async serviceAccountToken(pod: V1Pod, request: ServiceAccountTokenRequest): Promise<string> {
    this.tokenRequests.push(request);
    return `token-${this.tokenRequests.length}-for-${pod.metadata?.name}`;
  }
}
