/**
 * Ctrl-C (SIGINT) and SIGTERM (what `kill`, Kubernetes and CI runners send) both mean "stop
 * safely". A command listens to the first one only: the listener is removed when it fires, so a
 * second signal gets Node's default behaviour and ends the process at once.
 */
const STOP_SIGNALS = ['SIGINT', 'SIGTERM'] as const;

export type StopSignal = (typeof STOP_SIGNALS)[number];

/** Calls `handler` on the first SIGINT or SIGTERM; returns a function that stops listening. */
export function onFirstStopSignal(handler: (signal: StopSignal) => void): () => void {
  const listeners = STOP_SIGNALS.map((signal) => {
    const listener = () => {
      stopListening();
      handler(signal);
    };
    process.on(signal, listener);
    return [signal, listener] as const;
  });
  const stopListening = () => {
    for (const [signal, listener] of listeners) process.removeListener(signal, listener);
  };
  return stopListening;
}
