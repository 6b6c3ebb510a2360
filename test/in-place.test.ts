/**
 * Routine changes are applied in place: a phone, 500 phones instead of 2, a trunk's network, the dial-in room, a
 * Rocket.Chat patch release, a Jitsi setting. Each is synthesized against its base and the two plans are compared
 * block by block, by address: user-data (the cloudinit_config data sources) and every aws_instance stay byte for
 * byte the same (so no host is replaced), and what differs is only the affected hosts' bundle object, the SSM
 * pointer to it and their association's parameters (plus what the change itself is: a phone's secret, a trunk's
 * firewall rules, Jibri's grant). Then the machinery those changes ride on: each role reads only its own bundles,
 * the apply document admits no shell syntax, the association names exactly the object it applies and waits for it,
 * and production's bundles sit in a bucket that refuses destruction.
 */
import { createHash } from 'node:crypto';
import { enabledPools, enabledRoles, ROLES, type AnyRole, type Role } from '../config/schema';
import { APPLY_TIMEOUT_SECONDS } from '../constructs/apply-document';
import { userDataBytes } from '../constructs/user-data-size';
import { fromTerraformLiteral } from '../userdata/cloud-config';
import { APPLY_COMMAND } from '../userdata/paths';
import { evaluate } from './support/boot/policy';
import { bundleOf, hostFiles, hostSettings, userDataOf } from './support/host-files';
import { hostIam } from './support/iam';
import { expectedRoles } from './support/hosts';
import { bucketsOf } from './support/parts';
import {
  allResources,
  asArray,
  asObject,
  asString,
  dataSources,
  isObject,
  preventsDestroy,
  resources,
  single,
  synthEnvironment,
  synthVariant,
  type Block,
  type Item,
  type Synthesized,
} from './support/synth';
import { stagingTurn } from './support/variants';

/** Every resource and data source of a plan, by address. */
function blocks(s: Synthesized): Map<string, Block> {
  const out = new Map<string, Block>();
  for (const [section, prefix] of [
    ['resource', ''],
    ['data', 'data.'],
    ['ephemeral', 'ephemeral.'],
  ] as const)
    for (const [type, byKey] of Object.entries((s.json as Record<string, Record<string, Record<string, Block>> | undefined>)[section] ?? {}))
      for (const [key, block] of Object.entries(byKey)) out.set(`${prefix}${type}.${key}`, block);
  return out;
}

interface PlanDiff {
  readonly added: string[];
  readonly removed: string[];
  /** Address to the attributes that differ. */
  readonly changed: Map<string, string[]>;
}

function planDiff(a: Synthesized, b: Synthesized): PlanDiff {
  const before = blocks(a);
  const after = blocks(b);
  const changed = new Map<string, string[]>();
  for (const [address, x] of before) {
    const y = after.get(address);
    if (y === undefined || JSON.stringify(x) === JSON.stringify(y)) continue;
    changed.set(address, [...new Set([...Object.keys(x), ...Object.keys(y)])].filter((k) => JSON.stringify(x[k]) !== JSON.stringify(y[k])).sort());
  }
  return { added: [...after.keys()].filter((k) => !before.has(k)).sort(), removed: [...before.keys()].filter((k) => !after.has(k)).sort(), changed };
}

/** A host's three configuration resources, by address. */
function trio(s: Synthesized, role: AnyRole): { object: string; pointer: string; association: string } {
  const b = bundleOf(s, role);
  return { object: b.object.address, pointer: b.pointer.address, association: b.association.address };
}

const users = (n: number): { extension: string; name: string }[] => Array.from({ length: n }, (_, i) => ({ extension: String(2001 + i), name: `Phone ${i + 1}` }));
const staging = (): Synthesized => synthEnvironment('staging');
const production = (): Synthesized => synthEnvironment('production');

interface Routine {
  readonly name: string;
  readonly base: () => Synthesized;
  readonly changed: () => Synthesized;
  /** The hosts whose configuration the change is. */
  readonly roles: readonly AnyRole[];
  /** Besides the hosts' bundles: what the change itself adds, removes or changes (checked exactly). */
  readonly extra: (base: Synthesized, changed: Synthesized, diff: PlanDiff) => { added: string[]; removed: string[]; changed: Map<string, string[]> };
}

const nothing = (): { added: string[]; removed: string[]; changed: Map<string, string[]> } => ({ added: [], removed: [], changed: new Map() });

/** A new phone's secret: its SecureString parameter and the ephemeral blocks its value_wo comes from, nothing else. */
function phoneSecrets(base: Synthesized, changed: Synthesized): string[] {
  const known = new Set(resources(base, 'aws_ssm_parameter').map((p) => p.address));
  const added = resources(changed, 'aws_ssm_parameter').filter((p) => !known.has(p.address));
  const all = blocks(changed);
  return added.flatMap((p) => {
    const refs = [...new Set([...String(p.block.value_wo).matchAll(/ephemeral\.[a-z_]+\.[A-Za-z0-9_-]+/g)].map((m) => m[0]))];
    if (refs.length === 0) throw new Error(`${p.address} is not valued by an ephemeral random password`);
    for (const r of refs) if (!all.has(r)) throw new Error(`${p.address} names ${r}, which the plan does not contain`);
    return [p.address, ...refs];
  });
}

/** The extensions of the phones a variant adds to its base. */
function newExtensions(base: Synthesized, changed: Synthesized): string[] {
  const had = new Set(base.config.sip.users.map((u) => u.extension));
  return changed.config.sip.users.map((u) => u.extension).filter((e) => !had.has(e));
}

/** New phones: their secrets, and the pbx instance waits for them (depends_on only: ordering, not a replacement). */
function phonesAdded(base: Synthesized, changed: Synthesized): { added: string[]; removed: string[]; changed: Map<string, string[]> } {
  const extensions = newExtensions(base, changed);
  const added = phoneSecrets(base, changed);
  expect(added.filter((a) => a.startsWith('aws_ssm_parameter.'))).toHaveLength(extensions.length);
  for (const e of extensions) {
    const p = single(resources(changed, 'aws_ssm_parameter'), `parameter of ${e}`, (x) => x.block.name === `/weebeetalk/${changed.config.name}/pbx/sip-users/${e}`);
    expect(added).toContain(p.address);
    expect(p.block.type).toBe('SecureString');
  }
  const pbx = (s: Synthesized): Item => single(resources(s, 'aws_instance'), 'pbx instance', (i) => isObject(i.block.tags) && i.block.tags.Name === `weebeetalk-${s.config.name}-pbx`);
  const before = asArray(pbx(base).block.depends_on, 'depends_on').map(String);
  const after = asArray(pbx(changed).block.depends_on, 'depends_on').map(String);
  // The role's needs: exactly the new parameters join; everything the instance waited for before, it still does.
  expect(before.filter((d) => !after.includes(d))).toEqual([]);
  expect(after.filter((d) => !before.includes(d)).sort()).toEqual(added.filter((a) => a.startsWith('aws_ssm_parameter.')).sort());
  expect(after).toHaveLength(new Set(after).size);
  // So does its apply: a secret is written before the apply that reads it.
  const association = (s: Synthesized): string[] => asArray(bundleOf(s, 'pbx').association.block.depends_on, 'depends_on').map(String);
  expect(
    association(changed)
      .filter((d) => !association(base).includes(d))
      .sort(),
  ).toEqual(added.filter((a) => a.startsWith('aws_ssm_parameter.')).sort());
  expect(association(base).filter((d) => !association(changed).includes(d))).toEqual([]);
  return {
    added,
    removed: [],
    changed: new Map([
      [pbx(base).address, ['depends_on']],
      [bundleOf(base, 'pbx').association.address, ['depends_on', 'parameters']],
    ]),
  };
}

const ROUTINES: Routine[] = [
  {
    name: 'a SIP user added',
    base: staging,
    changed: () => synthVariant('in-place-phone-added', 'staging', { sip: { users: [...staging().config.sip.users, { extension: '1003', name: 'Front desk' }] } }),
    roles: ['pbx'],
    extra: phonesAdded,
  },
  {
    name: '500 phones instead of 2',
    base: () => synthVariant('in-place-2-phones', 'staging', { sip: { users: users(2), rtpPorts: { from: 10000, to: 19999 } } }),
    changed: () => synthVariant('in-place-500-phones', 'staging', { sip: { users: users(500), rtpPorts: { from: 10000, to: 19999 } } }),
    roles: ['pbx'],
    extra: phonesAdded,
  },
  {
    name: "a trunk's signalling network changed",
    base: () => synthVariant('in-place-trunk-a', 'staging', { sip: { trunkSignallingCidrs: ['192.0.2.0/28'] } }),
    changed: () => synthVariant('in-place-trunk-b', 'staging', { sip: { trunkSignallingCidrs: ['192.0.2.16/28'] } }),
    roles: ['pbx'],
    // The pbx firewall's trunk rules follow the network (security-group rules: replaced without touching the host).
    extra: (base, changed, diff) => {
      const rule = (a: string): boolean => /^aws_vpc_security_group_ingress_rule\.firewalls_pbx-sip-(?:tcp|udp)-trunk-/.test(a);
      const removed = diff.removed.filter(rule);
      const added = diff.added.filter(rule);
      expect([removed.length, added.length]).toEqual([2, 2]);
      const cidrs = (s: Synthesized, addresses: string[]): string[] => [
        ...new Set(
          resources(s, 'aws_vpc_security_group_ingress_rule')
            .filter((r) => addresses.includes(r.address))
            .map((r) => String(r.block.cidr_ipv4)),
        ),
      ];
      expect(cidrs(base, removed)).toEqual(['192.0.2.0/28']);
      expect(cidrs(changed, added)).toEqual(['192.0.2.16/28']);
      return { added, removed, changed: new Map() };
    },
  },
  {
    name: 'the Jigasi password rotated (secrets.versions)',
    base: staging,
    changed: () => synthVariant('in-place-rotated', 'staging', { secrets: { versions: { 'meet/jigasi-sip-password': 2 } } }),
    // Its two readers: a bundle naming the version, so each applies again (after the write) and reads the new value.
    roles: ['meet', 'pbx'],
    extra: (base, changed) => {
      const param = (s: Synthesized): Item => single(resources(s, 'aws_ssm_parameter'), 'jigasi', (p) => p.block.name === '/weebeetalk/staging/meet/jigasi-sip-password');
      expect([param(base).block.value_wo_version, param(changed).block.value_wo_version]).toEqual([10, 20]);
      for (const role of ['meet', 'pbx'] as const) {
        const file = bundleOf(changed, role).document.files.find((f) => f.path === '/etc/weebeetalk/secret-versions.json');
        expect({ role, content: file?.content }).toEqual({ role, content: '{\n "meet/jigasi-sip-password": 2\n}\n' });
        expect(asArray(bundleOf(changed, role).association.block.depends_on, 'depends_on')).toContain(param(changed).address);
      }
      // The read of the current value now looks for version 2 (which the parameter holds after this deploy).
      const read = [...blocks(changed).keys()].find((a) => a.startsWith('ephemeral.aws_ssm_parameter.secrets_jigasi-sip-current_'))!;
      return {
        added: [],
        removed: [],
        changed: new Map([
          [param(base).address, ['tags', 'value_wo_version']],
          [read, ['count']],
        ]),
      };
    },
  },
  {
    name: "sip.dialIn changed: a fixed room's extension moved to another room, a second one added, the wait shortened",
    base: staging,
    changed: () =>
      synthVariant('in-place-dial-in', 'staging', {
        sip: {
          dialIn: {
            rooms: [
              { extension: '8100', room: 'lobby' },
              { extension: '8101', room: 'helpdesk' },
            ],
            waitSeconds: 120,
          },
        },
      }),
    // The dialplan (extensions.conf, a `dialplan reload`): the pbx's bundle alone.
    roles: ['pbx'],
    extra: nothing,
  },
  {
    name: 'rocketchat.release bumped within the supported table (8.9.1 to 8.9.2)',
    base: staging,
    changed: () => synthVariant('in-place-rocketchat-bump', 'staging', { rocketchat: { release: '8.9.2', mongodbVersion: '8.0' } }),
    roles: ['chat'],
    extra: nothing,
  },
  {
    name: 'jitsi.timezone changed',
    base: staging,
    changed: () => synthVariant('in-place-jitsi-timezone', 'staging', { jitsi: { timezone: 'Europe/Berlin' } }),
    // The pools' members run Jitsi containers too, in the same time zone.
    roles: ['meet', 'jibri', 'jvb'],
    extra: nothing,
  },
  {
    name: 'turn.userQuota and turn.totalQuota changed (production)',
    base: production,
    changed: () => synthVariant('in-place-turn-quotas', 'production', { turn: { userQuota: 20, totalQuota: 2000 } }),
    roles: ['turn'],
    extra: nothing,
  },
  {
    name: 'turn.relayPorts narrowed (production)',
    base: production,
    changed: () => synthVariant('in-place-turn-relay-ports', 'production', { turn: { relayPorts: { from: 50000, to: 59999 } } }),
    roles: ['turn'],
    // The relay rules keep their ids and are changed in place; the bridges (meet and the JVB pool) are told nothing:
    // they answer from any port.
    extra: (base) => {
      const rules = ['meet', 'jvb'].map((from) =>
        single(resources(base, 'aws_vpc_security_group_ingress_rule'), `relay rule from ${from}`, (r) => r.key.startsWith(`firewalls_turn-relay-from-${from}_`)),
      );
      return { added: [], removed: [], changed: new Map(rules.map((rule) => [rule.address, ['from_port', 'to_port']])) };
    },
  },
  {
    name: 'jitsi.jibri turned off',
    base: staging,
    changed: () => synthVariant('in-place-no-jibri', 'staging', { jitsi: { jibri: false } }),
    roles: ['meet'],
    // The meet role loses its recordings grant (its policy document), nothing else.
    extra: (base) => {
      const doc = single(dataSources(base, 'aws_iam_policy_document'), 'meet grants', (d) => d.key.startsWith('meet-role_grants'));
      return { added: [], removed: [], changed: new Map([[doc.address, ['statement']]]) };
    },
  },
];

describe.each(ROUTINES)('in place: $name', ({ base: makeBase, changed: makeChanged, roles, extra }) => {
  test('user-data and every instance are byte-identical to the base plan (no host is replaced)', () => {
    const base = makeBase();
    const changed = makeChanged();
    const ud = (s: Synthesized): [string, string][] => dataSources(s, 'cloudinit_config').map((d) => [d.address, JSON.stringify(d.block)]);
    expect(ud(changed)).toEqual(ud(base));
    // Every host's and every pool's (the launch templates' user-data: a new one would reach new members only).
    expect(ud(base)).toHaveLength(expectedRoles(base).length + enabledPools(base.config).length);
    const diff = planDiff(base, changed);
    const instance = (s: Synthesized): [string, string][] =>
      resources(s, 'aws_instance').map((i) => {
        // A new phone's secret joins the pbx instance's depends_on (checked exactly by the next test); all else is as it was.
        const { depends_on: dependsOn, ...rest } = i.block;
        return [i.address, JSON.stringify(diff.changed.get(i.address)?.includes('depends_on') ? rest : { ...rest, depends_on: dependsOn })];
      });
    expect(instance(changed)).toEqual(instance(base));
    expect(instance(base)).toHaveLength(expectedRoles(base).length);
    for (const i of resources(base, 'aws_instance')) expect(i.block.user_data_replace_on_change).toBe(true);
  });

  test("what differs is only the affected hosts' bundle, pointer and association parameters (and the change itself)", () => {
    const base = makeBase();
    const changed = makeChanged();
    const diff = planDiff(base, changed);
    const own = extra(base, changed, diff);
    const expected = new Map<string, string[]>(own.changed);
    for (const role of roles) {
      const t = trio(base, role);
      expect(trio(changed, role)).toEqual(t);
      expected.set(t.object, ['content', 'key']);
      expected.set(t.pointer, ['value']);
      expected.set(t.association, own.changed.get(t.association) ?? ['parameters']);
    }
    expect(Object.fromEntries(diff.changed)).toEqual(Object.fromEntries(expected));
    expect(diff.added).toEqual([...own.added].sort());
    expect(diff.removed).toEqual([...own.removed].sort());
    for (const role of roles) {
      const before = bundleOf(base, role);
      const after = bundleOf(changed, role);
      // A new content-addressed object in the same bucket; the pointer and the association name it.
      expect(after.key).not.toBe(before.key);
      expect(after.key).toBe(`bundles/${role}/${after.sha256}.json`);
      expect(after.object.block.bucket).toBe(before.object.block.bucket);
      expect(after.pointer.block.value).toBe(String(before.pointer.block.value).replace(before.key, after.key));
      expect(after.association.block.parameters).toEqual({ ...asObject(before.association.block.parameters, 'parameters'), Key: after.key, Sha256: after.sha256 });
    }
    // The other hosts' bundles are byte-identical: their associations are not replaced and nothing runs there.
    expect(enabledRoles(changed.config)).toEqual(enabledRoles(base.config));
    for (const role of enabledRoles(base.config).filter((r) => !roles.includes(r))) expect(bundleOf(changed, role).json).toBe(bundleOf(base, role).json);
  });
});

describe('phones do not weigh on user-data', () => {
  const two = (): Synthesized => synthVariant('in-place-2-phones', 'staging', { sip: { users: users(2), rtpPorts: { from: 10000, to: 19999 } } });
  const many = (): Synthesized => synthVariant('in-place-500-phones', 'staging', { sip: { users: users(500), rtpPorts: { from: 10000, to: 19999 } } });
  const size = (s: Synthesized, role: Role): number => {
    const ci = single(dataSources(s, 'cloudinit_config'), `user-data of ${role}`, (d) => d.address.includes(`${role}-host`));
    return userDataBytes(
      asArray(ci.block.part, 'part').map((raw) => {
        const p = asObject(raw, 'part');
        return { filename: asString(p.filename, 'filename'), contentType: asString(p.content_type, 'content_type'), content: asString(p.content, 'content') };
      }),
    );
  };

  test('the rendered user-data of every host is the same size for 2 and 500 phones; the phones are in the bundle', () => {
    for (const role of enabledRoles(two().config)) expect({ role, bytes: size(many(), role) }).toEqual({ role, bytes: size(two(), role) });
    expect(size(two(), 'pbx')).toBeLessThan(14 * 1024);
    expect(userDataOf(many(), 'pbx').cloudConfigText).toBe(userDataOf(two(), 'pbx').cloudConfigText);
    const bundle = bundleOf(many(), 'pbx').json;
    for (const extension of ['2001', '2250', '2500']) expect(bundle).toContain(extension);
    expect(hostSettings(many(), 'pbx').SIP_USERS.split(' ')).toHaveLength(500);
    expect(bundle.length).toBeGreaterThan(bundleOf(two(), 'pbx').json.length + 500 * 50);
  });
});

describe.each([['staging'], ['production']])('the configuration machinery of %s', (env) => {
  const s = (): Synthesized => synthEnvironment(env);
  const configBucket = (): string => asString(bucketsOf(s()).config.block.bucket, 'bucket');
  const arn = (key?: string): string => `arn:aws:s3:::${configBucket()}${key === undefined ? '' : `/${key}`}`;

  test("each host role may GetObject only its own bundles: no other host's, no listing, no writing a bundle", () => {
    const roles = enabledRoles(s().config);
    expect(roles).toEqual(expectedRoles(s()));
    for (const role of roles) {
      const policy = hostIam(s(), role).effective;
      for (const other of roles) {
        const key = bundleOf(s(), other).key;
        expect({ role, other, decision: evaluate(policy, 's3:GetObject', arn(key)) }).toEqual({ role, other, decision: other === role ? 'allow' : 'implicit-deny' });
        for (const action of ['s3:PutObject', 's3:DeleteObject', 's3:DeleteObjectVersion', 's3:PutObjectAcl', 's3:GetObjectVersion'])
          expect({ role, other, action, decision: evaluate(policy, action, arn(key)) }).toEqual({ role, other, action, decision: 'implicit-deny' });
      }
      for (const action of ['s3:ListBucket', 's3:ListBucketVersions', 's3:PutBucketPolicy', 's3:DeleteBucket'])
        expect({ role, action, decision: evaluate(policy, action, arn()) }).toEqual({ role, action, decision: 'implicit-deny' });
      // Nor the bundles of a role this environment does not build (yet): a relay turned on later is no exception.
      for (const other of ROLES.filter((r) => r !== role))
        expect({ role, other, decision: evaluate(policy, 's3:GetObject', arn(`bundles/${other}/${'0'.repeat(64)}.json`)) }).toEqual({ role, other, decision: 'implicit-deny' });
      // A key outside the prefix (a sibling folder whose name starts like it) is not its own.
      expect(evaluate(policy, 's3:GetObject', arn(`bundles/${role}x/${'0'.repeat(64)}.json`))).toBe('implicit-deny');
    }
  });

  test("the apply document's allowedPatterns refuse shell syntax and other keys, and accept the plan's own parameters", () => {
    const doc = single(resources(s(), 'aws_ssm_document'), 'apply document');
    expect(doc.block).toMatchObject({ name: `weebeetalk-${env}-apply`, document_type: 'Command', document_format: 'JSON', target_type: '/AWS::EC2::Instance' });
    const content = JSON.parse(asString(doc.block.content, 'content')) as {
      parameters: Record<string, { type: string; allowedPattern?: string }>;
      mainSteps: { action: string; inputs: { runCommand: string[]; timeoutSeconds: string } }[];
    };
    expect(Object.keys(content.parameters).sort()).toEqual(['Bucket', 'Key', 'Sha256']);
    const pattern = (name: string): RegExp => new RegExp(asString(content.parameters[name].allowedPattern, `${name}.allowedPattern`));
    // Each placeholder is one of the declared parameters, each used once, in the one command (the apply tool).
    expect(content.mainSteps).toHaveLength(1);
    expect(content.mainSteps[0].inputs.runCommand).toEqual([`${APPLY_COMMAND} --bucket {{ Bucket }} --key {{ Key }} --sha256 {{ Sha256 }}`]);
    const hex = 'a'.repeat(64);
    const hostile = ['x; rm -rf /', '$(id)', '`id`', 'a b', 'a|b', 'a&b', "a'b", 'a"b', 'a\nb', '', '*'];
    const refused: Record<string, string[]> = {
      Bucket: [...hostile, `${configBucket()};id`, 'UPPER-case', '-leading-dash', 'x'],
      Key: [
        ...hostile,
        `bundles/chat/${hex}.json; rm -rf /`,
        `bundles/chat/${hex}.json\n`,
        `bundles/chat/$(id).json`,
        `bundles/other/${hex}.json`,
        `bundles/chat/../pbx/${hex}.json`,
        `bundles/chat/${hex.slice(1)}.json`,
        `bundles/chat/${hex.toUpperCase()}.json`,
        `apply-output/chat/${hex}.json`,
        `s3://${configBucket()}/bundles/chat/${hex}.json`,
        `/bundles/chat/${hex}.json`,
      ],
      Sha256: [...hostile, `${hex};id`, hex.slice(1), `${hex}0`, hex.toUpperCase(), 'deadbeef'],
    };
    for (const [name, values] of Object.entries(refused)) for (const v of values) expect({ name, v, accepted: pattern(name).test(v) }).toEqual({ name, v, accepted: false });
    for (const role of enabledRoles(s().config)) {
      const params = asObject(bundleOf(s(), role).association.block.parameters, 'parameters');
      for (const name of ['Bucket', 'Key', 'Sha256']) expect({ role, name, accepted: pattern(name).test(asString(params[name], name)) }).toEqual({ role, name, accepted: true });
    }
  });

  test('each association applies exactly its bundle object on its own instance, is replaced with it, and the deploy waits as long as an apply may take', () => {
    const doc = single(resources(s(), 'aws_ssm_document'), 'apply document');
    const steps = (JSON.parse(asString(doc.block.content, 'content')) as { mainSteps: { inputs: { timeoutSeconds: string } }[] }).mainSteps;
    const applyTakes = steps.reduce((sum, step) => sum + Number(step.inputs.timeoutSeconds), 0);
    expect(applyTakes).toBe(APPLY_TIMEOUT_SECONDS);
    // The pools' associations (by tag, not waited for) are test/pools.test.ts's.
    expect(resources(s(), 'aws_ssm_association')).toHaveLength(expectedRoles(s()).length + enabledPools(s().config).length);
    for (const role of enabledRoles(s().config)) {
      const b = bundleOf(s(), role);
      const a = b.association.block;
      const params = asObject(a.parameters, 'parameters');
      expect(params).toEqual({
        Bucket: configBucket(),
        Key: asString(b.object.block.key, 'key'),
        Sha256: createHash('sha256')
          .update(fromTerraformLiteral(asString(b.object.block.content, 'content')))
          .digest('hex'),
      });
      expect(params.Key).toBe(`bundles/${role}/${String(params.Sha256)}.json`);
      expect(b.object.block.bucket).toBe(bucketsOf(s()).config.ref('bucket'));
      expect(a.name).toBe(doc.ref('name'));
      const instance = single(resources(s(), 'aws_instance'), `${role} instance`, (i) => isObject(i.block.tags) && i.block.tags.Name === `weebeetalk-${env}-${role}`);
      expect(a.targets).toEqual([{ key: 'InstanceIds', values: [instance.ref('id')] }]);
      // The provider waits for success only when it creates an association: a new bundle must replace it, and so
      // must a new instance (an update of its targets would not be waited for either).
      expect(asObject(a.lifecycle, 'lifecycle').replace_triggered_by).toEqual([b.object.address, `${instance.address}.id`]);
      expect(a.depends_on).toEqual(expect.arrayContaining([b.object.address, b.pointer.address]));
      // `cdktf deploy` waits at least as long as one apply may run before SSM stops it, and fails when it fails.
      expect(Number(a.wait_for_success_timeout_seconds)).toBeGreaterThanOrEqual(applyTakes);
      expect([a.max_errors, a.max_concurrency]).toEqual(['0', '1']);
      // Its output goes where the host's role may put it (iam.test.ts checks the grant).
      expect(a.output_location).toEqual({ s3_bucket_name: configBucket(), s3_key_prefix: `apply-output/${role}`, s3_region: s().config.aws.region });
      // The apply tool it runs is installed by the user-data, executable, at the document's path; it gives up
      // waiting for the bootstrap's lock before SSM's timeout stops it (a clear error instead of a killed apply).
      const tool = hostFiles(s(), role).get(APPLY_COMMAND);
      expect([tool?.source, tool?.mode]).toEqual(['user-data', '0755']);
      const lockWait = /flock -w (\d+)/.exec(tool?.content ?? '');
      expect(lockWait).not.toBeNull();
      expect(Number(lockWait?.[1])).toBeLessThan(applyTakes);
      // The pointer the first boot reads is one the tool's --current accepts, naming the same object.
      const accepts = /\[\[ "\$location" =~ (\S+) \]\]/.exec(tool?.content ?? '');
      expect(accepts).not.toBeNull();
      expect(new RegExp(accepts?.[1] ?? '$^').exec(String(b.pointer.block.value))?.slice(1)).toEqual([configBucket(), b.key, b.sha256]);
    }
  });

  test(env === 'production' ? 'the config bucket refuses destruction (prevent_destroy, no force_destroy)' : 'the config bucket goes with `cdktf destroy` (force_destroy, no prevent_destroy)', () => {
    const bucket = bucketsOf(s()).config;
    const production = s().config.tier === 'production';
    expect({ prevent_destroy: preventsDestroy(bucket.block), force_destroy: bucket.block.force_destroy }).toEqual({ prevent_destroy: production, force_destroy: !production });
    // Every bundle object is in that bucket.
    for (const o of resources(s(), 'aws_s3_object')) expect(o.block.bucket).toBe(bucket.ref('bucket'));
  });
});

describe('turning the TURN relay on in staging', () => {
  /** What the relay brings, hand-written: a host like the others (one of each), its name, its secret's two ends. */
  const ADDED_TYPES: [string, number][] = [
    // its recover alarm; its six mailed alarms (disks, bootstrap, apply, certificate, silent: constructs/observability.ts)
    ['aws_cloudwatch_metric_alarm', 7],
    // its bootstrap and apply log groups
    ['aws_cloudwatch_log_group', 2],
    ['aws_ebs_volume', 1],
    ['aws_eip', 1],
    ['aws_eip_association', 1],
    ['aws_iam_instance_profile', 1],
    ['aws_iam_role', 1],
    ['aws_iam_role_policy', 1],
    ['aws_instance', 1],
    ['aws_network_interface', 1],
    // A and CAA of turn.<domain>
    ['aws_route53_record', 2],
    ['aws_s3_object', 1],
    ['aws_security_group', 1],
    ['aws_ssm_association', 1],
    // turn/static-auth-secret (meet reads it too), turn/bundle
    ['aws_ssm_parameter', 2],
    ['aws_volume_attachment', 1],
    ['aws_vpc_security_group_egress_rule', 2],
    // 443/tcp, 3478/tcp, 3478/udp from the world; the relay ports from meet and from the JVB pool
    ['aws_vpc_security_group_ingress_rule', 5],
    ['data.aws_ami', 1],
    ['data.aws_iam_policy_document', 2],
    ['data.cloudinit_config', 1],
    // The secret's value: a random password, or (version 1) the parameter's current value where it exists
    ['ephemeral.aws_secretsmanager_random_password', 1],
    ['ephemeral.aws_ssm_parameter', 1],
  ];
  const typeOf = (address: string): string =>
    address
      .split('.')
      .slice(0, /^(data|ephemeral)\./.test(address) ? 2 : 1)
      .join('.');

  test('staging without it builds no turn resource: no instance, group, record, parameter, object, association, role or user-data', () => {
    const s = staging();
    expect(s.config.turn.enabled).toBe(false);
    const addresses = [...blocks(s).keys()];
    expect(addresses.filter((a) => /turn/i.test(a))).toEqual([]);
    // Nor a block that names the turn host, its name, its SSM folder or its bundles.
    const names = ['weebeetalk-staging-turn', 'turn.staging.weebeetalk.example', '/weebeetalk/staging/turn', 'bundles/turn/', 'apply-output/turn'];
    const naming = [...blocks(s)].filter(([, b]) => names.some((n) => JSON.stringify(b).includes(n))).map(([a]) => a);
    expect(naming).toEqual([]);
    for (const type of ['aws_instance', 'aws_eip', 'aws_ebs_volume']) expect({ type, count: resources(s, type).length }).toEqual({ type, count: 3 });
    // The two pools have a group, an association and a bundle each too.
    for (const type of ['aws_security_group', 'aws_ssm_association', 'aws_s3_object']) expect({ type, count: resources(s, type).length }).toEqual({ type, count: 5 });
    expect(s.json.output?.turn_fqdn).toBeUndefined();
  });

  test('with turn.enabled: exactly the turn host and its secret are added; of the others only meet changes, in place', () => {
    const base = staging();
    const on = stagingTurn();
    const diff = planDiff(base, on);
    expect(diff.removed).toEqual([]);
    const counts = new Map<string, number>();
    for (const a of diff.added) counts.set(typeOf(a), (counts.get(typeOf(a)) ?? 0) + 1);
    expect([...counts].sort()).toEqual([...ADDED_TYPES].sort());
    expect(diff.added.filter((a) => !/turn/.test(a))).toEqual([]);
    // meet: its bundle (TURNS_HOST and the rest, TURN_ENABLED=1), its role may read the relay's secret, and its
    // instance and its apply wait for it.
    const meet = trio(base, 'meet');
    const meetInstance = single(resources(base, 'aws_instance'), 'meet instance', (i) => isObject(i.block.tags) && i.block.tags.Name === 'weebeetalk-staging-meet');
    const meetPolicy = single(dataSources(base, 'aws_iam_policy_document'), 'meet grants', (d) => d.address.startsWith('data.aws_iam_policy_document.meet-role_grants_'));
    expect(Object.fromEntries(diff.changed)).toEqual({
      [meet.object]: ['content', 'key'],
      [meet.pointer]: ['value'],
      [meet.association]: ['depends_on', 'parameters'],
      [meetInstance.address]: ['depends_on'],
      [meetPolicy.address]: ['statement'],
      // The dashboard shows the turn host's figures and alarms too (in place).
      [single(resources(base, 'aws_cloudwatch_dashboard'), 'dashboard').address]: ['dashboard_body'],
    });
    const granted = asArray(single(dataSources(on, 'aws_iam_policy_document'), 'meet grants', (d) => d.address === meetPolicy.address).block.statement, 'statement');
    expect(granted.filter((st) => !asArray(meetPolicy.block.statement, 'statement').some((b) => JSON.stringify(b) === JSON.stringify(st)))).toEqual([
      { sid: 'SharedSecrets', actions: ['ssm:GetParameter'], resources: [expect.stringMatching(/:parameter\/weebeetalk\/staging\/turn\/static-auth-secret$/)] },
    ]);
    const secret = single(resources(on, 'aws_ssm_parameter'), 'turn/static-auth-secret', (p) => p.block.name === '/weebeetalk/staging/turn/static-auth-secret');
    const after = asArray(single(resources(on, 'aws_instance'), 'meet instance', (i) => i.address === meetInstance.address).block.depends_on, 'depends_on').map(String);
    const before = asArray(meetInstance.block.depends_on, 'depends_on').map(String);
    expect(after.filter((d) => !before.includes(d))).toEqual([secret.address]);
    expect(before.filter((d) => !after.includes(d))).toEqual([]);
    // Every other host's user-data, instance and bundle is byte-identical: nothing is replaced, nothing runs there.
    for (const role of ['chat', 'pbx'] as const) expect(bundleOf(on, role).json).toBe(bundleOf(base, role).json);
    for (const d of dataSources(base, 'cloudinit_config')) expect(JSON.stringify(blocks(on).get(d.address))).toBe(JSON.stringify(d.block));
    // The turn host waits for its own parameters too (its secret, its bundle pointer).
    const turnInstance = single(resources(on, 'aws_instance'), 'turn instance', (i) => isObject(i.block.tags) && i.block.tags.Name === 'weebeetalk-staging-turn');
    const coturn = single(resources(on, 'aws_ssm_parameter'), 'turn/static-auth-secret', (p) => p.block.name === '/weebeetalk/staging/turn/static-auth-secret');
    expect(asArray(turnInstance.block.depends_on, 'depends_on').map(String)).toContain(coturn.address);
    expect(allResources(on).length).toBe(allResources(base).length + ADDED_TYPES.filter(([t]) => !/^(data|ephemeral)\./.test(t)).reduce((n, [, c]) => n + c, 0));
  });
});
