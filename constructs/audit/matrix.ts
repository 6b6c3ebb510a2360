/**
 * Evaluates a synthesized stack (the JSON of cdktf.out/stacks/<env>/cdk.tf.json, or stack.toTerraform()) against
 * the policy: every security-group rule becomes a matrix row with a verdict, every instance, volume, bucket and
 * user-data document a check. Pure functions: the synthesis gate (aspect.ts) and the report share them.
 */
import { isWorldCidr, parseCidr } from '../../config/net';
import { EGRESS, peerLabel, portPlan, type PortRule } from '../../config/ports';
import { ROLES, type EnvironmentConfig, type Role } from '../../config/schema';
import { ADMIN_PORTS, INTERNAL_PORTS, SIP_SIGNALLING_PORTS, ruleById, sipExposure, worldAllowlist, type Exposure, type RuleId } from './policy';

export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export type Verdict = 'ok' | 'accepted' | 'violation';
export type Direction = 'ingress' | 'egress';

/** A violation: the rule, the Terraform address and construct path of the resource, and what is wrong. */
export interface Finding {
  readonly rule: RuleId;
  readonly address: string;
  readonly path: string;
  readonly detail: string;
}

export interface MatrixRow {
  readonly direction: Direction;
  /** tcp, udp, all (-1), icmp, or the protocol number. */
  readonly protocol: string;
  readonly from: number;
  readonly to: number;
  /** "443", "10000-19999", "all". */
  readonly ports: string;
  /** A CIDR (with its configured label), another host ("meet host"), or what a computed value refers to. */
  readonly peer: string;
  readonly world: boolean;
  readonly description: string;
  /** Derived from the port plan (config/ports.ts) rather than added by hand. */
  readonly planned: boolean;
  readonly verdict: Verdict;
  /** The rules violated; for a passing world-open row the allowlist rule, for an accepted row the SIP rule. */
  readonly rules: readonly RuleId[];
  readonly findings: readonly Finding[];
  /** sip.worldOpenJustification, on accepted rows. */
  readonly justification?: string;
  readonly address: string;
  readonly path: string;
}

/** One security group: a host's, the VPC default, or any other the stack holds. */
export interface GroupMatrix {
  /** The host role, or the group's name when it belongs to no host. */
  readonly host: string;
  readonly role?: Role;
  readonly name: string;
  readonly description: string;
  readonly address: string;
  readonly rows: readonly MatrixRow[];
}

/** A resource-level check: IMDSv2, encryption, user-data secrets, bucket protections, group descriptions. */
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

export interface StackAudit {
  readonly environment: string;
  readonly groups: readonly GroupMatrix[];
  readonly checks: readonly Check[];
  /** Every violation of the stack, matrix and checks together. */
  readonly findings: readonly Finding[];
  readonly accepted: number;
}

// ---------------------------------------------------------------------------------------------- JSON access

function isObject(v: Json | undefined): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(v: Json | undefined): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function num(v: Json | undefined): number | undefined {
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  return Number.isFinite(n) ? n : undefined;
}

function isTrue(v: Json | undefined): boolean {
  return v === true || v === 'true';
}

/** A nested block: cdktf writes single blocks as objects and repeated ones as arrays. */
function blocks(v: Json | undefined): JsonObject[] {
  if (Array.isArray(v)) return v.filter(isObject);
  return isObject(v) ? [v] : [];
}

function strings(v: Json | undefined): string[] {
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string');
  return typeof v === 'string' ? [v] : [];
}

interface Element {
  /** Terraform address: aws_instance.chat-host_instance_02E1A649, data.cloudinit_config.x. */
  readonly address: string;
  readonly path: string;
  readonly body: JsonObject;
}

function elements(tf: JsonObject, kind: 'resource' | 'data', type: string): Element[] {
  const byName = kind === 'resource' ? tf.resource : tf.data;
  const all = isObject(byName) ? byName[type] : undefined;
  if (!isObject(all)) return [];
  return Object.entries(all)
    .filter((e): e is [string, JsonObject] => isObject(e[1]))
    .map(([name, body]) => {
      const address = `${kind === 'data' ? 'data.' : ''}${type}.${name}`;
      const meta = isObject(body['//']) && isObject(body['//'].metadata) ? body['//'].metadata : undefined;
      return { address, path: str(meta?.path) ?? address, body };
    });
}

/** `${aws_s3_bucket.x.id}` -> { address: "aws_s3_bucket.x", attribute: "id" }. */
function reference(v: string | undefined): { address: string; attribute: string } | undefined {
  const m = v === undefined ? null : /^\$\{((?:data\.)?[a-z0-9_]+\.[A-Za-z0-9_-]+)\.([a-z0-9_]+)\}$/.exec(v);
  return m ? { address: m[1], attribute: m[2] } : undefined;
}

function lookup(tf: JsonObject, address: string): JsonObject | undefined {
  const parts = address.split('.');
  const [root, type, name] = parts[0] === 'data' ? ['data', parts[1], parts[2]] : ['resource', parts[0], parts[1]];
  const byType = tf[root];
  const byName = isObject(byType) ? byType[type] : undefined;
  const body = isObject(byName) ? byName[name] : undefined;
  return isObject(body) ? body : undefined;
}

// ---------------------------------------------------------------------------------------------- security groups

interface Group {
  readonly name: string;
  readonly role?: Role;
  readonly host: string;
  readonly description: string;
  readonly element: Element;
  readonly isDefault: boolean;
}

type Peer =
  | { readonly kind: 'cidr'; readonly cidr: string }
  | { readonly kind: 'group'; readonly ref: string }
  | { readonly kind: 'self' }
  | { readonly kind: 'prefix-list'; readonly id: string };

/** One rule towards one peer, whatever resource type wrote it. */
interface RawRule {
  readonly direction: Direction;
  readonly group: Group | undefined;
  /** What security_group_id said when it names no group of this stack. */
  readonly groupRef: string;
  readonly protocol: string;
  readonly from?: number;
  readonly to?: number;
  readonly peer: Peer;
  readonly description: string;
  readonly element: Element;
}

function normaliseProtocol(p: string | undefined): string {
  const v = (p ?? '').toLowerCase();
  const byNumber: Record<string, string> = { '-1': 'all', '6': 'tcp', '17': 'udp', '1': 'icmp', '58': 'icmpv6' };
  return byNumber[v] ?? v;
}

function peersOf(body: JsonObject, inline: boolean): Peer[] {
  const cidrs = [...strings(body.cidr_ipv4), ...strings(body.cidr_ipv6), ...strings(body.cidr_blocks), ...strings(body.ipv6_cidr_blocks)];
  const groups = [...strings(body.referenced_security_group_id), ...strings(body.source_security_group_id), ...(inline ? strings(body.security_groups) : [])];
  const lists = [...strings(body.prefix_list_id), ...strings(body.prefix_list_ids)];
  return [
    ...cidrs.map((cidr): Peer => ({ kind: 'cidr', cidr })),
    ...groups.map((ref): Peer => ({ kind: 'group', ref })),
    ...lists.map((id): Peer => ({ kind: 'prefix-list', id })),
    ...(isTrue(body.self) ? [{ kind: 'self' } as const] : []),
  ];
}

function collectGroups(tf: JsonObject, env: EnvironmentConfig): Map<string, Group> {
  const groups = new Map<string, Group>();
  const prefix = `weebeetalk-${env.name}-`;
  for (const element of elements(tf, 'resource', 'aws_security_group')) {
    const name = str(element.body.name) ?? str(element.body.name_prefix) ?? element.address;
    const tagName = isObject(element.body.tags) ? str(element.body.tags.Name) : undefined;
    const role = ROLES.find((r) => name === `${prefix}${r}` || tagName === `${prefix}${r}`);
    groups.set(element.address, { name, role, host: role ?? name, description: str(element.body.description) ?? '', element, isDefault: false });
  }
  for (const element of elements(tf, 'resource', 'aws_default_security_group'))
    groups.set(element.address, { name: 'default', host: 'default', description: 'VPC default security group', element, isDefault: true });
  return groups;
}

function rawRules(tf: JsonObject, groups: Map<string, Group>): RawRule[] {
  const rules: RawRule[] = [];
  const groupOf = (ref: string | undefined): Group | undefined => {
    const r = reference(ref);
    return r && r.attribute === 'id' ? groups.get(r.address) : undefined;
  };
  const push = (direction: Direction, group: Group | undefined, groupRef: string, body: JsonObject, element: Element, inline: boolean, protocolKey: string): void => {
    for (const peer of peersOf(body, inline))
      rules.push({
        direction,
        group,
        groupRef,
        protocol: normaliseProtocol(str(body[protocolKey]) ?? String(num(body[protocolKey]) ?? '')),
        from: num(body.from_port),
        to: num(body.to_port),
        peer,
        description: str(body.description) ?? '',
        element,
      });
  };
  for (const direction of ['ingress', 'egress'] as const)
    for (const element of elements(tf, 'resource', `aws_vpc_security_group_${direction}_rule`)) {
      const ref = str(element.body.security_group_id) ?? '';
      push(direction, groupOf(ref), ref, element.body, element, false, 'ip_protocol');
    }
  for (const element of elements(tf, 'resource', 'aws_security_group_rule')) {
    const direction = str(element.body.type) === 'egress' ? 'egress' : 'ingress';
    const ref = str(element.body.security_group_id) ?? '';
    push(direction, groupOf(ref), ref, element.body, element, false, 'protocol');
  }
  // Inline rules fight separate rule resources, but a gate must see them wherever they are.
  for (const group of groups.values())
    for (const direction of ['ingress', 'egress'] as const)
      for (const body of blocks(group.element.body[direction])) push(direction, group, group.element.address, body, group.element, true, 'protocol');
  return rules;
}

/** The whole internet, or so much of it that it makes no difference (two /1s are still everyone). */
function isWorldLike(cidr: string): boolean {
  if (isWorldCidr(cidr)) return true;
  const prefix = Number(cidr.split('/')[1]);
  if (cidr.includes(':')) return Number.isFinite(prefix) && prefix < 16;
  const parsed = parseCidr(cidr);
  return parsed !== undefined && parsed.prefix < 8;
}

function covers(e: Exposure, protocol: string, from: number, to: number): boolean {
  return e.protocol === protocol && from >= e.from && to <= e.to;
}

function within(port: number, from: number, to: number): boolean {
  return port >= from && port <= to;
}

function planKey(role: Role | undefined, protocol: string, from: number, to: number, peer: string): string {
  return [role ?? '-', protocol, from, to, peer].join('|');
}

function planPeerKey(rule: PortRule): string {
  return rule.peer.kind === 'world' ? 'cidr:0.0.0.0/0' : rule.peer.kind === 'cidr' ? `cidr:${rule.peer.cidr}` : `host:${rule.peer.role}`;
}

function describeRef(tf: JsonObject, value: string, groups: Map<string, Group>): string {
  const r = reference(value);
  if (!r) return value.startsWith('${') ? `computed: ${value.slice(2, -1)}` : value;
  const group = r.attribute === 'id' ? groups.get(r.address) : undefined;
  if (group) return group.role ? `${group.role} host` : `security group ${group.name}`;
  const literal = str(lookup(tf, r.address)?.[r.attribute]);
  return literal ?? `computed: ${r.address}.${r.attribute}`;
}

function evaluateRule(tf: JsonObject, rule: RawRule, env: EnvironmentConfig, groups: Map<string, Group>, plan: Map<string, PortRule>): MatrixRow {
  const role = rule.group?.role;
  const protocol = rule.protocol;
  const portsApply = protocol === 'tcp' || protocol === 'udp' || protocol === 'all';
  const from = protocol === 'all' ? 0 : (rule.from ?? 0);
  const to = protocol === 'all' ? 65535 : (rule.to ?? from);

  // Resolve the peer to something an operator reads: a CIDR, another host, never a ${...} token.
  let peer: string;
  let world = false;
  let peerKey = '';
  const p = rule.peer;
  if (p.kind === 'cidr') {
    const ref = reference(p.cidr);
    const resolved = ref ? str(lookup(tf, ref.address)?.[ref.attribute]) : p.cidr.includes('${') ? undefined : p.cidr;
    // A CIDR known only at apply time could be anything: judge it as the internet.
    world = resolved === undefined || isWorldLike(resolved);
    peer = resolved ?? describeRef(tf, p.cidr, groups);
    peerKey = `cidr:${resolved ?? p.cidr}`;
  } else if (p.kind === 'group') {
    peer = describeRef(tf, p.ref, groups);
    const ref = reference(p.ref);
    const target = ref?.attribute === 'id' ? groups.get(ref.address) : undefined;
    peerKey = target?.role ? `host:${target.role}` : `group:${p.ref}`;
  } else if (p.kind === 'self') {
    peer = 'members of this group';
    peerKey = 'self';
  } else {
    peer = `prefix list ${describeRef(tf, p.id, groups)}`;
    peerKey = `prefix-list:${p.id}`;
  }

  const planRule = rule.direction === 'ingress' ? plan.get(planKey(role, protocol, from, to, peerKey)) : undefined;
  const planned = planRule !== undefined || (rule.direction === 'egress' && EGRESS.some((e) => e.protocol === protocol && from === 0 && to === 65535 && peerKey === 'cidr:0.0.0.0/0'));
  // The plan knows what a configured network is for (trunk, sip-client, admin).
  if (planRule) peer = peerLabel(planRule.peer);

  const violated: { rule: RuleId; detail: string }[] = [];
  const show = `${rule.direction} ${protocol} ${protocol === 'all' ? 'all ports' : from === to ? from : `${from}-${to}`} ${rule.direction === 'ingress' ? 'from' : 'to'} ${peer}`;
  const hostText = role ? `${role} host` : rule.group ? `security group ${rule.group.name}` : `security group ${rule.groupRef || '(none)'}`;
  const flag = (id: RuleId, why: string): void => void violated.push({ rule: id, detail: `${hostText}: ${show}: ${why}` });

  if (protocol === 'all') flag('WBT-SG-PROTO', 'protocol -1 allows every protocol and port');
  if (rule.description.trim() === '') flag('WBT-SG-DESC', 'the rule has no description');
  let accepted = false;
  if (rule.direction === 'ingress' && portsApply) {
    const internal = INTERNAL_PORTS.filter((i) => within(i.port, from, to));
    if (internal.length > 0) flag('WBT-SG-INTERNAL', `exposes ${internal.map((i) => `${i.port} (${i.service})`).join(', ')}`);
  }
  let deciding: RuleId | undefined;
  if (rule.direction === 'ingress' && world) {
    deciding = 'WBT-SG-WORLD';
    const admin = portsApply ? ADMIN_PORTS.filter((a) => within(a.port, from, to)) : [];
    if (admin.length > 0) flag('WBT-SG-ADMIN', `opens ${admin.map((a) => `${a.port} (${a.service})`).join(', ')} to the internet`);
    const sip = role === 'pbx' ? sipExposure(env) : [];
    const sipInside = sip.some((e) => covers(e, protocol, from, to));
    const sipTouched = portsApply && (SIP_SIGNALLING_PORTS.some((s) => within(s, from, to)) || sip.some((e) => e.from <= to && from <= e.to && (protocol === 'all' || e.protocol === protocol)));
    if (sipInside || sipTouched) {
      if (sipInside && env.sip.worldOpenJustification) {
        accepted = true;
        deciding = 'WBT-SG-SIP';
      } else flag('WBT-SG-SIP', sipInside ? 'opens SIP/RTP to the internet without sip.worldOpenJustification' : 'opens SIP signalling or RTP ports to the internet outside the pbx SIP exposure');
    }
    const allowlist = role ? worldAllowlist(env)[role] : [];
    if (!sipInside && !allowlist.some((e) => covers(e, protocol, from, to)))
      flag('WBT-SG-WORLD', role ? `not on the ${role} allowlist (${allowlist.map((e) => `${e.protocol} ${e.from === e.to ? e.from : `${e.from}-${e.to}`}`).join(', ') || 'nothing'})` : 'world-open on a group of no host role');
  }

  const findings = violated.map((v): Finding => ({ rule: v.rule, address: rule.element.address, path: rule.element.path, detail: v.detail }));
  return {
    direction: rule.direction,
    protocol,
    from,
    to,
    ports: !portsApply ? (protocol.startsWith('icmp') && rule.from !== undefined ? `type ${rule.from} code ${rule.to ?? -1}` : '-') : protocol === 'all' ? 'all' : from === to ? String(from) : `${from}-${to}`,
    peer,
    world,
    description: rule.description,
    planned,
    verdict: findings.length > 0 ? 'violation' : accepted ? 'accepted' : 'ok',
    rules: findings.length > 0 ? [...new Set(findings.map((f) => f.rule))] : deciding ? [deciding] : [],
    findings,
    justification: accepted && findings.length === 0 ? env.sip.worldOpenJustification : undefined,
    address: rule.element.address,
    path: rule.element.path,
  };
}

const PROTOCOL_ORDER = ['tcp', 'udp', 'all'];

function rowOrder(a: MatrixRow, b: MatrixRow): number {
  const pa = PROTOCOL_ORDER.indexOf(a.protocol);
  const pb = PROTOCOL_ORDER.indexOf(b.protocol);
  return (
    (a.direction === b.direction ? 0 : a.direction === 'ingress' ? -1 : 1) ||
    a.from - b.from ||
    a.to - b.to ||
    (pa === -1 ? 9 : pa) - (pb === -1 ? 9 : pb) ||
    a.peer.localeCompare(b.peer) ||
    a.address.localeCompare(b.address)
  );
}

// ---------------------------------------------------------------------------------------------- resource checks

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
    re: /(?<!\$)\$\{[^}]*?\b(?:aws_ssm_parameter\.[\w-]+\.value|random_password\.[\w-]+\.result|aws_secretsmanager_random_password\.[\w-]+\.random_password|aws_secretsmanager_secret_version\.[\w-]+\.secret_string|tls_private_key\.[\w-]+\.private_key_\w+|aws_iam_access_key\.[\w-]+\.(?:secret|ses_smtp_password_v4))\b/,
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

function check(stack: string, element: Element, rule: RuleId, problems: string[], okDetail: string, target: Element = element): Check {
  const subject = element.path.startsWith(`${stack}/`) ? element.path.slice(stack.length + 1) : element.path;
  const findings = problems.map((p): Finding => ({ rule, address: target.address, path: target.path, detail: `${subject}: ${p}` }));
  return { rule, subject, verdict: findings.length > 0 ? 'violation' : 'ok', detail: problems.length > 0 ? problems.join('; ') : okDetail, findings, address: target.address, path: target.path };
}

function instanceChecks(tf: JsonObject, stack: string): Check[] {
  const out: Check[] = [];
  for (const e of elements(tf, 'resource', 'aws_instance')) {
    const md = blocks(e.body.metadata_options)[0];
    const tokens = str(md?.http_tokens);
    const imdsOk = tokens === 'required' || str(md?.http_endpoint) === 'disabled';
    out.push(check(stack, e, 'WBT-EC2-IMDS', imdsOk ? [] : [`http_tokens is ${tokens ?? 'unset (IMDSv1 allowed)'}`], 'http_tokens = required'));

    const root = blocks(e.body.root_block_device)[0];
    const devices = blocks(e.body.ebs_block_device);
    const unencrypted = [...(root && isTrue(root.encrypted) ? [] : ['root_block_device']), ...devices.filter((d) => !isTrue(d.encrypted)).map((d) => `ebs_block_device ${str(d.device_name) ?? ''}`.trim())];
    out.push(check(stack, e, 'WBT-EC2-ROOT-ENC', unencrypted.map((d) => `${d} is not encrypted`), `root${devices.length > 0 ? ` and ${devices.length} block device(s)` : ''} encrypted`));

    // Literal user-data on the instance itself; a ${data.cloudinit_config...} reference is checked at its source.
    const plain = str(e.body.user_data);
    const b64 = str(e.body.user_data_base64);
    const literal = plain !== undefined && !reference(plain) ? plain : b64 !== undefined && !b64.includes('${') ? Buffer.from(b64, 'base64').toString('utf8') : undefined;
    if (literal !== undefined) out.push(check(stack, e, 'WBT-EC2-USERDATA', secretsIn(literal), 'no secret-looking values'));
  }
  for (const e of elements(tf, 'data', 'cloudinit_config')) {
    const problems = blocks(e.body.part).flatMap((part, i) => secretsIn(str(part.content) ?? '').map((p) => `part ${str(part.filename) ?? i + 1}: ${p}`));
    out.push(check(stack, e, 'WBT-EC2-USERDATA', problems, `${blocks(e.body.part).length} part(s), no secret-looking values`));
  }
  for (const e of elements(tf, 'resource', 'aws_ebs_volume'))
    out.push(check(stack, e, 'WBT-EBS-ENC', isTrue(e.body.encrypted) ? [] : ['encrypted is not true'], 'encrypted'));
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

function bucketChecks(tf: JsonObject, stack: string): Check[] {
  const out: Check[] = [];
  const blocksOfPab = elements(tf, 'resource', 'aws_s3_bucket_public_access_block');
  const policies = elements(tf, 'resource', 'aws_s3_bucket_policy');
  const FLAGS = ['block_public_acls', 'block_public_policy', 'ignore_public_acls', 'restrict_public_buckets'];
  for (const bucket of elements(tf, 'resource', 'aws_s3_bucket')) {
    const name = str(bucket.body.bucket) ?? bucket.address;
    const pab = blocksOfPab.find((b) => pointsAt(b.body.bucket, bucket));
    const off = pab ? FLAGS.filter((f) => !isTrue(pab.body[f])) : [];
    out.push(
      check(stack, bucket, 'WBT-S3-PAB', pab ? off.map((f) => `${f} is not true`) : ['no aws_s3_bucket_public_access_block'], `${name}: all four flags`, pab ?? bucket),
    );

    const policy = policies.find((p) => pointsAt(p.body.bucket, bucket));
    const statements = policy ? statementsOf(tf, str(policy.body.policy)) : undefined;
    const tlsOnly = (statements ?? []).some(
      (s) =>
        s.effect === 'Deny' &&
        s.secureTransportFalse &&
        s.principals.includes('*') &&
        s.actions.some((a) => a === 's3:*' || a === '*') &&
        s.resources.some((r) => r === '*' || r.endsWith('/*')),
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

// ---------------------------------------------------------------------------------------------- the audit

/** Audits one synthesized stack against the policy of its environment. */
export function auditStack(tf: Json, env: EnvironmentConfig): StackAudit {
  if (!isObject(tf)) throw new Error('audit: the synthesized stack is not a JSON object');
  const meta = isObject(tf['//']) && isObject(tf['//'].metadata) ? tf['//'].metadata : undefined;
  const stack = str(meta?.stackName) ?? env.name;
  const groups = collectGroups(tf, env);
  const plan = new Map(portPlan(env).map((r) => [planKey(r.role, r.protocol, r.from, r.to, planPeerKey(r)), r]));
  const rows = rawRules(tf, groups).map((r) => ({ group: r.group, row: evaluateRule(tf, r, env, groups, plan) }));

  const matrices: GroupMatrix[] = [];
  const ordered = [...groups.values()].sort((a, b) => (a.role ? ROLES.indexOf(a.role) : 9) - (b.role ? ROLES.indexOf(b.role) : 9) || a.name.localeCompare(b.name));
  for (const g of ordered)
    matrices.push({ host: g.host, role: g.role, name: g.name, description: g.description, address: g.element.address, rows: rows.filter((r) => r.group === g).map((r) => r.row).sort(rowOrder) });
  const orphans = rows.filter((r) => r.group === undefined).map((r) => r.row);
  if (orphans.length > 0) matrices.push({ host: 'other', name: 'groups outside this stack', description: '', address: '-', rows: orphans.sort(rowOrder) });

  const checks: Check[] = [
    ...[...groups.values()]
      .filter((g) => !g.isDefault)
      .map((g) => {
        const d = g.description.trim();
        // Terraform's default description says nothing about why the group exists.
        return check(stack, g.element, 'WBT-SG-DESC', d === '' || d === 'Managed by Terraform' ? ['the security group has no description'] : [], 'described');
      }),
    ...instanceChecks(tf, stack),
    ...bucketChecks(tf, stack),
  ];
  const allRows = matrices.flatMap((m) => m.rows);
  return {
    environment: env.name,
    groups: matrices,
    checks,
    findings: [...allRows.flatMap((r) => r.findings), ...checks.flatMap((c) => c.findings)],
    accepted: allRows.filter((r) => r.verdict === 'accepted').length,
  };
}

/** The error text of a finding: rule, resource, what is wrong, and the fix. */
export function findingMessage(f: Finding): string {
  const rule = ruleById(f.rule);
  return `${f.rule} ${rule.title}: ${f.address} (${f.detail}). Fix: ${rule.fix}.`;
}

// ---------------------------------------------------------------------------------------------- diff

export interface ExposureChange {
  readonly environment: string;
  readonly host: string;
  readonly row: MatrixRow;
}

/** Exposure opened and closed between two syntheses, compared by host, direction, protocol, ports and peer. */
export function diffExposure(current: readonly StackAudit[], previous: readonly StackAudit[]): { opened: ExposureChange[]; closed: ExposureChange[] } {
  const flatten = (audits: readonly StackAudit[]): Map<string, ExposureChange> =>
    new Map(
      audits.flatMap((a) =>
        a.groups.flatMap((g) => g.rows.map((row): [string, ExposureChange] => [[a.environment, g.host, row.direction, row.protocol, row.ports, row.peer].join('|'), { environment: a.environment, host: g.host, row }])),
      ),
    );
  const now = flatten(current);
  const before = flatten(previous);
  return {
    opened: [...now].filter(([k]) => !before.has(k)).map(([, c]) => c),
    closed: [...before].filter(([k]) => !now.has(k)).map(([, c]) => c),
  };
}
