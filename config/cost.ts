/**
 * The monthly estimate of an environment, from its validated configuration and a dated price table
 * (config/prices/): no synthesis, no AWS call. One line per billed item; the pools are counted at their minimum and
 * at their maximum. A price the table lacks leaves its line unpriced and the estimate incomplete (never 0).
 */
import { HOST_ALARM_KINDS, PBX_ALARM_KINDS } from './metrics';
import { BUCKETS, type BucketPurpose } from './names';
import { ageInDays, PriceTableError, type Price, type PriceTable } from './prices';
import { enabledPools, enabledRoles, type EnvironmentConfig } from './schema';

/** AWS's month: 730 hours (8,760 / 12). */
export const HOURS_PER_MONTH = 730;

/** What the configuration does not say and the estimate must assume. */
export interface CostAssumptions {
  /** GB stored in each bucket (current and old versions together). */
  readonly storageGb: Readonly<Record<BucketPurpose, number>>;
  /** Share of a data volume's blocks that change in a day, for the snapshots' increments (0.02 = 2 %). */
  readonly snapshotDailyChange: number;
}

/** The defaults `npm run cost` documents (README, "Cost"). */
export const DEFAULT_ASSUMPTIONS: CostAssumptions = {
  storageGb: { recordings: 50, uploads: 20, backups: 20, config: 1 },
  snapshotDailyChange: 0.02,
};

/** The same at the pools' minimum and at their maximum (lines outside the pools have both equal). */
export interface Span {
  readonly min: number;
  readonly max: number;
}

export type LineGroup = 'hosts' | 'pools' | 'storage' | 'services';

export interface CostLine {
  readonly group: LineGroup;
  readonly item: string;
  readonly quantity: Span;
  /** The unit of the quantity and of the unit price: "h", "GB-month", "key-month"... */
  readonly unit: string;
  /** Per unit, undefined when the table has no such price. */
  readonly unitPrice?: number;
  /** What the price is: the table's field, e.g. "instanceHour.t3.medium". */
  readonly priceOf: string;
  readonly monthly?: Span;
  /** An assumption rather than the configuration decides the quantity. */
  readonly assumed?: string;
  /** The price is a transcription still to be confirmed on its source (config/prices). */
  readonly unconfirmed?: boolean;
}

export interface CostEstimate {
  readonly environment: string;
  readonly tier: string;
  readonly region: string;
  readonly priceTable: { readonly region: string; readonly asOf: string; readonly ageDays: number; readonly sources: Readonly<Record<string, string>> };
  readonly lines: readonly CostLine[];
  /** Sum of the priced lines. */
  readonly total: Span;
  /** Prices the table lacks, each with what to add: empty when the estimate is complete. */
  readonly missing: readonly string[];
  /** How many lines rest on an unconfirmed price. */
  readonly unconfirmedLines: number;
  readonly assumptions: CostAssumptions;
}

/** What no estimate here contains (README, "Cost"). */
export const NOT_INCLUDED: readonly string[] = [
  'data transfer out to the internet (media from the bridges and the TURN relay, recordings and uploads downloaded): with many meetings the largest item, and not estimated here',
  'requests: S3, KMS, CloudWatch PutMetricData (about $0.44 a month per recorder and bridge), Secrets Manager GetRandomPassword, Route53 queries',
  'burstable CPU credits: t3 instances launch in unlimited mode, and a t3 above its baseline for a day pays surplus credits per vCPU-hour',
  'the Terraform state bucket and its key (created once by hand, outside the environment), the looked-up hosted zone, the registrar',
  'pool members between their minimum and maximum for part of the month (billed per second): the real bill lies between the two totals',
  'CloudWatch Logs ingestion and storage of the shipped logs (bootstrap, apply, Asterisk security: a few MB a month), SNS email notifications (the first 1,000 a month are free); free items (SSM Parameter Store standard parameters, State Manager, DLM, Auto Scaling)',
  'taxes, support plans, savings plans or reserved instances (on-demand list prices only)',
];

const same = (n: number): Span => ({ min: n, max: n });

/** The environment's bill, line by line, from the configuration and the table of its region. */
export function estimateCost(config: EnvironmentConfig, table: PriceTable, assumptions: CostAssumptions = DEFAULT_ASSUMPTIONS, now: Date = new Date()): CostEstimate {
  if (table.region !== config.aws.region)
    throw new PriceTableError(
      `The price table of ${table.region} cannot price environment "${config.name}" in aws.region ${config.aws.region}: use the table of ${config.aws.region} (config/prices/index.ts, priceTableFor)`,
    );
  const lines: CostLine[] = [];
  const missing: string[] = [];
  const file = `config/prices/${table.region}.ts`;
  const add = (group: LineGroup, item: string, quantity: Span, unit: string, priceOf: string, price: Price | undefined, assumed?: string): void => {
    // Only an instance type can be absent (the other prices are required fields of a table).
    if (price === undefined && !missing.some((m) => m.startsWith(`${priceOf} `)))
      missing.push(
        `${priceOf} (${item}): ${file} (asOf ${table.asOf}) has no price for it: add the on-demand Linux price of ${table.regionName} from ${table.sources.ec2} (CONTRIBUTING.md, "Refresh the price table")`,
      );
    lines.push({
      group,
      item,
      quantity,
      unit,
      priceOf,
      ...(price !== undefined ? { unitPrice: price.usd, monthly: { min: quantity.min * price.usd, max: quantity.max * price.usd } } : {}),
      ...(assumed !== undefined ? { assumed } : {}),
      ...(price?.unconfirmed ? { unconfirmed: true } : {}),
    });
  };

  const roles = enabledRoles(config);
  for (const role of roles) {
    const host = config.hosts[role];
    add('hosts', `${role} host: ${host.instanceType} instance`, same(HOURS_PER_MONTH), 'h', `instanceHour.${host.instanceType}`, table.instanceHour[host.instanceType]);
    add('hosts', `${role} host: root ${host.rootVolumeGiB} + data ${host.dataVolumeGiB} GiB gp3`, same(host.rootVolumeGiB + host.dataVolumeGiB), 'GB-month', 'gp3GbMonth', table.gp3GbMonth);
    add('hosts', `${role} host: Elastic IP (public IPv4)`, same(HOURS_PER_MONTH), 'h', 'publicIpv4Hour', table.publicIpv4Hour);
  }

  const pools = enabledPools(config);
  for (const pool of pools) {
    const p = config.jitsi[`${pool}Pool`];
    add(
      'pools',
      `${pool} pool: ${p.instanceType} instances (${p.min} to ${p.max} members)`,
      { min: p.min * HOURS_PER_MONTH, max: p.max * HOURS_PER_MONTH },
      'h',
      `instanceHour.${p.instanceType}`,
      table.instanceHour[p.instanceType],
    );
    add('pools', `${pool} pool: ${p.rootVolumeGiB} GiB gp3 root each`, { min: p.min * p.rootVolumeGiB, max: p.max * p.rootVolumeGiB }, 'GB-month', 'gp3GbMonth', table.gp3GbMonth);
    add('pools', `${pool} pool: public IPv4 each`, { min: p.min * HOURS_PER_MONTH, max: p.max * HOURS_PER_MONTH }, 'h', 'publicIpv4Hour', table.publicIpv4Hour);
  }

  if (config.snapshots.enabled) {
    // DLM keeps retainCount daily snapshots of each data volume: the oldest holds every block in use (at most the
    // volume), each later one the blocks changed since the one before it.
    const n = config.snapshots.retainCount;
    const dataGiB = roles.reduce((sum, role) => sum + config.hosts[role].dataVolumeGiB, 0);
    const gb = dataGiB * (1 + (n - 1) * assumptions.snapshotDailyChange);
    add(
      'storage',
      `data-volume snapshots: ${n} daily kept of ${dataGiB} GiB`,
      same(gb),
      'GB-month',
      'snapshotGbMonth',
      table.snapshotGbMonth,
      `estimate: one full copy of every data volume (as if full) plus ${n - 1} daily increments of ${percent(assumptions.snapshotDailyChange)} of it (--snapshot-change)`,
    );
  }

  for (const purpose of BUCKETS)
    add(
      'storage',
      `${purpose} bucket: S3 Standard`,
      same(assumptions.storageGb[purpose]),
      'GB-month',
      's3StandardGbMonth',
      table.s3StandardGbMonth,
      `assumed ${assumptions.storageGb[purpose]} GB stored (--storage-gb ${purpose}=GB)`,
    );

  if (config.kms.customerManagedKey) add('services', `KMS key alias/weebeetalk-${config.name}`, same(1), 'key-month', 'kmsKeyMonth', table.kmsKeyMonth);

  // Each host's recovery alarm (StatusCheckFailed_System) and its mailed alarms (config/metrics.ts: the kinds the plan
  // has, pbx's own too); each pool's two scaling alarms.
  const mailed = roles.length * HOST_ALARM_KINDS.length + (roles.includes('pbx') ? PBX_ALARM_KINDS.length : 0);
  const alarms = roles.length + mailed + 2 * pools.length;
  add(
    'services',
    `CloudWatch alarms: ${roles.length} host recovery, ${mailed} mailed${pools.length > 0 ? `, ${2 * pools.length} pool scaling` : ''}`,
    same(alarms),
    'alarm-month',
    'cloudwatchAlarmMonth',
    table.cloudwatchAlarmMonth,
  );
  // Custom metrics (each name and set of dimensions is one): per host the agent's memory and its disks' roll-ups and
  // full series (2 paths, 2 series each), the outcome and certificate figures and the role's own (userdata/
  // cloudwatch-agent.ts hostMetricsEnv); per pool its members' memory and root disk (2 series), shared by the members,
  // and its scaling metric; pbx's SipAuthFailures. An estimate: a series exists once it has a datapoint.
  const own: Record<string, number> = { chat: 1, meet: config.jitsi.jibri ? 4 : 2, pbx: 2, turn: 0 };
  // A JVB pool's members also publish their bridges' Conferences and Participants under the pool.
  const metrics = roles.reduce((n, r) => n + 1 + 4 + 3 + (own[r] ?? 0), 0) + pools.reduce((n, p) => n + 1 + 2 + 1 + (p === 'jvb' ? 2 : 0), 0);
  add(
    'services',
    `CloudWatch custom metrics: agent (memory, disks), publishers${pools.length > 0 ? ', pools' : ''}`,
    same(metrics),
    'metric-month',
    'cloudwatchMetricMonth',
    table.cloudwatchMetricMonth,
    'estimate: one per name and dimensions published',
  );
  add(
    'services',
    `CloudWatch dashboard weebeetalk-${config.name}`,
    same(1),
    'dashboard-month',
    'cloudwatchDashboardMonth',
    table.cloudwatchDashboardMonth,
    'free while the account has no more than three',
  );
  if (config.dns.zone === 'create') add('services', `Route53 hosted zone ${config.dns.zoneName ?? config.dns.domain}`, same(1), 'zone-month', 'route53ZoneMonth', table.route53ZoneMonth);

  const total = lines.reduce<Span>((t, l) => (l.monthly ? { min: t.min + l.monthly.min, max: t.max + l.monthly.max } : t), { min: 0, max: 0 });
  return {
    environment: config.name,
    tier: config.tier,
    region: config.aws.region,
    priceTable: { region: table.region, asOf: table.asOf, ageDays: ageInDays(table, now), sources: table.sources },
    lines,
    total,
    missing,
    unconfirmedLines: lines.filter((l) => l.unconfirmed).length,
    assumptions,
  };
}

function percent(share: number): string {
  return `${Number((share * 100).toFixed(4))} %`;
}
