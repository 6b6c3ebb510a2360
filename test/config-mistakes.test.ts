/**
 * Operator mistakes that used to pass silently (or crash with a stack), each through the real entry point:
 * main.ts's buildApp over a folder of environment files, as `cdktf synth` runs it. Every refusal is one block
 * naming the file, the field and the bad value; likely mistakes are warnings on the stack.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AnnotationMetadataEntryType, App, TerraformStack, Testing } from 'cdktf';
import { synthesizeOrFail } from '../config/entry';
import { PROJECT_TAGS_PER_RESOURCE, USER_TAG_LIMIT } from '../config/schema';
import { DebianHost } from '../constructs/debian-host';
import { HostIdentity } from '../constructs/host-identity';
import { HostRole } from '../constructs/host-role';
import { buildApp, APP_OPTIONS } from '../main';
import { environmentsDir, shipped, type FileContent } from './support/environments-dir';
import { refusal as refusalOf, synthesisFailure as synthesisFailureOf } from './support/synthesis-failure';

/** The day the shipped defaults were checked against the Rocket.Chat support table. */
const TODAY = new Date('2026-12-01T12:00:00Z');

function withDir<T>(files: Record<string, FileContent>, listed: readonly string[] | undefined, fn: (dir: string) => T): T {
  const d = environmentsDir(files, listed);
  try {
    return fn(d.dir);
  } finally {
    d.remove();
  }
}

/** The block the entry point would print, or a failure saying the mistake passed. */
const refusal = (files: Record<string, FileContent>, options: { listed?: readonly string[]; now?: Date } = {}): string => refusalOf(files, options.now ?? TODAY, options.listed);

function warnings(files: Record<string, FileContent>): string[] {
  return withDir(files, undefined, (dir) => {
    const app = buildApp(Testing.app(), { dir, now: TODAY });
    return app.node.findAll().flatMap((c) => c.node.metadata.filter((m) => m.type === AnnotationMetadataEntryType.WARN).map((m) => String(m.data)));
  });
}

function withoutState(file: Record<string, unknown>): Record<string, unknown> {
  const copy = { ...file };
  delete copy.state;
  return copy;
}

const both = (s: Record<string, unknown> = {}, p: Record<string, unknown> = {}): Record<string, FileContent> => ({ staging: shipped('staging', s), production: shipped('production', p) });

interface Case {
  readonly name: string;
  readonly files: Record<string, FileContent>;
  readonly listed?: readonly string[];
  readonly now?: Date;
  /** Every string must appear in the block: the file, the field, the value, the fix. */
  readonly says: readonly string[];
  /** What the block must not say (advice that would not work). */
  readonly excludes?: readonly string[];
  /** A pattern the block must match, where a literal is not enough. */
  readonly matches?: RegExp;
  /** How many problem lines the block may have, when that is part of the promise. */
  readonly lines?: number;
}

describe('the shipped environments through buildApp', () => {
  test('load, with today as the day of synthesis', () => {
    const app = buildApp(Testing.app(), { now: TODAY });
    expect(app.node.children.map((c) => c.node.id)).toEqual(['staging', 'production']);
  });
});

describe('the shape of the environment files names the file', () => {
  const cases: Case[] = [
    { name: 'an empty file', files: { ...both(), qa: '' }, says: ['qa.ts exports nothing', 'export default'] },
    {
      name: 'a named export instead of the default',
      files: { ...both(), qa: `export const qa = ${JSON.stringify(shipped('staging', { name: 'qa' }))};\n` },
      says: ['qa.ts has no default export (it exports qa)', 'export default qa;'],
    },
    {
      name: 'a file index.ts does not list',
      files: { ...both(), qa: shipped('staging', { name: 'qa' }) },
      listed: ['staging', 'production'],
      says: ['qa.ts is not listed in', "add 'qa' to ENVIRONMENT_FILES"],
    },
    { name: 'a file index.ts lists but is absent', files: both(), listed: ['staging', 'production', 'qa'], says: ["lists 'qa' but", 'qa.ts does not exist'] },
    { name: 'two files with one name', files: { ...both(), qa: shipped('staging', { dns: { subdomain: 'qa' } }) }, says: ['qa.ts and', 'staging.ts both have name = "staging"', "name: 'qa'"] },
    { name: 'a name that is not the file name', files: { ...both(), qa: shipped('staging', { name: 'qa2', dns: { subdomain: 'qa' } }) }, says: ['qa.ts: name = "qa2" differs from the file name'] },
    {
      name: 'a name in capitals is not advised as a file name',
      files: { staging: shipped('staging', { name: 'Staging' }), production: shipped('production') },
      says: ['staging.ts: name = "Staging" differs from the file name', "name: 'staging'"],
      excludes: ['Staging.ts'],
    },
    {
      name: 'a production file with a staging tier',
      files: { ...both(), 'production-eu': shipped('staging', { name: 'production-eu', dns: { subdomain: 'eu' } }) },
      says: ['production-eu.ts: tier = "staging" contradicts the file name', "tier: 'production'"],
    },
    ...['prod', 'prod-eu', 'prod2', 'eu-production'].map((id): Case => ({
      name: `a staging tier in ${id}.ts`,
      files: { ...both(), [id]: shipped('staging', { name: id, dns: { subdomain: id } }) },
      says: [`${id}.ts: tier = "staging" contradicts the file name`],
    })),
    {
      name: 'a staging file with a production tier',
      files: { ...both(), 'staging-2': shipped('production', { name: 'staging-2', dns: { subdomain: 's2' }, state: { bucket: 'other-state-bucket', region: 'ap-southeast-3' } }) },
      says: ['staging-2.ts: tier = "production" contradicts the file name'],
    },
    { name: 'a file that does not compile', files: { ...both(), qa: 'export default { name: "qa", tier: ' }, says: ['qa.ts cannot be loaded'] },
    // The compiler's own location line survives (esbuild under tsx: `qa.ts:2:0: ERROR: ...`; swc under jest: `[...qa.ts:1:...]`).
    {
      name: 'a file that does not compile names the line',
      files: { ...both(), qa: 'export default {\n  name: "qa",\n  tier: "staging"\n  dns: {},\n};\n' },
      says: ['qa.ts cannot be loaded'],
      matches: /qa\.ts:4:\d+/,
    },
  ];
  test.each(cases)('$name', ({ files, listed, says, matches, excludes }) => {
    const block = refusal(files, { listed });
    expect(block).toMatch(/^Invalid environment files in .*:\n  - /);
    for (const s of says) expect(block).toContain(s);
    for (const s of excludes ?? []) expect(block).not.toContain(s);
    if (matches) expect(block).toMatch(matches);
  });
});

test('a staging tier is fine in files whose name only contains "prod" (preprod, nonprod, products)', () => {
  const files = { ...both(), ...Object.fromEntries(['preprod', 'nonprod', 'products'].map((id) => [id, shipped('staging', { name: id, dns: { subdomain: id } })])) };
  const ids = withDir(files, undefined, (dir) => buildApp(Testing.app(), { dir, now: TODAY }).node.children.map((c) => c.node.id));
  expect(ids).toEqual(['staging', 'production', 'preprod', 'nonprod', 'products']);
});

describe('collisions between environments', () => {
  const prodState = { bucket: 'weebeetalk-terraform-state-example', region: 'ap-southeast-3', key: 'weebeetalk/production/terraform.tfstate' };
  const cases: Case[] = [
    {
      name: "staging's state is production's bucket and key",
      files: both({ state: prodState }),
      says: ['staging.ts', 'state.key = "weebeetalk/production/terraform.tfstate"', "is already production's", 'a deploy or destroy of staging would act on production'],
    },
    {
      name: 'two environments on the same names',
      files: { ...both(), qa: shipped('staging', { name: 'qa' }) },
      says: ['qa.ts', 'dns.hostNames.chat = "chat"', "name chat.staging.weebeetalk.example is already staging's"],
    },
    {
      name: "a production host name inside staging's names",
      files: both({}, { dns: { hostNames: { chat: 'chat.staging' } } }),
      says: ['staging.ts', 'production.ts', 'dns.hostNames.chat', "name chat.staging.weebeetalk.example is already production's"],
    },
    {
      name: "a created zone shadowing production's looked-up zone",
      files: both({ dns: { zone: 'create' } }),
      says: ['staging.ts', 'production.ts', 'dns.zone = "create"', 'zone weebeetalk.example', 'production looks up'],
    },
    {
      name: "a created production zone shadowing staging's looked-up zone",
      files: both({}, { dns: { zone: 'create' } }),
      says: ['production.ts', 'staging.ts', 'dns.zone = "create"', 'zone weebeetalk.example', 'staging looks up'],
    },
    {
      name: 'a created zone named by zoneName, looked up by another',
      files: both({ dns: { zone: 'create', domain: 'staging.weebeetalk.example', subdomain: '', zoneName: 'weebeetalk.example' } }),
      says: ['staging.ts', 'production.ts', 'zone weebeetalk.example'],
    },
    {
      name: 'two created zones of one name',
      files: both({ dns: { zone: 'create' } }, { dns: { zone: 'create' } }),
      says: ['staging.ts', 'dns.zone = "create"', "zone weebeetalk.example is already production's"],
    },
  ];
  test.each(cases)('$name', ({ files, says }) => {
    const block = refusal(files);
    for (const s of says) expect(block).toContain(s);
  });

  test('two environments looking up one zone share it: fine', () => {
    expect(() => withDir(both(), undefined, (dir) => buildApp(Testing.app(), { dir, now: TODAY }))).not.toThrow();
  });

  test('a state in the same bucket under its own key is fine', () => {
    expect(() => withDir(both({ state: { bucket: prodState.bucket, region: 'ap-southeast-3' } }), undefined, (dir) => buildApp(Testing.app(), { dir, now: TODAY }))).not.toThrow();
  });
});

describe('mistakes inside one environment', () => {
  const bad = (name: string, s: Record<string, unknown>, says: string[], now?: Date): Case => ({ name, files: both(s), says: ['staging.ts', ...says], now });
  const cases: Case[] = [
    bad('two roles with one host name', { dns: { hostNames: { meet: 'chat' } } }, ['dns.hostNames.meet = "chat": is also the chat host\'s name']),
    {
      name: 'production without remote state',
      files: { staging: shipped('staging'), production: withoutState(shipped('production')) },
      says: ['production.ts', 'state = (missing)', 'allowLocalState: true'],
    },
    {
      name: 'a mistyped tier, alone on its line',
      files: { staging: shipped('staging'), production: shipped('production', { tier: 'prod' }) },
      says: ['production.ts', 'tier = "prod": must be "staging" or "production"'],
      lines: 1,
    },
    { name: 'a misspelt field', files: both({ letsEncryptEmial: 'a@b.com' }), says: ['staging.ts', '  - letsEncryptEmial = "a@b.com": unknown field; did you mean letsEncryptEmail?\n'], lines: 1 },
    // Let's Encrypt (Boulder) refuses such an account contact: no certificate, the hosts fail at boot.
    ...[
      'ops@example.com',
      'ops@mail.example.net',
      'ops@example.org',
      'ops@weebeetalk.example',
      'ops@corp.test',
      'ops@x.invalid',
      'ops@box.localhost',
      'ops@nas.local',
      'ops@corp.internal',
      'ops@router.lan',
      'ops@printer.home.arpa',
    ].map((email) => bad(`a Let's Encrypt email at ${email}`, { letsEncryptEmail: email }, [`letsEncryptEmail = ${JSON.stringify(email)}: `, "Let's Encrypt refuses it"])),
    {
      name: "a Let's Encrypt email on a documentation domain in production too",
      files: both({}, { letsEncryptEmail: 'ops@weebeetalk.example' }),
      says: ['production.ts', 'letsEncryptEmail = "ops@weebeetalk.example"', "Let's Encrypt refuses it"],
    },
    { name: 'allowLocalState together with state', files: both({}, { allowLocalState: true }), says: ['production.ts', 'allowLocalState = true: contradicts state'] },
    bad('allowLocalState outside production', { allowLocalState: true }, ['allowLocalState = true: only applies to production']),
    // Versions, against the day of synthesis.
    bad('an end-of-life Rocket.Chat release', { rocketchat: { release: '7.10.10', mongodbVersion: '7.0' } }, [
      'rocketchat.release = "7.10.10"',
      '7.10 reached end of life on 2026-06-30',
      '8.9 LTS (until 2027-09-30)',
    ]),
    bad('an unknown Rocket.Chat release', { rocketchat: { release: '6.5.0' } }, ['rocketchat.release = "6.5.0": is not in the support table', 'config/rocketchat-support.ts']),
    bad('a MongoDB the release does not support', { rocketchat: { release: '8.9.1', mongodbVersion: '8.2' } }, [
      'rocketchat.mongodbVersion = "8.2": is not supported by Rocket.Chat 8.9, which supports MongoDB 8.0',
    ]),
    bad('the shipped release once it is past its end of life', {}, ['rocketchat.release = "8.9.1"', '8.9 reached end of life on 2027-09-30'], new Date('2027-10-15T00:00:00Z')),
    bad('a time zone that does not exist', { jitsi: { timezone: 'Asia/Jakartaa' } }, ['jitsi.timezone = "Asia/Jakartaa": is not a time zone']),
    // Intl takes any case, glibc does not: TZ=asia/jakarta is UTC+0 on the host.
    bad('a lowercase time zone', { jitsi: { timezone: 'asia/jakarta' } }, ['jitsi.timezone = "asia/jakarta"', 'write Asia/Jakarta']),
    bad('a time zone in capitals', { jitsi: { timezone: 'ASIA/JAKARTA' } }, ['jitsi.timezone = "ASIA/JAKARTA"', 'write Asia/Jakarta']),
    bad('a lowercase UTC', { jitsi: { timezone: 'utc' } }, ['jitsi.timezone = "utc"', 'write UTC']),
    bad('a lowercase POSIX-style zone', { jitsi: { timezone: 'est5edt' } }, ['jitsi.timezone = "est5edt"', 'spelling']),
    // Hardware.
    bad('one pinned image for x86 and Graviton roles', { ami: { id: 'ami-0123456789abcdef0' }, hosts: { chat: { instanceType: 't4g.medium' } } }, [
      'ami.id = "ami-0123456789abcdef0": is one image for roles of two architectures',
      'chat t4g.medium (arm64)',
      'hosts.<role>.amiId',
    ]),
    // a1 is the first Graviton generation: no "g" after its digit, still arm64 (the amd64 image cannot boot on it).
    bad('one pinned x86 image for an a1 Graviton role', { ami: { id: 'ami-0123456789abcdef0', architecture: 'x86_64' }, hosts: { chat: { instanceType: 'a1.large' } } }, [
      'hosts.chat.instanceType = "a1.large": is arm64 but the pinned ami.id is x86_64',
    ]),
    bad(
      'a Graviton type with a pinned x86 image',
      { ami: { id: 'ami-0123456789abcdef0', architecture: 'x86_64' }, hosts: { chat: { instanceType: 't4g.medium' }, meet: { instanceType: 'm7g.large' }, pbx: { instanceType: 't4g.small' } } },
      ['hosts.chat.instanceType = "t4g.medium": is arm64 but the pinned ami.id is x86_64'],
    ),
    bad('an x86 type with a pinned arm64 role image', { hosts: { pbx: { amiId: 'ami-0fedcba9876543210', amiArchitecture: 'arm64' } } }, [
      'hosts.pbx.instanceType = "t3.small": is x86_64 but hosts.pbx.amiId is an arm64 image',
    ]),
    // Free-form text that reaches generated files or AWS.
    ...['Line\nexten => 9999,1,Dial(PJSIP/trunk)', 'Sales; allow=all', 'Say "hi"', '[trunk]', 'Boss <1000>', 'back\\slash'].map((name) =>
      bad(`a SIP user name ${JSON.stringify(name)}`, { sip: { users: [{ extension: '1001', name }] } }, [`sip.users.0.name = ${JSON.stringify(name)}: may hold only letters`, 'pjsip.conf']),
    ),
    bad('a justification that would break the audit table', { sip: { worldOpenJustification: 'Provider signals from | anywhere at all' } }, [
      'sip.worldOpenJustification = "Provider signals from | anywhere at all": must be one line without "|"',
    ]),
    bad('a state key with a leading slash', { state: { bucket: 'weebeetalk-state-qa', region: 'ap-southeast-3', key: '/weebeetalk/staging.tfstate' } }, [
      'state.key = "/weebeetalk/staging.tfstate": must be an S3 key',
    ]),
    bad('a KMS key id that is not one', { state: { bucket: 'weebeetalk-state-qa', region: 'ap-southeast-3', kmsKeyId: 'my key' } }, [
      'state.kmsKeyId = "my key": must be a KMS key id, key ARN or alias',
    ]),
    // Dial-in (sip.dialIn): what reaches extensions.conf, and numbers or extensions that would answer twice.
    bad("a fixed room's name with a line break (it reaches extensions.conf)", { sip: { dialIn: { rooms: [{ room: 'lobby\nexten => 9999,1,Dial(PJSIP/trunk)', extension: '8100' }] } } }, [
      'sip.dialIn.rooms.0.room = "lobby\\nexten => 9999,1,Dial(PJSIP/trunk)": must be a room name of lowercase letters, digits, - and _',
    ]),
    bad('a fixed room with neither did nor extension', { sip: { dialIn: { rooms: [{ room: 'helpdesk' }] } } }, [
      'sip.dialIn.rooms.0 = {"room":"helpdesk"}: gives neither did nor extension for room helpdesk: give one',
    ]),
    bad('a fixed room with both did and extension', { sip: { dialIn: { rooms: [{ room: 'helpdesk', did: '622155550199', extension: '8100' }] } } }, [
      'sip.dialIn.rooms.0 = {"room":"helpdesk","did":"622155550199","extension":"8100"}: gives both did and extension for room helpdesk',
      'add a second entry for the other',
    ]),
    bad(
      'two fixed rooms on one extension',
      {
        sip: {
          dialIn: {
            rooms: [
              { room: 'helpdesk', extension: '8100' },
              { room: 'sales', extension: '8100' },
            ],
          },
        },
      },
      ['sip.dialIn.rooms.1.extension = "8100": is also the extension 8100 of room helpdesk: each number or extension reaches one room'],
    ),
    bad(
      'two fixed rooms on one trunk number',
      {
        sip: {
          dialIn: {
            rooms: [
              { room: 'helpdesk', did: '622155550199' },
              { room: 'sales', did: '622155550199' },
            ],
          },
        },
      },
      ['sip.dialIn.rooms.1.did = "622155550199": is also the did 622155550199 of room helpdesk'],
    ),
    bad("a fixed room on a phone's extension", { sip: { dialIn: { rooms: [{ room: 'helpdesk', extension: '1001' }] } } }, [
      'sip.dialIn.rooms.0.extension = "1001": is a phone\'s extension (sip.users): choose one no phone has',
    ]),
    bad('a fixed room on the conference extension', { sip: { dialIn: { rooms: [{ room: 'helpdesk', extension: '8000' }] } } }, [
      'sip.dialIn.rooms.0.extension = "8000": is the conference extension (8000, asks for a meeting\'s PIN): choose another',
    ]),
    bad('a phone on the conference extension', { sip: { users: [{ extension: '8000', name: 'Lobby' }] } }, [
      'sip.users.0.extension = "8000": is the conference extension (8000, asks for a meeting\'s PIN): choose another',
    ]),
    bad('a trunk number that is not one', { sip: { dialIn: { rooms: [{ room: 'helpdesk', did: '62-21' }] } } }, [
      'sip.dialIn.rooms.0.did = "62-21": must be the called number as the trunk sends it',
      '"*" for every trunk call',
    ]),
    bad('fixed rooms with Jigasi off', { jitsi: { jigasi: false } }, [
      'jitsi.jigasi = false: is off but sip.dialIn lists numbers or rooms',
      'turn jitsi.jigasi on, or empty sip.dialIn.numbers and sip.dialIn.rooms',
    ]),
    bad('a wait longer than half an hour', { sip: { dialIn: { waitSeconds: 3600 } } }, ['sip.dialIn.waitSeconds = 3600: must be at most 1800 (30 minutes)']),
    bad('the retired sip.dialInRoom', { sip: { dialInRoom: 'lobby' } }, [
      'sip.dialInRoom = "lobby": is gone',
      'add it to sip.dialIn.rooms as { did: "*", room: "<the room>" }',
      '{ extension: "<extension>", room: "<the room>" }',
    ]),
    bad('a tag under the reserved aws: prefix', { tags: { 'aws:owner': 'ops' } }, ['tags.aws:owner = "ops": key "aws:owner" starts with "aws:"']),
    bad('a tag that overrides a project tag', { tags: { Environment: 'prod' } }, ['tags.Environment = "prod": key "Environment" is set by this project']),
    bad('a tag holding password=...', { tags: { Owner: 'password=hunter2' } }, ['tags.Owner = "password=hunter2"', 'looks like a secret']),
    bad('a tag holding an access key id', { tags: { Deployer: 'AKIAIOSFODNN7EXAMPLE' } }, ['tags.Deployer = "AKIAIOSFODNN7EXAMPLE"', 'AWS access key id']),
    bad('a tag holding a random token', { tags: { Build: 'k8J2mQ9xZ4vT7pL1wR5nB3cY6dF0' } }, ['tags.Build = "k8J2mQ9xZ4vT7pL1wR5nB3cY6dF0"', 'long random-looking string']),
    bad('a tag key naming a secret', { tags: { DbPassword: 'x' } }, ['tags.DbPassword = "x"', 'names a secret']),
    ...['db_password', 'GITHUB_TOKEN', 'ClientSecret', 'api-key', 'ApiKey', 'PrivateKey', 'Credentials', 'Passwd'].map((key) =>
      bad(`a tag key ${key}`, { tags: { [key]: 'x' } }, [`tags.${key} = "x"`, 'names a secret']),
    ),
    bad('a tag holding an AWS secret access key', { tags: { Deployer: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' } }, [
      'tags.Deployer = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"',
      'looks like a secret',
    ]),
    bad('a tag holding a JWT', { tags: { Session: 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk' } }, ['tags.Session = "eyJ', 'JSON Web Token']),
    bad('a tag holding token: ...', { tags: { Note: 'deploy token: abc' } }, ['tags.Note = "deploy token: abc"', 'name=value']),
    bad("more user tags than leave room for the project's on one resource", { tags: Object.fromEntries(Array.from({ length: 45 }, (_, i) => [`Team${i + 1}`, 'ops'])) }, [
      'tags.Team45 = "ops": is user tag 45',
      'AWS allows 50 tags per resource',
      'at most 44 user tags',
      'remove 1',
    ]),
    bad('a user tag over a tag the instance carries', { tags: { WeebeetalkPublicIp: '1.2.3.4' } }, ['tags.WeebeetalkPublicIp = "1.2.3.4": key "WeebeetalkPublicIp" is set by this project']),
    bad('a tag value with a line break', { tags: { Team: 'ops\nadmin' } }, ['tags.Team = "ops\\nadmin": may hold only letters']),
  ];
  test.each(cases)('$name', ({ files, says, now, lines }) => {
    const block = refusal(files, { now });
    for (const s of says) expect(block).toContain(s);
    if (lines !== undefined) expect(block.split('\n').filter((l) => l.startsWith('  - '))).toHaveLength(lines);
  });

  test('what is valid stays valid: per-role images, real time zones, ordinary names and tags', () => {
    const ok = both({
      ami: { id: 'ami-0123456789abcdef0', architecture: 'x86_64' },
      hosts: { chat: { instanceType: 't4g.medium', amiId: 'ami-0fedcba9876543210', amiArchitecture: 'arm64' } },
      jitsi: { timezone: 'Europe/Berlin' },
      sip: {
        users: [
          { extension: '1001', name: "O'Brien (Sales) & Co., 2/F" },
          { extension: '1002', name: 'Ünal-Çelik' },
          { extension: '1003', name: 'Rene\u0301 Lefe\u0300vre' },
        ],
      },
      tags: {
        CostCenter: 'CC-1234',
        Owner: 'ops@weebeetalk.example',
        Repo: 'github.com/weebeetalk/infra',
        // Words that only contain a secret's name, and ordinary long values.
        CompassId: 'north-7',
        BypassBackup: 'false',
        PassportOffice: 'Jakarta',
        TokenRing: 'legacy',
        Campaign: 'Marketing-Campaign-Q3-2026',
        Budget: 'CC-2024-Engineering-Platform-07',
        Run: 'gh-run-9f8e7d6c5b4a-attempt-2',
        Build: '01ARZ3NDEKTSV4RRFFQ69G5FAV',
        Commit: 'a94a8fe5ccb19ba61c4c0873d391e987982fbbd3',
      },
    });
    const amis = withDir(ok, undefined, (dir) => {
      const stack = buildApp(Testing.app(), { dir, now: TODAY }).node.findChild('staging') as TerraformStack;
      const json = JSON.parse(Testing.synth(stack)) as { resource: { aws_instance: Record<string, { ami: string; tags: { Name: string } }> } };
      return Object.fromEntries(Object.values(json.resource.aws_instance).map((i) => [i.tags.Name, i.ami]));
    });
    // The role's own pin wins over ami.id.
    expect(amis).toEqual({ 'weebeetalk-staging-chat': 'ami-0fedcba9876543210', 'weebeetalk-staging-meet': 'ami-0123456789abcdef0', 'weebeetalk-staging-pbx': 'ami-0123456789abcdef0' });
  });
});

test("the project's own tags on one resource, counted from the plan, are what the tag limit leaves room for", () => {
  const json = withDir(both({ snapshots: { enabled: true } }), undefined, (dir) => {
    const stack = buildApp(Testing.app(), { dir, now: TODAY }).node.findChild('staging') as TerraformStack;
    return JSON.parse(Testing.synth(stack)) as {
      provider: { aws: { default_tags?: { tags: Record<string, string> }[] }[] };
      resource: Record<
        string,
        Record<string, { tags?: Record<string, string>; policy_details?: { schedule?: { copy_tags?: boolean; tags_to_add?: Record<string, string> }[]; target_tags?: Record<string, string> } }>
      >;
    };
  });
  const defaults = Object.keys(json.provider.aws[0].default_tags?.[0]?.tags ?? {});
  const counted = (keys: string[]): number => new Set([...defaults, ...keys].filter((k) => !k.startsWith('aws:'))).size;
  let most = 0;
  for (const [type, blocks] of Object.entries(json.resource))
    for (const block of Object.values(blocks)) {
      most = Math.max(most, counted(Object.keys(block.tags ?? {})));
      // DLM copies the volume's tags onto each snapshot and adds its own.
      if (type === 'aws_dlm_lifecycle_policy')
        for (const schedule of block.policy_details?.schedule ?? []) {
          const volume = Object.values(json.resource.aws_ebs_volume).find((v) => Object.entries(block.policy_details?.target_tags ?? {}).every(([k, v2]) => v.tags?.[k] === v2));
          most = Math.max(most, counted([...(schedule.copy_tags ? Object.keys(volume?.tags ?? {}) : []), ...Object.keys(schedule.tags_to_add ?? {})]));
        }
    }
  expect(most).toBe(PROJECT_TAGS_PER_RESOURCE);
  expect(USER_TAG_LIMIT).toBe(50 - most);
});

describe('several mistakes at once', () => {
  test('every environment is checked: one block per environment, in one run', () => {
    const block = refusal(both({ sip: { clientCidrs: ['198.51.100.7/24'] } }, { jitsi: { timezone: 'Nowhere/City' } }));
    const blocks = block.trimEnd().split('\n\n');
    expect(blocks).toHaveLength(2);
    expect(blocks[0]).toMatch(/^Invalid configuration for environment "staging" \(.*staging\.ts\):\n  - sip\.clientCidrs\.0 = "198\.51\.100\.7\/24": has host bits set/);
    expect(blocks[1]).toMatch(/^Invalid configuration for environment "production" \(.*production\.ts\):\n  - jitsi\.timezone = "Nowhere\/City": is not a time zone/);
  });
});

describe('likely mistakes are warnings', () => {
  test('a Rocket.Chat release close to its end of life', () => {
    const d = environmentsDir(both());
    try {
      const app = buildApp(Testing.app(), { dir: d.dir, now: new Date('2027-09-01T00:00:00Z') });
      const found = app.node.findAll().flatMap((c) => c.node.metadata.filter((m) => m.type === AnnotationMetadataEntryType.WARN).map((m) => String(m.data)));
      expect(found.filter((w) => w.includes('rocketchat.release = "8.9.1": 8.9 reaches end of life on 2027-09-30: plan the upgrade'))).toHaveLength(2);
    } finally {
      d.remove();
    }
  });

  test.each([
    { name: 'a private SIP client network on a public host', s: { sip: { clientCidrs: ['10.99.0.0/16'] } }, says: 'sip.clientCidrs.0 = "10.99.0.0/16": is a private network' },
    {
      name: 'an RTP range too small for the phones',
      s: { sip: { rtpPorts: { from: 10000, to: 10005 } } },
      says: 'sip.rtpPorts = {"from":10000,"to":10005}: 6 ports carry fewer than the 8 that 2 phones',
    },
    { name: "the shipped placeholder Let's Encrypt email", s: {}, says: 'letsEncryptEmail = "ops@replace-with-your-domain.com": is the shipped placeholder' },
    {
      name: 'an administrator email on a documentation domain',
      s: { rocketchat: { adminEmail: 'admin@example.com' } },
      says: 'rocketchat.adminEmail = "admin@example.com": is on a documentation domain',
    },
    {
      name: 'a SIP trunk without Jigasi to put its calls into Jitsi',
      // Without fixed rooms (with them, Jigasi off is refused).
      s: { jitsi: { jigasi: false }, sip: { trunkSignallingCidrs: ['192.0.2.0/28'], dialIn: { rooms: [] } } },
      says: 'jitsi.jigasi = false: calls from sip.trunkSignallingCidrs reach meetings (by PIN or sip.dialIn.rooms) only through Jigasi',
    },
  ])('$name', ({ s, says }) => {
    const found = warnings(both(s)).filter((w) => w.includes(says) && w.includes('staging.ts: '));
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(/^.*staging\.ts: /);
  });
});

test('production Jitsi without authentication is a warning', () => {
  const found = warnings(both({}, { jitsi: { auth: 'none' } })).filter((w) => w.includes('production.ts: jitsi.auth = "none": anyone'));
  expect(found).toHaveLength(1);
});

describe('synthesis errors name the configuration field', () => {
  /** The block the entry point prints when synthesis of both environments with `override` fails. */
  const synthesisFailure = (override: Parameters<typeof both>[0]): string => synthesisFailureOf(both(override), TODAY);

  test('a Jitsi HTTPS port on an internal port fails the audit gate naming jitsi.httpsPort', () => {
    const block = synthesisFailure({ jitsi: { httpsPort: 9090 } });
    expect(block).toMatch(/^Synthesis of environment "staging" failed:\n  - jitsi\.httpsPort = 9090: WBT-SG-INTERNAL /);
    expect(block).not.toContain('production');
  });

  test('a secret version for a path that is no secret of the environment names the field, the value and the paths there are', () => {
    const block = synthesisFailure({ secrets: { versions: { 'meet/jigasi-password': 2 } } }).trimEnd();
    expect(block).toMatch(
      /^Synthesis of environment "staging" failed:\n {2}- \[staging\/secrets\] secrets\.versions\.meet\/jigasi-password = 2: no generated secret of this environment has that path: use one of chat\/admin-password, .*meet\/jigasi-sip-password.*, or remove it$/,
    );
    expect(block.split('\n')).toHaveLength(2);
  });

  test('a PBX with 500 phones synthesizes: its phones ride in the bundle, and user-data stays far below 16 KB', () => {
    const users = Array.from({ length: 500 }, (_, i) => ({ extension: String(1001 + i), name: `Phone ${i}` }));
    const outdir = mkdtempSync(join(tmpdir(), 'weebeetalk-mistakes-'));
    const d = environmentsDir(both({ sip: { users, rtpPorts: { from: 10000, to: 19999 } } }));
    try {
      let app: App | undefined;
      synthesizeOrFail(() => (app = buildApp(new App({ ...APP_OPTIONS, outdir, stackTraces: false }), { dir: d.dir, now: TODAY })));
      if (app === undefined) throw new Error('buildApp returned nothing');
      const notes = app.node.findAll().flatMap((c) => c.node.metadata.filter((m) => m.type !== AnnotationMetadataEntryType.INFO).map((m) => String(m.data)));
      // Not an error, not even the 95 % warning: user-data is the same for 2 phones or 500.
      expect(notes.filter((n) => /user-data/.test(n))).toEqual([]);
    } finally {
      d.remove();
      rmSync(outdir, { recursive: true, force: true });
    }
  });

  test("user-data past EC2's 16 KB (only a bootstrap grown too big can) fails naming its size and what to trim", () => {
    const stack = new TerraformStack(Testing.app(), 'bare');
    const identity = new HostIdentity(stack, 'pbx-identity', { name: 'w-pbx', subnetId: 'subnet-1', privateIp: '10.0.0.12', securityGroupIds: ['sg-1'] });
    // Incompressible: 24 KB of random bytes, base64.
    new DebianHost(stack, 'pbx-host', {
      name: 'w-pbx',
      region: 'ap-southeast-3',
      availabilityZone: 'ap-southeast-3a',
      instanceType: 't3.small',
      identity,
      role: new HostRole(stack, 'pbx-role', { name: 'w-pbx' }),
      dataVolumeGiB: 8,
      snapshotTag: { key: 'k', value: 'v' },
      userData: { env: { WBT_FILLER: randomBytes(24 * 1024).toString('base64') } },
    });
    const errors = stack.node.findAll().flatMap((c) => c.node.metadata.filter((m) => m.type === AnnotationMetadataEntryType.ERROR).map((m) => String(m.data)));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(
      /^user-data of the pbx host is \d{5} bytes gzipped, EC2's limit is 16384 bytes \(raw, before base64\): the instance could not be launched or replaced: trim the bootstrap/,
    );
  });
});
