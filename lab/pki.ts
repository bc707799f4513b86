/**
 * The lab's certificates, made with the openssl command: a lab CA, the API server's serving
 * certificate, client certificates whose subject carries the Kubernetes identity (CN = user,
 * O = group), and the service-account token signing key pair. All keys are ECDSA P-256.
 *
 * Idempotent: only missing files are made, so running processes keep valid credentials. A new CA
 * invalidates every leaf, so a missing CA regenerates all of them. Nothing here is fit for anything
 * but a throwaway lab (ten-year validity, keys on disk unencrypted).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { OperationError } from '../src/shared/errors.js';
import { LAB_NETWORK } from './paths.js';

const execFileAsync = promisify(execFile);
const VALIDITY_DAYS = '3650';
const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

interface LeafSpec {
  name: string;
  subject: string;
  usage: 'serverAuth' | 'clientAuth';
  subjectAltNames?: string[];
}

const LEAVES = {
  apiServer: {
    name: 'apiserver',
    subject: '/CN=kube-apiserver',
    usage: 'serverAuth',
    subjectAltNames: [
      'IP:127.0.0.1',
      `IP:${LAB_NETWORK.bridgeAddress}`,
      `IP:${LAB_NETWORK.kubernetesServiceIp}`,
      'DNS:localhost',
      'DNS:kubernetes',
      'DNS:kubernetes.default',
      'DNS:kubernetes.default.svc',
      'DNS:kubernetes.default.svc.cluster.local',
    ],
  },
  admin: { name: 'admin', subject: '/O=system:masters/CN=bgswitch-lab-admin', usage: 'clientAuth' },
  controllerManager: { name: 'kube-controller-manager', subject: '/CN=system:kube-controller-manager', usage: 'clientAuth' },
  /** The group is the one k8s/base/rbac-operator.yaml binds. */
  operator: { name: 'operator', subject: '/O=bgswitch:operators/CN=bgswitch-operator', usage: 'clientAuth' },
} as const satisfies Record<string, LeafSpec>;

export type LeafName = keyof typeof LEAVES;

export interface KeyPair {
  cert: string;
  key: string;
}

export interface LabPki {
  caCert: string;
  caKey: string;
  leaves: Record<LeafName, KeyPair>;
  serviceAccountKey: string;
  serviceAccountPublicKey: string;
}

export function pkiFiles(pkiDir: string): LabPki {
  const pair = (name: string): KeyPair => ({ cert: join(pkiDir, `${name}.crt`), key: join(pkiDir, `${name}.key`) });
  const leaves = Object.fromEntries(Object.entries(LEAVES).map(([id, spec]) => [id, pair(spec.name)])) as Record<LeafName, KeyPair>;
  const ca = pair('ca');
  return {
    caCert: ca.cert,
    caKey: ca.key,
    leaves,
    serviceAccountKey: join(pkiDir, 'sa.key'),
    serviceAccountPublicKey: join(pkiDir, 'sa.pub'),
  };
}

async function openssl(args: string[]): Promise<void> {
  try {
    await execFileAsync('openssl', args, { encoding: 'utf8' });
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr?.trim() ?? String(error);
    throw new OperationError(`'openssl ${args[0]}' failed: ${stderr}`);
  }
}

/** Writes the certificate last (via rename), so an existing .crt always has its .key beside it. */
async function makeCa(files: LabPki): Promise<void> {
  const tmp = `${files.caCert}.tmp`;
  await openssl([
    'req',
    '-x509',
    ...EC_KEY,
    '-keyout',
    files.caKey,
    '-out',
    tmp,
    '-days',
    VALIDITY_DAYS,
    '-subj',
    '/CN=bgswitch-lab-ca',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  chmodSync(files.caKey, 0o600);
  renameSync(tmp, files.caCert);
}

async function makeLeaf(files: LabPki, spec: LeafSpec, pair: KeyPair): Promise<void> {
  const csr = `${pair.cert}.csr`;
  const extensions = `${pair.cert}.ext`;
  const tmp = `${pair.cert}.tmp`;
  writeFileSync(
    extensions,
    [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      `extendedKeyUsage=${spec.usage}`,
      ...(spec.subjectAltNames ? [`subjectAltName=${spec.subjectAltNames.join(',')}`] : []),
      '',
    ].join('\n'),
  );
  try {
    await openssl(['req', '-new', ...EC_KEY, '-keyout', pair.key, '-out', csr, '-subj', spec.subject]);
    chmodSync(pair.key, 0o600);
    await openssl([
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      files.caCert,
      '-CAkey',
      files.caKey,
      '-set_serial',
      `0x${randomBytes(16).toString('hex')}`,
      '-days',
      VALIDITY_DAYS,
      '-sha256',
      '-extfile',
      extensions,
      '-out',
      tmp,
    ]);
    renameSync(tmp, pair.cert);
  } finally {
    rmSync(csr, { force: true });
    rmSync(extensions, { force: true });
  }
}

async function makeServiceAccountKeys(files: LabPki): Promise<void> {
  const tmp = `${files.serviceAccountPublicKey}.tmp`;
  await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', files.serviceAccountKey]);
  chmodSync(files.serviceAccountKey, 0o600);
  await openssl(['pkey', '-in', files.serviceAccountKey, '-pubout', '-out', tmp]);
  renameSync(tmp, files.serviceAccountPublicKey);
}

/** Makes whatever is missing; returns the file names. Reports which files it made. */
export async function ensurePki(pkiDir: string): Promise<{ files: LabPki; made: string[] }> {
  mkdirSync(pkiDir, { recursive: true, mode: 0o700 });
  const files = pkiFiles(pkiDir);
  const made: string[] = [];
  if (!existsSync(files.caCert)) {
    for (const pair of Object.values(files.leaves)) rmSync(pair.cert, { force: true });
    await makeCa(files);
    made.push('ca');
  }
  await Promise.all(
    (Object.keys(LEAVES) as LeafName[]).map(async (id) => {
      if (existsSync(files.leaves[id].cert)) return;
      await makeLeaf(files, LEAVES[id], files.leaves[id]);
      made.push(LEAVES[id].name);
    }),
  );
  if (!existsSync(files.serviceAccountPublicKey)) {
    await makeServiceAccountKeys(files);
    made.push('service-account key');
  }
  return { files, made };
}
