/**
 * Suites that need root (mount namespaces, loop devices, network namespaces, chroots). Without root they are
 * skipped with one clear line on stderr naming what did not run and why: never a silent pass.
 */
import { existsSync } from 'node:fs';

export const IS_ROOT = typeof process.getuid === 'function' && process.getuid() === 0;

/**
 * `describe` when the suite can run, `describe.skip` (with a line saying why) when it cannot.
 * @param what the suite's subject, e.g. "first boot of every host in a sandbox"
 * @param requires paths that `scripts/setup.sh` builds or installs (a chroot, a binary); missing ones skip too
 */
export function describeAsRoot(what: string, requires: readonly string[] = []): jest.Describe {
  if (!IS_ROOT) {
    process.stderr.write(`SKIPPED (needs root): ${what}. Run npm test as root (CI does) to run it.\n`);
    return describe.skip;
  }
  const missing = requires.filter((p) => !existsSync(p));
  if (missing.length > 0) {
    // As root, a missing prerequisite is a broken setup, not a reason to skip: fail loudly.
    return ((name: string, fn: () => void) =>
      describe(name, () => {
        it('has what scripts/setup.sh installs', () => {
          throw new Error(`${what} needs ${missing.join(', ')}: run scripts/setup.sh first`);
        });
        void fn;
      })) as unknown as jest.Describe;
  }
  return describe;
}
