/** The shell scripts of the hosts, as files of this repository: userdata/scripts (every host's) and userdata/<role>/scripts. */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';

/** The steps and helpers every host runs (lib.sh, bootstrap.sh, apply.sh, ...); a role's own are in userdata/<role>/scripts. */
export const SCRIPTS_DIR = join(__dirname, 'scripts');

/** Every script folder: the common one, then each role's (userdata/<role>/scripts). */
export function scriptDirs(): string[] {
  const roles = readdirSync(__dirname, { withFileTypes: true }).filter((d) => d.isDirectory() && existsSync(join(__dirname, d.name, 'scripts')));
  return [SCRIPTS_DIR, ...roles.map((d) => join(__dirname, d.name, 'scripts'))];
}

/** Every script file (absolute paths): what the tests shellcheck. Listed once per process. */
export function scriptFiles(): string[] {
  scriptFilesCache ??= scriptDirs().flatMap((dir) =>
    readdirSync(dir)
      .filter((f) => f.endsWith('.sh'))
      .map((f) => join(dir, f)),
  );
  return [...scriptFilesCache];
}
let scriptFilesCache: string[] | undefined;

/** The file of a step or helper by name (without .sh), common or a role's; a name is one file only. */
export function scriptPath(name: string): string {
  const found = scriptFiles().filter((f) => basename(f) === `${name}.sh`);
  if (found.length !== 1) throw new Error(`script ${name}.sh: ${found.length === 0 ? 'in no script folder' : `in several: ${found.join(', ')}`}`);
  return found[0];
}

const scriptTexts = new Map<string, string>();

export function readScript(name: string): string {
  let text = scriptTexts.get(name);
  if (text === undefined) scriptTexts.set(name, (text = readFileSync(scriptPath(name), 'utf8')));
  return text;
}
