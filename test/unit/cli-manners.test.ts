/**
 * kubectl-plugin manners of the CLI: a reader that goes away, --version, the plugin name in help,
 * SIGTERM handled like Ctrl-C, and shell completion. Child-process tests run the built launcher
 * (bin/bgswitch.js over dist/, as `npm test` builds it) with a real pipe.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { onFirstStopSignal, type StopSignal } from '../../src/cli/signals.js';
import { runCli } from '../support/capture-io.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const launcher = join(root, 'bin', 'bgswitch.js');
const dir = mkdtempSync(join(tmpdir(), 'bgswitch-cli-manners-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the launcher with its stdout pipe closed by the reader before anything is written. */
function runWithClosedReader(args: string[]): Promise<{ code: number | null; signal: string | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [launcher, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1' },
    });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stderr }));
  });
}

describe('a reader that goes away', () => {
  it('`switch --help | head` (stdout closed before the help is written) ends quietly with exit 0', async () => {
    const result = await runWithClosedReader(['switch', '--help']);
    assert.equal(result.stderr, '', 'no stack trace, no message');
    assert.deepEqual([result.code, result.signal], [0, null]);
  });

  it('a long output into a closed pipe (the bash completion script) ends quietly with exit 0', async () => {
    const result = await runWithClosedReader(['completion', 'bash']);
    assert.equal(result.stderr, '');
    assert.equal(result.code, 0);
  });

  it('a stdout closed before the start (`>&-`) is no error either', () => {
    const run = (args: string) =>
      spawnSync('bash', ['-c', `"${process.execPath}" "${launcher}" ${args} >&-; echo "exit $?" >&2`], { encoding: 'utf8' }).stderr;
    assert.equal(run('switch --help'), 'exit 0\n');
    assert.equal(run('switch purple'), 'error: unknown colour "purple"\nhint: use blue or green\nexit 2\n');
  });

  it('a usage error keeps its exit code when stdout is closed', async () => {
    const result = await runWithClosedReader(['switch', 'purple', '--kubeconfig', join(dir, 'missing')]);
    assert.match(result.stderr, /unknown colour "purple"/);
    assert.doesNotMatch(result.stderr, /EPIPE|at .*\.js/);
    assert.equal(result.code, 2);
  });
});

describe('--version', () => {
  it('-v is not the version (kubectl users read it as verbosity): a usage error with a hint', async () => {
    const result = await runCli(['-v']);
    assert.equal(result.code, 2);
    assert.equal(result.stdout, '');
    assert.match(result.stderr, /unknown option '-v'/);
    assert.match(result.stderr, /hint: --version prints the version/);
  });
});

describe('help names the CLI as it was invoked', () => {
  it('as kubectl-bgswitch, usage and examples say `kubectl bgswitch`', async () => {
    const result = await runCli(['switch', '--help'], {}, { argv1: '/usr/local/bin/kubectl-bgswitch' });
    assert.equal(result.code, 0);
    assert.match(result.stdout, /^Usage: kubectl bgswitch switch \[options\] <colour>/);
    assert.match(result.stdout, /^ {2}kubectl bgswitch switch green --dry-run$/m);
    assert.doesNotMatch(result.stdout, /^ {2}bgswitch /m);
  });

  it('as bgswitch, they say `bgswitch`', async () => {
    const result = await runCli(['init', '--help'], {}, { argv1: '/usr/local/bin/bgswitch' });
    assert.match(result.stdout, /^Usage: bgswitch init/);
    assert.match(result.stdout, /kubectl apply -k k8s\/overlays\/production && bgswitch init/);
  });

  it('the installed kubectl-bgswitch symlink to the launcher prints `kubectl bgswitch` help', () => {
    const link = join(dir, 'kubectl-bgswitch');
    symlinkSync(launcher, link);
    const help = execFileSync(process.execPath, [link, 'rollback', '--help'], { encoding: 'utf8' });
    assert.match(help, /^Usage: kubectl bgswitch rollback/);
    assert.match(help, /kubectl bgswitch rollback --to blue --yes/);
  });
});

describe('SIGTERM is handled like the first Ctrl-C', () => {
  it('calls the stop handler once, then leaves both signals to Node', async () => {
    const before = { SIGINT: process.listenerCount('SIGINT'), SIGTERM: process.listenerCount('SIGTERM') };
    const received: StopSignal[] = [];
    const stopped = new Promise<void>((resolve) => {
      onFirstStopSignal((signal) => {
        received.push(signal);
        resolve();
      });
    });
    assert.equal(process.listenerCount('SIGTERM'), before.SIGTERM + 1);
    // Signal watchers do not keep the event loop alive; this deadline does, and fails the test if nothing arrives.
    const deadline = setTimeout(() => assert.fail('no SIGTERM handler ran within 10s'), 10_000);
    process.kill(process.pid, 'SIGTERM');
    await stopped;
    clearTimeout(deadline);
    assert.deepEqual(received, ['SIGTERM']);
    assert.deepEqual(
      { SIGINT: process.listenerCount('SIGINT'), SIGTERM: process.listenerCount('SIGTERM') },
      before,
      'a second signal gets the default behaviour',
    );
  });
});

describe('bgswitch completion', () => {
  async function script(shell: string): Promise<string> {
    const result = await runCli(['completion', shell]);
    assert.equal(result.code, 0, result.stderr);
    return result.stdout;
  }

  /** Completes `words` (the last one being the word under the cursor) with the generated bash function. */
  function complete(bashScript: string, words: string[]): string[] {
    const file = join(dir, 'completion.bash');
    writeFileSync(file, bashScript);
    const quoted = words.map((word) => `'${word}'`).join(' ');
    const out = execFileSync(
      'bash',
      ['-c', `source '${file}'; COMP_WORDS=(${quoted}); COMP_CWORD=${words.length - 1}; _bgswitch; printf '%s\\n' "\${COMPREPLY[@]}"`],
      { encoding: 'utf8' },
    );
    return out.split('\n').filter((line) => line !== '');
  }

  it('bash accepts the script and it completes commands, flags and fixed values', async () => {
    const bash = await script('bash');
    execFileSync('bash', ['-n'], { input: bash });
    assert.match(bash, /complete -F _bgswitch bgswitch kubectl-bgswitch/);
    assert.deepEqual(complete(bash, ['bgswitch', '']).sort(), [
      '--help',
      '--version',
      'completion',
      'history',
      'init',
      'inject-fault',
      'rollback',
      'status',
      'switch',
    ]);
    assert.deepEqual(complete(bash, ['bgswitch', 'sw']), ['switch']);
    assert.deepEqual(complete(bash, ['bgswitch', 'switch', '']), ['blue', 'green']);
    assert.deepEqual(complete(bash, ['bgswitch', '-n', 'team-a', 'switch', 'g']), ['green'], 'a flag value is not taken for the command');
    assert.deepEqual(complete(bash, ['bgswitch', 'switch', '--drain']), ['--drain-timeout']);
    assert.deepEqual(complete(bash, ['bgswitch', 'status', '-o', '']), ['text', 'json', 'yaml']);
    assert.deepEqual(complete(bash, ['bgswitch', 'rollback', '--to', 'b']), ['blue']);
    assert.ok(complete(bash, ['bgswitch', 'status', '--as-']).includes('--as-group'));
  });

  it('zsh loads the bash completion through bashcompinit; fish gets its own complete lines', async () => {
    const zsh = await script('zsh');
    assert.match(zsh, /^#compdef bgswitch kubectl-bgswitch\n/);
    assert.match(zsh, /autoload -U \+X bashcompinit && bashcompinit/);
    execFileSync('bash', ['-n'], { input: zsh });
    const fish = await script('fish');
    assert.match(fish, /^complete -c bgswitch -n '__fish_use_subcommand' -a switch -d /m);
    assert.match(
      fish,
      /^complete -c kubectl-bgswitch -n '__fish_seen_subcommand_from status' -l output -s o -x -a 'text json yaml' -d 'output format'$/m,
    );
  });

  it('an unknown shell is a usage error', async () => {
    const result = await runCli(['completion', 'tcsh']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /no completion for shell "tcsh"/);
    assert.match(result.stderr, /hint: use one of bash, zsh, fish/);
  });
});
