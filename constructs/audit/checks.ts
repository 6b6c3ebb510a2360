/**
 * Resource checks of a synthesized plan, one per resource and rule: security groups are described, instances
 * require IMDSv2 and encrypt their disks, volumes are encrypted, user-data holds no secret, buckets block public
 * access and refuse plain HTTP. Pure functions; the security-group rules themselves are the matrix (matrix.ts).
 */
import type { Finding } from './finding';
import type { Group } from './matrix';
import { blocks, elements, isObject, isTrue, lookup, reference, str, strings, type Element, type Json, type JsonObject } from './plan';
import type { RuleId } from './policy';

export interface Check {
  readonly rule: RuleId;
  /** The construct path inside the stack, e.g. "chat-host/instance". */
  readonly subject: string;
  readonly verdict: 'ok' | 'violation';
  readonly detail: string;
  readonly findings: readonly Finding[];
  readonly address: string;
  readonly path: string;
}

/** Names whose value is a credential (JWT_APP_SECRET, RC_ADMIN_PASS, GITHUB_TOKEN...). */
const SECRET_NAME_RE = /PASSWORD|PASSWD|SECRET|_PASS$|TOKEN$|API_?KEY$|PRIVATE_KEY$/i;
/** Names that point at a secret (an SSM path, a file) rather than hold one. */
const POINTER_NAME_RE = /_(?:PATH|PARAM|PARAMETER|NAME|FILE|ARN|DIR|PREFIX|LENGTH)$/i;
/** A literal value: not empty, not a reference ($VAR, ${...}, $(...)), not a pattern or format ([0-9a-f], %s). */
const LITERAL_VALUE_RE = /^[A-Za-z0-9][A-Za-z0-9_+/=.@!:,~-]*$/;
const NOT_A_SECRET = new Set(['true', 'false', 'yes', 'no', 'on', 'off', '0', '1']);
const SECRET_PATTERNS: readonly { readonly what: string; readonly re: RegExp }[] = [
  { what: 'an AWS access key id', re: /\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/ },
  { what: 'a private key block', re: /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----/ },
  {
    // Terraform interpolates the secret itself into user-data: use insecure_value for non-secrets, ssm_secret for secrets.
    what: 'a Terraform reference to a secret value',
    re: /(?<!\$)\$\{[^}]*?\b(?:aws_ssm_parameter\.[\w-]+(?:\[\d+\])?\.value|random_password\.[\w-]+\.result|aws_secretsmanager_random_password\.[\w-]+\.random_password|aws_secretsmanager_secret_version\.[\w-]+\.secret_string|tls_private_key\.[\w-]+\.private_key_\w+|aws_iam_access_key\.[\w-]+\.(?:secret|ses_smtp_password_v4))\b/,
  },
];

/** What looks like a secret in a user-data text; names the variable and line, never the value. */
export function secretsIn(text: string): string[] {
  const found: string[] = [];
  text.split('\n').forEach((line, i) => {
    for (const p of SECRET_PATTERNS) if (p.re.test(line)) found.push(`${p.what} on line ${i + 1}`);
    for (const m of line.matchAll(/(?<![A-Za-z0-9_$])([A-Za-z_][A-Za-z0-9_]*)=(["']?)([^\s"']*)/g)) {
      const [, name, , value] = m;
      if (SECRET_NAME_RE.test(name) && !POINTER_NAME_RE.test(name) && LITERAL_VALUE_RE.test(value) && !NOT_A_SECRET.has(value.toLowerCase()))
        found.push(`${name}= assigned a literal value on line ${i + 1}`);
    }
  });
  return found;
}

/** A check of one element under one rule: a finding per problem, on `target` (the element by default). */
export function check(stack: string, element: Element, rule: RuleId, problems: string[], okDetail: string, target: Element = element): Check {
  const subject = element.path.startsWith(`${stack}/`) ? element.path.slice(stack.length + 1) : element.path;
  const findings = problems.map((p): Finding => ({ rule, address: target.address, path: target.path, detail: `${subject}: ${p}` }));
  return { rule, subject, verdict: findings.length > 0 ? 'violation' : 'ok', detail: problems.length > 0 ? problems.join('; ') : okDetail, findings, address: target.address, path: target.path };
}

/** WBT-SG-DESC on every group of the stack but the VPC default. */
export function groupChecks(stack: string, groups: Map<string, Group>): Check[] {
  return [...groups.values()]
    .filter((g) => !g.isDefault)
    .map((g) => {
      const d = g.description.trim();
      // Terraform's default description says nothing about why the group exists.
      return check(stack, g.element, 'WBT-SG-DESC', d === '' || d === 'Managed by Terraform' ? ['the security group has no description'] : [], 'described');
    });
}

/** IMDSv2, disk encryption and user-data secrets of every instance, cloud-init document and EBS volume. */
export function instanceChecks(tf: JsonObject, stack: string): Check[] {
  const out: Check[] = [];
  for (const e of elements(tf, 'resource', 'aws_instance')) {
    const md = blocks(e.body.metadata_options)[0];
    const tokens = str(md?.http_tokens);
    const imdsOk = tokens === 'required' || str(md?.http_endpoint) === 'disabled';
    out.push(check(stack, e, 'WBT-EC2-IMDS', imdsOk ? [] : [`http_tokens is ${tokens ?? 'unset (IMDSv1 allowed)'}`], 'http_tokens = required'));

    const root = blocks(e.body.root_block_device)[0];
    const devices = blocks(e.body.ebs_block_device);
    const unencrypted = [
      ...(root && isTrue(root.encrypted) ? [] : ['root_block_device']),
      ...devices.filter((d) => !isTrue(d.encrypted)).map((d) => `ebs_block_device ${str(d.device_name) ?? ''}`.trim()),
    ];
    out.push(
      check(
        stack,
        e,
        'WBT-EC2-ROOT-ENC',
        unencrypted.map((d) => `${d} is not encrypted`),
        `root${devices.length > 0 ? ` and ${devices.length} block device(s)` : ''} encrypted`,
      ),
    );

    // Literal user-data on the instance itself; a ${data.cloudinit_config...} reference is checked at its source.
    const plain = str(e.body.user_data);
    const b64 = str(e.body.user_data_base64);
    const literal = plain !== undefined && !reference(plain) ? plain : b64 !== undefined && !b64.includes('${') ? Buffer.from(b64, 'base64').toString('utf8') : undefined;
    if (literal !== undefined) out.push(check(stack, e, 'WBT-EC2-USERDATA', secretsIn(literal), 'no secret-looking values'));
  }
  // The pools' launch templates: their members are hosts too.
  for (const e of elements(tf, 'resource', 'aws_launch_template')) {
    const md = blocks(e.body.metadata_options)[0];
    const tokens = str(md?.http_tokens);
    const imdsOk = tokens === 'required' || str(md?.http_endpoint) === 'disabled';
    out.push(check(stack, e, 'WBT-EC2-IMDS', imdsOk ? [] : [`http_tokens is ${tokens ?? 'unset (IMDSv1 allowed)'}`], 'http_tokens = required'));
    const devices = blocks(e.body.block_device_mappings);
    const unencrypted = devices.filter((d) => !isTrue(blocks(d.ebs)[0]?.encrypted)).map((d) => `block device ${str(d.device_name) ?? ''}`.trim());
    out.push(
      check(
        stack,
        e,
        'WBT-EC2-ROOT-ENC',
        devices.length === 0 ? ["no block_device_mappings: the root volume is the image's, unencrypted unless the image is"] : unencrypted.map((d) => `${d} is not encrypted`),
        `${devices.length} block device(s) encrypted`,
      ),
    );
    const plain = str(e.body.user_data);
    if (plain !== undefined && !plain.includes('${')) out.push(check(stack, e, 'WBT-EC2-USERDATA', secretsIn(Buffer.from(plain, 'base64').toString('utf8')), 'no secret-looking values'));
  }
  for (const e of elements(tf, 'data', 'cloudinit_config')) {
    const problems = blocks(e.body.part).flatMap((part, i) => secretsIn(str(part.content) ?? '').map((p) => `part ${str(part.filename) ?? i + 1}: ${p}`));
    out.push(check(stack, e, 'WBT-EC2-USERDATA', problems, `${blocks(e.body.part).length} part(s), no secret-looking values`));
  }
  // Configuration bundles (constructs/host-configuration.ts): their content is in the object and in Terraform's state.
  for (const e of elements(tf, 'resource', 'aws_s3_object')) {
    const content = str(e.body.content) ?? '';
    let files: { path: string; content: string }[] | undefined;
    try {
      const doc = JSON.parse(content) as { files?: unknown };
      if (Array.isArray(doc.files)) files = doc.files.filter(isObject).map((f) => ({ path: str(f.path) ?? '?', content: str(f.content) ?? '' }));
    } catch {
      files = undefined;
    }
    const problems = files ? files.flatMap((f) => secretsIn(f.content).map((p) => `${f.path}: ${p}`)) : secretsIn(content);
    out.push(check(stack, e, 'WBT-CONFIG-SECRET', problems, files ? `${files.length} bundle file(s), no secret-looking values` : 'no secret-looking values'));
  }
  for (const e of elements(tf, 'resource', 'aws_ebs_volume')) out.push(check(stack, e, 'WBT-EBS-ENC', isTrue(e.body.encrypted) ? [] : ['encrypted is not true'], 'encrypted'));
  return out;
}

/** Does a bucket-scoped resource (public access block, policy) point at this bucket? */
function pointsAt(bucketRef: Json | undefined, bucket: Element): boolean {
  const v = str(bucketRef);
  const r = reference(v);
  if (r) return r.address === bucket.address && (r.attribute === 'id' || r.attribute === 'bucket');
  return v !== undefined && v === str(bucket.body.bucket);
}

interface Statement {
  readonly effect: string;
  readonly principals: string[];
  readonly actions: string[];
  readonly resources: string[];
  readonly secureTransportFalse: boolean;
}

/** Statements of a bucket policy: an aws_iam_policy_document data source, or literal JSON. */
function statementsOf(tf: JsonObject, policy: string | undefined): Statement[] | undefined {
  const r = reference(policy);
  if (r && r.attribute === 'json' && r.address.startsWith('data.aws_iam_policy_document.')) {
    const doc = lookup(tf, r.address);
    return blocks(doc?.statement).map((s) => ({
      effect: str(s.effect) ?? 'Allow',
      principals: blocks(s.principals).flatMap((p) => (['*', 'AWS'].includes(str(p.type) ?? '') ? strings(p.identifiers) : [])),
      actions: strings(s.actions),
      resources: strings(s.resources),
      secureTransportFalse: blocks(s.condition).some((c) => ['Bool', 'BoolIfExists'].includes(str(c.test) ?? '') && str(c.variable) === 'aws:SecureTransport' && strings(c.values).includes('false')),
    }));
  }
  if (policy === undefined || policy.includes('${')) return undefined;
  let doc: Json;
  try {
    doc = JSON.parse(policy) as Json;
  } catch {
    return undefined;
  }
  if (!isObject(doc)) return undefined;
  return blocks(doc.Statement).map((s) => {
    const principal = s.Principal;
    const cond = isObject(s.Condition) ? s.Condition : {};
    const bool = [cond.Bool, cond.BoolIfExists].filter(isObject);
    return {
      effect: str(s.Effect) ?? '',
      principals: principal === '*' ? ['*'] : isObject(principal) ? strings(principal.AWS) : [],
      actions: strings(s.Action),
      resources: strings(s.Resource),
      secureTransportFalse: bool.some((b) => [b['aws:SecureTransport']].flat().some((v) => v === false || v === 'false')),
    };
  });
}

/** Public access block (all four flags) and a TLS-only policy on every bucket. */
export function bucketChecks(tf: JsonObject, stack: string): Check[] {
  const out: Check[] = [];
  const blocksOfPab = elements(tf, 'resource', 'aws_s3_bucket_public_access_block');
  const policies = elements(tf, 'resource', 'aws_s3_bucket_policy');
  const FLAGS = ['block_public_acls', 'block_public_policy', 'ignore_public_acls', 'restrict_public_buckets'];
  for (const bucket of elements(tf, 'resource', 'aws_s3_bucket')) {
    const name = str(bucket.body.bucket) ?? bucket.address;
    const pab = blocksOfPab.find((b) => pointsAt(b.body.bucket, bucket));
    const off = pab ? FLAGS.filter((f) => !isTrue(pab.body[f])) : [];
    out.push(check(stack, bucket, 'WBT-S3-PAB', pab ? off.map((f) => `${f} is not true`) : ['no aws_s3_bucket_public_access_block'], `${name}: all four flags`, pab ?? bucket));

    const policy = policies.find((p) => pointsAt(p.body.bucket, bucket));
    const statements = policy ? statementsOf(tf, str(policy.body.policy)) : undefined;
    const tlsOnly = (statements ?? []).some(
      (s) => s.effect === 'Deny' && s.secureTransportFalse && s.principals.includes('*') && s.actions.some((a) => a === 's3:*' || a === '*') && s.resources.some((r) => r === '*' || r.endsWith('/*')),
    );
    const problem = !policy
      ? 'no bucket policy'
      : statements === undefined
        ? 'the policy cannot be read at synthesis (use a data.aws_iam_policy_document or literal JSON)'
        : 'no statement denies s3:* on the objects to principal * when aws:SecureTransport is false';
    out.push(check(stack, bucket, 'WBT-S3-TLS', tlsOnly ? [] : [problem], `${name}: denies aws:SecureTransport = false`, policy ?? bucket));
  }
  return out;
}

/**
 * WBT-KMS-CMK, where the environment has its own key (kms.customerManagedKey): the key rotates, and every data volume,
 * instance root, launch template block device, bucket default encryption and SecureString names it (its ARN).
 */
export function keyChecks(tf: JsonObject, stack: string, customerManagedKey: boolean): Check[] {
  if (!customerManagedKey) return [];
  const keys = elements(tf, 'resource', 'aws_kms_key');
  const out: Check[] = keys.map((k) => check(stack, k, 'WBT-KMS-CMK', isTrue(k.body.enable_key_rotation) ? [] : ['enable_key_rotation is not true'], 'rotated'));
  const theKey = (v: Json | undefined): boolean => {
    const r = reference(str(v));
    return r !== undefined && r.attribute === 'arn' && keys.some((k) => k.address === r.address);
  };
  const missing = (what: string, v: Json | undefined): string[] => (theKey(v) ? [] : [`${what} is ${str(v) ?? 'unset (an AWS managed key)'}, not the environment's key`]);
  for (const e of elements(tf, 'resource', 'aws_ebs_volume')) out.push(check(stack, e, 'WBT-KMS-CMK', missing('kms_key_id', e.body.kms_key_id), "the environment's key"));
  for (const e of elements(tf, 'resource', 'aws_instance'))
    out.push(check(stack, e, 'WBT-KMS-CMK', missing('root_block_device.kms_key_id', blocks(e.body.root_block_device)[0]?.kms_key_id), "root volume under the environment's key"));
  for (const e of elements(tf, 'resource', 'aws_launch_template')) {
    const problems = blocks(e.body.block_device_mappings).flatMap((d) => missing(`block device ${str(d.device_name) ?? ''} kms_key_id`, blocks(d.ebs)[0]?.kms_key_id));
    out.push(check(stack, e, 'WBT-KMS-CMK', problems, "block devices under the environment's key"));
  }
  for (const e of elements(tf, 'resource', 'aws_s3_bucket_server_side_encryption_configuration')) {
    const problems = blocks(e.body.rule).flatMap((r) => {
      const sse = blocks(r.apply_server_side_encryption_by_default)[0];
      return str(sse?.sse_algorithm) === 'aws:kms' ? missing('kms_master_key_id', sse?.kms_master_key_id) : [`sse_algorithm is ${str(sse?.sse_algorithm) ?? 'unset'}, not aws:kms`];
    });
    out.push(check(stack, e, 'WBT-KMS-CMK', problems, "SSE-KMS with the environment's key"));
  }
  for (const e of elements(tf, 'resource', 'aws_ssm_parameter'))
    if (str(e.body.type) === 'SecureString') out.push(check(stack, e, 'WBT-KMS-CMK', missing('key_id', e.body.key_id), "the environment's key"));
  return out;
}
