/**
 * The pbx host: Asterisk 22 (host networking) for the SIP trunk, registered phones (TLS, WSS) and Jigasi,
 * its certificate from Let's Encrypt by DNS-01 through Route53, fail2ban on Asterisk's security log.
 * Bootstrap: userdata/pbx/ (its README says what runs there and how to debug it).
 */
import type { Peer } from '../../config/ports';
import { cidrPeers, roleRules } from './ports';
import { PBX_PACKAGES, pbxBundle } from '../../userdata/pbx';
import type { RoleSpec } from './spec';

export const pbx: RoleSpec = {
  role: 'pbx',
  addressOffset: 12,
  metadataHopLimit: 1,
  ports: ({ sip, jitsi }) =>
    roleRules('pbx', (add) => {
      const trunkSignalling = cidrPeers(sip.trunkSignallingCidrs, 'trunk');
      const trunkMedia = cidrPeers(sip.trunkMediaCidrs, 'trunk-media');
      const clients = cidrPeers(sip.clientCidrs, 'sip-client');
      const meetIfJigasi: Peer[] = jitsi.jigasi ? [{ kind: 'host', role: 'meet' }] : [];
      add('sip-udp', 'udp', 5060, 5060, [...meetIfJigasi, ...trunkSignalling], 'Asterisk SIP signalling (UDP) from Jigasi or the SIP trunk');
      add('sip-tcp', 'tcp', 5060, 5060, [...meetIfJigasi, ...trunkSignalling], 'Asterisk SIP signalling (TCP) from Jigasi or the SIP trunk');
      add('sips', 'tcp', 5061, 5061, clients, 'Asterisk SIP over TLS for registered phones');
      if (sip.wss) add('wss', 'tcp', 8089, 8089, clients, 'Asterisk secure websocket for WebRTC phones');
      add('rtp', 'udp', sip.rtpPorts.from, sip.rtpPorts.to, [...meetIfJigasi, ...trunkMedia, ...clients], 'Asterisk RTP media for calls', 'sip.rtpPorts');
    }),
  secrets: (config, secrets) => {
    for (const user of config.sip.users)
      secrets.add({ id: `sip-user-${user.extension}`, description: `SIP password of extension ${user.extension}`, path: `pbx/sip-users/${user.extension}`, length: 24 });
  },
  // certbot-dns-route53: only its own _acme-challenge TXT record (no port 80 on the PBX).
  grants: ({ role, dns, fqdn }) => dns.grantAcmeChallenge(role, fqdn.pbx),
  packages: PBX_PACKAGES,
  bundle: pbxBundle,
};
