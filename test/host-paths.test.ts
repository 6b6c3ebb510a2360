/**
 * One source for host paths: every path the scripts use comes from the settings files the TypeScript writes
 * (host.env in user-data, config.env in the bundle; both from userdata/paths.ts). The fixed points a script needs
 * before it has any setting: lib.sh's and config-lib.sh's own locations (the scripts source them), host.env's
 * folder in lib.sh, and host.env itself in bootstrap.sh.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { HOST_LOGS } from '../config/metrics';
import { readScript, scriptFiles } from '../userdata/script-files';
import { enabledRoles } from '../config/schema';
import { CONFIG_LIB_SH, HOST_ENV_FILE, LIB_SH, pathEnv } from '../userdata/paths';
import { hostFiles, hostSettings } from './support/host-files';
import { shippedNames, synthEnvironment, type Synthesized } from './support/synth';

const HOST_PATH = /\/(?:etc|opt|srv|usr\/local\/lib|usr\/local\/sbin|var\/(?:lib|log|cache))\/weebeetalk[\w./-]*/g;

/** The literal lines a script may keep (the fixed points), by script file name. */
const FIXED: Record<string, RegExp[]> = {
  'lib.sh': [/^WBT_ETC=\/etc\/weebeetalk$/],
  'bootstrap.sh': [new RegExp(`^\\. ${HOST_ENV_FILE.replace(/\//g, '\\/')}$`)],
};
/**
 * Compositions a script may keep although the TypeScript types the same path: the stable bootstrap's own logs
 * (bootstrap.sh and apply.sh are the user-data: a new variable in host.env would replace every instance). The
 * CloudWatch agent ships them from config/metrics.ts HOST_LOGS; the test below holds the two to the same names.
 */
const COMPOSED_FIXED: Record<string, RegExp[]> = {
  'bootstrap.sh': [/^\$\{WBT_LOG_DIR\}\/bootstrap\.log$/],
  'apply.sh': [/^\$\{WBT_LOG_DIR\}\/(?:apply|bootstrap)\.log$/],
};
const escape = (path: string): string => path.replace(/[/.]/g, '\\$&');
/** Sourcing a library: at its installed path, or beside the script (asterisk-auth.sh, which the tests also run from the repository). */
const SOURCES_LIB = new RegExp(`^\\. (?:${escape(LIB_SH)}|${escape(CONFIG_LIB_SH)}|"\\$\\(dirname "\\$\\{BASH_SOURCE\\[0\\]\\}"\\)/(?:lib|config-lib)\\.sh")$`);

/** Lines of a script that run (not comments, not the fixed points), with their numbers. */
function codeLines(file: string): { line: string; n: number }[] {
  const name = basename(file);
  return readFileSync(file, 'utf8')
    .split('\n')
    .map((line, i) => ({ line, n: i + 1 }))
    .filter(({ line }) => !line.trimStart().startsWith('#') && !SOURCES_LIB.test(line) && !(FIXED[name] ?? []).some((re) => re.test(line)));
}

/** The paths in host.env and config.env of every host of a synthesized plan: name to value. */
function envOf(s: Synthesized): Map<string, string> {
  const vars = new Map<string, string>();
  for (const role of enabledRoles(s.config)) for (const [name, value] of Object.entries(hostSettings(s, role))) if (value.startsWith('/')) vars.set(name, value);
  return vars;
}

/** Everything a host of the plan is given, as text: its files' paths and contents (user-data and bundle). */
function hostText(s: Synthesized): string {
  return enabledRoles(s.config)
    .flatMap((role) => [...hostFiles(s, role).values()].flatMap((f) => [f.path, f.content]))
    .join('\n');
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
    const synths = shippedNames().map((env) => synthEnvironment(env));
    const plans = synths.map((synth) => `${synth.text}\n${hostText(synth)}`);
    const envs = synths.map(envOf);
    // Both files contribute: host.env's (WBT_LIB) and config.env's (WBT_RC_ETC) paths.
    for (const vars of envs) expect([vars.has('WBT_LIB'), vars.has('WBT_RC_ETC'), vars.has('WBT_ASTERISK_CONF')]).toEqual([true, true, true]);
    // The turn host's (production builds it): its paths are checked like the others'.
    expect(synths.map((synth, i) => [synth.config.name, envs[i].has('WBT_TURN_CONF_SOURCE'), envs[i].has('WBT_TURNSERVER_CONF')])).toEqual(
      synths.map((synth) => [synth.config.name, synth.config.turn.enabled, synth.config.turn.enabled]),
    );
    expect(synths.some((synth) => synth.config.turn.enabled)).toBe(true);
    const typed: string[] = [];
    for (const file of scriptFiles()) {
      const alias = new Map<string, string>();
      for (const { line, n } of codeLines(file)) {
        const a = ALIAS.exec(line);
        if (a) alias.set(a[1], a[2]);
        for (const m of line.matchAll(COMPOSED)) {
          if ((COMPOSED_FIXED[basename(file)] ?? []).some((re) => re.test(m[0]))) continue;
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

  it.each(shippedNames())("%s: every WBT_ setting a host's scripts read is in its host.env or config.env (lib.sh sets WBT_ETC itself)", (env) => {
    const s = synthEnvironment(env);
    const scripts = new Map(scriptFiles().map((f) => [readFileSync(f, 'utf8'), basename(f)]));
    // Set for one run by the script that starts another, not settings: the apply tool for the hook, configure.sh for the tool.
    const PASSED = { WBT_CHANGED: 'apply.sh', WBT_FIRST_APPLY: 'apply.sh', WBT_APPLY_LOCKED: 'configure.sh' };
    for (const [name, by] of Object.entries(PASSED))
      expect([
        name,
        new RegExp(`\\b${name}=`).test(
          readFileSync(
            scriptFiles().find((f) => basename(f) === by)!,
            'utf8',
          ),
        ),
      ]).toEqual([name, true]);
    // Settings only some hosts have, which the shared scripts read with a default (`${NAME:-}`) and nowhere else.
    const OPTIONAL = { WBT_POOL_GROUP: "a pool member's host.env (poolHostEnv): lib.sh reads its addresses from instance metadata when it is set" };
    for (const name of Object.keys(OPTIONAL))
      for (const file of scriptFiles()) {
        const text = readFileSync(file, 'utf8');
        const all = text.match(new RegExp(`\\b${name}\\b`, 'g')) ?? [];
        const optional = text.match(new RegExp(`\\$\\{${name}:-\\}`, 'g')) ?? [];
        const inComments = text.split('\n').filter((l) => l.trimStart().startsWith('#') && l.includes(name)).length;
        expect({ file: basename(file), name, bare: all.length - optional.length - inComments }).toEqual({ file: basename(file), name, bare: 0 });
      }
    let checked = 0;
    for (const role of enabledRoles(s.config)) {
      const settings = hostSettings(s, role);
      // Each host's own scripts against its own settings: a setting only another role has is missing here.
      const missing: string[] = [];
      for (const f of hostFiles(s, role).values()) {
        const script = scripts.get(f.content);
        if (script === undefined) continue;
        checked += 1;
        for (const m of f.content.matchAll(/\bWBT_[A-Z_]+/g)) if (m[0] !== 'WBT_ETC' && !(m[0] in PASSED) && !(m[0] in OPTIONAL) && !(m[0] in settings)) missing.push(`${script}: ${m[0]}`);
      }
      expect({ role, missing: [...new Set(missing)] }).toEqual({ role, missing: [] });
    }
    expect(checked).toBeGreaterThan(20);
  });

  it("the bootstrap's and the apply tool's logs are where the CloudWatch agent reads them", () => {
    const [bootstrap, apply] = [readScript('bootstrap'), readScript('apply')];
    expect(bootstrap).toContain('exec > >(tee -a "${WBT_LOG_DIR}/bootstrap.log") 2>&1');
    expect(apply).toContain('exec > >(tee -a "${WBT_LOG_DIR}/apply.log") 2>&1');
    expect([HOST_LOGS.bootstrap.file, HOST_LOGS.apply.file]).toEqual([`${pathEnv().WBT_LOG_DIR}/bootstrap.log`, `${pathEnv().WBT_LOG_DIR}/apply.log`]);
  });
});
