/**
 * The environment configuration refuses every mistake it promises to catch, each with one problem line
 * `<field> = <value>: <message>` under `Invalid configuration for environment "<env>"`, the message saying
 * how to fix it. The shipped environments load, and the tiers' defaults differ (staging small, production larger).
 */
import { environments } from '../config/environments';
import { ConfigError, loadEnvironment, merge, type EnvironmentFile } from '../config/load';
import { architectureOf, enabledPools, enabledRoles, JIBRI_MEMORY_GIB, memoryGiBOf, ROLES, type EnvironmentConfig } from '../config/schema';
import { environmentFile, type EnvironmentOverride } from './support/synth';

const staging = environmentFile('staging');
const production = environmentFile('production');

/** A shipped file with an override; `unknown` lets a test smuggle in what the type system would refuse. */
function variant(base: EnvironmentFile, override: EnvironmentOverride | Record<string, unknown>): EnvironmentFile {
  return merge(base, override);
}

function configErrorOf(file: EnvironmentFile): ConfigError {
  let caught: unknown;
  try {
    loadEnvironment(file);
  } catch (e) {
    caught = e;
  }
  if (!(caught instanceof ConfigError)) throw new Error(`expected a ConfigError for ${JSON.stringify(file)}, got ${caught === undefined ? 'a valid configuration' : String(caught)}`);
  return caught;
}

function escapeRe(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

interface Promised {
  /** Dotted path of the field at fault. */
  readonly field: string;
  /** The offending value, as the user wrote it. */
  readonly value: unknown;
  /** What the message must say (the diagnosis). */
  readonly says: RegExp;
  /** The fix the message must give: an instruction or an example of a valid value. */
  readonly fix: RegExp;
}

/** The file fails with exactly the promised problem, naming environment, field, bad value and a fix. */
function expectRefused(file: EnvironmentFile, promised: Promised): void {
  const error = configErrorOf(file);
  expect(error.environment).toBe(file.name);
  const lines = error.message.split('\n');
  expect(lines[0]).toBe(`Invalid configuration for environment "${file.name}":`);
  expect(error.problems).toHaveLength(1);
  expect(lines.slice(1)).toEqual(error.problems.map((p) => `  - ${p}`));
  const problem = error.problems[0];
  const prefix = `${promised.field} = ${JSON.stringify(promised.value)}: `;
  expect(problem).toMatch(new RegExp(`^${escapeRe(prefix)}`));
  const message = problem.slice(prefix.length);
  expect(message).toMatch(promised.says);
  expect(message).toMatch(promised.fix);
}

describe('shipped environments', () => {
  test('are staging and production, and both load', () => {
    expect(environments.map((e) => e.name)).toEqual(['staging', 'production']);
    for (const file of environments) {
      const config = loadEnvironment(file);
      expect(config.name).toBe(file.name);
      expect(config.tier).toBe(file.name);
    }
  });

  test('the reference files load unchanged: the negative tests below start from valid configurations', () => {
    expect(() => loadEnvironment(staging)).not.toThrow();
    expect(() => loadEnvironment(production)).not.toThrow();
  });
});

describe('tier defaults', () => {
  const minimal = (tier: 'staging' | 'production'): EnvironmentConfig =>
    loadEnvironment({
      name: `min-${tier}`,
      tier,
      aws: tier === 'production' ? { allowedAccountIds: ['111122223333'] } : {},
      // Production refuses local state unless told (test/config-mistakes.test.ts); the defaults are what is tested here.
      ...(tier === 'production' ? { allowLocalState: true } : {}),
      dns: { domain: 'example.org' },
      letsEncryptEmail: 'ops@weebeetalk.co.id',
      // Every field of these has a default, but the sections themselves are required (see the report).
      sip: {},
      jitsi: {},
    });
  const s = minimal('staging');
  const p = minimal('production');
  /** Relative size of an EC2 size suffix: nano < micro < ... < large < xlarge < 2xlarge ... */
  const rank = (instanceType: string): number => {
    const size = instanceType.split('.')[1];
    const order = ['nano', 'micro', 'small', 'medium', 'large'];
    if (order.includes(size)) return order.indexOf(size);
    const m = /^(\d*)xlarge$/.exec(size);
    if (!m) throw new Error(`unexpected size ${size}`);
    return order.length + Math.log2(Number(m[1] || '1'));
  };

  test('what a file leaves out takes the documented defaults', () => {
    for (const c of [s, p]) {
      expect(c.aws.region).toBe('ap-southeast-3');
      expect(c.dns).toMatchObject({ zone: 'lookup', hostNames: { chat: 'chat', meet: 'meet', pbx: 'pbx' } });
      expect(c.adminCidrs).toEqual([]);
      expect(c.sip).toMatchObject({ trunkSignallingCidrs: [], trunkMediaCidrs: [], clientCidrs: [], wss: false, rtpPorts: { from: 10000, to: 19999 }, users: [] });
      expect(c.jitsi).toMatchObject({ httpsPort: 443, jigasi: true, jigasiPorts: { from: 20000, to: 20050 }, jibri: true, auth: 'jwt' });
      expect(c.storage.recordingsRetentionDays).toBe(30);
      expect(c.state).toBeUndefined();
    }
  });

  test('the TURN relay: on in production, off in staging unless turn.enabled; its relay range and quotas by default', () => {
    expect([s.turn.enabled, p.turn.enabled]).toEqual([false, true]);
    expect(enabledRoles(s)).toEqual(['chat', 'meet', 'pbx']);
    expect(enabledRoles(p)).toEqual(['chat', 'meet', 'pbx', 'turn']);
    for (const c of [s, p]) expect(c.turn).toMatchObject({ relayPorts: { from: 49152, to: 65535 }, userQuota: 48, totalQuota: 1200 });
    const on = loadEnvironment(variant(staging, { turn: { enabled: true } }));
    expect(on.turn).toEqual({ enabled: true, relayPorts: { from: 49152, to: 65535 }, userQuota: 48, totalQuota: 1200 });
    expect(enabledRoles(on)).toEqual(['chat', 'meet', 'pbx', 'turn']);
    // Its host is sized per tier even where it is not built (turning it on needs nothing else).
    expect([s.hosts.turn, p.hosts.turn]).toEqual([
      { instanceType: 't3.micro', dataVolumeGiB: 2, rootVolumeGiB: s.hosts.pbx.rootVolumeGiB },
      { instanceType: 'c6i.large', dataVolumeGiB: 4, rootVolumeGiB: p.hosts.pbx.rootVolumeGiB },
    ]);
    expect(s.hosts.pbx.rootVolumeGiB).toBe(16);
  });

  test('the turn section is strict: a misspelt key or a non-boolean switch is refused', () => {
    expect(configErrorOf(variant(staging, { turn: { enabled: true, relayPort: { from: 50000, to: 50100 } } })).message).toMatch(/turn/);
    expect(configErrorOf(variant(staging, { turn: { enabled: 'yes' } })).message).toMatch(/turn\.enabled/);
    expect(configErrorOf(variant(staging, { turn: { enabled: true, userQuota: 0 } })).message).toMatch(/turn\.userQuota/);
  });

  test('staging is small: burstable t-family instances, minimum volumes, short retention', () => {
    for (const role of ROLES) expect(s.hosts[role].instanceType).toMatch(/^t\d/);
    expect(s.hosts).toMatchObject({ chat: { dataVolumeGiB: 20 }, meet: { dataVolumeGiB: 40 }, pbx: { dataVolumeGiB: 10 } });
    expect(s.dns.subdomain).toBe('staging');
    expect(s.ami.followLatest).toBe(true);
  });

  test('production is larger on every host, keeps more, and does not follow new AMIs by itself', () => {
    for (const role of ROLES) {
      expect(rank(p.hosts[role].instanceType)).toBeGreaterThan(rank(s.hosts[role].instanceType));
      expect(p.hosts[role].dataVolumeGiB).toBeGreaterThan(s.hosts[role].dataVolumeGiB);
    }
    expect(p.storage.backupRetentionDays).toBeGreaterThan(s.storage.backupRetentionDays);
    expect(p.snapshots.retainCount).toBeGreaterThan(s.snapshots.retainCount);
    expect(p.dns.subdomain).toBe('');
    expect(p.ami.followLatest).toBe(false);
  });

  test('staging and production get different VPC blocks by default', () => {
    expect(s.network.vpcCidr).not.toBe(p.network.vpcCidr);
  });
});

describe('CIDR lists', () => {
  test('a malformed CIDR', () => {
    for (const bad of ['not-a-cidr', '203.0.113.0', '203.0.113.0/33', '203.0.113.256/24']) {
      expectRefused(variant(staging, { adminCidrs: [bad] }), { field: 'adminCidrs.0', value: bad, says: /must be an IPv4 CIDR/, fix: /such as 203\.0\.113\.0\/24/ });
    }
  });

  test('a CIDR with host bits set', () => {
    expectRefused(variant(staging, { sip: { clientCidrs: ['198.51.100.7/24'] } }), {
      field: 'sip.clientCidrs.0',
      value: '198.51.100.7/24',
      says: /host bits set/,
      fix: /write 198\.51\.100\.0\/24/,
    });
  });

  test('overlapping CIDRs in one list', () => {
    expectRefused(variant(staging, { adminCidrs: ['203.0.113.0/24', '198.18.0.0/15', '203.0.113.128/25'] }), {
      field: 'adminCidrs.2',
      value: '203.0.113.128/25',
      says: /overlaps 203\.0\.113\.0\/24 at index 0/,
      fix: /remove one or merge them/,
    });
  });

  test('a CIDR overlapping the VPC', () => {
    // staging's VPC is 10.21.0.0/16 by default.
    expectRefused(variant(staging, { sip: { trunkSignallingCidrs: ['10.21.5.0/24'] } }), {
      field: 'sip.trunkSignallingCidrs.0',
      value: '10.21.5.0/24',
      says: /overlaps the VPC 10\.21\.0\.0\/16/,
      // The way out: the outside network's public addresses, or another VPC block.
      fix: /network\.vpcCidr|public address/,
    });
  });

  test('0.0.0.0/0 and ::/0 are never an admin CIDR', () => {
    for (const world of ['0.0.0.0/0', '::/0']) {
      expectRefused(variant(staging, { adminCidrs: [world] }), { field: 'adminCidrs.0', value: world, says: /never be the whole internet/, fix: /SSM Session Manager/ });
    }
  });

  test('0.0.0.0/0 in a SIP list needs a written justification', () => {
    for (const list of ['trunkSignallingCidrs', 'trunkMediaCidrs', 'clientCidrs'] as const) {
      expectRefused(variant(staging, { sip: { [list]: ['0.0.0.0/0'] } }), {
        field: `sip.${list}.0`,
        value: '0.0.0.0/0',
        says: /opens SIP to the whole internet/,
        fix: /set sip\.worldOpenJustification/,
      });
    }
  });

  test('0.0.0.0/0 in a SIP list is accepted with a justification', () => {
    const config = loadEnvironment(variant(staging, { sip: { trunkSignallingCidrs: ['0.0.0.0/0'], worldOpenJustification: 'The SIP provider signals from changing addresses it will not list' } }));
    expect(config.sip.trunkSignallingCidrs).toEqual(['0.0.0.0/0']);
  });

  test('a justification too short to explain anything is refused', () => {
    expectRefused(variant(staging, { sip: { worldOpenJustification: 'because' } }), {
      field: 'sip.worldOpenJustification',
      value: 'because',
      says: /at least 20 characters/,
      fix: /explain/,
    });
  });
});

describe('port ranges', () => {
  test('an inverted RTP range', () => {
    expectRefused(variant(staging, { sip: { rtpPorts: { from: 19999, to: 10000 } } }), {
      field: 'sip.rtpPorts',
      value: { from: 19999, to: 10000 },
      says: /inverted/,
      fix: /write \{ from: 10000, to: 19999 \}/,
    });
  });

  test('an RTP range over SIP 5060, SIP-TLS 5061 and, with WSS, 8089', () => {
    const cases: [{ from: number; to: number }, number, boolean][] = [
      [{ from: 5050, to: 5060 }, 5060, false],
      [{ from: 5061, to: 5100 }, 5061, false],
      [{ from: 8089, to: 9000 }, 8089, true],
    ];
    for (const [range, port, wss] of cases) {
      expectRefused(variant(staging, { sip: { rtpPorts: range, wss } }), {
        field: 'sip.rtpPorts',
        value: range,
        says: new RegExp(`contains ${port} `),
        fix: /choose a range clear of it/,
      });
    }
  });

  test('an RTP range below 1024', () => {
    expectRefused(variant(staging, { sip: { rtpPorts: { from: 1000, to: 2000 } } }), {
      field: 'sip.rtpPorts',
      value: { from: 1000, to: 2000 },
      says: /1024 or above/,
      fix: /10000-19999/,
    });
  });

  test('a Jigasi range over JVB media or the Jitsi HTTPS port', () => {
    expectRefused(variant(staging, { jitsi: { jigasiPorts: { from: 9990, to: 10010 } } }), {
      field: 'jitsi.jigasiPorts',
      value: { from: 9990, to: 10010 },
      says: /contains 10000 \(JVB media\)/,
      fix: /choose a range clear of it/,
    });
    expectRefused(variant(staging, { jitsi: { httpsPort: 8443, jigasiPorts: { from: 8400, to: 8500 } } }), {
      field: 'jitsi.jigasiPorts',
      value: { from: 8400, to: 8500 },
      says: /contains 8443 \(HTTPS\)/,
      fix: /choose a range clear of it/,
    });
  });

  test('an inverted or privileged Jigasi range', () => {
    expectRefused(variant(staging, { jitsi: { jigasiPorts: { from: 20050, to: 20000 } } }), {
      field: 'jitsi.jigasiPorts',
      value: { from: 20050, to: 20000 },
      says: /inverted/,
      fix: /write \{ from: 20000, to: 20050 \}/,
    });
    expectRefused(variant(staging, { jitsi: { jigasiPorts: { from: 80, to: 200 } } }), {
      field: 'jitsi.jigasiPorts',
      value: { from: 80, to: 200 },
      says: /1024 or above/,
      fix: /20000-20050/,
    });
  });

  test('httpsPort 80 or 10000', () => {
    expectRefused(variant(staging, { jitsi: { httpsPort: 80 } }), { field: 'jitsi.httpsPort', value: 80, says: /cannot be 80/, fix: /use 443 or 8443/ });
    expectRefused(variant(staging, { jitsi: { httpsPort: 10000 } }), { field: 'jitsi.httpsPort', value: 10000, says: /cannot be 10000/, fix: /use 443 or 8443/ });
  });

  test('httpsPort outside 1-65535 or not whole', () => {
    for (const bad of [0, 70000, 1.5]) {
      expectRefused(variant(staging, { jitsi: { httpsPort: bad } }), { field: 'jitsi.httpsPort', value: bad, says: /1 to 65535/, fix: /from 1 to 65535/ });
    }
  });

  test('8443 is a valid Jitsi HTTPS port', () => {
    expect(loadEnvironment(variant(staging, { jitsi: { httpsPort: 8443 } })).jitsi.httpsPort).toBe(8443);
  });
});

describe('names and shapes', () => {
  test('an empty or malformed domain', () => {
    for (const bad of ['', 'localhost', 'Example.COM', 'example..com', '-bad.example.com', 'example.com.']) {
      expectRefused(variant(staging, { dns: { domain: bad } }), { field: 'dns.domain', value: bad, says: /must be a lowercase DNS name/, fix: /such as example\.com/ });
    }
  });

  test('a zone that does not contain the host names', () => {
    expectRefused(variant(staging, { dns: { zoneName: 'other.example' } }), {
      field: 'dns.zoneName',
      value: 'other.example',
      says: /does not contain staging\.weebeetalk\.example/,
      fix: /use weebeetalk\.example or a parent of it/,
    });
  });

  test('a malformed email', () => {
    for (const bad of ['ops', 'ops@', '@example.com', 'ops example.com', 'ops@example']) {
      expectRefused(variant(staging, { letsEncryptEmail: bad }), { field: 'letsEncryptEmail', value: bad, says: /must be an email address/, fix: /such as ops@example\.com/ });
    }
  });

  test("a Let's Encrypt email on a public domain is accepted", () => {
    for (const ok of ['ops@weebeetalk.co.id', 'noc@example.co.uk', 'certs@mail.examples.com', 'a@testing.io'])
      expect(loadEnvironment(variant(staging, { letsEncryptEmail: ok })).letsEncryptEmail).toBe(ok);
  });

  test('an instance type of unknown shape', () => {
    for (const bad of ['t3.huge', 'banana', 'T3.medium', 't3', 'medium']) {
      expectRefused(variant(staging, { hosts: { pbx: { instanceType: bad } } }), {
        field: 'hosts.pbx.instanceType',
        value: bad,
        says: /must be an EC2 instance type/,
        fix: /such as t3\.medium/,
      });
    }
  });

  test('current instance type shapes are accepted', () => {
    for (const ok of ['t3.micro', 't4g.small', 'c7gn.2xlarge', 'm6i.xlarge', 'c6in.metal', 'm7i-flex.large']) {
      expect(loadEnvironment(variant(staging, { hosts: { pbx: { instanceType: ok } } })).hosts.pbx.instanceType).toBe(ok);
    }
  });

  test('tz database names, POSIX-style ones included, are accepted as spelt there', () => {
    for (const ok of ['Asia/Jakarta', 'UTC', 'Etc/GMT+5', 'EST5EDT', 'CST6CDT', 'MST7MDT', 'PST8PDT', 'America/Port-au-Prince', 'America/Argentina/Buenos_Aires']) {
      expect(loadEnvironment(variant(staging, { jitsi: { timezone: ok } })).jitsi.timezone).toBe(ok);
    }
  });

  test('the architecture of an instance type: Graviton (a1 and a "g" after the digit) is arm64', () => {
    const arch = (t: string): string => architectureOf(t);
    for (const t of ['a1.medium', 'a1.large', 'a1.metal', 't4g.small', 'm7g.large', 'c7gn.2xlarge', 'r8g.metal-24xl', 'm6gd.xlarge']) expect([t, arch(t)]).toEqual([t, 'arm64']);
    for (const t of ['t3.micro', 'm6i.xlarge', 'c6in.metal', 'm7i-flex.large', 'g5.xlarge', 'a2.large', 'inf2.xlarge', 'mac2.metal']) expect([t, arch(t)]).toEqual([t, 'x86_64']);
  });

  test('a region that is not an AWS region name', () => {
    for (const bad of ['jakarta', 'ap-southeast', 'ap-southeast-3a', 'AP-SOUTHEAST-3']) {
      expectRefused(variant(staging, { aws: { region: bad } }), { field: 'aws.region', value: bad, says: /must be an AWS region name/, fix: /such as ap-southeast-3/ });
    }
  });

  test('an availability zone outside the region', () => {
    expectRefused(variant(staging, { aws: { availabilityZone: 'eu-west-1a' } }), {
      field: 'aws.availabilityZone',
      value: 'eu-west-1a',
      says: /must be a zone of ap-southeast-3/,
      fix: /such as ap-southeast-3a/,
    });
  });

  test('unknown fields, at any depth: one line per field, its own value and the nearest known field', () => {
    expectRefused(variant(staging, { jitsi: { jibrii: false } }), { field: 'jitsi.jibrii', value: false, says: /unknown field/, fix: /did you mean jibri\?/ });
    expectRefused(variant(staging, { letsEncryptEmial: 'a@b.com' }), { field: 'letsEncryptEmial', value: 'a@b.com', says: /^unknown field/, fix: /did you mean letsEncryptEmail\?$/ });
    expectRefused(variant(staging, { sip: { users: [{ extension: '1001', nmae: 'Reception' }] } }), {
      field: 'sip.users.0.nmae',
      value: 'Reception',
      says: /unknown field/,
      fix: /did you mean name\?/,
    });
    expectRefused(variant(staging, { hosts: { pbx: { instanceTyp: 't3.small' } } }), { field: 'hosts.pbx.instanceTyp', value: 't3.small', says: /unknown field/, fix: /did you mean instanceType\?/ });
    // Nothing near: the fields that exist there, never the whole configuration.
    expectRefused(variant(staging, { sshKey: 'id_rsa' }), { field: 'sshKey', value: 'id_rsa', says: /unknown field/, fix: /remove it .*letsEncryptEmail/ });
    const two = configErrorOf(variant(staging, { jitsi: { jibrii: false, jigassi: true } }));
    expect(two.problems).toEqual(['jitsi.jibrii = false: unknown field; did you mean jibri?', 'jitsi.jigassi = true: unknown field; did you mean jigasi?']);
    for (const p of [...two.problems, ...configErrorOf(variant(staging, { sshKey: 'id_rsa' })).problems]) expect(p.length).toBeLessThan(300);
  });
});

describe('sizes and tier rules', () => {
  test('a mistyped tier is one line, before any default of a tier is merged', () => {
    for (const bad of ['prod', 'Production', 'stage', 42]) {
      expectRefused(variant(staging, { tier: bad }), { field: 'tier', value: bad, says: /must be "staging" or "production"/, fix: /tier: 'production'/ });
    }
  });

  test('a data volume smaller than the role needs: meet with Jibri needs 40 GiB', () => {
    expectRefused(variant(staging, { hosts: { meet: { dataVolumeGiB: 39 } } }), {
      field: 'hosts.meet.dataVolumeGiB',
      value: 39,
      says: /too small for meet: at least 40 GiB/,
      fix: /at least 40 GiB/,
    });
    // Without Jibri, the meet minimum is the ordinary one.
    expect(loadEnvironment(variant(staging, { jitsi: { jibri: false }, hosts: { meet: { dataVolumeGiB: 20 } } })).hosts.meet.dataVolumeGiB).toBe(20);
    expectRefused(variant(staging, { hosts: { chat: { dataVolumeGiB: 19 } } }), {
      field: 'hosts.chat.dataVolumeGiB',
      value: 19,
      says: /too small for chat: at least 20 GiB/,
      fix: /at least 20 GiB/,
    });
  });

  test('production without allowedAccountIds', () => {
    expectRefused(variant(production, { aws: { allowedAccountIds: [] } }), {
      field: 'aws.allowedAccountIds',
      value: [],
      says: /production AWS account id/,
      fix: /must list/,
    });
  });

  test('production following the latest AMI without a pinned id', () => {
    expectRefused(variant(production, { ami: { followLatest: true } }), {
      field: 'ami.followLatest',
      value: true,
      says: /replace production hosts/,
      fix: /set it to false, or pin ami\.id/,
    });
    // Pinned, it is fine; and staging may follow.
    expect(loadEnvironment(variant(production, { ami: { followLatest: true, id: 'ami-0123456789abcdef0' } })).ami.id).toBe('ami-0123456789abcdef0');
    expect(loadEnvironment(variant(staging, { ami: { followLatest: true } })).ami.followLatest).toBe(true);
  });
});

test("as many user tags as leave room for the project's own are accepted", () => {
  const tags = Object.fromEntries(Array.from({ length: 44 }, (_, i) => [`Team${i + 1}`, 'ops']));
  expect(Object.keys(loadEnvironment(variant(staging, { tags })).tags)).toHaveLength(44);
});

describe('SIP users', () => {
  test('users without client CIDRs to register from', () => {
    expectRefused(variant(staging, { sip: { clientCidrs: [] } }), {
      field: 'sip.clientCidrs',
      value: [],
      says: /sip\.users are defined/,
      fix: /list the office networks/,
    });
  });

  test('a name typed in decomposed Unicode (e + combining accent) is accepted, as NFC', () => {
    const config = loadEnvironment(variant(staging, { sip: { users: [{ extension: '1001', name: 'Rene\u0301 Lefe\u0300vre' }] } }));
    expect(config.sip.users[0].name).toBe('Ren\u00e9 Lef\u00e8vre');
  });

  test('duplicate extensions', () => {
    const users = [
      { extension: '1001', name: 'Reception' },
      { extension: '1002', name: 'Operations' },
      { extension: '1001', name: 'Support' },
    ];
    expectRefused(variant(staging, { sip: { users } }), {
      field: 'sip.users.2.extension',
      value: '1001',
      says: /used twice/,
      fix: /own extension/,
    });
  });
});

describe('the pools', () => {
  const s = loadEnvironment(staging);
  const p = loadEnvironment(production);

  test('both pools on in both tiers: staging 0-1 (nothing runs at rest), production with a member of each ready', () => {
    expect(enabledPools(s)).toEqual(['jibri', 'jvb']);
    expect(enabledPools(p)).toEqual(['jibri', 'jvb']);
    expect(s.jitsi.jibriPool).toMatchObject({ min: 0, max: 1, idle: 1 });
    expect(s.jitsi.jvbPool).toMatchObject({ min: 0, max: 1, scaleOutStress: 0.6, scaleInStress: 0.2 });
    expect(p.jitsi.jibriPool).toMatchObject({ min: 1, max: 8, idle: 2, instanceType: 'm6i.xlarge' });
    expect(p.jitsi.jvbPool).toMatchObject({ min: 1, max: 6, instanceType: 'c6i.2xlarge' });
    // Every recorder type of the defaults has the memory Chrome needs for 720p.
    for (const c of [s, p]) expect(memoryGiBOf(c.jitsi.jibriPool.instanceType)).toBeGreaterThanOrEqual(JIBRI_MEMORY_GIB);
  });

  test('the memory of an instance type, by its family and size', () => {
    expect(['t3.large', 'm6i.large', 'c6i.xlarge', 'r6i.large', 'm7g.xlarge', 'c6i.2xlarge', 't3.medium', 'p4d.24xlarge'].map(memoryGiBOf)).toEqual([8, 8, 8, 16, 16, 16, undefined, undefined]);
  });

  test('max below min', () => {
    expectRefused(variant(staging, { jitsi: { jvbPool: { min: 3, max: 2 } } }), { field: 'jitsi.jvbPool.max', value: 2, says: /below jitsi\.jvbPool\.min \(3\)/, fix: /set max to at least 3/ });
  });

  test('a pool that could never start a member', () => {
    expectRefused(variant(staging, { jitsi: { jibriPool: { min: 0, max: 0, idle: 0 } } }), {
      field: 'jitsi.jibriPool.max',
      value: 0,
      says: /could never start a member/,
      fix: /set it to 1 or more, or set jitsi\.jibriPool\.enabled to false/,
    });
  });

  test('a recorder without the memory Chrome needs, or of a family whose memory is unknown', () => {
    expectRefused(variant(staging, { jitsi: { jibriPool: { instanceType: 'c6i.large' } } }), {
      field: 'jitsi.jibriPool.instanceType',
      value: 'c6i.large',
      says: /has 4 GiB of memory.*about 8 GiB/,
      fix: /m6i\.large/,
    });
    expectRefused(variant(staging, { jitsi: { jibriPool: { instanceType: 't3.medium' } } }), {
      field: 'jitsi.jibriPool.instanceType',
      value: 't3.medium',
      says: /cannot check/,
      fix: /choose e\.g\. m6i\.xlarge/,
    });
  });

  test('more idle recorders than can run', () => {
    expectRefused(variant(staging, { jitsi: { jibriPool: { max: 1, idle: 3 } } }), {
      field: 'jitsi.jibriPool.idle',
      value: 3,
      says: /more recorders than can run \(jitsi\.jibriPool\.max 1 plus the meet host's own\)/,
      fix: /lower it or raise max/,
    });
  });

  test('no recorder at all: the pool idle at 0, min 0 and the meet host without its own Jibri', () => {
    expectRefused(variant(staging, { jitsi: { jibri: false, jibriPool: { idle: 0 } } }), {
      field: 'jitsi.jibriPool.idle',
      value: 0,
      says: /no recorder would ever run/,
      fix: /set idle \(or min\) to 1/,
    });
  });

  test('scale-in stress not below scale-out stress', () => {
    expectRefused(variant(staging, { jitsi: { jvbPool: { scaleInStress: 0.7 } } }), {
      field: 'jitsi.jvbPool.scaleInStress',
      value: 0.7,
      says: /not below jitsi\.jvbPool\.scaleOutStress \(0\.6\)/,
      fix: /keep it well below, e\.g\. 0\.2/,
    });
  });

  test('a /24 VPC leaves no room for the pools subnet', () => {
    const error = configErrorOf(variant(staging, { network: { vpcCidr: '10.21.0.0/24' } }));
    expect(error.problems).toEqual([
      expect.stringMatching(
        /^network\.vpcCidr = "10\.21\.0\.0\/24": is a \/24: the pools need a second \/24 beside the hosts': use a \/23 or larger block, or set jitsi\.jibriPool\.enabled and jitsi\.jvbPool\.enabled to false$/,
      ),
    ]);
    expect(loadEnvironment(variant(staging, { network: { vpcCidr: '10.21.0.0/24' }, jitsi: { jibriPool: { enabled: false }, jvbPool: { enabled: false } } })).network.vpcCidr).toBe('10.21.0.0/24');
  });
});

describe("Rocket.Chat's security settings", () => {
  test('secure by default in both tiers: E2E available, a 14-character password of four classes, a history, blocking, 2FA, protected files, login logs', () => {
    for (const c of [loadEnvironment(staging), loadEnvironment(production)])
      expect(c.rocketchat.security).toEqual({
        e2e: true,
        e2eByDefault: false,
        passwordMinLength: 14,
        passwordCharacterClasses: true,
        passwordHistory: 5,
        failedLoginAttempts: 10,
        blockMinutes: 15,
        twoFactor: true,
        protectFiles: true,
        loginLogs: true,
      });
  });

  test('rooms encrypted by default without end-to-end encryption', () => {
    expectRefused(variant(staging, { rocketchat: { security: { e2e: false, e2eByDefault: true } } }), {
      field: 'rocketchat.security.e2eByDefault',
      value: true,
      says: /rocketchat\.security\.e2e is off/,
      fix: /turn e2e on, or this off/,
    });
  });

  test('a password shorter than 10 characters, or a misspelt switch', () => {
    expectRefused(variant(staging, { rocketchat: { security: { passwordMinLength: 8 } } }), { field: 'rocketchat.security.passwordMinLength', value: 8, says: /at least 10/, fix: /10/ });
    expect(configErrorOf(variant(staging, { rocketchat: { security: { twoFactors: true } } })).problems).toEqual([
      expect.stringMatching(/^rocketchat\.security\.twoFactors = true: unknown field; did you mean twoFactor\?/),
    ]);
  });
});
