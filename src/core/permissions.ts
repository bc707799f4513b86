/**
 * What each command needs from the API server, checked up front (SelfSubjectAccessReview) so a
 * missing write permission is refused before anything changes, instead of failing mid-switch.
 */
import { RefusedError } from './errors.js';
import type { Cluster, ObjectNames, PermissionCheck, PodAgent } from './ports.js';

function objectAccess(names: ObjectNames): PermissionCheck[] {
  return [
    { verb: 'get', resource: 'configmaps', name: names.stateConfigMap },
    { verb: 'update', resource: 'configmaps', name: names.stateConfigMap },
    { verb: 'get', resource: 'services', name: names.services.blue },
    { verb: 'get', resource: 'services', name: names.services.green },
    { verb: 'list', resource: 'pods' },
    { verb: 'get', resource: 'secrets', name: names.pushKeySecret },
  ];
}

/** `switch` and `rollback`: every object the protocol reads or writes. */
export function switchPermissions(names: ObjectNames): PermissionCheck[] {
  return [
    ...objectAccess(names),
    { verb: 'get', resource: 'configmaps', name: names.activeConfigMap },
    { verb: 'update', resource: 'configmaps', name: names.activeConfigMap },
    { verb: 'get', resource: 'leases', group: 'coordination.k8s.io', name: names.lease },
    { verb: 'update', resource: 'leases', group: 'coordination.k8s.io', name: names.lease },
    { verb: 'create', resource: 'events' },
  ];
}

/** `inject-fault`: the state ConfigMap, the pods and the push key. */
export function faultPermissions(names: ObjectNames): PermissionCheck[] {
  return objectAccess(names);
}

export function describePermission(check: PermissionCheck): string {
  const resource = check.group ? `${check.resource}.${check.group}` : check.resource;
  return `'${check.verb}' on ${resource}${check.name ? `/${check.name}` : ''}`;
}

/** Throws RefusedError naming every missing permission; a cluster that cannot tell is trusted. */
export async function assertPermissions(cluster: Cluster, pods: PodAgent, checks: PermissionCheck[], namespace: string): Promise<void> {
  if (!cluster.missingPermissions) return;
  const missing = await cluster.missingPermissions([...checks, ...(pods.permissions ?? [])]);
  if (missing.length === 0) return;
  throw new RefusedError(
    `forbidden: these credentials lack ${missing.map(describePermission).join(', ')} in namespace ${namespace}`,
    `ask for the bgswitch-operator Role (k8s/base/rbac-operator.yaml) on pods/proxy and the objects above; nothing was changed`,
  );
}
