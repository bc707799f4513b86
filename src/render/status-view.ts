/** `status`: a header, one row per pod, then every problem in words with what to run next. */
import type { GroupView } from '../core/kafka-group.js';
import type { StatusView } from '../core/status.js';
import { isNoFault, type Fault } from '../shared/model.js';
import type { Style } from './style.js';
import { formatDuration, paintState, table } from './text.js';

export function describeFault(fault: Fault | undefined): string {
  if (!fault) return '-';
  if (isNoFault(fault)) return 'none';
  const parts: string[] = [];
  if (fault.processingDelayMs) parts.push(`delay=${fault.processingDelayMs}`);
  if (fault.errorRatePercent) parts.push(`error-rate=${fault.errorRatePercent}`);
  if (fault.commitDelayMs) parts.push(`commit-delay=${fault.commitDelayMs}`);
  if (fault.pollTimeoutExceed) parts.push('poll-timeout=true');
  return parts.join(' ');
}

export function renderStatus(view: StatusView, header: { context: string; server: string }, style: Style): string {
  const lines: string[] = [];
  lines.push(`${style.bold('Context:')}    ${header.context} (${header.server})`);
  lines.push(`${style.bold('Namespace:')}  ${view.namespace}`);
  lines.push(
    `${style.bold('Active:')}     ${view.declaredActive ? paintColor(view.declaredActive, style) : style.yellow('none declared')}`,
  );
  const lease = view.lease;
  lines.push(
    `${style.bold('Lease:')}      ${lease.holder ?? 'no holder'}${lease.blocking && lease.expiresAt ? ` (switch lock, expires ${lease.expiresAt})` : ''}`,
  );
  lines.push(`${style.bold('Generation:')} ${view.generation}`);
  lines.push(`${style.bold('State keys:')} ${describeStateKeys(view.stateKeys)}`);
  const last = view.lastSwitch;
  lines.push(
    `${style.bold('Last switch:')} ${
      last
        ? `${last.from} -> ${last.to} ${last.outcome} by ${last.actor} at ${last.finishedAt} (${formatDuration(last.durationMs)})`
        : 'none recorded'
    }`,
  );
  lines.push(
    table(
      ['POD', 'COLOUR', 'READY', 'ACTUAL', 'DESIRED', 'KEY', 'GEN', 'SIDECAR', 'FAULT', 'LAST SEQ', 'RECEIVED', 'RESTARTS'],
      view.pods.map((p) => [
        p.name,
        paintColor(p.color, style),
        p.ready ? 'yes' : style.red('no'),
        paintState(p.actual, style),
        paintState(p.desired, style),
        p.desiredKey ? (p.desiredKey.kind === 'pod' ? 'pod' : 'colour') : '-',
        p.desiredGeneration === undefined ? '-' : String(p.desiredGeneration),
        !p.sidecar.reachable
          ? style.red('unreachable')
          : p.sidecar.pushKeyMounted === false
            ? style.yellow(`no key (gen ${p.sidecar.generation ?? '?'})`)
            : `ok (gen ${p.sidecar.generation ?? '?'})`,
        describeFault(p.fault),
        p.lastSequenceNumber === undefined ? '-' : String(p.lastSequenceNumber),
        p.totalMessagesReceived === undefined ? '-' : String(p.totalMessagesReceived),
        String(p.restarts),
      ]),
      style,
    ),
  );
  if (view.kafka)
    lines.push(
      ...('error' in view.kafka
        ? [`${style.bold('Kafka group:')} ${view.kafka.groupId} at ${view.kafka.bootstrap}: ${style.red('unreachable')}`]
        : renderGroup(view.kafka, style)),
    );
  if (view.problems.length === 0) lines.push(style.green('No problems.'));
  else {
    lines.push(style.red.bold(`${view.problems.length} problem${view.problems.length === 1 ? '' : 's'}:`));
    for (const problem of view.problems)
      lines.push(`  ${style.red('✗')} ${problem.message}${problem.hint ? style.dim(` — ${problem.hint}`) : ''}`);
  }
  return `${lines.join('\n')}\n`;
}

/** The consumer group: state and lag per colour, one row per member, one row per partition. */
export function renderGroup(group: GroupView, style: Style): string[] {
  const { lag } = group;
  const extra = [lag.unassigned > 0 ? `unassigned ${lag.unassigned}` : '', lag.unknown > 0 ? `unknown members ${lag.unknown}` : '']
    .filter(Boolean)
    .join(', ');
  const lines = [
    `${style.bold('Kafka group:')} ${group.groupId} at ${group.bootstrap}: ${group.state}, ${group.members.length} member${group.members.length === 1 ? '' : 's'}, ` +
      `lag ${lag.total} (blue ${lag.blue}, green ${lag.green}${extra ? `, ${extra}` : ''})`,
  ];
  if (group.members.length > 0) {
    lines.push(
      table(
        ['MEMBER', 'COLOUR', 'LIFECYCLE', 'CLIENT ID', 'HOST', 'PARTITIONS'],
        group.members.map((m) => [
          m.pod ?? style.yellow('unknown'),
          m.color ? paintColor(m.color, style) : '-',
          m.podState ? paintState(m.podState, style) : '-',
          m.clientId,
          m.host,
          m.assignments.map((a) => `${a.topic} ${a.partitions.join(', ')}`).join('; ') || '-',
        ]),
        style,
      ),
    );
  }
  if (group.partitions.length > 0) {
    lines.push(
      table(
        ['TOPIC', 'PARTITION', 'HELD BY', 'COMMITTED', 'END', 'LAG'],
        group.partitions.map((p) => [
          p.topic,
          String(p.partition),
          p.owner === undefined ? style.yellow('unassigned') : p.pod ? `${p.pod} (${paintColor(p.color!, style)})` : 'unknown member',
          p.committed === undefined ? '-' : String(p.committed),
          String(p.end),
          String(p.lag),
        ]),
        style,
      ),
    );
  }
  return lines;
}

function describeStateKeys(stateKeys: StatusView['stateKeys']): string {
  const keys = stateKeys.mode === 'color' ? 'colour keys (blue, green)' : 'pod keys';
  if (stateKeys.origin === 'detected') return `${keys}, detected: pods owned by a ReplicaSet`;
  if (stateKeys.origin === 'default') return `${keys} (default)`;
  return `${keys}, set by \`bgswitch init\``;
}

function paintColor(color: string, style: Style): string {
  return color === 'blue' ? style.blue(color) : style.green(color);
}
