/**
 * The one block the entry point prints when an environment folder is refused: a configuration mistake (refusal) or a
 * synthesis error annotation such as the audit gate's (synthesisFailure). What an operator sees from `cdktf synth`;
 * each throws when the folder passes, or fails otherwise.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Testing } from 'cdktf';
import { formatFailure, SynthesisError, synthesizeOrFail } from '../../config/entry';
import { ConfigError, ConfigErrors } from '../../config/load';
import { buildApp, APP_OPTIONS } from '../../main';
import { environmentsDir, type FileContent } from './environments-dir';

export function synthesisFailure(files: Record<string, FileContent>, now: Date): string {
  const outdir = mkdtempSync(join(tmpdir(), 'weebeetalk-synthesis-'));
  const d = environmentsDir(files);
  try {
    let caught: unknown;
    try {
      synthesizeOrFail(() => buildApp(new App({ ...APP_OPTIONS, outdir, stackTraces: false }), { dir: d.dir, now }));
    } catch (e) {
      caught = e;
    }
    if (!(caught instanceof SynthesisError)) throw caught ?? new Error('accepted silently');
    return formatFailure(caught) ?? '';
  } finally {
    d.remove();
    rmSync(outdir, { recursive: true, force: true });
  }
}

/** The block of a configuration mistake (found before any stack is built); never a stack trace. */
export function refusal(files: Record<string, FileContent>, now: Date, listed?: readonly string[]): string {
  const d = environmentsDir(files, listed);
  try {
    let caught: unknown;
    try {
      buildApp(Testing.app(), { dir: d.dir, now });
    } catch (e) {
      caught = e;
    }
    if (caught === undefined) throw new Error(`accepted silently: ${JSON.stringify(files).slice(0, 300)}`);
    if (!(caught instanceof ConfigError || caught instanceof ConfigErrors)) throw caught;
    const block = formatFailure(caught);
    if (block === undefined) throw new Error('no block');
    if (/^\s+at /m.test(block)) throw new Error(`the block carries a stack trace:\n${block}`);
    return block;
  } finally {
    d.remove();
  }
}
