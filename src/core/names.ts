import type { ObjectNames } from './ports.js';

/** The default object names; every one can be changed by a flag or an environment variable (README, Configuration). */
export const DEFAULT_NAMES: ObjectNames = {
  namespace: 'kafka-bg-test',
  activeConfigMap: 'kafka-consumer-active-version',
  stateConfigMap: 'kafka-consumer-state',
  lease: 'bg-consumer-active-lease',
  services: { blue: 'consumer-blue-svc', green: 'consumer-green-svc' },
  pushKeySecret: 'bgswitch-push-key',
};
