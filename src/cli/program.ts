/**
 * The command tree. Each command parses and prints; the work is in src/core. Command modules are
 * imported only when their command runs, so `bgswitch --help` loads commander alone.
 */
import { basename } from 'node:path';
import { Command, Option } from 'commander';
import type { CliIO } from '../render/io.js';
import { addKafkaOptions } from './kafka.js';
import { addClusterOptions } from './options.js';
import { packageVersion } from './version.js';

function exampleText(lines: string[]): string {
  return `\nExamples:\n${lines.map((line) => `  ${line}`).join('\n')}\n`;
}

function addSwitchOptions(command: Command): Command {
  return addKafkaOptions(addClusterOptions(command))
    .option('--max-lag <n>', 'with --soak and Kafka: roll back when the group lag keeps growing beyond n messages (default: off)')
    .option('--dry-run', 'print the plan (pods, steps, what would be written) and write nothing')
    .option('-y, --yes', 'do not ask for confirmation')
    .option('--force', 'switch even if the fleet is inconsistent (dual-active, unreachable pods); the old colour is still paused first')
    .option('--drain-timeout <duration>', 'how long the old colour may take to pause (env DRAIN_TIMEOUT_SECONDS; default 10s)')
    .option('--verify-timeout <duration>', 'how long the new colour may take to be ACTIVE and ready (default 30s)')
    .option('--soak <duration>', 'after the switch, how long the new colour must stay healthy before it counts (default 0)')
    .option(
      '--poll-interval <duration>',
      'longest interval between status polls; the first poll is at once (env HEALTH_CHECK_INTERVAL_MS; default 500ms)',
    )
    .option('--lease-duration <duration>', 'switch lock duration, renewed while working (default 15s)')
    .option('--pushgateway <url>', 'push the switch metrics to this Prometheus Pushgateway')
    .option('--metrics-file <path>', 'write the switch metrics in Prometheus text format to this file');
}

/** How help and examples name the CLI: `kubectl bgswitch` when kubectl runs it as the plugin `kubectl-bgswitch`. */
export function invokedName(argv: string[]): string {
  return /^kubectl-bgswitch(\.js)?$/.test(basename(argv[1] ?? '')) ? 'kubectl bgswitch' : 'bgswitch';
}

export function buildProgram(io: CliIO, bin = 'bgswitch'): { program: Command; exitCode: () => number } {
  let exitCode = 0;
  const set = (code: number) => {
    exitCode = code;
  };
  const examples = (lines: string[]) => exampleText(lines.map((line) => line.replace(/(^|[\s(])bgswitch(?= )/g, `$1${bin}`)));
  const program = new Command(bin)
    .description('Switch a Kafka consumer fleet on Kubernetes between blue and green with no moment of dual consumption.')
    .version(packageVersion(), '--version')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) })
    .showSuggestionAfterError()
    .addHelpText(
      'after',
      '\nExit codes: 0 done or no-op, 1 error, 2 usage, 3 refused by preflight, 4 failed and rolled back, 5 rollback failed.\n',
    );

  addSwitchOptions(program.command('switch').argument('<colour>', 'blue or green'))
    .description('Switch consumption to <colour>: pause the other colour, verify, then resume <colour>')
    .addHelpText(
      'after',
      examples([
        'bgswitch switch green',
        'bgswitch switch green --dry-run',
        'bgswitch switch blue --yes --drain-timeout 30s --soak 1m -o json',
      ]),
    )
    .action(async (color: string, flags) => set(await (await import('./switch.js')).switchCommand(color, flags, io)));

  addSwitchOptions(program.command('rollback'))
    .description('Switch back to the previous colour with the same protocol')
    .option('--to <colour>', 'the colour to go back to (default: the colour before the last switch)')
    .addHelpText('after', examples(['bgswitch rollback', 'bgswitch rollback --to blue --yes']))
    .action(async (flags) => set(await (await import('./rollback.js')).rollbackCommand(flags, io)));

  addKafkaOptions(addClusterOptions(program.command('status')))
    .description('Show every pod: colour, desired vs actual lifecycle, sidecar, fault, and the lock')
    .option('-w, --watch', 'redraw when something changes (Ctrl-C to stop)')
    .option('--interval <duration>', 'with --watch, how often to look (default 2s)')
    .option('--check', 'exit 3 when any problem is present')
    .addHelpText('after', examples(['bgswitch status', 'bgswitch status --watch', 'bgswitch status --check -o json']))
    .action(async (flags) => set(await (await import('./status.js')).statusCommand(flags, io)));

  addClusterOptions(
    program
      .command('inject-fault')
      .argument('<target>', 'a pod name, or blue / green for every pod of that colour')
      .argument('[settings...]', 'delay=<ms> error-rate=<0-100> commit-delay=<ms> poll-timeout=<true|false>'),
  )
    .description('Set (or --clear) consumer faults through the desired state and the sidecar, and confirm them on the consumer')
    .option('--clear', 'reset every fault to 0 / false')
    .option('--timeout <duration>', 'how long to wait for the consumer to confirm (default 10s)')
    .option('--dry-run', 'show what would be written and write nothing')
    .addHelpText(
      'after',
      examples([
        'bgswitch inject-fault consumer-green-0 delay=200',
        'bgswitch inject-fault green error-rate=50 poll-timeout=true',
        'bgswitch inject-fault consumer-green-0 --clear',
      ]),
    )
    .action(async (target: string, settings: string[], flags) =>
      set(await (await import('./inject-fault.js')).injectFaultCommand(target, settings, flags, io)),
    );

  addClusterOptions(program.command('history'))
    .description('Recent switches: when, who, from -> to, outcome, duration per phase')
    .addOption(new Option('--limit <n>', 'how many entries (default 10)'))
    .addHelpText('after', examples(['bgswitch history', 'bgswitch history --limit 3 -o yaml']))
    .action(async (flags) => set(await (await import('./history.js')).historyCommand(flags, io)));

  addKafkaOptions(addClusterOptions(program.command('init')), 'store')
    .description(
      'Create what the protocol needs and the manifests do not carry: state entries, the Lease, the push-key Secret (idempotent)',
    )
    .option('--dry-run', 'show what would be created and write nothing')
    .option('-y, --yes', 'accepted for symmetry; init never asks')
    .option('--color-keys', 'drive pods through the colour keys (Deployments, Argo Rollouts: random pod names); stored for every operator')
    .addOption(new Option('--colour-keys').hideHelp())
    .option('--pod-keys', 'drive pods through one key per pod (StatefulSets; the default unless pods are owned by a ReplicaSet); stored')
    .addHelpText(
      'after',
      examples([
        'kubectl apply -k k8s/overlays/production && bgswitch init',
        'kubectl apply -k k8s/overlays/deployment && bgswitch init --color-keys',
        'bgswitch init --dry-run',
        'bgswitch init --kafka-bootstrap kafka-0.kafka:9092 --kafka-group bg-consumer',
      ]),
    )
    .action(async (flags) => set(await (await import('./init.js')).initCommand(flags, io)));

  program
    .command('completion')
    .argument('<shell>', 'bash, zsh or fish')
    .description('Print a shell completion script for bgswitch and kubectl-bgswitch')
    .addHelpText(
      'after',
      examples([
        'source <(bgswitch completion bash)      # bash, e.g. in ~/.bashrc',
        'source <(bgswitch completion zsh)       # zsh, e.g. in ~/.zshrc',
        'bgswitch completion fish > ~/.config/fish/completions/bgswitch.fish',
      ]),
    )
    .action(async (shell: string) => set((await import('./completion.js')).completionCommand(program, shell, io)));

  return { program, exitCode: () => exitCode };
}
