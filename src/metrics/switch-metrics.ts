/**
 * The CLI's metrics (docs/operations.md, Metrics). A CLI run is too short to be scraped, so the metrics are
 * pushed to a Pushgateway and/or written to a file in Prometheus text format, when asked.
 */
import { writeFile } from 'node:fs/promises';
import { Counter, Gauge, Histogram, Pushgateway, Registry } from 'prom-client';
import type { SwitchReport } from '../core/switch.js';
import { OperationError } from '../shared/errors.js';
import { mayConsume } from '../shared/model.js';

export function switchRegistry(report: SwitchReport, namespace: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ namespace });
  const labels = { from: report.from, to: report.to };
  const attempted = report.outcome !== 'noop' && report.outcome !== 'dry-run';
  const duration = new Histogram({
    name: 'bg_switch_duration_seconds',
    help: 'Duration of a blue/green switch',
    labelNames: ['from', 'to', 'outcome'],
    buckets: [0.5, 1, 2, 5, 10, 20, 30, 60, 120],
    registers: [registry],
  });
  const total = new Counter({ name: 'bg_switch_total', help: 'Switches attempted', labelNames: ['from', 'to'], registers: [registry] });
  const success = new Counter({
    name: 'bg_switch_success_total',
    help: 'Switches that completed',
    labelNames: ['from', 'to'],
    registers: [registry],
  });
  const rollback = new Counter({
    name: 'bg_switch_rollback_total',
    help: 'Switches rolled back',
    labelNames: ['from', 'to'],
    registers: [registry],
  });
  const active = new Gauge({
    name: 'bg_switch_active_color',
    help: 'Active colour after the run (0 blue, 1 green)',
    registers: [registry],
  });
  if (report.kafka) {
    const handoff = new Gauge({
      name: 'bg_switch_kafka_handoff_seconds',
      help: 'From the old colour PAUSED to every partition assigned to the new colour',
      registers: [registry],
    });
    const lag = new Gauge({
      name: 'bg_switch_kafka_lag',
      help: 'Consumer group lag (messages) before and after the switch',
      labelNames: ['when'],
      registers: [registry],
    });
    if (report.kafka.handoffWaitMs !== undefined) handoff.set(report.kafka.handoffWaitMs / 1000);
    if (report.kafka.lagBefore !== undefined) lag.set({ when: 'before' }, report.kafka.lagBefore);
    if (report.kafka.lagAfter !== undefined) lag.set({ when: 'after' }, report.kafka.lagAfter);
  }
  const dual = new Gauge({
    name: 'bg_switch_dual_active_detected',
    help: '1 when both colours were seen consuming at once',
    registers: [registry],
  });
  if (attempted) {
    total.inc(labels);
    duration.observe({ ...labels, outcome: report.outcome }, report.durationMs / 1000);
    if (report.outcome === 'switched') success.inc(labels);
    if (report.outcome === 'rolled-back' || report.outcome === 'rollback-failed') rollback.inc(labels);
  } else {
    total.inc(labels, 0);
  }
  const activeColor =
    report.outcome === 'switched' || report.outcome === 'noop' ? report.to : report.outcome === 'rolled-back' ? report.from : undefined;
  if (activeColor) active.set(activeColor === 'green' ? 1 : 0);
  const consuming = (color: string) =>
    report.podsBefore.some((p) => p.color === color && p.state !== 'unreachable' && p.state !== 'not-running' && mayConsume(p.state));
  dual.set(consuming('blue') && consuming('green') ? 1 : 0);
  return registry;
}

export async function exportMetrics(
  registry: Registry,
  target: { pushgateway?: string; file?: string },
  namespace: string,
): Promise<string[]> {
  const done: string[] = [];
  if (target.file) {
    try {
      await writeFile(target.file, await registry.metrics());
    } catch (error) {
      throw new OperationError(`could not write metrics to ${target.file}: ${(error as Error).message}`, 'check the --metrics-file path');
    }
    done.push(`metrics written to ${target.file}`);
  }
  if (target.pushgateway) {
    const gateway = new Pushgateway(target.pushgateway, { timeout: 5000 }, registry);
    try {
      await gateway.pushAdd({ jobName: 'bgswitch', groupings: { namespace } });
    } catch (error) {
      throw new OperationError(
        `could not push metrics to ${target.pushgateway}: ${(error as Error).message}`,
        'check the --pushgateway URL; the switch itself is done',
      );
    }
    done.push(`metrics pushed to ${target.pushgateway}`);
  }
  return done;
}
