/**
 * Single constructs, each on a bare TerraformStack of its own (cdktf's Testing), asserting what the construct
 * promises whatever stack uses it: PrivateBucket, HostIdentity, Firewalls, VolumeSnapshots, Network, Dns and
 * Secrets (their grant methods are test/grants.test.ts). The whole stack's plans are tested by subject (storage,
 * hosts, firewalls, ...); here nothing else is in the plan.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Testing, TerraformStack } from 'cdktf';
import type { Construct } from 'constructs';
import staging from '../config/environments/staging';
import { loadEnvironment } from '../config/load';
import { EGRESS, type PortRule } from '../config/ports';
import { ROLES, type Role } from '../config/schema';
import type { Json } from '../constructs/audit/plan';
import { auditStack } from '../constructs/audit/stack-audit';
import { Dns } from '../constructs/dns';
import { Firewalls } from '../constructs/firewalls';
import { HostIdentity } from '../constructs/host-identity';
import { Network } from '../constructs/network';
import { PrivateBucket } from '../constructs/private-bucket';
import { Secrets } from '../constructs/secrets';
import { VolumeSnapshots } from '../constructs/volume-snapshots';
import { allResources, asArray, asObject, dataSources, one, preventsDestroy, referenced, resources, single, type Item, type Synthesized } from './support/synth';

// One output directory for the file (Testing.app() would leave a temporary directory per app behind).
let outdir: string;
beforeAll(() => {
  outdir = mkdtempSync(join(tmpdir(), 'constructs-test-'));
});
afterAll(() => rmSync(outdir, { recursive: true, force: true }));

/** A bare stack holding only what `build` adds, synthesized as the tests of whole stacks read it. */
function bare(build: (stack: TerraformStack) => void): Synthesized & { stack: TerraformStack } {
  const stack = new TerraformStack(Testing.app({ outdir }), 'bare');
  build(stack);
  const text = Testing.synth(stack);
  return { label: 'bare', config: loadEnvironment(staging), text, json: JSON.parse(text) as Synthesized['json'], stack };
}

/** depends_on of an item, as the addresses it names. */
const dependsOn = (i: Item): string[] => (Array.isArray(i.block.depends_on) ? i.block.depends_on.map((d) => String(d).replace(/^\$\{|\}$/g, '')) : []);

const bucket =
  (props: Partial<ConstructorParameters<typeof PrivateBucket>[2]> = {}) =>
  (scope: Construct) =>
    void new PrivateBucket(scope, 'uploads', { bucketName: 'weebeetalk-test-uploads-0123456789', noncurrentVersionDays: 30, ...props });

describe('PrivateBucket on a bare stack', () => {
  test('a protected bucket refuses forceDestroy', () => {
    expect(() => bare(bucket({ protect: true, forceDestroy: true }))).toThrow(/protect and forceDestroy contradict each other/);
  });

  test.each([
    ['by default', {}, { prevent_destroy: false, force_destroy: false }],
    ['protected (production)', { protect: true }, { prevent_destroy: true, force_destroy: false }],
    ['forceDestroy (staging)', { forceDestroy: true }, { prevent_destroy: false, force_destroy: true }],
  ])('%s: prevent_destroy and force_destroy as asked', (_label, props, expected) => {
    const s = bare(bucket(props));
    const b = single(resources(s, 'aws_s3_bucket'), 'bucket');
    expect({ prevent_destroy: preventsDestroy(b.block), force_destroy: b.block.force_destroy }).toEqual(expected);
    expect(b.block.bucket).toBe('weebeetalk-test-uploads-0123456789');
    expect(b.block.acl).toBeUndefined();
    expect(b.block.object_lock_enabled).toBeUndefined();
  });

  test('all four public-access flags, BucketOwnerEnforced, AES256 with a bucket key, versioning', () => {
    const s = bare(bucket());
    const b = single(resources(s, 'aws_s3_bucket'), 'bucket');
    const sub = (type: string): Item => single(resources(s, type), type, (r) => r.block.bucket === b.ref('id'));
    expect(sub('aws_s3_bucket_public_access_block').block).toMatchObject({ block_public_acls: true, block_public_policy: true, ignore_public_acls: true, restrict_public_buckets: true });
    expect(one(sub('aws_s3_bucket_ownership_controls').block.rule, 'ownership rule').object_ownership).toBe('BucketOwnerEnforced');
    const sse = one(sub('aws_s3_bucket_server_side_encryption_configuration').block.rule, 'sse rule');
    expect(sse.bucket_key_enabled).toBe(true);
    expect(one(sse.apply_server_side_encryption_by_default, 'sse default').sse_algorithm).toBe('AES256');
    expect(one(sub('aws_s3_bucket_versioning').block.versioning_configuration, 'versioning').status).toBe('Enabled');
    // Nothing that could open it again.
    expect(resources(s, 'aws_s3_bucket_acl')).toEqual([]);
    expect(resources(s, 'aws_s3_bucket_website_configuration')).toEqual([]);
  });

  test('a TLS-only policy: one Deny of s3:* on the bucket and its objects to everyone when aws:SecureTransport is false', () => {
    const s = bare(bucket());
    const b = single(resources(s, 'aws_s3_bucket'), 'bucket');
    const policy = single(resources(s, 'aws_s3_bucket_policy'), 'policy');
    expect(policy.block.bucket).toBe(b.ref('id'));
    const doc = referenced(dataSources(s, 'aws_iam_policy_document'), policy.block.policy);
    expect(policy.block.policy).toBe(doc.ref('json'));
    expect(asArray(doc.block.statement, 'statement')).toEqual([
      {
        sid: 'DenyInsecureTransport',
        effect: 'Deny',
        principals: [{ type: '*', identifiers: ['*'] }],
        actions: ['s3:*'],
        resources: [b.ref('arn'), `${b.ref('arn')}/*`],
        condition: [{ test: 'Bool', variable: 'aws:SecureTransport', values: ['false'] }],
      },
    ]);
  });

  test('its sub-resources are applied in sequence, private first: public access block, ownership, encryption, versioning, policy, lifecycle', () => {
    const s = bare(bucket());
    const order = [
      'aws_s3_bucket_public_access_block',
      'aws_s3_bucket_ownership_controls',
      'aws_s3_bucket_server_side_encryption_configuration',
      'aws_s3_bucket_versioning',
      'aws_s3_bucket_policy',
      'aws_s3_bucket_lifecycle_configuration',
    ].map((type) => single(resources(s, type), type));
    expect(dependsOn(order[0])).toEqual([]);
    for (let i = 1; i < order.length; i++) expect({ sub: order[i].type, dependsOn: dependsOn(order[i]) }).toEqual({ sub: order[i].type, dependsOn: [order[i - 1].address] });
    // Every resource of the construct is one of them or the bucket.
    expect(
      allResources(s)
        .map((r) => r.type)
        .sort(),
    ).toEqual(['aws_s3_bucket', ...order.map((r) => r.type)].sort());
  });

  test('lifecycle without expiry: old versions, stale multipart uploads and delete markers go; current objects stay', () => {
    const s = bare(bucket({ noncurrentVersionDays: 12 }));
    const rules = asArray(single(resources(s, 'aws_s3_bucket_lifecycle_configuration'), 'lifecycle').block.rule, 'rules');
    expect(rules).toEqual([
      {
        id: 'cleanup',
        status: 'Enabled',
        filter: [{ prefix: '' }],
        noncurrent_version_expiration: [{ noncurrent_days: 12 }],
        abort_incomplete_multipart_upload: [{ days_after_initiation: 7 }],
        expiration: [{ expired_object_delete_marker: true }],
      },
    ]);
  });

  test('lifecycle with expireAfterDays: current objects expire, and a second rule removes the delete markers left', () => {
    const s = bare(bucket({ expireAfterDays: 30, noncurrentVersionDays: 1 }));
    const rules = asArray(single(resources(s, 'aws_s3_bucket_lifecycle_configuration'), 'lifecycle').block.rule, 'rules').map((r) => asObject(r, 'rule'));
    expect(rules.map((r) => r.id)).toEqual(['cleanup', 'delete-markers']);
    expect(rules[0]).toMatchObject({ status: 'Enabled', expiration: [{ days: 30 }], noncurrent_version_expiration: [{ noncurrent_days: 1 }] });
    expect(rules[1]).toEqual({ id: 'delete-markers', status: 'Enabled', filter: [{ prefix: '' }], expiration: [{ expired_object_delete_marker: true }] });
  });

  test('its ARN is plain text known at synthesis, in the given partition', () => {
    let arn = '';
    let govArn = '';
    bare((stack) => {
      arn = new PrivateBucket(stack, 'a', { bucketName: 'name-a', noncurrentVersionDays: 1 }).arn;
      govArn = new PrivateBucket(stack, 'b', { bucketName: 'name-b', noncurrentVersionDays: 1, partition: 'aws-us-gov' }).arn;
    });
    expect(arn).toBe('arn:aws:s3:::name-a');
    expect(govArn).toBe('arn:aws-us-gov:s3:::name-b');
  });

  test('passes the audit: public access block and TLS-only checks are ok', () => {
    const s = bare(bucket());
    const audit = auditStack(s.stack.toTerraform() as Json, s.config);
    expect(audit.findings).toEqual([]);
    expect(audit.checks.map((c) => `${c.rule} ${c.verdict}`).sort()).toEqual(['WBT-PRIV-STATE ok', 'WBT-S3-PAB ok', 'WBT-S3-TLS ok']);
  });
});

describe('HostIdentity on a bare stack', () => {
  const identity = (protect?: boolean) =>
    bare((stack) => void new HostIdentity(stack, 'id', { name: 'weebeetalk-test-pbx', subnetId: 'subnet-0123', privateIp: '10.20.0.12', securityGroupIds: ['sg-1', 'sg-2'], protect }));

  test('an interface with the fixed private IP and the groups, named for the host', () => {
    const eni = single(resources(identity(), 'aws_network_interface'), 'eni');
    expect(eni.block).toMatchObject({ subnet_id: 'subnet-0123', private_ips: ['10.20.0.12'], security_groups: ['sg-1', 'sg-2'], tags: { Name: 'weebeetalk-test-pbx' } });
    expect(eni.block.description).toBe('weebeetalk-test-pbx primary interface (outlives the instance)');
  });

  test('an Elastic IP allocated on its own, associated to the interface (never to an instance)', () => {
    const s = identity();
    const eni = single(resources(s, 'aws_network_interface'), 'eni');
    const eip = single(resources(s, 'aws_eip'), 'eip');
    expect(eip.block).toMatchObject({ domain: 'vpc', tags: { Name: 'weebeetalk-test-pbx' } });
    expect(eip.block.instance).toBeUndefined();
    expect(eip.block.network_interface).toBeUndefined();
    const association = single(resources(s, 'aws_eip_association'), 'association');
    expect(association.block.allocation_id).toBe(eip.ref('allocation_id'));
    expect(association.block.network_interface_id).toBe(eni.ref('id'));
    expect(association.block.instance_id).toBeUndefined();
    expect(
      allResources(s)
        .map((r) => r.type)
        .sort(),
    ).toEqual(['aws_eip', 'aws_eip_association', 'aws_network_interface']);
  });

  test.each([
    [undefined, false],
    [false, false],
    [true, true],
  ])('protect %s: the Elastic IP prevent_destroy is %s', (protect, expected) => {
    expect(preventsDestroy(single(resources(identity(protect), 'aws_eip'), 'eip').block)).toBe(expected);
  });

  test('the association waits for what routes the address (dependsOn), which hosts on the identity get too', () => {
    let internetAccess: readonly unknown[] = [];
    let privateIp = '';
    const s = bare((stack) => {
      const network = new Network(stack, 'net', { name: 'weebeetalk-test', vpcCidr: '10.20.0.0/16', availabilityZone: 'ap-southeast-3a' });
      const id = new HostIdentity(stack, 'id', { name: 'h', subnetId: network.publicSubnet.id, privateIp: '10.20.0.10', securityGroupIds: [], dependsOn: network.internetAccess });
      internetAccess = id.internetAccess;
      privateIp = id.privateIp;
    });
    const association = single(resources(s, 'aws_eip_association'), 'association');
    expect(dependsOn(association).sort()).toEqual(
      [single(resources(s, 'aws_internet_gateway'), 'igw'), single(resources(s, 'aws_route'), 'route'), single(resources(s, 'aws_route_table_association'), 'rta')].map((r) => r.address).sort(),
    );
    expect(internetAccess).toHaveLength(3);
    expect(privateIp).toBe('10.20.0.10');
    expect(dependsOn(single(resources(identity(), 'aws_eip_association'), 'association'))).toEqual([]);
  });
});

describe('Firewalls on a bare stack', () => {
  const RULES: PortRule[] = [
    { id: 'chat-https-world', role: 'chat', protocol: 'tcp', from: 443, to: 443, peer: { kind: 'world' }, description: 'Rocket.Chat web' },
    { id: 'pbx-sip-from-meet', role: 'pbx', protocol: 'udp', from: 5060, to: 5060, peer: { kind: 'host', role: 'meet' }, description: 'SIP from Jigasi' },
    { id: 'pbx-rtp-sip-client', role: 'pbx', protocol: 'udp', from: 10000, to: 19999, peer: { kind: 'cidr', cidr: '198.51.100.0/24', label: 'sip-client' }, description: 'RTP from phones' },
  ];
  const firewalls = (rules: readonly PortRule[] = RULES, roles: readonly Role[] = ROLES) =>
    bare((stack) => void new Firewalls(stack, 'fw', { name: 'weebeetalk-test', vpcId: 'vpc-0123', roles, rules }));
  const groupOf = (s: Synthesized, role: string): Item => single(resources(s, 'aws_security_group'), `group of ${role}`, (g) => g.block.name === `weebeetalk-test-${role}`);

  test('one described group per role in the VPC, with no inline rules', () => {
    const s = firewalls();
    expect(resources(s, 'aws_security_group')).toHaveLength(ROLES.length);
    for (const role of ROLES) {
      const g = groupOf(s, role);
      expect(g.block).toMatchObject({ vpc_id: 'vpc-0123', description: `WeeBeeTalk ${role} host: ingress from the port plan only`, tags: { Name: `weebeetalk-test-${role}` } });
      expect(g.block.ingress).toBeUndefined();
      expect(g.block.egress).toBeUndefined();
    }
  });

  test('egress per role and protocol of EGRESS, all ports to the internet, described, never protocol -1', () => {
    const s = firewalls();
    const egress = resources(s, 'aws_vpc_security_group_egress_rule');
    expect(egress).toHaveLength(ROLES.length * EGRESS.length);
    for (const role of ROLES)
      for (const e of EGRESS)
        expect(egress.filter((r) => r.block.security_group_id === groupOf(s, role).ref('id')).map((r) => r.block)).toContainEqual({
          security_group_id: groupOf(s, role).ref('id'),
          ip_protocol: e.protocol,
          from_port: 0,
          to_port: 65535,
          cidr_ipv4: '0.0.0.0/0',
          description: e.description,
        });
  });

  test('one ingress resource per rule, on its role group, from the world, a CIDR or another host group', () => {
    const s = firewalls();
    const ingress = resources(s, 'aws_vpc_security_group_ingress_rule');
    expect(ingress.map((r) => asObject(r.block.tags, 'tags').Name).sort()).toEqual(RULES.map((r) => r.id).sort());
    const byName = (id: string): Item => single(ingress, id, (r) => (r.block.tags as { Name?: string }).Name === id);
    expect(byName('chat-https-world').block).toMatchObject({
      security_group_id: groupOf(s, 'chat').ref('id'),
      ip_protocol: 'tcp',
      from_port: 443,
      to_port: 443,
      cidr_ipv4: '0.0.0.0/0',
      description: 'Rocket.Chat web',
    });
    expect(byName('pbx-sip-from-meet').block).toMatchObject({
      security_group_id: groupOf(s, 'pbx').ref('id'),
      ip_protocol: 'udp',
      from_port: 5060,
      to_port: 5060,
      referenced_security_group_id: groupOf(s, 'meet').ref('id'),
    });
    expect(byName('pbx-sip-from-meet').block.cidr_ipv4).toBeUndefined();
    expect(byName('pbx-rtp-sip-client').block).toMatchObject({ security_group_id: groupOf(s, 'pbx').ref('id'), from_port: 10000, to_port: 19999, cidr_ipv4: '198.51.100.0/24' });
    // The rule's id is its construct id: renaming it replaces the rule.
    for (const r of RULES) expect(s.stack.node.findChild('fw').node.tryFindChild(r.id)).toBeDefined();
  });

  test('no rules: the groups only send', () => {
    const s = firewalls([]);
    expect(resources(s, 'aws_vpc_security_group_ingress_rule')).toEqual([]);
    expect(resources(s, 'aws_vpc_security_group_egress_rule')).toHaveLength(ROLES.length * EGRESS.length);
  });

  test('a description AWS would reject fails synthesis, naming the rule', () => {
    expect(() => firewalls([{ ...RULES[0], description: 'Rocket.Chat <web>' }])).toThrow(/rule chat-https-world has a description AWS rejects/);
    expect(() => firewalls([{ ...RULES[0], description: '' }])).toThrow(/chat-https-world/);
  });

  test('only the roles it is given get a group (an environment without the TURN relay has no turn group)', () => {
    const s = firewalls(RULES, ['chat', 'meet', 'pbx']);
    expect(
      resources(s, 'aws_security_group')
        .map((g) => g.block.name)
        .sort(),
    ).toEqual(['weebeetalk-test-chat', 'weebeetalk-test-meet', 'weebeetalk-test-pbx']);
    expect(resources(s, 'aws_vpc_security_group_egress_rule')).toHaveLength(3 * EGRESS.length);
    expect(resources(s, 'aws_vpc_security_group_ingress_rule')).toHaveLength(RULES.length);
  });

  test('a rule on, or from, a host the environment does not build fails synthesis, naming the rule and the host', () => {
    const relay: PortRule = { id: 'turn-relay-from-meet', role: 'turn', protocol: 'udp', from: 49152, to: 65535, peer: { kind: 'host', role: 'meet' }, description: 'TURN relay ports' };
    expect(() => firewalls([relay], ['chat', 'meet', 'pbx'])).toThrow(/rule turn-relay-from-meet names the turn host, which this environment does not build/);
    const fromTurn: PortRule = { ...RULES[1], id: 'pbx-x-from-turn', peer: { kind: 'host', role: 'turn' } };
    expect(() => firewalls([fromTurn], ['chat', 'meet', 'pbx'])).toThrow(/rule pbx-x-from-turn names the turn host/);
    // With the role built, the same rule is the relay's: on turn's group, from meet's only.
    const s = firewalls([relay]);
    const rule = single(resources(s, 'aws_vpc_security_group_ingress_rule'), 'relay');
    expect(rule.block).toMatchObject({
      security_group_id: groupOf(s, 'turn').ref('id'),
      referenced_security_group_id: groupOf(s, 'meet').ref('id'),
      ip_protocol: 'udp',
      from_port: 49152,
      to_port: 65535,
    });
    expect(rule.block.cidr_ipv4).toBeUndefined();
  });

  test('groupOf answers a built role and refuses one that is not', () => {
    let built: string[] = [];
    let refusal = '';
    bare((stack) => {
      const fw = new Firewalls(stack, 'fw', { name: 'weebeetalk-test', vpcId: 'vpc-0123', roles: ['chat', 'meet', 'pbx'], rules: [] });
      built = (['chat', 'meet', 'pbx'] as const).map((role) => fw.groupOf(role).node.id);
      expect(Object.keys(fw.groups).sort()).toEqual(['chat', 'meet', 'pbx']);
      try {
        fw.groupOf('turn');
      } catch (e) {
        refusal = (e as Error).message;
      }
    });
    expect(built).toEqual(['sg-chat', 'sg-meet', 'sg-pbx']);
    expect(refusal).toMatch(/no security group for turn: this environment does not build that host/);
  });
});

describe('VolumeSnapshots on a bare stack', () => {
  const snapshots = (partition?: string) =>
    bare((stack) => void new VolumeSnapshots(stack, 'snap', { name: 'weebeetalk-test', targetTag: { key: 'weebeetalk:snapshot', value: 'test-daily' }, retainCount: 9, time: '03:30', partition }));

  test('a daily policy on the volumes carrying the tag, at the given time, keeping the given count', () => {
    const s = snapshots();
    const policy = single(resources(s, 'aws_dlm_lifecycle_policy'), 'DLM policy');
    expect(policy.block).toMatchObject({ description: 'weebeetalk-test daily data-volume snapshots', state: 'ENABLED' });
    const details = asObject(policy.block.policy_details, 'policy_details');
    expect(details.resource_types).toEqual(['VOLUME']);
    expect(details.target_tags).toEqual({ 'weebeetalk:snapshot': 'test-daily' });
    expect(asArray(details.schedule, 'schedule')).toEqual([
      {
        name: 'daily',
        create_rule: { interval: 24, interval_unit: 'HOURS', times: ['03:30'] },
        retain_rule: { count: 9 },
        copy_tags: true,
        tags_to_add: { SnapshotCreator: 'DLM' },
      },
    ]);
  });

  test("its role: assumable by DLM only, with AWS's DLM service-role policy in the given partition", () => {
    for (const [partition, prefix] of [
      [undefined, 'arn:aws'],
      ['aws-cn', 'arn:aws-cn'],
    ] as const) {
      const s = snapshots(partition);
      const role = single(resources(s, 'aws_iam_role'), 'role');
      expect(role.block.name).toBe('weebeetalk-test-dlm');
      expect(single(resources(s, 'aws_dlm_lifecycle_policy'), 'policy').block.execution_role_arn).toBe(role.ref('arn'));
      const trust = referenced(dataSources(s, 'aws_iam_policy_document'), role.block.assume_role_policy);
      expect(trust.block.statement).toEqual([{ actions: ['sts:AssumeRole'], principals: [{ type: 'Service', identifiers: ['dlm.amazonaws.com'] }] }]);
      const attachment = single(resources(s, 'aws_iam_role_policy_attachment'), 'attachment');
      expect(attachment.block).toEqual({ role: role.ref('name'), policy_arn: `${prefix}:iam::aws:policy/service-role/AWSDataLifecycleManagerServiceRole` });
      expect(resources(s, 'aws_iam_role_policy')).toEqual([]);
    }
  });
});

describe('Network on a bare stack', () => {
  const network = (vpcCidr = '10.20.0.0/16') => bare((stack) => void new Network(stack, 'net', { name: 'weebeetalk-test', vpcCidr, availabilityZone: 'ap-southeast-3b' }));

  test('a VPC with DNS, its default security group emptied, a public subnet of the first /24 that gives no address by itself', () => {
    const s = network();
    const vpc = single(resources(s, 'aws_vpc'), 'vpc');
    expect(vpc.block).toMatchObject({ cidr_block: '10.20.0.0/16', enable_dns_support: true, enable_dns_hostnames: true, tags: { Name: 'weebeetalk-test' } });
    const closed = single(resources(s, 'aws_default_security_group'), 'default group');
    expect(closed.block.vpc_id).toBe(vpc.ref('id'));
    expect(closed.block.ingress).toBeUndefined();
    expect(closed.block.egress).toBeUndefined();
    const subnet = single(resources(s, 'aws_subnet'), 'subnet');
    expect(subnet.block).toMatchObject({ vpc_id: vpc.ref('id'), cidr_block: '10.20.0.0/24', availability_zone: 'ap-southeast-3b', map_public_ip_on_launch: false });
  });

  test('the subnet routes 0.0.0.0/0 to an internet gateway; no NAT gateway', () => {
    const s = network();
    const igw = single(resources(s, 'aws_internet_gateway'), 'igw');
    const table = single(resources(s, 'aws_route_table'), 'route table');
    expect(single(resources(s, 'aws_route'), 'route').block).toEqual({ route_table_id: table.ref('id'), destination_cidr_block: '0.0.0.0/0', gateway_id: igw.ref('id') });
    expect(single(resources(s, 'aws_route_table_association'), 'association').block).toEqual({ subnet_id: single(resources(s, 'aws_subnet'), 'subnet').ref('id'), route_table_id: table.ref('id') });
    expect(resources(s, 'aws_nat_gateway')).toEqual([]);
  });

  test('a /24 VPC is its own subnet; a block that is no IPv4 CIDR is refused', () => {
    expect(single(resources(network('10.30.5.0/24'), 'aws_subnet'), 'subnet').block.cidr_block).toBe('10.30.5.0/24');
    expect(() => network('10.30.5.0')).toThrow(/vpcCidr 10.30.5.0 is not an IPv4 CIDR/);
  });
});

describe('Dns on a bare stack', () => {
  const HOSTS = [
    { id: 'chat', fqdn: 'chat.staging.example.org', ip: '203.0.113.10' },
    { id: 'pbx', fqdn: 'pbx.staging.example.org', ip: '203.0.113.12' },
  ];
  const dns = (props: Partial<ConstructorParameters<typeof Dns>[2]> = {}) =>
    bare((stack) => void new Dns(stack, 'dns', { zoneName: 'example.org', zoneMode: 'lookup', hosts: HOSTS, sipDomain: 'staging.example.org', pbxFqdn: 'pbx.staging.example.org', ...props }));

  test('a looked-up zone is a public one, and every record is in it', () => {
    const s = dns();
    const zone = single(dataSources(s, 'aws_route53_zone'), 'zone');
    expect(zone.block).toEqual({ name: 'example.org', private_zone: false });
    expect(resources(s, 'aws_route53_zone')).toEqual([]);
    for (const r of resources(s, 'aws_route53_record')) expect(r.block.zone_id).toBe(zone.ref('zone_id'));
  });

  test.each([
    ['unprotected (staging)', false, { force_destroy: true, prevent_destroy: false }],
    ['protected (production)', true, { force_destroy: false, prevent_destroy: true }],
  ])('a created zone, %s: force_destroy and prevent_destroy', (_label, protect, expected) => {
    const s = dns({ zoneMode: 'create', protect });
    const zone = single(resources(s, 'aws_route53_zone'), 'zone');
    expect(zone.block.name).toBe('example.org');
    expect({ force_destroy: zone.block.force_destroy, prevent_destroy: preventsDestroy(zone.block) }).toEqual(expected);
    expect(dataSources(s, 'aws_route53_zone')).toEqual([]);
    for (const r of resources(s, 'aws_route53_record')) expect(r.block.zone_id).toBe(zone.ref('zone_id'));
  });

  test("each host: an A record to its address and CAA records that let only Let's Encrypt issue (iodef when given)", () => {
    const records = (s: Synthesized) => resources(s, 'aws_route53_record').map((r) => [r.block.type, r.block.name, r.block.ttl, r.block.records]);
    expect(records(dns())).toEqual([
      ['A', 'chat.staging.example.org', 300, ['203.0.113.10']],
      ['CAA', 'chat.staging.example.org', 300, ['0 issue "letsencrypt.org"', '0 issuewild ";"']],
      ['A', 'pbx.staging.example.org', 300, ['203.0.113.12']],
      ['CAA', 'pbx.staging.example.org', 300, ['0 issue "letsencrypt.org"', '0 issuewild ";"']],
    ]);
    expect(records(dns({ caaIodef: 'mailto:security@example.org', ttl: 60, hosts: HOSTS.slice(0, 1) }))).toEqual([
      ['A', 'chat.staging.example.org', 60, ['203.0.113.10']],
      ['CAA', 'chat.staging.example.org', 60, ['0 issue "letsencrypt.org"', '0 issuewild ";"', '0 iodef "mailto:security@example.org"']],
    ]);
  });

  test('SIP SRV records only when asked: _sips._tcp for phones, _sip._udp and _sip._tcp for a trunk', () => {
    const srv = (s: Synthesized) =>
      resources(s, 'aws_route53_record')
        .filter((r) => r.block.type === 'SRV')
        .map((r) => `${String(r.block.name)} ${asArray(r.block.records, 'records').join(',')}`);
    expect(srv(dns())).toEqual([]);
    expect(srv(dns({ sipsSrv: true }))).toEqual(['_sips._tcp.staging.example.org 10 10 5061 pbx.staging.example.org.']);
    expect(srv(dns({ sipSrv: true })).sort()).toEqual(['_sip._tcp.staging.example.org 10 10 5060 pbx.staging.example.org.', '_sip._udp.staging.example.org 10 10 5060 pbx.staging.example.org.']);
  });
});

describe('Secrets on a bare stack', () => {
  const secrets = (versions?: Record<string, number>) =>
    bare((stack) => {
      const s = new Secrets(stack, 'secrets', { prefix: '/weebeetalk/test', versions });
      s.add({ id: 'jigasi', description: 'Jigasi SIP password', path: 'meet/jigasi-sip-password', readers: ['pbx'] });
      s.add({ id: 'admin', description: 'Rocket.Chat admin password', path: 'chat/admin-password', length: 40 });
      s.addPlain('meet/jwt-app-id', 'Jitsi JWT application id', 'weebeetalk-test');
    });
  type Block = Record<string, unknown>;
  const ephemeral = (s: ReturnType<typeof secrets>): Record<string, Record<string, Block>> => (s.json as { ephemeral?: Record<string, Record<string, Block>> }).ephemeral ?? {};

  test('a generated secret: one SecureString, written through value_wo (version 1) from an ephemeral alphanumeric random password, or the value it holds already', () => {
    const s = secrets();
    const randoms = ephemeral(s).aws_secretsmanager_random_password;
    expect(Object.values(randoms).sort((a, b) => Number(a.password_length) - Number(b.password_length))).toEqual([
      { password_length: 32, exclude_punctuation: true, include_space: false },
      { password_length: 40, exclude_punctuation: true, include_space: false },
    ]);
    const [randomName] = Object.entries(randoms).find(([, r]) => r.password_length === 32)!;
    const [readName, read] = Object.entries(ephemeral(s).aws_ssm_parameter).find(([k]) => k.startsWith('secrets_jigasi-current'))!;
    const lookup = single(dataSources(s, 'aws_resourcegroupstaggingapi_resources'), 'lookup');
    const [localName, local] = Object.entries((s.json as { locals?: Record<string, string> }).locals ?? {}).find(([k]) => k.startsWith('secrets_jigasi-existing'))!;
    expect(local).toBe(
      `\${[for m in data.aws_resourcegroupstaggingapi_resources.${lookup.key}.resource_tag_mapping_list : m if endswith(m.resource_arn, ":parameter/weebeetalk/test/meet/jigasi-sip-password")]}`,
    );
    expect(read).toMatchObject({ arn: `\${one(local.${localName}).resource_arn}`, with_decryption: true });
    const byName = (name: string): Item => single(resources(s, 'aws_ssm_parameter'), name, (p) => p.block.name === name);
    expect(byName('/weebeetalk/test/meet/jigasi-sip-password').block).toEqual({
      name: '/weebeetalk/test/meet/jigasi-sip-password',
      description: 'Jigasi SIP password',
      type: 'SecureString',
      value_wo: `\${length(ephemeral.aws_ssm_parameter.${readName}) > 0 ? ephemeral.aws_ssm_parameter.${readName}[0].value : ephemeral.aws_secretsmanager_random_password.${randomName}.random_password}`,
      value_wo_version: 10,
      tags: { 'weebeetalk:value-version': '1', 'weebeetalk:value-key': 'aws' },
      lifecycle: { ignore_changes: ['description'] },
    });
    // One parameter per secret: the reader's folder has none.
    expect(resources(s, 'aws_ssm_parameter').map((p) => p.block.name)).not.toContain('/weebeetalk/test/pbx/jigasi-sip-password');
  });

  test('a later version is written again (ten per version, one more under a customer key), tagged with it; its current value is read only at that version', () => {
    const s = secrets({ 'meet/jigasi-sip-password': 3 });
    const p = single(resources(s, 'aws_ssm_parameter'), 'jigasi', (r) => r.block.name === '/weebeetalk/test/meet/jigasi-sip-password');
    expect({ wo: p.block.value_wo_version, tags: p.block.tags }).toEqual({ wo: 30, tags: { 'weebeetalk:value-version': '3', 'weebeetalk:value-key': 'aws' } });
    const [, read] = Object.entries(ephemeral(s).aws_ssm_parameter).find(([k]) => k.startsWith('secrets_jigasi-current'))!;
    expect(read.count).toMatch(/"weebeetalk:value-version", "1"\)\) >= 3\)\) \? 1 : 0\}$/);
    const keyed = bare((stack) => new Secrets(stack, 'secrets', { prefix: '/w/e', kmsKeyId: 'arn:aws:kms:r:1:key/k' }).add({ id: 'x', description: 'x', path: 'meet/x' }));
    expect(single(resources(keyed, 'aws_ssm_parameter'), 'x').block).toMatchObject({ key_id: 'arn:aws:kms:r:1:key/k', value_wo_version: 11 });
  });

  test('a plain parameter is a String holding its value, and follows changes', () => {
    const p = single(resources(secrets(), 'aws_ssm_parameter'), 'jwt app id', (r) => r.block.name === '/weebeetalk/test/meet/jwt-app-id');
    expect(p.block).toEqual({ name: '/weebeetalk/test/meet/jwt-app-id', description: 'Jitsi JWT application id', type: 'String', value: 'weebeetalk-test' });
  });

  test('parameters are listed by relative path (hosts wait for theirs)', () => {
    let paths: string[] = [];
    bare((stack) => {
      const s = new Secrets(stack, 'secrets', { prefix: '/weebeetalk/test' });
      s.add({ id: 'x', description: 'X secret', path: 'meet/x', readers: ['pbx'] });
      s.addPlain('meet/id', 'An id', 'v');
      paths = Object.keys(s.parameters).sort();
    });
    expect(paths).toEqual(['meet/id', 'meet/x']);
  });
});
