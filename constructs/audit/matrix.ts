/**
 * The security-group matrix of a synthesized plan: every rule of every group (separate rule resources, legacy
 * aws_security_group_rule and inline blocks alike) becomes a row, its peer resolved to something an operator
 * reads, judged against the policy (policy.ts) and compared with the port plan (config/ports.ts). Pure functions.
 */
import { isWorldCidr, parseCidr } from '../../config/net';
import { EGRESS, peerLabel, roleLabel, XMPP_CLIENT_PORT, type PortRule } from '../../config/ports';
import { portPlan } from '../roles';
import { ANY_ROLES, enabledPools, type AnyRole, type EnvironmentConfig } from '../../config/schema';
import type { Finding } from './finding';
import { blocks, elements, isObject, isTrue, lookup, num, reference, str, strings, type Element, type JsonObject } from './plan';
import { ADMIN_PORTS, DIAL_IN_EXPOSURE, INTERNAL_PORTS, SIP_SIGNALLING_PORTS, sipExposure, worldAllowlist, XMPP_PORTS, type Exposure, type RuleId } from './policy';
import { resourceNameOf } from '../../config/names';

export type Verdict = 'ok' | 'accepted' | 'violation';
export type Direction = 'ingress' | 'egress';

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
  readonly role?: AnyRole;
  readonly name: string;
  readonly description: string;
  readonly address: string;
  readonly rows: readonly MatrixRow[];
}

/** A security group of the stack, with the host role it belongs to (by name or Name tag). */
export interface Group {
  readonly name: string;
  readonly role?: AnyRole;
  readonly host: string;
  readonly description: string;
  readonly element: Element;
  readonly isDefault: boolean;
}

type Peer = { readonly kind: 'cidr'; readonly cidr: string } | { readonly kind: 'group'; readonly ref: string } | { readonly kind: 'self' } | { readonly kind: 'prefix-list'; readonly id: string };

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

export function collectGroups(tf: JsonObject, env: EnvironmentConfig): Map<string, Group> {
  const groups = new Map<string, Group>();
  const prefix = `${resourceNameOf(env)}-`;
  for (const element of elements(tf, 'resource', 'aws_security_group')) {
    const name = str(element.body.name) ?? str(element.body.name_prefix) ?? element.address;
    const tagName = isObject(element.body.tags) ? str(element.body.tags.Name) : undefined;
    const role = ANY_ROLES.find((r) => name === `${prefix}${r}` || tagName === `${prefix}${r}`);
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

function planKey(role: AnyRole | undefined, protocol: string, from: number, to: number, peer: string): string {
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

/** What a rule is judged against: the port plan by rule, and the hosts whose planned rules carry SIP signalling. */
interface PlanView {
  readonly rules: Map<string, PortRule>;
  /** The SIP-serving roles (today pbx): only their world-open SIP/RTP ports are judged by the SIP exposure. */
  readonly sipRoles: ReadonlySet<AnyRole>;
}

function planView(env: EnvironmentConfig): PlanView {
  const rules = portPlan(env);
  return {
    rules: new Map(rules.map((r) => [planKey(r.role, r.protocol, r.from, r.to, planPeerKey(r)), r])),
    sipRoles: new Set(rules.filter((r) => SIP_SIGNALLING_PORTS.some((p) => within(p, r.from, r.to))).map((r) => r.role)),
  };
}

function evaluateRule(tf: JsonObject, rule: RawRule, env: EnvironmentConfig, groups: Map<string, Group>, plan: PlanView): MatrixRow {
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

  const planRule = rule.direction === 'ingress' ? plan.rules.get(planKey(role, protocol, from, to, peerKey)) : undefined;
  const planned = planRule !== undefined || (rule.direction === 'egress' && EGRESS.some((e) => e.protocol === protocol && from === 0 && to === 65535 && peerKey === 'cidr:0.0.0.0/0'));
  // The plan knows what a configured network is for (trunk, sip-client, admin).
  if (planRule) peer = peerLabel(planRule.peer);

  const violated: { rule: RuleId; detail: string }[] = [];
  const show = `${rule.direction} ${protocol} ${protocol === 'all' ? 'all ports' : from === to ? from : `${from}-${to}`} ${rule.direction === 'ingress' ? 'from' : 'to'} ${peer}`;
  const hostText = role ? roleLabel(role) : rule.group ? `security group ${rule.group.name}` : `security group ${rule.groupRef || '(none)'}`;
  const flag = (id: RuleId, why: string): void => void violated.push({ rule: id, detail: `${hostText}: ${show}: ${why}` });

  if (protocol === 'all') flag('WBT-SG-PROTO', 'protocol -1 allows every protocol and port');
  if (rule.description.trim() === '') flag('WBT-SG-DESC', 'the rule has no description');
  let accepted = false;
  let deciding: RuleId | undefined;
  if (rule.direction === 'ingress' && portsApply) {
    const internal = INTERNAL_PORTS.filter((i) => within(i.port, from, to));
    const xmpp = internal.filter((i) => XMPP_PORTS.includes(i.port));
    // Prosody's client port on the meet host, from a pool's security group (its members join over the VPC): the one
    // internal port a peer may reach, and only that peer.
    const poolXmpp = role === 'meet' && protocol === 'tcp' && from === XMPP_CLIENT_PORT && to === XMPP_CLIENT_PORT && enabledPools(env).some((p) => peerKey === `host:${p}`);
    if (poolXmpp) deciding = 'WBT-SG-XMPP';
    else {
      if (internal.length > 0) flag('WBT-SG-INTERNAL', `exposes ${internal.map((i) => `${i.port} (${i.service})`).join(', ')}`);
      if (xmpp.length > 0) flag('WBT-SG-XMPP', `XMPP ${xmpp.map((i) => i.port).join(', ')} is open to ${peer}: only the pools' security groups may reach Prosody's client port, on the meet host`);
    }
    // The dial-in mapper's port: exactly tcp 5290 on the meet host from the pbx host's group, with Jigasi; nothing else.
    if (within(DIAL_IN_EXPOSURE.port, from, to)) {
      const d = DIAL_IN_EXPOSURE;
      const exact = protocol === 'tcp' && from === d.port && to === d.port;
      if (role === d.role && exact && peerKey === `host:${d.peer}` && env.jitsi.jigasi) deciding ??= 'WBT-SG-DIALIN';
      else if (protocol !== 'udp')
        flag(
          'WBT-SG-DIALIN',
          role === d.role && exact && peerKey === `host:${d.peer}`
            ? `opens ${d.port} (${d.service}) with jitsi.jigasi off: nothing listens there`
            : `opens ${d.port} (${d.service}) to ${peer}: only the ${roleLabel(d.peer)}'s security group may reach it, on the ${roleLabel(d.role)}`,
        );
    }
  }
  if (rule.direction === 'ingress' && world) {
    deciding = 'WBT-SG-WORLD';
    const admin = portsApply ? ADMIN_PORTS.filter((a) => within(a.port, from, to)) : [];
    if (admin.length > 0) flag('WBT-SG-ADMIN', `opens ${admin.map((a) => `${a.port} (${a.service})`).join(', ')} to the internet`);
    const sip = role !== undefined && plan.sipRoles.has(role) ? sipExposure(env) : [];
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
      flag(
        'WBT-SG-WORLD',
        role
          ? `not on the ${role} allowlist (${allowlist.map((e) => `${e.protocol} ${e.from === e.to ? e.from : `${e.from}-${e.to}`}`).join(', ') || 'nothing'})`
          : 'world-open on a group of no host role',
      );
  }

  const findings = violated.map((v): Finding => ({ rule: v.rule, address: rule.element.address, path: rule.element.path, detail: v.detail }));
  return {
    direction: rule.direction,
    protocol,
    from,
    to,
    ports: !portsApply
      ? protocol.startsWith('icmp') && rule.from !== undefined
        ? `type ${rule.from} code ${rule.to ?? -1}`
        : '-'
      : protocol === 'all'
        ? 'all'
        : from === to
          ? String(from)
          : `${from}-${to}`,
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

/** The matrix of every group of the stack, hosts then pools first (in ANY_ROLES order); rules on groups outside it last. */
export function securityGroupMatrix(tf: JsonObject, env: EnvironmentConfig, groups: Map<string, Group>): GroupMatrix[] {
  const plan = planView(env);
  const rows = rawRules(tf, groups).map((r) => ({ group: r.group, row: evaluateRule(tf, r, env, groups, plan) }));

  const matrices: GroupMatrix[] = [];
  const ordered = [...groups.values()].sort((a, b) => (a.role ? ANY_ROLES.indexOf(a.role) : 9) - (b.role ? ANY_ROLES.indexOf(b.role) : 9) || a.name.localeCompare(b.name));
  for (const g of ordered)
    matrices.push({
      host: g.host,
      role: g.role,
      name: g.name,
      description: g.description,
      address: g.element.address,
      rows: rows
        .filter((r) => r.group === g)
        .map((r) => r.row)
        .sort(rowOrder),
    });
  const orphans = rows.filter((r) => r.group === undefined).map((r) => r.row);
  if (orphans.length > 0) matrices.push({ host: 'other', name: 'groups outside this stack', description: '', address: '-', rows: orphans.sort(rowOrder) });
  return matrices;
}
