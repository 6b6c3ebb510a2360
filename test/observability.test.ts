/**
 * Issue 16, items 2 and 3: the dashboard, the alarms and their topic, the hosts' log groups and the metric filter on
 * Asterisk's security log (constructs/observability.ts). Both ends of config/metrics.ts: every metric a widget or an
 * alarm reads is one the contract names (or POOL_METRICS, or EC2's CPU), with the dimensions it is published under.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AnnotationMetadataEntryType, TerraformStack, Testing } from 'cdktf';
import { ConfigError, loadEnvironment } from '../config/load';
import {
  AGENT_DIMENSIONS,
  AGENT_DISK_PATHS,
  AGENT_METRICS,
  ASTERISK_SECURITY_LOG,
  HOST_ALARM_KINDS,
  HOST_DIMENSION,
  HOST_LOGS,
  HOST_METRICS,
  METRICS_WITHOUT_HOST_DIMENSION,
  PBX_ALARM_KINDS,
  logGroupOf,
} from '../config/metrics';
import { metricsNamespaceOf, POOL_METRICS, poolGroupOf } from '../config/names';
import { enabledPools, enabledRoles, LOG_RETENTION_DAYS, type EnvironmentConfig } from '../config/schema';
import { ALARM_RUNBOOK, alarmEmailOf, anchorOf, Observability, SIP_AUTH_FAILURE_EVENTS, SIP_AUTH_FAILURE_PATTERN, type DashboardBody } from '../constructs/observability';
import { buildApp } from '../main';
import { environmentsDir, shipped } from './support/environments-dir';
import { authorizeKeyForService, keyPolicyStatements } from './support/key-policy';
import { asArray, asObject, dataSources, referenced, resources, single, synthEnvironment, synthVariant, variantFile, type Item, type Synthesized } from './support/synth';

const ACCOUNT = '111122223333';
const staging = (): Synthesized => synthEnvironment('staging');
const production = (): Synthesized => synthEnvironment('production');
/** Every threshold and the mailbox set, the runbook published elsewhere. */
const tuned = (): Synthesized =>
  synthVariant('staging-observability-tuned', 'staging', {
    observability: {
      alarmEmail: 'noc@weebeetalk-ops.com',
      diskAlarmPercent: 70,
      certificateAlarmDays: 10,
      sipAuthFailureBurst: 5,
      logRetentionDays: 30,
      runbookUrl: 'https://git.weebeetalk-ops.com/infra/README.md',
    },
  });
const ENVS: [string, () => Synthesized][] = [
  ['staging', staging],
  ['production', production],
  ['tuned', tuned],
];

/** Observability's own alarms (the hosts' recover alarms and the pools' scaling alarms are not mailed). */
const mailedAlarms = (s: Synthesized): Item[] => resources(s, 'aws_cloudwatch_metric_alarm').filter((a) => a.key.startsWith('observability_'));
const topic = (s: Synthesized): Item => single(resources(s, 'aws_sns_topic'), 'alarm topic');
const body = (s: Synthesized): DashboardBody => JSON.parse(String(single(resources(s, 'aws_cloudwatch_dashboard'), 'dashboard').block.dashboard_body)) as DashboardBody;

/**
 * Why a metric (namespace, name, dimensions) is not one config/metrics.ts or config/names.ts names, with the dimensions
 * it is published under, or undefined. Instance ids are references to the plan's instances.
 */
function offContract(s: Synthesized, namespace: string, name: string, dims: Record<string, string>): string | undefined {
  const roles: string[] = enabledRoles(s.config);
  const keys = Object.keys(dims).sort().join(',');
  const instances = resources(s, 'aws_instance').map((i) => i.ref('id'));
  if (namespace === 'AWS/EC2') return name === 'CPUUtilization' && keys === 'InstanceId' && instances.includes(dims.InstanceId) ? undefined : 'not EC2 CPU of a host';
  if (namespace !== metricsNamespaceOf(s.config)) return `namespace ${namespace}`;
  if ((Object.values(AGENT_METRICS) as string[]).includes(name)) {
    if (!roles.includes(dims[AGENT_DIMENSIONS.host])) return `Host ${dims[AGENT_DIMENSIONS.host]} is no host`;
    if (name === AGENT_METRICS.diskUsed)
      return keys === [AGENT_DIMENSIONS.host, AGENT_DIMENSIONS.path].sort().join(',') && (Object.values(AGENT_DISK_PATHS) as string[]).includes(dims.path) ? undefined : `disk dimensions ${keys}`;
    return keys === AGENT_DIMENSIONS.host ? undefined : `memory dimensions ${keys}`;
  }
  if (name === POOL_METRICS.idleRecorders || name === POOL_METRICS.bridgeStress) {
    const groups = enabledPools(s.config).map((p) => poolGroupOf(s.config, p));
    return keys === POOL_METRICS.dimension && groups.includes(dims[POOL_METRICS.dimension]) ? undefined : `pool dimensions ${JSON.stringify(dims)}`;
  }
  if (!(Object.values(HOST_METRICS) as string[]).includes(name)) return `${name} is not a HOST_METRICS name`;
  // A pool bridge's meetings and participants, which its members publish under the pool (pool-member.sh).
  if ((name === HOST_METRICS.conferences || name === HOST_METRICS.participants) && keys === POOL_METRICS.dimension)
    return s.config.jitsi.jvbPool.enabled && dims[POOL_METRICS.dimension] === poolGroupOf(s.config, 'jvb') ? undefined : `pool dimensions ${JSON.stringify(dims)}`;
  if (METRICS_WITHOUT_HOST_DIMENSION.includes(name)) return keys === '' ? undefined : `${name} has no dimension, not ${keys}`;
  return keys === HOST_DIMENSION && roles.includes(dims[HOST_DIMENSION]) ? undefined : `host dimensions ${JSON.stringify(dims)}`;
}

/** A dashboard metric array: [namespace, name, k1, v1, ..., options?]. */
function parseWidgetMetric(m: unknown[]): { namespace: string; name: string; dims: Record<string, string> } {
  const parts = m.filter((p) => typeof p === 'string');
  const dims: Record<string, string> = {};
  for (let i = 2; i < parts.length; i += 2) dims[parts[i]] = parts[i + 1];
  return { namespace: parts[0], name: parts[1], dims };
}

/** The README's anchors, as GitHub makes them (a repeated heading gets -1, -2...), outside code blocks. */
function readmeAnchors(): Set<string> {
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  let fenced = false;
  for (const line of readFileSync(join(__dirname, '..', 'README.md'), 'utf8').split('\n')) {
    if (line.startsWith('```')) fenced = !fenced;
    const m = !fenced && /^#{1,6} (.+)$/.exec(line);
    if (!m) continue;
    const base = anchorOf(m[1].trim());
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  return anchors;
}

describe.each(ENVS)('%s: both ends of config/metrics.ts', (_label, synth) => {
  test('every alarm reads a metric the contract names, under the dimensions it is published with; every host has each kind', () => {
    const s = synth();
    const alarms = mailedAlarms(s);
    const problems = alarms.flatMap((a) => {
      const why = offContract(s, String(a.block.namespace), String(a.block.metric_name), (a.block.dimensions ?? {}) as Record<string, string>);
      return why === undefined ? [] : [`${String(a.block.alarm_name)}: ${why}`];
    });
    expect(problems).toEqual([]);
    const names = alarms.map((a) => String(a.block.alarm_name)).sort();
    const kinds = ['disk-root', 'disk-data', 'bootstrap-failed', 'apply-failed', 'certificate', 'silent'];
    // What the cost command counts (config/metrics.ts) is what the plan has.
    expect([[...HOST_ALARM_KINDS], [...PBX_ALARM_KINDS]]).toEqual([kinds, ['sip-auth-failures']]);
    expect(names).toEqual([...enabledRoles(s.config).flatMap((r) => kinds.map((k) => `weebeetalk-${s.config.name}-${r}-${k}`)), `weebeetalk-${s.config.name}-pbx-sip-auth-failures`].sort());
  });

  test("every widget's metric is one the contract names; the alarm widget shows every alarm; widgets fit CloudWatch's 24-column grid without overlap", () => {
    const s = synth();
    const b = body(s);
    const metrics = b.widgets.filter((w) => w.type === 'metric').flatMap((w) => asArray(w.properties.metrics, `${String(w.properties.title)} metrics`).map((m) => asArray(m, 'metric')));
    const problems = metrics.flatMap((m) => {
      const { namespace, name, dims } = parseWidgetMetric(m);
      const why = offContract(s, namespace, name, dims);
      return why === undefined ? [] : [`${name}: ${why}`];
    });
    expect(problems).toEqual([]);
    // Each metric of the contract that some host publishes is on the dashboard (the pool metrics with their pools).
    const shown = new Set(metrics.map((m) => parseWidgetMetric(m).name));
    expect([...Object.values(HOST_METRICS), ...Object.values(AGENT_METRICS), 'CPUUtilization'].filter((n) => !shown.has(n))).toEqual([]);
    for (const pool of enabledPools(s.config)) expect(shown.has(pool === 'jibri' ? POOL_METRICS.idleRecorders : POOL_METRICS.bridgeStress)).toBe(true);
    // CPU, memory and disks of every host; every metric widget names its region.
    for (const w of b.widgets.filter((x) => x.type === 'metric'))
      expect({ title: w.properties.title, region: w.properties.region }).toEqual({ title: w.properties.title, region: s.config.aws.region });
    const alarmWidget = single(
      b.widgets.filter((w) => w.type === 'alarm').map((w, i) => ({ type: 'widget', key: String(i), block: w.properties, address: `widget ${i}`, ref: () => '' })),
      'alarm widget',
    );
    expect([...asArray(alarmWidget.block.alarms, 'alarms')].sort()).toEqual(
      mailedAlarms(s)
        .map((a) => a.ref('arn'))
        .sort(),
    );
    const cells = new Set<string>();
    for (const w of b.widgets) {
      expect(w.x + w.width).toBeLessThanOrEqual(24);
      for (let x = w.x; x < w.x + w.width; x++)
        for (let y = w.y; y < w.y + w.height; y++) {
          expect(cells.has(`${x},${y}`)).toBe(false);
          cells.add(`${x},${y}`);
        }
    }
  });

  test('every alarm sends ALARM and OK to the topic, and its description says what to do with a link to a README heading that exists', () => {
    const s = synth();
    const anchors = readmeAnchors();
    const base = s.config.observability.runbookUrl ?? 'README.md';
    for (const a of mailedAlarms(s)) {
      const description = String(a.block.alarm_description);
      const link = /(\S+)#([a-z0-9-]+)$/.exec(description);
      expect({ alarm: a.block.alarm_name, alarmActions: a.block.alarm_actions, okActions: a.block.ok_actions, what: description.includes('What to do: '), base: link?.[1] }).toEqual({
        alarm: a.block.alarm_name,
        alarmActions: [topic(s).ref('arn')],
        okActions: [topic(s).ref('arn')],
        what: true,
        base,
      });
      expect({ alarm: a.block.alarm_name, anchor: link?.[2], exists: anchors.has(link?.[2] ?? '') }).toEqual({ alarm: a.block.alarm_name, anchor: link?.[2], exists: true });
      expect(description.length).toBeLessThanOrEqual(1024);
    }
    // The dashboard's title links to the section itself.
    expect(anchors.has('dashboard-and-alarms')).toBe(true);
    for (const { heading } of Object.values(ALARM_RUNBOOK)) expect(anchors.has(anchorOf(heading))).toBe(true);
  });
});

test('two environments of one account read and write none of the same figures: every alarm reads its own namespace', () => {
  const [staging, production] = [synthEnvironment('staging'), synthEnvironment('production')];
  const triple = (a: Item): string => JSON.stringify([a.block.namespace, a.block.metric_name, a.block.dimensions ?? {}]);
  const theirs = new Set(resources(production, 'aws_cloudwatch_metric_alarm').map(triple));
  expect(
    resources(staging, 'aws_cloudwatch_metric_alarm')
      .map(triple)
      .filter((t) => theirs.has(t) && !t.startsWith('["AWS/')),
  ).toEqual([]);
});

describe('thresholds and missing data', () => {
  const byKind = (s: Synthesized, kind: string): Item[] => mailedAlarms(s).filter((a) => String(a.block.alarm_name).endsWith(`-${kind}`));

  test.each([
    ['staging', staging, { disk: 80, cert: 14, sip: 20 }],
    ['tuned', tuned, { disk: 70, cert: 10, sip: 5 }],
  ] as const)('%s: thresholds come from observability.*', (_l, synth, want) => {
    const s = synth();
    for (const a of [...byKind(s, 'disk-root'), ...byKind(s, 'disk-data')]) expect([a.block.threshold, a.block.comparison_operator]).toEqual([want.disk, 'GreaterThanThreshold']);
    for (const a of byKind(s, 'certificate')) expect([a.block.threshold, a.block.comparison_operator]).toEqual([want.cert, 'LessThanThreshold']);
    expect(byKind(s, 'sip-auth-failures').map((a) => [a.block.threshold, a.block.statistic, a.block.period])).toEqual([[want.sip, 'Sum', 300]]);
    const disks = single(
      body(s).widgets.map((w, i) => ({ type: 'w', key: String(i), block: w.properties, address: String(i), ref: () => '' })),
      'disk widget',
      (w) => String(w.block.title).startsWith('Disks'),
    );
    expect(disks.block.annotations).toEqual({ horizontal: [{ label: 'alarm', value: want.disk }] });
  });

  test('a silent host breaches (no memory figures for 15 minutes); run results and certificates hold their state between datapoints; no flapping OK mail', () => {
    const s = staging();
    for (const a of byKind(s, 'silent'))
      expect([a.block.metric_name, a.block.statistic, a.block.treat_missing_data, a.block.evaluation_periods, a.block.comparison_operator, a.block.threshold]).toEqual([
        AGENT_METRICS.memoryUsed,
        'SampleCount',
        'breaching',
        3,
        'LessThanThreshold',
        1,
      ]);
    for (const kind of ['bootstrap-failed', 'apply-failed', 'certificate']) for (const a of byKind(s, kind)) expect({ kind, missing: a.block.treat_missing_data }).toEqual({ kind, missing: 'ignore' });
    for (const a of byKind(s, 'sip-auth-failures')) expect(a.block.treat_missing_data).toBe('notBreaching');
  });
});

describe('log groups', () => {
  test.each([
    ['staging', staging, 7],
    ['production', production, 90],
    ['tuned', tuned, 30],
  ] as const)('%s: every host ships bootstrap and apply logs, pbx its security log, kept for the tier`s retention', (_l, synth, days) => {
    const s = synth();
    const groups = resources(s, 'aws_cloudwatch_log_group');
    const want = [...enabledRoles(s.config).flatMap((r) => Object.values(HOST_LOGS).map((l) => logGroupOf(s.config, r, l.group))), logGroupOf(s.config, 'pbx', ASTERISK_SECURITY_LOG.group)];
    expect(groups.map((g) => g.block.name).sort()).toEqual(want.sort());
    expect([...new Set(groups.map((g) => g.block.retention_in_days))]).toEqual([days]);
    expect(LOG_RETENTION_DAYS).toContain(days);
    for (const g of groups) expect([g.block.skip_destroy, g.block.deletion_protection_enabled]).toEqual([undefined, undefined]);
  });

  test('production encrypts them with the environment key, whose policy lets CloudWatch Logs use it for these groups only; staging has no key', () => {
    const s = production();
    const key = single(resources(s, 'aws_kms_key'), 'key');
    const groups = resources(s, 'aws_cloudwatch_log_group');
    for (const g of groups) expect(g.block.kms_key_id).toBe(key.ref('arn'));
    for (const g of resources(staging(), 'aws_cloudwatch_log_group')) expect(g.block.kms_key_id).toBeUndefined();
    const policy = keyPolicyStatements(referenced(dataSources(s, 'aws_iam_policy_document'), key.block.policy), { 'data.aws_caller_identity.account.account_id': ACCOUNT });
    const keyArn = `arn:aws:kms:ap-southeast-3:${ACCOUNT}:key/0f0f0f0f-1111-2222-3333-444455556666`;
    const logs = (group: string, action = 'kms:GenerateDataKey') =>
      authorizeKeyForService(policy, keyArn, {
        service: 'logs.ap-southeast-3.amazonaws.com',
        action,
        context: { 'kms:EncryptionContext:aws:logs:arn': [`arn:aws:logs:ap-southeast-3:${ACCOUNT}:log-group:${group}`] },
      });
    for (const g of groups)
      for (const action of ['kms:Encrypt', 'kms:Decrypt', 'kms:GenerateDataKey', 'kms:DescribeKey'])
        expect({ g: g.block.name, action, d: logs(String(g.block.name), action) }).toEqual({ g: g.block.name, action, d: 'allow' });
    // Another environment's group, another region's service, another service: nothing.
    expect(logs('/weebeetalk/staging/pbx/apply')).toBe('implicit-deny');
    expect(logs('/aws/lambda/anything')).toBe('implicit-deny');
    expect(
      authorizeKeyForService(policy, keyArn, {
        service: 'logs.us-east-1.amazonaws.com',
        action: 'kms:Decrypt',
        context: { 'kms:EncryptionContext:aws:logs:arn': [`arn:aws:logs:ap-southeast-3:${ACCOUNT}:log-group:/weebeetalk/production/pbx/apply`] },
      }),
    ).toBe('implicit-deny');
    expect(authorizeKeyForService(policy, keyArn, { service: 's3.amazonaws.com', action: 'kms:Decrypt' })).toBe('implicit-deny');
    // CloudWatch alarms of this account may have SNS encrypt their notifications; of another account not.
    const alarm = (account: string, action: string) => authorizeKeyForService(policy, keyArn, { service: 'cloudwatch.amazonaws.com', action, context: { 'aws:SourceAccount': [account] } });
    expect([alarm(ACCOUNT, 'kms:GenerateDataKey'), alarm(ACCOUNT, 'kms:Decrypt'), alarm('444455556666', 'kms:GenerateDataKey'), alarm(ACCOUNT, 'kms:ScheduleKeyDeletion')]).toEqual([
      'allow',
      'allow',
      'implicit-deny',
      'implicit-deny',
    ]);
  });
});

/**
 * Asterisk 22's security log (res_security_log, logger.conf `security.log => security`, dateformat %F %T as the pbx's
 * logger.conf sets): one line per event, `[date time] SECURITY[pid] res_security_log.c: SecurityEvent="<name>",...`,
 * the fields of ast_security_event_* in the order Asterisk writes them. Written here from that format, not captured.
 */
const SECURITY_LOG_LINES = {
  wrongPassword:
    '[2026-12-01 10:15:02] SECURITY[1187] res_security_log.c: SecurityEvent="ChallengeResponseFailed",EventTV="2026-12-01T10:15:02.118+0000",Severity="Error",Service="PJSIP",EventVersion="1",AccountID="1001",SessionID="8f2a1c0e-3e1b-4b4e-9a53-5c1d0a7e2b11",LocalAddress="IPV4/UDP/10.21.0.12/5060",RemoteAddress="IPV4/UDP/198.51.100.23/5060",Challenge="1701425702/4f1a",Response="0d7c",ExpectedResponse=""',
  scanner:
    '[2026-12-01 10:16:40] SECURITY[1187] res_security_log.c: SecurityEvent="InvalidAccountID",EventTV="2026-12-01T10:16:40.502+0000",Severity="Error",Service="PJSIP",EventVersion="1",AccountID="admin",SessionID="1234567890",LocalAddress="IPV4/UDP/10.21.0.12/5060",RemoteAddress="IPV4/UDP/203.0.113.77/5071"',
  acl: '[2026-12-01 10:17:05] SECURITY[1187] res_security_log.c: SecurityEvent="FailedACL",EventTV="2026-12-01T10:17:05.001+0000",Severity="Error",Service="PJSIP",EventVersion="1",AccountID="jigasi",SessionID="a1b2c3",LocalAddress="IPV4/UDP/10.21.0.12/5060",RemoteAddress="IPV4/UDP/192.0.2.9/5060",ACLName="jigasi"',
  invalidPassword:
    '[2026-12-01 10:18:11] SECURITY[1187] res_security_log.c: SecurityEvent="InvalidPassword",EventTV="2026-12-01T10:18:11.420+0000",Severity="Error",Service="AMI",EventVersion="2",AccountID="admin",SessionID="0x7f3a2c001f40",LocalAddress="IPV4/TCP/127.0.0.1/5038",RemoteAddress="IPV4/TCP/127.0.0.1/41822",Challenge=""',
  challengeSent:
    '[2026-12-01 10:15:02] SECURITY[1187] res_security_log.c: SecurityEvent="ChallengeSent",EventTV="2026-12-01T10:15:02.010+0000",Severity="Informational",Service="PJSIP",EventVersion="1",AccountID="1001",SessionID="8f2a1c0e-3e1b-4b4e-9a53-5c1d0a7e2b11",LocalAddress="IPV4/UDP/10.21.0.12/5060",RemoteAddress="IPV4/UDP/198.51.100.23/5060",Challenge="1701425702/4f1a"',
  success:
    '[2026-12-01 10:19:30] SECURITY[1187] res_security_log.c: SecurityEvent="SuccessfulAuth",EventTV="2026-12-01T10:19:30.733+0000",Severity="Informational",Service="PJSIP",EventVersion="1",AccountID="1001",SessionID="9c1e",LocalAddress="IPV4/UDP/10.21.0.12/5060",RemoteAddress="IPV4/UDP/198.51.100.23/5060",UsingPassword="1"',
} as const;
const FAILURES = ['wrongPassword', 'scanner', 'acl', 'invalidPassword'];

/**
 * CloudWatch Logs' documented semantics of an unstructured term pattern ("Filter pattern syntax ... Matching terms in
 * unstructured log events"): terms are case-sensitive; space-separated terms must all appear (AND); terms prefixed with
 * `?` form an OR group. How a term meets the text is evaluated two ways, because the documentation shows only words
 * delimited by non-alphanumerics: as a substring, and as a whole alphanumeric token. The pattern must give the same
 * answer under both (so it does not depend on the difference).
 */
function cloudWatchTermsMatch(pattern: string, line: string, how: 'substring' | 'token'): boolean {
  const terms = pattern.split(/\s+/).filter(Boolean);
  const has = (term: string): boolean => (how === 'substring' ? line.includes(term) : line.split(/[^A-Za-z0-9]+/).includes(term));
  const any = terms.filter((t) => t.startsWith('?')).map((t) => t.slice(1));
  const all = terms.filter((t) => !t.startsWith('?'));
  return all.every(has) && (any.length === 0 || any.some(has));
}

describe("the metric filter on Asterisk's security log", () => {
  test('counts every failed authentication line and no other event, under either reading of a term; its metric is the contract`s, without dimension', () => {
    const s = staging();
    const filter = single(resources(s, 'aws_cloudwatch_log_metric_filter'), 'metric filter');
    const pattern = String(filter.block.pattern);
    expect(pattern).toBe(SIP_AUTH_FAILURE_PATTERN);
    // Only `?` and alphanumeric terms: nothing to quote or escape in CloudWatch's syntax.
    expect(pattern).toMatch(/^\?[A-Za-z0-9]+( \?[A-Za-z0-9]+)*$/);
    for (const how of ['substring', 'token'] as const) {
      const matched = Object.entries(SECURITY_LOG_LINES)
        .filter(([, line]) => cloudWatchTermsMatch(pattern, line, how))
        .map(([k]) => k);
      expect({ how, matched }).toEqual({ how, matched: FAILURES });
    }
    expect(referenced(resources(s, 'aws_cloudwatch_log_group'), filter.block.log_group_name).block.name).toBe(logGroupOf(s.config, 'pbx', ASTERISK_SECURITY_LOG.group));
    expect(filter.block.metric_transformation).toEqual({ name: HOST_METRICS.sipAuthFailures, namespace: metricsNamespaceOf(s.config), value: '1', default_value: '0', unit: 'Count' });
    expect(METRICS_WITHOUT_HOST_DIMENSION).toEqual([HOST_METRICS.sipAuthFailures]);
  });

  test("counts exactly the events Debian 12's fail2ban filter for Asterisk bans on (the pbx's jail)", () => {
    // The SecurityEvent failregex of filter.d/asterisk.conf (fail2ban 1.0.2, Debian 12), as test/support/asterisk runs it.
    const file = '/var/cache/weebeetalk-test/fail2ban-bookworm/etc/fail2ban/filter.d/asterisk.conf';
    const text = existsSync(file) ? readFileSync(file, 'utf8') : '^SecurityEvent="(?:FailedACL|InvalidAccountID|ChallengeResponseFailed|InvalidPassword)"';
    const events = /\^SecurityEvent="\(\?:([A-Za-z|]+)\)"/.exec(text)?.[1].split('|');
    expect([...(events ?? [])].sort()).toEqual([...SIP_AUTH_FAILURE_EVENTS].sort());
  });
});

describe('the topic, its policy and the subscription', () => {
  test('production: under the environment key; staging: no server-side encryption (aws/sns cannot be granted to CloudWatch alarms)', () => {
    expect(topic(production()).block.kms_master_key_id).toBe(single(resources(production(), 'aws_kms_key'), 'key').ref('arn'));
    expect(topic(staging()).block.kms_master_key_id).toBeUndefined();
  });

  test("only this environment's CloudWatch alarms of this account publish; every alarm of the plan is covered by the condition", () => {
    for (const s of [staging(), production()]) {
      const policy = referenced(dataSources(s, 'aws_iam_policy_document'), single(resources(s, 'aws_sns_topic_policy'), 'topic policy').block.policy);
      const statements = asArray(policy.block.statement, 'statement').map((x) => asObject(x, 'statement'));
      const publish = single(
        statements.map((st, i) => ({ type: 's', key: String(i), block: st, address: String(st.sid), ref: () => '' })),
        'publish statement',
        (st) => st.block.sid === 'CloudWatchAlarmsPublish',
      ).block;
      expect(publish.principals).toEqual([{ type: 'Service', identifiers: ['cloudwatch.amazonaws.com'] }]);
      const sourceArn = asArray(publish.condition, 'condition')
        .map((c) => asObject(c, 'c'))
        .find((c) => c.variable === 'aws:SourceArn');
      const pattern = String(asArray(sourceArn?.values, 'values')[0]).replace('${data.aws_caller_identity.account.account_id}', ACCOUNT);
      const glob = new RegExp(`^${pattern.replace(/[.]/g, '\\.').replace('*', '.*')}$`);
      for (const a of mailedAlarms(s)) expect(`arn:aws:cloudwatch:${s.config.aws.region}:${ACCOUNT}:alarm:${String(a.block.alarm_name)}`).toMatch(glob);
      expect(`arn:aws:cloudwatch:${s.config.aws.region}:${ACCOUNT}:alarm:someone-elses-alarm`).not.toMatch(glob);
      expect(statements.find((st) => st.sid === 'OnlyCloudWatchPublishes')).toMatchObject({
        effect: 'Deny',
        actions: ['sns:Publish'],
        condition: [{ test: 'Bool', variable: 'aws:PrincipalIsAWSService', values: ['false'] }],
      });
      // The account's own statement lets it manage the topic, not publish to it.
      expect(statements.find((st) => st.sid === 'AccountManagesTopic')?.actions).not.toContain('sns:Publish');
    }
  });

  test.each(ENVS)('%s: one email subscription to the configured mailbox (else the Let`s Encrypt contact)', (_l, synth) => {
    const s = synth();
    const sub = single(resources(s, 'aws_sns_topic_subscription'), 'subscription');
    expect([sub.block.protocol, sub.block.endpoint, sub.block.topic_arn]).toEqual(['email', alarmEmailOf(s.config), topic(s).ref('arn')]);
    expect(alarmEmailOf(s.config)).toBe(s.config.observability.alarmEmail ?? s.config.letsEncryptEmail);
  });
});

describe('configuration mistakes are refused, one line naming the field, the value and what is valid', () => {
  const refused = (observability: Record<string, unknown>): string => {
    try {
      loadEnvironment(variantFile('staging', { observability } as never));
    } catch (e) {
      if (e instanceof ConfigError) return e.problems.join('\n');
      throw e;
    }
    throw new Error(`accepted: ${JSON.stringify(observability)}`);
  };
  test.each([
    [{ logRetentionDays: 10 }, "observability.logRetentionDays = 10: must be one of CloudWatch Logs' retention periods in days: 1, 3, 5, 7, 14, 30, 60, 90"],
    [{ logRetentionDays: 0 }, 'observability.logRetentionDays = 0: must be one of'],
    [{ logRetentionDays: '7' }, 'observability.logRetentionDays = "7": must be one of'],
    [{ alarmEmail: 'noc@example.com' }, 'observability.alarmEmail = "noc@example.com": is on example.com, a documentation or non-public domain'],
    [{ alarmEmail: 'noc@ops.internal' }, 'observability.alarmEmail = "noc@ops.internal": is on ops.internal'],
    [{ alarmEmail: 'not-an-address' }, 'observability.alarmEmail = "not-an-address": must be an email address'],
    [{ diskAlarmPercent: 100 }, 'observability.diskAlarmPercent = 100: must be at most 99'],
    [{ diskAlarmPercent: 80.5 }, 'observability.diskAlarmPercent = 80.5: must be a whole percentage'],
    [{ certificateAlarmDays: 30 }, "observability.certificateAlarmDays = 30: must be below 30: Let's Encrypt certificates renew with 30 days left"],
    [{ sipAuthFailureBurst: 0 }, 'observability.sipAuthFailureBurst = 0: must be at least 1'],
    [{ runbookUrl: 'http://git.example.org/README.md' }, 'observability.runbookUrl = "http://git.example.org/README.md": must be an https:// address'],
    [{ runbookUrl: 'https://git.weebeetalk-ops.com/README.md#troubleshooting' }, 'must be an https:// address without a #fragment'],
    [{ alarmEmial: 'noc@weebeetalk-ops.com' }, 'observability.alarmEmial = "noc@weebeetalk-ops.com": unknown field; did you mean alarmEmail?'],
  ])('%j', (observability, says) => {
    expect(refused(observability)).toContain(says);
  });

  test('through the entry point: one block naming the file; the shipped placeholder mailbox is a warning on the stack', () => {
    const d = environmentsDir({ staging: shipped('staging', { observability: { logRetentionDays: 45 } }), production: shipped('production') });
    try {
      expect(() => buildApp(Testing.app(), { dir: d.dir, now: new Date('2026-12-01T12:00:00Z') })).toThrow(/staging\.ts\)?:[\s\S]*observability\.logRetentionDays = 45: must be one of/);
    } finally {
      d.remove();
    }
    // The shipped files carry the placeholder contact: the construct says the alarms would go nowhere.
    const warningsOf = (config: EnvironmentConfig): string[] => {
      const stack = new TerraformStack(Testing.app(), 'w');
      new Observability(stack, 'observability', { config, hosts: { pbx: { instanceId: 'i-0123456789abcdef0' } }, arn: { partition: 'aws', region: 'ap-southeast-3', account: ACCOUNT } });
      return stack.node.findAll().flatMap((c) => c.node.metadata.filter((m) => m.type === AnnotationMetadataEntryType.WARN).map((m) => String(m.data)));
    };
    expect(staging().config.observability.alarmEmail).toBeUndefined();
    expect(warningsOf(staging().config)).toEqual([
      'observability.alarmEmail (unset: letsEncryptEmail) = "ops@replace-with-your-domain.com": is the shipped placeholder: the alarms would be mailed nowhere: set a mailbox you read',
    ]);
    expect(warningsOf(tuned().config)).toEqual([]);
  });
});
