/**
 * Parts of an environment declared directly on its stack (their construct ids are top-level, so Terraform
 * addresses stay as they are): the buckets, the outputs, the warnings about placeholder values.
 */
import { Annotations, TerraformOutput, type TerraformStack } from 'cdktf';
import { BUCKETS, bucketNameOf, ssmRootOf, type BucketPurpose } from '../config/names';
import { partitionOf } from '../config/net';
import type { EnvironmentConfig, Pool, Role } from '../config/schema';
import type { DebianHost } from './debian-host';
import type { Dns } from './dns';
import type { HostIdentity } from './host-identity';
import { APPLY_OUTPUT_RETENTION_DAYS, APPLY_OUTPUT_ROOT, type HostConfiguration } from './host-configuration';
import { PrivateBucket } from './private-bucket';

/**
 * The environment's private buckets, by purpose (construct ids `<purpose>-bucket`), encrypted with `kmsKeyArn` (the
 * environment's key) when given.
 */
export function environmentBuckets(stack: TerraformStack, config: EnvironmentConfig, kmsKeyArn?: string): Record<BucketPurpose, PrivateBucket> {
  const production = config.tier === 'production';
  const buckets = {} as Record<BucketPurpose, PrivateBucket>;
  for (const purpose of BUCKETS) {
    buckets[purpose] = new PrivateBucket(stack, `${purpose}-bucket`, {
      bucketName: bucketNameOf(config, purpose),
      expireAfterDays: purpose === 'recordings' ? config.storage.recordingsRetentionDays : purpose === 'backups' ? config.storage.backupRetentionDays : undefined,
      // The apply's output is for looking into a recent deploy; the bundles themselves never expire (a replaced host
      // boots from the current one).
      expireUnder: purpose === 'config' ? { prefix: APPLY_OUTPUT_ROOT, days: APPLY_OUTPUT_RETENTION_DAYS } : undefined,
      // Recordings: an expired recording must be gone, not kept as a noncurrent version for weeks.
      noncurrentVersionDays: purpose === 'recordings' ? 1 : config.storage.noncurrentVersionDays,
      protect: production,
      forceDestroy: !production,
      partition: partitionOf(config.aws.region),
      sidPrefix: purpose[0].toUpperCase() + purpose.slice(1),
      kmsKeyArn,
    });
  }
  return buckets;
}

const BUCKET_OUTPUT: Record<BucketPurpose, string> = {
  recordings: 'Bucket of the Jibri recordings (private; expire after storage.recordingsRetentionDays)',
  uploads: 'Bucket of the Rocket.Chat file uploads (private)',
  backups: 'Bucket of the nightly Rocket.Chat backups (private; expire after storage.backupRetentionDays)',
  config: "Bucket of the hosts' configuration bundles and State Manager's apply output (private)",
};

export interface StackOutputsProps {
  readonly config: EnvironmentConfig;
  readonly fqdn: Readonly<Record<Role, string>>;
  readonly identities: Readonly<Record<Role, HostIdentity>>;
  readonly hosts: Readonly<Record<Role, DebianHost>>;
  readonly configurations: Readonly<Record<Role, HostConfiguration>>;
  readonly dns: Dns;
  readonly buckets: Readonly<Record<BucketPurpose, PrivateBucket>>;
  /** The pools and their configurations, by pool. @default none */
  readonly pools?: Readonly<Partial<Record<Pool, { readonly group: string; readonly configuration: HostConfiguration }>>>;
  /** The dashboard and the alarms' topic. @default no outputs for them */
  readonly observability?: { readonly dashboardUrl: string; readonly topic: { readonly arn: string } };
}

/** Outputs: names and addresses only, never a secret; each says what it is. */
export function stackOutputs(stack: TerraformStack, props: StackOutputsProps): void {
  const { config, fqdn, identities, hosts, configurations, dns, buckets } = props;
  const region = config.aws.region;
  new TerraformOutput(stack, 'chat_url', { value: `https://${fqdn.chat}`, description: 'Rocket.Chat' });
  const meetPort = config.jitsi.httpsPort === 443 ? '' : `:${config.jitsi.httpsPort}`;
  new TerraformOutput(stack, 'meet_url', { value: `https://${fqdn.meet}${meetPort}`, description: 'Jitsi Meet' });
  for (const role of Object.keys(hosts) as Role[]) {
    new TerraformOutput(stack, `${role}_fqdn`, { value: fqdn[role], description: `Public name of the ${role} host` });
    new TerraformOutput(stack, `${role}_public_ip`, { value: identities[role].eip.publicIp, description: `Elastic IP of the ${role} host` });
    new TerraformOutput(stack, `${role}_ssm_session`, {
      value: `aws ssm start-session --region ${region} --target ${hosts[role].instance.id}`,
      description: `Shell on the ${role} host through SSM Session Manager`,
    });
    const association = configurations[role].association;
    if (association)
      new TerraformOutput(stack, `${role}_apply_again`, {
        value: `aws ssm start-associations-once --region ${region} --association-ids ${association.associationId}`,
        description: `Apply the ${role} host's current configuration bundle again (after rotating a secret in SSM)`,
      });
  }
  for (const [pool, p] of Object.entries(props.pools ?? {}) as [Pool, { group: string; configuration: HostConfiguration }][]) {
    new TerraformOutput(stack, `${pool}_pool_members`, {
      value: `aws autoscaling describe-auto-scaling-groups --region ${region} --auto-scaling-group-names ${p.group} --query 'AutoScalingGroups[0].Instances[].[InstanceId,LifecycleState,ProtectedFromScaleIn]' --output table`,
      description: `The ${pool} pool's members, their lifecycle state and scale-in protection`,
    });
    const association = p.configuration.association;
    if (association)
      new TerraformOutput(stack, `${pool}_apply_again`, {
        value: `aws ssm start-associations-once --region ${region} --association-ids ${association.associationId}`,
        description: `Apply the ${pool} pool's current configuration bundle again on every member`,
      });
  }
  if (dns.nameServers) new TerraformOutput(stack, 'name_servers', { value: dns.nameServers, description: `Delegate ${config.dns.zoneName ?? config.dns.domain} to these` });
  for (const purpose of BUCKETS) new TerraformOutput(stack, `${purpose}_bucket`, { value: buckets[purpose].bucket.bucket, description: BUCKET_OUTPUT[purpose] });
  new TerraformOutput(stack, 'ssm_parameter_prefix', { value: ssmRootOf(config), description: 'Secrets (SecureString) live under this path' });
  if (props.observability) {
    new TerraformOutput(stack, 'dashboard_url', { value: props.observability.dashboardUrl, description: "The environment's CloudWatch dashboard" });
    new TerraformOutput(stack, 'alarm_topic_arn', {
      value: props.observability.topic.arn,
      description: 'SNS topic the alarms publish to (its email subscription waits for confirmation: README, "Dashboard and alarms")',
    });
  }
}

/** Domains reserved for documentation: a deploy with them cannot get a certificate. */
const EXAMPLE_DOMAIN_RE = /(^|\.)(example|test|invalid|localhost)$|(^|\.)example\.(com|net|org)$/;

/** Warnings about values left from the shipped examples: a deploy with them fails or lands in the wrong place. */
export function warnAboutPlaceholders(stack: TerraformStack, config: EnvironmentConfig): void {
  if (EXAMPLE_DOMAIN_RE.test(config.dns.domain))
    Annotations.of(stack).addWarning(`dns.domain "${config.dns.domain}" is a documentation domain: set your own in config/environments/${config.name}.ts before deploying`);
  if (config.aws.allowedAccountIds.length === 0)
    Annotations.of(stack).addWarning('aws.allowedAccountIds is empty: whatever credentials are active decide the account; list the account id to guard against deploying into the wrong one');
  if (config.aws.allowedAccountIds.includes('123456789012'))
    Annotations.of(stack).addWarning('aws.allowedAccountIds holds the documentation account 123456789012: set your account id before deploying');
}
