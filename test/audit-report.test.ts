/**
 * The audit report (`npm run audit`): the shipped environments pass the gate and the report is snapshot-tested;
 * a violation exits 1; --diff shows opened and closed exposure; bad arguments exit 2. One real synthesis of the
 * app for the file (plus one in-process run of the CLI); bad cases edit the synthesized JSON.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'cdktf';
import staging from '../config/environments/staging';
import { loadEnvironment } from '../config/load';
import type { Json, JsonObject } from '../constructs/audit/plan';
import { auditStack } from '../constructs/audit/stack-audit';
import { renderMarkdown, renderTable } from '../constructs/audit/report';
import { buildApp, APP_OPTIONS } from '../main';
import { runAudit } from '../scripts/audit';

delete process.env.CDKTF_CONTINUE_SYNTH_ON_ERROR_ANNOTATIONS;

let dir: string;
let out: string;

/** The report without the temporary directory it was read from, so snapshots are stable. */
function stable(text: string): string {
  return text.split(dir).join('<tmp>');
}

function stagingJson(): JsonObject {
  return JSON.parse(readFileSync(join(out, 'stacks', 'staging', 'cdk.tf.json'), 'utf8')) as JsonObject;
}

/** A synthesis directory (no manifest: the reader falls back to stacks/<name>/cdk.tf.json) holding one stack. */
function writeSynthesis(name: string, tf: JsonObject): string {
  const d = join(dir, name);
  mkdirSync(join(d, 'stacks', 'staging'), { recursive: true });
  writeFileSync(join(d, 'stacks', 'staging', 'cdk.tf.json'), JSON.stringify(tf));
  return d;
}

/** `${aws_security_group.<logical id>.id}` of a host's group in a synthesized stack. */
function groupRef(tf: JsonObject, role: string): string {
  const groups = (tf.resource as JsonObject).aws_security_group as JsonObject;
  const id = Object.keys(groups).find((k) => (groups[k] as JsonObject).name === `weebeetalk-staging-${role}`);
  return `\${aws_security_group.${id}.id}`;
}

/** The staging synthesis plus one hand-added ingress rule on a host's group. */
function withIngress(rule: JsonObject, role = 'chat', name = 'hand-added'): JsonObject {
  const tf = stagingJson();
  const rules = (tf.resource as JsonObject).aws_vpc_security_group_ingress_rule as JsonObject;
  rules[name] = { security_group_id: groupRef(tf, role), ...rule };
  return tf;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'audit-report-'));
  out = join(dir, 'cdktf.out');
  // The shipped environments pass the gate: app.synth() throws on any error annotation.
  buildApp(new App({ ...APP_OPTIONS, outdir: out, stackTraces: false })).synth();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('npm run audit on the shipped environments', () => {
  test('markdown report of every environment (snapshot), exit 0', () => {
    const run = runAudit(['--out', out, '--format', 'markdown']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(stable(run.stdout)).toMatchSnapshot();
  });

  test('table report of staging (snapshot)', () => {
    const run = runAudit(['--out', out, '--env', 'staging']);
    expect(run.code).toBe(0);
    expect(stable(run.stdout)).toMatchSnapshot();
  });

  test('json for tools: every row with its peer resolved, never a ${...} token', () => {
    const run = runAudit(['--out', out, '--format', 'json', '--env', 'production']);
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout) as {
      ok: boolean;
      environments: { environment: string; violations: number; groups: { host: string; rows: { peer: string; verdict: string; rules: string[] }[] }[] }[];
      policy: { id: string }[];
    };
    expect(report.ok).toBe(true);
    expect(report.environments.map((e) => [e.environment, e.violations])).toEqual([['production', 0]]);
    const rows = report.environments[0].groups.flatMap((g) => g.rows.map((r) => ({ host: g.host, ...r })));
    expect(rows.every((r) => !r.peer.includes('${') && r.verdict === 'ok')).toBe(true);
    expect(rows.filter((r) => r.host === 'pbx').map((r) => r.peer)).toEqual(expect.arrayContaining(['192.0.2.0/28 (trunk)', '192.0.2.0/24 (trunk-media)', 'meet host']));
    // WBT-CONFIG-SECRET (f5f1300) is the thirteenth: the bundles are scanned like user-data. WBT-SG-XMPP (the pools)
    // the fourteenth: Prosody's client port from the pools' groups only; WBT-KMS-CMK the fifteenth; the privacy rules
    // (WBT-PRIV-STATE, -CHAT, -MEET) the last three; WBT-SG-DIALIN (issue 17): the dial-in mapper's port from the pbx host only.
    expect(report.policy).toHaveLength(19);
    expect(report.policy.map((p) => p.id)).toContain('WBT-CONFIG-SECRET');
    expect(report.policy.map((p) => p.id)).toContain('WBT-SG-XMPP');
    expect(report.policy.map((p) => p.id)).toContain('WBT-SG-DIALIN');
  });

  test("production's turn host: its world-open ports are the allowlisted ones, its relay ports the bridges' only (meet and the JVB pool)", () => {
    const run = runAudit(['--out', out, '--format', 'json', '--env', 'production']);
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout) as { environments: { groups: { host: string; rows: { direction: string; protocol: string; ports: string; peer: string; verdict: string }[] }[] }[] };
    const turn = report.environments[0].groups.filter((g) => g.host === 'turn');
    expect(turn).toHaveLength(1);
    const ingress = turn[0].rows.filter((r) => r.direction === 'ingress').map((r) => [r.protocol, r.ports, r.peer, r.verdict]);
    expect(ingress.sort()).toEqual(
      [
        ['tcp', '443', '0.0.0.0/0', 'ok'],
        ['tcp', '3478', '0.0.0.0/0', 'ok'],
        ['udp', '3478', '0.0.0.0/0', 'ok'],
        ['udp', '49152-65535', 'meet host', 'ok'],
        ['udp', '49152-65535', 'jvb pool', 'ok'],
      ].sort(),
    );
    // Staging builds no turn host: no group of it in its report (the VPC's default group is audited too).
    const staging = JSON.parse(runAudit(['--out', out, '--format', 'json', '--env', 'staging']).stdout) as { environments: { groups: { host: string }[] }[] };
    expect(staging.environments[0].groups.map((g) => g.host)).toEqual(['chat', 'meet', 'pbx', 'jibri', 'jvb', 'default']);
  });

  test('the resource checks cover all four buckets (the configuration bucket too) and every bundle, and every check is ok', () => {
    for (const env of ['staging', 'production']) {
      const run = runAudit(['--out', out, '--format', 'json', '--env', env]);
      expect(run.code).toBe(0);
      const report = JSON.parse(run.stdout) as { environments: { checks: { rule: string; subject: string; verdict: string; detail: string }[] }[] };
      const checks = report.environments[0].checks;
      expect(checks.every((c) => c.verdict === 'ok')).toBe(true);
      const buckets = (rule: string): string[] =>
        checks
          .filter((c) => c.rule === rule)
          .map((c) => c.subject)
          .sort();
      const all = ['backups-bucket/bucket', 'config-bucket/bucket', 'recordings-bucket/bucket', 'uploads-bucket/bucket'];
      expect(buckets('WBT-S3-PAB')).toEqual(all);
      expect(buckets('WBT-S3-TLS')).toEqual(all);
      expect(checks.find((c) => c.rule === 'WBT-S3-TLS' && c.subject === 'config-bucket/bucket')?.detail).toMatch(
        new RegExp(`^weebeetalk-${env}-config-[0-9a-f]{10}: denies aws:SecureTransport = false$`),
      );
      // Hand-written: production has the TURN relay (turn.enabled by default), staging does not.
      const hosts = env === 'production' ? ['chat', 'meet', 'pbx', 'turn'] : ['chat', 'meet', 'pbx'];
      // The bundles are S3 objects in Terraform's state: each is scanned for secrets like user-data is.
      const pools = ['jibri', 'jvb'];
      expect(buckets('WBT-CONFIG-SECRET')).toEqual([...hosts, ...pools].map((h) => `${h}-configuration/bundle`).sort());
      expect(buckets('WBT-EC2-USERDATA')).toEqual([...hosts.map((h) => `${h}-host/user-data/cloudinit`), ...pools.map((p) => `${p}-pool/user-data/cloudinit`)].sort());
      // The pools' launch templates: IMDSv2 and their disks, like an instance's.
      expect(buckets('WBT-EC2-IMDS')).toEqual([...hosts.map((h) => `${h}-host/instance`), ...pools.map((p) => `${p}-pool/template`)].sort());
      // Per host: IMDS, root encryption, user-data and bundle; its data volume; its described group; 2 checks of 4
      // buckets. Per pool: the same less the data volume.
      // Production has its own key (kms.customerManagedKey): the key, each data volume and instance root, each launch
      // template, each bucket's encryption and each SecureString name it. Staging has none.
      const kms = checks.filter((c) => c.rule === 'WBT-KMS-CMK');
      const secureStrings = kms.filter((c) => c.subject.startsWith('secrets/')).length;
      if (env === 'production') {
        expect(secureStrings).toBeGreaterThan(5);
        expect(kms.length - secureStrings).toBe(1 + hosts.length * 2 + pools.length + 4);
      } else expect(kms).toEqual([]);
      // The privacy rules: no secret in the state (one check), and in production Rocket.Chat's and Jitsi's settings (one each, on their bundles).
      const privacy = checks.filter((c) => c.rule.startsWith('WBT-PRIV-'));
      expect(privacy.map((c) => `${c.rule} ${c.subject}`).sort()).toEqual(
        env === 'production' ? ['WBT-PRIV-CHAT chat-configuration/bundle', 'WBT-PRIV-MEET meet-configuration/bundle', `WBT-PRIV-STATE ${env}`] : [`WBT-PRIV-STATE ${env}`],
      );
      expect(checks).toHaveLength(hosts.length * 4 + hosts.length + 2 * 4 + hosts.length + pools.length * 5 + kms.length + privacy.length);
    }
  });

  test('without --out it synthesizes main.ts in-process (and leaves the environment as it found it)', () => {
    const run = runAudit(['--env', 'staging', '--format', 'json']);
    expect(run.code).toBe(0);
    expect((JSON.parse(run.stdout) as { source: string }).source).toBe('in-process synthesis of main.ts');
    expect(process.env.CDKTF_CONTINUE_SYNTH_ON_ERROR_ANNOTATIONS).toBeUndefined();
  });
});

describe('violations, accepted exposure and diffs', () => {
  test('a violation exits 1 and names the resource, the rule and the fix', () => {
    const bad = writeSynthesis('bad', withIngress({ cidr_ipv4: '0.0.0.0/0', ip_protocol: 'tcp', from_port: 27017, to_port: 27017, description: 'MongoDB for the BI tool' }));
    const run = runAudit(['--out', bad, '--format', 'markdown']);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('| ingress | tcp | 27017 | 0.0.0.0/0 | MongoDB for the BI tool [not in the port plan] | VIOLATION | WBT-SG-INTERNAL, WBT-SG-WORLD |');
    expect(run.stdout).toContain(
      '- `aws_vpc_security_group_ingress_rule.hand-added`: WBT-SG-INTERNAL Database, monitoring and internal ports never open to any peer: aws_vpc_security_group_ingress_rule.hand-added',
    );
    expect(run.stdout).toMatch(/❌ staging: .* 2 violation\(s\)/);
  });

  test('--diff shows exposure opened and closed between two syntheses', () => {
    const bad = writeSynthesis(
      'diff-bad',
      withIngress({ referenced_security_group_id: groupRef(stagingJson(), 'meet'), ip_protocol: 'tcp', from_port: 8443, to_port: 8443, description: 'Internal API' }),
    );
    const opened = runAudit(['--out', bad, '--diff', out, '--env', 'staging', '--format', 'markdown']);
    expect(opened.code).toBe(0);
    expect(stable(opened.stdout)).toContain('## Exposure changes against <tmp>/cdktf.out');
    expect(opened.stdout).toContain('**Opened**');
    expect(opened.stdout).toContain('| staging | chat | ingress | tcp | 8443 | meet host | ok |');
    expect(opened.stdout).not.toContain('**Closed**');
    const closed = runAudit(['--out', out, '--diff', bad, '--env', 'staging']);
    expect(closed.stdout).toMatch(/closed\n\s+ENVIRONMENT\s+HOST.*\n\s+staging\s+chat\s+ingress\s+tcp\s+8443\s+meet host\s+ok/);
    expect(runAudit(['--out', out, '--diff', out, '--format', 'markdown']).stdout).toContain('No exposure opened or closed.');
  });

  test('accepted world-open SIP shows its justification', () => {
    const base = loadEnvironment(staging);
    const justification = 'Field staff dial in from mobile networks; fail2ban watches the PBX security log.';
    const tf = withIngress({ cidr_ipv4: '0.0.0.0/0', ip_protocol: 'udp', from_port: 5060, to_port: 5060, description: 'SIP from anywhere' }, 'pbx', 'open-sip');
    const audit = auditStack(tf as Json, { ...base, sip: { ...base.sip, worldOpenJustification: justification } });
    const report = { audits: [audit], source: 'test' };
    expect(renderMarkdown(report)).toContain('| ingress | udp | 5060 | 0.0.0.0/0 | SIP from anywhere [not in the port plan] | accepted | WBT-SG-SIP |');
    expect(renderMarkdown(report)).toContain(`> **Accepted** world-open SIP/RTP, \`sip.worldOpenJustification\`: ${justification}`);
    expect(renderTable(report)).toContain(`accepted by sip.worldOpenJustification: ${justification}`);
    // Without the justification the same rule is a violation.
    expect(auditStack(tf as Json, base).findings.map((f) => f.rule)).toEqual(['WBT-SG-SIP']);
  });
});

describe('usage errors exit 2', () => {
  test.each([
    [['--format', 'html'], /--format must be one of table, markdown, json/],
    [['--out', '/nonexistent/cdktf.out'], /does not exist: run `cdktf synth` first/],
    [['--bogus'], /Unknown option '--bogus'/],
  ])('%j', (args, message) => {
    const run = runAudit(args);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(message);
    expect(run.stderr).toContain('Usage:');
  });

  test('an unknown environment lists the ones there are', () => {
    const run = runAudit(['--out', out, '--env', 'qa']);
    expect(run.code).toBe(2);
    expect(stable(run.stderr)).toContain('no stack "qa" in <tmp>/cdktf.out; stacks: production, staging');
  });

  test('--help', () => {
    expect(runAudit(['--help'])).toMatchObject({ code: 0, stdout: expect.stringContaining('--format FORMAT') });
  });
});
