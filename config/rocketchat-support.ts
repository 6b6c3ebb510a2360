/**
 * Which Rocket.Chat releases are supported, until when, and on which MongoDB versions: a dated table,
 * checked at every synthesis against the day of synthesis. Bump it when Rocket.Chat publishes a release.
 *
 * Policy (https://docs.rocket.chat/docs/support-prerequisites, https://docs.rocket.chat/docs/releaselifecycle):
 * each release is supported for six months, an LTS release for twelve; past end of life a workspace gets no
 * security fixes and Rocket.Chat's cloud services (push gateway, marketplace) stop serving it.
 * End-of-life dates: https://docs.rocket.chat/docs/version-durability (behind Cloudflare, unreadable here),
 * as mirrored by https://endoflife.date/rocket-chat (endoflife-date/endoflife.date products/rocket-chat.md at
 * a70eca3, 2026-08-22) and Rocket.Chat's LTS announcement https://github.com/orgs/RocketChat/discussions/42302.
 * MongoDB versions: the "Engine versions" of each release's notes, https://github.com/RocketChat/Rocket.Chat/releases
 * (the method https://docs.rocket.chat/v1/docs/supported-mongodb-versions prescribes).
 * Where two sources disagree, the earlier end of life is kept: refusing a month early is safe, late is not.
 */

/** The day this table was last checked against the sources above. */
export const SUPPORT_TABLE_CHECKED = '2026-12-01';

export interface RocketChatCycle {
  /** Major.minor, e.g. "8.9"; every patch release of it shares its support window. */
  readonly cycle: string;
  readonly lts: boolean;
  /** Release of x.y.0 (ISO date). */
  readonly released: string;
  /** Last day of support (ISO date). */
  readonly endOfLife: string;
  /** MongoDB major.minor versions the release notes list; empty when not recorded (the cycle is past end of life). */
  readonly mongodb: readonly string[];
  /** Where the dates come from, when not the endoflife.date mirror. */
  readonly note?: string;
}

export const ROCKETCHAT_CYCLES: readonly RocketChatCycle[] = [
  {
    cycle: '9.0',
    lts: false,
    released: '2026-11-07',
    endOfLife: '2027-04-30',
    mongodb: ['8.0'],
    note: 'release after 9.0.0-rc.8 of 2026-11-07; six months, end of the month before, until version-durability lists it',
  },
  {
    cycle: '8.9',
    lts: true,
    released: '2026-10-03',
    endOfLife: '2027-09-30',
    mongodb: ['8.0'],
    note: 'LTS, twelve months from a release after 8.9.0-rc.5 of 2026-10-03 (discussion 42302); end of the month before',
  },
  { cycle: '8.8', lts: false, released: '2026-09-02', endOfLife: '2027-02-28', mongodb: ['8.0'], note: 'six months from release (endoflife.date PR 10883), end of the month before' },
  { cycle: '8.7', lts: false, released: '2026-08-07', endOfLife: '2027-01-31', mongodb: ['8.0'] },
  { cycle: '8.6', lts: false, released: '2026-07-03', endOfLife: '2027-01-31', mongodb: ['8.0'] },
  { cycle: '8.5', lts: true, released: '2026-06-10', endOfLife: '2027-06-30', mongodb: ['8.0'], note: 'LTS "until the end of June 2027" (discussion 42302); endoflife.date says 2027-07-31' },
  { cycle: '8.4', lts: false, released: '2026-04-30', endOfLife: '2026-10-31', mongodb: [] },
  { cycle: '8.3', lts: false, released: '2026-04-07', endOfLife: '2026-10-31', mongodb: [] },
  { cycle: '8.2', lts: false, released: '2026-03-02', endOfLife: '2026-09-30', mongodb: [] },
  { cycle: '8.1', lts: false, released: '2026-02-10', endOfLife: '2026-08-31', mongodb: ['8.2'] },
  { cycle: '8.0', lts: false, released: '2026-01-12', endOfLife: '2026-07-11', mongodb: ['8.2'] },
  { cycle: '7.13', lts: false, released: '2025-12-05', endOfLife: '2026-06-15', mongodb: ['5.0', '6.0', '7.0', '8.0'] },
  {
    cycle: '7.10',
    lts: true,
    released: '2025-09-04',
    endOfLife: '2026-06-30',
    mongodb: ['5.0', '6.0', '7.0'],
    note: 'DESIGN.md and endoflife.date (first) say 2026-06-30; discussion 42302 later extended it to 2026-09-30',
  },
];

export interface SupportVerdict {
  readonly field: 'rocketchat.release' | 'rocketchat.mongodbVersion';
  readonly message: string;
}

function day(d: Date): string {
  return d.toISOString().slice(0, 10);
}

function supportedOn(now: Date): RocketChatCycle[] {
  return ROCKETCHAT_CYCLES.filter((c) => c.released <= day(now) && day(now) <= c.endOfLife);
}

function choices(now: Date): string {
  const list = supportedOn(now).map((c) => `${c.cycle}${c.lts ? ' LTS' : ''} (until ${c.endOfLife})`);
  return list.length > 0 ? list.join(', ') : `none on ${day(now)}: update config/rocketchat-support.ts`;
}

/** What is wrong with a Rocket.Chat release and MongoDB version on the given day, or nothing. */
export function checkRocketChat(release: string, mongodbVersion: string, now: Date): SupportVerdict[] {
  const cycle = /^(\d+\.\d+)\./.exec(release)?.[1];
  if (cycle === undefined) return [];
  const entry = ROCKETCHAT_CYCLES.find((c) => c.cycle === cycle);
  if (!entry)
    return [
      {
        field: 'rocketchat.release',
        message: `is not in the support table (config/rocketchat-support.ts, checked ${SUPPORT_TABLE_CHECKED}): choose a supported release: ${choices(now)}; or add ${cycle} with its dates and MongoDB versions from the sources named there`,
      },
    ];
  if (day(now) > entry.endOfLife)
    return [{ field: 'rocketchat.release', message: `${cycle} reached end of life on ${entry.endOfLife} (no security fixes; push and marketplace stop): choose a supported release: ${choices(now)}` }];
  if (day(now) < entry.released)
    return [{ field: 'rocketchat.release', message: `${cycle} is not released yet according to the support table (from ${entry.released}): choose a supported release: ${choices(now)}` }];
  const major = /^(\d+\.\d+)/.exec(mongodbVersion)?.[1] ?? mongodbVersion;
  if (!entry.mongodb.includes(major))
    return [
      {
        field: 'rocketchat.mongodbVersion',
        message: `is not supported by Rocket.Chat ${cycle}, which supports MongoDB ${entry.mongodb.join(', ')} (its release notes): set mongodbVersion to one of them`,
      },
    ];
  return [];
}
