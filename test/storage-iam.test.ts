/**
 * Issue "DNS, S3 storage, IAM, secrets and state": private buckets with lifecycle rules, DNS records that bind
 * the names to the Elastic IPs and to Let's Encrypt, hosts that can reach only what their role needs, secrets
 * that exist only in SSM (never in the plan's outputs, tags or user-data), snapshots and outputs.
 */
import { DataAwsRoute53Zone } from '@cdktf/provider-aws/lib/data-aws-route53-zone';
import { Route53Record } from '@cdktf/provider-aws/lib/route53-record';
import { S3BucketOwnershipControls } from '@cdktf/provider-aws/lib/s3-bucket-ownership-controls';
import { S3BucketPublicAccessBlock } from '@cdktf/provider-aws/lib/s3-bucket-public-access-block';
import { SsmParameter } from '@cdktf/provider-aws/lib/ssm-parameter';
import { parse } from 'yaml';
import { ROLES, type Role } from '../config/schema';
import { bucketNameOf, fqdnOf } from '../constructs/weebeetalk-stack';
import { allows, documentStatements, hostIam, MANAGED_POLICIES, type Statement } from './support/iam';
import {
  allResources,
  asArray,
  asObject,
  asString,
  asStrings,
  byNameTag,
  dataSources,
  isObject,
  one,
  referenced,
  resources,
  single,
  synthEnvironment,
  synthVariant,
  type Block,
  type Item,
  type Synthesized,
} from './support/synth';
import './support/matchers';

const PURPOSES = ['recordings', 'uploads', 'backups'] as const;
type Purpose = (typeof PURPOSES)[number];

/** Staging with its own retention, a created zone with an https iodef, no Jibri, a trunk and no phones. */
const tuned = (): Synthesized =>
  synthVariant('tuned', 'staging', {
    storage: { recordingsRetentionDays: 7, backupRetentionDays: 21, noncurrentVersionDays: 5 },
    dns: { zone: 'create', caaIodef: 'https://security.example.org/caa' },
    jitsi: { jibri: false, httpsPort: 8443 },
    sip: { clientCidrs: [], users: [], trunkSignallingCidrs: ['192.0.2.0/28'] },
  });
/** Staging with no SIP networks at all. */
const noSip = (): Synthesized => synthVariant('no-sip', 'staging', { sip: { clientCidrs: [], users: [] } });

const ENVS: [string, () => Synthesized][] = [
  ['staging', () => synthEnvironment('staging')],
  ['production', () => synthEnvironment('production')],
  ['tuned', tuned],
];

function bucketsOf(s: Synthesized): Record<Purpose, Item> {
  const all = resources(s, 'aws_s3_bucket');
  expect(all).toHaveLength(3);
  const out = {} as Record<Purpose, Item>;
  for (const purpose of PURPOSES) out[purpose] = single(all, `${purpose} bucket`, (b) => String(b.block.bucket).includes(`-${purpose}-`));
  return out;
}

/** The one resource of a type that configures this bucket. */
function companion(s: Synthesized, type: string, bucket: Item): Item {
  return single(resources(s, type), `${type} of ${bucket.address}`, (r) => r.block.bucket === bucket.ref('id') || r.block.bucket === bucket.ref('bucket'));
}

interface LifecycleRule {
  readonly block: Block;
  readonly expirationDays?: number;
}

function lifecycleRules(s: Synthesized, bucket: Item): LifecycleRule[] {
  const config = companion(s, 'aws_s3_bucket_lifecycle_configuration', bucket);
  return asArray(config.block.rule, 'rule').map((raw) => {
    const block = asObject(raw, 'lifecycle rule');
    const expiration = block.expiration === undefined ? undefined : one(block.expiration, 'expiration');
    return { block, expirationDays: typeof expiration?.days === 'number' ? expiration.days : undefined };
  });
}

/** A rule that applies to every object: no filter, or a filter with an empty prefix and nothing else. */
function appliesToAll(rule: Block): boolean {
  if (rule.filter === undefined) return rule.prefix === undefined || rule.prefix === '';
  const filter = one(rule.filter, 'filter');
  return Object.entries(filter).every(([k, v]) => k === 'prefix' && v === '');
}

describe.each(ENVS)('buckets of %s', (_label, synth) => {
  test('block every kind of public access, enforce bucket ownership, encrypt, version', () => {
    const s = synth();
    for (const bucket of Object.values(bucketsOf(s))) {
      expect(companion(s, 'aws_s3_bucket_public_access_block', bucket).block).toMatchObject({
        block_public_acls: true,
        block_public_policy: true,
        ignore_public_acls: true,
        restrict_public_buckets: true,
      });
      expect(one(companion(s, 'aws_s3_bucket_ownership_controls', bucket).block.rule, 'ownership rule').object_ownership).toBe('BucketOwnerEnforced');
      const sse = one(companion(s, 'aws_s3_bucket_server_side_encryption_configuration', bucket).block.rule, 'sse rule');
      expect(['AES256', 'aws:kms', 'aws:kms:dsse']).toContain(one(sse.apply_server_side_encryption_by_default, 'sse default').sse_algorithm);
      expect(one(companion(s, 'aws_s3_bucket_versioning', bucket).block.versioning_configuration, 'versioning').status).toBe('Enabled');
      expect(bucket.block.acl).toBeUndefined();
      expect(bucket.block.object_lock_enabled).not.toBe(true);
    }
    expect(s.text).toHaveResourceWithProperties(S3BucketPublicAccessBlock, { block_public_acls: true, block_public_policy: true, ignore_public_acls: true, restrict_public_buckets: true });
    expect(s.text).toHaveResourceWithProperties(S3BucketOwnershipControls, { rule: { object_ownership: 'BucketOwnerEnforced' } });
    // No ACL or website resource could open them again.
    expect(resources(s, 'aws_s3_bucket_acl')).toEqual([]);
    expect(resources(s, 'aws_s3_bucket_website_configuration')).toEqual([]);
  });

  test('a policy denies every request that does not use TLS', () => {
    const s = synth();
    const docs = dataSources(s, 'aws_iam_policy_document');
    for (const bucket of Object.values(bucketsOf(s))) {
      const doc = referenced(docs, companion(s, 'aws_s3_bucket_policy', bucket).block.policy);
      const statements = documentStatements(doc);
      const denyIndex = statements.findIndex((st) => st.effect === 'Deny');
      const deny = statements[denyIndex];
      expect(statements.filter((st) => st.effect === 'Deny')).toHaveLength(1);
      expect(deny.actions).toEqual(['s3:*']);
      expect([...deny.resources].sort()).toEqual([bucket.ref('arn'), `${bucket.ref('arn')}/*`].sort());
      expect(deny.conditions).toEqual([{ test: 'Bool', variable: 'aws:SecureTransport', values: ['false'] }]);
      expect(asObject(asArray(doc.block.statement, 'statement')[denyIndex], 'statement').principals).toEqual([{ type: '*', identifiers: ['*'] }]);
      // Nothing else in the bucket policy grants anything.
      expect(statements.filter((st) => st.effect === 'Allow')).toEqual([]);
    }
  });

  test('lifecycle: recordings and backups expire after their configured days, uploads never; old versions and stale multipart uploads go', () => {
    const s = synth();
    const { storage } = s.config;
    const buckets = bucketsOf(s);
    const expected: Record<Purpose, number | undefined> = { recordings: storage.recordingsRetentionDays, uploads: undefined, backups: storage.backupRetentionDays };
    for (const purpose of PURPOSES) {
      const rules = lifecycleRules(s, buckets[purpose]);
      for (const r of rules) expect(r.block.status).toBe('Enabled');
      const wide = rules.filter((r) => appliesToAll(r.block));
      expect(wide.map((r) => r.expirationDays).filter((d) => d !== undefined)).toEqual(expected[purpose] === undefined ? [] : [expected[purpose]]);
      if (expected[purpose] === undefined) expect(rules.map((r) => r.expirationDays).filter((d) => d !== undefined)).toEqual([]);
      const noncurrent = wide.flatMap((r) => (r.block.noncurrent_version_expiration === undefined ? [] : [one(r.block.noncurrent_version_expiration, 'noncurrent').noncurrent_days]));
      // Recordings keep no old versions: an expired recording must really be gone (privacy).
      expect(noncurrent).toEqual([purpose === 'recordings' ? 1 : storage.noncurrentVersionDays]);
      // Expiring current versions leaves delete markers: a rule must clean them up.
      if (expected[purpose] !== undefined)
        expect(wide.some((r) => r.block.expiration !== undefined && one(r.block.expiration, 'expiration').expired_object_delete_marker === true)).toBe(true);
      const multipart = wide.flatMap((r) => (r.block.abort_incomplete_multipart_upload === undefined ? [] : [Number(one(r.block.abort_incomplete_multipart_upload, 'abort').days_after_initiation)]));
      expect(multipart).toHaveLength(1);
      expect(multipart[0]).toBeGreaterThanOrEqual(1);
      expect(multipart[0]).toBeLessThanOrEqual(7);
    }
  });
});

describe('bucket names', () => {
  test('follow weebeetalk-<env>-<purpose>-<hash>, valid S3 names, unique across environments', () => {
    const names: string[] = [];
    for (const s of [synthEnvironment('staging'), synthEnvironment('production')]) {
      const buckets = bucketsOf(s);
      for (const purpose of PURPOSES) {
        const name = asString(buckets[purpose].block.bucket, 'bucket');
        expect(name).toMatch(new RegExp(`^weebeetalk-${s.config.name}-${purpose}-[0-9a-f]{10}$`));
        expect(name.length).toBeLessThanOrEqual(63);
        expect(name).toBe(bucketNameOf(s.config, purpose));
        names.push(name);
      }
    }
    expect(new Set(names).size).toBe(6);
  });

  test('are stable: settings other than the environment and domain do not change them', () => {
    const a = bucketsOf(synthEnvironment('staging'));
    const b = bucketsOf(tuned());
    for (const purpose of PURPOSES) expect(b[purpose].block.bucket).toBe(a[purpose].block.bucket);
  });
});

/** The CAA records a host name must carry: only Let's Encrypt issues, no wildcards, iodef when configured. */
function expectedCaa(s: Synthesized): string[] {
  const iodef = s.config.dns.caaIodef;
  return ['0 issue "letsencrypt.org"', '0 issuewild ";"', ...(iodef ? [`0 iodef "${iodef}"`] : [])].sort();
}

function zoneIdRef(s: Synthesized): string {
  if (s.config.dns.zone === 'create') return single(resources(s, 'aws_route53_zone'), 'created zone').ref('zone_id');
  return single(dataSources(s, 'aws_route53_zone'), 'looked-up zone').ref('zone_id');
}

describe.each([...ENVS, ['no-sip', noSip] as [string, () => Synthesized]])('DNS of %s', (_label, synth) => {
  test('every host name has an A record to its Elastic IP and CAA records that allow only letsencrypt.org', () => {
    const s = synth();
    const records = resources(s, 'aws_route53_record');
    const zoneId = zoneIdRef(s);
    for (const role of ROLES) {
      const fqdn = fqdnOf(s.config, role);
      const eip = byNameTag(resources(s, 'aws_eip'), `weebeetalk-${s.config.name}-${role}`);
      const a = single(records, `A ${fqdn}`, (r) => r.block.type === 'A' && r.block.name === fqdn);
      expect(a.block.records).toEqual([eip.ref('public_ip')]);
      const caa = single(records, `CAA ${fqdn}`, (r) => r.block.type === 'CAA' && r.block.name === fqdn);
      expect(asStrings(caa.block.records, 'CAA records').sort()).toEqual(expectedCaa(s));
      for (const value of asStrings(caa.block.records, 'CAA records')) {
        const m = /^0 (issue|issuewild|iodef) "(.*)"$/.exec(value);
        expect(m).not.toBeNull();
        if (m?.[1] === 'issue') expect(m[2]).toBe('letsencrypt.org');
        if (m?.[1] === 'issuewild') expect(m[2]).toBe(';');
      }
    }
    for (const r of records) expect(r.block.zone_id).toBe(zoneId);
    expect(s.text).toHaveResourceWithProperties(Route53Record, { type: 'CAA', records: expect.arrayContaining(['0 issue "letsencrypt.org"']) });
  });

  test('SIP SRV records exactly when phones (_sips._tcp) or a trunk (_sip._udp, _sip._tcp) are configured', () => {
    const s = synth();
    const domain = [s.config.dns.subdomain, s.config.dns.domain].filter((p) => p !== '').join('.');
    const pbx = fqdnOf(s.config, 'pbx');
    const expected: Record<string, string[]> = {};
    if (s.config.sip.clientCidrs.length > 0) expected[`_sips._tcp.${domain}`] = [`10 10 5061 ${pbx}.`];
    if (s.config.sip.trunkSignallingCidrs.length > 0) {
      expected[`_sip._udp.${domain}`] = [`10 10 5060 ${pbx}.`];
      expected[`_sip._tcp.${domain}`] = [`10 10 5060 ${pbx}.`];
    }
    const srv = Object.fromEntries(
      resources(s, 'aws_route53_record')
        .filter((r) => r.block.type === 'SRV')
        .map((r) => [r.block.name, r.block.records]),
    );
    expect(srv).toEqual(expected);
  });

  test('only A, CAA and SRV records are managed', () => {
    for (const r of resources(synth(), 'aws_route53_record')) expect(['A', 'CAA', 'SRV']).toContain(r.block.type);
  });
});

describe('hosted zone', () => {
  test('shipped environments look their zone up: nothing to delegate, no name_servers output', () => {
    for (const s of [synthEnvironment('staging'), synthEnvironment('production')]) {
      expect(resources(s, 'aws_route53_zone')).toEqual([]);
      expect(s.text).toHaveDataSourceWithProperties(DataAwsRoute53Zone, { name: 'weebeetalk.example', private_zone: false });
      expect(s.json.output?.name_servers).toBeUndefined();
    }
  });

  test('a created zone is a public zone whose name servers are an output', () => {
    const s = tuned();
    expect(dataSources(s, 'aws_route53_zone')).toEqual([]);
    const zone = single(resources(s, 'aws_route53_zone'), 'created zone');
    expect(zone.block.name).toBe('weebeetalk.example');
    expect(zone.block.vpc).toBeUndefined();
    expect(s.json.output?.name_servers).toMatchObject({ value: zone.ref('name_servers') });
  });
});

const paramArn = (s: Synthesized, path: string): string =>
  `arn:aws:ssm:${s.config.aws.region}:${single(dataSources(s, 'aws_caller_identity'), 'caller identity').ref('account_id')}:parameter${path}`;
const SSM_READS = ['ssm:GetParameter', 'ssm:GetParameters', 'ssm:GetParametersByPath'];

describe.each(ENVS)('IAM of %s', (_label, synth) => {
  test('each instance uses its own role, assumable by EC2 only, with Session Manager', () => {
    const s = synth();
    const docs = dataSources(s, 'aws_iam_policy_document');
    const seen = new Set<string>();
    for (const role of ROLES) {
      const iam = hostIam(s, role);
      seen.add(iam.role.address);
      expect(iam.role.block.name).toBe(`weebeetalk-${s.config.name}-${role}`);
      const trust = documentStatements(referenced(docs, iam.role.block.assume_role_policy));
      expect(trust).toHaveLength(1);
      expect(trust[0].actions).toEqual(['sts:AssumeRole']);
      const principals = asArray(asObject(asArray(referenced(docs, iam.role.block.assume_role_policy).block.statement, 'statement')[0], 'statement').principals, 'principals');
      expect(principals).toEqual([{ type: 'Service', identifiers: ['ec2.amazonaws.com'] }]);
      // Session Manager from an inline policy: AmazonSSMManagedInstanceCore would grant ssm:GetParameter(s) on "*".
      expect(iam.managedArns).toEqual([]);
      expect(allows(iam.inline, 'ssm:UpdateInstanceInformation', `arn:aws:ec2:${s.config.aws.region}:${single(dataSources(s, 'aws_caller_identity'), 'caller identity').ref('account_id')}:instance/i-0123`)).toBe(true);
      for (const a of ['ssmmessages:CreateControlChannel', 'ssmmessages:CreateDataChannel', 'ssmmessages:OpenControlChannel', 'ssmmessages:OpenDataChannel'])
        expect(allows(iam.inline, a, '*')).toBe(true);
    }
    expect(seen.size).toBe(3);
  });

  test("the SSM agent may do what AmazonSSMManagedInstanceCore allows it, on \"*\", except reading parameters", () => {
    const s = synth();
    // The agent's own calls (registration, Session Manager's channels, State Manager) take Resource "*" in AWS's
    // managed policy; a narrower resource may refuse the registration and leave the host unreachable.
    const agent = MANAGED_POLICIES.AmazonSSMManagedInstanceCore.flatMap((st) => st.actions).filter((a) => !SSM_READS.includes(a));
    for (const role of ROLES) {
      const { inline } = hostIam(s, role);
      const refused = agent.filter((a) => !allows(inline, a, '*'));
      expect({ role, refused }).toEqual({ role, refused: [] });
      for (const a of SSM_READS) expect({ role, action: a, onStar: allows(inline, a, '*') }).toEqual({ role, action: a, onStar: false });
    }
  });

  test("the hosts' own policies grant SSM reads on their own path only", () => {
    const s = synth();
    for (const role of ROLES) {
      const { inline } = hostIam(s, role);
      const own = `/weebeetalk/${s.config.name}/${role}`;
      const ssm = inline.filter((st) => st.actions.some((a) => SSM_READS.includes(a)));
      expect(ssm).toHaveLength(1);
      expect([...ssm[0].actions].sort()).toEqual([...SSM_READS].sort());
      expect([...ssm[0].resources].sort()).toEqual([paramArn(s, own), paramArn(s, `${own}/*`)].sort());
    }
  });

  test("each host can read its own SSM path and no other host's, counting the managed policies it carries", () => {
    const s = synth();
    const readable: Record<Role, string[]> = { chat: [], meet: [], pbx: [] };
    for (const role of ROLES) {
      const { effective } = hostIam(s, role);
      expect(allows(effective, 'ssm:GetParameter', paramArn(s, `/weebeetalk/${s.config.name}/${role}/x`))).toBe(true);
      const foreign = [
        ...ROLES.filter((r) => r !== role).map((r) => [`${r}'s path`, `/weebeetalk/${s.config.name}/${r}/x`]),
        // Staging and production may share an account: the other environment's secrets are as foreign.
        ...ROLES.map((r) => [`another environment's ${r} path`, `/weebeetalk/${s.config.name === 'production' ? 'staging' : 'production'}/${r}/x`]),
      ];
      for (const [what, path] of foreign) for (const action of SSM_READS) if (allows(effective, action, paramArn(s, path))) readable[role].push(`${action} on ${what}`);
    }
    expect(readable).toEqual({ chat: [], meet: [], pbx: [] });
  });

  test('S3: chat gets uploads and its backups, meet gets recordings only with Jibri, pbx gets no bucket', () => {
    const s = synth();
    const buckets = bucketsOf(s);
    // Grants name buckets by their (synth-time) names, not by reference: see PUBLIC_IP in userdata/context.ts.
    const arn = (p: Purpose): string => `arn:aws:s3:::${asString(buckets[p].block.bucket, 'bucket')}`;
    const obj = (p: Purpose, key: string): string => `${arn(p)}/${key}`;
    const can = (role: Role, action: string, resource: string): boolean => allows(hostIam(s, role).inline, action, resource);
    // chat: Rocket.Chat's uploads (read, write, delete) and its own prefix of the backups bucket (write, read back).
    for (const action of ['s3:GetObject', 's3:PutObject', 's3:DeleteObject']) expect(can('chat', action, obj('uploads', 'f/1'))).toBe(true);
    expect(can('chat', 's3:PutObject', obj('backups', 'chat/dump.gz'))).toBe(true);
    expect(can('chat', 's3:DeleteObject', obj('backups', 'chat/dump.gz'))).toBe(false);
    expect(can('chat', 's3:PutObject', obj('backups', 'meet/x'))).toBe(false);
    // meet: Jibri's uploads, write-only.
    expect(can('meet', 's3:PutObject', obj('recordings', 'r/1.mp4'))).toBe(s.config.jitsi.jibri);
    expect(can('meet', 's3:GetObject', obj('recordings', 'r/1.mp4'))).toBe(false);
    expect(can('meet', 's3:DeleteObject', obj('recordings', 'r/1.mp4'))).toBe(false);
    const s3Resources = (role: Role): string[] => hostIam(s, role).inline.filter((st) => st.actions.some((a) => a.startsWith('s3:'))).flatMap((st) => [...st.resources]);
    for (const r of s3Resources('chat')) expect(r.startsWith(arn('uploads')) || r.startsWith(obj('backups', 'chat/'))).toBe(true);
    for (const r of s3Resources('meet')) expect(r).toBe(obj('recordings', '*'));
    if (!s.config.jitsi.jibri) expect(s3Resources('meet')).toEqual([]);
    expect(s3Resources('pbx')).toEqual([]);
    for (const role of ROLES) for (const p of PURPOSES) expect(can(role, 's3:DeleteBucket', arn(p))).toBe(false);
  });

  test("pbx may only answer ACME DNS challenges for its own name in the environment's zone", () => {
    const s = synth();
    const normalize = (st: Statement) => ({
      effect: st.effect,
      actions: [...st.actions].sort(),
      resources: [...st.resources].sort(),
      conditions: st.conditions.map((c): Record<string, unknown> => ({ ...c, values: asStrings(c.values, 'values').slice().sort() })).sort((a, b) => String(a.variable).localeCompare(String(b.variable))),
    });
    // Everything but the SSM statements (own path, the SSM agent) every host has.
    const route53 = hostIam(s, 'pbx').inline.filter((st) => !st.actions.some((a) => /^(ssm|ssmmessages|ec2messages):/.test(a))).map(normalize);
    expect(route53).toEqual([
      {
        effect: 'Allow',
        actions: ['route53:ChangeResourceRecordSets'],
        resources: [`arn:aws:route53:::hostedzone/${zoneIdRef(s)}`],
        conditions: [
          { test: 'ForAllValues:StringEquals', variable: 'route53:ChangeResourceRecordSetsActions', values: ['DELETE', 'UPSERT'] },
          { test: 'ForAllValues:StringEquals', variable: 'route53:ChangeResourceRecordSetsNormalizedRecordNames', values: [`_acme-challenge.${fqdnOf(s.config, 'pbx')}`] },
          { test: 'ForAllValues:StringEquals', variable: 'route53:ChangeResourceRecordSetsRecordTypes', values: ['TXT'] },
        ],
      },
      { effect: 'Allow', actions: ['route53:GetChange'], resources: ['arn:aws:route53:::change/*'], conditions: [] },
      { effect: 'Allow', actions: ['route53:ListHostedZones'], resources: ['*'], conditions: [] },
    ]);
    for (const role of ['chat', 'meet'] as const) expect(hostIam(s, role).inline.flatMap((st) => st.actions).filter((a) => a.startsWith('route53:'))).toEqual([]);
  });

  test('no host policy names "*" as a resource except for ListHostedZones and the SSM agent, nor a wildcard action', () => {
    const s = synth();
    for (const role of ROLES) {
      for (const st of hostIam(s, role).inline) {
        expect(st.effect).toBe('Allow');
        expect(st.notActions).toEqual([]);
        expect(st.notResources).toEqual([]);
        for (const a of st.actions) expect(a).not.toContain('*');
        // Only zone discovery and the SSM agent's own calls (as in AWS's managed policy) may name "*".
        const agent = MANAGED_POLICIES.AmazonSSMManagedInstanceCore.flatMap((x) => x.actions).filter((a) => !SSM_READS.includes(a));
        const noResourceLevel = ['route53:ListHostedZones', ...agent];
        if (st.resources.includes('*')) for (const a of st.actions) expect({ role, action: a, allowed: noResourceLevel.includes(a) }).toEqual({ role, action: a, allowed: true });
      }
    }
  });
});

/** SSM parameters every environment must hold, by relative path (hand-written from the design). */
function expectedParameters(s: Synthesized): string[] {
  const c = s.config;
  return [
    'chat/admin-password',
    ...(c.jitsi.auth === 'jwt' ? ['meet/jwt-app-id', 'meet/jwt-app-secret'] : []),
    ...(c.jitsi.jigasi ? ['meet/jigasi-sip-password', 'pbx/jigasi-sip-password'] : []),
    ...c.sip.users.map((u) => `pbx/sip-users/${u.extension}`),
  ]
    .map((p) => `/weebeetalk/${c.name}/${p}`)
    .sort();
}

/**
 * The one parameter that is not a secret: the Jitsi JWT application id is the `iss` claim, readable in every
 * token; it is stored as String so operators can copy it into the Rocket.Chat Jitsi app.
 */
const PUBLIC_PARAMETERS = ['meet/jwt-app-id'];
const RANDOM_REF_RE = /^\$\{data\.aws_secretsmanager_random_password\.([^.}]+)\.random_password\}$/;

describe.each(ENVS)('secrets of %s', (_label, synth) => {
  test('SSM parameters: the expected set, under /weebeetalk/<env>/<role>/', () => {
    const s = synth();
    const names = resources(s, 'aws_ssm_parameter').map((p) => asString(p.block.name, 'name'));
    expect([...names].sort()).toEqual(expectedParameters(s));
    for (const n of names) expect(n).toMatch(new RegExp(`^/weebeetalk/${s.config.name}/(chat|meet|pbx)/[a-z0-9][a-z0-9/-]*$`));
  });

  test('secrets are SecureString, kept once written, valued only by reference to a generated password', () => {
    const s = synth();
    const randoms = dataSources(s, 'aws_secretsmanager_random_password');
    const used = new Map<string, string[]>();
    for (const p of resources(s, 'aws_ssm_parameter')) {
      const name = asString(p.block.name, 'name');
      const relative = name.replace(`/weebeetalk/${s.config.name}/`, '');
      expect(p.block.insecure_value).toBeUndefined();
      if (PUBLIC_PARAMETERS.includes(relative)) {
        expect(p.block).toMatchObject({ type: 'String', value: `weebeetalk-${s.config.name}` });
        continue;
      }
      expect(p.block.type).toBe('SecureString');
      expect(asStrings(asObject(p.block.lifecycle, `${p.address}.lifecycle`).ignore_changes, 'ignore_changes')).toContain('value');
      const m = RANDOM_REF_RE.exec(asString(p.block.value, `${p.address}.value`));
      if (!m) throw new Error(`${name} is not valued by a random-password reference: ${String(p.block.value)}`);
      const source = single(randoms, `random password ${m[1]}`, (r) => r.key === m[1]);
      expect(Number(source.block.password_length)).toBeGreaterThanOrEqual(20);
      used.set(source.key, [...(used.get(source.key) ?? []), relative]);
    }
    expect(s.text).toHaveResourceWithProperties(SsmParameter, { type: 'SecureString', name: `/weebeetalk/${s.config.name}/chat/admin-password` });
    // Only the two ends of the Jigasi trunk share a value; every other secret is its own.
    for (const [, paths] of used) {
      if (paths.length > 1) expect(paths.sort()).toEqual(['meet/jigasi-sip-password', 'pbx/jigasi-sip-password']);
    }
  });

  test('no generated secret is referenced anywhere but an SSM parameter value', () => {
    const s = synth();
    const hits: string[] = [];
    const walk = (v: unknown, path: string): void => {
      if (typeof v === 'string') {
        if (/aws_secretsmanager_random_password\./.test(v) && !/^resource\.aws_ssm_parameter\.[^.]+\.value$/.test(path)) hits.push(path);
        if (/aws_ssm_parameter\.[^.}]+\.(value|insecure_value)\b/.test(v)) hits.push(path);
      } else if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${path}[${i}]`));
      else if (isObject(v)) for (const [k, x] of Object.entries(v)) walk(x, path ? `${path}.${k}` : k);
    };
    walk(s.json, '');
    expect(hits).toEqual([]);
    expect(s.text).not.toMatch(/AKIA[0-9A-Z]{16}/);
    expect(s.text).not.toMatch(/-----BEGIN [A-Z ]*PRIVATE KEY-----/);
    expect(s.text).not.toMatch(/secret_access_key|aws_secret_access_key/i);
  });

  test('outputs, tags and user-data carry no secret value', () => {
    const s = synth();
    const secretName = /pass(word|wd)?|secret|token|private[_-]?key|credential/i;
    // A literal that looks like a generated password: 8+ characters, no expansion, path or reference syntax.
    const literalSecret = /^["']?[A-Za-z0-9+=_-]{8,}["']?$/;
    for (const [name, output] of Object.entries(s.json.output ?? {})) {
      expect({ name, secretName: secretName.test(name) }).toEqual({ name, secretName: false });
      expect(output.sensitive).not.toBe(true);
    }
    const tags: [string, string, string][] = [];
    const collect = (v: unknown, path: string): void => {
      if (Array.isArray(v)) v.forEach((x, i) => collect(x, `${path}[${i}]`));
      else if (isObject(v))
        for (const [k, x] of Object.entries(v)) {
          if ((k === 'tags' || k === 'tags_all') && isObject(x)) for (const [tk, tv] of Object.entries(x)) tags.push([`${path}.${k}`, tk, String(tv)]);
          else collect(x, `${path}.${k}`);
        }
    };
    collect(s.json.resource, 'resource');
    collect(s.json.provider, 'provider');
    expect(tags.length).toBeGreaterThan(10);
    for (const [path, key, value] of tags) expect({ path, key, value, secret: secretName.test(key) || secretName.test(value) }).toMatchObject({ secret: false });
    // User-data: settings whose name says secret are fetched at boot (SSM), never written in.
    const offending: string[] = [];
    for (const config of dataSources(s, 'cloudinit_config')) {
      const parts = asArray(config.block.part, 'part').map((p) => asString(asObject(p, 'part').content, 'content'));
      const doc = asObject(parse(parts[0]), 'cloud-config');
      const texts = [...asArray(doc.write_files, 'write_files').map((f) => asString(asObject(f, 'file').content, 'content')), parts[1]];
      for (const text of texts) {
        for (const line of text.split('\n')) {
          const m = /^\s*(?:export\s+|local\s+|readonly\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line);
          if (m && secretName.test(m[1]) && literalSecret.test(m[2])) offending.push(`${config.address}: ${line.trim()}`);
        }
      }
    }
    expect(offending).toEqual([]);
  });
});

describe.each(ENVS)('snapshots and outputs of %s', (_label, synth) => {
  test("the DLM policy snapshots exactly the environment's data volumes, daily, keeping the configured count", () => {
    const s = synth();
    const tag = { 'weebeetalk:snapshot': `${s.config.name}-daily` };
    // Staging has none by default: snapshots would outlive `cdktf destroy staging`.
    expect(s.config.snapshots.enabled).toBe(s.config.tier === 'production');
    if (!s.config.snapshots.enabled) {
      expect(resources(s, 'aws_dlm_lifecycle_policy')).toEqual([]);
      return;
    }
    const policy = single(resources(s, 'aws_dlm_lifecycle_policy'), 'DLM policy');
    expect(policy.block.state).toBe('ENABLED');
    const details = asObject(policy.block.policy_details, 'policy_details');
    expect(details.resource_types).toEqual(['VOLUME']);
    expect(details.target_tags).toEqual(tag);
    const schedule = one(details.schedule, 'schedule');
    expect(asObject(schedule.retain_rule, 'retain_rule').count).toBe(s.config.snapshots.retainCount);
    expect(asObject(schedule.create_rule, 'create_rule')).toMatchObject({ interval: 24, interval_unit: 'HOURS', times: [s.config.snapshots.time] });
    for (const v of resources(s, 'aws_ebs_volume')) expect(v.block.tags).toMatchObject(tag);
    for (const i of resources(s, 'aws_instance')) {
      const root = one(i.block.root_block_device, 'root_block_device');
      expect(isObject(root.tags) ? root.tags['weebeetalk:snapshot'] : undefined).toBeUndefined();
    }
  });

  test('outputs: URLs, names, addresses, SSM session commands, bucket names', () => {
    const s = synth();
    const out = s.json.output ?? {};
    const value = (name: string): unknown => asObject(out[name], `output ${name}`).value;
    const port = s.config.jitsi.httpsPort === 443 ? '' : `:${s.config.jitsi.httpsPort}`;
    expect(value('chat_url')).toBe(`https://${fqdnOf(s.config, 'chat')}`);
    expect(value('meet_url')).toBe(`https://${fqdnOf(s.config, 'meet')}${port}`);
    const buckets = bucketsOf(s);
    for (const role of ROLES) {
      const instance = byNameTag(resources(s, 'aws_instance'), `weebeetalk-${s.config.name}-${role}`);
      const eip = byNameTag(resources(s, 'aws_eip'), `weebeetalk-${s.config.name}-${role}`);
      expect(value(`${role}_fqdn`)).toBe(fqdnOf(s.config, role));
      expect(value(`${role}_public_ip`)).toBe(eip.ref('public_ip'));
      expect(value(`${role}_ssm_session`)).toBe(`aws ssm start-session --region ${s.config.aws.region} --target ${instance.ref('id')}`);
    }
    for (const p of PURPOSES) expect(value(`${p}_bucket`)).toBe(buckets[p].ref('bucket'));
  });
});

describe('the IAM evaluator of test/support/iam.ts', () => {
  const arn = 'arn:aws:ssm:ap-southeast-3:111122223333:parameter/weebeetalk/staging/pbx/x';
  const grant: Statement = { effect: 'Allow', actions: ['ssm:GetParameter'], notActions: [], resources: ['*'], notResources: [], conditions: [] };

  test('an Allow on "*" allows, an unconditional Deny wins, a NotResource Deny spares only what it lists', () => {
    expect(allows([grant], 'ssm:GetParameter', arn)).toBe(true);
    expect(allows([grant], 'ssm:PutParameter', arn)).toBe(false);
    const deny: Statement = { ...grant, effect: 'Deny', actions: ['ssm:GetParameter*'], resources: ['arn:aws:ssm:*:*:parameter/weebeetalk/staging/pbx/*'] };
    expect(allows([grant, deny], 'ssm:GetParameter', arn)).toBe(false);
    const denyOthers: Statement = { ...deny, resources: [], notResources: ['arn:aws:ssm:*:*:parameter/weebeetalk/staging/chat/*'] };
    expect(allows([grant, denyOthers], 'ssm:GetParameter', arn)).toBe(false);
    expect(allows([grant, denyOthers], 'ssm:GetParameter', arn.replace('/pbx/', '/chat/'))).toBe(true);
    // A conditional Deny is not counted on (it may not apply).
    expect(allows([grant, { ...deny, conditions: [{ test: 'Bool', variable: 'aws:ViaAWSService', values: ['false'] }] }], 'ssm:GetParameter', arn)).toBe(true);
  });
});

test('staging names are hand-checked: the suite reads the right things', () => {
  const s = synthEnvironment('staging');
  expect(fqdnOf(s.config, 'chat')).toBe('chat.staging.weebeetalk.example');
  expect(expectedParameters(s)).toEqual([
    '/weebeetalk/staging/chat/admin-password',
    '/weebeetalk/staging/meet/jigasi-sip-password',
    '/weebeetalk/staging/meet/jwt-app-id',
    '/weebeetalk/staging/meet/jwt-app-secret',
    '/weebeetalk/staging/pbx/jigasi-sip-password',
    '/weebeetalk/staging/pbx/sip-users/1001',
    '/weebeetalk/staging/pbx/sip-users/1002',
  ]);
  expect(asObject(s.json.output?.meet_url, 'meet_url').value).toBe('https://meet.staging.weebeetalk.example');
  expect(asObject(tuned().json.output?.meet_url, 'meet_url').value).toBe('https://meet.staging.weebeetalk.example:8443');
  expect(allResources(s).length).toBeGreaterThan(50);
});
