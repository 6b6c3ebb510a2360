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
import { ROLES } from '../config/schema';
import { allows, hostIam } from './support/iam';
import { allResources, asArray, asObject, isObject, one, preventsDestroy, resources, resourceTypes, synthEnvironment, synthVariant, type Block, type Item, type Synthesized } from './support/synth';
import { portVariants } from './support/variants';
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
  aws_s3_bucket: (r) => [
    ...(r.block.force_destroy !== true ? ['a bucket with objects (uploads, recordings, backups) refuses deletion without force_destroy'] : []),
    ...(r.block.object_lock_enabled === true ? ['object lock keeps objects past destroy'] : []),
  ],
  aws_route53_zone: (r) =>
    r.block.force_destroy !== true ? ['a zone holding records Terraform does not manage (the pbx host writes _acme-challenge TXT records) refuses deletion without force_destroy'] : [],
  aws_dlm_lifecycle_policy: (_r, s) =>
    hasDestroyCleanup(s, 'weebeetalk:snapshot')
      ? []
      : ['the daily snapshots it takes are not deleted with the policy (AWS: "If you delete a policy, the snapshots or AMIs created by that policy are not automatically deleted")'],
};

/** Types that Terraform destroys completely with nothing else to check. */
const PLAIN_DESTROY = [
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

describe('cdktf destroy staging', () => {
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
    expect(resources(s, 'aws_s3_bucket').map((b) => b.block.force_destroy)).toEqual([true, true, true]);
    expect(resources(s, 'aws_ebs_volume').map((v) => v.block.final_snapshot === true)).toEqual([false, false, false]);
    expect(resources(s, 'aws_instance').map((i) => i.block.disable_api_termination === true)).toEqual([false, false, false]);
    expect(s.text).not.toHaveResourceWithProperties(EbsVolume, { final_snapshot: true });
    expect(s.text).not.toHaveResourceWithProperties(Instance, { disable_api_termination: true });
  });

  test('with its own zone, the zone does not block destroy either', () => {
    const s = stagingOwnZone();
    const zones = resources(s, 'aws_route53_zone');
    expect(zones).toHaveLength(1);
    expect(zones.flatMap((z) => DESTROY_CHECKS.aws_route53_zone(z, s))).toEqual([]);
    expect(preventsDestroy(zones[0].block)).toBe(false);
  });

  test('hosts cannot create AWS resources Terraform would not delete (no ssm:PutParameter, no s3:CreateBucket, ...)', () => {
    const s = staging();
    const granted: string[] = [];
    for (const role of ROLES) {
      const { effective } = hostIam(s, role);
      for (const action of CREATES_UNTRACKED)
        if (allows(effective, action, '*') || allows(effective, action, 'arn:aws:ssm:ap-southeast-3:111122223333:parameter/weebeetalk/staging/x')) granted.push(`${role}: ${action}`);
    }
    expect(granted).toEqual([]);
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
    expect(STATEFUL.flatMap((t) => resources(s, t)).length).toBe(9);
    for (const type of ['aws_ebs_volume', 'aws_s3_bucket', 'aws_eip']) expect({ type, count: resources(s, type).length }).toEqual({ type, count: 3 });
    expect(unprotected(s)).toEqual([]);
    expect(s.text).toHaveResourceWithProperties(S3Bucket, { force_destroy: false, lifecycle: { prevent_destroy: true } });
  });

  test('a created zone is protected too', () => {
    const s = productionOwnZone();
    expect(resources(s, 'aws_route53_zone')).toHaveLength(1);
    expect(unprotected(s)).toEqual([]);
    expect(s.text).toHaveResourceWithProperties(Route53Zone, { lifecycle: { prevent_destroy: true } });
  });

  test('instances have termination protection; data volumes leave a final snapshot if removed on purpose', () => {
    const s = production();
    expect(resources(s, 'aws_instance').map((i) => i.block.disable_api_termination)).toEqual([true, true, true]);
    expect(s.text).toHaveResourceWithProperties(Instance, { disable_api_termination: true });
    expect(resources(s, 'aws_ebs_volume').map((v) => v.block.final_snapshot)).toEqual([true, true, true]);
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
