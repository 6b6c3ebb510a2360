/**
 * The turn host: a TURN relay (coturn, Debian 12's package) on TLS 443 and TCP/UDP 3478 for meeting participants
 * whose networks allow only HTTPS; the relay ports open to the video bridge only. Optional in staging, on by default
 * in production (`turn.enabled`). Bootstrap: userdata/turn/ (its README says what runs there and how to debug it).
 */
import { enabledPools } from '../../config/schema';
import { poolPeers, roleRules, WORLD_PEER } from './ports';
import { TURN_PACKAGES, TURN_PORT, TURN_TLS_PORT, turnBundle } from '../../userdata/turn';
import type { RoleSpec } from './spec';

export const turn: RoleSpec = {
  role: 'turn',
  addressOffset: 13,
  metadataHopLimit: 1,
  ports: (config) =>
    roleRules('turn', (add) => {
      const t = config.turn;
      const bridges = [{ kind: 'host' as const, role: 'meet' as const }, ...poolPeers(enabledPools(config).filter((p) => p === 'jvb'))];
      add('turns', 'tcp', TURN_TLS_PORT, TURN_TLS_PORT, [WORLD_PEER], 'TURN over TLS for participants whose networks allow only HTTPS');
      add('turn-tcp', 'tcp', TURN_PORT, TURN_PORT, [WORLD_PEER], 'TURN and STUN over TCP');
      add('turn-udp', 'udp', TURN_PORT, TURN_PORT, [WORLD_PEER], 'TURN and STUN over UDP');
      add('relay', 'udp', t.relayPorts.from, t.relayPorts.to, bridges, 'TURN relay ports: media to and from the video bridges only', 'turn.relayPorts');
    }),
  // One secret, both ends: coturn's static-auth-secret, read by Prosody too (TURN_CREDENTIALS).
  secrets: (_config, secrets) =>
    secrets.add({ id: 'turn-secret', description: 'Shared secret of the TURN relay and Prosody (time-limited TURN credentials)', path: 'turn/static-auth-secret', readers: ['meet'], length: 48 }),
  // certbot-dns-route53: only its own _acme-challenge TXT record.
  grants: ({ role, dns, fqdn }) => dns.grantAcmeChallenge(role, fqdn.turn),
  docker: false,
  packages: TURN_PACKAGES,
  bundle: turnBundle,
};
