/**
 * One source for host paths: every path the bootstrap scripts use comes from the settings file the TypeScript
 * writes (host.env, from userdata/paths.ts). The fixed points a script needs before it has any setting: lib.sh's
 * own location (every script sources it), host.env's folder in lib.sh, and host.env itself in bootstrap.sh.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { scriptFiles } from '../userdata/script-files';
import { HOST_ENV_FILE, LIB_SH } from '../userdata/paths';
import { shippedNames, synthEnvironment } from './support/synth';

const HOST_PATH = /\/(?:etc|opt|srv|usr\/local\/lib|usr\/local\/sbin|var\/(?:lib|log|cache))\/weebeetalk[\w./-]*/g;

/** The literal lines a script may keep (the fixed points), by script file name. */
const FIXED: Record<string, RegExp[]> = {
  'lib.sh': [/^WBT_ETC=\/etc\/weebeetalk$/],
  'bootstrap.sh': [new RegExp(`^\\. ${HOST_ENV_FILE.replace(/\//g, '\\/')}$`)],
};
const SOURCES_LIB = new RegExp(`^\\. ${LIB_SH.replace(/\//g, '\\/')}$`);

/** Lines of a script that run (not comments, not the fixed points), with their numbers. */
function codeLines(file: string): { line: string; n: number }[] {
  const name = basename(file);
  return readFileSync(file, 'utf8')
    .split('\n')
    .map((line, i) => ({ line, n: i + 1 }))
    .filter(({ line }) => !line.trimStart().startsWith('#') && !SOURCES_LIB.test(line) && !(FIXED[name] ?? []).some((re) => re.test(line)));
}

/** The host.env paths in a synthesized plan (every host's): name to value. */
function envOf(plan: string): Map<string, string> {
  const vars = new Map<string, string>();
  for (const m of plan.matchAll(/\b([A-Z][A-Z0-9_]*)=\\?"(\/[^"\\]*)\\?"/g)) vars.set(m[1], m[2]);
  return vars;
}

/**
 * `${VAR}/name` in a script where VAR is a host.env path (or a local copy of one, `etc=$WBT_RC_ETC`) and the path it
 * makes is one the TypeScript also types (it appears in a synthesized plan): the same path in both languages.
 */
const COMPOSED = /\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?((?:\/[\w.-]+)+)/g;
const ALIAS = /^\s*(?:local\s+)?([a-z_][a-z0-9_]*)="?\$\{?([A-Z][A-Z0-9_]*)\}?"?$/;
/** Our unit names, a helper's file name, certbot's hook: typed by the TypeScript, read from host.env by a script. */
const OURS = /\bweebeetalk-[\w.-]+/g;
/** Names only the shell knows: the marker jibri's finalize.sh (in the container, without host.env) leaves for the uploader. */
const SHELL_ONLY = new Set(['weebeetalk-complete']);

describe('host paths', () => {
  it('no script types a host path, besides its fixed points', () => {
    const typed: string[] = [];
    for (const file of scriptFiles()) {
      const name = basename(file);
      readFileSync(file, 'utf8')
        .split('\n')
        .forEach((line, i) => {
          if (line.trimStart().startsWith('#') || SOURCES_LIB.test(line) || (FIXED[name] ?? []).some((re) => re.test(line))) return;
          for (const m of line.matchAll(HOST_PATH)) typed.push(`${name}:${i + 1}: ${m[0]}`);
        });
    }
    expect(typed).toEqual([]);
  });

  it('no script composes a path the TypeScript types (`${VAR}/literal`)', () => {
    const plans = shippedNames().map((env) => synthEnvironment(env).text);
    const envs = plans.map(envOf);
    const typed: string[] = [];
    for (const file of scriptFiles()) {
      const alias = new Map<string, string>();
      for (const { line, n } of codeLines(file)) {
        const a = ALIAS.exec(line);
        if (a) alias.set(a[1], a[2]);
        for (const m of line.matchAll(COMPOSED)) {
          const name = alias.get(m[1]) ?? m[1];
          for (const [i, vars] of envs.entries()) {
            const base = vars.get(name);
            if (base === undefined) continue;
            const path = `${base}${m[2]}`;
            if (new RegExp(`${path.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}(?![\\w.-])`).test(plans[i])) {
              typed.push(`${basename(file)}:${n}: ${m[0]} (${path})`);
              break;
            }
          }
        }
      }
    }
    expect(typed).toEqual([]);
  });

  it('no script types one of our unit, helper or hook names', () => {
    const typed = scriptFiles().flatMap((file) =>
      codeLines(file).flatMap(({ line, n }) =>
        [...line.matchAll(OURS)]
          .map((m) => m[0])
          .filter((word) => !SHELL_ONLY.has(word))
          .map((word) => `${basename(file)}:${n}: ${word}`),
      ),
    );
    expect(typed).toEqual([]);
  });

  it.each(shippedNames())('%s: every WBT_ setting a script reads is in host.env (lib.sh sets WBT_ETC itself)', (env) => {
    const plan = synthEnvironment(env).text;
    const read = new Set(scriptFiles().flatMap((f) => [...readFileSync(f, 'utf8').matchAll(/\bWBT_[A-Z_]+/g)].map((m) => m[0])));
    read.delete('WBT_ETC');
    expect(read.size).toBeGreaterThan(10);
    expect([...read].filter((name) => !plan.includes(`${name}=`))).toEqual([]);
  });
});
