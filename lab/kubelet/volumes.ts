/**
 * A pod's volumes on the host, under `<podDir>/volumes/<name>`: emptyDir (a plain directory that
 * lives as long as the pod), hostPath (the host path itself), and configMap, secret, downwardAPI and
 * projected volumes written with the kubelet's `..data` layout and refreshed by calling `sync()`
 * again (the kubelet does so every sync period; readers see that staleness, as in a real cluster).
 *
 * Guarantees: `items`, `optional` and modes are honoured as the kubelet does; a missing
 * non-optional object or key throws ContainerConfigError and leaves the previous content in place;
 * service-account tokens are renewed after 80% of their lifetime.
 * Not supported: persistentVolumeClaim and the other remote volume types (ContainerConfigError).
 */
import type {
  V1ConfigMapProjection,
  V1DownwardAPIVolumeFile,
  V1KeyToPath,
  V1Pod,
  V1SecretProjection,
  V1ServiceAccountTokenProjection,
  V1Volume,
} from '@kubernetes/client-node';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { writeAtomically, type Payload } from './atomic-writer.js';
import { configMapEntries, secretEntries } from './env.js';
import { ContainerConfigError, resolveFieldRef, type PodRuntimeFacts } from './field-ref.js';
import type { ObjectSource } from './object-source.js';

const DEFAULT_MODE = 0o644;
const DEFAULT_TOKEN_SECONDS = 3600;
const TOKEN_RENEW_FRACTION = 0.8;

interface CachedToken {
  token: string;
  renewAfterMs: number;
}

export class PodVolumes {
  private readonly tokens = new Map<string, CachedToken>();

  constructor(
    private readonly pod: V1Pod,
    private readonly volumesDir: string,
    private readonly facts: PodRuntimeFacts,
    private readonly objects: ObjectSource,
    private readonly now: () => number = Date.now,
  ) {}

  /** Where the volume's content lives on the host (what gets bind-mounted into containers). */
  hostPath(volume: V1Volume): string {
    return volume.hostPath?.path ?? join(this.volumesDir, volume.name);
  }

  /** Creates or refreshes every volume; the first failure is thrown after all others were tried. */
  async sync(): Promise<void> {
    const results = await Promise.allSettled((this.pod.spec?.volumes ?? []).map((volume) => this.syncVolume(volume)));
    const failure = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
    if (failure !== undefined) throw failure.reason;
  }

  /** Deletes every volume directory (emptyDir content included). */
  async remove(): Promise<void> {
    await rm(this.volumesDir, { recursive: true, force: true });
  }

  private async syncVolume(volume: V1Volume): Promise<void> {
    if (volume.hostPath !== undefined) return;
    const dir = this.hostPath(volume);
    if (volume.emptyDir !== undefined) {
      await mkdir(dir, { recursive: true });
      return;
    }
    const payload = await this.payloadOf(volume);
    await writeAtomically(dir, payload);
  }

  private async payloadOf(volume: V1Volume): Promise<Payload> {
    const payload: Payload = new Map();
    if (volume.configMap !== undefined) {
      const { defaultMode, ...source } = volume.configMap;
      await this.addConfigMap(payload, source, defaultMode ?? DEFAULT_MODE);
    } else if (volume.secret !== undefined) {
      const { defaultMode, secretName, ...source } = volume.secret;
      await this.addSecret(payload, { ...source, name: secretName }, defaultMode ?? DEFAULT_MODE);
    } else if (volume.downwardAPI !== undefined) {
      this.addDownwardApi(payload, volume.downwardAPI.items ?? [], volume.downwardAPI.defaultMode ?? DEFAULT_MODE);
    } else if (volume.projected !== undefined) {
      const mode = volume.projected.defaultMode ?? DEFAULT_MODE;
      for (const source of volume.projected.sources ?? []) {
        if (source.configMap !== undefined) await this.addConfigMap(payload, source.configMap, mode);
        if (source.secret !== undefined) await this.addSecret(payload, source.secret, mode);
        if (source.downwardAPI !== undefined) this.addDownwardApi(payload, source.downwardAPI.items ?? [], mode);
        if (source.serviceAccountToken !== undefined) await this.addToken(payload, source.serviceAccountToken, mode);
      }
    } else {
      throw new ContainerConfigError(
        `volume '${volume.name}': the lab kubelet supports emptyDir, hostPath, configMap, secret, downwardAPI and projected volumes only`,
      );
    }
    return payload;
  }

  private async addConfigMap(payload: Payload, source: V1ConfigMapProjection, mode: number): Promise<void> {
    const entries = configMapEntries(await this.objects.configMap(this.namespace, source.name ?? ''));
    addKeyed(payload, { kind: 'configmap', name: source.name ?? '', entries, items: source.items, optional: source.optional, mode });
  }

  private async addSecret(payload: Payload, source: V1SecretProjection, mode: number): Promise<void> {
    const entries = secretEntries(await this.objects.secret(this.namespace, source.name ?? ''));
    addKeyed(payload, { kind: 'secret', name: source.name ?? '', entries, items: source.items, optional: source.optional, mode });
  }

  private addDownwardApi(payload: Payload, items: V1DownwardAPIVolumeFile[], mode: number): void {
    for (const item of items) {
      if (item.fieldRef === undefined) {
        throw new ContainerConfigError(`downwardAPI item '${item.path}': only fieldRef is supported by the lab kubelet`);
      }
      const value = resolveFieldRef(this.pod, item.fieldRef.fieldPath, this.facts);
      payload.set(item.path, { data: Buffer.from(value, 'utf8'), mode: item.mode ?? mode });
    }
  }

  private async addToken(payload: Payload, source: V1ServiceAccountTokenProjection, mode: number): Promise<void> {
    const expirationSeconds = source.expirationSeconds ?? DEFAULT_TOKEN_SECONDS;
    const key = `${source.audience ?? ''}|${expirationSeconds}`;
    let cached = this.tokens.get(key);
    if (cached === undefined || this.now() >= cached.renewAfterMs) {
      const request = source.audience === undefined ? { expirationSeconds } : { expirationSeconds, audience: source.audience };
      const token = await this.objects.serviceAccountToken(this.pod, request);
      cached = { token, renewAfterMs: this.now() + expirationSeconds * 1000 * TOKEN_RENEW_FRACTION };
      this.tokens.set(key, cached);
    }
    payload.set(source.path, { data: Buffer.from(cached.token, 'utf8'), mode });
  }

  private get namespace(): string {
    return this.pod.metadata?.namespace ?? 'default';
  }
}

interface KeyedSource {
  kind: 'configmap' | 'secret';
  name: string;
  entries: Record<string, Buffer> | undefined;
  items: V1KeyToPath[] | undefined;
  optional: boolean | undefined;
  mode: number;
}

/** Adds a ConfigMap's or Secret's keys (all, or the listed `items`) the way the kubelet does. */
function addKeyed(payload: Payload, source: KeyedSource): void {
  if (source.entries === undefined) {
    if (source.optional === true) return;
    throw new ContainerConfigError(`${source.kind} "${source.name}" not found`);
  }
  if (source.items === undefined || source.items.length === 0) {
    for (const [key, data] of Object.entries(source.entries)) payload.set(key, { data, mode: source.mode });
    return;
  }
  for (const item of source.items) {
    const data = source.entries[item.key];
    if (data === undefined) {
      if (source.optional === true) continue;
      throw new ContainerConfigError(`${source.kind} "${source.name}" has no key '${item.key}' (listed in items)`);
    }
    payload.set(item.path, { data, mode: item.mode ?? source.mode });
  }
}
