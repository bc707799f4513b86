/** The switch's dry-run plan and the leftovers of a failed switch, in words (the SwitchWording port). */
import { COLORS } from '../shared/model.js';
import { describeStates, mayBeConsuming } from '../core/fleet.js';
import type { SwitchLeftovers, SwitchPlan, SwitchWording } from '../core/ports.js';

function plan(p: SwitchPlan): string[] {
  const pods = (color: keyof SwitchPlan['pods']) => p.pods[color].join(', ');
  const lagTrigger = p.maxLag !== undefined && p.kafka ? ` (roll back if the lag keeps growing beyond ${p.maxLag})` : '';
  const soak = p.soakMs > 0 ? `; then soak ${p.soakMs / 1000}s${lagTrigger}` : '';
  const partitions = p.kafka
    ? ` and every partition of ${p.kafka.topics.length > 0 ? p.kafka.topics.join(', ') : 'the group'} is assigned to a ${p.to} pod`
    : '';
  return [
    `take Lease ${p.names.lease} as ${p.holder} (${Math.round(p.leaseDurationMs / 1000)}s, renewed)`,
    `write ConfigMap ${p.names.stateConfigMap}: every pod PAUSED, generation ${p.nextGeneration}, operation recorded`,
    `pause ${p.from}: ${pods(p.from) || 'no pods'} (lifecycle call + signed sidecar push)`,
    `wait up to ${p.drainTimeoutMs / 1000}s until every ${p.from} pod is PAUSED${p.kafka ? ` and none is left in consumer group ${p.kafka.groupId}` : ''}, else roll back`,
    `write ConfigMap ${p.names.stateConfigMap}: ${p.to} ACTIVE, generation ${p.nextGeneration + 1}`,
    `resume ${p.to}: ${pods(p.to)} (lifecycle call + signed sidecar push)`,
    `wait up to ${p.verifyTimeoutMs / 1000}s until every ${p.to} pod is ACTIVE and ready${partitions}, else roll back${soak}`,
    `write ConfigMap ${p.names.activeConfigMap}: active=${p.to} + history; Event; Lease holder ${p.to}`,
  ];
}

function leftovers(l: SwitchLeftovers): string[] {
  switch (l.kind) {
    case 'nothing-changed':
      return ['nothing was changed'];
    case 'unrecorded':
      return [`could not record the outcome: ${l.error}; run \`bgswitch status\` once the cluster answers`];
    case 'fleet': {
      const lines = COLORS.map((color) => `${color}: ${describeStates(l.observations.filter((o) => o.pod.color === color)) || 'no pods'}`);
      const consuming = l.observations.filter(mayBeConsuming);
      lines.push(
        consuming.length === 0
          ? 'nothing is consuming; desired state is PAUSED for every pod'
          : `possibly consuming: ${consuming.map((o) => o.pod.name).join(', ')}`,
      );
      lines.push(`next: fix the cause, then \`bgswitch switch ${l.retry[0]}\` (or ${l.retry[1]})`);
      return lines;
    }
    case 'unobserved': {
      const lastSeen = l.lastSeen.map(([pod, state]) => `${pod} ${state}`).join(', ');
      return [
        `could not observe the fleet: ${l.error}`,
        ...(lastSeen ? [`last seen: ${lastSeen}`] : []),
        'desired state in the ConfigMap may say PAUSED for every pod; run `bgswitch status` once the cluster answers',
      ];
    }
  }
}

export const switchWording: SwitchWording = { plan, leftovers };
