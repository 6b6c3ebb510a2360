/**
 * The turn host: coturn 4.6.1 from Debian 12, a TURN relay on TLS 443 and TCP/UDP 3478 for participants whose
 * networks allow only HTTPS. Time-limited credentials from a secret shared with Prosody (docker-jitsi-meet's
 * TURN_CREDENTIALS; mod_external_services computes them), no long-term accounts; the relay reaches the video
 * bridges (the meet host's, and the JVB pool's subnet when there is one) and refuses every other private, loopback,
 * link-local (the instance metadata service above all) and reserved address; its certificate from Let's Encrypt by
 * DNS-01 through Route53 like the PBX's.
 */
import { addressRange, parseCidr, poolSubnetOf } from '../../config/net';
import type { EnvironmentConfig } from '../../config/schema';
import type { BundleFile, RoleBundleProps } from '../bundle';
import { commonEnv, type RoleContext } from '../context';
import { DATA_DIR, helperPath, ROLE_PATHS, TURN_CERT_HOOK, TURNSERVER_CONF, UNITS } from '../paths';
import { renderUnit, scheduledJob, unitFile } from '../systemd';
import { AEAD_TLS12_CIPHERS } from '../tls';

/** The generated part of coturn's configuration (the hook adds static-auth-secret from SSM). */
export const TURN_CONF_SOURCE = `${ROLE_PATHS.turn.etc}/turnserver.conf`;
/** The certificate as coturn (user turnserver) reads it: copied from certbot's lineage by the deploy hook. */
export const TURN_CERT = { fullchain: `${ROLE_PATHS.turn.dir}/certs/fullchain.pem`, privkey: `${ROLE_PATHS.turn.dir}/certs/privkey.pem` } as const;
export const TURN_TLS_PORT = 443;
export const TURN_PORT = 3478;

/**
 * The only peers the relay may reach: the video bridges, i.e. the meet host's private address and, with the JVB pool,
 * the pools' subnet (its bridges get their addresses there by DHCP). Everything else is refused, the whole IPv4
 * space (allowed wins over denied in coturn): a relay that reached 169.254.169.254 would hand out the instance
 * role's credentials, one that reached the rest of the VPC would be a way around every security group, and one that
 * reached the internet would be an anonymous UDP sender for every meeting guest (credentials come with a meeting).
 * Relayed addresses are private: the bridges are the only peers that could answer anyway.
 */
export const DENIED_PEERS = '0.0.0.0-255.255.255.255';

/**
 * TLS 1.2 and later only (no-tlsv1, no-tlsv1_1 below), ECDHE with AEAD ciphers: browsers are the clients. coturn
 * 4.6.1 negotiates TLS 1.2 only in practice: it hands every ClientHello to a TLS 1.2 context (fixed upstream in 4.6.2,
 * e87c4252); browsers offer 1.2 as well. The certificate is RSA (certbot --key-type rsa): the ECDSA suites are for a
 * certificate of that kind, never chosen with this one.
 */
export const TURN_CIPHERS: readonly string[] = AEAD_TLS12_CIPHERS;

export interface TurnContext {
  readonly config: EnvironmentConfig;
  readonly fqdn: string;
  readonly privateIp: string;
  /** The video bridge's private address (the meet host's): a peer the relay may reach. */
  readonly bridgeIp: string;
  /**
   * The JVB pool's bridges, when there is a pool: the pools' subnet in coturn's range form (first-last; coturn 4.6.1
   * reads no CIDR in allowed-peer-ip, src/apps/relay/userdb.c add_ip_list_range). @default none
   */
  readonly poolBridges?: string;
}

/** coturn's configuration without its secret, option names as coturn 4.6.1 (Debian 12) reads them. */
export function turnserverConf(t: TurnContext): string {
  const { turn } = t.config;
  const lines: [string, string?][] = [
    // Its own private address only; relayed addresses are private too: the only peer that may use them is the
    // bridge, in the VPC (security group: the relay ports from the meet host only).
    ['listening-ip', t.privateIp],
    ['relay-ip', t.privateIp],
    ['listening-port', String(TURN_PORT)],
    ['tls-listening-port', String(TURN_TLS_PORT)],
    ['min-port', String(turn.relayPorts.from)],
    ['max-port', String(turn.relayPorts.to)],
    ['realm', t.fqdn],
    ['server-name', t.fqdn],
    // Time-limited credentials (TURN REST API), computed from the shared secret by Prosody: no accounts.
    ['use-auth-secret'],
    ['fingerprint'],
    ['stale-nonce', '600'],
    ['user-quota', String(turn.userQuota)],
    ['total-quota', String(turn.totalQuota)],
    ['cert', TURN_CERT.fullchain],
    ['pkey', TURN_CERT.privkey],
    ['no-tlsv1'],
    ['no-tlsv1_1'],
    ['cipher-list', TURN_CIPHERS.join(':')],
    // WebRTC relays UDP; DTLS and TCP relaying (RFC 6062) would only widen what the relay does.
    ['no-dtls'],
    ['no-tcp-relay'],
    ['no-multicast-peers'],
    ['no-cli'],
    ['no-software-attribute'],
    ['no-rfc5780'],
    ['no-stun-backward-compatibility'],
    ['response-origin-only-with-rfc5780'],
    // Logs to syslog, which is journald on Debian 12 (journalctl -u coturn).
    ['syslog'],
    ['denied-peer-ip', DENIED_PEERS],
    ['allowed-peer-ip', t.bridgeIp],
    ...(t.poolBridges === undefined ? [] : [['allowed-peer-ip', t.poolBridges] as [string, string]]),
  ];
  return [
    "# coturn 4.6.1 (Debian 12) for WeeBeeTalk: generated from the environment's configuration, edit that instead.",
    `# The host adds static-auth-secret (SSM) and writes ${TURNSERVER_CONF}.`,
    ...lines.map(([k, v]) => (v === undefined ? k : `${k}=${v}`)),
    '',
  ].join('\n');
}

/** The services of the turn host's files, as its hook (turn.sh) applies them. */
export const TURN_SERVICES = {
  /** coturn's configuration: a restart (coturn reads it only at start; relayed calls reconnect). */
  coturn: 'coturn',
} as const;

/** Debian packages of the turn host. coturn itself is installed by the hook, masked first: it starts unauthenticated. */
export const TURN_PACKAGES = ['certbot', 'python3-certbot-dns-route53'] as const;

/** The JVB pool's bridges as coturn's allowed-peer-ip range: the pools' subnet, or undefined without the pool. */
export function poolBridgesOf(config: EnvironmentConfig): string | undefined {
  if (!config.jitsi.jvbPool.enabled) return undefined;
  const vpc = parseCidr(config.network.vpcCidr);
  if (!vpc) throw new Error(`network.vpcCidr ${config.network.vpcCidr} is not an IPv4 CIDR (the schema checks it)`);
  return addressRange(poolSubnetOf(vpc));
}

export function turnBundle(ctx: RoleContext): RoleBundleProps {
  const t: TurnContext = { config: ctx.config, fqdn: ctx.fqdn.turn, privateIp: ctx.privateIp.turn, bridgeIp: ctx.privateIp.meet, poolBridges: poolBridgesOf(ctx.config) };
  const files: BundleFile[] = [
    { path: TURN_CONF_SOURCE, content: turnserverConf(t), mode: '0644', services: [TURN_SERVICES.coturn] },
    unitFile(
      'coturn.service.d/10-weebeetalk.conf',
      renderUnit({
        // Its certificate is copied from the data volume's lineage; 443 is a privileged port (README.Debian §7).
        Unit: { RequiresMountsFor: DATA_DIR },
        // Debian's ExecStart with our configuration file instead of the package's conffile (paths.ts TURNSERVER_CONF).
        Service: { ExecStart: ['', `/usr/bin/turnserver -c ${TURNSERVER_CONF} --pidfile=`], AmbientCapabilities: 'CAP_NET_BIND_SERVICE', Restart: 'on-failure', RestartSec: '5s' },
      }),
      // A running coturn gets a changed drop-in (its capabilities) only by a restart.
      [TURN_SERVICES.coturn],
    ),
    // Enabled by turn-certificate.sh only while no certificate exists (it disables it once one does).
    ...scheduledJob(UNITS.turnCertificate, 'WeeBeeTalk: obtain the TURN relay certificate', helperPath('turn-certificate'), { OnBootSec: '15min', OnUnitActiveSec: '2h' }),
  ];
  return {
    env: {
      ...commonEnv(ctx, 'turn'),
      WBT_TURN_CONF_SOURCE: TURN_CONF_SOURCE,
      WBT_TURNSERVER_CONF: TURNSERVER_CONF,
      WBT_TURN_CERT: TURN_CERT.fullchain,
      WBT_TURN_KEY: TURN_CERT.privkey,
      WBT_TURN_CERT_HOOK: TURN_CERT_HOOK,
      WBT_TURN_CERT_TIMER: `${UNITS.turnCertificate}.timer`,
    },
    hook: 'turn',
    files,
    scripts: ['turn-certificate', 'turn-cert-deploy'],
  };
}
