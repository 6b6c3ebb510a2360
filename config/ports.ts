/**
 * The port plan's vocabulary: rules, peers, SSH and egress. Each role's own ports are in its RoleSpec
 * (constructs/roles/<role>.ts); `portPlan` (constructs/roles/index.ts) concatenates them with SSH. No import of
 * the roles here: the userdata builders read this vocabulary too, and the roles import the builders.
 * Security groups (constructs/firewalls.ts) and the audit (constructs/audit/) both read it.
 */
import { POOLS, type AnyRole } from './schema';

export type Protocol = 'tcp' | 'udp';

/** Who may send: the internet, a configured network, or another host of the stack (by its security group). */
export type Peer = { readonly kind: 'world' } | { readonly kind: 'cidr'; readonly cidr: string; readonly label: string } | { readonly kind: 'host'; readonly role: AnyRole };

export interface PortRule {
  /** Stable construct id of the rule: renaming it replaces the rule. */
  readonly id: string;
  readonly role: AnyRole;
  readonly protocol: Protocol;
  readonly from: number;
  readonly to: number;
  readonly peer: Peer;
  /** Security-group description: the service that needs the port (AWS allows a-zA-Z0-9. _-:/()#,@[]+=&;{}!$*). */
  readonly description: string;
  /** The configuration field that sets the ports, when one does (errors about the rule name it). @default fixed ports */
  readonly portField?: string;
}

/** The configuration list a CIDR peer comes from, by peer label. */
export const PEER_FIELD: Readonly<Record<string, string>> = {
  trunk: 'sip.trunkSignallingCidrs',
  'trunk-media': 'sip.trunkMediaCidrs',
  'sip-client': 'sip.clientCidrs',
  admin: 'adminCidrs',
};

/** How a role reads in the port plan and the audit: "meet host", "jvb pool". */
export function roleLabel(role: AnyRole): string {
  return (POOLS as readonly string[]).includes(role) ? `${role} pool` : `${role} host`;
}

export function peerLabel(p: Peer): string {
  switch (p.kind) {
    case 'world':
      return '0.0.0.0/0';
    case 'cidr':
      return `${p.cidr} (${p.label})`;
    case 'host':
      return roleLabel(p.role);
  }
}

/** Egress stays open (apt, registries, ACME, SSM, S3; media to arbitrary client ports) but never protocol -1. */
export const EGRESS: readonly { readonly protocol: Protocol; readonly description: string }[] = [
  { protocol: 'tcp', description: 'Outbound TCP: apt, image registries, ACME, SSM, S3 and SIP trunks' },
  { protocol: 'udp', description: 'Outbound UDP: media to clients on arbitrary ports, DNS and NTP' },
];

/** Prosody's client port (XMPP c2s): the pools' members join the meet host's Prosody on it, over the VPC only. */
export const XMPP_CLIENT_PORT = 5222;
