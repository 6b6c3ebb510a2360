/**
 * `npm run bench`: the performance budgets, measured on this machine.
 *   - synthesizing every environment inside the app: under 1 s, peak RSS of that process, and each host's
 *     user-data size as EC2 counts it (gzip of the provider's MIME document; limit 16 KB) and its bundle's size;
 *   - `npm test` (type-check, jest with the external validators): under 60 s wall, no process above 500 MB.
 * Peak RSS of the test run is sampled from /proc for the whole process tree every 50 ms.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { USER_DATA_LIMIT_BYTES } from '../constructs/user-data-size';

const ROOT = join(__dirname, '..');
const BUDGET = { synthMs: 1000, testMs: 60000, processMb: 500 };

/** Synthesis in a fresh process (module loading counts: it is what `cdktf synth` pays). */
function benchSynth(): { ms: number; rssMb: number; userData: Record<string, number>; bundles: Record<string, number> } {
  const outdir = mkdtempSync(join(tmpdir(), 'wbt-bench-'));
  const code = `
    const t0 = performance.now();
    const { App } = require('cdktf');
    const { buildApp } = require('./main');
    buildApp(new App({ skipValidation: true, outdir: ${JSON.stringify(outdir)} })).synth();
    const ms = performance.now() - t0;
    const { readdirSync, readFileSync } = require('node:fs');
    const { userDataBytes } = require('./constructs/user-data-size');
    const { fromTerraformLiteral } = require('./userdata/cloud-config');
    const userData = {};
    const bundles = {};
    for (const stack of readdirSync(${JSON.stringify(outdir)} + '/stacks')) {
      const plan = JSON.parse(readFileSync(${JSON.stringify(outdir)} + '/stacks/' + stack + '/cdk.tf.json', 'utf8'));
      for (const [key, block] of Object.entries(plan.data?.cloudinit_config ?? {}))
        userData[stack + ' ' + key.split('_')[0].replace(/-host$/, '')] = userDataBytes(block.part.map((p) => ({ filename: p.filename, contentType: p.content_type, content: p.content })));
      for (const [key, block] of Object.entries(plan.resource?.aws_s3_object ?? {}))
        bundles[stack + ' ' + key.split('_')[0].replace(/-configuration$/, '')] = Buffer.byteLength(fromTerraformLiteral(block.content));
    }
    process.stdout.write(JSON.stringify({ ms, rssMb: process.resourceUsage().maxRSS / 1024, userData, bundles }));`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', code], { cwd: ROOT, encoding: 'utf8' });
  rmSync(outdir, { recursive: true, force: true });
  if (r.status !== 0) throw new Error(`synthesis failed:\n${r.stderr}`);
  return JSON.parse(r.stdout) as { ms: number; rssMb: number; userData: Record<string, number>; bundles: Record<string, number> };
}

function childrenOf(pid: number, all: Map<number, number>): number[] {
  return [...all.entries()].filter(([, ppid]) => ppid === pid).map(([p]) => p);
}

/** Peak RSS per process of a tree, sampled from /proc. */
function sampleTree(root: number, peaks: Map<string, number>): void {
  const parents = new Map<number, number>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      parents.set(Number(d), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // The process ended between readdir and read.
    }
  }
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.pop()!;
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).slice(0, 3).join(' ').slice(0, 80);
      const key = `${pid} ${cmd}`;
      peaks.set(key, Math.max(peaks.get(key) ?? 0, rssKb / 1024));
    } catch {
      // Gone already.
    }
    queue.push(...childrenOf(pid, parents));
  }
}

async function benchTests(): Promise<{ ms: number; ok: boolean; top: [string, number][] }> {
  const peaks = new Map<string, number>();
  const t0 = performance.now();
  const child = spawn('npm', ['test', '--silent'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  const timer = setInterval(() => sampleTree(child.pid!, peaks), 50);
  const code = await new Promise<number>((resolve) => child.on('exit', (c) => resolve(c ?? 1)));
  clearInterval(timer);
  const top = [...peaks.entries()].sort((a, b) => b[1] - a[1]).slice(0, 5);
  return { ms: performance.now() - t0, ok: code === 0, top };
}

function verdict(ok: boolean): string {
  return ok ? 'ok' : 'OVER BUDGET';
}

async function main(): Promise<void> {
  const synth = benchSynth();
  console.log(`synth, all environments, in-app: ${synth.ms.toFixed(0)} ms (budget ${BUDGET.synthMs} ms) ${verdict(synth.ms < BUDGET.synthMs)}; peak RSS ${synth.rssMb.toFixed(0)} MB`);
  console.log(`user-data per host, as EC2 counts it (limit ${USER_DATA_LIMIT_BYTES} bytes):`);
  for (const [host, bytes] of Object.entries(synth.userData)) console.log(`  ${String(bytes).padStart(6)} bytes  ${host}${bytes > USER_DATA_LIMIT_BYTES ? '  OVER THE LIMIT' : ''}`);
  console.log("configuration bundle per host (the S3 object State Manager applies; no size limit but S3's):");
  for (const [host, bytes] of Object.entries(synth.bundles)) console.log(`  ${String(bytes).padStart(6)} bytes  ${host}`);
  if (process.argv.includes('--synth-only')) return;
  const tests = await benchTests();
  console.log(`npm test: ${(tests.ms / 1000).toFixed(1)} s wall (budget ${BUDGET.testMs / 1000} s) ${verdict(tests.ms < BUDGET.testMs)}; ${tests.ok ? 'passed' : 'FAILED'}`);
  console.log('largest processes of the test run (peak RSS):');
  for (const [name, mb] of tests.top) console.log(`  ${mb.toFixed(0).padStart(5)} MB  ${name}${mb > BUDGET.processMb ? '  OVER BUDGET' : ''}`);
  const worst = tests.top[0]?.[1] ?? 0;
  console.log(`largest test process: ${worst.toFixed(0)} MB (budget ${BUDGET.processMb} MB) ${verdict(worst < BUDGET.processMb)}`);
  if (synth.ms >= BUDGET.synthMs || tests.ms >= BUDGET.testMs || worst >= BUDGET.processMb || !tests.ok) process.exitCode = 1;
}

void main();
