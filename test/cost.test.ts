/**
 * `npm run cost` (issue 16, item 5): the shipped environments' totals computed here by hand from the price table,
 * every instance type the configurations use priced, a region or price the table lacks refused or reported (never 0),
 * the formats, the usage block, and a spawned run that reaches no network and loads no AWS SDK.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { estimateCost, type CostEstimate } from '../config/cost';
import { ENVIRONMENTS_DIR_VARIABLE, loadEnvironments } from '../config/files';
import { loadEnvironment, tierDefaults, type EnvironmentFile } from '../config/load';
import { PRICE_TABLES, PriceTableError, priceTableFor } from '../config/prices';
import jakarta from '../config/prices/ap-southeast-3';
import { runCost } from '../scripts/cost';
import { environmentsDir, shipped } from './support/environments-dir';

const ROOT = resolve(__dirname, '..');
const NOW = new Date('2026-12-01T12:00:00Z');

// By hand, from the table: 730 h a month, the shipped sizes written out (config/load.ts, config/environments/).
const H = 730;
const hour = (type: string): number => jakarta.instanceHour[type].usd * H;
const gp3 = (gib: number): number => gib * jakarta.gp3GbMonth.usd;
const ip = jakarta.publicIpv4Hour.usd * H;
const buckets = (50 + 20 + 20 + 1) * jakarta.s3StandardGbMonth.usd;
const alarms = (n: number): number => n * jakarta.cloudwatchAlarmMonth.usd;
const metrics = (n: number): number => n * jakarta.cloudwatchMetricMonth.usd;
const dashboard = jakarta.cloudwatchDashboardMonth.usd;
// Mailed alarms: 6 per host (disk-root, disk-data, bootstrap-failed, apply-failed, certificate, silent) and pbx's SIP one.
// Custom metrics per host: memory, 4 disk series (2 paths, roll-up and full), BootstrapFailed, ApplyFailed,
// CertificateDaysLeft, plus chat's UsersOnline, meet's Conferences, Participants, RecordingsInProgress, UploadsPending
// (jibri on), pbx's ActiveCalls and SipAuthFailures; per pool its members' memory, 2 disk series and its scaling metric,
// and a JVB pool's Conferences and Participants.
const hostMetrics = { chat: 8 + 1, meet: 8 + 4, pbx: 8 + 2, turn: 8 };

// staging: chat t3.medium 16+20, meet t3.large 16+40, pbx t3.small 16+10, no turn; pools 0..1 of t3.large/30 and c6i.large/30.
const STAGING_MIN =
  hour('t3.medium') +
  hour('t3.large') +
  hour('t3.small') +
  gp3(36 + 56 + 26) +
  3 * ip +
  buckets +
  alarms(3 + 3 * 6 + 1 + 4) +
  metrics(hostMetrics.chat + hostMetrics.meet + hostMetrics.pbx + 4 + 6) +
  dashboard;
const STAGING_MAX = STAGING_MIN + (hour('t3.large') + gp3(30) + ip) + (hour('c6i.large') + gp3(30) + ip);
// production: chat m6i.xlarge 16+100, meet c6i.2xlarge 16+100, pbx t3.medium 16+20, turn c6i.large 16+4; 30 daily snapshots of
// 224 GiB at 2 %/day; the key; pools 1..8 of m6i.xlarge/50 and 1..6 of c6i.2xlarge/30.
const PRODUCTION_FIXED =
  hour('m6i.xlarge') +
  hour('c6i.2xlarge') +
  hour('t3.medium') +
  hour('c6i.large') +
  gp3(116 + 116 + 36 + 20) +
  4 * ip +
  224 * (1 + 29 * 0.02) * jakarta.snapshotGbMonth.usd +
  buckets +
  jakarta.kmsKeyMonth.usd +
  alarms(4 + 4 * 6 + 1 + 4) +
  metrics(hostMetrics.chat + hostMetrics.meet + hostMetrics.pbx + hostMetrics.turn + 4 + 6) +
  dashboard;
const JIBRI_MEMBER = hour('m6i.xlarge') + gp3(50) + ip;
const JVB_MEMBER = hour('c6i.2xlarge') + gp3(30) + ip;
const PRODUCTION_MIN = PRODUCTION_FIXED + JIBRI_MEMBER + JVB_MEMBER;
const PRODUCTION_MAX = PRODUCTION_FIXED + 8 * JIBRI_MEMBER + 6 * JVB_MEMBER;

function shippedEstimates(): Map<string, CostEstimate> {
  return new Map(loadEnvironments(undefined, NOW).map(({ config }) => [config.name, estimateCost(config, priceTableFor(config.aws.region, config.name), undefined, NOW)]));
}

describe('the shipped environments', () => {
  const estimates = shippedEstimates();

  test('staging and production total what the table gives by hand, at the pools minimum and maximum', () => {
    const staging = estimates.get('staging')!;
    const production = estimates.get('production')!;
    expect(staging.total.min).toBeCloseTo(STAGING_MIN, 6);
    expect(staging.total.max).toBeCloseTo(STAGING_MAX, 6);
    expect(production.total.min).toBeCloseTo(PRODUCTION_MIN, 6);
    expect(production.total.max).toBeCloseTo(PRODUCTION_MAX, 6);
    // The same figures, rounded as a reader checks them (ap-southeast-3 as of 2026-12-01).
    expect(staging.total.min.toFixed(2)).toBe('177.36');
    expect(production.total.max.toFixed(2)).toBe('3881.00');
    for (const e of estimates.values()) expect(e.missing).toEqual([]);
  });

  test("every public IPv4 is billed: one per host's Elastic IP, one per pool member", () => {
    const production = estimates.get('production')!;
    const ipLines = production.lines.filter((l) => l.priceOf === 'publicIpv4Hour');
    expect(ipLines.reduce((n, l) => n + l.quantity.min / H, 0)).toBe(4 + 1 + 1);
    expect(ipLines.reduce((n, l) => n + l.quantity.max / H, 0)).toBe(4 + 8 + 6);
  });

  test('staging has no snapshots and no key; production has both, and the snapshots say they are an estimate', () => {
    const staging = estimates.get('staging')!;
    const production = estimates.get('production')!;
    expect(staging.lines.map((l) => l.priceOf)).not.toEqual(expect.arrayContaining(['snapshotGbMonth']));
    expect(staging.lines.map((l) => l.priceOf)).not.toContain('kmsKeyMonth');
    const snapshots = production.lines.find((l) => l.priceOf === 'snapshotGbMonth')!;
    expect(snapshots.quantity.min).toBeCloseTo(224 * 1.58, 9);
    expect(snapshots.assumed).toMatch(/^estimate: one full copy .* 29 daily increments of 2 %/);
    expect(production.lines.filter((l) => l.priceOf === 'kmsKeyMonth')).toHaveLength(1);
  });
});

describe('the price table', () => {
  test('is dated and names a source for every price', () => {
    for (const table of Object.values(PRICE_TABLES)) {
      expect(table.asOf).toMatch(/^\d{4}-\d{2}-\d{2}$/);
      const prices = [...Object.values(table.instanceHour), ...Object.values(table).filter((v): v is { usd: number; source: string } => typeof v === 'object' && v !== null && 'usd' in v)];
      for (const p of prices) {
        expect(p.usd).toBeGreaterThan(0);
        expect(table.sources[p.source]).toMatch(/^https:\/\//);
      }
    }
    // The one figure read on its source: AWS's public IPv4 charge since 2024-02-01.
    expect(jakarta.publicIpv4Hour).toEqual({ usd: 0.005, source: 'vpc' });
  });

  test('prices every instance type the tier defaults and the shipped environments use, hosts and pools', () => {
    const types = new Set<string>();
    for (const tier of ['staging', 'production'] as const) {
      const d = tierDefaults(tier);
      for (const host of Object.values(d.hosts ?? {})) if (host?.instanceType) types.add(host.instanceType);
      for (const pool of [d.jitsi?.jibriPool, d.jitsi?.jvbPool]) if (pool?.instanceType) types.add(pool.instanceType);
    }
    for (const { config } of loadEnvironments(undefined, NOW)) {
      for (const host of Object.values(config.hosts)) types.add(host.instanceType);
      types.add(config.jitsi.jibriPool.instanceType).add(config.jitsi.jvbPool.instanceType);
      expect(Object.keys(PRICE_TABLES)).toContain(config.aws.region);
    }
    expect([...types].sort()).toEqual(['c6i.2xlarge', 'c6i.large', 'm6i.xlarge', 't3.large', 't3.medium', 't3.micro', 't3.small']);
    for (const type of types) expect(Object.keys(jakarta.instanceHour)).toContain(type);
  });

  test('a region it does not cover is refused in one error naming the region and what to add', () => {
    expect(() => priceTableFor('eu-west-1', 'qa')).toThrow(PriceTableError);
    expect(() => priceTableFor('eu-west-1', 'qa')).toThrow(
      /^No price table for region "eu-west-1" \(aws\.region of environment "qa"\): config\/prices\/ covers ap-southeast-3 only\. Add config\/prices\/eu-west-1\.ts .* list it in PRICE_TABLES of config\/prices\/index\.ts\.$/,
    );
    const elsewhere = loadEnvironment(shipped('staging', { aws: { region: 'eu-west-1' } }) as unknown as EnvironmentFile, { now: NOW });
    expect(() => estimateCost(elsewhere, jakarta, undefined, NOW)).toThrow(/cannot price environment "staging" in aws\.region eu-west-1/);
  });

  test('an instance type it lacks leaves the line unpriced and says what to add: never 0', () => {
    const config = loadEnvironment(shipped('staging', { hosts: { chat: { instanceType: 'm7i.large', dataVolumeGiB: 20 } } }) as unknown as EnvironmentFile, { now: NOW });
    const e = estimateCost(config, jakarta, undefined, NOW);
    const chat = e.lines.find((l) => l.item === 'chat host: m7i.large instance')!;
    expect(chat.unitPrice).toBeUndefined();
    expect(chat.monthly).toBeUndefined();
    expect(e.missing).toEqual([expect.stringMatching(/^instanceHour\.m7i\.large \(chat host: m7i\.large instance\): config\/prices\/ap-southeast-3\.ts \(asOf 2026-12-01\) has no price for it: add/)]);
    expect(e.total.min).toBeCloseTo(STAGING_MIN - hour('t3.medium'), 6);
  });
});

describe('npm run cost', () => {
  test('markdown: one table per environment with its totals, then side by side and what is not included', () => {
    const run = runCost(['staging', 'production', '--format', 'markdown'], NOW);
    expect(run.code).toBe(0);
    expect(run.stderr).toBe('');
    expect(run.stdout).toMatch(/^### staging: \$177\.36 to \$339\.05 a month\n/);
    expect(run.stdout).toContain('| item | quantity | unit price | monthly, pools at minimum | monthly, pools at maximum |');
    expect(run.stdout).toContain('| chat host: t3.medium instance † | 730 h | $0.0528/h | $38.54 | $38.54 |');
    expect(run.stdout).toContain('| jvb pool: c6i.2xlarge instances (1 to 6 members) † | 730 to 4,380 h | $0.392/h | $286.16 | $1,716.96 |');
    expect(run.stdout).toContain(`| **total** | | | **$${PRODUCTION_MIN.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}** |`);
    expect(run.stdout).toContain('| production | $1,132.00 | $3,881.00 |');
    expect(run.stdout).toMatch(/\n- data transfer out to the internet/);
  });

  test('json: the lines and totals of each environment, and what is not included', () => {
    const run = runCost(['production', '--format', 'json'], NOW);
    expect(run.code).toBe(0);
    const out = JSON.parse(run.stdout) as { hoursPerMonth: number; environments: CostEstimate[]; notIncluded: string[] };
    expect(out.hoursPerMonth).toBe(730);
    expect(out.environments.map((e) => e.environment)).toEqual(['production']);
    expect(out.environments[0].total.max).toBeCloseTo(PRODUCTION_MAX, 6);
    expect(out.environments[0].priceTable).toMatchObject({ region: 'ap-southeast-3', asOf: '2026-12-01' });
    expect(out.notIncluded.join(' ')).toMatch(/data transfer/);
  });

  test('--storage-gb and --snapshot-change change the assumptions', () => {
    const base = JSON.parse(runCost(['production', '--format', 'json'], NOW).stdout) as { environments: CostEstimate[] };
    const more = JSON.parse(runCost(['production', '--format', 'json', '--storage-gb', 'recordings=1050', '--snapshot-change', '5'], NOW).stdout) as { environments: CostEstimate[] };
    const delta = 1000 * jakarta.s3StandardGbMonth.usd + 224 * 29 * 0.03 * jakarta.snapshotGbMonth.usd;
    expect(more.environments[0].total.min - base.environments[0].total.min).toBeCloseTo(delta, 6);
  });

  test.each([
    [['--format', 'xml'], /^cost: --format must be one of table, markdown, json, not "xml"\n\nUsage: /],
    [['qa'], /^cost: no environment "qa": the environments are staging, production\n\nUsage: /],
    [['--storage-gb', 'videos=3'], /^cost: --storage-gb videos=3: no bucket "videos": the buckets are recordings, uploads, backups, config\n\nUsage: /],
    [['--snapshot-change', 'lots'], /^cost: --snapshot-change lots: write a percent from 0 to 100/],
    [['--env', 'staging'], /^cost: Unknown option '--env'.*\n\nUsage: /],
  ])('bad arguments %j: exit 2 and the usage block', (argv, message) => {
    const run = runCost(argv, NOW);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(message);
    expect(run.stderr).toContain('Exit status: 0 complete, 1 a region or a price the tables lack');
  });

  test('package.json runs it with tsx', () => {
    expect((JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts.cost).toBe('tsx scripts/cost.ts');
  });

  test("the README's Cost section is the command's current output", () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    expect(readme).toContain('## Cost');
    expect(readme).toContain(runCost(['staging', 'production', '--format', 'markdown'], NOW).stdout);
  });
});

describe('a region without a table', () => {
  test('an environment in a region without a table: its one error, exit 1, the other environment still estimated', () => {
    const envs = environmentsDir({ staging: shipped('staging'), production: shipped('production', { aws: { region: 'eu-west-1' }, state: { region: 'eu-west-1' } }) });
    const before = process.env[ENVIRONMENTS_DIR_VARIABLE];
    process.env[ENVIRONMENTS_DIR_VARIABLE] = envs.dir;
    try {
      const r = runCost([], NOW);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^cost: No price table for region "eu-west-1" \(aws\.region of environment "production"\): .* config\/prices\/eu-west-1\.ts .*\n$/);
      expect(r.stdout).toMatch(/^staging \(tier staging/);
      expect(r.stdout).not.toMatch(/^production/m);
    } finally {
      if (before === undefined) delete process.env[ENVIRONMENTS_DIR_VARIABLE];
      else process.env[ENVIRONMENTS_DIR_VARIABLE] = before;
      envs.remove();
    }
  });
});

describe('offline', () => {
  let scratch: string;
  beforeAll(() => {
    scratch = mkdtempSync(join(tmpdir(), 'weebeetalk-cost-'));
    // Any connection, DNS lookup or fetch fails loudly; at exit, every module the run loaded is written down.
    writeFileSync(
      join(scratch, 'offline.js'),
      `const net = require('node:net'), dns = require('node:dns'), fs = require('node:fs');
const refuse = (what) => function () { fs.appendFileSync(process.env.WBT_NETWORK_LOG, what + '\\n'); throw new Error('offline test: ' + what); };
// A Unix socket is no network (tsx's loader looks for its own CLI's pipe); a TCP connection is.
const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function (options, ...rest) {
  const local = (typeof options === 'object' && options !== null && !Array.isArray(options) && typeof options.path === 'string') || (Array.isArray(options) && typeof options[0]?.path === 'string');
  return local ? connect.call(this, options, ...rest) : refuse('net.connect ' + JSON.stringify(options))();
};
dns.lookup = refuse('dns.lookup');
dns.promises.lookup = refuse('dns.promises.lookup');
globalThis.fetch = refuse('fetch');
process.on('exit', () => fs.writeFileSync(process.env.WBT_MODULES_LOG, JSON.stringify(Object.keys(require.cache))));
`,
    );
  });
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  function spawnCost(args: string[], env: Record<string, string> = {}): { code: number | null; stdout: string; stderr: string; network: string; modules: string[] } {
    const network = join(scratch, 'network.log');
    const modules = join(scratch, 'modules.json');
    writeFileSync(network, '');
    const r = spawnSync(process.execPath, ['--require', join(scratch, 'offline.js'), '--import', 'tsx', 'scripts/cost.ts', ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env, WBT_NETWORK_LOG: network, WBT_MODULES_LOG: modules },
      encoding: 'utf8',
      timeout: 60_000,
    });
    // The table's age is today's, not the test's day: a stale-table warning is the one line allowed besides.
    const stderr = r.stderr.replace(/^cost: the price table of \S+ is \d+ days old .*\n/m, '');
    return { code: r.status, stdout: r.stdout, stderr, network: readFileSync(network, 'utf8'), modules: JSON.parse(readFileSync(modules, 'utf8')) as string[] };
  }

  test('the guard is not vacuous: a TCP connection or a fetch under it is caught', () => {
    const log = join(scratch, 'guard.log');
    writeFileSync(log, '');
    const probe = "try { require('node:net').connect(9, '127.0.0.1'); } catch {} try { fetch('http://127.0.0.1:9/'); } catch {}";
    spawnSync(process.execPath, ['--require', join(scratch, 'offline.js'), '-e', probe], {
      env: { ...process.env, WBT_NETWORK_LOG: log, WBT_MODULES_LOG: join(scratch, 'guard.json') },
      encoding: 'utf8',
    });
    expect(readFileSync(log, 'utf8')).toMatch(/^net\.connect .*\nfetch\n$/);
  });

  test('the command runs with the network refused, and loads no AWS SDK', () => {
    const r = spawnCost(['staging', 'production']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^staging \(tier staging, ap-southeast-3\): prices of config\/prices\/ap-southeast-3\.ts as of 2026-12-01/);
    expect(r.network).toBe('');
    expect(r.modules.some((m) => m.endsWith(join('scripts', 'cost.ts')))).toBe(true);
    expect(r.modules.filter((m) => /[\\/](@aws-sdk|aws-sdk|@smithy)[\\/]/.test(m))).toEqual([]);
  });
});
