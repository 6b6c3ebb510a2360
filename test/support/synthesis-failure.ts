/**
 * The one block the entry point prints when synthesis of an environment folder fails (an error annotation, e.g. the
 * audit gate): what an operator sees from `cdktf synth`. Throws when synthesis passes or fails otherwise.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'cdktf';
import { formatFailure, SynthesisError, synthesizeOrFail } from '../../config/entry';
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
