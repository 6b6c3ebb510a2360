/**
 * A temporary folder of environment files, laid out like config/environments/ (an index.ts listing the files,
 * one `export default {...}` file per environment), for tests that go through the real entry point
 * (main.ts's buildApp, or `WEEBEETALK_ENVIRONMENTS_DIR` for a spawned `tsx main.ts` / `cdktf synth`).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { environments } from '../../config/environments';
import { merge } from '../../config/load';

/** A file's content: an object becomes `export default <object>;`, a string is written as it is. */
export type FileContent = Record<string, unknown> | string;

export interface EnvironmentsDir {
  readonly dir: string;
  remove(): void;
}

/** The shipped environment file of that name, with an override merged over it (arrays replace). */
export function shipped(name: 'staging' | 'production', override: Record<string, unknown> = {}): Record<string, unknown> {
  const file = environments.find((e) => e.name === name);
  if (!file) throw new Error(`no shipped environment ${name}`);
  return merge(file as unknown as Record<string, unknown>, override);
}

/**
 * Writes `files` (name without .ts -> content) and an index.ts listing `listed` (default: every file).
 * Remove it with remove(), also when the test fails (use try/finally or afterEach).
 */
export function environmentsDir(files: Record<string, FileContent>, listed: readonly string[] = Object.keys(files)): EnvironmentsDir {
  const dir = mkdtempSync(join(tmpdir(), 'weebeetalk-envs-'));
  writeFileSync(join(dir, 'index.ts'), `export const ENVIRONMENT_FILES = ${JSON.stringify(listed)};\n`);
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, `${name}.ts`), typeof content === 'string' ? content : `export default ${JSON.stringify(content, null, 2)};\n`);
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
