/**
 * Exec and auth-provider users: client-node runs the plugin (and caches its token until it
 * expires), so it is imported here, on this path only. Impersonation is added by the caller.
 */
import { KubeConfig } from '@kubernetes/client-node';
import { apiServerCredentials, type ApiServerCredentials } from './credentials.js';
import type { ClusterEntry, ContextEntry, UserEntry } from './kubeconfig.js';

export function pluginCredentials(cluster: ClusterEntry, user: UserEntry, context: ContextEntry): ApiServerCredentials {
  const { impersonateUser: _user, impersonateGroups: _groups, ...credentials } = user;
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [cluster],
    users: [credentials],
    contexts: [{ name: context.name, cluster: context.cluster, user: context.user }],
    currentContext: context.name,
  });
  return apiServerCredentials(kubeConfig);
}
