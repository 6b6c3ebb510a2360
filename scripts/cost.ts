/**
 * `npm run cost -- [ENV...] [--format table|markdown|json] [--storage-gb PURPOSE=GB] [--snapshot-change PCT]`
 * The monthly estimate of each environment from the dated price table of its region (config/prices/), read from the
 * validated configuration (config/files.ts): no synthesis, no AWS call, no network. Exit 0 complete, 1 a region or a
 * price the tables lack (the unpriced lines are shown), 2 usage or configuration error. Tests drive runCost() in-process.
 */
import { parseArgs } from 'node:util';
import { DEFAULT_ASSUMPTIONS, estimateCost, HOURS_PER_MONTH, NOT_INCLUDED, type CostAssumptions, type CostEstimate, type CostLine, type Span } from '../config/cost';
import { formatFailure, runEntryPoint } from '../config/entry';
import { loadEnvironments } from '../config/files';
import { BUCKETS, type BucketPurpose } from '../config/names';
import { PRICE_TABLES, PriceTableError, priceTableFor } from '../config/prices';

export const COST_FORMATS = ['table', 'markdown', 'json'] as const;
export type CostFormat = (typeof COST_FORMATS)[number];

/** A price table older than this is flagged under the estimate. */
const STALE_DAYS = 180;

const USAGE = `Usage: npx tsx scripts/cost.ts [ENV...] [options]   (npm run cost -- [ENV...] [options])

Prints the monthly estimate of each environment named (default: all of config/environments) from the dated
price table of its region (config/prices/<region>.ts), computed from the validated configuration: no synthesis,
no AWS call, no network. On-demand list prices, ${HOURS_PER_MONTH} hours a month; the pools at their minimum and maximum.

Options:
  --format FORMAT         table (default), markdown (README, pull requests) or json
  --storage-gb P=GB       GB assumed stored in bucket P (${BUCKETS.join(', ')}),
                          current and old versions together; repeat it or separate with commas
                          (default ${BUCKETS.map((b) => `${b}=${DEFAULT_ASSUMPTIONS.storageGb[b]}`).join(',')})
  --snapshot-change PCT   percent of a data volume's blocks changed per day, for the snapshots' daily
                          increments (default ${DEFAULT_ASSUMPTIONS.snapshotDailyChange * 100})
  -h, --help              this text

Not included: data transfer (often the largest item with many meetings), requests, burstable CPU credits, taxes
(README, "Cost").

Exit status: 0 complete, 1 a region or a price the tables lack (unpriced lines are shown), 2 usage or configuration error.
`;

export interface CostRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

class UsageError extends Error {}

function parseStorage(values: readonly string[]): Record<BucketPurpose, number> {
  const storage = { ...DEFAULT_ASSUMPTIONS.storageGb };
  for (const pair of values.flatMap((v) => v.split(',')).filter((p) => p !== '')) {
    const m = /^([a-z]+)=(\d+(?:\.\d+)?)$/.exec(pair.trim());
    if (!m) throw new UsageError(`--storage-gb ${pair}: write PURPOSE=GB, e.g. recordings=200`);
    if (!(BUCKETS as readonly string[]).includes(m[1])) throw new UsageError(`--storage-gb ${pair}: no bucket "${m[1]}": the buckets are ${BUCKETS.join(', ')}`);
    storage[m[1] as BucketPurpose] = Number(m[2]);
  }
  return storage;
}

function parsePercent(value: string | undefined): number {
  if (value === undefined) return DEFAULT_ASSUMPTIONS.snapshotDailyChange;
  const m = /^(\d+(?:\.\d+)?)%?$/.exec(value);
  if (!m || Number(m[1]) > 100) throw new UsageError(`--snapshot-change ${value}: write a percent from 0 to 100, e.g. 2`);
  return Number(m[1]) / 100;
}

export function runCost(argv: readonly string[], now: Date = new Date()): CostRun {
  try {
    const { values, positionals } = parseArgs({
      args: [...argv],
      options: {
        format: { type: 'string', default: 'table' },
        'storage-gb': { type: 'string', multiple: true, default: [] },
        'snapshot-change': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: true,
    });
    if (values.help) return { code: 0, stdout: USAGE, stderr: '' };
    const format = values.format as CostFormat;
    if (!COST_FORMATS.includes(format)) throw new UsageError(`--format must be one of ${COST_FORMATS.join(', ')}, not "${values.format}"`);
    const assumptions: CostAssumptions = { storageGb: parseStorage(values['storage-gb'] ?? []), snapshotDailyChange: parsePercent(values['snapshot-change']) };

    const loaded = loadEnvironments(undefined, now);
    const names = loaded.map((e) => e.config.name);
    for (const p of positionals) if (!names.includes(p)) throw new UsageError(`no environment "${p}": the environments are ${names.join(', ')}`);
    const chosen = positionals.length > 0 ? loaded.filter((e) => positionals.includes(e.config.name)) : loaded;

    const estimates: CostEstimate[] = [];
    const problems: string[] = [];
    for (const { config } of chosen) {
      try {
        estimates.push(estimateCost(config, priceTableFor(config.aws.region, config.name), assumptions, now));
      } catch (e) {
        if (!(e instanceof PriceTableError)) throw e;
        problems.push(e.message);
      }
    }
    for (const est of estimates) for (const m of est.missing) problems.push(`Environment "${est.environment}": no price for ${m}`);
    const stale = estimates
      .filter((e, i, all) => e.priceTable.ageDays > STALE_DAYS && all.findIndex((o) => o.priceTable.region === e.priceTable.region) === i)
      .map((e) => `cost: the price table of ${e.priceTable.region} is ${e.priceTable.ageDays} days old (asOf ${e.priceTable.asOf}): refresh it (CONTRIBUTING.md, "Refresh the price table")\n`);
    const stderr = [...stale, ...problems.map((p) => `cost: ${p}\n`)].join('');
    return { code: problems.length > 0 ? 1 : 0, stdout: estimates.length > 0 ? render(estimates, format) : '', stderr };
  } catch (e) {
    // A configuration mistake: the same one block as `cdktf synth` prints.
    const block = formatFailure(e);
    if (block !== undefined) return { code: 2, stdout: '', stderr: block };
    // Duck-typed: errors thrown by Node internals come from another realm under jest's VM.
    const err = typeof e === 'object' && e !== null ? (e as { message?: unknown; code?: unknown }) : {};
    const message = typeof err.message === 'string' ? err.message : String(e);
    const usage = e instanceof UsageError || String(err.code).startsWith('ERR_PARSE_ARGS');
    if (!usage) throw e;
    return { code: 2, stdout: '', stderr: `cost: ${message}\n\n${USAGE}` };
  }
}

export function render(estimates: readonly CostEstimate[], format: CostFormat): string {
  if (format === 'json') return `${JSON.stringify({ hoursPerMonth: HOURS_PER_MONTH, environments: estimates, notIncluded: NOT_INCLUDED }, null, 2)}\n`;
  const parts = estimates.map((e) => (format === 'markdown' ? markdown(e) : table(e)));
  if (estimates.length > 1) parts.push(format === 'markdown' ? markdownSummary(estimates) : tableSummary(estimates));
  return `${parts.join('\n')}`;
}

const money = (usd: number): string => `$${usd.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
const number = (n: number): string => n.toLocaleString('en-US', { maximumFractionDigits: 2 });
const unitPrice = (l: CostLine): string => (l.unitPrice === undefined ? 'NO PRICE' : `$${l.unitPrice.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 6 })}/${l.unit}`);
const span = (s: Span, show: (n: number) => string): string => (s.min === s.max ? show(s.min) : `${show(s.min)} to ${show(s.max)}`);
const quantity = (l: CostLine): string => `${span(l.quantity, number)} ${l.unit}`;
const monthly = (l: CostLine, bound: 'min' | 'max'): string => (l.monthly === undefined ? 'NO PRICE' : money(l.monthly[bound]));
const total = (e: CostEstimate, bound: 'min' | 'max'): string => `${money(e.total[bound])}${e.missing.length > 0 ? ' + unpriced' : ''}`;
const marks = (l: CostLine): string => `${l.assumed ? ' *' : ''}${l.unconfirmed ? ' †' : ''}`;

function heading(e: CostEstimate): string {
  return `${e.environment} (tier ${e.tier}, ${e.region}): prices of config/prices/${e.priceTable.region}.ts as of ${e.priceTable.asOf}, on-demand, ${HOURS_PER_MONTH} h a month`;
}

function notes(e: CostEstimate): string[] {
  const out = e.lines.filter((l) => l.assumed).map((l) => `* ${l.item}: ${l.assumed}`);
  if (e.unconfirmedLines > 0)
    out.push(
      `† ${e.unconfirmedLines} of ${e.lines.length} lines rest on prices the table marks unconfirmed (transcribed, not read on their source): check them against the sources in config/prices/${e.priceTable.region}.ts`,
    );
  for (const m of e.missing) out.push(`NO PRICE: ${m}`);
  return out;
}

function table(e: CostEstimate): string {
  const head = ['item', 'quantity', 'unit price', "monthly, pools' min", "monthly, pools' max"];
  const rows = e.lines.map((l) => [`${l.item}${marks(l)}`, quantity(l), unitPrice(l), monthly(l, 'min'), monthly(l, 'max')]);
  rows.push(['total', '', '', total(e, 'min'), total(e, 'max')]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]): string =>
    r
      .map((c, i) => (i >= 3 ? c.padStart(widths[i]) : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  const rule = line(widths.map((w) => '-'.repeat(w)));
  return [heading(e), '', line(head), rule, ...rows.slice(0, -1).map(line), rule, line(rows[rows.length - 1]), '', ...notes(e)].join('\n') + '\n';
}

function markdown(e: CostEstimate): string {
  const cell = (s: string): string => s.replace(/\|/g, '\\|');
  return (
    [
      `### ${e.environment}: ${span({ min: e.total.min, max: e.total.max }, money)} a month${e.missing.length > 0 ? ' (incomplete)' : ''}`,
      '',
      `${heading(e)}.`,
      '',
      '| item | quantity | unit price | monthly, pools at minimum | monthly, pools at maximum |',
      '|---|---:|---:|---:|---:|',
      ...e.lines.map((l) => `| ${cell(l.item)}${marks(l)} | ${quantity(l)} | ${unitPrice(l)} | ${monthly(l, 'min')} | ${monthly(l, 'max')} |`),
      `| **total** | | | **${total(e, 'min')}** | **${total(e, 'max')}** |`,
      '',
      ...notes(e).map((n) => `${n.replace(/^\*/, '\\*')}  `),
    ].join('\n') + '\n'
  );
}

function tableSummary(estimates: readonly CostEstimate[]): string {
  const width = Math.max(...estimates.map((e) => e.environment.length), 'environment'.length);
  return (
    [
      `${'environment'.padEnd(width)}  pools at minimum  pools at maximum`,
      ...estimates.map((e) => `${e.environment.padEnd(width)}  ${total(e, 'min').padStart(16)}  ${total(e, 'max').padStart(16)}`),
      '',
      'Not included: data transfer, requests, burstable CPU credits, the state bucket, taxes (npm run cost -- --format markdown lists them; README, "Cost").',
    ].join('\n') + '\n'
  );
}

function markdownSummary(estimates: readonly CostEstimate[]): string {
  return (
    [
      '### Side by side',
      '',
      '| environment | a month, pools at minimum | a month, pools at maximum |',
      '|---|---:|---:|',
      ...estimates.map((e) => `| ${e.environment} | ${total(e, 'min')} | ${total(e, 'max')} |`),
      '',
      'Not included:',
      '',
      ...NOT_INCLUDED.map((n) => `- ${n}`),
    ].join('\n') + '\n'
  );
}

/** The regions priced, for a message or a test. */
export const PRICED_REGIONS: readonly string[] = Object.keys(PRICE_TABLES);

if (require.main === module)
  runEntryPoint('cost', () => {
    const run = runCost(process.argv.slice(2));
    process.stdout.write(run.stdout);
    process.stderr.write(run.stderr);
    return run.code;
  });
