/**
 * The hosts of the shipped environments: each keeps its identity on its own ENI (fixed private IP, Elastic IP
 * associated to the ENI, data volume in its zone), is hardened (IMDSv2, encrypted gp3, no key pair, SSH closed)
 * and is recovered by a CloudWatch alarm when its system status check fails.
 */
import { CloudwatchMetricAlarm } from '@cdktf/provider-aws/lib/cloudwatch-metric-alarm';
import { EbsVolume } from '@cdktf/provider-aws/lib/ebs-volume';
import { Instance } from '@cdktf/provider-aws/lib/instance';
import { parseCidr } from '../config/net';
import { enabledRoles } from '../config/schema';
import { EXPECTED_HOP_LIMIT, expectedRoles, hostName, hosts } from './support/hosts';
import { asString, asStrings, isObject, one, resources, single, synthEnvironment, type Synthesized } from './support/synth';
import { stagingTurn } from './support/variants';
import './support/matchers';

const SHIPPED: [string, () => Synthesized][] = [
  ['staging', () => synthEnvironment('staging')],
  ['production', () => synthEnvironment('production')],
  ['staging-turn', stagingTurn],
];

describe.each(SHIPPED)('hosts of %s', (_label, synth) => {
  test('SSH is closed by default: no rule reaches port 22', () => {
    const s = synth();
    expect(s.config.adminCidrs).toEqual([]);
    for (const r of resources(s, 'aws_vpc_security_group_ingress_rule')) {
      expect(Number(r.block.from_port) <= 22 && 22 <= Number(r.block.to_port)).toBe(false);
    }
  });

  test('IMDSv2 is required, hop limit 2 on chat (Rocket.Chat container uploads to S3) and 1 on meet, pbx and turn', () => {
    const s = synth();
    expect(enabledRoles(s.config)).toEqual(expectedRoles(s));
    for (const role of enabledRoles(s.config)) {
      expect(s.text).toHaveResourceWithProperties(Instance, {
        tags: expect.objectContaining({ Name: hostName(s, role) }),
        metadata_options: expect.objectContaining({ http_endpoint: 'enabled', http_tokens: 'required', http_put_response_hop_limit: EXPECTED_HOP_LIMIT[role] }),
      });
    }
    const instances = resources(s, 'aws_instance');
    expect(instances).toHaveLength(expectedRoles(s).length);
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
    expect(volumes).toHaveLength(expectedRoles(s).length);
    for (const v of volumes) expect(v.block).toMatchObject({ encrypted: true, type: 'gp3' });
    for (const role of enabledRoles(s.config)) {
      expect(s.text).toHaveResourceWithProperties(EbsVolume, { encrypted: true, type: 'gp3', size: s.config.hosts[role].dataVolumeGiB });
    }
  });

  test("each data volume is in its subnet's zone and attached to its own host", () => {
    const s = synth();
    const subnet = single(resources(s, 'aws_subnet'), 'hosts subnet', (n) => String(isObject(n.block.tags) ? n.block.tags.Name : '').includes('-public-'));
    const h = hosts(s);
    for (const role of h.roles) {
      const { volume, eni, instance } = h.of(role);
      expect(volume.block.availability_zone).toBe(subnet.block.availability_zone);
      expect(eni.block.subnet_id).toBe(subnet.ref('id'));
      const attachment = single(resources(s, 'aws_volume_attachment'), `attachment of ${role}'s volume`, (a) => a.block.volume_id === volume.ref('id'));
      expect(attachment.block.instance_id).toBe(instance.ref('id'));
    }
    expect(resources(s, 'aws_volume_attachment')).toHaveLength(expectedRoles(s).length);
  });

  test('each host boots on its own ENI with a fixed private IP, and its EIP is associated to that ENI', () => {
    const s = synth();
    const subnet = single(resources(s, 'aws_subnet'), 'hosts subnet', (n) => String(isObject(n.block.tags) ? n.block.tags.Name : '').includes('-public-'));
    const block = parseCidr(asString(subnet.block.cidr_block, 'subnet cidr'));
    if (!block) throw new Error('subnet CIDR does not parse');
    const h = hosts(s);
    const ips = new Set<string>();
    for (const role of h.roles) {
      const { instance, eni, eip } = h.of(role);
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
    expect(ips.size).toBe(expectedRoles(s).length);
    expect(resources(s, 'aws_eip_association')).toHaveLength(expectedRoles(s).length);
    expect(resources(s, 'aws_eip')).toHaveLength(expectedRoles(s).length);
  });

  test('a CloudWatch alarm recovers each instance when the system status check fails', () => {
    const s = synth();
    const region = s.config.aws.region;
    const h = hosts(s);
    for (const role of h.roles) {
      const { instance } = h.of(role);
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

describe('the turn host', () => {
  /** Hand-written from config/load.ts's tier table: network, not CPU, for production's relay. */
  const SIZES: [string, () => Synthesized, string, number][] = [
    ['production', () => synthEnvironment('production'), 'c6i.large', 4],
    ['staging-turn', stagingTurn, 't3.micro', 2],
  ];

  test.each(SIZES)('%s: its instance is %s with a %i GiB data volume, IMDSv2 with hop limit 1, its own ENI, EIP and alarm', (_label, synth, type, gib) => {
    const s = synth();
    const h = hosts(s).of('turn');
    expect(h.instance.block.instance_type).toBe(type);
    expect(one(h.instance.block.metadata_options, 'metadata_options')).toMatchObject({ http_endpoint: 'enabled', http_tokens: 'required', http_put_response_hop_limit: 1 });
    expect(h.volume.block).toMatchObject({ encrypted: true, type: 'gp3', size: gib });
    expect(h.sg.block.name).toBe(hostName(s, 'turn'));
    for (const other of ['chat', 'meet', 'pbx'] as const) {
      const o = hosts(s).of(other);
      expect(o.eni.address).not.toBe(h.eni.address);
      expect(o.sg.address).not.toBe(h.sg.address);
      expect(o.eip.address).not.toBe(h.eip.address);
      expect(o.volume.address).not.toBe(h.volume.address);
    }
    single(resources(s, 'aws_cloudwatch_metric_alarm'), 'recover alarm of turn', (a) => isObject(a.block.dimensions) && a.block.dimensions.InstanceId === h.instance.ref('id'));
  });

  test('staging builds none: no instance, ENI, EIP, data volume, attachment or alarm for turn', () => {
    const s = synthEnvironment('staging');
    const name = hostName(s, 'turn');
    expect(name).toBe('weebeetalk-staging-turn');
    expect(hosts(s).roles).toEqual(['chat', 'meet', 'pbx']);
    for (const type of ['aws_instance', 'aws_network_interface', 'aws_eip', 'aws_ebs_volume', 'aws_volume_attachment', 'aws_eip_association', 'aws_cloudwatch_metric_alarm', 'aws_security_group']) {
      const list = resources(s, type);
      expect({ type, turn: list.filter((r) => r.key.includes('turn') || JSON.stringify(r.block).includes(name)).map((r) => r.address) }).toEqual({ type, turn: [] });
    }
    expect(resources(s, 'aws_instance')).toHaveLength(3);
  });
});
