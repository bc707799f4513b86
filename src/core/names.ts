import type { ObjectNames } from './ports.js';

/** The default names of design section 2; every one can be changed by a flag or a seed variable. */
export const DEFAULT_NAMES: ObjectNames = {
  namespace: 'kafka-bg-test',
  activeConfigMap: 'kafka-consumer-active-version',
  stateConfigMap: 'kafka-consumer-state',
  lease: 'bg-consumer-active-lease',
  services: { blue: 'consumer-blue-svc', green: 'consumer-green-svc' },
  pushKeySecret: 'bgswitch-push-key',
};
