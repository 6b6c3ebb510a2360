/**
 * `npm run audit -- [--env staging] [--format table|markdown|json] [--out cdktf.out] [--diff other/cdktf.out]`
 * Security-group matrix and policy checks of every environment (see --help). Exit 0 clean, 1 on any violation,
 * 2 on a usage or input error. Tests drive runAudit() in-process.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { App } from 'cdktf';
import { formatFailure, runEntryPoint } from '../config/entry';
import { loadEnvironments } from '../config/files';
import type { EnvironmentConfig } from '../config/schema';
import { diffExposure } from '../constructs/audit/diff';
import type { Json } from '../constructs/audit/plan';
import { auditStack, type StackAudit } from '../constructs/audit/stack-audit';
import { FORMATS, render, violationCount, type Format, type Report } from '../constructs/audit/report';
import { buildApp, APP_OPTIONS } from '../main';

const USAGE = `Usage: npx tsx scripts/audit.ts [options]   (npm run audit -- [options])

Prints, per environment and host, every security-group rule with its verdict under the audit policy
(constructs/audit/policy.ts), and the IMDSv2, encryption, user-data and bucket checks.

Options:
  --env NAME         audit one environment (default: all)
  --format FORMAT    table (default), markdown (pull-request comment) or json
  --out DIR          read a synthesis (cdk.tf.json per stack) from DIR; without it the app is synthesized
                     in-process into a temporary directory, so the audit always sees the current code
  --diff DIR         also show exposure opened and closed compared with the synthesis in DIR
  -h, --help         this text

Exit status: 0 no violation, 1 at least one violation, 2 usage or input error.
`;

export interface AuditRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

class UsageError extends Error {}

/** Stack name -> synthesized JSON, from a cdktf output directory (manifest.json, else stacks/<name>/cdk.tf.json). */
export function readSynthesis(dir: string): Map<string, Json> {
  if (!existsSync(dir)) throw new UsageError(`${dir} does not exist: run \`cdktf synth\` first, or leave out --out to synthesize in-process`);
  const stacks = new Map<string, Json>();
  const manifestFile = join(dir, 'manifest.json');
  const manifest = existsSync(manifestFile) ? (JSON.parse(readFileSync(manifestFile, 'utf8')) as Json) : undefined;
  const listed = manifest && typeof manifest === 'object' && !Array.isArray(manifest) ? manifest.stacks : undefined;
  const paths: [string, string][] =
    listed && typeof listed === 'object' && !Array.isArray(listed)
      ? Object.entries(listed).flatMap(([name, s]): [string, string][] => {
          const p = s && typeof s === 'object' && !Array.isArray(s) ? s.synthesizedStackPath : undefined;
          return typeof p === 'string' ? [[name, join(dir, p)]] : [];
        })
      : existsSync(join(dir, 'stacks'))
        ? readdirSync(join(dir, 'stacks')).map((name): [string, string] => [name, join(dir, 'stacks', name, 'cdk.tf.json')])
        : [];
  for (const [name, file] of paths) if (existsSync(file)) stacks.set(name, JSON.parse(readFileSync(file, 'utf8')) as Json);
  if (stacks.size === 0) throw new UsageError(`${dir} holds no synthesized stack (no cdk.tf.json)`);
  return stacks;
}

/** Synthesizes the app (main.ts) into a temporary directory, violations included, and reads it back. */
export function synthesizeInProcess(): Map<string, Json> {
  const outdir = mkdtempSync(join(tmpdir(), 'weebeetalk-audit-'));
  const key = 'CDKTF_CONTINUE_SYNTH_ON_ERROR_ANNOTATIONS';
  const before = process.env[key];
  // The gate would stop synthesis at the first violation; the report wants to show them all (the cdktf CLI does the same).
  process.env[key] = 'true';
  try {
    buildApp(new App({ ...APP_OPTIONS, outdir, stackTraces: false })).synth();
    return readSynthesis(outdir);
  } finally {
    if (before === undefined) delete process.env[key];
    else process.env[key] = before;
    rmSync(outdir, { recursive: true, force: true });
  }
}

function audit(stacks: Map<string, Json>, configs: Map<string, EnvironmentConfig>, only: string | undefined, where: string): StackAudit[] {
  if (only !== undefined && !stacks.has(only)) throw new UsageError(`no stack "${only}" in ${where}; stacks: ${[...stacks.keys()].join(', ')}`);
  const order = [...configs.keys()];
  return (
    [...stacks]
      .filter(([name]) => only === undefined || name === only)
      // In the order config/environments lists them (staging first), not the manifest's.
      .sort(([a], [b]) => (order.indexOf(a) + 1 || order.length + 1) - (order.indexOf(b) + 1 || order.length + 1) || a.localeCompare(b))
      .map(([name, tf]) => {
        const config = configs.get(name);
        if (!config) throw new UsageError(`stack "${name}" in ${where} has no environment in config/environments: the policy depends on it`);
        return auditStack(tf, config);
      })
  );
}

export function runAudit(argv: readonly string[]): AuditRun {
  try {
    const { values } = parseArgs({
      args: [...argv],
      options: {
        env: { type: 'string' },
        format: { type: 'string', default: 'table' },
        out: { type: 'string' },
        diff: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    });
    if (values.help) return { code: 0, stdout: USAGE, stderr: '' };
    const format = values.format as Format;
    if (!FORMATS.includes(format)) throw new UsageError(`--format must be one of ${FORMATS.join(', ')}, not "${values.format}"`);

    const configs = new Map(loadEnvironments().map((e) => [e.config.name, e.config]));
    const stacks = values.out !== undefined ? readSynthesis(values.out) : synthesizeInProcess();
    const source = values.out ?? 'in-process synthesis of main.ts';
    const audits = audit(stacks, configs, values.env, source);
    let diff: Report['diff'];
    if (values.diff !== undefined) {
      const other = readSynthesis(values.diff);
      // Only environments both syntheses hold, judged by today's configuration.
      const shared = new Map([...other].filter(([name]) => configs.has(name) && (values.env === undefined || name === values.env)));
      diff = {
        against: values.diff,
        ...diffExposure(
          audits.filter((a) => shared.has(a.environment)),
          audit(shared, configs, undefined, values.diff),
        ),
      };
    }
    const report: Report = { audits, source, diff };
    return { code: violationCount(report) > 0 ? 1 : 0, stdout: render(report, format), stderr: '' };
  } catch (e) {
    // A configuration mistake (an input error): the same one block as `cdktf synth` prints.
    const block = formatFailure(e);
    if (block !== undefined) return { code: 2, stdout: '', stderr: block };
    // Duck-typed: errors thrown by Node internals come from another realm under jest's VM.
    const err = typeof e === 'object' && e !== null ? (e as { message?: unknown; code?: unknown }) : {};
    const message = typeof err.message === 'string' ? err.message : String(e);
    const usage = e instanceof UsageError || String(err.code).startsWith('ERR_PARSE_ARGS');
    return { code: 2, stdout: '', stderr: `audit: ${message}\n${usage ? `\n${USAGE}` : ''}` };
  }
}

if (require.main === module)
  runEntryPoint('audit', () => {
    const run = runAudit(process.argv.slice(2));
    process.stdout.write(run.stdout);
    process.stderr.write(run.stderr);
    return run.code;
  });
