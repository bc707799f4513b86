/**
 * Applies a kustomize overlay exactly as `kubectl apply -k` would build it: `kubectl kustomize <dir>`
 * (the real kustomize inside the lab's own kubectl build), then every object of the output
 * server-side applied in output order with field manager `bgswitch-lab`. kustomize orders the
 * output so that the Namespace comes first and workloads after what they reference.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { KubernetesObjectApi, PatchStrategy, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { OperationError, UsageError } from '../src/shared/errors.js';
import { apiErrorDetail } from './control-plane/clients.js';

const execFileAsync = promisify(execFile);

export const FIELD_MANAGER = 'bgswitch-lab';

export type ManifestObject = KubernetesObject & {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
};

function isManifestObject(value: unknown): value is ManifestObject {
  if (typeof value !== 'object' || value === null) return false;
  const { apiVersion, kind, metadata } = value as Record<string, unknown>;
  return (
    typeof apiVersion === 'string' && typeof kind === 'string' && typeof (metadata as { name?: unknown } | undefined)?.name === 'string'
  );
}

/** The objects of a multi-document YAML stream; empty documents are skipped. */
export function parseManifests(text: string, source: string): ManifestObject[] {
  return parseAllDocuments(text).flatMap((document) => {
    if (document.errors.length > 0) throw new UsageError(`${source} is not valid YAML: ${document.errors[0]?.message}`);
    const value = document.toJS() as unknown;
    if (value === null || value === undefined) return [];
    if (!isManifestObject(value)) throw new UsageError(`${source} holds a document without apiVersion, kind and metadata.name`);
    return [value];
  });
}

/** `kubectl kustomize <dir>`, parsed. */
export async function kustomizeBuild(kubectl: string, dir: string): Promise<ManifestObject[]> {
  let stdout: string;
  try {
    ({ stdout } = await execFileAsync(kubectl, ['kustomize', dir], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: 60_000 }));
  } catch (error) {
    const { stderr, code } = error as { stderr?: string; code?: number | string };
    if (code === 'ENOENT') throw new OperationError(`${kubectl} is missing`, 'run npm run lab -- build');
    throw new UsageError(`kubectl kustomize ${dir} failed: ${(stderr ?? String(error)).trim()}`);
  }
  return parseManifests(stdout, `kubectl kustomize ${dir}`);
}

export function describeManifest(object: ManifestObject): string {
  const { namespace, name } = object.metadata;
  return `${object.kind} ${namespace ? `${namespace}/` : ''}${name}`;
}

/** Server-side apply, in order. Returns what was applied. */
export async function applyManifests(kubeConfig: KubeConfig, objects: ManifestObject[]): Promise<KubernetesObject[]> {
  const client = KubernetesObjectApi.makeApiClient(kubeConfig);
  const applied: KubernetesObject[] = [];
  for (const object of objects) {
    try {
      applied.push(await client.patch(object, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply));
    } catch (error) {
      throw new OperationError(`applying ${describeManifest(object)} failed: ${apiErrorDetail(error)}`);
    }
  }
  return applied;
}
