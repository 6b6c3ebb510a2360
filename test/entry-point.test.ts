/**
 * The real entry points, spawned as an operator runs them, print a configuration mistake as one block, once,
 * with no stack trace, and exit non-zero: `tsx main.ts` (what cdktf.json runs), `cdktf synth`, `npm run audit`.
 * Environments come from a temporary folder through WEEBEETALK_ENVIRONMENTS_DIR; nothing touches cdktf.out.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { environmentsDir, shipped, type EnvironmentsDir } from './support/environments-dir';

const ROOT = resolve(__dirname, '..');
const BIN = join(ROOT, 'node_modules', '.bin');

let envs: EnvironmentsDir;
let out: string;
beforeAll(() => {
  envs = environmentsDir({ staging: shipped('staging', { sip: { clientCidrs: ['198.51.100.7/24'] } }), production: shipped('production') });
  out = mkdtempSync(join(tmpdir(), 'weebeetalk-entry-'));
});
afterAll(() => {
  envs.remove();
  rmSync(out, { recursive: true, force: true });
});

const BLOCK = new RegExp(
  String.raw`Invalid configuration for environment "staging" \(\S*staging\.ts\):\n  - sip\.clientCidrs\.0 = "198\.51\.100\.7/24": has host bits set: write 198\.51\.100\.0/24\n`,
  'g',
);

function run(cmd: string, args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(join(BIN, cmd), args, {
    cwd: ROOT,
    env: { ...process.env, WEEBEETALK_ENVIRONMENTS_DIR: envs.dir, CHECKPOINT_DISABLE: '1', FORCE_COLOR: '0', NO_COLOR: '1' },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('tsx main.ts: the block on stderr, nothing else, exit 1', () => {
  const r = run('tsx', ['main.ts']);
  expect(r.stderr.match(BLOCK)).toHaveLength(1);
  expect(r.stderr.replace(BLOCK, '')).toBe('');
  expect(r.code).toBe(1);
});

test('tsx scripts/audit.ts: the same block, exit 2 (input error)', () => {
  const r = run('tsx', ['scripts/audit.ts']);
  expect(r.stderr.match(BLOCK)).toHaveLength(1);
  expect(r.stderr).not.toMatch(/^\s+at /m);
  expect(r.code).toBe(2);
});

test('cdktf synth: the block once, no stack trace, exit 1', () => {
  const r = run('cdktf', ['synth', '--output', out]);
  // eslint-disable-next-line no-control-regex
  const text = `${r.stdout}\n${r.stderr}`.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '');
  expect(text.match(BLOCK)).toHaveLength(1);
  expect(text).not.toMatch(/^\s+at /m);
  expect(text).not.toContain('ConfigError');
  expect(r.code).toBe(1);
}, 60_000);

test('synthesis needs no Terraform binary (a fresh Debian has none): the app synthesizes without one on PATH', () => {
  // PATH: node alone. cdktf's validations would otherwise run `terraform version` for every terraform_data resource
  // (production's architecture markers: the shipped production file alone, to keep the test short).
  const bin = mkdtempSync(join(tmpdir(), 'weebeetalk-no-terraform-'));
  const outdir = mkdtempSync(join(tmpdir(), 'weebeetalk-synth-'));
  const prodOnly = environmentsDir({ production: shipped('production') });
  try {
    symlinkSync(process.execPath, join(bin, 'node'));
    const r = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        '-e',
        `const { App } = require('cdktf'); const { APP_OPTIONS, buildApp } = require('./main'); buildApp(new App({ ...APP_OPTIONS, outdir: ${JSON.stringify(outdir)} })).synth();`,
      ],
      {
        cwd: ROOT,
        env: { PATH: bin, HOME: process.env.HOME ?? '/root', CHECKPOINT_DISABLE: '1', WEEBEETALK_ENVIRONMENTS_DIR: prodOnly.dir },
        encoding: 'utf8',
        timeout: 60_000,
      },
    );
    expect(spawnSync('terraform', ['version'], { env: { PATH: bin } }).error).toBeDefined();
    expect([r.status, r.stderr]).toEqual([0, expect.not.stringContaining('terraform')]);
    const plan = JSON.parse(readFileSync(join(outdir, 'stacks', 'production', 'cdk.tf.json'), 'utf8')) as { terraform: { required_version?: string } };
    // The version the plan needs is declared in it, for Terraform to check at init.
    expect(plan.terraform.required_version).toBe('>= 1.11.0');
  } finally {
    rmSync(bin, { recursive: true, force: true });
    rmSync(outdir, { recursive: true, force: true });
    prodOnly.remove();
  }
});
