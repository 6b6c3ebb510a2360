/**
 * Properties of the synthesized plans, with cdktf's jest matchers and plain JSON inspection: each host's security
 * group accepts exactly its port plan (DESIGN.md, "Port plan"), instances keep their identity and are hardened,
 * and production protects itself where staging tears down freely.
 */
import { CloudwatchMetricAlarm } from '@cdktf/provider-aws/lib/cloudwatch-metric-alarm';
import { EbsVolume } from '@cdktf/provider-aws/lib/ebs-volume';
import { Instance } from '@cdktf/provider-aws/lib/instance';
import { AwsProvider } from '@cdktf/provider-aws/lib/provider';
import { S3Bucket } from '@cdktf/provider-aws/lib/s3-bucket';
import { VpcSecurityGroupIngressRule } from '@cdktf/provider-aws/lib/vpc-security-group-ingress-rule';
import { parseCidr } from '../config/net';
import { portPlan } from '../config/ports';
import { ROLES, type Role } from '../config/schema';
import {
  asArray,
  asObject,
  asString,
  asStrings,
  byNameTag,
  isObject,
  one,
  preventsDestroy,
  referenced,
  resources,
  single,
  synthEnvironment,
  synthVariant,
  type Synthesized,
} from './support/synth';
import './support/matchers';

const WORLD = '0.0.0.0/0';
const STAGING_CLIENTS = '198.51.100.0/24';

/** Variants: the port plan's optional rows. */
const variants = {
  /** No Jigasi (so no SIP from meet), WSS for WebRTC phones, Jitsi on 8443. */
  'jigasi-off-wss-on': () => synthVariant('jigasi-off-wss-on', 'staging', { jitsi: { jigasi: false, httpsPort: 8443 }, sip: { wss: true } }),
  /** Administrators' SSH and a SIP trunk, on top of staging's phones and Jigasi. */
  'admin-and-trunk': () =>
    synthVariant('admin-and-trunk', 'staging', {
      adminCidrs: ['203.0.113.0/28', '198.18.0.0/15'],
      sip: { trunkSignallingCidrs: ['192.0.2.0/28'], trunkMediaCidrs: ['192.0.2.0/24', '203.0.113.128/25'] },
    }),
} as const;

type Expected = Record<Role, string[]>;
/** A rule as `<protocol> <port or range> <- <source>`, source a CIDR or `sg:<role>`. */
const rule = (protocol: 'tcp' | 'udp', ports: string, source: string): string => `${protocol} ${ports} <- ${source}`;
const ssh = (cidrs: string[]): string[] => cidrs.map((c) => rule('tcp', '22', c));

/**
 * Hand-written from DESIGN.md's port plan table for each configuration (not computed by config/ports.ts).
 * pbx's SIP and RTP from meet exist only with Jigasi: without it nothing on meet speaks SIP.
 */
const EXPECTED: Record<string, Expected> = {
  staging: {
    chat: [rule('tcp', '443', WORLD), rule('tcp', '80', WORLD)],
    meet: [rule('tcp', '443', WORLD), rule('tcp', '80', WORLD), rule('udp', '10000', WORLD), rule('udp', '20000-20050', 'sg:pbx')],
    pbx: [
      rule('udp', '5060', 'sg:meet'),
      rule('tcp', '5060', 'sg:meet'),
      rule('tcp', '5061', STAGING_CLIENTS),
      rule('udp', '10000-19999', 'sg:meet'),
      rule('udp', '10000-19999', STAGING_CLIENTS),
    ],
  },
  production: {
    chat: [rule('tcp', '443', WORLD), rule('tcp', '80', WORLD)],
    meet: [rule('tcp', '443', WORLD), rule('tcp', '80', WORLD), rule('udp', '10000', WORLD), rule('udp', '20000-20050', 'sg:pbx')],
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
  },
  'jigasi-off-wss-on': {
    chat: [rule('tcp', '443', WORLD), rule('tcp', '80', WORLD)],
    meet: [rule('tcp', '8443', WORLD), rule('tcp', '80', WORLD), rule('udp', '10000', WORLD)],
    pbx: [rule('tcp', '5061', STAGING_CLIENTS), rule('tcp', '8089', STAGING_CLIENTS), rule('udp', '10000-19999', STAGING_CLIENTS)],
  },
  'admin-and-trunk': {
    chat: [rule('tcp', '443', WORLD), rule('tcp', '80', WORLD), ...ssh(['203.0.113.0/28', '198.18.0.0/15'])],
    meet: [
      rule('tcp', '443', WORLD),
      rule('tcp', '80', WORLD),
      rule('udp', '10000', WORLD),
      rule('udp', '20000-20050', 'sg:pbx'),
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
  },
};

const CONFIGS: [string, () => Synthesized][] = [
  ['staging', () => synthEnvironment('staging')],
  ['production', () => synthEnvironment('production')],
  ['jigasi-off-wss-on', variants['jigasi-off-wss-on']],
  ['admin-and-trunk', variants['admin-and-trunk']],
];
const SHIPPED: [string, () => Synthesized][] = CONFIGS.slice(0, 2);

const hostName = (s: Synthesized, role: Role): string => `weebeetalk-${s.config.name}-${role}`;

/** A host's chain: instance -> its ENI -> the ENI's security group; the EIP and data volume by name. */
interface Host {
  readonly role: Role;
  readonly instance: ReturnType<typeof byNameTag>;
  readonly eni: ReturnType<typeof byNameTag>;
  readonly sg: ReturnType<typeof byNameTag>;
  readonly eip: ReturnType<typeof byNameTag>;
  readonly volume: ReturnType<typeof byNameTag>;
}

function hosts(s: Synthesized): Record<Role, Host> {
  const out = {} as Record<Role, Host>;
  for (const role of ROLES) {
    const instance = byNameTag(resources(s, 'aws_instance'), hostName(s, role));
    const eni = referenced(resources(s, 'aws_network_interface'), one(instance.block.primary_network_interface, 'primary_network_interface').network_interface_id);
    const groups = asStrings(eni.block.security_groups, `${eni.address}.security_groups`);
    expect(groups).toHaveLength(1);
    const sg = referenced(resources(s, 'aws_security_group'), groups[0]);
    const eip = byNameTag(resources(s, 'aws_eip'), hostName(s, role));
    const volume = byNameTag(resources(s, 'aws_ebs_volume'), `${hostName(s, role)}-data`);
    out[role] = { role, instance, eni, sg, eip, volume };
  }
  return out;
}

/** What each host's security group accepts, as `rule(...)` strings, read from the ingress rule resources. */
function accepted(s: Synthesized): Record<Role, string[]> {
  const h = hosts(s);
  const roleOfGroup = (ref: unknown): string => {
    const role = ROLES.find((r) => ref === h[r].sg.ref('id'));
    if (!role) throw new Error(`rule references a group that belongs to no host: ${String(ref)}`);
    return `sg:${role}`;
  };
  const out: Record<Role, string[]> = { chat: [], meet: [], pbx: [] };
  for (const r of resources(s, 'aws_vpc_security_group_ingress_rule')) {
    const b = r.block;
    const role = ROLES.find((x) => b.security_group_id === h[x].sg.ref('id'));
    if (!role) throw new Error(`${r.address} is on a group that belongs to no host: ${String(b.security_group_id)}`);
    const sources = [b.cidr_ipv4, b.cidr_ipv6, b.prefix_list_id, b.referenced_security_group_id].filter((x) => x !== undefined);
    expect(sources).toHaveLength(1);
    const source = b.referenced_security_group_id !== undefined ? roleOfGroup(b.referenced_security_group_id) : asString(b.cidr_ipv4, `${r.address}.cidr_ipv4`);
    const protocol = asString(b.ip_protocol, `${r.address}.ip_protocol`);
    if (protocol !== 'tcp' && protocol !== 'udp') throw new Error(`${r.address}: protocol ${protocol}`);
    const ports = b.from_port === b.to_port ? `${String(b.from_port)}` : `${String(b.from_port)}-${String(b.to_port)}`;
    out[role].push(rule(protocol, ports, source));
  }
  return out;
}

function fromPortPlan(s: Synthesized): Record<Role, string[]> {
  const out: Record<Role, string[]> = { chat: [], meet: [], pbx: [] };
  for (const p of portPlan(s.config)) {
    const source = p.peer.kind === 'host' ? `sg:${p.peer.role}` : p.peer.kind === 'world' ? WORLD : p.peer.cidr;
    out[p.role].push(rule(p.protocol, p.from === p.to ? `${p.from}` : `${p.from}-${p.to}`, source));
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
    for (const role of ROLES) expect({ role, rules: sorted(actual[role]) }).toEqual({ role, rules: sorted(EXPECTED[label][role]) });
  });

  test('the rules are exactly config/ports.ts portPlan(config), one resource per entry', () => {
    const s = synth();
    const actual = accepted(s);
    const planned = fromPortPlan(s);
    for (const role of ROLES) expect({ role, rules: sorted(actual[role]) }).toEqual({ role, rules: sorted(planned[role]) });
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

  test('no internal service port is reachable', () => {
    const s = synth();
    for (const r of resources(s, 'aws_vpc_security_group_ingress_rule')) {
      for (const [port, what] of NEVER_OPEN) {
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

describe.each(SHIPPED)('hosts of %s', (_label, synth) => {
  test('SSH is closed by default: no rule reaches port 22', () => {
    const s = synth();
    expect(s.config.adminCidrs).toEqual([]);
    for (const r of resources(s, 'aws_vpc_security_group_ingress_rule')) {
      expect(Number(r.block.from_port) <= 22 && 22 <= Number(r.block.to_port)).toBe(false);
    }
  });

  test('IMDSv2 is required, hop limit 2 on chat (Rocket.Chat container uploads to S3) and 1 on meet and pbx', () => {
    const s = synth();
    const hop: Record<Role, number> = { chat: 2, meet: 1, pbx: 1 };
    for (const role of ROLES) {
      expect(s.text).toHaveResourceWithProperties(Instance, {
        tags: expect.objectContaining({ Name: hostName(s, role) }),
        metadata_options: expect.objectContaining({ http_endpoint: 'enabled', http_tokens: 'required', http_put_response_hop_limit: hop[role] }),
      });
    }
    const instances = resources(s, 'aws_instance');
    expect(instances).toHaveLength(3);
    for (const i of instances) expect(one(i.block.metadata_options, 'metadata_options').http_tokens).toBe('required');
  });

  test('root and data volumes are encrypted gp3; no key pair; user-data changes replace the instance', () => {
    const s = synth();
    for (const i of resources(s, 'aws_instance')) {
      const root = one(i.block.root_block_device, `${i.address}.root_block_device`);
      expect(root).toMatchObject({ encrypted: true, volume_type: 'gp3', delete_on_termination: true });
      expect(i.block.key_name).toBeUndefined();
      expect(i.block.user_data_replace_on_change).toBe(true);
      expect(i.block.ebs_block_device).toBeUndefined();
    }
    const volumes = resources(s, 'aws_ebs_volume');
    expect(volumes).toHaveLength(3);
    for (const v of volumes) expect(v.block).toMatchObject({ encrypted: true, type: 'gp3' });
    for (const role of ROLES) {
      expect(s.text).toHaveResourceWithProperties(EbsVolume, { encrypted: true, type: 'gp3', size: s.config.hosts[role].dataVolumeGiB });
    }
  });

  test("each data volume is in its subnet's zone and attached to its own host", () => {
    const s = synth();
    const subnet = single(resources(s, 'aws_subnet'), 'subnet');
    const h = hosts(s);
    for (const role of ROLES) {
      expect(h[role].volume.block.availability_zone).toBe(subnet.block.availability_zone);
      expect(h[role].eni.block.subnet_id).toBe(subnet.ref('id'));
      const attachment = single(resources(s, 'aws_volume_attachment'), `attachment of ${role}'s volume`, (a) => a.block.volume_id === h[role].volume.ref('id'));
      expect(attachment.block.instance_id).toBe(h[role].instance.ref('id'));
    }
  });

  test('each host boots on its own ENI with a fixed private IP, and its EIP is associated to that ENI', () => {
    const s = synth();
    const subnet = single(resources(s, 'aws_subnet'), 'subnet');
    const block = parseCidr(asString(subnet.block.cidr_block, 'subnet cidr'));
    if (!block) throw new Error('subnet CIDR does not parse');
    const h = hosts(s);
    const ips = new Set<string>();
    for (const role of ROLES) {
      const { instance, eni, eip } = h[role];
      const privateIps = asStrings(eni.block.private_ips, `${eni.address}.private_ips`);
      expect(privateIps).toHaveLength(1);
      const ip = parseCidr(`${privateIps[0]}/32`);
      if (!ip) throw new Error(`${privateIps[0]} is not an address`);
      // Inside the subnet, clear of the 4 addresses AWS reserves at the start and the broadcast at the end.
      expect(ip.base).toBeGreaterThanOrEqual(block.base + 4);
      expect(ip.base).toBeLessThan(block.base + 2 ** (32 - block.prefix) - 1);
      ips.add(privateIps[0]);
      expect(one(instance.block.primary_network_interface, 'primary_network_interface').network_interface_id).toBe(eni.ref('id'));
      expect(instance.block.associate_public_ip_address).toBeUndefined();
      expect(instance.block.vpc_security_group_ids).toBeUndefined();
      expect(instance.block.subnet_id).toBeUndefined();
      // Allocated on its own (user-data can carry its address without a cycle), associated to the ENI.
      expect(eip.block.domain).toBe('vpc');
      expect(eip.block.instance).toBeUndefined();
      expect(eip.block.network_interface).toBeUndefined();
      const association = single(resources(s, 'aws_eip_association'), `association of ${role}'s EIP`, (a) => a.block.allocation_id === eip.ref('allocation_id'));
      expect(association.block.network_interface_id).toBe(eni.ref('id'));
      expect(association.block.instance_id).toBeUndefined();
    }
    expect(ips.size).toBe(3);
    expect(resources(s, 'aws_eip_association')).toHaveLength(3);
  });

  test('a CloudWatch alarm recovers each instance when the system status check fails', () => {
    const s = synth();
    const region = s.config.aws.region;
    for (const role of ROLES) {
      const { instance } = hosts(s)[role];
      const alarm = single(resources(s, 'aws_cloudwatch_metric_alarm'), `recover alarm of ${role}`, (a) => isObject(a.block.dimensions) && a.block.dimensions.InstanceId === instance.ref('id'));
      expect(alarm.block).toMatchObject({ namespace: 'AWS/EC2', metric_name: 'StatusCheckFailed_System' });
      expect(asStrings(alarm.block.alarm_actions, 'alarm_actions')).toContain(`arn:aws:automate:${region}:ec2:recover`);
      // A failed check reports 1: the alarm must fire on it.
      const fires =
        (alarm.block.comparison_operator === 'GreaterThanThreshold' && Number(alarm.block.threshold) < 1) ||
        (alarm.block.comparison_operator === 'GreaterThanOrEqualToThreshold' && Number(alarm.block.threshold) <= 1);
      expect(fires).toBe(true);
      expect(s.text).toHaveResourceWithProperties(CloudwatchMetricAlarm, {
        metric_name: 'StatusCheckFailed_System',
        dimensions: { InstanceId: instance.ref('id') },
        alarm_actions: expect.arrayContaining([`arn:aws:automate:${region}:ec2:recover`]),
      });
    }
  });
});

/** Every lifecycle.prevent_destroy in the plan. */
function protectedAddresses(s: Synthesized): string[] {
  return Object.entries(s.json.resource ?? {}).flatMap(([type, byKey]) =>
    Object.entries(byKey)
      .filter(([, b]) => preventsDestroy(b))
      .map(([key]) => `${type}.${key}`),
  );
}

describe('production protects itself', () => {
  const s = () => synthEnvironment('production');

  test('termination protection on every instance', () => {
    for (const i of resources(s(), 'aws_instance')) expect(i.block.disable_api_termination).toBe(true);
    expect(s().text).toHaveResourceWithProperties(Instance, { disable_api_termination: true });
  });

  test('prevent_destroy on every data volume, bucket and Elastic IP', () => {
    for (const type of ['aws_ebs_volume', 'aws_s3_bucket', 'aws_eip']) {
      const list = resources(s(), type);
      expect(list.length).toBe(3);
      for (const r of list) expect({ address: r.address, prevent_destroy: preventsDestroy(r.block) }).toEqual({ address: r.address, prevent_destroy: true });
    }
    for (const b of resources(s(), 'aws_s3_bucket')) expect(b.block.force_destroy).not.toBe(true);
    expect(s().text).toHaveResourceWithProperties(S3Bucket, { force_destroy: false, lifecycle: { prevent_destroy: true } });
  });

  test('the provider refuses any account but the configured one', () => {
    const ids = s().config.aws.allowedAccountIds;
    expect(ids.length).toBeGreaterThan(0);
    expect(s().text).toHaveProviderWithProperties(AwsProvider, { allowed_account_ids: ids });
  });

  test('state lives in an encrypted S3 backend with S3-native locking', () => {
    const backend = asObject(asObject(s().json.terraform?.backend, 'terraform.backend').s3, 'terraform.backend.s3');
    const state = s().config.state;
    if (!state) throw new Error('production has no state configuration');
    expect(backend).toMatchObject({ bucket: state.bucket, region: state.region, key: 'weebeetalk/production/terraform.tfstate', encrypt: true, use_lockfile: true });
    expect(backend.dynamodb_table).toBeUndefined();
  });
});

describe('staging tears down freely', () => {
  const s = () => synthEnvironment('staging');

  test('no prevent_destroy anywhere', () => {
    expect(protectedAddresses(s())).toEqual([]);
  });

  test('buckets are force_destroy', () => {
    const buckets = resources(s(), 'aws_s3_bucket');
    expect(buckets).toHaveLength(3);
    for (const b of buckets) expect(b.block.force_destroy).toBe(true);
  });

  test('no termination protection', () => {
    for (const i of resources(s(), 'aws_instance')) expect(i.block.disable_api_termination).not.toBe(true);
    expect(s().text).not.toHaveResourceWithProperties(Instance, { disable_api_termination: true });
  });

  test('local state and no account guard', () => {
    const backend = s().json.terraform?.backend;
    if (backend !== undefined) expect(Object.keys(asObject(backend, 'terraform.backend'))).toEqual(['local']);
    const provider = one(asArray(s().json.provider?.aws, 'provider.aws'), 'provider.aws');
    expect(provider.allowed_account_ids).toBeUndefined();
  });
});

describe('the variants differ only where configured', () => {
  test('production protections are absent from every staging-based variant', () => {
    for (const make of Object.values(variants)) {
      const v: Synthesized = make();
      expect(protectedAddresses(v)).toEqual([]);
      expect(Object.keys(v.json.terraform?.backend ?? {}).filter((b) => b !== 'local')).toEqual([]);
      for (const i of resources(v, 'aws_instance')) expect(i.block.disable_api_termination).toBe(false);
    }
  });
});
