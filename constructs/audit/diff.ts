/**
 * Exposure opened and closed between two syntheses (`npm run audit -- --diff <dir>`), for a pull request to say
 * what it changes in who may reach what.
 */
import type { MatrixRow } from './matrix';
import type { StackAudit } from './stack-audit';

export interface ExposureChange {
  readonly environment: string;
  readonly host: string;
  readonly row: MatrixRow;
}

/** Exposure opened and closed between two syntheses, compared by host, direction, protocol, ports and peer. */
export function diffExposure(current: readonly StackAudit[], previous: readonly StackAudit[]): { opened: ExposureChange[]; closed: ExposureChange[] } {
  const flatten = (audits: readonly StackAudit[]): Map<string, ExposureChange> =>
    new Map(
      audits.flatMap((a) =>
        a.groups.flatMap((g) =>
          g.rows.map((row): [string, ExposureChange] => [[a.environment, g.host, row.direction, row.protocol, row.ports, row.peer].join('|'), { environment: a.environment, host: g.host, row }]),
        ),
      ),
    );
  const now = flatten(current);
  const before = flatten(previous);
  return {
    opened: [...now].filter(([k]) => !before.has(k)).map(([, c]) => c),
    closed: [...before].filter(([k]) => !now.has(k)).map(([, c]) => c),
  };
}
