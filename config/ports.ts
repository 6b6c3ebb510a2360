/**
 * The port plan's vocabulary: rules, peers, SSH and egress. Each role's own ports are in its RoleSpec
 * (constructs/roles/<role>.ts); `portPlan` concatenates them with SSH (constructs/roles/index.ts).
 * Security groups (constructs/firewalls.ts) and the audit (constructs/audit/) both read it.
 */
import { portPlan as rolesPortPlan } from '../constructs/roles';
import type { EnvironmentConfig, Role } from './schema';

export type Protocol = 'tcp' | 'udp';

/** Who may send: the internet, a configured network, or another host of the stack (by its security group). */
export type Peer = { readonly kind: 'world' } | { readonly kind: 'cidr'; readonly cidr: string; readonly label: string } | { readonly kind: 'host'; readonly role: Role };

export interface PortRule {
  /** Stable construct id of the rule: renaming it replaces the rule. */
  readonly id: string;
  readonly role: Role;
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

export function peerLabel(p: Peer): string {
  switch (p.kind) {
    case 'world':
      return '0.0.0.0/0';
    case 'cidr':
      return `${p.cidr} (${p.label})`;
    case 'host':
      return `${p.role} host`;
  }
}

/**
 * The port plan: every port a host accepts, derived from the configuration and nowhere typed twice: the
 * roles' own ports (each RoleSpec's `ports`), then SSH from the administrators' networks on every host.
 */
export function portPlan(env: EnvironmentConfig): PortRule[] {
  return rolesPortPlan(env);
}

/** Egress stays open (apt, registries, ACME, SSM, S3; media to arbitrary client ports) but never protocol -1. */
export const EGRESS: readonly { readonly protocol: Protocol; readonly description: string }[] = [
  { protocol: 'tcp', description: 'Outbound TCP: apt, image registries, ACME, SSM, S3 and SIP trunks' },
  { protocol: 'udp', description: 'Outbound UDP: media to clients on arbitrary ports, DNS and NTP' },
];
