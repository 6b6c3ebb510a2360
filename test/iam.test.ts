/**
 * IAM of the synthesized plans: each host's own role, assumable by EC2 only, with Session Manager and the SSM
 * agent's calls; SSM reads on its own path only; S3 and Route53 exactly as its role needs; no wildcard action.
 * And the offline IAM evaluator these tests rely on (test/support/iam.ts).
 */
import { fqdnOf } from '../config/names';
import { enabledPools, enabledRoles, POOLS, ROLES, type AnyRole, type Role } from '../config/schema';
import { expectedRoles } from './support/hosts';
import { allows, documentStatements, hostIam, MANAGED_POLICIES, type Statement } from './support/iam';
import { bucketsOf, PURPOSES, sharedSecrets, zoneIdRef, type Purpose } from './support/parts';
import { asArray, asObject, asString, asStrings, dataSources, isObject, referenced, resources, single, type Synthesized } from './support/synth';
import { SHIPPED_AND_TUNED as ENVS } from './support/variants';

const paramArn = (s: Synthesized, path: string): string => `arn:aws:ssm:${s.config.aws.region}:${single(dataSources(s, 'aws_caller_identity'), 'caller identity').ref('account_id')}:parameter${path}`;
const SSM_READS = ['ssm:GetParameter', 'ssm:GetParameters', 'ssm:GetParametersByPath'];
/** Every role with an instance profile: the hosts, then the pools' members. */
const everyRole = (s: Synthesized): AnyRole[] => [...enabledRoles(s.config), ...enabledPools(s.config)];

/** A statement with its lists sorted, for comparing statements whatever their order. */
const normalize = (st: Statement) => ({
  effect: st.effect,
  actions: [...st.actions].sort(),
  resources: [...st.resources].sort(),
  conditions: st.conditions.map((c): Record<string, unknown> => ({ ...c, values: asStrings(c.values, 'values').slice().sort() })).sort((a, b) => String(a.variable).localeCompare(String(b.variable))),
});

/**
 * What each host may do in the configuration bucket, hand-written from the design: read its own bundles; let the
 * SSM agent store its own apply output (PutObject with the bucket-owner ACL, after reading the bucket's encryption).
 */
function configStatements(s: Synthesized, role: Role): Statement[] {
  const bucket = `arn:aws:s3:::${asString(bucketsOf(s).config.block.bucket, 'bucket')}`;
  const st = (actions: string[], res: string): Statement => ({ effect: 'Allow', actions, notActions: [], resources: [res], notResources: [], conditions: [] });
  return [st(['s3:GetObject'], `${bucket}/bundles/${role}/*`), st(['s3:PutObject', 's3:PutObjectAcl'], `${bucket}/apply-output/${role}/*`), st(['s3:GetEncryptionConfiguration'], bucket)];
}

/**
 * What a host may do with the environment's key (kms.customerManagedKey), hand-written: decrypt its SecureStrings
 * through SSM, read and write objects through S3; nothing without a key.
 */
function keyStatements(s: Synthesized): Statement[] {
  if (!s.config.kms.customerManagedKey) return [];
  const key = single(resources(s, 'aws_kms_key'), 'the environment key').ref('arn');
  const via = (actions: string[], service: string): Statement => ({
    effect: 'Allow',
    actions,
    notActions: [],
    resources: [key],
    notResources: [],
    // In the synthesized key order (the ACME test compares statements as text).
    conditions: [{ test: 'StringEquals', values: [`${service}.${s.config.aws.region}.amazonaws.com`], variable: 'kms:ViaService' }],
  });
  return [via(['kms:Decrypt', 'kms:GenerateDataKey'], 's3'), via(['kms:Decrypt'], 'ssm')];
}

/**
 * The CloudWatch agent's and the host metrics' grants (userdata/cloudwatch-agent.ts), hand-written: PutMetricData into
 * the environment's namespace only (the agent's figures too), log streams and events in the host's own log groups only.
 */
function monitoringStatements(s: Synthesized, role: Role): Statement[] {
  const group = (log: string): string => `arn:aws:logs:${s.config.aws.region}:\${data.aws_caller_identity.account.account_id}:log-group:/weebeetalk/${s.config.name}/${role}/${log}`;
  const logs = ['bootstrap', 'apply', ...(role === 'pbx' ? ['asterisk-security'] : [])];
  return [
    {
      effect: 'Allow',
      actions: ['cloudwatch:PutMetricData'],
      notActions: [],
      resources: ['*'],
      notResources: [],
      // In the synthesized key order (the ACME test compares statements as text).
      conditions: [{ test: 'StringEquals', values: [`WeeBeeTalk/${s.config.name}`], variable: 'cloudwatch:namespace' }],
    },
    {
      effect: 'Allow',
      actions: ['logs:CreateLogStream', 'logs:PutLogEvents', 'logs:DescribeLogStreams'],
      notActions: [],
      resources: logs.flatMap((l) => [group(l), `${group(l)}:*`]),
      notResources: [],
      conditions: [],
    },
  ];
}

/** The Route53 statements of a host with a certificate by DNS-01, hand-written: certbot's, for its own name only. */
function acmeStatements(s: Synthesized, role: 'pbx' | 'turn'): ReturnType<typeof normalize>[] {
  return [
    {
      effect: 'Allow',
      actions: ['route53:ChangeResourceRecordSets'],
      resources: [`arn:aws:route53:::hostedzone/${zoneIdRef(s)}`],
      conditions: [
        { test: 'ForAllValues:StringEquals', variable: 'route53:ChangeResourceRecordSetsActions', values: ['DELETE', 'UPSERT'] },
        { test: 'ForAllValues:StringEquals', variable: 'route53:ChangeResourceRecordSetsNormalizedRecordNames', values: [`_acme-challenge.${fqdnOf(s.config, role)}`] },
        { test: 'ForAllValues:StringEquals', variable: 'route53:ChangeResourceRecordSetsRecordTypes', values: ['TXT'] },
      ],
    },
    { effect: 'Allow', actions: ['route53:GetChange'], resources: ['arn:aws:route53:::change/*'], conditions: [] },
    { effect: 'Allow', actions: ['route53:ListHostedZones'], resources: ['*'], conditions: [] },
  ];
}

describe.each(ENVS)('IAM of %s', (_label, synth) => {
  test('each instance (a host or a pool member) uses its own role, assumable by EC2 only, with Session Manager', () => {
    const s = synth();
    const docs = dataSources(s, 'aws_iam_policy_document');
    const seen = new Set<string>();
    expect(enabledRoles(s.config)).toEqual(expectedRoles(s));
    for (const role of everyRole(s)) {
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
      expect(
        allows(iam.inline, 'ssm:UpdateInstanceInformation', `arn:aws:ec2:${s.config.aws.region}:${single(dataSources(s, 'aws_caller_identity'), 'caller identity').ref('account_id')}:instance/i-0123`),
      ).toBe(true);
      for (const a of ['ssmmessages:CreateControlChannel', 'ssmmessages:CreateDataChannel', 'ssmmessages:OpenControlChannel', 'ssmmessages:OpenDataChannel'])
        expect(allows(iam.inline, a, '*')).toBe(true);
    }
    expect(seen.size).toBe(everyRole(s).length);
    // No role (nor instance profile) for a host the environment does not build.
    const hostRoles = resources(s, 'aws_iam_role').filter((r) => String(r.block.description).startsWith('WeeBeeTalk host '));
    // The pools' members have a role each too (constructs/pool.ts), named after their group.
    const built: AnyRole[] = [...expectedRoles(s), ...enabledPools(s.config)];
    expect(hostRoles.map((r) => r.block.name).sort()).toEqual(built.map((role) => `weebeetalk-${s.config.name}-${role}`).sort());
    expect(resources(s, 'aws_iam_instance_profile')).toHaveLength(built.length);
  });

  test('the SSM agent may do what AmazonSSMManagedInstanceCore allows it, on "*", except reading parameters', () => {
    const s = synth();
    // The agent's own calls (registration, Session Manager's channels, State Manager) take Resource "*" in AWS's
    // managed policy; a narrower resource may refuse the registration and leave the host unreachable.
    const agent = MANAGED_POLICIES.AmazonSSMManagedInstanceCore.flatMap((st) => st.actions).filter((a) => !SSM_READS.includes(a));
    for (const role of everyRole(s)) {
      const { inline } = hostIam(s, role);
      const refused = agent.filter((a) => !allows(inline, a, '*'));
      expect({ role, refused }).toEqual({ role, refused: [] });
      for (const a of SSM_READS) expect({ role, action: a, onStar: allows(inline, a, '*') }).toEqual({ role, action: a, onStar: false });
    }
  });

  test("the hosts' own policies grant SSM reads on their own path, and GetParameter on each shared secret they read", () => {
    const s = synth();
    for (const role of everyRole(s)) {
      const { inline } = hostIam(s, role);
      const own = `/weebeetalk/${s.config.name}/${role}`;
      const ssm = inline.filter((st) => st.actions.some((a) => SSM_READS.includes(a)));
      const shared = Object.entries(sharedSecrets(s))
        .filter(([, readers]) => readers.includes(role))
        .map(([path]) => paramArn(s, `/weebeetalk/${s.config.name}/${path}`));
      expect(ssm).toHaveLength(shared.length > 0 ? 2 : 1);
      expect([...ssm[0].actions].sort()).toEqual([...SSM_READS].sort());
      expect([...ssm[0].resources].sort()).toEqual([paramArn(s, own), paramArn(s, `${own}/*`)].sort());
      if (shared.length > 0) expect({ actions: ssm[1].actions, resources: [...ssm[1].resources].sort() }).toEqual({ actions: ['ssm:GetParameter'], resources: shared.sort() });
    }
  });

  test("each host can read its own SSM path and no other host's, counting the managed policies it carries", () => {
    const s = synth();
    const roles = everyRole(s);
    const readable = Object.fromEntries(roles.map((role) => [role, [] as string[]]));
    for (const role of roles) {
      const { effective } = hostIam(s, role);
      expect(allows(effective, 'ssm:GetParameter', paramArn(s, `/weebeetalk/${s.config.name}/${role}/x`))).toBe(true);
      const foreign = [
        // Every other role's, built here or not (a relay turned on later must not find its secret readable elsewhere).
        ...[...ROLES, ...POOLS].filter((r) => r !== role).map((r) => [`${r}'s path`, `/weebeetalk/${s.config.name}/${r}/x`]),
        [`the environment's root`, `/weebeetalk/${s.config.name}/x`],
        [`a sibling of its path`, `/weebeetalk/${s.config.name}/${role}-x/y`],
        // Staging and production may share an account: the other environment's secrets are as foreign.
        ...[...ROLES, ...POOLS].map((r) => [`another environment's ${r} path`, `/weebeetalk/${s.config.name === 'production' ? 'staging' : 'production'}/${r}/x`]),
      ];
      for (const [what, path] of foreign) for (const action of SSM_READS) if (allows(effective, action, paramArn(s, path))) readable[role].push(`${action} on ${what}`);
      // A shared secret is the one exception: its readers get GetParameter on it, nobody else.
      for (const [path, readers] of Object.entries(sharedSecrets(s))) {
        const arn = paramArn(s, `/weebeetalk/${s.config.name}/${path}`);
        const owner = path.split('/')[0];
        expect({ role, path, reads: allows(effective, 'ssm:GetParameter', arn) }).toEqual({ role, path, reads: role === owner || readers.includes(role) });
      }
    }
    expect(readable).toEqual(Object.fromEntries(roles.map((role) => [role, []])));
  });

  test('S3: chat gets uploads and its backups, meet gets recordings only with Jibri, pbx no data bucket; each its own bundles and apply output', () => {
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
    const s3Resources = (role: Role): string[] =>
      hostIam(s, role)
        .inline.filter((st) => st.actions.some((a) => a.startsWith('s3:')))
        .flatMap((st) => [...st.resources]);
    const config = (role: Role): string[] => configStatements(s, role).flatMap((st) => [...st.resources]);
    for (const r of s3Resources('chat')) expect(r.startsWith(arn('uploads')) || r.startsWith(obj('backups', 'chat/')) || config('chat').includes(r)).toBe(true);
    for (const r of s3Resources('meet')) expect([obj('recordings', '*'), ...config('meet')]).toContain(r);
    if (!s.config.jitsi.jibri) expect(s3Resources('meet').sort()).toEqual(config('meet').sort());
    expect(s3Resources('pbx').sort()).toEqual(config('pbx').sort());
    // turn: no data bucket either, only its own bundles and apply output.
    if (s.config.turn.enabled) expect(s3Resources('turn').sort()).toEqual(config('turn').sort());
    // The configuration bucket: exactly these statements per host (reading its own bundles; the SSM agent storing
    // its own apply output), nothing else in that bucket.
    const roles = enabledRoles(s.config);
    for (const role of roles) {
      const inConfig = hostIam(s, role)
        .inline.filter((st) => st.resources.some((r) => r.startsWith(arn('config'))))
        .map(normalize);
      expect({ role, statements: inConfig }).toEqual({ role, statements: configStatements(s, role).map(normalize) });
    }
    for (const role of roles) {
      // Every role's bundles, built here or not.
      for (const other of ROLES) {
        const mine = other === role;
        expect({ role, other, read: can(role, 's3:GetObject', obj('config', `bundles/${other}/${'0'.repeat(64)}.json`)) }).toEqual({ role, other, read: mine });
        expect({ role, other, output: can(role, 's3:PutObject', obj('config', `apply-output/${other}/cmd/i-1/stdout`)) }).toEqual({ role, other, output: mine });
        // No host reads apply output (another host's may hold what its hook logged), nor writes or deletes a bundle.
        expect(can(role, 's3:GetObject', obj('config', `apply-output/${other}/cmd/i-1/stdout`))).toBe(false);
        for (const action of ['s3:PutObject', 's3:DeleteObject', 's3:PutObjectAcl'])
          expect({ role, action, bundle: can(role, action, obj('config', `bundles/${other}/x.json`)) }).toEqual({ role, action, bundle: false });
      }
      for (const action of ['s3:ListBucket', 's3:ListBucketVersions', 's3:GetObjectVersion', 's3:PutBucketPolicy'])
        expect({ role, action, can: can(role, action, arn('config')) || can(role, action, obj('config', `bundles/${role}/x`)) }).toEqual({ role, action, can: false });
    }
    for (const role of roles) for (const p of PURPOSES) expect(can(role, 's3:DeleteBucket', arn(p))).toBe(false);
  });

  test("pbx and turn may only answer ACME DNS challenges for their own name in the environment's zone", () => {
    const s = synth();
    const acme = (['pbx', 'turn'] as const).filter((role) => enabledRoles(s.config).includes(role));
    expect(acme).toEqual(s.config.turn.enabled ? ['pbx', 'turn'] : ['pbx']);
    for (const role of acme) {
      // Everything but the SSM statements (own path, the SSM agent) and the configuration bucket's (asserted
      // exactly in the S3 test) that every host has.
      const own = [...configStatements(s, role), ...keyStatements(s), ...monitoringStatements(s, role)].map((st) => JSON.stringify(normalize(st)));
      const rest = hostIam(s, role)
        .inline.filter((st) => !st.actions.some((a) => /^(ssm|ssmmessages|ec2messages):/.test(a)))
        .map(normalize);
      const route53 = rest.filter((st) => !own.includes(JSON.stringify(st)));
      expect(rest.length - route53.length).toBe(own.length);
      expect({ role, route53 }).toEqual({ role, route53: acmeStatements(s, role) });
    }
    for (const role of ['chat', 'meet'] as const)
      expect(
        hostIam(s, role)
          .inline.flatMap((st) => st.actions)
          .filter((a) => a.startsWith('route53:')),
      ).toEqual([]);
  });

  test('no host or member policy names "*" as a resource except for ListHostedZones, the SSM agent and metrics in its namespace, nor a wildcard action', () => {
    const s = synth();
    for (const role of everyRole(s)) {
      for (const st of hostIam(s, role).inline) {
        expect(st.effect).toBe('Allow');
        expect(st.notActions).toEqual([]);
        expect(st.notResources).toEqual([]);
        for (const a of st.actions) expect(a).not.toContain('*');
        // Only zone discovery and the SSM agent's own calls (as in AWS's managed policy) may name "*".
        const agent = MANAGED_POLICIES.AmazonSSMManagedInstanceCore.flatMap((x) => x.actions).filter((a) => !SSM_READS.includes(a));
        const noResourceLevel = ['route53:ListHostedZones', ...agent];
        // PutMetricData takes no resource: it is bounded by its namespace condition instead.
        const namespaced = st.actions.length === 1 && st.actions[0] === 'cloudwatch:PutMetricData' && st.conditions.some((c) => c.variable === 'cloudwatch:namespace' && c.test === 'StringEquals');
        if (st.resources.includes('*') && !namespaced) for (const a of st.actions) expect({ role, action: a, allowed: noResourceLevel.includes(a) }).toEqual({ role, action: a, allowed: true });
      }
    }
  });
});

describe.each(ENVS.filter(([label]) => ['production', 'staging-turn'].includes(label)))('IAM of the turn host of %s', (_label, synth) => {
  test('exactly: the SSM agent, reads of /weebeetalk/<env>/turn/*, its own bundles and apply output, its own ACME TXT record', () => {
    const s = synth();
    const own = `/weebeetalk/${s.config.name}/turn`;
    const agent = MANAGED_POLICIES.AmazonSSMManagedInstanceCore.map((st) => ({ ...st, actions: st.actions.filter((a) => !SSM_READS.includes(a)) }));
    const expected: Statement[] = [
      ...agent,
      { effect: 'Allow', actions: SSM_READS, notActions: [], resources: [paramArn(s, own), paramArn(s, `${own}/*`)], notResources: [], conditions: [] },
      ...configStatements(s, 'turn'),
      ...keyStatements(s),
      ...monitoringStatements(s, 'turn'),
    ];
    // Sorted by a key-order-free text, compared whole.
    const canonical = (v: unknown): string =>
      Array.isArray(v)
        ? `[${v.map(canonical).join(',')}]`
        : isObject(v)
          ? `{${Object.keys(v)
              .sort()
              .map((k) => `${k}:${canonical(v[k])}`)
              .join(',')}}`
          : JSON.stringify(v);
    const byText = (list: ReturnType<typeof normalize>[]) => [...list].sort((x, y) => canonical(x).localeCompare(canonical(y)));
    const { inline, managedArns } = hostIam(s, 'turn');
    expect(managedArns).toEqual([]);
    expect(byText(inline.map(normalize))).toEqual(byText([...expected.map(normalize), ...acmeStatements(s, 'turn')]));
    // Evaluated: its own secret, no other host's (meet's end of the shared secret included), no record but its own.
    expect(allows(inline, 'ssm:GetParameter', paramArn(s, `${own}/static-auth-secret`))).toBe(true);
    expect(allows(inline, 'ssm:GetParameter', paramArn(s, `/weebeetalk/${s.config.name}/meet/turn-secret`))).toBe(false);
    expect(allows(inline, 'ssm:PutParameter', paramArn(s, `${own}/static-auth-secret`))).toBe(false);
    expect(allows(inline, 'route53:ChangeResourceRecordSets', `arn:aws:route53:::hostedzone/${zoneIdRef(s)}`)).toBe(true);
    const names = asStrings(
      asArray(inline.find((st) => st.actions.includes('route53:ChangeResourceRecordSets'))?.conditions, 'conditions')
        .map((c) => asObject(c, 'condition'))
        .find((c) => c.variable === 'route53:ChangeResourceRecordSetsNormalizedRecordNames')?.values,
      'record names',
    );
    expect(names).toEqual([`_acme-challenge.turn.${s.config.dns.subdomain ? `${s.config.dns.subdomain}.` : ''}${s.config.dns.domain}`]);
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
