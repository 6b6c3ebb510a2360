/**
 * AWS list prices of Asia Pacific (Jakarta), ap-southeast-3, in USD, as of `asOf`: what `npm run cost` multiplies.
 * Refresh it as CONTRIBUTING.md says ("Refresh the price table"): every figure from its source page, with the day.
 *
 * `unconfirmed` marks a figure this table's author could not read on its source page when the table was written (the
 * pages render their figures with scripts, and the search index held no copy for Jakarta): it is the author's
 * transcription of AWS's list price for this region, to be checked against the source at the next refresh; the
 * command counts these figures and says so under every estimate. A figure read on its source drops the mark.
 */
import type { PriceTable } from './types';

const table: PriceTable = {
  region: 'ap-southeast-3',
  regionName: 'Asia Pacific (Jakarta)',
  asOf: '2026-12-01',
  currency: 'USD',
  sources: {
    ec2: 'https://aws.amazon.com/ec2/pricing/on-demand/',
    ebs: 'https://aws.amazon.com/ebs/pricing/',
    vpc: 'https://aws.amazon.com/vpc/pricing/',
    ipv4: 'https://aws.amazon.com/blogs/aws/new-aws-public-ipv4-address-charge-public-ip-insights/',
    s3: 'https://aws.amazon.com/s3/pricing/',
    kms: 'https://aws.amazon.com/kms/pricing/',
    cloudwatch: 'https://aws.amazon.com/cloudwatch/pricing/',
    route53: 'https://aws.amazon.com/route53/pricing/',
    priceList: 'https://pricing.us-east-1.amazonaws.com/offers/v1.0/aws/AmazonEC2/current/ap-southeast-3/index.json',
  },
  // On-demand, Linux/UNIX, shared tenancy, per instance-hour: every type the tier defaults (config/load.ts) and the
  // shipped environments (config/environments/) use, hosts and pools (test/cost.test.ts checks the list is complete).
  // prettier-ignore
  instanceHour: {
    't3.micro':    { usd: 0.0132, source: 'ec2', unconfirmed: true },
    't3.small':    { usd: 0.0264, source: 'ec2', unconfirmed: true },
    't3.medium':   { usd: 0.0528, source: 'ec2', unconfirmed: true },
    't3.large':    { usd: 0.1056, source: 'ec2', unconfirmed: true },
    'c6i.large':   { usd: 0.098, source: 'ec2', unconfirmed: true },
    'c6i.2xlarge': { usd: 0.392, source: 'ec2', unconfirmed: true },
    'm6i.xlarge':  { usd: 0.24, source: 'ec2', unconfirmed: true },
  },
  // gp3 storage per GB-month. Every volume here is gp3 at its free baseline (3,000 IOPS, 125 MB/s: constructs/debian-host.ts
  // and constructs/pool.ts provision no more), so provisioned IOPS and throughput cost nothing; their prices are kept for a
  // configuration that raises them.
  gp3GbMonth: { usd: 0.096, source: 'ebs', unconfirmed: true },
  gp3IopsMonth: { usd: 0.006, source: 'ebs', unconfirmed: true },
  gp3ThroughputMbpsMonth: { usd: 0.048, source: 'ebs', unconfirmed: true },
  // EBS snapshots, Standard tier, per GB-month of blocks stored.
  snapshotGbMonth: { usd: 0.05, source: 'ebs', unconfirmed: true },
  // Every public IPv4 address, Elastic IP or auto-assigned, in use or idle, since 2024-02-01 (the `ipv4` announcement);
  // the same in every region.
  publicIpv4Hour: { usd: 0.005, source: 'vpc' },
  // S3 Standard, the first 50 TB of a month, per GB-month.
  s3StandardGbMonth: { usd: 0.025, source: 's3', unconfirmed: true },
  // A customer managed key, per month, in its first year: each of its first two yearly rotations adds as much again
  // (then no more: $3 a month from the third year). Requests are extra.
  kmsKeyMonth: { usd: 1, source: 'kms', unconfirmed: true },
  // A standard-resolution alarm per month; a custom metric per month (the first 10,000 metrics' tier).
  cloudwatchAlarmMonth: { usd: 0.1, source: 'cloudwatch', unconfirmed: true },
  cloudwatchMetricMonth: { usd: 0.3, source: 'cloudwatch', unconfirmed: true },
  // A dashboard per month, beyond an account's first three (the estimate counts it: other dashboards may use those).
  cloudwatchDashboardMonth: { usd: 3, source: 'cloudwatch', unconfirmed: true },
  // A hosted zone per month (the first 25 zones), for dns.zone: 'create'; a looked-up zone is billed where it lives.
  route53ZoneMonth: { usd: 0.5, source: 'route53', unconfirmed: true },
};

export default table;
