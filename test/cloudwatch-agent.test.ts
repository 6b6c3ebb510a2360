/**
 * Metrics and logs to CloudWatch (userdata/cloudwatch-agent.ts): the agent's configuration per role against the shared
 * contract (config/metrics.ts), what the bundle carries, and the roles' IAM, evaluated. The scripts run in
 * test/cloudwatch-agent-scripts.test.ts.
 */
import { AGENT_DIMENSIONS, AGENT_METRICS, agentNamespaceOf, ASTERISK_SECURITY_LOG, HOST_DIMENSION, HOST_LOGS, HOST_METRICS, logGroupOf } from '../config/metrics';
import { metricsNamespaceOf } from '../config/names';
import { enabledRoles, POOLS, ROLES, type AnyRole, type Role } from '../config/schema';
import { agentConfig, CLOUDWATCH_AGENT_PATHS, MONITORING_UNITS, shippedLogsOf, withMonitoring } from '../userdata/cloudwatch-agent';
import { DATA_DIR } from '../userdata/paths';
import { allows, hostIam } from './support/iam';
import { stagingConfig, stagingContext } from './support/role-context';
import { synthEnvironment } from './support/synth';

const config = stagingConfig;
const ctxOf = stagingContext;
const EMPTY = { env: {}, hook: 'turn', files: [] };

describe('the agent configuration', () => {
  it.each([...ROLES, ...POOLS] as AnyRole[])('%s: memory and disks in the environment namespace with Host = the role (no hostname), its own logs to its own groups', (role) => {
    const c = agentConfig(config, role);
    const pool = (POOLS as readonly string[]).includes(role);
    expect(c.agent.omit_hostname).toBe(true);
    // The environment's own namespace: never CWAgent, which two environments of one account would share.
    expect(c.metrics.namespace).toBe(agentNamespaceOf(config));
    expect(c.metrics).not.toHaveProperty('append_dimensions');
    expect(c.metrics.metrics_collected).toEqual({
      mem: { measurement: [AGENT_METRICS.memoryUsed], append_dimensions: { [AGENT_DIMENSIONS.host]: role } },
      disk: {
        measurement: [AGENT_METRICS.diskUsed],
        resources: pool ? ['/'] : ['/', DATA_DIR],
        ignore_file_system_types: expect.any(Array),
        drop_device: true,
        append_dimensions: { [AGENT_DIMENSIONS.host]: role },
      },
    });
    expect(c.metrics.aggregation_dimensions).toEqual([['Host', 'path']]);
    const files = c.logs?.logs_collected.files.collect_list ?? [];
    const want = pool
      ? []
      : [
          { file_path: HOST_LOGS.bootstrap.file, log_group_name: logGroupOf(config, role as Role, HOST_LOGS.bootstrap.group), log_stream_name: '{instance_id}' },
          { file_path: HOST_LOGS.apply.file, log_group_name: logGroupOf(config, role as Role, HOST_LOGS.apply.group), log_stream_name: '{instance_id}' },
          ...(role === 'pbx' ? [{ file_path: ASTERISK_SECURITY_LOG.file, log_group_name: logGroupOf(config, 'pbx', ASTERISK_SECURITY_LOG.group), log_stream_name: '{instance_id}' }] : []),
        ];
    expect(files).toEqual(want);
    expect(shippedLogsOf(config, role).map((l) => l.group)).toEqual(want.map((w) => w.log_group_name));
    if (pool) expect(c).not.toHaveProperty('logs');
  });

  it('is JSON of the typed object in the bundle, with its units, helpers and settings; the key fingerprint and URLs are AWS’s', () => {
    const props = withMonitoring(EMPTY, ctxOf('pbx'), 'pbx', undefined);
    const file = props.files.find((f) => f.path === CLOUDWATCH_AGENT_PATHS.config);
    expect(file && JSON.parse(file.content)).toEqual(JSON.parse(JSON.stringify(agentConfig(config, 'pbx'))));
    expect(file?.services).toEqual(['cloudwatch-agent']);
    expect(props.files.map((f) => f.path).filter((p) => p.startsWith('/etc/systemd/'))).toEqual(
      [`${MONITORING_UNITS.agent}.service`, `${MONITORING_UNITS.agent}.timer`, `${MONITORING_UNITS.metrics}.service`, `${MONITORING_UNITS.metrics}.timer`].map((u) => `/etc/systemd/system/${u}`),
    );
    expect(props.scripts).toEqual(['cloudwatch-agent', 'host-metrics']);
    expect(props.env).toMatchObject({
      WBT_CWAGENT_FINGERPRINT: '937616F3450B7D806CBD9725D58167303B789C72',
      WBT_CWAGENT_BASE_URL: `https://amazoncloudwatch-agent-${config.aws.region}.s3.${config.aws.region}.amazonaws.com`,
      WBT_CWAGENT_KEY_URL: 'https://amazoncloudwatch-agent.s3.amazonaws.com/assets/amazon-cloudwatch-agent.gpg',
      WBT_CWAGENT_KEY_FILE: '',
      WBT_METRICS_NAMESPACE: metricsNamespaceOf(config),
      WBT_HOST_DIMENSION: HOST_DIMENSION,
      WBT_HOST_METRICS_PROBES: 'asterisk',
      WBT_METRIC_ACTIVE_CALLS: HOST_METRICS.activeCalls,
    });
    // A pinned key goes with the bundle, and the host downloads none.
    const pinned = withMonitoring(EMPTY, ctxOf('pbx'), 'pbx', '-----BEGIN PGP PUBLIC KEY BLOCK-----\n');
    expect(pinned.env.WBT_CWAGENT_KEY_FILE).toBe(CLOUDWATCH_AGENT_PATHS.key);
    expect(pinned.files.map((f) => f.path)).toContain(CLOUDWATCH_AGENT_PATHS.key);
    // A pool member: the agent, no publisher.
    const member = withMonitoring(EMPTY, ctxOf('jvb'), 'jvb', undefined);
    expect([member.scripts, member.env.WBT_HOST_METRICS_TIMER]).toEqual([['cloudwatch-agent'], '']);
  });

  it('every host publishes what the contract names, its own probes only', () => {
    const probes = Object.fromEntries(ROLES.map((r) => [r, withMonitoring(EMPTY, ctxOf(r), r, undefined).env.WBT_HOST_METRICS_PROBES]));
    expect(probes).toEqual({ chat: 'rocketchat', meet: config.jitsi.jibri ? 'jvb recordings' : 'jvb', pbx: 'asterisk', turn: '' });
  });
});

describe('IAM (staging, evaluated)', () => {
  const s = synthEnvironment('staging');
  const ns = metricsNamespaceOf(config);
  const groupArn = (role: Role, log: string): string => `arn:aws:logs:${config.aws.region}:\${data.aws_caller_identity.account.account_id}:log-group:${logGroupOf(config, role, log)}`;

  it.each(enabledRoles(config))('%s: its own log groups only, metrics into CWAgent and its namespace only, no log group created, no DescribeTags', (role) => {
    const { effective } = hostIam(s, role);
    const own = shippedLogsOf(config, role).map((l) => l.group.split('/').pop() ?? '');
    for (const log of own) {
      expect(allows(effective, 'logs:CreateLogStream', groupArn(role, log))).toBe(true);
      expect(allows(effective, 'logs:DescribeLogStreams', groupArn(role, log))).toBe(true);
      expect(allows(effective, 'logs:PutLogEvents', `${groupArn(role, log)}:log-stream:i-0123456789abcdef0`)).toBe(true);
    }
    for (const other of ROLES.filter((r) => r !== role)) expect(allows(effective, 'logs:PutLogEvents', `${groupArn(other, 'bootstrap')}:log-stream:i-0123456789abcdef0`)).toBe(false);
    if (role !== 'pbx') expect(allows(effective, 'logs:PutLogEvents', `${groupArn(role, ASTERISK_SECURITY_LOG.group)}:log-stream:x`)).toBe(false);
    expect(allows(effective, 'logs:CreateLogGroup', groupArn(role, 'bootstrap'))).toBe(false);
    expect(allows(effective, 'logs:PutRetentionPolicy', groupArn(role, 'bootstrap'))).toBe(false);
    expect(allows(effective, 'ec2:DescribeTags', '*')).toBe(false);
    const metrics = effective.filter((st) => st.actions.includes('cloudwatch:PutMetricData'));
    expect(metrics.length).toBeGreaterThan(0);
    // Every grant of PutMetricData is bound to namespaces, and between them exactly the environment's.
    const namespaces = metrics.flatMap((st) => st.conditions.filter((c) => c.variable === 'cloudwatch:namespace' && c.test === 'StringEquals').flatMap((c) => c.values as string[]));
    expect(metrics.every((st) => st.conditions.some((c) => c.variable === 'cloudwatch:namespace'))).toBe(true);
    expect([...new Set(namespaces)]).toEqual([ns]);
  });

  it.each(POOLS)('%s members: metrics only (no log group of theirs)', (pool) => {
    const { effective } = hostIam(s, pool);
    expect(effective.some((st) => st.actions.some((a) => a.startsWith('logs:')))).toBe(false);
    const namespaces = effective.filter((st) => st.actions.includes('cloudwatch:PutMetricData')).flatMap((st) => st.conditions.flatMap((c) => c.values as string[]));
    expect([...new Set(namespaces)]).toEqual([ns]);
  });
});
