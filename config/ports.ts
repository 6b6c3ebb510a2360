/**
 * The port plan: every port a host accepts, derived from the configuration and nowhere typed twice.
 * Security groups (constructs/firewalls.ts) and the audit (constructs/audit/) both read it.
 */
import type { EnvironmentConfig, Role } from './schema';

export type Protocol = 'tcp' | 'udp';

/** Who may send: the internet, a configured network, or another host of the stack (by its security group). */
export type Peer =
  | { readonly kind: 'world' }
  | { readonly kind: 'cidr'; readonly cidr: string; readonly label: string }
  | { readonly kind: 'host'; readonly role: Role };

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

const WORLD: Peer = { kind: 'world' };

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

export function portPlan(env: EnvironmentConfig): PortRule[] {
  const rules: PortRule[] = [];
  const add = (role: Role, service: string, protocol: Protocol, from: number, to: number, peers: Peer[], description: string, portField?: string): void => {
    for (const peer of peers) rules.push({ id: `${role}-${service}-${slug(peer)}`, role, protocol, from, to, peer, description, ...(portField ? { portField } : {}) });
  };
  const cidrs = (list: string[], label: string): Peer[] => list.map((cidr) => ({ kind: 'cidr', cidr, label }));
  const { sip, jitsi } = env;
  const trunkSignalling = cidrs(sip.trunkSignallingCidrs, 'trunk');
  const trunkMedia = cidrs(sip.trunkMediaCidrs, 'trunk-media');
  const clients = cidrs(sip.clientCidrs, 'sip-client');
  const meetIfJigasi: Peer[] = jitsi.jigasi ? [{ kind: 'host', role: 'meet' }] : [];

  add('chat', 'https', 'tcp', 443, 443, [WORLD], 'Rocket.Chat web and API via Traefik; ACME TLS-ALPN-01');
  add('chat', 'http', 'tcp', 80, 80, [WORLD], 'Traefik redirect from HTTP to HTTPS');

  add('meet', 'https', 'tcp', jitsi.httpsPort, jitsi.httpsPort, [WORLD], 'Jitsi Meet web frontend (HTTPS)', 'jitsi.httpsPort');
  add('meet', 'http', 'tcp', 80, 80, [WORLD], 'Jitsi web: ACME HTTP-01 challenge and redirect to HTTPS');
  add('meet', 'jvb', 'udp', 10000, 10000, [WORLD], 'Jitsi Videobridge media (RTP over UDP)');
  if (jitsi.jigasi)
    add('meet', 'jigasi-media', 'udp', jitsi.jigasiPorts.from, jitsi.jigasiPorts.to, [{ kind: 'host', role: 'pbx' }], 'Jigasi RTP media from Asterisk', 'jitsi.jigasiPorts');

  add('pbx', 'sip-udp', 'udp', 5060, 5060, [...meetIfJigasi, ...trunkSignalling], 'Asterisk SIP signalling (UDP) from Jigasi or the SIP trunk');
  add('pbx', 'sip-tcp', 'tcp', 5060, 5060, [...meetIfJigasi, ...trunkSignalling], 'Asterisk SIP signalling (TCP) from Jigasi or the SIP trunk');
  add('pbx', 'sips', 'tcp', 5061, 5061, clients, 'Asterisk SIP over TLS for registered phones');
  if (sip.wss) add('pbx', 'wss', 'tcp', 8089, 8089, clients, 'Asterisk secure websocket for WebRTC phones');
  add('pbx', 'rtp', 'udp', sip.rtpPorts.from, sip.rtpPorts.to, [...meetIfJigasi, ...trunkMedia, ...clients], 'Asterisk RTP media for calls', 'sip.rtpPorts');

  for (const role of ['chat', 'meet', 'pbx'] as const)
    add(role, 'ssh', 'tcp', 22, 22, cidrs(env.adminCidrs, 'admin'), 'SSH for administrators (SSM Session Manager is the default)');
  return rules;
}

/** Egress stays open (apt, registries, ACME, SSM, S3; media to arbitrary client ports) but never protocol -1. */
export const EGRESS: readonly { readonly protocol: Protocol; readonly description: string }[] = [
  { protocol: 'tcp', description: 'Outbound TCP: apt, image registries, ACME, SSM, S3 and SIP trunks' },
  { protocol: 'udp', description: 'Outbound UDP: media to clients on arbitrary ports, DNS and NTP' },
];
