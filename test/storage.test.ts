/**
 * Storage of the synthesized plans: private buckets (public access blocked, owner-enforced, encrypted,
 * versioned, TLS only) with their lifecycle rules, stable valid bucket names, the configuration bundles as the
 * only objects Terraform writes, and the daily DLM snapshots of the data volumes.
 */
import { S3BucketOwnershipControls } from '@cdktf/provider-aws/lib/s3-bucket-ownership-controls';
import { S3BucketPublicAccessBlock } from '@cdktf/provider-aws/lib/s3-bucket-public-access-block';
import { bucketNameOf } from '../config/names';
import { expectedRoles } from './support/hosts';
import { documentStatements } from './support/iam';
import { bucketsOf, companion, PURPOSES, type Purpose } from './support/parts';
import { asArray, asObject, asString, dataSources, isObject, one, referenced, resources, single, synthEnvironment, type Block, type Item, type Synthesized } from './support/synth';
import { enabledPools } from '../config/schema';
import { SHIPPED_AND_TUNED as ENVS, tuned } from './support/variants';
import './support/matchers';

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

  test('lifecycle: recordings and backups expire after their configured days, uploads and bundles never (State Manager output after 90 days); old versions and stale multipart uploads go', () => {
    const s = synth();
    const { storage } = s.config;
    const buckets = bucketsOf(s);
    // Bundles never expire: a host replaced months after its last change boots from the current one.
    const expected: Record<Purpose, number | undefined> = { recordings: storage.recordingsRetentionDays, uploads: undefined, backups: storage.backupRetentionDays, config: undefined };
    for (const purpose of PURPOSES) {
      const rules = lifecycleRules(s, buckets[purpose]);
      for (const r of rules) expect(r.block.status).toBe('Enabled');
      const wide = rules.filter((r) => appliesToAll(r.block));
      expect(wide.map((r) => r.expirationDays).filter((d) => d !== undefined)).toEqual(expected[purpose] === undefined ? [] : [expected[purpose]]);
      const narrow = rules.filter((r) => !appliesToAll(r.block) && r.expirationDays !== undefined).map((r) => [asObject(one(r.block.filter, 'filter'), 'filter').prefix, r.expirationDays]);
      // Only the apply output under its own prefix expires in the config bucket, nothing that could cover bundles/.
      expect(narrow).toEqual(purpose === 'config' ? [['apply-output/', 90]] : []);
      const noncurrent = wide.flatMap((r) => (r.block.noncurrent_version_expiration === undefined ? [] : [one(r.block.noncurrent_version_expiration, 'noncurrent').noncurrent_days]));
      // Recordings keep no old versions: an expired recording must really be gone (privacy).
      expect(noncurrent).toEqual([purpose === 'recordings' ? 1 : storage.noncurrentVersionDays]);
      // Expiring current versions leaves delete markers: a rule must clean them up.
      if (expected[purpose] !== undefined) expect(wide.some((r) => r.block.expiration !== undefined && one(r.block.expiration, 'expiration').expired_object_delete_marker === true)).toBe(true);
      const multipart = wide.flatMap((r) => (r.block.abort_incomplete_multipart_upload === undefined ? [] : [Number(one(r.block.abort_incomplete_multipart_upload, 'abort').days_after_initiation)]));
      expect(multipart).toHaveLength(1);
      expect(multipart[0]).toBeGreaterThanOrEqual(1);
      expect(multipart[0]).toBeLessThanOrEqual(7);
    }
  });
});

describe.each(ENVS)('objects of %s', (_label, synth) => {
  test("Terraform writes only the hosts' and pools' bundles, each in the config bucket under bundles/<its role>/, named by its sha256", () => {
    const s = synth();
    const config = bucketsOf(s).config;
    const objects = resources(s, 'aws_s3_object');
    expect(objects).toHaveLength(expectedRoles(s).length + enabledPools(s.config).length);
    const keys = objects.map((o) => {
      expect(o.block.bucket).toBe(config.ref('bucket'));
      expect(o.block.content_type).toBe('application/json');
      expect(o.block.checksum_algorithm).toBe('SHA256');
      // No ACL, no object lock, nothing public: the bucket's settings are the object's.
      for (const attr of ['acl', 'object_lock_mode', 'object_lock_legal_hold_status', 'website_redirect', 'source']) expect({ attr, value: o.block[attr] }).toEqual({ attr, value: undefined });
      return asString(o.block.key, 'key');
    });
    // One per host the environment builds (turn's only with the relay: production; staging with turn.enabled) and pool.
    expect(keys.map((k) => k.replace(/[0-9a-f]{64}/, '<sha256>')).sort()).toEqual([
      'bundles/chat/<sha256>.json',
      'bundles/jibri/<sha256>.json',
      'bundles/jvb/<sha256>.json',
      'bundles/meet/<sha256>.json',
      'bundles/pbx/<sha256>.json',
      ...(s.config.turn.enabled ? ['bundles/turn/<sha256>.json'] : []),
    ]);
    expect(s.config.turn.enabled).toBe(s.config.tier === 'production' || s.label === 'staging-turn');
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
    expect(names).toHaveLength(8);
    expect(new Set(names).size).toBe(8);
  });

  test('are stable: settings other than the environment and domain do not change them', () => {
    const a = bucketsOf(synthEnvironment('staging'));
    const b = bucketsOf(tuned());
    for (const purpose of PURPOSES) expect(b[purpose].block.bucket).toBe(a[purpose].block.bucket);
  });
});

describe.each(ENVS)('volume snapshots of %s', (_label, synth) => {
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
});
