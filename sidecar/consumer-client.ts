/**
 * The consumer's HTTP contract (docs/consumer-contract.md) over node:http (keep-alive), with a timeout on
 * every call.
 * Responses are validated: a status without a valid `state`, or a fault without all four typed
 * fields, is an error, never guessed at. Failures throw PodUnreachableError.
 */
import { Agent } from 'node:http';
import { errorMessage, PodUnreachableError } from '../src/shared/errors.js';
import { isLifecycle, type Fault, type Lifecycle } from '../src/shared/model.js';
import { requestText } from './http-request.js';
import type { ConsumerPort } from './reconciler.js';

function field(body: unknown, name: string): unknown {
  return typeof body === 'object' && body !== null ? (body as Record<string, unknown>)[name] : undefined;
}

function numberField(body: unknown, name: string): number {
  const value = field(body, name);
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new Error(`field "${name}" is not a number`);
  return value;
}

export class HttpConsumerClient implements ConsumerPort {
  private readonly baseUrl: string;
  private readonly agent: Agent;

  constructor(
    baseUrl: string,
    private readonly pod: string,
    private readonly timeoutMs: number,
  ) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.agent = new Agent({ keepAlive: true });
  }

  async state(): Promise<Lifecycle> {
    return this.lifecycleField(await this.call('GET', '/lifecycle/status'), 'state');
  }

  async pause(): Promise<Lifecycle> {
    return this.lifecycleField(await this.call('POST', '/lifecycle/pause'), 'currentState');
  }

  async resume(): Promise<Lifecycle> {
    return this.lifecycleField(await this.call('POST', '/lifecycle/resume'), 'currentState');
  }

  async getFault(): Promise<Fault> {
    const body = await this.call('GET', '/fault');
    try {
      const pollTimeoutExceed = field(body, 'pollTimeoutExceed');
      if (typeof pollTimeoutExceed !== 'boolean') throw new Error('field "pollTimeoutExceed" is not a boolean');
      return {
        processingDelayMs: numberField(body, 'processingDelayMs'),
        errorRatePercent: numberField(body, 'errorRatePercent'),
        commitDelayMs: numberField(body, 'commitDelayMs'),
        pollTimeoutExceed,
      };
    } catch (error) {
      throw this.failure('GET /fault', `answered an unexpected body: ${errorMessage(error)}`);
    }
  }

  async setFault(fault: Fault): Promise<void> {
    await Promise.all([
      this.call('PUT', '/fault/processing-delay', { delayMs: fault.processingDelayMs }),
      this.call('PUT', '/fault/error-rate', { errorRatePercent: fault.errorRatePercent }),
      this.call('PUT', '/fault/commit-delay', { delayMs: fault.commitDelayMs }),
      this.call('PUT', '/fault/poll-timeout', { enabled: fault.pollTimeoutExceed }),
    ]);
  }

  async close(): Promise<void> {
    this.agent.destroy();
  }

  private lifecycleField(body: unknown, name: string): Lifecycle {
    const value = field(body, name);
    if (!isLifecycle(value)) throw this.failure('lifecycle API', `answered without a valid "${name}": ${JSON.stringify(body)}`);
    return value;
  }

  private failure(call: string, problem: string, cause?: unknown): PodUnreachableError {
    return new PodUnreachableError(this.pod, `consumer of ${this.pod}: ${call} ${problem}`, cause === undefined ? undefined : { cause });
  }

  private async call(method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown): Promise<unknown> {
    const call = `${method} ${path}`;
    let text: string;
    let statusCode: number;
    try {
      ({ statusCode, text } = await requestText(new URL(this.baseUrl + path), {
        method,
        agent: this.agent,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        timeoutMs: this.timeoutMs,
      }));
    } catch (error) {
      throw this.failure(call, `failed: ${errorMessage(error)}`, error);
    }
    if (statusCode < 200 || statusCode >= 300) throw this.failure(call, `answered HTTP ${statusCode}: ${text.slice(0, 200)}`);
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw this.failure(call, `answered non-JSON: ${text.slice(0, 200)}`);
    }
  }
}
