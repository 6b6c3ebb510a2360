/**
 * What an operator watches and is told about (issue 16): the environment's dashboard, its alarms mailed through an
 * SNS topic, and the log groups the hosts' CloudWatch agents ship to, with the metric filter that counts SIP
 * authentication failures in Asterisk's security log. Every metric and log name comes from config/metrics.ts and
 * config/names.ts, the contract the hosts publish under (README, "Dashboard and alarms").
 *
 * - Topic: `weebeetalk-<env>-alarms`, under the environment's key when kms.customerManagedKey is on (its policy then
 *   lets CloudWatch alarms use it), otherwise without server-side encryption: AWS's managed aws/sns key cannot be
 *   granted to CloudWatch, and an alarm cannot publish to a topic under it. The topic policy lets CloudWatch alarms
 *   of this account (named weebeetalk-<env>-*) publish, and nobody else.
 * - The email subscription stays "pending confirmation" until someone at observability.alarmEmail clicks AWS's link;
 *   Terraform cannot delete a pending one, AWS deletes it with the topic (or after 48 hours).
 * - Alarms per host: root and data disk, bootstrap and apply failures, certificate days left, a host that stopped
 *   reporting; the pbx's burst of SIP authentication failures. Each sends ALARM and OK to the topic and says what to
 *   do, with a link to its README entry (ALARM_RUNBOOK).
 */
import { Construct } from 'constructs';
import { Annotations } from 'cdktf';
import { CloudwatchDashboard } from '@cdktf/provider-aws/lib/cloudwatch-dashboard';
import { CloudwatchLogGroup } from '@cdktf/provider-aws/lib/cloudwatch-log-group';
import { CloudwatchLogMetricFilter } from '@cdktf/provider-aws/lib/cloudwatch-log-metric-filter';
import { CloudwatchMetricAlarm } from '@cdktf/provider-aws/lib/cloudwatch-metric-alarm';
import { DataAwsIamPolicyDocument } from '@cdktf/provider-aws/lib/data-aws-iam-policy-document';
import { SnsTopic } from '@cdktf/provider-aws/lib/sns-topic';
import { SnsTopicPolicy } from '@cdktf/provider-aws/lib/sns-topic-policy';
import { SnsTopicSubscription } from '@cdktf/provider-aws/lib/sns-topic-subscription';
import {
  AGENT_DIMENSIONS,
  AGENT_DISK_PATHS,
  AGENT_METRICS,
  agentNamespaceOf,
  ASTERISK_SECURITY_LOG,
  HOST_ALARM_KINDS,
  HOST_DIMENSION,
  HOST_LOGS,
  HOST_METRICS,
  PBX_ALARM_KINDS,
  logGroupOf,
} from '../config/metrics';
import { metricsNamespaceOf, POOL_METRICS, resourceNameOf } from '../config/names';
import type { EnvironmentConfig, Pool, Role } from '../config/schema';
import { PLACEHOLDER_MAIL_DOMAIN } from '../config/warnings';
import type { EnvironmentKey } from './environment-key';

/**
 * The Asterisk security events that are a failed authentication, as Debian 12's fail2ban filter for Asterisk counts
 * them (filter.d/asterisk.conf, the `SecurityEvent="..."` failregex the pbx's jail uses): a wrong password or digest,
 * a request from an address an endpoint's ACL refuses, a name that is no account.
 */
export const SIP_AUTH_FAILURE_EVENTS = ['ChallengeResponseFailed', 'InvalidPassword', 'FailedACL', 'InvalidAccountID'] as const;

/**
 * The metric filter's pattern: any of the events' names as a term (`?a ?b` is CloudWatch Logs' OR of terms). Each
 * name stands between the quotes of `SecurityEvent="<name>"` in res_security_log's line, and no other event's line
 * carries it (ChallengeSent, SuccessfulAuth... do not): unquoted alphanumeric terms, so no escaping is involved.
 */
export const SIP_AUTH_FAILURE_PATTERN = SIP_AUTH_FAILURE_EVENTS.map((e) => `?${e}`).join(' ');

/** An alarm's kind: its name suffix (weebeetalk-<env>-<role>-<kind>) and what it watches. */
export type AlarmKind = (typeof HOST_ALARM_KINDS)[number] | (typeof PBX_ALARM_KINDS)[number];

/** The README heading (under "Dashboard and alarms") each alarm's description links to, by kind. */
export const ALARM_RUNBOOK: Readonly<Record<AlarmKind, { readonly heading: string; readonly todo: string }>> = {
  'disk-root': { heading: 'Disk almost full', todo: 'free space (journal, Docker images, old logs) or grow the root volume (hosts.<role>.rootVolumeGiB)' },
  'disk-data': { heading: 'Disk almost full', todo: 'find what grows on it (recordings not uploaded, dumps, Docker), then grow hosts.<role>.dataVolumeGiB' },
  'bootstrap-failed': { heading: 'Bootstrap failed', todo: 'read its bootstrap log (the log group below, or bootstrap.log on the host), fix the cause, run sudo weebeetalk-bootstrap' },
  'apply-failed': { heading: 'Configuration apply failed', todo: "read its apply log (the log group below, or the association's output), fix, deploy again or start the association once" },
  certificate: { heading: 'Certificate expires soon', todo: "renewal has failed for two weeks: check DNS, port 80/443 or the Route53 challenge, and the ACME client's log" },
  silent: { heading: 'Host stopped reporting', todo: 'check the instance (status checks, console output), then the CloudWatch agent on it (systemctl status amazon-cloudwatch-agent)' },
  'sip-auth-failures': { heading: 'SIP authentication failures', todo: 'someone guesses SIP passwords: check fail2ban bans and security.log, narrow sip.clientCidrs/trunk lists' },
};

/** GitHub's anchor of a heading: lowercase, punctuation dropped, spaces to dashes. */
export function anchorOf(heading: string): string {
  return heading
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** The README link of an alarm kind, under the configured runbook address. */
export function runbookLinkOf(config: EnvironmentConfig, kind: AlarmKind): string {
  return `${config.observability.runbookUrl ?? 'README.md'}#${anchorOf(ALARM_RUNBOOK[kind].heading)}`;
}

/** Where the alarms are mailed: observability.alarmEmail, else the Let's Encrypt contact. */
export function alarmEmailOf(config: EnvironmentConfig): string {
  return config.observability.alarmEmail ?? config.letsEncryptEmail;
}

/** Periods of 5 minutes without memory figures after which a host counts as silent. */
export const SILENT_PERIODS = 3;
const FIVE_MINUTES = 300;

export interface ObservabilityProps {
  readonly config: EnvironmentConfig;
  /** The hosts, by role: their instance ids (references) for EC2's CPU figures. */
  readonly hosts: Readonly<Partial<Record<Role, { readonly instanceId: string }>>>;
  /** The pools' Auto Scaling groups (their POOL_METRICS dimension), by pool. @default none */
  readonly pools?: Readonly<Partial<Record<Pool, string>>>;
  /** Partition, region and account of the ARNs in the policies (the account may be a reference). */
  readonly arn: { readonly partition: string; readonly region: string; readonly account: string };
  /** The environment's key (kms.customerManagedKey): the topic and the log groups are encrypted with it. @default none */
  readonly key?: EnvironmentKey;
}

/** One metric of a dashboard widget: [namespace, name, dimension name, value, ..., options]. */
type WidgetMetric = [string, string, ...(string | { readonly label?: string; readonly stat?: string; readonly yAxis?: 'left' | 'right'; readonly period?: number })[]];

interface Widget {
  readonly type: 'metric' | 'text' | 'alarm';
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
  readonly properties: Record<string, unknown>;
}

/** The dashboard's body (CloudWatch's DashboardBody: a widgets array, start, periodOverride). */
export interface DashboardBody {
  readonly start: string;
  readonly periodOverride: 'auto' | 'inherit';
  readonly widgets: readonly Widget[];
}

export class Observability extends Construct {
  readonly topic: SnsTopic;
  readonly subscription: SnsTopicSubscription;
  /** The log groups by name (/weebeetalk/<env>/<role>/<log>). */
  readonly logGroups: Readonly<Record<string, CloudwatchLogGroup>>;
  readonly alarms: readonly CloudwatchMetricAlarm[];
  readonly dashboard: CloudwatchDashboard;
  /** The dashboard's body as data (the same object the dashboard's JSON is serialized from). */
  readonly body: DashboardBody;
  /** The console address of the dashboard. */
  readonly dashboardUrl: string;

  constructor(scope: Construct, id: string, props: ObservabilityProps) {
    super(scope, id);
    const { config, arn, key } = props;
    const o = config.observability;
    const name = resourceNameOf(config);
    const namespace = metricsNamespaceOf(config);
    const region = arn.region;
    const roles = (Object.keys(props.hosts) as Role[]).filter((r) => props.hosts[r] !== undefined);

    // Logs: the groups exist before any agent ships (the hosts may not create groups: test/teardown.test.ts).
    const keyArn = key?.arn;
    key?.allowCloudWatchLogs(`arn:${arn.partition}:logs:${region}:${arn.account}:log-group:/weebeetalk/${config.name}/*`);
    const logGroups: Record<string, CloudwatchLogGroup> = {};
    const group = (role: Role, logId: string, log: string): CloudwatchLogGroup =>
      (logGroups[logGroupOf(config, role, log)] = new CloudwatchLogGroup(this, `${role}-${logId}-logs`, {
        name: logGroupOf(config, role, log),
        retentionInDays: o.logRetentionDays,
        kmsKeyId: keyArn,
      }));
    for (const role of roles) for (const [logId, log] of Object.entries(HOST_LOGS)) group(role, logId, log.group);
    this.logGroups = logGroups;
    if (props.hosts.pbx) {
      const security = group('pbx', 'asterisk-security', ASTERISK_SECURITY_LOG.group);
      new CloudwatchLogMetricFilter(this, 'sip-auth-failures', {
        name: `${resourceNameOf(config, 'pbx')}-sip-auth-failures`,
        logGroupName: security.name,
        pattern: SIP_AUTH_FAILURE_PATTERN,
        // No dimension: a filter's dimensions are fields of the event, never a constant (config/metrics.ts).
        metricTransformation: { name: HOST_METRICS.sipAuthFailures, namespace, value: '1', defaultValue: '0', unit: 'Count' },
      });
    }

    // The topic and who may publish to it.
    if (key) key.allowAlarmNotifications();
    this.topic = new SnsTopic(this, 'alarm-topic', { name: `${name}-alarms`, displayName: `WeeBeeTalk ${config.name}`, kmsMasterKeyId: keyArn });
    // One reference for all its uses: every attribute read creates a token (and captures a stack trace).
    const topicArn = this.topic.arn;
    const alarmArns = `arn:${arn.partition}:cloudwatch:${region}:${arn.account}:alarm:${name}-*`;
    const policy = new DataAwsIamPolicyDocument(this, 'alarm-topic-policy-document', {
      statement: [
        {
          sid: 'AccountManagesTopic',
          principals: [{ type: 'AWS', identifiers: [`arn:${arn.partition}:iam::${arn.account}:root`] }],
          actions: ['sns:GetTopicAttributes', 'sns:SetTopicAttributes', 'sns:AddPermission', 'sns:RemovePermission', 'sns:DeleteTopic', 'sns:Subscribe', 'sns:ListSubscriptionsByTopic'],
          resources: [topicArn],
        },
        {
          sid: 'CloudWatchAlarmsPublish',
          principals: [{ type: 'Service', identifiers: ['cloudwatch.amazonaws.com'] }],
          actions: ['sns:Publish'],
          resources: [topicArn],
          condition: [
            { test: 'ArnLike', variable: 'aws:SourceArn', values: [alarmArns] },
            { test: 'StringEquals', variable: 'aws:SourceAccount', values: [arn.account] },
          ],
        },
        {
          // Nobody else publishes: an IAM principal's own sns:Publish (or another account's) is refused here.
          sid: 'OnlyCloudWatchPublishes',
          effect: 'Deny',
          principals: [{ type: 'AWS', identifiers: ['*'] }],
          actions: ['sns:Publish'],
          resources: [topicArn],
          condition: [{ test: 'Bool', variable: 'aws:PrincipalIsAWSService', values: ['false'] }],
        },
        {
          sid: 'TlsOnly',
          effect: 'Deny',
          principals: [{ type: 'AWS', identifiers: ['*'] }],
          actions: ['sns:*'],
          resources: [topicArn],
          condition: [{ test: 'Bool', variable: 'aws:SecureTransport', values: ['false'] }],
        },
      ],
    });
    new SnsTopicPolicy(this, 'alarm-topic-policy', { arn: topicArn, policy: policy.json });
    const email = alarmEmailOf(config);
    if ((email.split('@')[1] ?? '') === PLACEHOLDER_MAIL_DOMAIN)
      Annotations.of(this).addWarning(
        `observability.alarmEmail${config.observability.alarmEmail === undefined ? ' (unset: letsEncryptEmail)' : ''} = "${email}": is the shipped placeholder: the alarms would be mailed nowhere: set a mailbox you read`,
      );
    // Pending until someone at the address clicks AWS's confirmation link (README, "Dashboard and alarms").
    this.subscription = new SnsTopicSubscription(this, 'alarm-email', { topicArn, protocol: 'email', endpoint: email });

    // The alarms.
    const alarms: CloudwatchMetricAlarm[] = [];
    const alarm = (
      owner: Role,
      kind: AlarmKind,
      what: string,
      metric: { namespace: string; name: string; dimensions?: Record<string, string>; statistic: string; period: number },
      rule: { comparison: string; threshold: number; periods: number; missing: 'missing' | 'ignore' | 'breaching' | 'notBreaching' },
      logGroup?: string,
    ): void => {
      // No host path here: the scripts get theirs from host.env (test/host-paths.test.ts reads the plan for typed ones).
      const description = `${what}. What to do: ${ALARM_RUNBOOK[kind].todo}.${logGroup ? ` Log group: ${logGroup}.` : ''} ${runbookLinkOf(config, kind)}`;
      alarms.push(
        new CloudwatchMetricAlarm(this, `${owner}-${kind}-alarm`, {
          alarmName: `${resourceNameOf(config, owner)}-${kind}`,
          alarmDescription: description,
          namespace: metric.namespace,
          metricName: metric.name,
          dimensions: metric.dimensions,
          statistic: metric.statistic,
          period: metric.period,
          evaluationPeriods: rule.periods,
          datapointsToAlarm: rule.periods,
          threshold: rule.threshold,
          comparisonOperator: rule.comparison,
          treatMissingData: rule.missing,
          alarmActions: [topicArn],
          okActions: [topicArn],
        }),
      );
    };
    for (const role of roles) {
      const host = { [HOST_DIMENSION]: role };
      const hostName = resourceNameOf(config, role);
      for (const [disk, path] of Object.entries(AGENT_DISK_PATHS) as ['root' | 'data', string][])
        alarm(
          role,
          `disk-${disk}`,
          `${hostName}: the ${disk} disk (${path}) is more than ${o.diskAlarmPercent} % full`,
          {
            namespace: agentNamespaceOf(config),
            name: AGENT_METRICS.diskUsed,
            dimensions: { [AGENT_DIMENSIONS.host]: role, [AGENT_DIMENSIONS.path]: path },
            statistic: 'Maximum',
            period: FIVE_MINUTES,
          },
          // Two periods: a download or an upload in progress passes.
          { comparison: 'GreaterThanThreshold', threshold: o.diskAlarmPercent, periods: 2, missing: 'missing' },
        );
      // Published every minute by host-metrics.sh (1 failed, 0 not), none while an apply runs: the state holds then.
      alarm(
        role,
        'bootstrap-failed',
        `${hostName}: the last bootstrap failed`,
        { namespace, name: HOST_METRICS.bootstrapFailed, dimensions: host, statistic: 'Maximum', period: FIVE_MINUTES },
        { comparison: 'GreaterThanOrEqualToThreshold', threshold: 1, periods: 1, missing: 'ignore' },
        logGroupOf(config, role, HOST_LOGS.bootstrap.group),
      );
      alarm(
        role,
        'apply-failed',
        `${hostName}: the last configuration apply failed`,
        { namespace, name: HOST_METRICS.applyFailed, dimensions: host, statistic: 'Maximum', period: FIVE_MINUTES },
        { comparison: 'GreaterThanOrEqualToThreshold', threshold: 1, periods: 1, missing: 'ignore' },
        logGroupOf(config, role, HOST_LOGS.apply.group),
      );
      // Every host has a certificate: chat (Traefik), meet (Jitsi's web), pbx and turn (certbot).
      alarm(
        role,
        'certificate',
        `${hostName}: its certificate expires in less than ${o.certificateAlarmDays} days`,
        { namespace, name: HOST_METRICS.certificateDaysLeft, dimensions: host, statistic: 'Minimum', period: 3600 },
        { comparison: 'LessThanThreshold', threshold: o.certificateAlarmDays, periods: 1, missing: 'ignore' },
      );
      // Memory figures arrive every minute from a running agent: none for 15 minutes is a silent host. SampleCount
      // is never below 1 when there is data; missing periods breach.
      alarm(
        role,
        'silent',
        `${hostName}: no figures from its CloudWatch agent for ${(SILENT_PERIODS * FIVE_MINUTES) / 60} minutes`,
        { namespace: agentNamespaceOf(config), name: AGENT_METRICS.memoryUsed, dimensions: { [AGENT_DIMENSIONS.host]: role }, statistic: 'SampleCount', period: FIVE_MINUTES },
        { comparison: 'LessThanThreshold', threshold: 1, periods: SILENT_PERIODS, missing: 'breaching' },
      );
    }
    if (props.hosts.pbx)
      alarm(
        'pbx',
        'sip-auth-failures',
        `${resourceNameOf(config, 'pbx')}: ${o.sipAuthFailureBurst} or more SIP authentication failures in 5 minutes`,
        { namespace, name: HOST_METRICS.sipAuthFailures, statistic: 'Sum', period: FIVE_MINUTES },
        { comparison: 'GreaterThanOrEqualToThreshold', threshold: o.sipAuthFailureBurst, periods: 1, missing: 'notBreaching' },
      );
    this.alarms = alarms;

    this.body = dashboardBody(config, { ...props, roles }, alarms);
    this.dashboard = new CloudwatchDashboard(this, 'dashboard', { dashboardName: name, dashboardBody: JSON.stringify(this.body) });
    const consoleHost = arn.partition === 'aws-cn' ? 'console.amazonaws.cn' : arn.partition === 'aws-us-gov' ? 'console.amazonaws-us-gov.com' : `${region}.console.aws.amazon.com`;
    this.dashboardUrl = `https://${consoleHost}/cloudwatch/home?region=${region}#dashboards/dashboard/${name}`;
  }
}

/**
 * The dashboard: a title, the alarms' state, then per host CPU, memory and disks, then what the products do. The
 * instance ids and alarm ARNs are references: the body is this object serialized, which Terraform completes.
 */
function dashboardBody(config: EnvironmentConfig, props: ObservabilityProps & { roles: readonly Role[] }, alarms: readonly CloudwatchMetricAlarm[]): DashboardBody {
  const region = props.arn.region;
  const o = config.observability;
  const namespace = metricsNamespaceOf(config);
  const { roles } = props;
  const widgets: Widget[] = [];
  let x = 0;
  let y = 0;
  const place = (width: number, height: number, type: Widget['type'], properties: Record<string, unknown>): void => {
    if (x + width > 24) {
      x = 0;
      y += 6;
    }
    widgets.push({ type, x, y, width, height, properties });
    x += width;
  };
  const graph = (title: string, metrics: WidgetMetric[], extra: Record<string, unknown> = {}): void =>
    place(8, 6, 'metric', { title, region, view: 'timeSeries', stacked: false, period: FIVE_MINUTES, stat: 'Maximum', metrics, ...extra });
  const hostMetric = (role: Role, metric: string, label: string, options: { stat?: string; yAxis?: 'left' | 'right' } = {}): WidgetMetric => [
    namespace,
    metric,
    HOST_DIMENSION,
    role,
    { label, ...options },
  ];
  // A pool's figure: each member publishes its own under the pool's name, so a minute's statistic spans the members.
  const poolMetric = (group: string, metric: string, label: string, stat: string): WidgetMetric => [namespace, metric, POOL_METRICS.dimension, group, { label, stat, period: 60 }];
  const percent = { yAxis: { left: { min: 0, max: 100 } } };

  widgets.push({
    type: 'text',
    x: 0,
    y: 0,
    width: 24,
    height: 2,
    properties: {
      markdown: `# WeeBeeTalk ${config.name}\nWhat each graph shows and what to do about an alarm: [README, "Dashboard and alarms"](${config.observability.runbookUrl ?? 'README.md'}#dashboard-and-alarms). Alarms are mailed to the topic's confirmed subscribers.`,
    },
  });
  widgets.push({ type: 'alarm', x: 0, y: 2, width: 24, height: 4, properties: { title: "Alarms' state", alarms: alarms.map((a) => a.arn), sortBy: 'stateUpdatedTimestamp' } });
  y = 6;
  graph(
    'CPU per host (%)',
    roles.map((r) => ['AWS/EC2', 'CPUUtilization', 'InstanceId', props.hosts[r]!.instanceId, { label: r, stat: 'Average' }] as WidgetMetric),
    { stat: 'Average', ...percent },
  );
  graph(
    'Memory used per host (%)',
    roles.map((r) => [agentNamespaceOf(config), AGENT_METRICS.memoryUsed, AGENT_DIMENSIONS.host, r, { label: r }] as WidgetMetric),
    percent,
  );
  graph(
    'Disks used per host (%)',
    roles.flatMap((r) =>
      Object.entries(AGENT_DISK_PATHS).map(
        ([disk, path]) => [agentNamespaceOf(config), AGENT_METRICS.diskUsed, AGENT_DIMENSIONS.host, r, AGENT_DIMENSIONS.path, path, { label: `${r} ${disk}` }] as WidgetMetric,
      ),
    ),
    { ...percent, annotations: { horizontal: [{ label: 'alarm', value: o.diskAlarmPercent }] } },
  );
  const jvb = props.pools?.jvb;
  // The meet host's own bridge, and the pool's bridges summed per minute (each member publishes its own once a minute,
  // with the pool's name).
  graph('Meetings and participants (meet and the JVB pool)', [
    hostMetric('meet', HOST_METRICS.conferences, 'meetings (meet)'),
    hostMetric('meet', HOST_METRICS.participants, 'participants (meet)'),
    ...(jvb ? [poolMetric(jvb, HOST_METRICS.conferences, 'meetings (pool bridges)', 'Sum'), poolMetric(jvb, HOST_METRICS.participants, 'participants (pool bridges)', 'Sum')] : []),
  ]);
  graph('Calls (pbx)', [
    hostMetric('pbx', HOST_METRICS.activeCalls, 'calls in progress'),
    [namespace, HOST_METRICS.sipAuthFailures, { label: 'SIP authentication failures (per 5 min)', stat: 'Sum', yAxis: 'right' }],
  ]);
  const jibri = props.pools?.jibri;
  graph('Recordings (meet)', [
    hostMetric('meet', HOST_METRICS.recordingsInProgress, 'recordings in progress'),
    hostMetric('meet', HOST_METRICS.uploadsPending, 'uploads pending'),
    // Each recorder (the meet host's own Jibri too) says 1 idle or 0 busy once a minute: a minute's Sum is the idle
    // ones, its SampleCount all that report (busy = the difference); per minute, as the members publish.
    ...(jibri ? [poolMetric(jibri, POOL_METRICS.idleRecorders, 'idle recorders', 'Sum'), poolMetric(jibri, POOL_METRICS.idleRecorders, 'recorders reporting', 'SampleCount')] : []),
  ]);
  graph('Rocket.Chat users online (chat)', [hostMetric('chat', HOST_METRICS.usersOnline, 'users online')]);
  if (jvb) graph('Bridge stress (1 = a full bridge)', [[namespace, POOL_METRICS.bridgeStress, POOL_METRICS.dimension, jvb, { label: 'average stress', stat: 'Average' }]], { stat: 'Average' });
  graph(
    'Certificate days left per host',
    roles.map((r) => hostMetric(r, HOST_METRICS.certificateDaysLeft, r, { stat: 'Minimum' })),
    { stat: 'Minimum', period: 3600, annotations: { horizontal: [{ label: 'alarm', value: o.certificateAlarmDays }] } },
  );
  graph(
    'Bootstrap and apply failed (1 = the last run failed)',
    roles.flatMap((r) => [hostMetric(r, HOST_METRICS.bootstrapFailed, `${r} bootstrap`), hostMetric(r, HOST_METRICS.applyFailed, `${r} apply`)]),
  );
  return { start: '-PT12H', periodOverride: 'inherit', widgets };
}
