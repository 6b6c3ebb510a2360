/** The shape of a dated price table (config/prices/<region>.ts). */

/** One list price, in the table's currency, per the unit its field names. */
export interface Price {
  readonly usd: number;
  /** Key of the table's `sources`: the page the figure is read from. */
  readonly source: string;
  /** Not read on its source when the table was written: a transcription to check at the next refresh. */
  readonly unconfirmed?: true;
}

export interface PriceTable {
  /** The AWS region the prices are for, e.g. ap-southeast-3. */
  readonly region: string;
  readonly regionName: string;
  /** The day the prices were taken (YYYY-MM-DD). */
  readonly asOf: string;
  readonly currency: 'USD';
  /** Source pages by key. */
  readonly sources: Readonly<Record<string, string>>;
  /** On-demand Linux/UNIX, shared tenancy, per instance-hour, by instance type. */
  readonly instanceHour: Readonly<Record<string, Price>>;
  /** gp3 storage per GB-month; provisioned IOPS (above 3,000) per IOPS-month; throughput (above 125 MB/s) per MB/s-month. */
  readonly gp3GbMonth: Price;
  readonly gp3IopsMonth: Price;
  readonly gp3ThroughputMbpsMonth: Price;
  /** EBS snapshot storage (Standard tier) per GB-month. */
  readonly snapshotGbMonth: Price;
  /** A public IPv4 address per hour (Elastic IP or auto-assigned, in use or idle). */
  readonly publicIpv4Hour: Price;
  /** S3 Standard storage per GB-month (first 50 TB). */
  readonly s3StandardGbMonth: Price;
  /** A KMS customer managed key per month. */
  readonly kmsKeyMonth: Price;
  /** A CloudWatch standard-resolution alarm per month; a custom metric per month. */
  readonly cloudwatchAlarmMonth: Price;
  readonly cloudwatchMetricMonth: Price;
  /** A CloudWatch dashboard per month (an account's first three are free). */
  readonly cloudwatchDashboardMonth: Price;
  /** A Route53 hosted zone per month. */
  readonly route53ZoneMonth: Price;
}
