/**
 * The names the hosts publish their health under and the dashboard and alarms read (issue 16): one source, so a
 * widget or alarm can only name a metric some host publishes (test/observability tests check both ends).
 *
 * - The CloudWatch agent's own metrics (memory, disks) go to agentNamespaceOf(config), the environment's namespace, with
 *   the dimensions AGENT_DIMENSIONS: never the account-wide CWAgent, which two environments of one account would share
 *   (each one's alarms reading the other's hosts, and each one's hosts allowed to write the other's figures).
 * - The applications' metrics (Jitsi, Rocket.Chat, Asterisk, recorders) and the hosts' own events (a failed bootstrap
 *   or apply, certificate days left) go to the environment's namespace (metricsNamespaceOf: WeeBeeTalk/<env>) with
 *   the dimension HOST_DIMENSION = the role (chat, meet, pbx, turn).
 * - Log groups: logGroupOf(config, role, log).
 */
import { ASTERISK_PATHS, DATA_DIR, LOG_DIR } from '../userdata/paths';
import { metricsNamespaceOf } from './names';
import type { EnvironmentConfig, Role } from './schema';

/** The CloudWatch agent's namespace for the host metrics it collects (memory, disks): the environment's. */
export function agentNamespaceOf(config: Pick<EnvironmentConfig, 'name'>): string {
  return metricsNamespaceOf(config);
}
/** Dimensions the agent puts on every host metric: the role (append_dimensions from the instance's tag) and, for disks, the mount path. */
export const AGENT_DIMENSIONS = { host: 'Host', path: 'path' } as const;
/** Agent metric names (its measurement names with the plugin prefix, as the agent publishes them). */
export const AGENT_METRICS = { memoryUsed: 'mem_used_percent', diskUsed: 'disk_used_percent' } as const;

/** The dimension of the environment-namespace metrics below: the host's role. */
export const HOST_DIMENSION = 'Host';

/** Application and host-event metrics in the environment's namespace, with HOST_DIMENSION. */
export const HOST_METRICS = {
  /** meet: JVB's colibri stats. */
  conferences: 'Conferences',
  participants: 'Participants',
  /** meet: recordings in progress on its own Jibri and uploads waiting to go to S3. */
  recordingsInProgress: 'RecordingsInProgress',
  uploadsPending: 'UploadsPending',
  /** chat: users online (Rocket.Chat's Prometheus endpoint on loopback). */
  usersOnline: 'UsersOnline',
  /** pbx: active calls (Asterisk). */
  activeCalls: 'ActiveCalls',
  /** pbx: SIP authentication failures (from Asterisk's security log, a metric filter on its log group). */
  sipAuthFailures: 'SipAuthFailures',
  /** every host: 1 when the last bootstrap or apply failed, 0 when it succeeded (host-metrics.sh, from their state). */
  bootstrapFailed: 'BootstrapFailed',
  applyFailed: 'ApplyFailed',
  /** hosts with a certificate (chat, meet, pbx, turn): days until it expires. */
  certificateDaysLeft: 'CertificateDaysLeft',
} as const;

/** The host logs the agent ships, by key: the file on the host and the log group's last name part. */
export const HOST_LOGS = {
  bootstrap: { file: `${LOG_DIR}/bootstrap.log`, group: 'bootstrap' },
  apply: { file: `${LOG_DIR}/apply.log`, group: 'apply' },
} as const;

/** Asterisk's security log on the pbx host (its log group feeds SipAuthFailures). */
export const ASTERISK_SECURITY_LOG = { file: ASTERISK_PATHS.securityLog, group: 'asterisk-security' } as const;

/** The alarms every host gets (constructs/observability.ts), and pbx's own: one source for the plan and the cost. */
export const HOST_ALARM_KINDS = ['disk-root', 'disk-data', 'bootstrap-failed', 'apply-failed', 'certificate', 'silent'] as const;
export const PBX_ALARM_KINDS = ['sip-auth-failures'] as const;

/** A log group's name: /weebeetalk/<env>/<role>/<log>. */
export function logGroupOf(config: Pick<EnvironmentConfig, 'name'>, role: Role, log: string): string {
  return `/weebeetalk/${config.name}/${role}/${log}`;
}

/** The disks the agent reports disk_used_percent for, by their `path` dimension (the mount point): the root and the data volume. */
export const AGENT_DISK_PATHS = { root: '/', data: DATA_DIR } as const;

/**
 * HOST_METRICS that a CloudWatch Logs metric filter produces rather than a host: a filter's dimensions can only be
 * fields of the log event, never a constant, so these carry no HOST_DIMENSION (each has one source): SipAuthFailures
 * (the pbx's ASTERISK_SECURITY_LOG group).
 */
export const METRICS_WITHOUT_HOST_DIMENSION: readonly string[] = [HOST_METRICS.sipAuthFailures];
