/** Defaults every program agrees on, defined once: the CLI's flags, the pod agent, the daemons. */

/** The consumer's HTTP port: lifecycle, fault and readiness API (docs/consumer-contract.md). */
export const DEFAULT_LIFECYCLE_PORT = 8080;
/** The sidecar's HTTP port: status and signed pushes. */
export const DEFAULT_SIDECAR_PORT = 8082;
/** How long one call to a pod or to the API server may take (`--request-timeout`). */
export const DEFAULT_REQUEST_TIMEOUT_MS = 5_000;
