/**
 * Structured JSON logs: one object per line (`time`, `level`, `msg`, then fields). The sink is
 * injected, so library code never prints by itself; main.ts passes stdout. Callers must never pass
 * secrets (the push key, signatures) as fields — nothing here can tell a secret apart.
 */

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Record<string, unknown>;

export interface Logger {
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

export function createJsonLogger(writeLine: (line: string) => void, now: () => number = Date.now): Logger {
  const emit = (level: LogLevel, msg: string, fields: LogFields = {}): void => {
    writeLine(JSON.stringify({ time: new Date(now()).toISOString(), level, msg, ...fields }));
  };
  return {
    info: (msg, fields) => emit('info', msg, fields),
    warn: (msg, fields) => emit('warn', msg, fields),
    error: (msg, fields) => emit('error', msg, fields),
  };
}
