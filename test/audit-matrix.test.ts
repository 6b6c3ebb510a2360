/**
 * The audit's modules on hand-written plans, one behaviour each: reading the plan (constructs/audit/plan.ts),
 * the security-group matrix (matrix.ts: every way a rule can be written, peers resolved, rows ordered), the
 * resource checks (checks.ts) and the exposure diff (diff.ts). The gate on real constructs is audit-gate.test.ts;
 * the report on the shipped environments is audit-report.test.ts.
 */
import staging from '../config/environments/staging';
import { loadEnvironment } from '../config/load';
import { diffExposure } from '../constructs/audit/diff';
import { findingMessage } from '../constructs/audit/finding';
import { blocks, elements, lookup, num, reference, strings, type JsonObject } from '../constructs/audit/plan';
import { auditStack, type StackAudit } from '../constructs/audit/stack-audit';

const config = loadEnvironment(staging);

const CHAT = 'aws_security_group.chat';
const META = (path: string): JsonObject => ({ metadata: { path } });

/** A plan with the chat host's group (named as Firewalls names it) plus `resources`, merged by type. */
function plan(resources: Record<string, JsonObject>, data: Record<string, JsonObject> = {}): JsonObject {
  return {
    '//': { metadata: { stackName: 'staging' } },
    resource: { aws_security_group: { chat: { name: 'weebeetalk-staging-chat', description: 'WeeBeeTalk chat host', '//': META('staging/sg-chat') } }, ...resources },
    data,
  };
}

const ingress = (rules: Record<string, JsonObject>): Record<string, JsonObject> => ({ aws_vpc_security_group_ingress_rule: rules });
const onChat = (rule: JsonObject): JsonObject => ({ security_group_id: `\${${CHAT}.id}`, description: 'A described rule', ...rule });

/** The rows of every group but the default one, as `host direction protocol ports peer verdict rules`. */
function rows(a: StackAudit): string[] {
  return a.groups.flatMap((g) => g.rows.map((r) => `${g.host} ${r.direction} ${r.protocol} ${r.ports} ${r.peer} ${r.verdict} ${r.rules.join(',') || '-'}`));
}

describe('reading the plan (plan.ts)', () => {
  test('references: a whole `${type.name.attribute}` string, resources and data sources; anything else is none', () => {
    expect(reference('${aws_s3_bucket.uploads_bucket_1A2B.id}')).toEqual({ address: 'aws_s3_bucket.uploads_bucket_1A2B', attribute: 'id' });
    expect(reference('${data.aws_iam_policy_document.tls.json}')).toEqual({ address: 'data.aws_iam_policy_document.tls', attribute: 'json' });
    expect(reference('${aws_eip.e.public_ip}/32')).toBeUndefined();
    expect(reference('arn:aws:s3:::bucket')).toBeUndefined();
    expect(reference(undefined)).toBeUndefined();
  });

  test('lookup finds a resource or a data source by address; elements carry the construct path, or the address', () => {
    const tf: JsonObject = {
      resource: { aws_vpc: { v: { cidr_block: '10.0.0.0/16', '//': META('staging/network/vpc') } } },
      data: { aws_iam_policy_document: { d: { statement: [] } } },
    };
    expect(lookup(tf, 'aws_vpc.v')?.cidr_block).toBe('10.0.0.0/16');
    expect(lookup(tf, 'data.aws_iam_policy_document.d')).toEqual({ statement: [] });
    expect(lookup(tf, 'aws_vpc.other')).toBeUndefined();
    expect(elements(tf, 'resource', 'aws_vpc').map((e) => [e.address, e.path])).toEqual([['aws_vpc.v', 'staging/network/vpc']]);
    expect(elements(tf, 'data', 'aws_iam_policy_document').map((e) => [e.address, e.path])).toEqual([['data.aws_iam_policy_document.d', 'data.aws_iam_policy_document.d']]);
    expect(elements(tf, 'resource', 'aws_instance')).toEqual([]);
  });

  test('blocks are objects or lists of them; strings one or many; numbers also as digits', () => {
    expect(blocks({ a: 1 })).toEqual([{ a: 1 }]);
    expect(blocks([{ a: 1 }, 'x', null, { b: 2 }])).toEqual([{ a: 1 }, { b: 2 }]);
    expect(blocks(undefined)).toEqual([]);
    expect(strings('x')).toEqual(['x']);
    expect(strings(['x', 1, 'y'])).toEqual(['x', 'y']);
    expect([num(443), num('443'), num(''), num('x'), num(undefined)]).toEqual([443, 443, undefined, undefined, undefined]);
  });
});

describe('the security-group matrix (matrix.ts)', () => {
  test('a planned rule on a host group is ok and planned; the allowlist decides a world-open one', () => {
    const a = auditStack(plan(ingress({ https: onChat({ ip_protocol: 'tcp', from_port: 443, to_port: 443, cidr_ipv4: '0.0.0.0/0' }) })), config);
    expect(rows(a)).toEqual(['chat ingress tcp 443 0.0.0.0/0 ok WBT-SG-WORLD']);
    expect(a.groups[0]).toMatchObject({ host: 'chat', role: 'chat', name: 'weebeetalk-staging-chat', address: CHAT });
    expect(a.groups[0].rows[0]).toMatchObject({ planned: true, world: true, address: 'aws_vpc_security_group_ingress_rule.https', path: 'aws_vpc_security_group_ingress_rule.https' });
  });

  test('every way of writing a rule is read: inline blocks, aws_security_group_rule, separate rule resources', () => {
    const tf = plan({
      ...ingress({ sep: onChat({ ip_protocol: 'tcp', from_port: 80, to_port: 80, cidr_ipv4: '0.0.0.0/0' }) }),
      aws_security_group_rule: { legacy: { type: 'egress', security_group_id: `\${${CHAT}.id}`, protocol: '-1', from_port: 0, to_port: 0, cidr_blocks: ['0.0.0.0/0'], description: 'Everything out' } },
    });
    (((tf.resource as JsonObject).aws_security_group as JsonObject).chat as JsonObject).ingress = [
      { protocol: 'tcp', from_port: 443, to_port: 443, cidr_blocks: ['0.0.0.0/0'], description: 'Inline HTTPS' },
    ];
    const a = auditStack(tf, config);
    // Ingress first, by port; protocol -1 is every protocol and port.
    expect(rows(a)).toEqual(['chat ingress tcp 80 0.0.0.0/0 ok WBT-SG-WORLD', 'chat ingress tcp 443 0.0.0.0/0 ok WBT-SG-WORLD', 'chat egress all all 0.0.0.0/0 violation WBT-SG-PROTO']);
  });

  test('peers an operator reads: another host, this group, a prefix list, a CIDR a reference names', () => {
    const tf = plan({
      aws_security_group: {
        chat: { name: 'weebeetalk-staging-chat', description: 'WeeBeeTalk chat host' },
        meet: { name: 'weebeetalk-staging-meet', description: 'WeeBeeTalk meet host' },
      },
      aws_vpc: { v: { cidr_block: '10.0.0.0/16' } },
      ...ingress({
        host: onChat({ ip_protocol: 'tcp', from_port: 8443, to_port: 8443, referenced_security_group_id: '${aws_security_group.meet.id}' }),
        list: onChat({ ip_protocol: 'tcp', from_port: 8444, to_port: 8444, prefix_list_id: 'pl-0123' }),
        vpc: onChat({ ip_protocol: 'tcp', from_port: 8445, to_port: 8445, cidr_ipv4: '${aws_vpc.v.cidr_block}' }),
      }),
    });
    (((tf.resource as JsonObject).aws_security_group as JsonObject).chat as JsonObject).ingress = { protocol: 'tcp', from_port: 4001, to_port: 4001, self: true, description: 'Members' };
    const peers = auditStack(tf, config)
      .groups.find((g) => g.host === 'chat')
      ?.rows.map((r) => `${r.ports} ${r.peer} world=${r.world}`);
    expect(peers).toEqual(['4001 members of this group world=false', '8443 meet host world=false', '8444 prefix list pl-0123 world=false', '8445 10.0.0.0/16 world=false']);
  });

  test('a CIDR known only at apply time is judged as the internet; so are /1 halves and ::/0', () => {
    const a = auditStack(
      plan({
        aws_eip: { e: {} },
        ...ingress({
          computed: onChat({ ip_protocol: 'tcp', from_port: 8443, to_port: 8443, cidr_ipv4: '${aws_eip.e.public_ip}' }),
          half: onChat({ ip_protocol: 'tcp', from_port: 8444, to_port: 8444, cidr_ipv4: '128.0.0.0/1' }),
          v6: onChat({ ip_protocol: 'tcp', from_port: 8445, to_port: 8445, cidr_ipv6: '::/0' }),
          office: onChat({ ip_protocol: 'tcp', from_port: 8446, to_port: 8446, cidr_ipv4: '198.51.100.0/24' }),
        }),
      }),
      config,
    );
    expect(rows(a)).toEqual([
      'chat ingress tcp 8443 computed: aws_eip.e.public_ip violation WBT-SG-WORLD',
      'chat ingress tcp 8444 128.0.0.0/1 violation WBT-SG-WORLD',
      'chat ingress tcp 8445 ::/0 violation WBT-SG-WORLD',
      'chat ingress tcp 8446 198.51.100.0/24 ok -',
    ]);
    expect(a.groups[0].rows.every((r) => !r.planned)).toBe(true);
  });

  test('rules on a group outside the stack are listed under "other"; ICMP shows its type and code', () => {
    const a = auditStack(
      plan(
        ingress({
          foreign: { security_group_id: 'sg-0123456789', ip_protocol: 'tcp', from_port: 8443, to_port: 8443, cidr_ipv4: '198.51.100.0/24', description: 'Somebody else' },
          ping: onChat({ ip_protocol: 'icmp', from_port: 8, to_port: 0, cidr_ipv4: '198.51.100.0/24' }),
        }),
      ),
      config,
    );
    expect(a.groups.map((g) => g.host)).toEqual(['chat', 'other']);
    expect(rows(a)).toEqual(['chat ingress icmp type 8 code 0 198.51.100.0/24 ok -', 'other ingress tcp 8443 198.51.100.0/24 ok -']);
    expect(a.groups[1]).toMatchObject({ name: 'groups outside this stack', address: '-' });
  });

  test('a finding names the rule, the resource, what is wrong, and the fix', () => {
    const a = auditStack(
      plan(ingress({ mongo: onChat({ ip_protocol: 'tcp', from_port: 27017, to_port: 27017, cidr_ipv4: '198.51.100.0/24', description: 'MongoDB', '//': META('staging/mongo') }) })),
      config,
    );
    expect(a.findings).toEqual([
      { rule: 'WBT-SG-INTERNAL', address: 'aws_vpc_security_group_ingress_rule.mongo', path: 'staging/mongo', detail: 'chat host: ingress tcp 27017 from 198.51.100.0/24: exposes 27017 (MongoDB)' },
    ]);
    expect(findingMessage(a.findings[0])).toMatch(
      /^WBT-SG-INTERNAL .*: aws_vpc_security_group_ingress_rule\.mongo \(chat host: ingress tcp 27017 from 198\.51\.100\.0\/24: exposes 27017 \(MongoDB\)\)\. Fix: .+\.$/,
    );
  });
});

describe('resource checks (checks.ts)', () => {
  // The resource checks of checks.ts (the privacy rules have their own tests: test/audit-privacy.test.ts, test/audit-gate.test.ts).
  const checks = (tf: JsonObject): string[] =>
    auditStack(tf, config)
      .checks.filter((c) => !c.rule.startsWith('WBT-PRIV-'))
      .map((c) => `${c.rule} ${c.subject} ${c.verdict}: ${c.detail}`);

  test("groups are described (Terraform's default description is none); the VPC default group is not checked", () => {
    const tf = plan({
      aws_security_group: { chat: { name: 'weebeetalk-staging-chat', description: 'Managed by Terraform', '//': META('staging/sg-chat') } },
      aws_default_security_group: { d: { vpc_id: 'vpc-1' } },
    });
    expect(checks(tf)).toEqual(['WBT-SG-DESC sg-chat violation: the security group has no description']);
  });

  test('instances: IMDSv2 (or no IMDS at all), encrypted disks, literal user-data scanned, a referenced one at its source', () => {
    const tf = plan({
      aws_security_group: {},
      aws_instance: {
        a: { metadata_options: { http_endpoint: 'disabled' }, root_block_device: { encrypted: true }, user_data: '${data.cloudinit_config.c.rendered}', '//': META('staging/a') },
        b: {
          metadata_options: [{ http_tokens: 'optional' }],
          root_block_device: [{ encrypted: false }],
          user_data_base64: Buffer.from('SIP_PASSWORD=hunter2hunter2\n').toString('base64'),
          '//': META('staging/b'),
        },
      },
    });
    expect(checks(tf)).toEqual([
      'WBT-EC2-IMDS a ok: http_tokens = required',
      'WBT-EC2-ROOT-ENC a ok: root encrypted',
      'WBT-EC2-IMDS b violation: http_tokens is optional',
      'WBT-EC2-ROOT-ENC b violation: root_block_device is not encrypted',
      'WBT-EC2-USERDATA b violation: SIP_PASSWORD= assigned a literal value on line 1',
    ]);
  });

  test('buckets: a public access block found by reference or by name, a TLS-only policy as literal JSON or a policy document', () => {
    const deny = { Effect: 'Deny', Principal: '*', Action: 's3:*', Resource: ['arn:aws:s3:::b', 'arn:aws:s3:::b/*'], Condition: { BoolIfExists: { 'aws:SecureTransport': 'false' } } };
    const flags = { block_public_acls: true, block_public_policy: true, ignore_public_acls: true, restrict_public_buckets: 'true' };
    const tf = plan(
      {
        aws_security_group: {},
        aws_s3_bucket: { a: { bucket: 'a', '//': META('staging/a') }, b: { bucket: 'b', '//': META('staging/b') }, c: { bucket: 'c', '//': META('staging/c') } },
        aws_s3_bucket_public_access_block: {
          pa: { bucket: '${aws_s3_bucket.a.id}', ...flags },
          pb: { bucket: 'b', ...flags },
          pc: { bucket: '${aws_s3_bucket.c.bucket}', ...flags, ignore_public_acls: false },
        },
        aws_s3_bucket_policy: {
          qa: { bucket: '${aws_s3_bucket.a.id}', policy: '${data.aws_iam_policy_document.tls.json}' },
          qb: { bucket: 'b', policy: JSON.stringify({ Version: '2012-10-17', Statement: [deny] }) },
          qc: { bucket: '${aws_s3_bucket.c.id}', policy: '${aws_s3_bucket.c.arn}' },
        },
      },
      {
        aws_iam_policy_document: {
          tls: {
            statement: [
              {
                effect: 'Deny',
                principals: [{ type: '*', identifiers: ['*'] }],
                actions: ['s3:*'],
                resources: ['${aws_s3_bucket.a.arn}/*'],
                condition: [{ test: 'Bool', variable: 'aws:SecureTransport', values: ['false'] }],
              },
            ],
          },
        },
      },
    );
    expect(checks(tf)).toEqual([
      'WBT-S3-PAB a ok: a: all four flags',
      'WBT-S3-TLS a ok: a: denies aws:SecureTransport = false',
      'WBT-S3-PAB b ok: b: all four flags',
      'WBT-S3-TLS b ok: b: denies aws:SecureTransport = false',
      'WBT-S3-PAB c violation: ignore_public_acls is not true',
      'WBT-S3-TLS c violation: the policy cannot be read at synthesis (use a data.aws_iam_policy_document or literal JSON)',
    ]);
  });
});

describe('the exposure diff (diff.ts)', () => {
  const audit = (rules: Record<string, JsonObject>): StackAudit => auditStack(plan(ingress(rules)), config);
  const https = onChat({ ip_protocol: 'tcp', from_port: 443, to_port: 443, cidr_ipv4: '0.0.0.0/0' });
  const office = onChat({ ip_protocol: 'tcp', from_port: 8443, to_port: 8443, cidr_ipv4: '198.51.100.0/24' });

  test('rows are compared by environment, host, direction, protocol, ports and peer: a renamed resource is no change', () => {
    expect(diffExposure([audit({ https })], [audit({ 'https-renamed': { ...https, description: 'Another text' } })])).toEqual({ opened: [], closed: [] });
  });

  test('opened and closed exposure, each with its environment, host and row', () => {
    const { opened, closed } = diffExposure([audit({ https, office })], [audit({ https, 'office-wide': { ...office, cidr_ipv4: '198.51.0.0/16' } })]);
    expect(opened.map((c) => `${c.environment} ${c.host} ${c.row.ports} ${c.row.peer}`)).toEqual(['staging chat 8443 198.51.100.0/24']);
    expect(closed.map((c) => `${c.environment} ${c.host} ${c.row.ports} ${c.row.peer}`)).toEqual(['staging chat 8443 198.51.0.0/16']);
  });
});
