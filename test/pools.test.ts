/**
 * The Jibri and JVB pools in the synthesized plans: launch templates hardened like the hosts, groups between each
 * tier's bounds in the pools' own subnet, a drain hook, scaling on the metrics the recorders and bridges publish,
 * IAM scoped to the pool's own group and namespace, the shared XMPP accounts, and nothing left when they are off.
 */
import { metricsNamespaceOf, poolGroupOf, POOL_METRICS, resourceNameOf, ssmRootOf } from '../config/names';
import { POOLS, type Pool } from '../config/schema';
import { DRAIN_DELETE_TIMEOUT, DRAIN_HEARTBEAT_SECONDS, POOL_TAG } from '../constructs/pool';
import { evaluate } from './support/boot/policy';
import { bundleOf } from './support/host-files';
import { documentStatements, type Statement } from './support/iam';
import { asArray, asObject, asString, dataSources, isObject, one, referenced, resources, single, synthEnvironment, synthVariant, type Item, type Synthesized } from './support/synth';

const staging = (): Synthesized => synthEnvironment('staging');
const production = (): Synthesized => synthEnvironment('production');
const ENVIRONMENTS: [string, () => Synthesized][] = [
  ['staging', staging],
  ['production', production],
];

const template = (s: Synthesized, pool: Pool): Item => single(resources(s, 'aws_launch_template'), `launch template of ${pool}`, (t) => t.block.name === poolGroupOf(s.config, pool));
const group = (s: Synthesized, pool: Pool): Item => single(resources(s, 'aws_autoscaling_group'), `group of ${pool}`, (g) => g.block.name === poolGroupOf(s.config, pool));

/** The statements of a pool's (or host's) role, by the role's name. */
function statementsOf(s: Synthesized, name: string): Statement[] {
  const role = single(resources(s, 'aws_iam_role'), `role ${name}`, (r) => r.block.name === name);
  const refs = [role.ref('id'), role.ref('name')];
  const docs = dataSources(s, 'aws_iam_policy_document');
  return resources(s, 'aws_iam_role_policy')
    .filter((p) => refs.includes(String(p.block.role)))
    .flatMap((p) => documentStatements(referenced(docs, p.block.policy)));
}

const ACCOUNT = '${data.aws_caller_identity.account.account_id}';
const groupArn = (s: Synthesized, name: string): string => `arn:aws:autoscaling:${s.config.aws.region}:${ACCOUNT}:autoScalingGroup:0c2f3e4a-1111-2222-3333-444455556666:autoScalingGroupName/${name}`;
const decision = (st: Statement[], action: string, resource: string, context: Record<string, string[]> = {}): string => evaluate(st, action, resource, context);

/**
 * What Auto Scaling does with an alarm and its step policy for one value of the metric, as AWS documents it: the alarm
 * breaches when the value compares so with its threshold; a step matches the value's difference from the threshold
 * with its lower bound inclusive and upper bound exclusive above the threshold, and the other way round below it
 * (API Reference, StepAdjustment: MetricIntervalLowerBound, MetricIntervalUpperBound). The members added (or removed),
 * 0 without a breach; an error when no step or several match (AWS refuses such a policy).
 */
function scalingFor(alarm: Item['block'], policy: Item['block'], value: number): number {
  const threshold = Number(alarm.threshold);
  const breach = alarm.comparison_operator === 'LessThanThreshold' ? value < threshold : alarm.comparison_operator === 'GreaterThanThreshold' ? value > threshold : undefined;
  if (breach === undefined) throw new Error(`comparison ${String(alarm.comparison_operator)} not modelled`);
  if (!breach) return 0;
  const diff = value - threshold;
  const above = value > threshold;
  const steps = asArray(policy.step_adjustment, 'step_adjustment').map((x) => asObject(x, 'step'));
  const matching = steps.filter((st) => {
    const lower = st.metric_interval_lower_bound === undefined ? -Infinity : Number(st.metric_interval_lower_bound);
    const upper = st.metric_interval_upper_bound === undefined ? Infinity : Number(st.metric_interval_upper_bound);
    return above ? lower <= diff && diff < upper : lower < diff && diff <= upper;
  });
  if (matching.length !== 1) throw new Error(`${matching.length} steps match ${value} (threshold ${threshold})`);
  return Number(matching[0].scaling_adjustment);
}

describe.each(ENVIRONMENTS)('the pools of %s', (_label, synth) => {
  test.each(POOLS)('the %s launch template is hardened like the hosts: IMDSv2, encrypted gp3 root, no key pair, its own profile and group, a public address in the pools subnet', (pool) => {
    const s = synth();
    const t = template(s, pool).block;
    const settings = s.config.jitsi[`${pool}Pool`];
    expect(one(t.metadata_options, 'metadata_options')).toMatchObject({ http_endpoint: 'enabled', http_tokens: 'required', http_put_response_hop_limit: 1, instance_metadata_tags: 'enabled' });
    expect(t.key_name).toBeUndefined();
    expect(t.instance_type).toBe(settings.instanceType);
    const [root] = asArray(t.block_device_mappings, 'block_device_mappings').map((d) => asObject(d, 'device'));
    expect(asArray(t.block_device_mappings, 'block_device_mappings')).toHaveLength(1);
    expect(root.device_name).toMatch(/^\$\{data\.aws_ami\..*\.root_device_name\}$/);
    expect(one(root.ebs, 'ebs')).toMatchObject({ encrypted: 'true', delete_on_termination: 'true', volume_type: 'gp3', volume_size: settings.rootVolumeGiB });
    const [nic] = asArray(t.network_interfaces, 'network_interfaces').map((n) => asObject(n, 'nic'));
    expect(nic).toMatchObject({ associate_public_ip_address: 'true', delete_on_termination: 'true', device_index: 0 });
    const subnet = referenced(resources(s, 'aws_subnet'), nic.subnet_id);
    expect(subnet.block.cidr_block).toBe('10.21.1.0/24'.replace('10.21', s.config.network.vpcCidr.split('.').slice(0, 2).join('.')));
    const sg = referenced(resources(s, 'aws_security_group'), asArray(nic.security_groups, 'security_groups')[0]);
    expect(sg.block.name).toBe(poolGroupOf(s.config, pool));
    const profile = single(resources(s, 'aws_iam_instance_profile'), 'profile', (p) => p.ref('name') === one(t.iam_instance_profile, 'iam_instance_profile').name);
    expect(profile.block.name).toBe(poolGroupOf(s.config, pool));
    // User-data is the bootstrap from the cloudinit provider, like a host's; no data volume step.
    expect(t.user_data).toMatch(/^\$\{data\.cloudinit_config\..*\.rendered\}$/);
  });

  test.each(POOLS)('the %s group runs between the configured bounds in the pools subnet, on the newest template version, tagged for State Manager', (pool) => {
    const s = synth();
    const g = group(s, pool).block;
    const settings = s.config.jitsi[`${pool}Pool`];
    expect({ min: g.min_size, max: g.max_size }).toEqual({ min: settings.min, max: settings.max });
    // Not configured: scaling owns it, and a deploy must not reset it.
    expect(g.desired_capacity).toBeUndefined();
    expect(one(g.launch_template, 'launch_template').version).toBe(`\${${template(s, pool).address}.latest_version}`);
    const tags = asArray(g.tag, 'tag').map((t) => asObject(t, 'tag'));
    expect(tags).toContainEqual({ key: POOL_TAG, value: poolGroupOf(s.config, pool), propagate_at_launch: true });
    expect(tags).toContainEqual({ key: 'Name', value: poolGroupOf(s.config, pool), propagate_at_launch: true });
    // Staging tears down to nothing without waiting for members; production waits for them to drain.
    expect(g.force_delete).toBe(s.config.tier === 'staging');
    // Production waits for its members to drain as long as that may take (Terraform's default gives up after 10 minutes).
    expect(g.timeouts).toEqual(s.config.tier === 'production' ? { delete: DRAIN_DELETE_TIMEOUT } : undefined);
  });

  test.each(POOLS)('a %s member drains under a termination lifecycle hook before it goes', (pool) => {
    const s = synth();
    // Part of the group: a hook of its own would be deleted first, and deleting the group would then cut a recording.
    expect(resources(s, 'aws_autoscaling_lifecycle_hook')).toEqual([]);
    const g = group(s, pool).block;
    expect(asArray(g.initial_lifecycle_hook, 'initial_lifecycle_hook')).toHaveLength(1);
    expect(asObject(asArray(g.initial_lifecycle_hook, 'initial_lifecycle_hook')[0], 'hook')).toMatchObject({
      name: `${poolGroupOf(s.config, pool)}-drain`,
      lifecycle_transition: 'autoscaling:EC2_INSTANCE_TERMINATING',
      heartbeat_timeout: DRAIN_HEARTBEAT_SECONDS,
      default_result: 'CONTINUE',
    });
  });

  test('the Jibri pool keeps the configured idle recorders: an alarm on their Sum adds the missing ones, another removes one after 10 idle minutes', () => {
    const s = synth();
    const { idle } = s.config.jitsi.jibriPool;
    const alarms = resources(s, 'aws_cloudwatch_metric_alarm').filter((a) => a.block.namespace === metricsNamespaceOf(s.config) && a.block.metric_name === POOL_METRICS.idleRecorders);
    const few = single(alarms, 'too few idle', (a) => a.block.comparison_operator === 'LessThanThreshold').block;
    expect(few).toMatchObject({ statistic: 'Sum', period: 60, evaluation_periods: 2, treat_missing_data: 'breaching', dimensions: { Pool: poolGroupOf(s.config, 'jibri') } });
    const addPolicy = referenced(resources(s, 'aws_autoscaling_policy'), asArray(few.alarm_actions, 'actions')[0]);
    expect(addPolicy.block).toMatchObject({ policy_type: 'StepScaling', adjustment_type: 'ChangeInCapacity', autoscaling_group_name: group(s, 'jibri').ref('name') });
    const many = single(alarms, 'too many idle', (a) => a.block.comparison_operator === 'GreaterThanThreshold').block;
    expect(many).toMatchObject({ evaluation_periods: 10, treat_missing_data: 'notBreaching' });
    const removePolicy = referenced(resources(s, 'aws_autoscaling_policy'), asArray(many.alarm_actions, 'actions')[0]).block;
    // For every number of idle recorders (the minute's Sum, a whole number): exactly the missing ones are added,
    // one is removed when there are more than wanted, nothing happens at the target.
    const table = Array.from({ length: idle + 4 }, (_, n) => [n, scalingFor(few, addPolicy.block, n) + scalingFor(many, removePolicy, n)]);
    expect(table).toEqual(Array.from({ length: idle + 4 }, (_, n) => [n, n < idle ? idle - n : n > idle ? -1 : 0]));
  });

  test('the JVB pool scales on the average bridge stress: up after 3 minutes above scaleOutStress, down after 15 below scaleInStress', () => {
    const s = synth();
    const p = s.config.jitsi.jvbPool;
    const alarms = resources(s, 'aws_cloudwatch_metric_alarm').filter((a) => a.block.metric_name === POOL_METRICS.bridgeStress);
    expect(alarms.map((a) => a.block)).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          comparison_operator: 'GreaterThanThreshold',
          threshold: p.scaleOutStress,
          evaluation_periods: 3,
          statistic: 'Average',
          dimensions: { Pool: poolGroupOf(s.config, 'jvb') },
        }),
        expect.objectContaining({ comparison_operator: 'LessThanThreshold', threshold: p.scaleInStress, evaluation_periods: 15, statistic: 'Average' }),
      ]),
    );
    expect(alarms).toHaveLength(2);
  });

  test('a member may manage only its own group: lifecycle actions (and, for a recorder, its scale-in protection) on that group, metrics in the environment namespace only', () => {
    const s = synth();
    const namespace = metricsNamespaceOf(s.config);
    for (const pool of POOLS) {
      const st = statementsOf(s, poolGroupOf(s.config, pool));
      const own = groupArn(s, poolGroupOf(s.config, pool));
      const other = groupArn(s, poolGroupOf(s.config, pool === 'jibri' ? 'jvb' : 'jibri'));
      for (const action of ['autoscaling:CompleteLifecycleAction', 'autoscaling:RecordLifecycleActionHeartbeat'])
        expect({ pool, action, own: decision(st, action, own), other: decision(st, action, other) }).toEqual({ pool, action, own: 'allow', other: 'implicit-deny' });
      expect({ pool, protect: decision(st, 'autoscaling:SetInstanceProtection', own) }).toEqual({ pool, protect: pool === 'jibri' ? 'allow' : 'implicit-deny' });
      expect(decision(st, 'autoscaling:SetInstanceProtection', other)).toBe('implicit-deny');
      expect(decision(st, 'autoscaling:UpdateAutoScalingGroup', own)).toBe('implicit-deny');
      expect(decision(st, 'cloudwatch:PutMetricData', '*', { 'cloudwatch:namespace': [namespace] })).toBe('allow');
      expect(decision(st, 'cloudwatch:PutMetricData', '*', { 'cloudwatch:namespace': ['AWS/EC2'] })).toBe('implicit-deny');
    }
    // The meet host publishes its own recorder's and bridge's state too, in the same namespace only.
    const meet = statementsOf(s, resourceNameOf(s.config, 'meet'));
    expect(decision(meet, 'cloudwatch:PutMetricData', '*', { 'cloudwatch:namespace': [namespace] })).toBe('allow');
    expect(decision(meet, 'cloudwatch:PutMetricData', '*', { 'cloudwatch:namespace': ['WeeBeeTalk/other'] })).toBe('implicit-deny');
  });

  test("a recorder may put recordings into the recordings bucket and nothing else there; a bridge may not; each reads its own accounts' secrets of the meet host's and no other", () => {
    const s = synth();
    const bucket = single(resources(s, 'aws_s3_bucket'), 'recordings', (b) => String(b.block.bucket).includes('-recordings-')).block.bucket as string;
    const jibri = statementsOf(s, poolGroupOf(s.config, 'jibri'));
    const jvb = statementsOf(s, poolGroupOf(s.config, 'jvb'));
    expect(decision(jibri, 's3:PutObject', `arn:aws:s3:::${bucket}/recordings/2026/12/01/x/a.mp4`)).toBe('allow');
    expect(decision(jibri, 's3:GetObject', `arn:aws:s3:::${bucket}/recordings/2026/12/01/x/a.mp4`)).toBe('implicit-deny');
    expect(decision(jibri, 's3:DeleteObject', `arn:aws:s3:::${bucket}/recordings/2026/12/01/x/a.mp4`)).toBe('implicit-deny');
    expect(decision(jvb, 's3:PutObject', `arn:aws:s3:::${bucket}/recordings/a.mp4`)).toBe('implicit-deny');
    const root = ssmRootOf(s.config);
    const param = (path: string): string => `arn:aws:ssm:${s.config.aws.region}:${ACCOUNT}:parameter${root}/${path}`;
    for (const p of ['meet/jibri-xmpp-password', 'meet/jibri-recorder-password', 'jibri/bundle']) expect({ p, d: decision(jibri, 'ssm:GetParameter', param(p)) }).toEqual({ p, d: 'allow' });
    for (const p of ['meet/jwt-app-secret', 'meet/jvb-auth-password', 'meet/jigasi-sip-password', 'meet/x', 'jvb/bundle'])
      expect({ p, d: decision(jibri, 'ssm:GetParameter', param(p)) }).toEqual({ p, d: 'implicit-deny' });
    for (const p of ['meet/jvb-auth-password', 'jvb/bundle']) expect({ p, d: decision(jvb, 'ssm:GetParameter', param(p)) }).toEqual({ p, d: 'allow' });
    for (const p of ['meet/jibri-xmpp-password', 'meet/jibri-recorder-password', 'meet/jwt-app-secret', 'jibri/bundle'])
      expect({ p, d: decision(jvb, 'ssm:GetParameter', param(p)) }).toEqual({ p, d: 'implicit-deny' });
    // A shared secret is read by its name only: not by path, not in bulk.
    expect(decision(jvb, 'ssm:GetParametersByPath', param('meet'))).toBe('implicit-deny');
  });

  test("the pools' XMPP accounts are one parameter each, the meet host's (its Prosody registers them), read by the pool's members", () => {
    const s = synth();
    const params = resources(s, 'aws_ssm_parameter');
    const root = ssmRootOf(s.config);
    for (const meet of ['meet/jvb-auth-password', 'meet/jibri-xmpp-password', 'meet/jibri-recorder-password']) {
      const a = single(params, meet, (p) => p.block.name === `${root}/${meet}`).block;
      expect({ meet, type: a.type, version: (a.tags as Record<string, string>)['weebeetalk:value-version'] }).toEqual({ meet, type: 'SecureString', version: '1' });
      expect(a.value_wo).toMatch(/ephemeral\.aws_secretsmanager_random_password\..*\.random_password\}$/);
    }
    expect(params.map((p) => String(p.block.name)).filter((n) => /\/(jvb|jibri)\/(?!bundle$)/.test(n))).toEqual([]);
    for (const [pool, script, names] of [
      ['jvb', 'jvb-member.sh', ['meet/jvb-auth-password']],
      ['jibri', 'jibri-member.sh', ['meet/jibri-xmpp-password', 'meet/jibri-recorder-password']],
    ] as const) {
      const text = String(bundleOf(s, pool).document.files.find((f) => String(f.path).endsWith(`/${script}`))?.content ?? '');
      for (const n of names) expect(text).toContain(`$(ssm_shared ${n})`);
    }
  });

  test.each(POOLS)('State Manager applies the %s bundle to every member carrying the pool tag, without waiting for members that may not exist', (pool) => {
    const s = synth();
    const association = single(resources(s, 'aws_ssm_association'), 'association', (a) => a.block.association_name === `${poolGroupOf(s.config, pool)}-apply`).block;
    expect(association.targets).toEqual([{ key: `tag:${POOL_TAG}`, values: [poolGroupOf(s.config, pool)] }]);
    expect(association.wait_for_success_timeout_seconds).toBeUndefined();
    const pointer = single(resources(s, 'aws_ssm_parameter'), 'pointer', (p) => p.block.name === `${ssmRootOf(s.config)}/${pool}/bundle`).block;
    expect(asString(pointer.value, 'pointer')).toMatch(new RegExp(`^s3://weebeetalk-${s.config.name}-config-[0-9a-f]+/bundles/${pool}/[0-9a-f]{64}\\.json$`));
  });
});

describe.each(ENVIRONMENTS)('the hosts of %s with the pools', (_label, synth) => {
  test("wait for nothing of the pools: no instance or address association depends on the pools' subnet, group or template", () => {
    const s = synth();
    const pooled = /pool-subnet|jibri-pool|jvb-pool|jibri-configuration|jvb-configuration/;
    for (const r of [...resources(s, 'aws_instance'), ...resources(s, 'aws_eip_association')]) {
      const deps = asArray(r.block.depends_on ?? [], 'depends_on').map(String);
      expect({ resource: r.address, pooled: deps.filter((d) => pooled.test(d)) }).toEqual({ resource: r.address, pooled: [] });
    }
    // The members do wait for their subnet's routes.
    const routes = single(resources(s, 'aws_route_table_association'), 'pools subnet routes', (r) => r.key.startsWith('network_pool-subnet-routes'));
    for (const pool of POOLS) expect(asArray(group(s, pool).block.depends_on, 'depends_on')).toContain(routes.address);
  });
});

describe('pools switched off', () => {
  const off = (): Synthesized => synthVariant('pools-off', 'staging', { jitsi: { jibriPool: { enabled: false }, jvbPool: { enabled: false } } });
  test('leave no group, template, hook, alarm, subnet, account or Prosody rule behind', () => {
    const s = off();
    for (const type of ['aws_launch_template', 'aws_autoscaling_group', 'aws_autoscaling_policy']) expect({ type, n: resources(s, type).length }).toEqual({ type, n: 0 });
    // The hosts' own alarms stay (recovery, constructs/observability.ts's per host); none reads a pool's metric.
    expect(resources(s, 'aws_cloudwatch_metric_alarm').filter((a) => /-(jibri|jvb)-/.test(String(a.block.alarm_name)) || JSON.stringify(a.block.dimensions ?? {}).includes('Pool'))).toHaveLength(0);
    expect(String(single(resources(s, 'aws_cloudwatch_dashboard'), 'dashboard').block.dashboard_body)).not.toMatch(/IdleRecorders|BridgeStress/);
    expect(resources(s, 'aws_subnet')).toHaveLength(1);
    expect(resources(s, 'aws_vpc_security_group_ingress_rule').filter((r) => r.block.from_port === 5222)).toHaveLength(0);
    expect(resources(s, 'aws_ssm_parameter').filter((p) => /jvb|jibri-(xmpp|recorder)/.test(String(p.block.name)))).toHaveLength(0);
    // The meet host still publishes its own metrics (PublishHostMetrics, the CloudWatch agent's), not the pools'.
    expect(statementsOf(s, resourceNameOf(s.config, 'meet')).some((st) => st.sid === 'PublishPoolMetrics')).toBe(false);
  });
  test('one pool alone builds only itself', () => {
    const s = synthVariant('jvb-pool-only', 'staging', { jitsi: { jibriPool: { enabled: false } } });
    expect(resources(s, 'aws_autoscaling_group').map((g) => g.block.name)).toEqual([poolGroupOf(s.config, 'jvb')]);
    const xmpp = resources(s, 'aws_vpc_security_group_ingress_rule').filter((r) => r.block.from_port === 5222);
    expect(xmpp.map((r) => (isObject(r.block.tags) ? r.block.tags.Name : ''))).toEqual(['meet-xmpp-client-from-jvb']);
  });
});
