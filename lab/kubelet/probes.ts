/**
 * Readiness and liveness probing as the kubelet does it: httpGet (any status 200-399 succeeds) or
 * tcpSocket, sent from the host to the pod IP, every `periodSeconds` after `initialDelaySeconds`,
 * each attempt bounded by `timeoutSeconds`; the result flips only after `successThreshold`
 * consecutive successes or `failureThreshold` consecutive failures.
 *
 * Not supported: exec and grpc probes (`isSupportedProbe` says so; the kubelet logs and ignores them).
 */
import type { IntOrString, V1ContainerPort, V1Probe } from '@kubernetes/client-node';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';

export function isSupportedProbe(probe: V1Probe): boolean {
  return probe.httpGet !== undefined || probe.tcpSocket !== undefined;
}

/** One attempt; resolves true on success, false on any failure (never rejects). */
export function probeOnce(probe: V1Probe, podIp: string, ports: V1ContainerPort[]): Promise<boolean> {
  const timeoutMs = (probe.timeoutSeconds ?? 1) * 1000;
  if (probe.httpGet !== undefined) {
    const get = probe.httpGet;
    const headers = Object.fromEntries((get.httpHeaders ?? []).map((header) => [header.name, header.value]));
    const send = get.scheme === 'HTTPS' ? httpsRequest : httpRequest;
    return new Promise((resolve) => {
      const req = send(
        {
          host: get.host ?? podIp,
          port: resolvePort(get.port, ports),
          path: get.path ?? '/',
          method: 'GET',
          headers: { 'User-Agent': 'kube-probe/lab', ...headers },
          timeout: timeoutMs,
          rejectUnauthorized: false, // the kubelet does not verify probe certificates either
        },
        (res) => {
          res.resume();
          const status = res.statusCode ?? 0;
          resolve(status >= 200 && status < 400);
        },
      );
      req.on('timeout', () => req.destroy(new Error('probe timed out')));
      req.on('error', () => resolve(false));
      req.end();
    });
  }
  if (probe.tcpSocket !== undefined) {
    const socketProbe = probe.tcpSocket;
    return new Promise((resolve) => {
      const socket = connect({ host: socketProbe.host ?? podIp, port: resolvePort(socketProbe.port, ports), timeout: timeoutMs });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('timeout', () => socket.destroy(new Error('probe timed out')));
      socket.once('error', () => resolve(false));
    });
  }
  return Promise.resolve(true);
}

function resolvePort(port: IntOrString, ports: V1ContainerPort[]): number {
  if (typeof port === 'number') return port;
  const named = ports.find((candidate) => candidate.name === port);
  return named?.containerPort ?? Number(port);
}

/**
 * Probes repeatedly and reports each change of the thresholded result. `initial` is the result
 * before the first probe (readiness: false; liveness: true).
 */
export class ProbeLoop {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private healthy: boolean;
  private consecutiveSuccesses = 0;
  private consecutiveFailures = 0;

  constructor(
    private readonly probe: V1Probe,
    private readonly podIp: string,
    private readonly ports: V1ContainerPort[],
    initial: boolean,
    private readonly onChange: (healthy: boolean) => void,
  ) {
    this.healthy = initial;
    this.schedule((probe.initialDelaySeconds ?? 0) * 1000);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private schedule(delayMs: number): void {
    this.timer = setTimeout(() => void this.tick(), delayMs);
  }

  private async tick(): Promise<void> {
    const ok = await probeOnce(this.probe, this.podIp, this.ports);
    if (this.stopped) return;
    this.consecutiveSuccesses = ok ? this.consecutiveSuccesses + 1 : 0;
    this.consecutiveFailures = ok ? 0 : this.consecutiveFailures + 1;
    if (!this.healthy && this.consecutiveSuccesses >= (this.probe.successThreshold ?? 1)) this.flip(true);
    if (this.healthy && this.consecutiveFailures >= (this.probe.failureThreshold ?? 3)) this.flip(false);
    if (!this.stopped) this.schedule((this.probe.periodSeconds ?? 10) * 1000);
  }

  private flip(healthy: boolean): void {
    this.healthy = healthy;
    this.onChange(healthy);
  }
}
