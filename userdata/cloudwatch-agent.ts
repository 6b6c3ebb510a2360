/**
 * Metrics and logs to CloudWatch (issue 16, item 1): AWS's CloudWatch agent on every host and pool member, installed
 * from AWS's regional bucket only after its signature checks against AWS's key (userdata/scripts/cloudwatch-agent.sh),
 * and configured per role from the shared contract (config/metrics.ts): memory and the root and data volumes' disk
 * use in CWAgent with Host = the role, the bootstrap and apply logs (and Asterisk's security log on pbx) to the log
 * groups logGroupOf names. The applications' own metrics (Jitsi's bridge, Rocket.Chat, Asterisk, the recorders) and
 * the certificate's days left are published by host-metrics.sh once a minute, in the environment's namespace.
 *
 * Everything here is in the bundle (applied in place), BootstrapFailed/ApplyFailed too: host-metrics.sh reads them from
 * the state the bootstrap and the apply tool (the user-data) leave, so that those stay as they are.
 *
 * Sources (AWS documentation, 2026-12-01; notes in the README's "Metrics and logs"):
 * - package and signature: "Verify the signature of the CloudWatch agent package"
 *   (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/verify-CloudWatch-Agent-Package-Signature.html):
 *   https://amazoncloudwatch-agent-<region>.s3.<region>.amazonaws.com/<platform>/<arch>/latest/amazon-cloudwatch-agent.deb
 *   and .deb.sig; the key https://amazoncloudwatch-agent.s3.amazonaws.com/assets/amazon-cloudwatch-agent.gpg, key id
 *   3B789C72, fingerprint 9376 16F3 450B 7D80 6CBD 9725 D581 6730 3B78 9C72 ("If the fingerprint string doesn't
 *   match, don't install the agent"). AWS lists a Debian .deb for x86-64 only; for ARM64 it lists Ubuntu's .deb.
 * - configuration: "Manually create or edit the CloudWatch agent configuration file"
 *   (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch-Agent-Configuration-File-Details.html):
 *   agent.omit_hostname, metrics.namespace, metrics_collected.mem/disk (measurement, resources, drop_device,
 *   ignore_file_system_types, per-plugin append_dimensions with arbitrary pairs: the global append_dimensions takes
 *   only the ${aws:...} keys), metrics.aggregation_dimensions, logs.logs_collected.files.collect_list (file_path,
 *   log_group_name, log_stream_name with {instance_id}).
 * - start: amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s -c file:<path> ("Start the CloudWatch agent").
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AGENT_DIMENSIONS, AGENT_METRICS, agentNamespaceOf, ASTERISK_SECURITY_LOG, HOST_DIMENSION, HOST_LOGS, HOST_METRICS, logGroupOf } from '../config/metrics';
import { metricsNamespaceOf } from '../config/names';
import { POOLS, type AnyRole, type EnvironmentConfig, type Pool, type Role } from '../config/schema';
import type { BundleFile, RoleBundleProps } from './bundle';
import type { RoleContext } from './context';
import { DATA_DIR, HOST_ETC, helperPath, STATE_DIR } from './paths';
import { ASTERISK_CONTAINER } from './pbx';
import { POOL_APIS } from './pool-member';
import { renderUnit, unitFile } from './systemd';

/** AWS's CloudWatch agent package: where it comes from and the key it must be signed with. */
export const CLOUDWATCH_AGENT = {
  /** The primary key fingerprint AWS publishes for amazon-cloudwatch-agent.gpg (key id 3B789C72). */
  fingerprint: '937616F3450B7D806CBD9725D58167303B789C72',
  keyUrl: 'https://amazoncloudwatch-agent.s3.amazonaws.com/assets/amazon-cloudwatch-agent.gpg',
  /** The package's folder in AWS's bucket by Debian architecture (AWS publishes no Debian arm64 build: Ubuntu's). */
  packagePath: { amd64: 'debian/amd64', arm64: 'ubuntu/arm64' },
  /** The package's control tool and its systemd service (both from the .deb). */
  ctl: '/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl',
  service: 'amazon-cloudwatch-agent.service',
} as const;

/** AWS's regional bucket of the agent: https://amazoncloudwatch-agent-<region>.s3.<region>.amazonaws.com. */
export const agentBaseUrl = (region: string): string => `https://amazoncloudwatch-agent-${region}.s3.${region}.amazonaws.com`;

/**
 * The key itself, pinned as data when it is committed (userdata/keys/amazon-cloudwatch-agent.gpg, AWS's file as
 * published): the bundle then carries it and the host downloads no key. Without it the host downloads AWS's key; either
 * way only a signature whose primary key fingerprint is CLOUDWATCH_AGENT.fingerprint is accepted.
 */
export const PINNED_KEY_SOURCE = join(__dirname, 'keys', 'amazon-cloudwatch-agent.gpg');

/** Where the agent's configuration, its key and its state are on a host. */
export const CLOUDWATCH_AGENT_PATHS = {
  config: `${HOST_ETC}/cloudwatch-agent.json`,
  key: `${HOST_ETC}/amazon-cloudwatch-agent.gpg`,
  /** "<sha256 of the .deb> <fingerprint>": the installed package was verified (no download when it is there). */
  verified: `${STATE_DIR}/cloudwatch-agent.verified`,
  /** The configuration the agent runs with (its sha256). */
  applied: `${STATE_DIR}/cloudwatch-agent.config.sha256`,
  /** The agent's own log (its default place). */
  log: '/opt/aws/amazon-cloudwatch-agent/logs/amazon-cloudwatch-agent.log',
} as const;

/** Our units: the agent's install-and-configure run (and its hourly retry), and the application metrics' publisher. */
export const MONITORING_UNITS = { agent: 'weebeetalk-cloudwatch-agent', metrics: 'weebeetalk-host-metrics' } as const;
/** The helpers' names (installed as helperPath(name)). */
export const MONITORING_SCRIPTS = { agent: 'cloudwatch-agent', metrics: 'host-metrics' } as const;
/** The bundle's service name of the agent's files (has_changed cloudwatch-agent in monitoring_up). */
export const CLOUDWATCH_AGENT_SERVICE = 'cloudwatch-agent';

/** Rocket.Chat's Prometheus endpoint on loopback (rocketchat-compose: Prometheus_Enabled, port 9458 on BIND_IP) and the gauge read there. */
export const ROCKETCHAT_METRICS = { url: 'http://127.0.0.1:9458/metrics', usersOnline: 'rocketchat_users_online' } as const;

const isPool = (role: AnyRole): role is Pool => (POOLS as readonly string[]).includes(role);

/** A log file the agent ships. */
export interface AgentLogFile {
  readonly file_path: string;
  readonly log_group_name: string;
  readonly log_stream_name: string;
}

export interface AgentDimensions {
  readonly [name: string]: string;
}

/** The CloudWatch agent's JSON configuration, as far as we use it (AWS's configuration reference). */
export interface AgentConfig {
  readonly agent: {
    readonly metrics_collection_interval: number;
    /** No `host` dimension (the agent adds the hostname unless the global append_dimensions is used): Host = the role is ours. */
    readonly omit_hostname: boolean;
    readonly logfile: string;
  };
  readonly metrics: {
    readonly namespace: string;
    readonly metrics_collected: {
      readonly mem: { readonly measurement: readonly string[]; readonly append_dimensions: AgentDimensions };
      readonly disk: {
        readonly measurement: readonly string[];
        readonly resources: readonly string[];
        readonly ignore_file_system_types: readonly string[];
        readonly drop_device: boolean;
        readonly append_dimensions: AgentDimensions;
      };
    };
    /** The disks' series with exactly Host and path (the agent also keeps fstype), which the alarms name. */
    readonly aggregation_dimensions: readonly (readonly string[])[];
  };
  readonly logs?: { readonly logs_collected: { readonly files: { readonly collect_list: readonly AgentLogFile[] } } };
}

/** The log files a role ships and their groups: the bootstrap and apply logs on every host, Asterisk's security log on pbx. Pool members ship none (no log group is theirs). */
export function shippedLogsOf(config: Pick<EnvironmentConfig, 'name'>, role: AnyRole): { readonly file: string; readonly group: string }[] {
  if (isPool(role)) return [];
  const logs = [HOST_LOGS.bootstrap, HOST_LOGS.apply, ...(role === 'pbx' ? [ASTERISK_SECURITY_LOG] : [])];
  return logs.map((l) => ({ file: l.file, group: logGroupOf(config, role, l.group) }));
}

/** The mounts whose disk use is measured: the root and, on a host, the data volume (a pool member has none). */
export const measuredMounts = (role: AnyRole): string[] => (isPool(role) ? ['/'] : ['/', DATA_DIR]);

/** The agent's configuration of one role. */
export function agentConfig(config: Pick<EnvironmentConfig, 'name'>, role: AnyRole): AgentConfig {
  const host = { [AGENT_DIMENSIONS.host]: role };
  const logs = shippedLogsOf(config, role);
  return {
    agent: { metrics_collection_interval: 60, omit_hostname: true, logfile: CLOUDWATCH_AGENT_PATHS.log },
    metrics: {
      namespace: agentNamespaceOf(config),
      metrics_collected: {
        mem: { measurement: [AGENT_METRICS.memoryUsed], append_dimensions: host },
        disk: {
          measurement: [AGENT_METRICS.diskUsed],
          resources: measuredMounts(role),
          ignore_file_system_types: ['sysfs', 'devtmpfs', 'tmpfs', 'overlay', 'squashfs'],
          drop_device: true,
          append_dimensions: host,
        },
      },
      aggregation_dimensions: [[AGENT_DIMENSIONS.host, AGENT_DIMENSIONS.path]],
    },
    ...(logs.length > 0 ? { logs: { logs_collected: { files: { collect_list: logs.map((l) => ({ file_path: l.file, log_group_name: l.group, log_stream_name: '{instance_id}' })) } } } } : {}),
  };
}

/** Where host-metrics.sh reads the certificate's expiry: a PEM file on the host, or what a TLS port on loopback serves. */
export type CertificateSource = { readonly file: string } | { readonly tls: string; readonly serverName: string };

/** Each host's certificate: certbot's on pbx and turn, what Traefik (chat) and Jitsi's web container (meet) serve. */
export function certificateSourceOf(ctx: Pick<RoleContext, 'config' | 'fqdn'>, role: Role): CertificateSource {
  switch (role) {
    case 'pbx':
    case 'turn':
      return { file: `/etc/letsencrypt/live/${ctx.fqdn[role]}/cert.pem` };
    case 'chat':
      return { tls: '127.0.0.1:443', serverName: ctx.fqdn.chat };
    case 'meet':
      return { tls: `127.0.0.1:${ctx.config.jitsi.httpsPort}`, serverName: ctx.fqdn.meet };
  }
}

/** host-metrics.sh's settings: which probes run on this role and the names it publishes (config/metrics.ts). */
export function hostMetricsEnv(ctx: Pick<RoleContext, 'config' | 'fqdn'>, role: Role): Record<string, string> {
  const cert = certificateSourceOf(ctx, role);
  const recordings = role === 'meet' && ctx.config.jitsi.jibri;
  return {
    WBT_HOST_METRICS_PROBES: { chat: 'rocketchat', meet: recordings ? 'jvb recordings' : 'jvb', pbx: 'asterisk', turn: '' }[role],
    WBT_RC_METRICS_URL: ROCKETCHAT_METRICS.url,
    WBT_RC_USERS_ONLINE_SERIES: ROCKETCHAT_METRICS.usersOnline,
    WBT_COLIBRI_API: POOL_APIS.jvb,
    // Jibri's session folders are under JITSI_CONFIG (as pool-member.sh and recordings-upload.sh read them).
    WBT_COUNT_RECORDINGS: recordings ? '1' : '',
    WBT_CALLS_CONTAINER: role === 'pbx' ? ASTERISK_CONTAINER : '',
    WBT_CERT_FILE: 'file' in cert ? cert.file : '',
    WBT_CERT_TLS: 'tls' in cert ? cert.tls : '',
    WBT_CERT_SERVER_NAME: 'tls' in cert ? cert.serverName : '',
    WBT_METRIC_USERS_ONLINE: HOST_METRICS.usersOnline,
    WBT_METRIC_CONFERENCES: HOST_METRICS.conferences,
    WBT_METRIC_PARTICIPANTS: HOST_METRICS.participants,
    WBT_METRIC_RECORDINGS_IN_PROGRESS: HOST_METRICS.recordingsInProgress,
    WBT_METRIC_UPLOADS_PENDING: HOST_METRICS.uploadsPending,
    WBT_METRIC_ACTIVE_CALLS: HOST_METRICS.activeCalls,
    WBT_METRIC_CERTIFICATE_DAYS_LEFT: HOST_METRICS.certificateDaysLeft,
    WBT_METRIC_BOOTSTRAP_FAILED: HOST_METRICS.bootstrapFailed,
    WBT_METRIC_APPLY_FAILED: HOST_METRICS.applyFailed,
  };
}

/** The agent's settings in config.env. */
export function agentEnv(config: Pick<EnvironmentConfig, 'name' | 'aws'>, pinnedKey: boolean): Record<string, string> {
  return {
    WBT_CWAGENT_CONFIG: CLOUDWATCH_AGENT_PATHS.config,
    WBT_CWAGENT_FINGERPRINT: CLOUDWATCH_AGENT.fingerprint,
    WBT_CWAGENT_BASE_URL: agentBaseUrl(config.aws.region),
    // "<Debian architecture>:<folder>" pairs (the script's `dpkg --print-architecture` picks one).
    WBT_CWAGENT_PACKAGES: Object.entries(CLOUDWATCH_AGENT.packagePath)
      .map(([arch, path]) => `${arch}:${path}`)
      .join(' '),
    WBT_CWAGENT_KEY_URL: CLOUDWATCH_AGENT.keyUrl,
    WBT_CWAGENT_KEY_FILE: pinnedKey ? CLOUDWATCH_AGENT_PATHS.key : '',
    WBT_CWAGENT_VERIFIED: CLOUDWATCH_AGENT_PATHS.verified,
    WBT_CWAGENT_APPLIED: CLOUDWATCH_AGENT_PATHS.applied,
    WBT_CWAGENT_CTL: CLOUDWATCH_AGENT.ctl,
    WBT_CWAGENT_AGENT_SERVICE: CLOUDWATCH_AGENT.service,
    WBT_CWAGENT_SERVICE: `${MONITORING_UNITS.agent}.service`,
    WBT_CWAGENT_TIMER: `${MONITORING_UNITS.agent}.timer`,
    WBT_METRICS_NAMESPACE: metricsNamespaceOf(config),
    WBT_HOST_DIMENSION: HOST_DIMENSION,
  };
}

/** The agent's units: a oneshot that installs (verified) and configures it, run after an apply that changes it and hourly (a failed download is tried again). */
function agentUnits(): BundleFile[] {
  return [
    unitFile(
      `${MONITORING_UNITS.agent}.service`,
      renderUnit({
        Unit: { Description: 'WeeBeeTalk: install the CloudWatch agent (signature verified) and run it with the bundle configuration', After: 'network-online.target', Wants: 'network-online.target' },
        Service: { Type: 'oneshot', ExecStart: helperPath(MONITORING_SCRIPTS.agent), TimeoutStartSec: '15min' },
      }),
    ),
    unitFile(
      `${MONITORING_UNITS.agent}.timer`,
      renderUnit({
        Unit: { Description: 'WeeBeeTalk: the CloudWatch agent checked hourly (timer)' },
        Timer: { OnBootSec: '2min', OnUnitInactiveSec: '1h', RandomizedDelaySec: '5min' },
        Install: { WantedBy: 'timers.target' },
      }),
    ),
  ];
}

/** The application metrics' publisher: every minute, after Docker and the data volume. */
function metricsUnits(): BundleFile[] {
  return [
    unitFile(
      `${MONITORING_UNITS.metrics}.service`,
      renderUnit({
        Unit: { Description: 'WeeBeeTalk: publish the host application metrics and certificate days left', After: ['docker.service', 'network-online.target'], RequiresMountsFor: DATA_DIR },
        Service: { Type: 'oneshot', ExecStart: helperPath(MONITORING_SCRIPTS.metrics), TimeoutStartSec: '2min' },
      }),
    ),
    unitFile(
      `${MONITORING_UNITS.metrics}.timer`,
      renderUnit({
        Unit: { Description: 'WeeBeeTalk: the host metrics every minute (timer)' },
        Timer: { OnBootSec: '2min', OnUnitActiveSec: '1min', AccuracySec: '1s' },
        Install: { WantedBy: 'timers.target' },
      }),
    ),
  ];
}

/** Whether the repository pins AWS's key file (PINNED_KEY_SOURCE). */
export const pinnedKey = (): string | undefined => (existsSync(PINNED_KEY_SOURCE) ? readFileSync(PINNED_KEY_SOURCE, 'latin1') : undefined);

/**
 * A role's bundle with the agent and the publisher added: its configuration file, units, helpers and settings (the
 * role's hook runs `monitoring_up` from config-lib.sh). Pool members get the agent (memory, root disk), not the
 * publisher: their pools' metrics are pool-member.sh's.
 */
export function withMonitoring(props: RoleBundleProps, ctx: Pick<RoleContext, 'config' | 'fqdn'>, role: AnyRole, key: string | undefined = pinnedKey()): RoleBundleProps {
  const host = !isPool(role);
  const files: BundleFile[] = [
    { path: CLOUDWATCH_AGENT_PATHS.config, content: `${JSON.stringify(agentConfig(ctx.config, role), null, 2)}\n`, mode: '0644', services: [CLOUDWATCH_AGENT_SERVICE] },
    ...(key !== undefined ? [{ path: CLOUDWATCH_AGENT_PATHS.key, content: key, mode: '0644' as const }] : []),
    ...agentUnits(),
    ...(host ? metricsUnits() : []),
  ];
  return {
    ...props,
    env: {
      ...props.env,
      ...agentEnv(ctx.config, key !== undefined),
      WBT_HOST_METRICS_TIMER: host ? `${MONITORING_UNITS.metrics}.timer` : '',
      ...(host ? hostMetricsEnv(ctx, role) : {}),
    },
    files: [...props.files, ...files],
    scripts: [...(props.scripts ?? []), MONITORING_SCRIPTS.agent, ...(host ? [MONITORING_SCRIPTS.metrics] : [])],
  };
}
