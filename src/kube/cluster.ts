/**
 * The Cluster port over the API server's REST endpoints (src/kube/rest.ts): ConfigMaps, the Lease,
 * pod discovery through the Services' selectors, audit Events, the push-key Secret, and the
 * permission preflight.
 *
 * Guarantees: writes are optimistic (replace carries the resourceVersion it was given; create fails
 * on an existing object) and a lost race is a ConflictError; a replace keeps the object's other
 * metadata (labels, owner references) when the version being replaced is the one last read here;
 * every API call has a timeout; every failure is mapped by src/kube/errors.ts. The push key's value
 * is never logged or put into a message.
 * Not guaranteed: retries — the caller decides (a 409 needs a re-read, not a resend).
 */
import { randomBytes } from 'node:crypto';
import type { KubeConfig, V1ConfigMap, V1Lease, V1ObjectMeta, V1Pod, V1Secret, V1Service } from '@kubernetes/client-node';
import { ConflictError, RefusedError } from '../core/errors.js';
import { byPodName } from '../core/fleet.js';
import type {
  AuditEvent,
  Cluster,
  ConfigMapSnapshot,
  ConfigMapWrite,
  LeaseSnapshot,
  LeaseWrite,
  ObjectNames,
  PermissionCheck,
  PodInfo,
} from '../core/ports.js';
import type { Color } from '../shared/model.js';
import { pushKeyFromText } from '../shared/push-signature.js';
import { apiServerCredentials, type ApiServerCredentials } from './credentials.js';
import { isNotFound, toBgswitchError, type KubeCallContext } from './errors.js';
import { auditEventBody, configMapSnapshot, labelSelectorString, leaseSnapshot, leaseSpec, podInfoFromPod } from './mapping.js';
import { verdictByRules, type RulesReviewStatus } from './rules.js';
import { ApiServerClient, type ApiMethod } from './rest.js';

export const DEFAULT_API_TIMEOUT_MS = 15_000;
const PUSH_KEY_DATA_KEY = 'key';
const PART_OF_LABELS = { 'app.kubernetes.io/part-of': 'bgswitch' };
const LEASE_GROUP = 'coordination.k8s.io';
const AUTHORIZATION_GROUP = 'authorization.k8s.io';

export interface KubeClusterOptions {
  /** Per API request; a hung API server becomes ClusterUnreachableError after this. */
  requestTimeoutMs?: number;
  /** For the audit Event's timestamps; defaults to the system clock. */
  now?: () => number;
}

type CallDescription = Pick<KubeCallContext, 'verb' | 'resource' | 'name'>;

export class KubeCluster implements Cluster {
  readonly namespace: string;
  readonly server: string;
  private readonly api: ApiServerClient;
  private readonly now: () => number;
  /** The last version of each object read or written here, to keep its other metadata on replace. */
  private readonly lastConfigMaps = new Map<string, V1ConfigMap>();
  private readonly lastLeases = new Map<string, V1Lease>();
  /** Each colour's Service selector as last read (see listPods). */
  private readonly lastSelectors = new Map<Color, string>();

  /** The CLI passes the credentials of src/kube/kubeconfig.ts; the lab and tests a client-node KubeConfig. */
  constructor(
    apiServer: ApiServerCredentials | KubeConfig,
    private readonly names: ObjectNames,
    options: KubeClusterOptions = {},
  ) {
    this.namespace = names.namespace;
    const credentials = 'applyToHTTPSOptions' in apiServer ? apiServerCredentials(apiServer) : apiServer;
    this.api = new ApiServerClient(credentials, options.requestTimeoutMs ?? DEFAULT_API_TIMEOUT_MS);
    this.server = this.api.server;
    this.now = options.now ?? Date.now;
  }

  /** Closes the connection pool; the process can then exit at once. */
  close(): Promise<void> {
    return this.api.close();
  }

  /** A namespaced path: `/api/v1/namespaces/<ns>/<resource>[/<name>]`, or under `/apis/<group>/v1`. */
  private path(resource: string, name?: string, group?: string): string {
    const base = group ? `/apis/${group}/v1` : '/api/v1';
    return `${base}/namespaces/${encodeURIComponent(this.namespace)}/${resource}${name === undefined ? '' : `/${encodeURIComponent(name)}`}`;
  }

  private send<T>(method: ApiMethod, path: string, options?: { body?: unknown; query?: Record<string, string> }): () => Promise<T> {
    return () => this.api.json<T>(method, path, options);
  }

  private async call<T>(description: CallDescription, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      throw toBgswitchError(error, { ...description, namespace: this.namespace, server: this.server });
    }
  }

  /** A read where 404 means "absent". */
  private async read<T>(description: CallDescription, run: () => Promise<T>): Promise<T | undefined> {
    try {
      return await run();
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw toBgswitchError(error, { ...description, namespace: this.namespace, server: this.server });
    }
  }

  /** Without a resourceVersion the object is created, with one exactly that version is replaced. */
  private createOrReplace<T>(
    target: { resource: string; name: string; resourceVersion: string | undefined },
    create: () => Promise<T>,
    replace: () => Promise<T>,
  ): Promise<T> {
    const { resource, name } = target;
    return target.resourceVersion === undefined
      ? this.call({ verb: 'create', resource, name }, create)
      : this.call({ verb: 'update', resource, name }, replace);
  }

  private rememberConfigMap(configMap: V1ConfigMap, name: string): ConfigMapSnapshot {
    this.lastConfigMaps.set(name, configMap);
    return configMapSnapshot(configMap, name);
  }

  private rememberLease(lease: V1Lease, name: string): LeaseSnapshot {
    this.lastLeases.set(name, lease);
    return leaseSnapshot(lease, name);
  }

  /** The last-read object when it is exactly the version being replaced, so its other metadata is kept. */
  private static replacing<T extends V1ConfigMap | V1Lease>(last: T | undefined, resourceVersion: string | undefined): T | undefined {
    return resourceVersion !== undefined && last?.metadata?.resourceVersion === resourceVersion ? last : undefined;
  }

  private metadataFor(kept: V1ConfigMap | V1Lease | undefined, name: string, resourceVersion: string | undefined): V1ObjectMeta {
    if (!kept?.metadata) {
      const fresh: V1ObjectMeta = { name, namespace: this.namespace, labels: { ...PART_OF_LABELS } };
      if (resourceVersion !== undefined) fresh.resourceVersion = resourceVersion;
      return fresh;
    }
    // Left out, the server keeps its managedFields as they are.
    const { managedFields: _managedFields, ...metadata } = kept.metadata;
    return { ...metadata, resourceVersion };
  }

  async getConfigMap(name: string): Promise<ConfigMapSnapshot | undefined> {
    const found = await this.read(
      { verb: 'get', resource: 'configmaps', name },
      this.send<V1ConfigMap>('GET', this.path('configmaps', name)),
    );
    return found && this.rememberConfigMap(found, name);
  }

  async writeConfigMap(write: ConfigMapWrite): Promise<ConfigMapSnapshot> {
    const kept = KubeCluster.replacing(this.lastConfigMaps.get(write.name), write.resourceVersion);
    const body: V1ConfigMap = {
      ...kept,
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { ...this.metadataFor(kept, write.name, write.resourceVersion), annotations: { ...write.annotations } },
      data: { ...write.data },
    };
    const written = await this.createOrReplace(
      { resource: 'configmaps', name: write.name, resourceVersion: write.resourceVersion },
      this.send<V1ConfigMap>('POST', this.path('configmaps'), { body }),
      this.send<V1ConfigMap>('PUT', this.path('configmaps', write.name), { body }),
    );
    return this.rememberConfigMap(written, write.name);
  }

  async getLease(name: string): Promise<LeaseSnapshot | undefined> {
    const found = await this.read(
      { verb: 'get', resource: 'leases', name },
      this.send<V1Lease>('GET', this.path('leases', name, LEASE_GROUP)),
    );
    return found && this.rememberLease(found, name);
  }

  async writeLease(write: LeaseWrite): Promise<LeaseSnapshot> {
    const kept = KubeCluster.replacing(this.lastLeases.get(write.name), write.resourceVersion);
    const body = {
      apiVersion: `${LEASE_GROUP}/v1`,
      kind: 'Lease',
      metadata: this.metadataFor(kept, write.name, write.resourceVersion),
      spec: leaseSpec(write),
    };
    const written = await this.createOrReplace(
      { resource: 'leases', name: write.name, resourceVersion: write.resourceVersion },
      this.send<V1Lease>('POST', this.path('leases', undefined, LEASE_GROUP), { body }),
      this.send<V1Lease>('PUT', this.path('leases', write.name, LEASE_GROUP), { body }),
    );
    return this.rememberLease(written, write.name);
  }

  /** The colour's Service selector; a Service without one would select nothing we could trust. */
  async serviceSelector(color: Color): Promise<Record<string, string>> {
    const name = this.names.services[color];
    const description: CallDescription = { verb: 'get', resource: 'services', name };
    const service = await this.read(description, this.send<V1Service>('GET', this.path('services', name)));
    if (!service) {
      throw new RefusedError(
        `Service "${name}" does not exist in namespace ${this.namespace}`,
        'apply the manifests (kubectl apply -k k8s/overlays/production), or name the Service with --blue-service/--green-service',
      );
    }
    const selector = service.spec?.selector ?? {};
    if (Object.keys(selector).length === 0) {
      throw new RefusedError(
        `Service "${name}" in namespace ${this.namespace} has no selector, so the ${color} pods cannot be found`,
        'give the Service the selector of its StatefulSet (see k8s/services.yaml)',
      );
    }
    return selector;
  }

  /**
   * The pods behind the colour's Service as it is now: the Service is read on every call (its
   * selector may change) and the pods are listed with its selector. The selector this client saw
   * last is listed with at once, alongside that read (one round trip instead of two); the list is
   * made again, with the Service's new selector, only if the Service has changed since.
   */
  async listPods(color: Color): Promise<PodInfo[]> {
    const guess = this.lastSelectors.get(color);
    const early = guess === undefined ? undefined : this.podsMatching(guess);
    early?.catch(() => undefined);
    const labelSelector = labelSelectorString(await this.serviceSelector(color));
    this.lastSelectors.set(color, labelSelector);
    const pods = early !== undefined && labelSelector === guess ? await early : await this.podsMatching(labelSelector);
    return pods.map((pod) => podInfoFromPod(pod, color)).sort(byPodName);
  }

  private async podsMatching(labelSelector: string): Promise<V1Pod[]> {
    const list = await this.call(
      { verb: 'list', resource: 'pods' },
      this.send<{ items: V1Pod[] }>('GET', this.path('pods'), { query: { labelSelector } }),
    );
    return list.items;
  }

  async recordEvent(event: AuditEvent): Promise<void> {
    const configMapName = this.names.activeConfigMap;
    const uid = this.lastConfigMaps.get(configMapName)?.metadata?.uid;
    const body = auditEventBody(
      event,
      { namespace: this.namespace, configMapName, ...(uid ? { configMapUid: uid } : {}) },
      new Date(this.now()),
      randomBytes(8).toString('hex'),
    );
    await this.call({ verb: 'create', resource: 'events', name: body.metadata.name }, this.send('POST', this.path('events'), { body }));
  }

  /** The key that signs sidecar pushes; missing -> refused with the fix. */
  async readPushKey(): Promise<Buffer> {
    const name = this.names.pushKeySecret;
    const secret = await this.read({ verb: 'get', resource: 'secrets', name }, this.send<V1Secret>('GET', this.path('secrets', name)));
    if (!secret) {
      throw new RefusedError(`Secret "${name}" (the push key) does not exist in namespace ${this.namespace}`, 'run `bgswitch init`');
    }
    const encoded = secret.data?.[PUSH_KEY_DATA_KEY];
    const key = encoded === undefined ? undefined : pushKeyFromText(Buffer.from(encoded, 'base64').toString('utf8'));
    if (!key) {
      throw new RefusedError(
        `Secret "${name}" in namespace ${this.namespace} has no non-empty "${PUSH_KEY_DATA_KEY}" entry`,
        'delete it and run `bgswitch init`',
      );
    }
    return key;
  }

  /**
   * One SelfSubjectRulesReview (allowed to every user) decides the checks; only when it is
   * incomplete (an authorizer that cannot list rules) are the undecided checks asked about one by
   * one, in parallel (SelfSubjectAccessReview).
   */
  async missingPermissions(checks: PermissionCheck[]): Promise<PermissionCheck[]> {
    const review = await this.call(
      { verb: 'create', resource: 'selfsubjectrulesreviews' },
      this.send<{ status?: RulesReviewStatus }>('POST', `/apis/${AUTHORIZATION_GROUP}/v1/selfsubjectrulesreviews`, {
        body: { apiVersion: `${AUTHORIZATION_GROUP}/v1`, kind: 'SelfSubjectRulesReview', spec: { namespace: this.namespace } },
      }),
    );
    const status = review.status ?? { incomplete: true };
    const answers = await Promise.all(
      checks.map(async (check) => {
        const verdict = verdictByRules(status, check);
        if (verdict === 'unknown') return (await this.accessReviewAllows(check)) ? undefined : check;
        return verdict === 'allowed' ? undefined : check;
      }),
    );
    return answers.filter((check): check is PermissionCheck => check !== undefined);
  }

  private async accessReviewAllows(check: PermissionCheck): Promise<boolean> {
    const [resource, subresource] = check.resource.split('/');
    const body = {
      apiVersion: `${AUTHORIZATION_GROUP}/v1`,
      kind: 'SelfSubjectAccessReview',
      spec: {
        resourceAttributes: {
          namespace: this.namespace,
          verb: check.verb,
          group: check.group ?? '',
          resource,
          ...(subresource ? { subresource } : {}),
          ...(check.name ? { name: check.name } : {}),
        },
      },
    };
    const review = await this.call(
      { verb: 'create', resource: 'selfsubjectaccessreviews' },
      this.send<{ status?: { allowed?: boolean } }>('POST', `/apis/${AUTHORIZATION_GROUP}/v1/selfsubjectaccessreviews`, { body }),
    );
    return review.status?.allowed === true;
  }

  async hasPushKey(): Promise<boolean> {
    const name = this.names.pushKeySecret;
    const secret = await this.read({ verb: 'get', resource: 'secrets', name }, this.send<V1Secret>('GET', this.path('secrets', name)));
    return secret !== undefined;
  }

  /** Creates the push-key Secret (32 random bytes, hex) unless it exists. */
  async ensurePushKey(): Promise<'created' | 'existing'> {
    const name = this.names.pushKeySecret;
    const value = randomBytes(32).toString('hex');
    try {
      await this.api.json('POST', this.path('secrets'), {
        body: {
          apiVersion: 'v1',
          kind: 'Secret',
          type: 'Opaque',
          metadata: { name, namespace: this.namespace, labels: { ...PART_OF_LABELS } },
          data: { [PUSH_KEY_DATA_KEY]: Buffer.from(value, 'utf8').toString('base64') },
        },
      });
      return 'created';
    } catch (error) {
      const mapped = toBgswitchError(error, { verb: 'create', resource: 'secrets', name, namespace: this.namespace, server: this.server });
      if (mapped instanceof ConflictError) return 'existing';
      throw mapped;
    }
  }
}
