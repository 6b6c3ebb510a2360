/**
 * Issue "Environment lifecycle", part 1: `cdktf destroy staging` meets nothing that blocks it and leaves nothing
 * behind, and production protects every stateful resource and refuses the wrong account. The one place for the
 * protections (prevent_destroy, termination protection, force_destroy, final snapshots, state and account guard).
 *
 * Every resource type staging synthesizes is classified below; a new type fails the suite until someone says
 * what destroying it takes.
 */
import { EbsVolume } from '@cdktf/provider-aws/lib/ebs-volume';
import { Instance } from '@cdktf/provider-aws/lib/instance';
import { AwsProvider } from '@cdktf/provider-aws/lib/provider';
import { Route53Zone } from '@cdktf/provider-aws/lib/route53-zone';
import { S3Bucket } from '@cdktf/provider-aws/lib/s3-bucket';
import { enabledPools, enabledRoles } from '../config/schema';
import { expectedRoles } from './support/hosts';
import { allows, hostIam } from './support/iam';
import { allResources, asArray, asObject, isObject, one, preventsDestroy, resources, resourceTypes, synthEnvironment, synthVariant, type Block, type Item, type Synthesized } from './support/synth';
import { portVariants, stagingTurn } from './support/variants';
import './support/matchers';

const staging = (): Synthesized => synthEnvironment('staging');
const production = (): Synthesized => synthEnvironment('production');
/** The shipped environments look their zone up; these create it. */
const stagingOwnZone = (): Synthesized => synthVariant('staging-own-zone', 'staging', { dns: { zone: 'create' } });
const productionOwnZone = (): Synthesized => synthVariant('production-own-zone', 'production', { dns: { zone: 'create' } });

/** Whether the plan has a destroy-time provisioner that cleans up what a resource's service created. */
function hasDestroyCleanup(s: Synthesized, mentions: string): boolean {
  return allResources(s).some(
    (r) =>
      Array.isArray(r.block.provisioner) &&
      r.block.provisioner.some((p) => isObject(p) && isObject(p['local-exec']) && p['local-exec'].when === 'destroy' && JSON.stringify(p['local-exec']).includes(mentions)),
  );
}

type Check = (r: Item, s: Synthesized) => string[];

/** What would make `terraform destroy` fail on, or leave behind, each resource type; [] means nothing. */
const DESTROY_CHECKS: Record<string, Check> = {
  aws_instance: (r) => [
    ...(r.block.disable_api_termination === true ? ['termination protection blocks destroy'] : []),
    ...(r.block.disable_api_stop === true ? ['stop protection blocks the volume detach'] : []),
    ...(one(r.block.root_block_device, 'root_block_device').delete_on_termination === false ? ['the root volume outlives the instance'] : []),
  ],
  aws_ebs_volume: (r) => (r.block.final_snapshot === true ? ['destroy leaves a final snapshot behind'] : []),
  // A pool's members are not Terraform's: the group must take them with it, without waiting for them to drain.
  aws_autoscaling_group: (r) => [
    ...(r.block.force_delete !== true ? ['without force_delete, destroy waits for every member to drain under its lifecycle hook'] : []),
    ...(r.block.protect_from_scale_in === true ? ['members protected from scale-in by default'] : []),
    ...(r.block.suspended_processes !== undefined ? ['suspended processes (Terminate) would keep members'] : []),
  ],
  // A member's disks go with it.
  aws_launch_template: (r) =>
    asArray(r.block.block_device_mappings ?? [], 'block_device_mappings').flatMap((d) => {
      const ebs = one(asObject(d, 'device').ebs, 'ebs');
      return ebs.delete_on_termination === 'true' ? [] : [`${String(asObject(d, 'device').device_name)} outlives its member`];
    }),
  aws_s3_bucket: (r) => [
    ...(r.block.force_destroy !== true ? ['a bucket with objects (uploads, recordings, backups) refuses deletion without force_destroy'] : []),
    ...(r.block.object_lock_enabled === true ? ['object lock keeps objects past destroy'] : []),
  ],
  aws_route53_zone: (r) =>
    r.block.force_destroy !== true ? ['a zone holding records Terraform does not manage (the pbx and turn hosts write _acme-challenge TXT records) refuses deletion without force_destroy'] : [],
  // A bundle: destroy deletes it (every version); what Terraform does not track in its bucket (State Manager's
  // apply output, earlier bundles' old versions) goes only with a force_destroy bucket.
  aws_s3_object: (r, s) => {
    const bucket = resources(s, 'aws_s3_bucket').find((b) => r.block.bucket === b.ref('bucket') || r.block.bucket === b.ref('id'));
    return [
      ...(bucket === undefined
        ? ['its bucket is not one of the plan']
        : bucket.block.force_destroy !== true
          ? [`its bucket ${bucket.address} is not force_destroy: the apply output Terraform does not track keeps it from being deleted`]
          : []),
      ...(r.block.object_lock_mode !== undefined || r.block.object_lock_legal_hold_status === 'ON' ? ['object lock keeps it past destroy'] : []),
    ];
  },
  // Deleted before the document it runs (it references it), so SSM never holds a document with associations.
  aws_ssm_association: (r, s) => (resources(s, 'aws_ssm_document').some((d) => r.block.name === d.ref('name')) ? [] : ['it does not reference its document: Terraform may delete the document first']),
  // A document shared with other accounts may be copied or associated there, out of this stack's reach.
  aws_ssm_document: (r) => (r.block.permissions !== undefined ? ['shared with other accounts (permissions)'] : []),
  // A log group with skip_destroy or deletion protection stays behind (with the hosts' logs in it).
  aws_cloudwatch_log_group: (r) => [
    ...(r.block.skip_destroy === true ? ['skip_destroy keeps the log group (and its logs) after destroy'] : []),
    ...(r.block.deletion_protection_enabled === true ? ['deletion protection refuses the delete'] : []),
    ...(r.block.retention_in_days === undefined || r.block.retention_in_days === 0 ? ['no retention: its logs would be kept forever while it lives'] : []),
  ],
  // An email subscription stays "pending confirmation" until someone clicks AWS's link, and Terraform cannot delete a
  // pending one (it only forgets it); AWS deletes every subscription of a topic it deletes, and a pending one after
  // 48 hours. So the subscription must be to a topic of this plan, which destroy deletes.
  aws_sns_topic_subscription: (r, s) =>
    resources(s, 'aws_sns_topic').some((t) => r.block.topic_arn === t.ref('arn')) ? [] : ['its topic is not one of the plan: a pending subscription would outlive destroy'],
  aws_dlm_lifecycle_policy: (_r, s) =>
    hasDestroyCleanup(s, 'weebeetalk:snapshot')
      ? []
      : ['the daily snapshots it takes are not deleted with the policy (AWS: "If you delete a policy, the snapshots or AMIs created by that policy are not automatically deleted")'],
};

/** Types that Terraform destroys completely with nothing else to check. */
const PLAIN_DESTROY = [
  'aws_autoscaling_policy',
  'aws_cloudwatch_dashboard',
  'aws_cloudwatch_log_metric_filter',
  'aws_cloudwatch_metric_alarm',
  'aws_default_security_group',
  'aws_eip',
  'aws_eip_association',
  'aws_iam_instance_profile',
  'aws_iam_role',
  'aws_iam_role_policy',
  'aws_iam_role_policy_attachment',
  'aws_internet_gateway',
  'aws_network_interface',
  'aws_route',
  'aws_route53_record',
  'aws_route_table',
  'aws_route_table_association',
  'aws_s3_bucket_lifecycle_configuration',
  'aws_s3_bucket_ownership_controls',
  'aws_s3_bucket_policy',
  'aws_s3_bucket_public_access_block',
  'aws_s3_bucket_server_side_encryption_configuration',
  'aws_s3_bucket_versioning',
  'aws_security_group',
  'aws_sns_topic',
  'aws_sns_topic_policy',
  'aws_ssm_parameter',
  'aws_subnet',
  'aws_volume_attachment',
  'aws_vpc',
  'aws_vpc_security_group_egress_rule',
  'aws_vpc_security_group_ingress_rule',
];

/** Actions that create AWS resources Terraform does not know about, so that destroy would leave them. */
const CREATES_UNTRACKED = [
  'ssm:PutParameter',
  'ssm:CreateAssociation',
  'ssm:CreateDocument',
  'ssm:SendCommand',
  's3:CreateBucket',
  'ec2:RunInstances',
  'ec2:CreateVolume',
  'ec2:CreateSnapshot',
  'ec2:CreateSnapshots',
  'ec2:CreateImage',
  'ec2:AllocateAddress',
  'ec2:CreateNetworkInterface',
  'ec2:CreateSecurityGroup',
  'ec2:CreateTags',
  'iam:CreateRole',
  'iam:CreateUser',
  'iam:CreateAccessKey',
  'iam:CreatePolicy',
  'iam:AttachRolePolicy',
  'iam:PutRolePolicy',
  'route53:CreateHostedZone',
  'logs:CreateLogGroup',
  'kms:CreateKey',
  'secretsmanager:CreateSecret',
  'dlm:CreateLifecyclePolicy',
  'sns:CreateTopic',
  'sqs:CreateQueue',
  'lambda:CreateFunction',
  'cloudformation:CreateStack',
];

/** Staging as shipped (no TURN relay) and with the relay: both go whole with `cdktf destroy`. */
const STAGINGS: [string, () => Synthesized][] = [
  ['staging', staging],
  ['staging-turn', stagingTurn],
];

describe.each(STAGINGS)('cdktf destroy %s', (_label, staging) => {
  test('every resource type staging synthesizes is classified for teardown', () => {
    const known = new Set([...Object.keys(DESTROY_CHECKS), ...PLAIN_DESTROY]);
    expect(resourceTypes(staging()).filter((t) => !known.has(t))).toEqual([]);
  });

  test('no resource prevents destroy', () => {
    const s = staging();
    const all = allResources(s);
    expect(all.length).toBeGreaterThan(50);
    expect(all.filter((r) => preventsDestroy(r.block)).map((r) => r.address)).toEqual([]);
  });

  test('nothing blocks destroy or survives it', () => {
    const s = staging();
    const problems = allResources(s).flatMap((r) => (DESTROY_CHECKS[r.type]?.(r, s) ?? []).map((p) => `${r.address}: ${p}`));
    expect(problems).toEqual([]);
  });

  test('the buckets are force_destroy, volumes take no final snapshot, instances have no termination protection', () => {
    const s = staging();
    expect(resources(s, 'aws_s3_bucket').map((b) => b.block.force_destroy)).toEqual([true, true, true, true]);
    const hosts = expectedRoles(s).length;
    expect(resources(s, 'aws_ebs_volume').map((v) => v.block.final_snapshot === true)).toEqual(Array(hosts).fill(false));
    expect(resources(s, 'aws_instance').map((i) => i.block.disable_api_termination === true)).toEqual(Array(hosts).fill(false));
    expect(s.text).not.toHaveResourceWithProperties(EbsVolume, { final_snapshot: true });
    expect(s.text).not.toHaveResourceWithProperties(Instance, { disable_api_termination: true });
  });

  test("the pools go with it: their groups delete their members without waiting for them to drain, the members' disks with them", () => {
    const s = staging();
    const groups = resources(s, 'aws_autoscaling_group');
    const templates = resources(s, 'aws_launch_template');
    expect([groups.length, templates.length]).toEqual([enabledPools(s.config).length, enabledPools(s.config).length]);
    for (const r of [...groups, ...templates]) expect({ address: r.address, problems: DESTROY_CHECKS[r.type](r, s) }).toEqual({ address: r.address, problems: [] });
    // The checks find what they guard against.
    expect(DESTROY_CHECKS.aws_autoscaling_group({ ...groups[0], block: { ...groups[0].block, force_delete: false } }, s)).toHaveLength(1);
    const kept = { ...templates[0], block: { ...templates[0].block, block_device_mappings: [{ device_name: '/dev/xvda', ebs: { delete_on_termination: 'false' } }] } };
    expect(DESTROY_CHECKS.aws_launch_template(kept, s)).toEqual(['/dev/xvda outlives its member']);
  });

  test('the configuration goes with it: bundles in a force_destroy bucket, associations before their document, the pointers', () => {
    const s = staging();
    const objects = resources(s, 'aws_s3_object');
    const associations = resources(s, 'aws_ssm_association');
    const documents = resources(s, 'aws_ssm_document');
    // One bundle, association and pointer per host and per pool.
    const hosts = expectedRoles(s).length + enabledPools(s.config).length;
    expect([objects.length, associations.length, documents.length]).toEqual([hosts, hosts, 1]);
    for (const r of [...objects, ...associations, ...documents]) expect({ address: r.address, problems: DESTROY_CHECKS[r.type](r, s) }).toEqual({ address: r.address, problems: [] });
    expect(resources(s, 'aws_ssm_parameter').filter((p) => String(p.block.name).endsWith('/bundle'))).toHaveLength(hosts);
    // The checks find what they guard against.
    const kept: Item = { ...objects[0], block: { ...objects[0].block, bucket: 'elsewhere' } };
    expect(DESTROY_CHECKS.aws_s3_object(kept, s)).toEqual(['its bucket is not one of the plan']);
    expect(DESTROY_CHECKS.aws_ssm_association({ ...associations[0], block: { ...associations[0].block, name: 'weebeetalk-staging-apply' } }, s)).toHaveLength(1);
  });

  test("the observability goes with it: log groups without skip_destroy, the alarm email's subscription on the plan's own topic", () => {
    const s = staging();
    const groups = resources(s, 'aws_cloudwatch_log_group');
    const subscriptions = resources(s, 'aws_sns_topic_subscription');
    // Bootstrap and apply logs per host, Asterisk's security log; one email subscription.
    expect([groups.length, subscriptions.length]).toEqual([2 * expectedRoles(s).length + 1, 1]);
    for (const r of [...groups, ...subscriptions]) expect({ address: r.address, problems: DESTROY_CHECKS[r.type](r, s) }).toEqual({ address: r.address, problems: [] });
    // The checks find what they guard against.
    expect(DESTROY_CHECKS.aws_cloudwatch_log_group({ ...groups[0], block: { ...groups[0].block, skip_destroy: true } }, s)).toHaveLength(1);
    expect(DESTROY_CHECKS.aws_sns_topic_subscription({ ...subscriptions[0], block: { ...subscriptions[0].block, topic_arn: 'arn:aws:sns:ap-southeast-3:111122223333:elsewhere' } }, s)).toHaveLength(1);
  });

  test('hosts cannot create AWS resources Terraform would not delete (no ssm:PutParameter, no s3:CreateBucket, ...)', () => {
    const s = staging();
    const granted: string[] = [];
    expect(enabledRoles(s.config)).toEqual(expectedRoles(s));
    for (const role of enabledRoles(s.config)) {
      const { effective } = hostIam(s, role);
      for (const action of CREATES_UNTRACKED)
        if (allows(effective, action, '*') || allows(effective, action, 'arn:aws:ssm:ap-southeast-3:111122223333:parameter/weebeetalk/staging/x')) granted.push(`${role}: ${action}`);
    }
    expect(granted).toEqual([]);
  });
});

describe('cdktf destroy staging, its zone and state', () => {
  test('with its own zone, the zone does not block destroy either', () => {
    const s = stagingOwnZone();
    const zones = resources(s, 'aws_route53_zone');
    expect(zones).toHaveLength(1);
    expect(zones.flatMap((z) => DESTROY_CHECKS.aws_route53_zone(z, s))).toEqual([]);
    expect(preventsDestroy(zones[0].block)).toBe(false);
  });

  test('state is local: no remote backend outlives the stack; no account guard', () => {
    const backend = staging().json.terraform?.backend;
    if (backend !== undefined) expect(Object.keys(asObject(backend, 'terraform.backend'))).toEqual(['local']);
    const provider = one(asArray(staging().json.provider?.aws, 'provider.aws'), 'provider.aws');
    expect(provider.allowed_account_ids).toBeUndefined();
  });
});

/** Stateful types: losing one loses data, an address or a delegation. */
const STATEFUL = ['aws_ebs_volume', 'aws_s3_bucket', 'aws_eip', 'aws_route53_zone'];

function unprotected(s: Synthesized): string[] {
  return STATEFUL.flatMap((type) => resources(s, type))
    .filter((r) => !preventsDestroy(r.block) || r.block.force_destroy === true)
    .map((r) => r.address);
}

describe('production refuses accidental destruction', () => {
  test('every data volume, bucket and Elastic IP has prevent_destroy (and no force_destroy)', () => {
    const s = production();
    // Four hosts (the TURN relay is on in production): a data volume and an Elastic IP each; four buckets.
    expect(STATEFUL.flatMap((t) => resources(s, t)).length).toBe(12);
    for (const [type, count] of [
      ['aws_ebs_volume', 4],
      ['aws_s3_bucket', 4],
      ['aws_eip', 4],
    ] as const)
      expect({ type, count: resources(s, type).length }).toEqual({ type, count });
    expect(unprotected(s)).toEqual([]);
    expect(s.text).toHaveResourceWithProperties(S3Bucket, { force_destroy: false, lifecycle: { prevent_destroy: true } });
  });

  test('the configuration bundles sit in a bucket that refuses destruction: `cdktf destroy production` fails at plan', () => {
    const s = production();
    const objects = resources(s, 'aws_s3_object');
    // The four hosts and the two pools.
    expect(objects).toHaveLength(6);
    for (const o of objects) {
      const bucket = resources(s, 'aws_s3_bucket').find((b) => o.block.bucket === b.ref('bucket'));
      expect({ object: o.address, bucket: bucket?.block.bucket, prevent_destroy: bucket ? preventsDestroy(bucket.block) : false, force_destroy: bucket?.block.force_destroy }).toEqual({
        object: o.address,
        bucket: expect.stringMatching(/^weebeetalk-production-config-[0-9a-f]{10}$/),
        prevent_destroy: true,
        force_destroy: false,
      });
    }
  });

  test('a created zone is protected too', () => {
    const s = productionOwnZone();
    expect(resources(s, 'aws_route53_zone')).toHaveLength(1);
    expect(unprotected(s)).toEqual([]);
    expect(s.text).toHaveResourceWithProperties(Route53Zone, { lifecycle: { prevent_destroy: true } });
  });

  test('instances have termination protection; data volumes leave a final snapshot if removed on purpose', () => {
    const s = production();
    expect(resources(s, 'aws_instance').map((i) => i.block.disable_api_termination)).toEqual([true, true, true, true]);
    expect(s.text).toHaveResourceWithProperties(Instance, { disable_api_termination: true, tags: expect.objectContaining({ Name: 'weebeetalk-production-turn' }) });
    expect(resources(s, 'aws_ebs_volume').map((v) => v.block.final_snapshot)).toEqual([true, true, true, true]);
    expect(s.text).toHaveResourceWithProperties(EbsVolume, { final_snapshot: true, tags: expect.objectContaining({ Name: 'weebeetalk-production-turn-data' }) });
  });

  test('the account guard: the provider only runs in the configured account', () => {
    const s = production();
    const provider: Block = one(asArray(s.json.provider?.aws, 'provider.aws'), 'provider.aws');
    expect(provider.allowed_account_ids).toEqual(s.config.aws.allowedAccountIds);
    expect(s.config.aws.allowedAccountIds.length).toBeGreaterThan(0);
    expect(s.text).toHaveProviderWithProperties(AwsProvider, { allowed_account_ids: s.config.aws.allowedAccountIds });
  });

  test('state lives in an encrypted S3 backend with S3-native locking', () => {
    const s = production();
    const backend = asObject(asObject(s.json.terraform?.backend, 'terraform.backend').s3, 'terraform.backend.s3');
    const state = s.config.state;
    if (!state) throw new Error('production has no state configuration');
    expect(backend).toMatchObject({ bucket: state.bucket, region: state.region, key: 'weebeetalk/production/terraform.tfstate', encrypt: true, use_lockfile: true });
    expect(backend.dynamodb_table).toBeUndefined();
  });
});

describe('the variants differ only where configured', () => {
  test('production protections are absent from every staging-based variant', () => {
    for (const make of Object.values(portVariants)) {
      const v: Synthesized = make();
      expect(
        allResources(v)
          .filter((r) => preventsDestroy(r.block))
          .map((r) => r.address),
      ).toEqual([]);
      expect(Object.keys(v.json.terraform?.backend ?? {}).filter((b) => b !== 'local')).toEqual([]);
      for (const i of resources(v, 'aws_instance')) expect(i.block.disable_api_termination).toBe(false);
    }
  });
});
