/**
 * The dated price tables kept in the repository, one per region (config/prices/<region>.ts), for `npm run cost`.
 * Nothing here reaches the network: a region without a table is refused, a price missing from a table is reported.
 */
import jakarta from './ap-southeast-3';
import type { PriceTable } from './types';

export type { Price, PriceTable } from './types';

/** Every table, by region. Add a region's file and list it here. */
export const PRICE_TABLES: Readonly<Record<string, PriceTable>> = { [jakarta.region]: jakarta };

/** A region the tables do not cover, or a table that does not cover a configuration. */
export class PriceTableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PriceTableError';
  }
}

/** The table of a region, or one error naming the region and what to add. */
export function priceTableFor(region: string, environment?: string): PriceTable {
  const table = PRICE_TABLES[region];
  if (table) return table;
  const covered = Object.keys(PRICE_TABLES).join(', ');
  const whose = environment === undefined ? '' : ` (aws.region of environment "${environment}")`;
  throw new PriceTableError(
    `No price table for region "${region}"${whose}: config/prices/ covers ${covered} only. Add config/prices/${region}.ts (a PriceTable with asOf, ` +
      `sources and the prices of every instance type the environment uses, EBS gp3 and snapshots, public IPv4, S3 Standard, KMS, CloudWatch and Route53 of ${region}: ` +
      `CONTRIBUTING.md, "Refresh the price table") and list it in PRICE_TABLES of config/prices/index.ts.`,
  );
}

/** Days between the table's asOf and a day. */
export function ageInDays(table: PriceTable, now: Date): number {
  return Math.floor((now.getTime() - Date.parse(`${table.asOf}T00:00:00Z`)) / 86_400_000);
}
