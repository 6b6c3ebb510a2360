/**
 * One environment: network, the Debian 12 hosts (chat, meet, pbx, and turn where enabled) with their identities,
 * the meet host's pools (Jibri, JVB) on Auto Scaling, firewalls, roles and bootstraps, DNS, buckets, secrets,
 * snapshots and outputs. The stack id is the environment name.
 */
import { Construct } from 'constructs';
import { Annotations, TerraformStack } from 'cdktf';
import { AwsProvider } from '@cdktf/provider-aws/lib/provider';
import { CloudinitProvider } from '@cdktf/provider-cloudinit/lib/provider';
import { DataAwsCallerIdentity } from '@cdktf/provider-aws/lib/data-aws-caller-identity';
import { BUCKETS, bucketNameOf, drainHookOf, fqdnsOf, keyAliasOf, metricsNamespaceOf, poolGroupOf, resourceNameOf, sipDomainOf, snapshotTagOf, ssmRootOf, type BucketPurpose } from '../config/names';
import { hostAddress, partitionOf } from '../config/net';
import type { EnvironmentConfig, Pool, Role } from '../config/schema';
import { hostBundle } from '../userdata/bundle';
import { shippedLogsOf, withMonitoring } from '../userdata/cloudwatch-agent';
import { bundleParameterOf, hostEnv, poolHostEnv, type RoleContext } from '../userdata/context';
import { ApplyDocument } from './apply-document';
import { applyAudit } from './audit/aspect';
import type { Json } from './audit/plan';
import { DebianHost } from './debian-host';
import { Dns } from './dns';
import { EnvironmentKey, type KeyService } from './environment-key';
import { Firewalls } from './firewalls';
import { HostConfiguration } from './host-configuration';
import { HostIdentity } from './host-identity';
import { HostRole, logGroupArnOf } from './host-role';
import { Network } from './network';
import { Observability } from './observability';
import { grantPoolMetrics, InstancePool, POOL_TAG } from './pool';
import { poolSpecs, portPlan, roleSpecs } from './roles';
import { Secrets } from './secrets';
import { StateBackend } from './state-backend';
import { environmentBuckets, stackOutputs, warnAboutPlaceholders } from './environment';
import { VolumeSnapshots } from './volume-snapshots';

/** The Terraform the plans need. */
// Write-only attributes (value_wo: constructs/secrets.ts) need 1.11; ephemeral blocks 1.10.
export const TERRAFORM_VERSION = '>= 1.11.0';
/** What the hosts' and pools' roles use the environment's key through: SSM (their SecureStrings) and S3 (the buckets). */
export const HOST_KEY_SERVICES: readonly KeyService[] = ['ssm', 's3'];

export interface WeeBeeTalkStackProps {
  /** The validated environment (config/load.ts). */
  readonly config: EnvironmentConfig;
}

export class WeeBeeTalkStack extends TerraformStack {
  readonly config: EnvironmentConfig;
  readonly hosts: Record<Role, DebianHost>;
  readonly pools: Partial<Record<Pool, InstancePool>>;
  /** The environment's customer-managed key (kms.customerManagedKey), or none (AWS managed keys). */
  readonly key?: EnvironmentKey;
  /** The plan the audit gate resolved just before synthesis writes it (see toTerraform). */
  private auditedPlan?: Json;

  constructor(scope: Construct, id: string, props: WeeBeeTalkStackProps) {
    super(scope, id);
    const config = (this.config = props.config);
    const name = resourceNameOf(config);
    const region = config.aws.region;
    const partition = partitionOf(region);
    const production = config.tier === 'production';
    const az = config.aws.availabilityZone ?? `${region}a`;
    const specs = roleSpecs(config);
    const poolsToBuild = poolSpecs(config);
    warnAboutPlaceholders(this, config);

    new AwsProvider(this, 'aws', {
      region,
      allowedAccountIds: config.aws.allowedAccountIds.length > 0 ? config.aws.allowedAccountIds : undefined,
      // Tags are visible to anyone with Describe rights: never put a secret here.
      defaultTags: [{ tags: { Project: 'weebeetalk', Environment: config.name, ManagedBy: 'cdktf', ...config.tags } }],
    });
    new CloudinitProvider(this, 'cloudinit', {});
    // terraform_data (1.4), S3-native state locking (use_lockfile, 1.10): Terraform checks it at init.
    this.addOverride('terraform.required_version', TERRAFORM_VERSION);
    new StateBackend(this, 'state', { config });

    const account = new DataAwsCallerIdentity(this, 'account').accountId;
    const network = new Network(this, 'network', { name, vpcCidr: config.network.vpcCidr, availabilityZone: az, poolSubnet: poolsToBuild.length > 0 });
    const firewalls = new Firewalls(this, 'firewalls', {
      name,
      vpcId: network.vpc.id,
      roles: [...specs.map((s) => s.role), ...poolsToBuild.map((p) => p.pool)],
      rules: portPlan(config),
    });

    // Keys the customer controls: volumes, buckets and SecureStrings under the environment's own key (README, "Secrets and state").
    const key = (this.key = config.kms.customerManagedKey
      ? new EnvironmentKey(this, 'environment-key', {
          alias: keyAliasOf(config),
          description: `WeeBeeTalk ${config.name}: volumes, buckets and SecureStrings`,
          deletionWindowDays: config.kms.deletionWindowDays,
          arn: { partition, region, account },
          autoScaling: poolsToBuild.length > 0,
          protect: production,
        })
      : undefined);
    const kmsKeyArn = key?.arn;

    const buckets = environmentBuckets(this, config, kmsKeyArn);

    const ssmRoot = ssmRootOf(config);
    const secrets = new Secrets(this, 'secrets', { prefix: ssmRoot, arn: { partition, region, account }, kmsKeyId: kmsKeyArn, versions: config.secrets.versions });
    for (const spec of specs) spec.secrets?.(config, secrets);
    for (const spec of poolsToBuild) spec.secrets?.(config, secrets);
    secrets.checkVersions();

    const fqdn = fqdnsOf(
      config,
      specs.map((s) => s.role),
    );
    const privateIp = {} as Record<Role, string>;
    const identities = {} as Record<Role, HostIdentity>;
    for (const { role, addressOffset } of specs) {
      if (addressOffset === undefined) throw new Error(`role ${role}: a host without a fixed address (a pool member) has no HostIdentity yet`);
      privateIp[role] = hostAddress(network.publicSubnetCidr, addressOffset);
      identities[role] = new HostIdentity(this, `${role}-identity`, {
        name: resourceNameOf(config, role),
        subnetId: network.publicSubnet.id,
        privateIp: privateIp[role],
        securityGroupIds: [firewalls.groupOf(role).id],
        protect: production,
        dependsOn: network.internetAccess,
      });
    }

    const dns = new Dns(this, 'dns', {
      zoneName: config.dns.zoneName ?? config.dns.domain,
      zoneMode: config.dns.zone,
      hosts: specs.map(({ role }) => ({ id: role, fqdn: fqdn[role], ip: identities[role].eip.publicIp })),
      caaIodef: config.dns.caaIodef,
      sipDomain: sipDomainOf(config),
      pbxFqdn: fqdn.pbx,
      sipsSrv: config.sip.clientCidrs.length > 0,
      sipSrv: config.sip.trunkSignallingCidrs.length > 0,
      protect: production,
      partition,
    });

    const hosts = {} as Record<Role, DebianHost>;
    const configurations = {} as Record<Role, HostConfiguration>;
    // Plain bucket names (known at synth), not references: see PUBLIC_IP in userdata/context.ts.
    const bucketNames = Object.fromEntries(BUCKETS.map((p) => [p, bucketNameOf(config, p)])) as Record<BucketPurpose, string>;
    const applyDocument = new ApplyDocument(this, 'apply-document', { name: `${name}-apply` });
    for (const spec of specs) {
      const { role } = spec;
      const hostRole = new HostRole(this, `${role}-role`, { name: resourceNameOf(config, role) });
      key?.grantUseVia(hostRole, HOST_KEY_SERVICES);
      secrets.grantRead(hostRole, role);
      spec.grants?.({ config, role: hostRole, buckets, dns, fqdn });
      const ctx: RoleContext = { config, fqdn, privateIp, buckets: bucketNames, ssmPrefix: `${ssmRoot}/${role}` };
      // What changes in place (State Manager applies it), apart from what the instance boots with (user-data).
      const configuration = (configurations[role] = new HostConfiguration(this, `${role}-configuration`, {
        name: resourceNameOf(config, role),
        role,
        region,
        bundle: hostBundle(config.name, role, withMonitoring(spec.bundle(ctx), ctx, role), secrets.versionsFor(role)),
        bucket: buckets.config,
        parameterName: bundleParameterOf(ctx.ssmPrefix),
        document: applyDocument,
      }));
      configuration.grantApply(hostRole);
      // The CloudWatch agent and the host's metrics (userdata/cloudwatch-agent.ts): its namespaces, its own log groups.
      hostRole.grantMetricsAndLogs({
        namespaces: [metricsNamespaceOf(config)],
        logGroupArns: shippedLogsOf(config, role).map((l) => logGroupArnOf({ partition, region, account }, l.group)),
      });
      // The meet host publishes its own Jibri's and bridge's state beside the pools' members: the scaling counts them.
      if (role === 'meet' && poolsToBuild.length > 0) grantPoolMetrics(hostRole, metricsNamespaceOf(config));
      hosts[role] = new DebianHost(this, `${role}-host`, {
        name: resourceNameOf(config, role),
        region,
        availabilityZone: az,
        instanceType: config.hosts[role].instanceType,
        // A role's own pin wins (e.g. an arm64 image for a Graviton role).
        amiId: config.hosts[role].amiId ?? config.ami.id,
        followLatestAmi: config.ami.followLatest,
        identity: identities[role],
        role: hostRole,
        metadataHopLimit: spec.metadataHopLimit,
        rootVolumeGiB: config.hosts[role].rootVolumeGiB,
        dataVolumeGiB: config.hosts[role].dataVolumeGiB,
        snapshotTag: snapshotTagOf(config),
        protect: production,
        kmsKeyArn,
        nameRecords: dns.hostRecords[role],
        userData: { env: hostEnv(ctx, role), packages: spec.packages, docker: spec.docker },
      });
      configuration.associate(hosts[role].instance);
    }
    this.hosts = hosts;

    // The pools: members join the meet host's Prosody (its private address) and read their bundle at boot.
    const pools: Partial<Record<Pool, InstancePool>> = {};
    const poolOutputs: Partial<Record<Pool, { group: string; configuration: HostConfiguration }>> = {};
    for (const spec of poolsToBuild) {
      const { pool } = spec;
      const settings = config.jitsi[`${pool}Pool`];
      const group = poolGroupOf(config, pool);
      const poolRole = new HostRole(this, `${pool}-role`, { name: group });
      key?.grantUseVia(poolRole, HOST_KEY_SERVICES);
      secrets.grantRead(poolRole, pool);
      spec.grants?.({ config, role: poolRole, buckets, dns, fqdn });
      const ctx: RoleContext = { config, fqdn, privateIp, buckets: bucketNames, ssmPrefix: `${ssmRoot}/${pool}` };
      const configuration = new HostConfiguration(this, `${pool}-configuration`, {
        name: group,
        role: pool,
        region,
        bundle: hostBundle(config.name, pool, withMonitoring(spec.bundle(ctx), ctx, pool), secrets.versionsFor(pool)),
        bucket: buckets.config,
        parameterName: bundleParameterOf(ctx.ssmPrefix),
        document: applyDocument,
      });
      configuration.grantApply(poolRole);
      grantPoolMetrics(poolRole, metricsNamespaceOf(config));
      poolRole.grantMetricsAndLogs({ namespaces: [metricsNamespaceOf(config)], logGroupArns: [] });
      const members = (pools[pool] = new InstancePool(this, `${pool}-pool`, {
        name: group,
        arn: { partition, region, account },
        subnetId: network.poolSubnet!.id,
        securityGroupId: firewalls.groupOf(pool).id,
        instanceType: settings.instanceType,
        amiId: config.ami.id,
        rootVolumeGiB: settings.rootVolumeGiB,
        role: poolRole,
        userData: { env: poolHostEnv(ctx, pool), docker: true, dataVolume: false },
        min: settings.min,
        max: settings.max,
        drainHook: drainHookOf(config, pool),
        memberTags: { Project: 'weebeetalk', Environment: config.name, ManagedBy: 'cdktf', ...config.tags },
        protect: production,
        kmsKeyArn,
        // A member's first boot reads its bundle and joins the meet host, which must be there first.
        dependsOn: [...network.poolInternetAccess, configuration.object, configuration.pointer, hosts.meet.instance],
      }));
      members.grantSelfManagement(poolRole, spec.selfProtecting);
      spec.scale(config, members);
      configuration.associateTagged(POOL_TAG, group);
      poolOutputs[pool] = { group, configuration };
    }
    this.pools = pools;

    if (config.snapshots.enabled) {
      if (!production)
        Annotations.of(this).addWarning('snapshots.enabled in a staging tier: DLM snapshots outlive `cdktf destroy` (deleting the policy keeps them): delete them by hand after a teardown');
      new VolumeSnapshots(this, 'snapshots', {
        name,
        targetTag: snapshotTagOf(config),
        retainCount: config.snapshots.retainCount,
        time: config.snapshots.time,
        partition,
      });
    }

    // The dashboard, the alarms mailed through their topic, the hosts' log groups (README, "Dashboard and alarms").
    const observability = new Observability(this, 'observability', {
      config,
      hosts: Object.fromEntries(Object.entries(hosts).map(([role, host]) => [role, { instanceId: host.instance.id }])),
      pools: Object.fromEntries(Object.entries(poolOutputs).map(([pool, p]) => [pool, p.group])),
      arn: { partition, region, account },
      key,
    });

    stackOutputs(this, { config, fqdn, identities, hosts, configurations, dns, buckets, pools: poolOutputs, observability });
    applyAudit(this, config, (plan) => (this.auditedPlan = plan));
  }

  /**
   * The plan as the audit gate resolved it, once: its aspect runs after the tree is complete and only validations and
   * annotation collection come between it and the writing of the plan, neither of which changes the tree. Resolving
   * the stack again would double the synthesis's largest cost. Any later call resolves anew.
   */
  override toTerraform(): Json {
    const plan = this.auditedPlan ?? (super.toTerraform() as Json);
    this.auditedPlan = undefined;
    return plan;
  }
}
