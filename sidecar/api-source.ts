/**
 * The state ConfigMap read through the API server (read-only; the sidecar's Role allows `get` on
 * that one ConfigMap). Used to seed the desired state at startup and to confirm resumes.
 * A missing ConfigMap reads as `{}` (nothing to confirm); any other failure, or no answer within
 * the timeout, throws, which the reconciler treats as "not confirmed".
 * Tested against the lab's real API server, not in unit tests.
 */
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { errorMessage, OperationError } from '../src/shared/errors.js';
import type { StateDataSource } from './reconciler.js';

/** The in-cluster credentials: KUBERNETES_SERVICE_HOST/PORT and the mounted service-account token. */
export function inClusterKubeConfig(): KubeConfig {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromCluster();
  return kubeConfig;
}

function statusCode(error: unknown): number | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'number' ? code : undefined;
}

export class ApiStateConfigMap implements StateDataSource {
  private readonly api: CoreV1Api;

  constructor(
    kubeConfig: KubeConfig,
    private readonly namespace: string,
    private readonly name: string,
    private readonly timeoutMs: number,
  ) {
    this.api = kubeConfig.makeApiClient(CoreV1Api);
  }

  async read(): Promise<Record<string, string>> {
    const what = `ConfigMap ${this.namespace}/${this.name}`;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new OperationError(`reading ${what} timed out after ${this.timeoutMs} ms`)), this.timeoutMs);
    });
    try {
      const configMap = await Promise.race([this.api.readNamespacedConfigMap({ name: this.name, namespace: this.namespace }), timeout]);
      return configMap.data ?? {};
    } catch (error) {
      const code = statusCode(error);
      if (code === 404) return {};
      if (error instanceof OperationError) throw error;
      const detail = code === undefined ? errorMessage(error) : `HTTP ${code}`;
      throw new OperationError(`cannot read ${what} from the API server: ${detail}`, undefined, { cause: error });
    } finally {
      clearTimeout(timer);
    }
  }
}
