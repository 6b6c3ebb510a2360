/**
 * One source for host paths: every path the bootstrap scripts use comes from the settings file the TypeScript
 * writes (host.env, from userdata/paths.ts). The fixed points a script needs before it has any setting: lib.sh's
 * own location (every script sources it), host.env's folder in lib.sh, and host.env itself in bootstrap.sh.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { scriptFiles } from '../userdata/host-user-data';
import { HOST_ENV_FILE, LIB_SH } from '../userdata/paths';
import { shippedNames, synthEnvironment } from './support/synth';

const HOST_PATH = /\/(?:etc|opt|srv|usr\/local\/lib|usr\/local\/sbin|var\/(?:lib|log|cache))\/weebeetalk[\w./-]*/g;

/** The literal lines a script may keep (the fixed points), by script file name. */
const FIXED: Record<string, RegExp[]> = {
  'lib.sh': [/^WBT_ETC=\/etc\/weebeetalk$/],
  'bootstrap.sh': [new RegExp(`^\\. ${HOST_ENV_FILE.replace(/\//g, '\\/')}$`)],
};
const SOURCES_LIB = new RegExp(`^\\. ${LIB_SH.replace(/\//g, '\\/')}$`);

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

  it.each(shippedNames())('%s: every WBT_ setting a script reads is in host.env (lib.sh sets WBT_ETC itself)', (env) => {
    const plan = synthEnvironment(env).text;
    const read = new Set(scriptFiles().flatMap((f) => [...readFileSync(f, 'utf8').matchAll(/\bWBT_[A-Z_]+/g)].map((m) => m[0])));
    read.delete('WBT_ETC');
    expect(read.size).toBeGreaterThan(10);
    expect([...read].filter((name) => !plan.includes(`${name}=`))).toEqual([]);
  });
});
