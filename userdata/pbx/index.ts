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
import { helperPath, ROLE_PATHS } from '../paths';
import { composeUnit, renderUnit, scheduledJob } from '../systemd';
import { ASTERISK_IMAGE } from '../upstream';

export const ASTERISK_ETC = ROLE_PATHS.pbx.etc;
export const ASTERISK_DIR = ROLE_PATHS.pbx.dir;
export const ASTERISK_STATE = `${DATA_DIR}/asterisk`;

/** Our compose file for Asterisk (validated by dclint in the tests). */
export function asteriskCompose(): string {
  return new Document({
    name: 'asterisk',
    services: {
      asterisk: {
        image: ASTERISK_IMAGE,
        container_name: 'asterisk',
        volumes: [`${ASTERISK_STATE}/etc:/etc/asterisk`, `${ASTERISK_STATE}/log:/var/log/asterisk`, `${ASTERISK_STATE}/spool:/var/spool/asterisk`],
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
        ['logpath', `${ASTERISK_STATE}/log/security.log`],
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
    conf('pjsip.tls.conf.pending', pjsipTlsConf(a)),
    conf('rtp.conf', rtpConf(a)),
    conf('extensions.conf', extensionsConf(a)),
    conf('logger.conf', loggerConf()),
    conf('modules.conf', modulesConf(a)),
    ...Object.entries(coreConfs()).map(([name, content]) => conf(name, content)),
    conf('http.conf', httpConf(a)),
    conf('manager.conf', managerConf()),
    conf('compose.yml', asteriskCompose()),
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
      content: `${ASTERISK_STATE}/log/*.log {\n  weekly\n  rotate 8\n  compress\n  delaycompress\n  missingok\n  notifempty\n  postrotate\n    docker exec asterisk asterisk -rx 'logger reload' >/dev/null 2>&1 || true\n  endscript\n}\n`,
    },
    // Enabled by asterisk-certificate.sh only while no certificate exists (it disables it once one does).
    ...scheduledJob('weebeetalk-pbx-certificate', 'WeeBeeTalk: obtain the PBX certificate', helperPath('asterisk-certificate'), { OnBootSec: '15min', OnUnitActiveSec: '2h' }),
    { path: '/etc/systemd/system/weebeetalk-asterisk.service', content: composeUnit('WeeBeeTalk Asterisk PBX', ASTERISK_DIR), permissions: '0644' },
  ];
  const { sip, jitsi } = ctx.config;
  return {
    env: {
      ...commonEnv(ctx, 'pbx'),
      ASTERISK_STATE,
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
