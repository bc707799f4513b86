/**
 * The reference consumer's configuration, read from its environment. Every problem is collected
 * into one UsageError, so a misconfigured container says everything at once; main.ts turns it into
 * one stderr line and exit code 2. Nothing here touches the file system or the network.
 */
import { UsageError } from '../src/shared/errors.js';
import { isColor, type Color } from '../src/shared/model.js';

export interface ConsumerConfig {
  port: number;
  host: string;
  podName: string;
  color: Color;
  messageIntervalMs: number;
  batchSize: number;
  /** Also append the transition log here. */
  transitionLogPath?: string;
}

type Env = Readonly<Record<string, string | undefined>>;

/** Reads the environment; an empty variable counts as unset. PORT wins over LIFECYCLE_PORT. */
export function parseConsumerEnv(env: Env, hostname: string): ConsumerConfig {
  const problems: string[] = [];
  const value = (name: string): string | undefined => env[name]?.trim() || undefined;
  const whole = (names: string[], fallback: number, range: [number, number]): number => {
    const name = names.find((candidate) => value(candidate) !== undefined);
    if (name === undefined) return fallback;
    const raw = value(name) as string;
    const parsed = /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
    if (!(parsed >= range[0] && parsed <= range[1])) problems.push(`${name} must be a whole number from ${range[0]} to ${range[1]}, got "${raw}"`);
    return parsed;
  };

  const color = value('MY_COLOR');
  if (!isColor(color)) problems.push(color === undefined ? 'MY_COLOR is required ("blue" or "green")' : `MY_COLOR must be "blue" or "green", got "${color}"`);
  const config: ConsumerConfig = {
    port: whole(['PORT', 'LIFECYCLE_PORT'], 8080, [0, 65535]),
    host: value('HOST') ?? '0.0.0.0',
    podName: value('MY_POD_NAME') ?? hostname,
    color: color as Color,
    messageIntervalMs: whole(['MESSAGE_INTERVAL_MS'], 20, [1, 3_600_000]),
    batchSize: whole(['BATCH_SIZE'], 10, [1, 100_000]),
  };
  const transitionLogPath = value('TRANSITION_LOG_PATH');
  if (transitionLogPath !== undefined) config.transitionLogPath = transitionLogPath;
  if (problems.length > 0) throw new UsageError(`invalid consumer environment: ${problems.join('; ')}`);
  return config;
}
