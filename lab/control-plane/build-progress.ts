/**
 * How far a Kubernetes build (lab/control-plane/build.sh) has got, read from its log: build.sh
 * announces each command with its package total, then `go build -v` names each package it compiles
 * (packages already in Go's build cache are not named, so a warm build finishes below the total).
 */
const ANNOUNCE = /^build\.sh: building (\S+) \((\d+) packages\)$/;

export function kubeBuildProgress(log: string): string {
  const lines = log.split('\n').filter((line) => line.trim() !== '');
  const announced = lines.findLastIndex((line) => ANNOUNCE.test(line));
  if (announced === -1) {
    const said = lines.findLast((line) => line.startsWith('build.sh: '));
    return said === undefined ? 'starting' : said.slice('build.sh: '.length);
  }
  const [, command, total] = ANNOUNCE.exec(lines[announced] as string) as RegExpExecArray;
  // Package import paths: no spaces; everything else (errors, build.sh lines) has them.
  const compiled = lines.slice(announced + 1).filter((line) => !line.includes(' ')).length;
  return `${command}: ${compiled}/${total} packages compiled`;
}
