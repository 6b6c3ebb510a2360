/**
 * The meet host: Jitsi Meet (web, prosody, jicofo, JVB), optionally Jigasi (SIP to the pbx host) and Jibri
 * (recordings uploaded to S3). Bootstrap: userdata/meet/ (its README says what runs there and how to debug it).
 */
import { enabledPools } from '../../config/schema';
import { XMPP_CLIENT_PORT } from '../../config/ports';
import { poolPeers, roleRules, WORLD_PEER } from './ports';
import { jwtAppId, meetBundle } from '../../userdata/meet';
import type { RoleSpec } from './spec';

export const meet: RoleSpec = {
  role: 'meet',
  addressOffset: 11,
  metadataHopLimit: 1,
  ports: (config) =>
    roleRules('meet', (add) => {
      const { jitsi } = config;
      add('https', 'tcp', jitsi.httpsPort, jitsi.httpsPort, [WORLD_PEER], 'Jitsi Meet web frontend (HTTPS)', 'jitsi.httpsPort');
      add('http', 'tcp', 80, 80, [WORLD_PEER], 'Jitsi web: ACME HTTP-01 challenge and redirect to HTTPS');
      add('jvb', 'udp', 10000, 10000, [WORLD_PEER], 'Jitsi Videobridge media (RTP over UDP)');
      if (jitsi.jigasi) add('jigasi-media', 'udp', jitsi.jigasiPorts.from, jitsi.jigasiPorts.to, [{ kind: 'host', role: 'pbx' }], 'Jigasi RTP media from Asterisk', 'jitsi.jigasiPorts');
      // Bound on the private address only (compose override), and open to the pools' security groups only.
      add('xmpp-client', 'tcp', XMPP_CLIENT_PORT, XMPP_CLIENT_PORT, poolPeers(enabledPools(config)), 'Prosody client port for the Jibri and JVB pool members (XMPP inside the VPC)');
    }),
  secrets: (config, secrets) => {
    if (config.jitsi.auth === 'jwt') {
      secrets.addPlain('meet/jwt-app-id', 'Jitsi JWT application id (also set in the Rocket.Chat Jitsi app)', jwtAppId(config));
      secrets.add({ id: 'jitsi-jwt', description: 'Jitsi JWT application secret (also set in the Rocket.Chat Jitsi app)', path: 'meet/jwt-app-secret', length: 48 });
    }
    // Both ends of the Jigasi trunk read the one parameter.
    if (config.jitsi.jigasi) secrets.add({ id: 'jigasi-sip', description: 'Password of the jigasi SIP endpoint on Asterisk', path: 'meet/jigasi-sip-password', readers: ['pbx'] });
  },
  grants: ({ config, role, buckets }) => {
    if (config.jitsi.jibri) buckets.recordings.grantPut(role);
  },
  // The pools' shared XMPP accounts (constructs/roles/jibri.ts, jvb.ts) have their meet/ paths; nothing more here.
  bundle: meetBundle,
};
