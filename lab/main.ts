/**
 * `npm run lab -- up|down|status|build|produce|verify`: the lab cluster on this machine (design
 * section 8), its load generator and its verdict. The only place of the lab that prints; the work
 * lives in lab/control.ts and lab/kafka/.
 */
import { Argument, Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { BgswitchError, ExitCode } from '../src/shared/errors.js';
import { labBuild, labDown, labStatus, labUp, type LabOptions, type LabStatus } from './control.js';
import { FLEET_KINDS, labUseFleet, type FleetKind } from './fleet.js';
import {
  formatVerdict,
  parseProduceFlags,
  parseVerifyFlags,
  produceForeground,
  produceInBackground,
  stopBackgroundProduction,
  verify,
  type RawProduceFlags,
  type RawVerifyFlags,
} from './kafka/commands.js';
import { DEFAULT_K8S_VERSION, LAB_KAFKA_BOOTSTRAP, findRepoRoot, labPaths } from './paths.js';
import { StatusWriter } from './progress.js';

interface GlobalFlags {
  labDir?: string;
  k8sVersion: string;
  configmapSyncSeconds: number;
}

function positiveInteger(raw: string): number {
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) throw new InvalidArgumentError('must be a positive integer');
  return value;
}

// Long work (builds, installs) shows a status line: rewritten on a terminal, every 15 s otherwise.
const stdoutStatus = new StatusWriter(process.stdout);
const print = stdoutStatus.line;

function labOptions(program: Command): LabOptions {
  const flags = program.opts<GlobalFlags>();
  return {
    ...(flags.labDir === undefined ? {} : { labDir: flags.labDir }),
    k8sVersion: flags.k8sVersion,
    configMapSyncSeconds: flags.configmapSyncSeconds,
    report: print,
    progress: stdoutStatus.status,
  };
}

function fleetOptions(program: Command) {
  const flags = program.opts<GlobalFlags>();
  return { ...(flags.labDir === undefined ? {} : { labDir: flags.labDir }), k8sVersion: flags.k8sVersion, report: print };
}

const pathsOf = (program: Command) => labPaths(findRepoRoot(import.meta.url), program.opts<GlobalFlags>().labDir);

function printStatus(status: LabStatus): void {
  for (const component of status.components) {
    print(`${component.component.padEnd(24)} ${component.up ? `up (pid ${component.pid})` : 'down'}`);
  }
  print(`Kafka broker: ${LAB_KAFKA_BOOTSTRAP} (from the host and the pods)`);
  const api = status.apiServer.reachable ? `reachable, ${status.apiServer.version}` : `not reachable (${status.apiServer.error})`;
  print(`API server ${status.apiServerUrl}: ${api}`);
  print(`admin kubeconfig: ${status.paths.adminKubeconfig}`);
  if (!status.apiServer.reachable) return;
  if (status.pods.length === 0) {
    print('no pods in kafka-bg-test');
    return;
  }
  print(`${'POD'.padEnd(20)} ${'PHASE'.padEnd(10)} ${'READY'.padEnd(6)} IP`);
  for (const pod of status.pods) print(`${pod.name.padEnd(20)} ${pod.phase.padEnd(10)} ${String(pod.ready).padEnd(6)} ${pod.ip ?? '-'}`);
}

async function main(argv: string[]): Promise<void> {
  // `npm run lab -- status | head` closes stdout early; that is not an error.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
  });
  const program = new Command('lab')
    // Bad flags exit 2 (usage), like every other bad input; commander has printed why.
    .exitOverride()
    .description('A real Kubernetes control plane plus a lab kubelet on this machine, for bgswitch tests and demos (needs root)')
    .option('--lab-dir <dir>', 'where the lab keeps its state, certificates and logs (default: <repo>/.lab)')
    .option('--k8s-version <version>', 'kube-apiserver / kube-controller-manager version to build and run', DEFAULT_K8S_VERSION)
    .addOption(
      new Option('--configmap-sync-seconds <seconds>', 'how often the lab kubelet refreshes ConfigMap and Secret volumes')
        .default(60)
        .argParser(positiveInteger),
    );

  program
    .command('up')
    .description(
      'start (or repair) the lab, apply k8s/overlays/lab, initialise bgswitch and wait for every consumer pod to be Ready; idempotent',
    )
    .option('--control-plane-only', 'stop after applying k8s/: no kubelet, no bgswitch init, no pod wait')
    .addOption(
      new Option('--fleet <kind>', 'then run the consumers as this workload (see `lab fleet`)')
        .choices(FLEET_KINDS)
        .conflicts('controlPlaneOnly'),
    )
    .action(async (flags: { controlPlaneOnly?: boolean; fleet?: FleetKind }) => {
      const started = performance.now();
      const info = await labUp({ ...labOptions(program), scope: flags.controlPlaneOnly ? 'control-plane' : 'full' });
      if (flags.fleet) await labUseFleet(flags.fleet, fleetOptions(program));
      print(`lab up in ${((performance.now() - started) / 1000).toFixed(1)}s; API server ${info.apiServerUrl}`);
      print(`export KUBECONFIG=${info.paths.operatorKubeconfig}`);
      print('then: node bin/bgswitch.js status   (bgswitch reads KUBECONFIG; no kubectl needed)');
      print(`admin access: ${info.paths.adminKubeconfig}`);
    });

  program
    .command('fleet')
    .description(
      'replace the consumer fleet of the running lab: statefulset (k8s/overlays/lab, pod keys; what `up` applies) or deployment (k8s/overlays/lab-deployment, colour keys); then blue consumes',
    )
    .addArgument(new Argument('<kind>', 'statefulset or deployment').choices(FLEET_KINDS))
    .action(async (kind: FleetKind) => {
      const pods = await labUseFleet(kind, fleetOptions(program));
      print(`fleet ${kind}: ${pods.join(', ')}`);
    });

  program
    .command('build')
    .description('build (or find cached) kube-apiserver and kube-controller-manager; starts nothing')
    .action(async () => labBuild(labOptions(program)));

  program
    .command('down')
    .description('stop every lab process (kubelet first, so it stops the pods), remove the lab network and the cluster data; idempotent')
    .option('--purge', 'also delete the whole lab directory: certificates, kubeconfigs and logs')
    .action(async (flags: { purge?: boolean }) => {
      await labDown({ ...labOptions(program), purge: flags.purge === true });
      print('lab down');
    });

  program
    .command('status')
    .description('each lab process, the API server, and the pods in kafka-bg-test')
    .action(async () => printStatus(await labStatus(labOptions(program))));

  program
    .command('produce')
    .description(`write sequence-numbered messages (keys seq-<n>) at a steady rate to the lab broker; foreground unless --background`)
    .option('--rate <per-second>', 'messages per second (default 100)')
    .option('--count <n>', 'stop after n messages')
    .option('--duration <duration>', 'stop after this long (e.g. 60s, 2m); with --count, whichever comes first')
    .option('--topic <name>', 'the input topic (default bg-events)')
    .option('--bootstrap <host:port>', `the broker (default ${LAB_KAFKA_BOOTSTRAP})`)
    .option('--background', 'run detached (pid and log in the lab directory); returns once it started')
    .option('--stop', 'stop the background producer')
    .action(async (flags: RawProduceFlags) => {
      const request = parseProduceFlags(flags);
      const paths = pathsOf(program);
      if (request.action === 'stop') {
        print(await stopBackgroundProduction(paths));
        return;
      }
      if (request.background) {
        // The child gets the same flags, checked already, minus --background.
        const forwarded = Object.entries(flags).flatMap(([name, value]) =>
          name === 'background' || value === undefined ? [] : [`--${name}`, String(value)],
        );
        print(await produceInBackground(paths, forwarded));
        return;
      }
      await produceForeground(request.production, { stdout: process.stdout, stderr: process.stderr });
    });

  program
    .command('verify')
    .description(
      'read bg-events and bg-processed completely and account for every message; exit 0 only with 0 lost and 0 unexplained duplicates',
    )
    .option('-o, --output <format>', 'text or json', 'text')
    .option('--settle <duration>', 'first wait up to this long (polling) until every produced message has been processed')
    .option('--run-id <id>', 'judge only the messages of this lab produce run')
    .option('--bootstrap <host:port>', `the broker (default ${LAB_KAFKA_BOOTSTRAP})`)
    .option('--input-topic <name>', 'default bg-events')
    .option('--output-topic <name>', 'default bg-processed')
    .action(async (flags: RawVerifyFlags) => {
      const request = parseVerifyFlags(flags);
      const verdict = await verify(request, { stdout: process.stdout, stderr: process.stderr });
      print(request.json ? JSON.stringify(verdict, null, 2) : formatVerdict(verdict));
      if (!verdict.ok) {
        process.stderr.write(`lab verify: FAILED\n${verdict.reasons.map((reason) => `  - ${reason}`).join('\n')}\n`);
        process.exitCode = ExitCode.failure;
      }
    });

  try {
    await program.parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      process.exitCode = error.exitCode === 0 ? 0 : ExitCode.usage;
    } else if (error instanceof BgswitchError) {
      process.stderr.write(`lab: ${error.message}\n${error.hint ? `hint: ${error.hint}\n` : ''}`);
      process.exitCode = error.exitCode;
    } else {
      process.stderr.write(`lab: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exitCode = ExitCode.failure;
    }
  }
}

await main(process.argv);
