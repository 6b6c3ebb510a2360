/**
 * The security groups of the synthesized plans: each host's group accepts exactly its port plan (DESIGN.md, "Port
 * plan"), in every shipped environment and in the variants that switch the plan's optional rows; SSH only from
 * administrators' networks, no internal service port, every rule described, no protocol -1, no inline rules.
 */
import { VpcSecurityGroupIngressRule } from '@cdktf/provider-aws/lib/vpc-security-group-ingress-rule';
import { portPlan } from '../constructs/roles';
import type { AnyRole } from '../config/schema';
import { hosts } from './support/hosts';
import { asString, isObject, resources, single, synthEnvironment, type Synthesized } from './support/synth';
import { portVariants as variants, stagingTurn } from './support/variants';
import './support/matchers';

const WORLD = '0.0.0.0/0';
const STAGING_CLIENTS = '198.51.100.0/24';

/** Each host's rules; a role that is absent has no host (no security group) in that configuration. */
type Expected = Partial<Record<AnyRole, string[]>>;
/** A rule as `<protocol> <port or range> <- <source>`, source a CIDR or `sg:<role>`. */
const rule = (protocol: 'tcp' | 'udp', ports: string, source: string): string => `${protocol} ${ports} <- ${source}`;
const ssh = (cidrs: string[]): string[] => cidrs.map((c) => rule('tcp', '22', c));

/**
 * Hand-written from DESIGN.md's port plan table for each configuration (not computed by config/ports.ts).
 * pbx's SIP and RTP from meet exist only with Jigasi: without it nothing on meet speaks SIP. The turn host exists
 * only with turn.enabled (production's default, off in staging): TURN over TLS on 443 and TURN/STUN on 3478 from the
 * world, its relay ports from the video bridges (the meet host and the JVB pool) only. The pools (both on in every
 * shipped environment): Prosody's client port on meet from the pools' groups only; the JVB pool takes media on UDP
 * 10000 from the world; nothing reaches a recorder.
 */
const TURN_RULES = [rule('tcp', '443', WORLD), rule('tcp', '3478', WORLD), rule('udp', '3478', WORLD), rule('udp', '49152-65535', 'sg:meet'), rule('udp', '49152-65535', 'sg:jvb')];
/** The dial-in mapper (config/dial-in.ts), asked by the pbx host only, with Jigasi. */
const DIAL_IN_FROM_PBX = rule('tcp', '5290', 'sg:pbx');
const XMPP_FROM_POOLS = [rule('tcp', '5222', 'sg:jibri'), rule('tcp', '5222', 'sg:jvb')];
const POOLS: Expected = { jibri: [], jvb: [rule('udp', '10000', WORLD)] };

const EXPECTED: Record<string, Expected> = {
  staging: {
    chat: [rule('tcp', '443', WORLD), rule('tcp', '80', WORLD)],
    meet: [rule('tcp', '443', WORLD), rule('tcp', '80', WORLD), rule('udp', '10000', WORLD), rule('udp', '20000-20050', 'sg:pbx'), DIAL_IN_FROM_PBX, ...XMPP_FROM_POOLS],
    pbx: [rule('udp', '5060', 'sg:meet'), rule('tcp', '5060', 'sg:meet'), rule('tcp', '5061', STAGING_CLIENTS), rule('udp', '10000-19999', 'sg:meet'), rule('udp', '10000-19999', STAGING_CLIENTS)],
    ...POOLS,
  },
  production: {
    chat: [rule('tcp', '443', WORLD), rule('tcp', '80', WORLD)],
    meet: [rule('tcp', '443', WORLD), rule('tcp', '80', WORLD), rule('udp', '10000', WORLD), rule('udp', '20000-20050', 'sg:pbx'), DIAL_IN_FROM_PBX, ...XMPP_FROM_POOLS],
    pbx: [
      rule('udp', '5060', 'sg:meet'),
      rule('udp', '5060', '192.0.2.0/28'),
      rule('tcp', '5060', 'sg:meet'),
      rule('tcp', '5060', '192.0.2.0/28'),
      rule('tcp', '5061', STAGING_CLIENTS),
      rule('udp', '10000-19999', 'sg:meet'),
      rule('udp', '10000-19999', '192.0.2.0/24'),
      rule('udp', '10000-19999', STAGING_CLIENTS),
    ],
    turn: TURN_RULES,
    ...POOLS,
  },
  'staging-turn': {
    chat: [rule('tcp', '443', WORLD), rule('tcp', '80', WORLD)],
    meet: [rule('tcp', '443', WORLD), rule('tcp', '80', WORLD), rule('udp', '10000', WORLD), rule('udp', '20000-20050', 'sg:pbx'), DIAL_IN_FROM_PBX, ...XMPP_FROM_POOLS],
    pbx: [rule('udp', '5060', 'sg:meet'), rule('tcp', '5060', 'sg:meet'), rule('tcp', '5061', STAGING_CLIENTS), rule('udp', '10000-19999', 'sg:meet'), rule('udp', '10000-19999', STAGING_CLIENTS)],
    turn: TURN_RULES,
    ...POOLS,
  },
  'jigasi-off-wss-on': {
    chat: [rule('tcp', '443', WORLD), rule('tcp', '80', WORLD)],
    meet: [rule('tcp', '8443', WORLD), rule('tcp', '80', WORLD), rule('udp', '10000', WORLD), ...XMPP_FROM_POOLS],
    pbx: [rule('tcp', '5061', STAGING_CLIENTS), rule('tcp', '8089', STAGING_CLIENTS), rule('udp', '10000-19999', STAGING_CLIENTS)],
    ...POOLS,
  },
  'admin-and-trunk': {
    chat: [rule('tcp', '443', WORLD), rule('tcp', '80', WORLD), ...ssh(['203.0.113.0/28', '198.18.0.0/15'])],
    meet: [
      rule('tcp', '443', WORLD),
      rule('tcp', '80', WORLD),
      rule('udp', '10000', WORLD),
      rule('udp', '20000-20050', 'sg:pbx'),
      DIAL_IN_FROM_PBX,
      ...XMPP_FROM_POOLS,
      ...ssh(['203.0.113.0/28', '198.18.0.0/15']),
    ],
    pbx: [
      rule('udp', '5060', 'sg:meet'),
      rule('udp', '5060', '192.0.2.0/28'),
      rule('tcp', '5060', 'sg:meet'),
      rule('tcp', '5060', '192.0.2.0/28'),
      rule('tcp', '5061', STAGING_CLIENTS),
      rule('udp', '10000-19999', 'sg:meet'),
      rule('udp', '10000-19999', '192.0.2.0/24'),
      rule('udp', '10000-19999', '203.0.113.128/25'),
      rule('udp', '10000-19999', STAGING_CLIENTS),
      ...ssh(['203.0.113.0/28', '198.18.0.0/15']),
    ],
    jibri: ssh(['203.0.113.0/28', '198.18.0.0/15']),
    jvb: [rule('udp', '10000', WORLD), ...ssh(['203.0.113.0/28', '198.18.0.0/15'])],
  },
};

const CONFIGS: [string, () => Synthesized][] = [
  ['staging', () => synthEnvironment('staging')],
  ['production', () => synthEnvironment('production')],
  ['jigasi-off-wss-on', variants['jigasi-off-wss-on']],
  ['admin-and-trunk', variants['admin-and-trunk']],
  ['staging-turn', stagingTurn],
];

/** What each host's security group accepts, as `rule(...)` strings, read from the ingress rule resources. */
function accepted(s: Synthesized): Expected {
  // Each group by the role in its name (Firewalls names them weebeetalk-<env>-<role or pool>).
  const groups = resources(s, 'aws_security_group').map((g) => ({ role: asString(g.block.name, g.address).replace(`weebeetalk-${s.config.name}-`, '') as AnyRole, ref: `\${${g.address}.id}` }));
  const roleOfGroup = (ref: unknown): AnyRole | undefined => groups.find((g) => g.ref === ref)?.role;
  const out: Expected = Object.fromEntries(groups.map((g) => [g.role, []]));
  for (const r of resources(s, 'aws_vpc_security_group_ingress_rule')) {
    const b = r.block;
    const role = roleOfGroup(b.security_group_id);
    if (!role) throw new Error(`${r.address} is on a group that belongs to no host: ${String(b.security_group_id)}`);
    const sources = [b.cidr_ipv4, b.cidr_ipv6, b.prefix_list_id, b.referenced_security_group_id].filter((x) => x !== undefined);
    expect(sources).toHaveLength(1);
    let source: string;
    if (b.referenced_security_group_id !== undefined) {
      const peer = roleOfGroup(b.referenced_security_group_id);
      if (!peer) throw new Error(`${r.address} references a group that belongs to no host: ${String(b.referenced_security_group_id)}`);
      source = `sg:${peer}`;
    } else source = asString(b.cidr_ipv4, `${r.address}.cidr_ipv4`);
    const protocol = asString(b.ip_protocol, `${r.address}.ip_protocol`);
    if (protocol !== 'tcp' && protocol !== 'udp') throw new Error(`${r.address}: protocol ${protocol}`);
    const ports = b.from_port === b.to_port ? `${String(b.from_port)}` : `${String(b.from_port)}-${String(b.to_port)}`;
    out[role]?.push(rule(protocol, ports, source));
  }
  return out;
}

function fromPortPlan(s: Synthesized): Expected {
  const out: Expected = {};
  for (const p of portPlan(s.config)) {
    const source = p.peer.kind === 'host' ? `sg:${p.peer.role}` : p.peer.kind === 'world' ? WORLD : p.peer.cidr;
    (out[p.role] ??= []).push(rule(p.protocol, p.from === p.to ? `${p.from}` : `${p.from}-${p.to}`, source));
  }
  return out;
}

const sorted = (list: string[]): string[] => [...list].sort();

/** Ports that must never be reachable (DESIGN.md): internal services, bound to localhost or the Docker network. */
const NEVER_OPEN: [number, string][] = [
  [3000, 'Rocket.Chat'],
  [9458, 'Rocket.Chat metrics'],
  [8080, 'Traefik dashboard / JVB'],
  [3001, 'Grafana'],
  [9090, 'Prometheus'],
  [9100, 'node-exporter'],
  [27017, 'MongoDB'],
  [4222, 'NATS'],
  [5222, 'Prosody'],
  [5269, 'Prosody'],
  [5280, 'Prosody'],
  [5347, 'Prosody'],
  [8888, 'jicofo'],
  [5038, 'Asterisk AMI'],
  [8088, 'Asterisk HTTP'],
];

/** Every `protocol`-like value anywhere in a block. */
function protocolsIn(value: unknown, out: unknown[] = []): unknown[] {
  if (Array.isArray(value)) value.forEach((v) => protocolsIn(v, out));
  else if (isObject(value))
    for (const [k, v] of Object.entries(value)) {
      if (k === 'protocol' || k === 'ip_protocol') out.push(v);
      else protocolsIn(v, out);
    }
  return out;
}

describe.each(CONFIGS)('security groups of %s', (label, synth) => {
  test('each host accepts exactly the port plan of DESIGN.md, nothing more', () => {
    const s = synth();
    const actual = accepted(s);
    const expected = EXPECTED[label];
    // The same hosts (a group each), then the same rules on each.
    expect(Object.keys(actual).sort()).toEqual(Object.keys(expected).sort());
    expect(resources(s, 'aws_security_group')).toHaveLength(Object.keys(expected).length);
    for (const [role, rules] of Object.entries(expected)) expect({ role, rules: sorted(actual[role as AnyRole] ?? []) }).toEqual({ role, rules: sorted(rules) });
  });

  test('the rules are exactly config/ports.ts portPlan(config), one resource per entry', () => {
    const s = synth();
    const actual = accepted(s);
    const planned = fromPortPlan(s);
    const built = [...hosts(s).roles, ...(Object.keys(actual) as AnyRole[]).filter((r) => r === 'jibri' || r === 'jvb')];
    for (const role of built) expect({ role, rules: sorted(actual[role] ?? []) }).toEqual({ role, rules: sorted(planned[role] ?? []) });
    // The plan names no host or pool the environment does not build.
    expect(Object.keys(planned).every((role) => built.includes(role as AnyRole))).toBe(true);
    expect(resources(s, 'aws_vpc_security_group_ingress_rule')).toHaveLength(portPlan(s.config).length);
  });

  test('SSH is never open to the world, and only to admin CIDRs when configured', () => {
    const s = synth();
    for (const r of resources(s, 'aws_vpc_security_group_ingress_rule')) {
      const from = Number(r.block.from_port);
      const to = Number(r.block.to_port);
      if (from <= 22 && 22 <= to) {
        expect(r.block.ip_protocol).toBe('tcp');
        expect([from, to]).toEqual([22, 22]);
        expect(s.config.adminCidrs).toContain(r.block.cidr_ipv4);
        expect(r.block.cidr_ipv4).not.toBe(WORLD);
        expect(r.block.cidr_ipv6).toBeUndefined();
      }
    }
  });

  test("no internal service port is reachable, but Prosody's client port on meet from the pools' groups", () => {
    const s = synth();
    const poolGroups = resources(s, 'aws_security_group')
      .filter((g) => /-(jibri|jvb)$/.test(String(g.block.name)))
      .map((g) => g.ref('id'));
    const meetGroup = single(resources(s, 'aws_security_group'), 'meet group', (g) => String(g.block.name).endsWith('-meet')).ref('id');
    for (const r of resources(s, 'aws_vpc_security_group_ingress_rule')) {
      const poolXmpp = r.block.security_group_id === meetGroup && poolGroups.includes(String(r.block.referenced_security_group_id)) && r.block.from_port === 5222 && r.block.to_port === 5222;
      for (const [port, what] of NEVER_OPEN.filter(([p]) => !(poolXmpp && p === 5222))) {
        const covers = Number(r.block.from_port) <= port && port <= Number(r.block.to_port);
        expect({ rule: r.address, port, what, covers }).toEqual({ rule: r.address, port, what, covers: false });
      }
    }
  });

  test('every rule and group has a description AWS accepts; no protocol -1 anywhere; no inline rules', () => {
    const s = synth();
    const described = [...resources(s, 'aws_vpc_security_group_ingress_rule'), ...resources(s, 'aws_vpc_security_group_egress_rule'), ...resources(s, 'aws_security_group')];
    expect(described.length).toBeGreaterThan(3);
    for (const r of described) {
      const description = asString(r.block.description, `${r.address}.description`);
      expect(description.length).toBeGreaterThanOrEqual(10);
      expect(description).toMatch(/^[a-zA-Z0-9. _\-:/()#,@[\]+=&;{}!$*]{1,255}$/);
    }
    for (const r of [...resources(s, 'aws_vpc_security_group_ingress_rule'), ...resources(s, 'aws_vpc_security_group_egress_rule')]) {
      expect(['tcp', 'udp']).toContain(r.block.ip_protocol);
    }
    const everywhere = Object.values(s.json.resource ?? {}).flatMap((byKey) => Object.values(byKey).flatMap((b) => protocolsIn(b)));
    expect(everywhere.length).toBeGreaterThan(0);
    for (const p of everywhere) expect(['-1', -1, 'all', 'ALL']).not.toContain(p);
    for (const sg of [...resources(s, 'aws_security_group'), ...resources(s, 'aws_default_security_group')]) {
      expect(sg.block.ingress).toBeUndefined();
      expect(sg.block.egress).toBeUndefined();
    }
    expect(s.text).toHaveResourceWithProperties(VpcSecurityGroupIngressRule, { ip_protocol: 'udp', from_port: 10000, to_port: 10000, cidr_ipv4: WORLD });
    expect(s.text).not.toHaveResourceWithProperties(VpcSecurityGroupIngressRule, { ip_protocol: '-1' });
  });
});

describe.each([
  ['production', () => synthEnvironment('production')],
  ['staging-turn', stagingTurn],
] as [string, () => Synthesized][])('the TURN relay of %s', (_label, synth) => {
  test("the relay ports' only peers are the video bridges' security groups (the meet host's and the JVB pool's), on the turn host's group only", () => {
    const s = synth();
    const h = hosts(s);
    const { from, to } = s.config.turn.relayPorts;
    expect([from, to]).toEqual([49152, 65535]);
    const relay = resources(s, 'aws_vpc_security_group_ingress_rule').filter((r) => Number(r.block.from_port) <= to && from <= Number(r.block.to_port));
    // Nothing else overlaps the relay range: no other rule on any host, no rule from the world or a CIDR.
    const jvbPool = single(resources(s, 'aws_security_group'), 'JVB pool group', (g) => g.block.name === `weebeetalk-${s.config.name}-jvb`).ref('id');
    expect(relay.map((r) => r.block.referenced_security_group_id).sort()).toEqual([h.of('meet').sg.ref('id'), jvbPool].sort());
    for (const r of relay) {
      expect(r.block).toMatchObject({ security_group_id: h.of('turn').sg.ref('id'), ip_protocol: 'udp', from_port: from, to_port: to });
      expect(r.block.cidr_ipv4).toBeUndefined();
      expect(r.block.cidr_ipv6).toBeUndefined();
      expect(r.block.prefix_list_id).toBeUndefined();
    }
  });

  test('the turn host accepts from the world only TLS 443 and 3478 over TCP and UDP', () => {
    const s = synth();
    const turnSg = hosts(s).of('turn').sg.ref('id');
    const world = resources(s, 'aws_vpc_security_group_ingress_rule')
      .filter((r) => r.block.security_group_id === turnSg && r.block.cidr_ipv4 === WORLD)
      .map((r) => `${String(r.block.ip_protocol)} ${String(r.block.from_port)}-${String(r.block.to_port)}`);
    expect(sorted(world)).toEqual(['tcp 3478-3478', 'tcp 443-443', 'udp 3478-3478']);
  });
});

describe('the TURN relay in staging, off by default', () => {
  test('no group, no rule, no peer for a turn host', () => {
    const s = synthEnvironment('staging');
    expect(s.config.turn.enabled).toBe(false);
    expect(hosts(s).roles).not.toContain('turn');
    expect(resources(s, 'aws_security_group').map((g) => g.block.name)).toEqual(['chat', 'jibri', 'jvb', 'meet', 'pbx'].map((r) => `weebeetalk-staging-${r}`));
    expect(resources(s, 'aws_vpc_security_group_ingress_rule').filter((r) => r.key.includes('turn') || Number(r.block.to_port) >= 49152 || [3478].includes(Number(r.block.from_port)))).toEqual([]);
    expect(resources(s, 'aws_vpc_security_group_egress_rule').filter((r) => r.key.includes('turn'))).toEqual([]);
    expect(portPlan(s.config).filter((r) => r.role === 'turn' || (r.peer.kind === 'host' && r.peer.role === 'turn'))).toEqual([]);
  });

  test('with turn.enabled: the turn group and its five rules (the relay from meet and from the JVB pool)', () => {
    const s = stagingTurn();
    const sg = single(resources(s, 'aws_security_group'), 'turn group', (g) => g.block.name === 'weebeetalk-staging-turn');
    expect(hosts(s).of('turn').sg.address).toBe(sg.address);
    expect(resources(s, 'aws_vpc_security_group_ingress_rule').filter((r) => r.block.security_group_id === sg.ref('id'))).toHaveLength(5);
    expect(resources(s, 'aws_vpc_security_group_egress_rule').filter((r) => r.block.security_group_id === sg.ref('id'))).toHaveLength(2);
  });
});
