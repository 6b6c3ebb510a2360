/**
 * The stack's outputs (URLs, names, addresses, SSM session commands, bucket names), and the names the suites
 * read, hand-checked on staging.
 */
import { fqdnOf } from '../config/names';
import { enabledPools, enabledRoles } from '../config/schema';
import { expectedRoles } from './support/hosts';
import { bucketsOf, expectedParameters, PURPOSES } from './support/parts';
import { allResources, asObject, byNameTag, resources, single, synthEnvironment } from './support/synth';
import { SHIPPED_AND_TUNED as ENVS, stagingTurn, tuned } from './support/variants';

describe.each(ENVS)('outputs of %s', (_label, synth) => {
  test('outputs: URLs, names, addresses, SSM session commands, bucket names', () => {
    const s = synth();
    const out = s.json.output ?? {};
    const value = (name: string): unknown => asObject(out[name], `output ${name}`).value;
    const port = s.config.jitsi.httpsPort === 443 ? '' : `:${s.config.jitsi.httpsPort}`;
    expect(value('chat_url')).toBe(`https://${fqdnOf(s.config, 'chat')}`);
    expect(value('meet_url')).toBe(`https://${fqdnOf(s.config, 'meet')}${port}`);
    const buckets = bucketsOf(s);
    expect(enabledRoles(s.config)).toEqual(expectedRoles(s));
    for (const role of enabledRoles(s.config)) {
      const instance = byNameTag(resources(s, 'aws_instance'), `weebeetalk-${s.config.name}-${role}`);
      const eip = byNameTag(resources(s, 'aws_eip'), `weebeetalk-${s.config.name}-${role}`);
      expect(value(`${role}_fqdn`)).toBe(fqdnOf(s.config, role));
      expect(value(`${role}_public_ip`)).toBe(eip.ref('public_ip'));
      expect(value(`${role}_ssm_session`)).toBe(`aws ssm start-session --region ${s.config.aws.region} --target ${instance.ref('id')}`);
      // The host's own association (the one targeting its instance), by its id.
      const association = resources(s, 'aws_ssm_association').find((a) => JSON.stringify(a.block.targets).includes(instance.ref('id')));
      expect(value(`${role}_apply_again`)).toBe(`aws ssm start-associations-once --region ${s.config.aws.region} --association-ids ${association?.ref('association_id')}`);
    }
    for (const pool of enabledPools(s.config)) {
      const group = `weebeetalk-${s.config.name}-${pool}`;
      expect(value(`${pool}_pool_members`)).toBe(
        `aws autoscaling describe-auto-scaling-groups --region ${s.config.aws.region} --auto-scaling-group-names ${group} --query 'AutoScalingGroups[0].Instances[].[InstanceId,LifecycleState,ProtectedFromScaleIn]' --output table`,
      );
      const association = single(resources(s, 'aws_ssm_association'), `association of ${pool}`, (a) => a.block.association_name === `${group}-apply`);
      expect(value(`${pool}_apply_again`)).toBe(`aws ssm start-associations-once --region ${s.config.aws.region} --association-ids ${association.ref('association_id')}`);
    }
    for (const p of PURPOSES) expect(value(`${p}_bucket`)).toBe(buckets[p].ref('bucket'));
    expect(value('config_bucket')).toBe(buckets.config.ref('bucket'));
    // The dashboard's console address and the alarms' topic (constructs/observability.ts).
    const region = s.config.aws.region;
    expect(value('dashboard_url')).toBe(`https://${region}.console.aws.amazon.com/cloudwatch/home?region=${region}#dashboards/dashboard/weebeetalk-${s.config.name}`);
    expect(value('alarm_topic_arn')).toBe(single(resources(s, 'aws_sns_topic'), 'alarm topic', () => true).ref('arn'));
    // Exactly these outputs: a new one is a decision (and must not carry a secret, test/secrets.test.ts).
    expect(Object.keys(out).sort()).toEqual(
      [
        'chat_url',
        'meet_url',
        ...expectedRoles(s).flatMap((r) => [`${r}_fqdn`, `${r}_public_ip`, `${r}_ssm_session`, `${r}_apply_again`]),
        ...enabledPools(s.config).flatMap((p) => [`${p}_pool_members`, `${p}_apply_again`]),
        ...PURPOSES.map((p) => `${p}_bucket`),
        'ssm_parameter_prefix',
        'dashboard_url',
        'alarm_topic_arn',
        ...(s.config.dns.zone === 'create' ? ['name_servers'] : []),
      ].sort(),
    );
  });
});

test('staging names are hand-checked: the suite reads the right things', () => {
  const s = synthEnvironment('staging');
  expect(fqdnOf(s.config, 'chat')).toBe('chat.staging.weebeetalk.example');
  expect(expectedParameters(s)).toEqual([
    '/weebeetalk/staging/chat/admin-password',
    '/weebeetalk/staging/chat/bundle',
    '/weebeetalk/staging/jibri/bundle',
    '/weebeetalk/staging/jvb/bundle',
    '/weebeetalk/staging/meet/bundle',
    '/weebeetalk/staging/meet/dial-in-pin-key',
    '/weebeetalk/staging/meet/jibri-recorder-password',
    '/weebeetalk/staging/meet/jibri-xmpp-password',
    '/weebeetalk/staging/meet/jigasi-sip-password',
    '/weebeetalk/staging/meet/jvb-auth-password',
    '/weebeetalk/staging/meet/jwt-app-id',
    '/weebeetalk/staging/meet/jwt-app-secret',
    '/weebeetalk/staging/pbx/bundle',
    '/weebeetalk/staging/pbx/sip-users/1001',
    '/weebeetalk/staging/pbx/sip-users/1002',
  ]);
  expect(asObject(s.json.output?.config_bucket, 'config_bucket').value).toBe(bucketsOf(s).config.ref('bucket'));
  expect(bucketsOf(s).config.block.bucket).toMatch(/^weebeetalk-staging-config-[0-9a-f]{10}$/);
  expect(asObject(s.json.output?.meet_url, 'meet_url').value).toBe('https://meet.staging.weebeetalk.example');
  expect(asObject(tuned().json.output?.meet_url, 'meet_url').value).toBe('https://meet.staging.weebeetalk.example:8443');
  expect(allResources(s).length).toBeGreaterThan(50);
});

test('the turn host has its outputs in production and staging with turn.enabled, none in staging', () => {
  const keys = (s: ReturnType<typeof synthEnvironment>): string[] => Object.keys(s.json.output ?? {}).filter((k) => k.startsWith('turn_'));
  const all = ['turn_apply_again', 'turn_fqdn', 'turn_public_ip', 'turn_ssm_session'];
  expect(keys(synthEnvironment('staging'))).toEqual([]);
  expect(keys(synthEnvironment('production')).sort()).toEqual(all);
  expect(keys(stagingTurn()).sort()).toEqual(all);
  expect(asObject(synthEnvironment('production').json.output?.turn_fqdn, 'turn_fqdn').value).toBe('turn.weebeetalk.example');
  expect(asObject(stagingTurn().json.output?.turn_fqdn, 'turn_fqdn').value).toBe('turn.staging.weebeetalk.example');
});
