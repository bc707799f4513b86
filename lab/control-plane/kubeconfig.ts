/**
 * Self-contained kubeconfig files (certificates embedded as data, so a copied file keeps working)
 * for the lab's client identities. Written atomically with mode 0600.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { stringify } from 'yaml';
import type { KeyPair } from '../pki.js';

export interface KubeconfigSpec {
  server: string;
  caCert: string;
  client: KeyPair;
  user: string;
  context: string;
  namespace?: string;
}

const base64File = (file: string): string => readFileSync(file).toString('base64');

export function renderKubeconfig(spec: KubeconfigSpec): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'bgswitch-lab', cluster: { server: spec.server, 'certificate-authority-data': base64File(spec.caCert) } }],
    users: [
      {
        name: spec.user,
        user: { 'client-certificate-data': base64File(spec.client.cert), 'client-key-data': base64File(spec.client.key) },
      },
    ],
    contexts: [
      {
        name: spec.context,
        context: { cluster: 'bgswitch-lab', user: spec.user, ...(spec.namespace ? { namespace: spec.namespace } : {}) },
      },
    ],
    'current-context': spec.context,
  });
}

export function writeKubeconfig(file: string, spec: KubeconfigSpec): void {
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, renderKubeconfig(spec), { mode: 0o600 });
  renameSync(tmp, file);
}
