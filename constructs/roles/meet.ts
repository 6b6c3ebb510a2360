/**
 * The meet host: Jitsi Meet (web, prosody, jicofo, JVB), optionally Jigasi (SIP to the pbx host) and Jibri
 * (recordings uploaded to S3). Bootstrap: userdata/meet/ (its README says what runs there and how to debug it).
 */
import { enabledPools } from '../../config/schema';
import { XMPP_CLIENT_PORT } from '../../config/ports';
import { DIAL_IN_MAPPER_PORT } from '../../config/dial-in';
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
      // The dial-in mapper (userdata/meet/dial-in.ts): the pbx asks it which meeting a PIN names. Browsers reach it
      // only through the web container's two forwarded paths, never through this rule (audit: WBT-SG-DIALIN).
      if (jitsi.jigasi) add('dial-in-mapper', 'tcp', DIAL_IN_MAPPER_PORT, DIAL_IN_MAPPER_PORT, [{ kind: 'host', role: 'pbx' }], 'Dial-in conference mapper: the PBX resolves meeting PINs');
      // Bound on the private address only (compose override), and open to the pools' security groups only.
      add('xmpp-client', 'tcp', XMPP_CLIENT_PORT, XMPP_CLIENT_PORT, poolPeers(enabledPools(config)), 'Prosody client port for the Jibri and JVB pool members (XMPP inside the VPC)');
    }),
  secrets: (config, secrets) => {
    if (config.jitsi.auth === 'jwt') {
      secrets.addPlain('meet/jwt-app-id', 'Jitsi JWT application id (also set in the Rocket.Chat Jitsi app)', jwtAppId(config));
      secrets.add({ id: 'jitsi-jwt', description: 'Jitsi JWT application secret (also set in the Rocket.Chat Jitsi app)', path: 'meet/jwt-app-secret', length: 48 });
    }
    // Both ends of the Jigasi trunk read the one parameter.
    if (config.jitsi.jigasi) {
      secrets.add({ id: 'jigasi-sip', description: 'Password of the jigasi SIP endpoint on Asterisk', path: 'meet/jigasi-sip-password', readers: ['pbx'] });
      // The dial-in mapper's key: a meeting's PIN is a keyed hash of its name. The meet host alone reads it (the pbx
      // asks the mapper, it never derives a PIN); a new version changes every PIN.
      secrets.add({ id: 'dial-in-pin-key', description: 'Key of the dial-in mapper: meeting PINs are keyed hashes of room names', path: 'meet/dial-in-pin-key', length: 48 });
    }
  },
  grants: ({ config, role, buckets }) => {
    if (config.jitsi.jibri) buckets.recordings.grantPut(role);
  },
  // The pools' shared XMPP accounts (constructs/roles/jibri.ts, jvb.ts) have their meet/ paths; nothing more here.
  bundle: meetBundle,
};
