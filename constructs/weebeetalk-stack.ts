/**
 * One environment: network, three Debian 12 hosts (chat, meet, pbx) with their identities, firewalls,
 * roles and bootstraps, DNS, buckets, secrets, snapshots and outputs. The stack id is the environment name.
 */
import { createHash } from 'node:crypto';
import { Construct } from 'constructs';
import { Annotations, LocalBackend, S3Backend, TerraformOutput, TerraformStack } from 'cdktf';
import { AwsProvider } from '@cdktf/provider-aws/lib/provider';
import { CloudinitProvider } from '@cdktf/provider-cloudinit/lib/provider';
import { DataAwsCallerIdentity } from '@cdktf/provider-aws/lib/data-aws-caller-identity';
import type { DataAwsIamPolicyDocumentStatement } from '@cdktf/provider-aws/lib/data-aws-iam-policy-document';
import { fqdnOf, sipDomainOf, stateKeyOf } from '../config/names';
import { hostAddress, partitionOf } from '../config/net';
import { portPlan } from '../config/ports';
import { ROLES, type EnvironmentConfig, type Role } from '../config/schema';
import { chatUserData } from '../userdata/chat';
import type { RoleContext } from '../userdata/context';
import { meetUserData } from '../userdata/meet';
import { pbxUserData } from '../userdata/pbx';
import { applyAudit } from './audit/aspect';
import { DebianHost } from './debian-host';
import { Dns } from './dns';
import { Firewalls } from './firewalls';
import { HostIdentity } from './host-identity';
import { HostRole } from './host-role';
import { Network } from './network';
import { PrivateBucket } from './private-bucket';
import { Secrets } from './secrets';
import { USER_DATA_LIMIT_BYTES, userDataBytes, type UserDataPart } from './user-data-size';
import { VolumeSnapshots } from './volume-snapshots';

export interface WeeBeeTalkStackProps {
  /** The validated environment (config/load.ts). */
  readonly config: EnvironmentConfig;
}

/** IMDSv2 hop limit: 2 only where a container calls AWS through the instance role (Rocket.Chat's S3 uploads). */
const HOP_LIMIT: Record<Role, number> = { chat: 2, meet: 1, pbx: 1 };
/** Offsets of the hosts' fixed private addresses in the public subnet (AWS reserves .0 to .3). */
const HOST_OFFSET: Record<Role, number> = { chat: 10, meet: 11, pbx: 12 };
const BUCKETS = ['recordings', 'uploads', 'backups'] as const;

/** Domains reserved for documentation: a deploy with them cannot get a certificate. */
const EXAMPLE_DOMAIN_RE = /(^|\.)(example|test|invalid|localhost)$|(^|\.)example\.(com|net|org)$/;

// One derivation of the names, shared with the cross-environment checks (config/files.ts).
export { fqdnOf, sipDomainOf } from '../config/names';

/** Stable, globally unique bucket names derived from the domain and environment (no randomness at synth). */
export function bucketNameOf(config: EnvironmentConfig, purpose: (typeof BUCKETS)[number]): string {
  const hash = createHash('sha256').update(`${config.dns.domain}/${config.name}`).digest('hex').slice(0, 10);
  return `weebeetalk-${config.name}-${purpose}-${hash}`;
}

export class WeeBeeTalkStack extends TerraformStack {
  readonly config: EnvironmentConfig;
  readonly hosts: Record<Role, DebianHost>;

  constructor(scope: Construct, id: string, props: WeeBeeTalkStackProps) {
    super(scope, id);
    const config = (this.config = props.config);
    const name = `weebeetalk-${config.name}`;
    const region = config.aws.region;
    const partition = partitionOf(region);
    const production = config.tier === 'production';
    const az = config.aws.availabilityZone ?? `${region}a`;

    if (EXAMPLE_DOMAIN_RE.test(config.dns.domain))
      Annotations.of(this).addWarning(`dns.domain "${config.dns.domain}" is a documentation domain: set your own in config/environments/${config.name}.ts before deploying`);
    if (config.aws.allowedAccountIds.length === 0)
      Annotations.of(this).addWarning('aws.allowedAccountIds is empty: whatever credentials are active decide the account; list the account id to guard against deploying into the wrong one');
    if (config.aws.allowedAccountIds.includes('123456789012'))
      Annotations.of(this).addWarning('aws.allowedAccountIds holds the documentation account 123456789012: set your account id before deploying');

    new AwsProvider(this, 'aws', {
      region,
      allowedAccountIds: config.aws.allowedAccountIds.length > 0 ? config.aws.allowedAccountIds : undefined,
      // Tags are visible to anyone with Describe rights: never put a secret here.
      defaultTags: [{ tags: { Project: 'weebeetalk', Environment: config.name, ManagedBy: 'cdktf', ...config.tags } }],
    });
    new CloudinitProvider(this, 'cloudinit', {});
    if (config.state) {
      new S3Backend(this, {
        bucket: config.state.bucket,
        key: stateKeyOf(config, config.state),
        region: config.state.region,
        encrypt: true,
        kmsKeyId: config.state.kmsKeyId,
      });
      // S3-native locking (Terraform >= 1.10); cdktf 0.21's S3Backend does not know the option yet.
      this.addOverride('terraform.backend.s3.use_lockfile', true);
    } else {
      // Local state beside the project (relative to cdktf.out/stacks/<env>), never an absolute path in the plan.
      new LocalBackend(this, { path: `../../../terraform.${config.name}.tfstate` });
    }

    const account = new DataAwsCallerIdentity(this, 'account').accountId;
    const network = new Network(this, 'network', { name, vpcCidr: config.network.vpcCidr, availabilityZone: az });
    const firewalls = new Firewalls(this, 'firewalls', { name, vpcId: network.vpc.id, rules: portPlan(config) });

    // Plain names (known at synth), not references: see PUBLIC_IP in userdata/context.ts.
    const bucketNames = Object.fromEntries(BUCKETS.map((p) => [p, bucketNameOf(config, p)])) as Record<(typeof BUCKETS)[number], string>;
    const buckets = {} as Record<(typeof BUCKETS)[number], PrivateBucket>;
    for (const purpose of BUCKETS) {
      buckets[purpose] = new PrivateBucket(this, `${purpose}-bucket`, {
        bucketName: bucketNames[purpose],
        expireAfterDays: purpose === 'recordings' ? config.storage.recordingsRetentionDays : purpose === 'backups' ? config.storage.backupRetentionDays : undefined,
        // Recordings: an expired recording must be gone, not kept as a noncurrent version for weeks.
        noncurrentVersionDays: purpose === 'recordings' ? 1 : config.storage.noncurrentVersionDays,
        protect: production,
        forceDestroy: !production,
      });
    }
    const bucketArn = (purpose: (typeof BUCKETS)[number]): string => `arn:${partition}:s3:::${bucketNames[purpose]}`;

    const ssmRoot = `/weebeetalk/${config.name}`;
    const secrets = new Secrets(this, 'secrets', { prefix: ssmRoot });
    secrets.add({ id: 'rocketchat-admin', description: 'Rocket.Chat first administrator password', paths: ['chat/admin-password'] });
    if (config.jitsi.auth === 'jwt') {
      secrets.addPlain('meet/jwt-app-id', 'Jitsi JWT application id (also set in the Rocket.Chat Jitsi app)', `weebeetalk-${config.name}`);
      secrets.add({ id: 'jitsi-jwt', description: 'Jitsi JWT application secret (also set in the Rocket.Chat Jitsi app)', paths: ['meet/jwt-app-secret'], length: 48 });
    }
    if (config.jitsi.jigasi)
      secrets.add({ id: 'jigasi-sip', description: 'Password of the jigasi SIP endpoint on Asterisk', paths: ['meet/jigasi-sip-password', 'pbx/jigasi-sip-password'] });
    for (const user of config.sip.users)
      secrets.add({ id: `sip-user-${user.extension}`, description: `SIP password of extension ${user.extension} (${user.name})`, paths: [`pbx/sip-users/${user.extension}`], length: 24 });

    const fqdn = Object.fromEntries(ROLES.map((r) => [r, fqdnOf(config, r)])) as Record<Role, string>;
    const privateIp = Object.fromEntries(ROLES.map((r) => [r, hostAddress(network.publicSubnetCidr, HOST_OFFSET[r])])) as Record<Role, string>;
    const identities = {} as Record<Role, HostIdentity>;
    for (const role of ROLES) {
      identities[role] = new HostIdentity(this, `${role}-identity`, {
        name: `${name}-${role}`,
        subnetId: network.publicSubnet.id,
        privateIp: privateIp[role],
        securityGroupIds: [firewalls.groups[role].id],
        protect: production,
        dependsOn: network.internetAccess,
      });
    }

    const dns = new Dns(this, 'dns', {
      zoneName: config.dns.zoneName ?? config.dns.domain,
      zoneMode: config.dns.zone,
      hosts: ROLES.map((r) => ({ id: r, fqdn: fqdn[r], ip: identities[r].eip.publicIp })),
      caaIodef: config.dns.caaIodef,
      sipDomain: sipDomainOf(config),
      pbxFqdn: fqdn.pbx,
      sipsSrv: config.sip.clientCidrs.length > 0,
      sipSrv: config.sip.trunkSignallingCidrs.length > 0,
      protect: production,
    });

    const ssmArn = (role: Role): string => `arn:${partition}:ssm:${region}:${account}:parameter${ssmRoot}/${role}`;
    const grants: Record<Role, DataAwsIamPolicyDocumentStatement[]> = {
      chat: [
        { sid: 'UploadsReadWrite', actions: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload'], resources: [`${bucketArn('uploads')}/*`] },
        { sid: 'UploadsList', actions: ['s3:ListBucket'], resources: [bucketArn('uploads')] },
        { sid: 'BackupsWrite', actions: ['s3:PutObject', 's3:GetObject'], resources: [`${bucketArn('backups')}/chat/*`] },
      ],
      meet: config.jitsi.jibri ? [{ sid: 'RecordingsWrite', actions: ['s3:PutObject', 's3:AbortMultipartUpload'], resources: [`${bucketArn('recordings')}/*`] }] : [],
      pbx: [
        {
          sid: 'AcmeChallengeOnly',
          actions: ['route53:ChangeResourceRecordSets'],
          resources: [`arn:${partition}:route53:::hostedzone/${dns.zoneId}`],
          condition: [
            { test: 'ForAllValues:StringEquals', variable: 'route53:ChangeResourceRecordSetsNormalizedRecordNames', values: [`_acme-challenge.${fqdn.pbx}`] },
            { test: 'ForAllValues:StringEquals', variable: 'route53:ChangeResourceRecordSetsRecordTypes', values: ['TXT'] },
            { test: 'ForAllValues:StringEquals', variable: 'route53:ChangeResourceRecordSetsActions', values: ['UPSERT', 'DELETE'] },
          ],
        },
        { sid: 'AcmeChangeStatus', actions: ['route53:GetChange'], resources: [`arn:${partition}:route53:::change/*`] },
        // certbot-dns-route53 finds the zone by listing; the action has no resource-level permission.
        { sid: 'AcmeFindZone', actions: ['route53:ListHostedZones'], resources: ['*'] },
      ],
    };

    const hosts = {} as Record<Role, DebianHost>;
    const builders: Record<Role, (ctx: RoleContext) => ReturnType<typeof chatUserData>> = { chat: chatUserData, meet: meetUserData, pbx: pbxUserData };
    for (const role of ROLES) {
      const hostRole = new HostRole(this, `${role}-role`, {
        name: `${name}-${role}`,
        statements: [
          { sid: 'OwnSecretsOnly', actions: ['ssm:GetParameter', 'ssm:GetParameters', 'ssm:GetParametersByPath'], resources: [ssmArn(role), `${ssmArn(role)}/*`] },
          ...grants[role],
        ],
      });
      hosts[role] = new DebianHost(this, `${role}-host`, {
        name: `${name}-${role}`,
        region,
        availabilityZone: az,
        instanceType: config.hosts[role].instanceType,
        // A role's own pin wins (e.g. an arm64 image for a Graviton role).
        amiId: config.hosts[role].amiId ?? config.ami.id,
        followLatestAmi: config.ami.followLatest,
        networkInterfaceId: identities[role].networkInterface.id,
        instanceProfileName: hostRole.profile.name,
        metadataHopLimit: HOP_LIMIT[role],
        rootVolumeGiB: config.hosts[role].rootVolumeGiB,
        dataVolumeGiB: config.hosts[role].dataVolumeGiB,
        snapshotTag: { key: 'weebeetalk:snapshot', value: `${config.name}-daily` },
        protect: production,
        publicIp: identities[role].eip.publicIp,
        dependsOn: [
          ...network.internetAccess,
          identities[role].association,
          // Its name resolves before any ACME client on it starts (the bootstrap also waits for public DNS).
          ...dns.hostRecords[role],
          hostRole.policy,
          ...Object.entries(secrets.parameters).filter(([path]) => path.startsWith(`${role}/`)).map(([, p]) => p),
        ],
        userData: builders[role]({ config, fqdn, privateIp, buckets: bucketNames, ssmPrefix: `${ssmRoot}/${role}` }),
      });
    }
    this.hosts = hosts;

    // EC2 refuses user-data over 16 KB: found at apply, a replacement would fail with the old host already gone.
    for (const role of ROLES) {
      const parts = hosts[role].userData.config.partInput;
      if (!Array.isArray(parts)) continue;
      const bytes = userDataBytes(parts.map((p): UserDataPart => ({ filename: p.filename ?? '', contentType: p.contentType ?? 'text/plain', content: p.content })));
      const grows = role === 'pbx' ? `it grows with sip.users (${config.sip.users.length} phones): fewer phones per environment` : 'trim what the role writes';
      const what = `user-data of the ${role} host is ${bytes} bytes gzipped, EC2's limit is ${USER_DATA_LIMIT_BYTES} bytes (raw, before base64)`;
      if (bytes > USER_DATA_LIMIT_BYTES) Annotations.of(hosts[role]).addError(`${what}: the instance could not be launched or replaced: ${grows}`);
      // zlib stands in for the provider's Go deflater at synthesis: keep 5% clear of the limit.
      else if (bytes > USER_DATA_LIMIT_BYTES * 0.95) Annotations.of(hosts[role]).addWarning(`${what}: within 5% of the limit: ${grows}`);
    }

    if (config.snapshots.enabled) {
      if (!production)
        Annotations.of(this).addWarning('snapshots.enabled in a staging tier: DLM snapshots outlive `cdktf destroy` (deleting the policy keeps them): delete them by hand after a teardown');
      new VolumeSnapshots(this, 'snapshots', {
        name,
        targetTag: { key: 'weebeetalk:snapshot', value: `${config.name}-daily` },
        retainCount: config.snapshots.retainCount,
        time: config.snapshots.time,
        partition,
      });
    }

    // Outputs: names and addresses only, never a secret.
    new TerraformOutput(this, 'chat_url', { value: `https://${fqdn.chat}`, description: 'Rocket.Chat' });
    const meetPort = config.jitsi.httpsPort === 443 ? '' : `:${config.jitsi.httpsPort}`;
    new TerraformOutput(this, 'meet_url', { value: `https://${fqdn.meet}${meetPort}`, description: 'Jitsi Meet' });
    for (const role of ROLES) {
      new TerraformOutput(this, `${role}_fqdn`, { value: fqdn[role], description: `Public name of the ${role} host` });
      new TerraformOutput(this, `${role}_public_ip`, { value: identities[role].eip.publicIp, description: `Elastic IP of the ${role} host` });
      new TerraformOutput(this, `${role}_ssm_session`, {
        value: `aws ssm start-session --region ${region} --target ${hosts[role].instance.id}`,
        description: `Shell on the ${role} host through SSM Session Manager`,
      });
    }
    if (dns.nameServers) new TerraformOutput(this, 'name_servers', { value: dns.nameServers, description: `Delegate ${config.dns.zoneName ?? config.dns.domain} to these` });
    for (const purpose of BUCKETS) new TerraformOutput(this, `${purpose}_bucket`, { value: buckets[purpose].bucket.bucket });
    new TerraformOutput(this, 'ssm_parameter_prefix', { value: ssmRoot, description: 'Secrets (SecureString) live under this path' });
    applyAudit(this, config);
  }
}
