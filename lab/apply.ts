/**
 * Applies the repository's k8s/ directory exactly as written: the files listed under `resources:`
 * in k8s/kustomization.yaml, every YAML document of each, server-side applied in listed order with
 * field manager `bgswitch-lab`. It implements only that subset of kustomize and refuses any other
 * kustomization field, so a manifest change that relies on kustomize cannot silently differ in the lab.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { KubernetesObjectApi, PatchStrategy, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { OperationError, UsageError } from '../src/core/errors.js';
import { apiErrorDetail } from './control-plane/clients.js';

export const FIELD_MANAGER = 'bgswitch-lab';
const SUPPORTED_KUSTOMIZATION_FIELDS = new Set(['apiVersion', 'kind', 'resources']);

export interface Manifest {
  file: string;
  object: KubernetesObject & { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } };
}

function parseYamlDocuments(file: string): unknown[] {
  const documents = parseAllDocuments(readFileSync(file, 'utf8'));
  if (!Array.isArray(documents)) return [];
  return documents.map((document) => {
    if (document.errors.length > 0) throw new UsageError(`${file} is not valid YAML: ${document.errors[0]?.message}`);
    return document.toJS() as unknown;
  });
}

/** The resource files kustomization.yaml lists, checked to be plain files of `dir`. */
export function kustomizationResources(dir: string): string[] {
  const file = join(dir, 'kustomization.yaml');
  const [kustomization] = parseYamlDocuments(file);
  if (typeof kustomization !== 'object' || kustomization === null) throw new UsageError(`${file} is empty`);
  const unsupported = Object.keys(kustomization).filter((key) => !SUPPORTED_KUSTOMIZATION_FIELDS.has(key));
  if (unsupported.length > 0) {
    throw new UsageError(
      `${file} uses ${unsupported.map((key) => `'${key}'`).join(', ')}, which the lab does not implement`,
      'the lab applies the files under resources: as they are; extend lab/apply.ts or drop the field',
    );
  }
  const { resources } = kustomization as { resources?: unknown };
  if (!Array.isArray(resources) || resources.length === 0) throw new UsageError(`${file} lists no resources`);
  return resources.map((entry) => {
    if (typeof entry !== 'string' || !/^[\w.-]+\.ya?ml$/.test(entry)) {
      throw new UsageError(`${file}: resource ${JSON.stringify(entry)} is not a YAML file of ${dir}; the lab supports only those (no directories, remote bases or components)`);
    }
    const path = join(dir, entry);
    if (!existsSync(path) || !statSync(path).isFile()) throw new UsageError(`${file} lists ${entry}, which does not exist`);
    return path;
  });
}

function isManifestObject(value: unknown): value is Manifest['object'] {
  if (typeof value !== 'object' || value === null) return false;
  const { apiVersion, kind, metadata } = value as Record<string, unknown>;
  return typeof apiVersion === 'string' && typeof kind === 'string' && typeof (metadata as { name?: unknown } | undefined)?.name === 'string';
}

/** Every object of every listed file, in order; empty documents (comments only) are skipped. */
export function readManifests(dir: string): Manifest[] {
  return kustomizationResources(dir).flatMap((file) =>
    parseYamlDocuments(file)
      .filter((document) => document !== null && document !== undefined)
      .map((document) => {
        if (!isManifestObject(document)) throw new UsageError(`${file} holds a document without apiVersion, kind and metadata.name`);
        return { file, object: document };
      }),
  );
}

export function describeManifest({ object }: Manifest): string {
  const { namespace, name } = object.metadata;
  return `${object.kind} ${namespace ? `${namespace}/` : ''}${name}`;
}

/** Server-side apply, in order (the Namespace comes first in the list). Returns what was applied. */
export async function applyManifests(kubeConfig: KubeConfig, manifests: Manifest[]): Promise<KubernetesObject[]> {
  const client = KubernetesObjectApi.makeApiClient(kubeConfig);
  const applied: KubernetesObject[] = [];
  for (const manifest of manifests) {
    try {
      applied.push(await client.patch(manifest.object, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply));
    } catch (error) {
      throw new OperationError(`applying ${describeManifest(manifest)} from ${manifest.file} failed: ${apiErrorDetail(error)}`);
    }
  }
  return applied;
}
