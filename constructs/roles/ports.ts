/** Building a role's port rules (the vocabulary, Peer and PortRule, is config/ports.ts's). */
import type { AnyRole, EnvironmentConfig, Pool } from '../../config/schema';
import type { Peer, PortRule, Protocol } from '../../config/ports';

function slug(p: Peer): string {
  switch (p.kind) {
    case 'world':
      return 'world';
    case 'cidr':
      return `${p.label}-${p.cidr.replace(/[./]/g, '-')}`;
    case 'host':
      return `from-${p.role}`;
  }
}

/** A role's rules: `add(service, ...)` once per service, one rule per peer (ids `<role>-<service>-<peer>`). */
export type AddRule = (service: string, protocol: Protocol, from: number, to: number, peers: readonly Peer[], description: string, portField?: string) => void;

export const WORLD_PEER: Peer = { kind: 'world' };

/** Peers from a configured list of networks, labelled by the list (see PEER_FIELD). */
export function cidrPeers(list: readonly string[], label: string): Peer[] {
  return list.map((cidr) => ({ kind: 'cidr', cidr, label }));
}

/** The rules of one role, as its `add` calls build them. */
export function roleRules(role: AnyRole, build: (add: AddRule) => void): PortRule[] {
  const rules: PortRule[] = [];
  build((service, protocol, from, to, peers, description, portField) => {
    for (const peer of peers) rules.push({ id: `${role}-${service}-${slug(peer)}`, role, protocol, from, to, peer, description, ...(portField ? { portField } : {}) });
  });
  return rules;
}

/** SSH from the administrators' networks, on every host (after the roles' own rules in the plan). */
export function sshRules(env: EnvironmentConfig, roles: readonly AnyRole[]): PortRule[] {
  return roles.flatMap((role) => roleRules(role, (add) => add('ssh', 'tcp', 22, 22, cidrPeers(env.adminCidrs, 'admin'), 'SSH for administrators (SSM Session Manager is the default)')));
}

/** Peers that are pools (their security groups), for rules only pool members may use. */
export const poolPeers = (pools: readonly Pool[]): Peer[] => pools.map((role) => ({ kind: 'host', role }));
