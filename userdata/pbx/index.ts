/**
 * The pbx host: Asterisk 22 LTS in Docker with host networking (10,000 published UDP ports would start a
 * proxy per port), configuration generated from the settings, a Let's Encrypt certificate from certbot's
 * Route53 plugin (DNS-01: no port 80 on the PBX), and fail2ban on Asterisk's security log.
 */
import { Document } from 'yaml';
import { asteriskConf, coreConfs, renderConf, extensionsConf, httpConf, loggerConf, managerConf, modulesConf, pjsipConf, pjsipTlsConf, rtpConf, type AsteriskContext } from './asterisk-config';
import type { WriteFile } from '../cloud-config';
import { commonEnv, PUBLIC_IP, type RoleContext } from '../context';
import { DATA_DIR, type HostUserDataProps } from '../host-user-data';
import { ASTERISK_CERT_HOOK, ASTERISK_PATHS, ASTERISK_STATE, helperPath, ROLE_PATHS, UNITS, unitPath } from '../paths';
import { composeUnit, renderUnit, scheduledJob } from '../systemd';
import { ASTERISK_IMAGE } from '../upstream';

export const ASTERISK_ETC = ROLE_PATHS.pbx.etc;
export const ASTERISK_DIR = ROLE_PATHS.pbx.dir;
/** The container's name (compose, logrotate, and the scripts' `docker exec` through WBT_ASTERISK_CONTAINER). */
export const ASTERISK_CONTAINER = 'asterisk';
/** Our compose file and the TLS transport waiting for its certificate, as generated (asterisk.sh installs them). */
export const ASTERISK_COMPOSE = `${ASTERISK_ETC}/compose.yml`;
export const ASTERISK_TLS_PENDING = `${ASTERISK_ETC}/pjsip.tls.conf.pending`;
export { ASTERISK_STATE } from '../paths';

/** Our compose file for Asterisk (validated by dclint in the tests). */
export function asteriskCompose(): string {
  return new Document({
    name: 'asterisk',
    services: {
      asterisk: {
        image: ASTERISK_IMAGE,
        container_name: ASTERISK_CONTAINER,
        volumes: [`${ASTERISK_PATHS.conf}:/etc/asterisk`, `${ASTERISK_PATHS.log}:/var/log/asterisk`, `${ASTERISK_PATHS.spool}:/var/spool/asterisk`],
        network_mode: 'host',
        restart: 'unless-stopped',
      },
    },
  }).toString({ lineWidth: 0 });
}

/** fail2ban: bans on all ports of the host (host networking: SIP and RTP arrive on INPUT). */
export function fail2banJail(meetPrivateIp: string): string {
  return renderConf('fail2ban jail.d/weebeetalk.local', [
    // Debian 12 has no rsyslog: the default sshd jail must read the journal or fail2ban will not start.
    { name: 'sshd', options: [['backend', 'systemd']] },
    {
      name: 'asterisk',
      options: [
        ['enabled', 'true'],
        ['filter', 'asterisk'],
        ['backend', 'auto'],
        ['logpath', ASTERISK_PATHS.securityLog],
        ['logtimezone', 'UTC'],
        ['banaction', 'iptables-allports'],
        ['maxretry', 5],
        ['findtime', '10m'],
        ['bantime', '1h'],
        ['ignoreip', `127.0.0.1/8 ${meetPrivateIp}`],
      ],
    },
  ]);
}

export function pbxUserData(ctx: RoleContext): HostUserDataProps {
  const a: AsteriskContext = { config: ctx.config, publicIp: PUBLIC_IP, privateIp: ctx.privateIp.pbx, meetPrivateIp: ctx.privateIp.meet, vpcCidr: ctx.config.network.vpcCidr };
  const conf = (name: string, content: string): WriteFile => ({ path: `${ASTERISK_ETC}/${name}`, content, permissions: '0644' });
  const files: WriteFile[] = [
    conf('asterisk.conf', asteriskConf()),
    conf('pjsip.conf', pjsipConf(a)),
    { path: ASTERISK_TLS_PENDING, content: pjsipTlsConf(a), permissions: '0644' },
    conf('rtp.conf', rtpConf(a)),
    conf('extensions.conf', extensionsConf(a)),
    conf('logger.conf', loggerConf()),
    conf('modules.conf', modulesConf(a)),
    ...Object.entries(coreConfs()).map(([name, content]) => conf(name, content)),
    conf('http.conf', httpConf(a)),
    conf('manager.conf', managerConf()),
    { path: ASTERISK_COMPOSE, content: asteriskCompose(), permissions: '0644' },
    { path: '/etc/fail2ban/jail.d/weebeetalk.local', content: fail2banJail(ctx.privateIp.meet), permissions: '0644' },
    {
      // The jail's log is on the data volume (mounted nofail): fail2ban exits for good if it starts first.
      path: '/etc/systemd/system/fail2ban.service.d/10-weebeetalk.conf',
      content: renderUnit({ Unit: { RequiresMountsFor: DATA_DIR } }),
      permissions: '0644',
    },
    {
      path: '/etc/logrotate.d/weebeetalk-asterisk',
      permissions: '0644',
      content: `${ASTERISK_PATHS.log}/*.log {\n  weekly\n  rotate 8\n  compress\n  delaycompress\n  missingok\n  notifempty\n  postrotate\n    docker exec ${ASTERISK_CONTAINER} asterisk -rx 'logger reload' >/dev/null 2>&1 || true\n  endscript\n}\n`,
    },
    // Enabled by asterisk-certificate.sh only while no certificate exists (it disables it once one does).
    ...scheduledJob(UNITS.pbxCertificate, 'WeeBeeTalk: obtain the PBX certificate', helperPath('asterisk-certificate'), { OnBootSec: '15min', OnUnitActiveSec: '2h' }),
    { path: unitPath(`${UNITS.asterisk}.service`), content: composeUnit('WeeBeeTalk Asterisk PBX', ASTERISK_DIR), permissions: '0644' },
  ];
  const { sip, jitsi } = ctx.config;
  return {
    env: {
      ...commonEnv(ctx, 'pbx'),
      WBT_ASTERISK_STATE: ASTERISK_STATE,
      WBT_ASTERISK_CONF: ASTERISK_PATHS.conf,
      WBT_ASTERISK_KEYS: ASTERISK_PATHS.keys,
      WBT_ASTERISK_LOG: ASTERISK_PATHS.log,
      WBT_ASTERISK_SPOOL: ASTERISK_PATHS.spool,
      WBT_ASTERISK_SECURITY_LOG: ASTERISK_PATHS.securityLog,
      WBT_ASTERISK_CERT_HOOK: ASTERISK_CERT_HOOK,
      WBT_ASTERISK_COMPOSE: ASTERISK_COMPOSE,
      WBT_ASTERISK_TLS_PENDING: ASTERISK_TLS_PENDING,
      WBT_ASTERISK_CONTAINER: ASTERISK_CONTAINER,
      WBT_ASTERISK_UNIT: `${UNITS.asterisk}.service`,
      WBT_PBX_CERT_TIMER: `${UNITS.pbxCertificate}.timer`,
      JIGASI_ENABLED: jitsi.jigasi ? 1 : 0,
      SIP_USERS: sip.users.map((u) => u.extension).join(' '),
      SIP_WSS: sip.wss ? 1 : 0,
    },
    steps: ['asterisk'],
    files,
    scripts: ['asterisk-cert-deploy', 'asterisk-auth', 'asterisk-certificate'],
    packages: ['certbot', 'python3-certbot-dns-route53', 'fail2ban', 'python3-systemd'],
  };
}
