/**
 * Keys the customer controls (issue 15, item 5; README, "Secrets and state"): production's plan carries one
 * customer-managed KMS key, rotated, with a 30-day deletion window and prevent_destroy, and every data and root volume,
 * every pool member's volume, every bucket's default encryption and every SecureString uses it; the S3 backend uses
 * the state's own key. The key policy is evaluated as KMS would: the account administers the key, EC2 Auto Scaling's
 * service-linked role may use it for the members' volumes, the hosts' roles only through SSM and S3. Staging keeps the
 * AWS managed keys by default, and the configuration's mistakes are refused with one block.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Testing } from 'cdktf';
import { AUTO_SCALING_SERVICE_LINKED_ROLE, keyAliasOf, resourceNameOf } from '../config/names';
import { enabledPools, enabledRoles, type AnyRole } from '../config/schema';
import { ROOT_KMS_KEY_ID } from '../constructs/debian-host';
import { buildApp } from '../main';
import type { PolicyStatement } from './support/boot/policy';
import { refusal as refusalOf } from './support/synthesis-failure';
import { environmentsDir, shipped, type FileContent } from './support/environments-dir';
import { hostIam } from './support/iam';
import { authorizeKey, keyPolicyStatements, type KeyDecision, type KeyPolicyStatement } from './support/key-policy';
import { bucketsOf, companion } from './support/parts';
import { asArray, asObject, dataSources, isObject, one, preventsDestroy, referenced, resources, single, synthEnvironment, synthVariant, type Block, type Synthesized } from './support/synth';

const TODAY = new Date('2026-12-01T12:00:00Z');
/** The account the policies are evaluated in (the plan names it by data.aws_caller_identity). */
const ACCOUNT = '111122223333';
const OTHER_ACCOUNT = '444455556666';

const production = (): Synthesized => synthEnvironment('production');
const staging = (): Synthesized => synthEnvironment('staging');
/** Staging with the key turned on: no pools' group may be deleted undrained, nothing is protected. */
const stagingWithKey = (): Synthesized => synthVariant('staging-kms', 'staging', { kms: { customerManagedKey: true, deletionWindowDays: 7 } });
/** Production without pools: the key policy has nothing for Auto Scaling. */
const productionNoPools = (): Synthesized => synthVariant('production-no-pools', 'production', { jitsi: { jibriPool: { enabled: false }, jvbPool: { enabled: false } } });
/** Production on AWS managed keys, acknowledged. */
const productionAwsKeys = (): Synthesized => synthVariant('production-aws-keys', 'production', { kms: { customerManagedKey: false, allowAwsManagedKeys: true } });

function theKey(s: Synthesized) {
  return single(resources(s, 'aws_kms_key'), 'the environment key');
}

function lifecycle(block: Block): Block {
  return isObject(block.lifecycle) ? block.lifecycle : {};
}

function ignored(block: Block): string[] {
  const l = lifecycle(block);
  return Array.isArray(l.ignore_changes) ? l.ignore_changes.map(String) : [];
}

/** Everything of the plan that is encrypted at rest, with the key it names (undefined: the AWS managed one). */
function encrypted(s: Synthesized): { what: string; key: unknown }[] {
  return [
    ...resources(s, 'aws_ebs_volume').map((v) => ({ what: v.address, key: v.block.kms_key_id })),
    ...resources(s, 'aws_instance').map((i) => ({ what: `${i.address} root`, key: one(i.block.root_block_device, 'root_block_device').kms_key_id })),
    ...resources(s, 'aws_launch_template').flatMap((t) =>
      asArray(t.block.block_device_mappings, 'block_device_mappings').map((d) => ({
        what: `${t.address} ${String(asObject(d, 'mapping').device_name)}`,
        key: one(asObject(d, 'mapping').ebs, 'ebs').kms_key_id,
      })),
    ),
    ...Object.entries(bucketsOf(s)).map(([purpose, bucket]) => {
      const rule = one(companion(s, 'aws_s3_bucket_server_side_encryption_configuration', bucket).block.rule, 'sse rule');
      return { what: `${purpose} bucket`, key: one(rule.apply_server_side_encryption_by_default, 'sse default').kms_master_key_id };
    }),
    ...resources(s, 'aws_ssm_parameter')
      .filter((p) => p.block.type === 'SecureString')
      .map((p) => ({ what: String(p.block.name), key: p.block.key_id })),
  ];
}

describe('production with its customer-managed key', () => {
  test('one key: rotated, a 30-day deletion window, prevent_destroy, alias/weebeetalk-production', () => {
    const s = production();
    const key = theKey(s);
    expect(key.block).toMatchObject({ enable_key_rotation: true, deletion_window_in_days: 30, key_usage: 'ENCRYPT_DECRYPT', customer_master_key_spec: 'SYMMETRIC_DEFAULT' });
    expect(preventsDestroy(key.block)).toBe(true);
    expect(key.block.multi_region).not.toBe(true);
    const alias = single(resources(s, 'aws_kms_alias'), 'the alias');
    expect(alias.block).toEqual(expect.objectContaining({ name: keyAliasOf(s.config), target_key_id: key.ref('key_id') }));
    expect(keyAliasOf(s.config)).toBe('alias/weebeetalk-production');
    // Its policy is data (an aws_iam_policy_document), never a hand-written string.
    expect(referenced(dataSources(s, 'aws_iam_policy_document'), key.block.policy).address).toMatch(/environment-key_policy/);
  });

  test('every data and root volume, every member volume, every bucket and every SecureString uses it', () => {
    const s = production();
    const arn = theKey(s).ref('arn');
    const all = encrypted(s);
    // Four hosts (data and root), two pools, four buckets, the generated secrets: none left out.
    expect(all.filter((e) => e.what.startsWith('aws_ebs_volume.'))).toHaveLength(enabledRoles(s.config).length);
    expect(all.filter((e) => e.what.startsWith('aws_launch_template.'))).toHaveLength(enabledPools(s.config).length);
    expect(all.filter((e) => e.what.endsWith(' bucket'))).toHaveLength(4);
    expect(all.filter((e) => e.what.startsWith('/weebeetalk/production/')).length).toBeGreaterThan(5);
    expect(all.filter((e) => e.key !== arn)).toEqual([]);
    for (const v of resources(s, 'aws_ebs_volume')) expect(v.block.encrypted).toBe(true);
    for (const bucket of Object.values(bucketsOf(s))) {
      const rule = one(companion(s, 'aws_s3_bucket_server_side_encryption_configuration', bucket).block.rule, 'sse rule');
      expect(rule).toEqual({ apply_server_side_encryption_by_default: { sse_algorithm: 'aws:kms', kms_master_key_id: arn }, bucket_key_enabled: true });
    }
    // Objects the stack uploads (the bundles) take the bucket's default: none names an encryption of its own.
    for (const o of resources(s, 'aws_s3_object')) {
      expect(o.block.server_side_encryption).toBeUndefined();
      expect(o.block.kms_key_id).toBeUndefined();
    }
  });

  test("the state: the S3 backend encrypts with the state's own key, never the environment's (which the same state creates)", () => {
    const s = production();
    const backend = asObject(asObject(s.json.terraform?.backend, 'backend').s3, 's3 backend');
    expect(backend).toMatchObject({ encrypt: true, kms_key_id: s.config.state?.kmsKeyId });
    expect(s.config.state?.kmsKeyId).toBe('alias/weebeetalk-terraform-state');
    expect(String(backend.kms_key_id)).not.toContain('${');
  });

  test('an existing volume keeps its key: turning the key on replaces no data volume and no instance (kms_key_id forces a new one)', () => {
    const s = production();
    for (const v of resources(s, 'aws_ebs_volume')) expect({ volume: v.address, ignored: ignored(v.block) }).toEqual({ volume: v.address, ignored: ['kms_key_id'] });
    for (const i of resources(s, 'aws_instance')) {
      expect({ instance: i.address, ignored: ignored(i.block).includes(ROOT_KMS_KEY_ID) }).toEqual({ instance: i.address, ignored: true });
      // What was there before stays: production keeps its AMI, and a new architecture still replaces the instance.
      expect(ignored(i.block)).toContain('ami');
      expect(lifecycle(i.block).replace_triggered_by).toBeDefined();
    }
    // A member volume is new with each member: a new template version reaches new members only, and nothing replaces the group.
    for (const g of resources(s, 'aws_autoscaling_group')) expect(ignored(g.block)).toEqual([]);
  });

  test("the hosts' and members' roles may use the key through SSM and S3 only: an IAM grant per service", () => {
    const s = production();
    const arn = theKey(s).ref('arn');
    const roles: AnyRole[] = [...enabledRoles(s.config), ...enabledPools(s.config)];
    for (const role of roles) {
      const kms = hostIam(s, role).inline.filter((st) => st.actions.some((a) => a.startsWith('kms:')));
      expect({ role, kms: kms.map((st) => ({ actions: st.actions, resources: st.resources, conditions: st.conditions })) }).toEqual({
        role,
        kms: [
          { actions: ['kms:Decrypt', 'kms:GenerateDataKey'], resources: [arn], conditions: [{ test: 'StringEquals', variable: 'kms:ViaService', values: ['s3.ap-southeast-3.amazonaws.com'] }] },
          { actions: ['kms:Decrypt'], resources: [arn], conditions: [{ test: 'StringEquals', variable: 'kms:ViaService', values: ['ssm.ap-southeast-3.amazonaws.com'] }] },
        ],
      });
    }
  });
});

describe('the key policy, evaluated', () => {
  const KEY = `arn:aws:kms:ap-southeast-3:${ACCOUNT}:key/0f0f0f0f-1111-2222-3333-444455556666`;
  const roleArn = (name: string, account = ACCOUNT) => `arn:aws:iam::${account}:role/${name}`;
  const via = (service: string) => ({ 'kms:ViaService': [`${service}.ap-southeast-3.amazonaws.com`] });
  let policy: KeyPolicyStatement[];
  let s: Synthesized;
  const decide = (principalArn: string, action: string, context: Record<string, string[]> = {}, iam: readonly PolicyStatement[] = []): KeyDecision =>
    authorizeKey(policy, KEY, { principalArn, action, context, iam });
  const adminIam: PolicyStatement[] = [{ effect: 'Allow', actions: ['kms:*'], notActions: [], resources: ['*'], notResources: [], conditions: [] }];

  beforeAll(() => {
    s = production();
    const doc = referenced(dataSources(s, 'aws_iam_policy_document'), theKey(s).block.policy);
    policy = keyPolicyStatements(doc, { 'data.aws_caller_identity.account.account_id': ACCOUNT });
  });

  test('the account administers it through IAM: an administrator may do anything with it, a principal without IAM rights nothing', () => {
    const deployer = roleArn('deployer');
    for (const action of ['kms:PutKeyPolicy', 'kms:ScheduleKeyDeletion', 'kms:DisableKey', 'kms:Decrypt', 'kms:CreateGrant', 'kms:EnableKeyRotation'])
      expect({ action, d: decide(deployer, action, {}, adminIam) }).toEqual({ action, d: 'allow' });
    expect(decide(deployer, 'kms:Decrypt')).toBe('implicit-deny');
    // Never locked out: the statement that hands the key to IAM names the account root and nothing narrower.
    const admin = policy.find((st) => st.principals.includes(`arn:aws:iam::${ACCOUNT}:root`));
    expect(admin).toMatchObject({ effect: 'Allow', actions: ['kms:*'], resources: ['*'], conditions: [] });
    // Another account gets nothing, whatever its own IAM says.
    expect(decide(roleArn('deployer', OTHER_ACCOUNT), 'kms:Decrypt', {}, adminIam)).toBe('implicit-deny');
  });

  test("a host's or member's role: SecureStrings through SSM, objects through S3, nothing else, even with an administrator's IAM", () => {
    for (const role of [...enabledRoles(s.config), ...enabledPools(s.config)] as AnyRole[]) {
      const arn = roleArn(resourceNameOf(s.config, role));
      const iam = hostIam(s, role).inline.map((st) => ({ ...st, resources: st.resources.map((r) => (r === theKey(s).ref('arn') ? KEY : r)) }));
      const cases: [string, Record<string, string[]>, KeyDecision][] = [
        ['kms:Decrypt', via('ssm'), 'allow'],
        ['kms:Decrypt', via('s3'), 'allow'],
        ['kms:GenerateDataKey', via('s3'), 'allow'],
        // Not granted through a service it may use.
        ['kms:GenerateDataKey', via('ssm'), 'implicit-deny'],
        ['kms:Encrypt', via('ssm'), 'implicit-deny'],
        // Any other service, or a direct call: the key policy's Deny.
        ['kms:Decrypt', via('ec2'), 'explicit-deny'],
        ['kms:Decrypt', via('lambda'), 'explicit-deny'],
        ['kms:Decrypt', {}, 'explicit-deny'],
        ['kms:GenerateDataKey', {}, 'explicit-deny'],
        ['kms:CreateGrant', {}, 'explicit-deny'],
      ];
      for (const [action, context, expected] of cases) expect({ role, action, context, d: decide(arn, action, context, iam) }).toEqual({ role, action, context, d: expected });
      // Someone attaching an administrator's policy to a host's role still cannot decrypt directly or change the key.
      for (const action of ['kms:Decrypt', 'kms:PutKeyPolicy', 'kms:ScheduleKeyDeletion', 'kms:CreateGrant'])
        expect({ role, action, d: decide(arn, action, {}, adminIam) }).toEqual({ role, action, d: 'explicit-deny' });
      expect(decide(arn, 'kms:Decrypt', via('ssm'), adminIam)).toBe('allow');
    }
  });

  test("EC2 Auto Scaling's service-linked role may launch members with volumes under the key (AWS's two statements), nothing more", () => {
    const slr = roleArn(AUTO_SCALING_SERVICE_LINKED_ROLE);
    // No IAM policy of its own grants it anything on a customer key: the key policy alone must.
    for (const action of ['kms:Encrypt', 'kms:Decrypt', 'kms:ReEncryptFrom', 'kms:ReEncryptTo', 'kms:GenerateDataKey', 'kms:GenerateDataKeyWithoutPlaintext', 'kms:DescribeKey'])
      expect({ action, d: decide(slr, action) }).toEqual({ action, d: 'allow' });
    expect(decide(slr, 'kms:CreateGrant', { 'kms:GrantIsForAWSResource': ['true'] })).toBe('allow');
    expect(decide(slr, 'kms:CreateGrant', { 'kms:GrantIsForAWSResource': ['false'] })).toBe('implicit-deny');
    expect(decide(slr, 'kms:CreateGrant')).toBe('implicit-deny');
    for (const action of ['kms:PutKeyPolicy', 'kms:ScheduleKeyDeletion', 'kms:DisableKey', 'kms:RevokeGrant']) expect({ action, d: decide(slr, action) }).toEqual({ action, d: 'implicit-deny' });
    // Another account's Auto Scaling role is not this account's.
    expect(decide(roleArn(AUTO_SCALING_SERVICE_LINKED_ROLE, OTHER_ACCOUNT), 'kms:Decrypt')).toBe('implicit-deny');
    // Named by condition, never as a principal: KMS refuses a policy naming a role that does not exist yet (a fresh
    // account gets the role with its first group, after the key).
    for (const st of policy) for (const p of st.principals) expect(p === '*' || p === `arn:aws:iam::${ACCOUNT}:root`).toBe(true);
  });

  test('roles are named by aws:PrincipalArn conditions on plain ARNs: the key depends on no role', () => {
    const key = theKey(s);
    const doc = referenced(dataSources(s, 'aws_iam_policy_document'), key.block.policy);
    expect(JSON.stringify(doc.block)).not.toMatch(/aws_iam_role\./);
    expect(key.block.depends_on).toBeUndefined();
    const deny = policy.filter((st) => st.effect === 'Deny');
    expect(deny).toHaveLength(1);
    const arns = deny[0].conditions.find((c) => c.variable === 'aws:PrincipalArn')?.values;
    expect([...(arns as string[])].sort()).toEqual([...enabledRoles(s.config), ...enabledPools(s.config)].map((r) => roleArn(resourceNameOf(s.config, r as AnyRole))).sort());
  });

  test('without pools there is nothing for Auto Scaling', () => {
    const p = productionNoPools();
    const doc = referenced(dataSources(p, 'aws_iam_policy_document'), theKey(p).block.policy);
    const sids = keyPolicyStatements(doc, {}).map((st) => st.sid);
    // The log groups' and the alarm topic's service statements (constructs/observability.ts) are there with or without pools.
    expect(sids).toEqual(['AccountAdministersKey', 'HostRolesOnlyViaS3Ssm', 'CloudWatchLogsUsesKeyForLogGroups', 'CloudWatchAlarmsPublishToEncryptedTopic']);
  });
});

describe('staging', () => {
  test('by default unchanged: AWS managed keys (aws/ebs, SSE-S3, aws/ssm), no key to schedule for deletion at teardown', () => {
    const s = staging();
    expect(s.config.kms).toEqual({ customerManagedKey: false, deletionWindowDays: 30, allowAwsManagedKeys: false });
    expect(resources(s, 'aws_kms_key')).toEqual([]);
    expect(resources(s, 'aws_kms_alias')).toEqual([]);
    expect(encrypted(s).filter((e) => e.key !== undefined)).toEqual([]);
    for (const bucket of Object.values(bucketsOf(s)))
      expect(one(one(companion(s, 'aws_s3_bucket_server_side_encryption_configuration', bucket).block.rule, 'sse rule').apply_server_side_encryption_by_default, 'sse default')).toEqual({
        sse_algorithm: 'AES256',
      });
    expect(s.text).not.toContain('kms:');
    for (const v of resources(s, 'aws_ebs_volume')) expect(ignored(v.block)).toEqual([]);
  });

  test('with the key on: every volume, bucket and SecureString uses it, its window is the one configured, nothing blocks teardown', () => {
    const s = stagingWithKey();
    const key = theKey(s);
    expect(key.block).toMatchObject({ enable_key_rotation: true, deletion_window_in_days: 7 });
    expect(preventsDestroy(key.block)).toBe(false);
    expect(single(resources(s, 'aws_kms_alias'), 'alias').block.name).toBe('alias/weebeetalk-staging');
    expect(encrypted(s).filter((e) => e.key !== key.ref('arn'))).toEqual([]);
  });
});

test('production on AWS managed keys, acknowledged: no key, nothing names one', () => {
  const s = productionAwsKeys();
  expect(resources(s, 'aws_kms_key')).toEqual([]);
  expect(encrypted(s).filter((e) => e.key !== undefined)).toEqual([]);
});

describe('mistakes in kms are refused at synthesis, one block naming the environment, the field, the value and the fix', () => {
  const refusal = (files: Record<string, FileContent>): string => refusalOf(files, TODAY);
  const both = (s: Record<string, unknown> = {}, p: Record<string, unknown> = {}) => ({ staging: shipped('staging', s), production: shipped('production', p) });

  test.each<[string, Record<string, FileContent>, string[]]>([
    [
      'production turning its key off without saying so',
      both({}, { kms: { customerManagedKey: false } }),
      ['Invalid configuration for environment "production"', 'production.ts', 'kms.customerManagedKey = false', 'kms.allowAwsManagedKeys: true'],
    ],
    ['a deletion window below 7 days', both({}, { kms: { deletionWindowDays: 5 } }), ['"production"', 'kms.deletionWindowDays = 5', 'at least 7 days']],
    ['a deletion window above 30 days', both({ kms: { deletionWindowDays: 45 } }), ['"staging"', 'kms.deletionWindowDays = 45', 'at most 30 days']],
    ['a deletion window in fractions of a day', both({ kms: { deletionWindowDays: 7.5 } }), ['kms.deletionWindowDays = 7.5', 'whole number of days from 7 to 30']],
    [
      "production's state without a key of its own",
      { staging: shipped('staging'), production: { ...shipped('production'), state: { bucket: 'weebeetalk-terraform-state-example', region: 'ap-southeast-3' } } },
      ['"production"', 'state.kmsKeyId = (missing)', "alias/weebeetalk-terraform-state'", 'Deploy and destroy'],
    ],
    ['allowAwsManagedKeys in staging', both({ kms: { allowAwsManagedKeys: true } }), ['"staging"', 'kms.allowAwsManagedKeys = true: only applies to production']],
    ['allowAwsManagedKeys with the key on', both({}, { kms: { allowAwsManagedKeys: true } }), ['"production"', 'kms.allowAwsManagedKeys = true: contradicts kms.customerManagedKey = true']],
    ['a misspelt field', both({}, { kms: { customerManagedKeys: true } }), ['kms.customerManagedKeys = true: unknown field; did you mean customerManagedKey?']],
  ])('%s', (_name, files, says) => {
    const block = refusal(files);
    for (const text of says) expect(block).toContain(text);
  });

  test('production with local state on purpose (no S3 backend, so no state key) is accepted', () => {
    const local: Record<string, unknown> = { ...shipped('production'), allowLocalState: true };
    delete local.state;
    const d = environmentsDir({ staging: shipped('staging'), production: local });
    try {
      expect(() => buildApp(Testing.app(), { dir: d.dir, now: TODAY })).not.toThrow();
    } finally {
      d.remove();
    }
  });
});

const terraform = spawnSync('terraform', ['version'], { encoding: 'utf8' }).status === 0;
if (!terraform) process.stderr.write('SKIPPED (needs a terraform binary): Terraform planning a key turned on for existing volumes. The synthesized lifecycle is still checked above.\n');

/**
 * What Terraform does with the synthesized lifecycles when the key is turned on for volumes that exist, on
 * terraform_data stand-ins (no provider to download): `triggers_replace` stands for kms_key_id, which forces a new
 * volume (and a new instance for a root) in the AWS provider; `input` keeps the value the object was created with.
 */
(terraform ? describe : describe.skip)('Terraform plans the key turned on for existing volumes', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'weebeetalk-kms-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const tf = (...args: string[]): { status: number | null; out: string; stdout: string } => {
    const r = spawnSync('terraform', args, { cwd: dir, encoding: 'utf8', env: { ...process.env, TF_IN_AUTOMATION: '1', CHECKPOINT_DISABLE: '1' } });
    return { status: r.status, out: `${r.stdout}${r.stderr}`, stdout: r.stdout };
  };

  /** The production data volume's and chat instance's lifecycles on stand-ins keyed by `key`, the image being `image`. */
  function standIns(key: string, image: string, protect = true): string {
    const s = production();
    const volume = single(resources(s, 'aws_ebs_volume'), 'chat data volume', (v) => v.address.includes('chat-host'));
    const instance = single(resources(s, 'aws_instance'), 'chat instance', (i) => i.address.includes('chat-host'));
    const as = (names: string[], attribute: string) => (names.includes(attribute) ? ['triggers_replace', 'input'] : []);
    const lc = (b: Block, attribute: string) => (protect ? { ignore_changes: as(ignored(b), attribute) } : {});
    return JSON.stringify({
      resource: {
        terraform_data: {
          image: { input: image },
          volume: { triggers_replace: key, input: key, lifecycle: lc(volume.block, 'kms_key_id') },
          root: { triggers_replace: key, input: key, lifecycle: { ...lc(instance.block, ROOT_KMS_KEY_ID), replace_triggered_by: ['terraform_data.image'] } },
        },
      },
      output: { volume_key: { value: '${terraform_data.volume.output}' }, root_key: { value: '${terraform_data.root.output}' } },
    });
  }
  const outputs = (): Record<string, string> => {
    const out = JSON.parse(tf('output', '-json').stdout) as Record<string, { value: string }>;
    return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.value]));
  };

  test('no volume or instance is replaced; a later replacement of the instance gives its new root the key', () => {
    writeFileSync(join(dir, 'main.tf.json'), standIns('aws/ebs', 'debian-12-a'));
    expect(tf('init', '-input=false', '-no-color').status).toBe(0);
    expect(tf('apply', '-auto-approve', '-input=false', '-no-color').status).toBe(0);
    // Without the lifecycle, turning the key on would replace both: what the production plan must never do silently.
    writeFileSync(join(dir, 'main.tf.json'), standIns('alias/weebeetalk-production', 'debian-12-a', false));
    const unprotected = tf('plan', '-detailed-exitcode', '-input=false', '-no-color');
    expect(unprotected.status).toBe(2);
    expect(unprotected.out).toMatch(/terraform_data\.volume must be replaced/);
    // With it: nothing to do.
    writeFileSync(join(dir, 'main.tf.json'), standIns('alias/weebeetalk-production', 'debian-12-a'));
    const plan = tf('plan', '-detailed-exitcode', '-input=false', '-no-color');
    expect({ status: plan.status, out: plan.status === 0 ? '' : plan.out }).toEqual({ status: 0, out: '' });
    // A new image replaces the instance: its new root is created with the key; the data volume keeps its own.
    writeFileSync(join(dir, 'main.tf.json'), standIns('alias/weebeetalk-production', 'debian-12-b'));
    expect(tf('apply', '-auto-approve', '-input=false', '-no-color').status).toBe(0);
    expect(outputs()).toEqual({ volume_key: 'aws/ebs', root_key: 'alias/weebeetalk-production' });
  });
});
