/**
 * The pbx host: Asterisk 22 LTS in Docker with host networking (10,000 published UDP ports would start a
 * proxy per port), configuration generated from the settings, a Let's Encrypt certificate from certbot's
 * Route53 plugin (DNS-01: no port 80 on the PBX), and fail2ban on Asterisk's security log.
 */
import { Document } from 'yaml';
import { asteriskConf, coreConfs, renderConf, extensionsConf, httpConf, loggerConf, managerConf, modulesConf, pjsipConf, pjsipTlsConf, rtpConf, type AsteriskContext } from './asterisk-config';
import type { BundleFile, RoleBundleProps } from '../bundle';
import { commonEnv, PUBLIC_IP, type RoleContext } from '../context';
import { ASTERISK_CERT_HOOK, ASTERISK_PATHS, ASTERISK_STATE, DATA_DIR, helperPath, ROLE_PATHS, UNITS } from '../paths';
import { composeUnit, renderUnit, scheduledJob, unitFile } from '../systemd';
import { ASTERISK_IMAGE } from '../upstream';

export const ASTERISK_ETC = ROLE_PATHS.pbx.etc;
export const ASTERISK_DIR = ROLE_PATHS.pbx.dir;
/** The container's name (compose, logrotate, and the scripts' `docker exec` through WBT_ASTERISK_CONTAINER). */
export const ASTERISK_CONTAINER = 'asterisk';
/** Our compose file, in the compose project's folder, and the TLS transport waiting for its certificate. */
export const ASTERISK_COMPOSE = `${ASTERISK_DIR}/compose.yml`;
export const ASTERISK_TLS_PENDING = `${ASTERISK_ETC}/pjsip.tls.conf.pending`;
export { ASTERISK_STATE } from '../paths';

/**
 * The dial-in's prompts (conf-getpin, conf-invalid...): Asterisk's English core sounds from Debian, since the image
 * has none (andrius/asterisk builds with `menuselect --disable-category MENUSELECT_CORE_SOUNDS`, asterisk/22.10.1-trixie/
 * build.sh). Installed by the hook (asterisk.sh), mounted read-only into the container.
 */
export const ASTERISK_SOUNDS = {
  /** Debian 12's asterisk-core-sounds-en-gsm (1.6.1-1): GSM, which codec_gsm turns into the call's G.711. */
  package: 'asterisk-core-sounds-en-gsm',
  /** Where that package puts them (asterisk-core-sounds-en's `en` alternative points here). */
  host: '/usr/share/asterisk/sounds/en_US_f_Allison',
  /** Where the image's Asterisk looks for language en: its astdatadir, /var/lib/asterisk (./configure's default). */
  container: '/var/lib/asterisk/sounds/en',
} as const;

/** Our compose file for Asterisk (validated by dclint in the tests). */
export function asteriskCompose(): string {
  return new Document({
    name: 'asterisk',
    services: {
      asterisk: {
        image: ASTERISK_IMAGE,
        container_name: ASTERISK_CONTAINER,
        volumes: [
          `${ASTERISK_PATHS.conf}:/etc/asterisk`,
          `${ASTERISK_PATHS.log}:/var/log/asterisk`,
          `${ASTERISK_PATHS.spool}:/var/spool/asterisk`,
          `${ASTERISK_SOUNDS.host}:${ASTERISK_SOUNDS.container}:ro`,
        ],
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

/**
 * What asterisk.sh does when a file of the service changes: Asterisk's own reload for what it can reload (calls
 * in progress survive: a phone added, a trunk address changed, a fixed dial-in room moved), a restart only for what it
 * cannot (modules, the core's settings, a new image).
 */
export const PBX_SERVICES = {
  /** `module reload res_pjsip.so res_pjsip_endpoint_identifier_ip.so`: endpoints, auths, AORs, identify/ACL sections. */
  pjsip: 'asterisk-pjsip',
  /** `dialplan reload`. */
  dialplan: 'asterisk-dialplan',
  /** `module reload res_rtp_asterisk.so`. */
  rtp: 'asterisk-rtp',
  /** `logger reload`. */
  logger: 'asterisk-logger',
  /** `module reload http`. */
  http: 'asterisk-http',
  /** `manager reload`. */
  manager: 'asterisk-manager',
  /** Modules and the core's files: a restart of the container (calls in progress end). */
  restart: 'asterisk-restart',
  /** The compose file (the image): `docker compose up`, which recreates the container when it changed. */
  compose: 'asterisk-compose',
  /** The TLS transport waiting for its certificate: asterisk-certificate.sh renders and reloads it. */
  tls: 'asterisk-tls',
  /** The jail: `fail2ban-client reload`. */
  fail2ban: 'fail2ban',
} as const;

/** Asterisk's files (in its configuration folder on the data volume) and the service each belongs to. */
function asteriskFiles(a: AsteriskContext): BundleFile[] {
  const conf = (name: string, content: string, service: string): BundleFile => ({
    path: `${ASTERISK_PATHS.conf}/${name}`,
    content,
    // The container's uid reads them; nobody else on the host.
    mode: '0640',
    owner: '1000:1000',
    render: true,
    services: [service],
  });
  return [
    conf('asterisk.conf', asteriskConf(), PBX_SERVICES.restart),
    conf('pjsip.conf', pjsipConf(a), PBX_SERVICES.pjsip),
    conf('rtp.conf', rtpConf(a), PBX_SERVICES.rtp),
    conf('extensions.conf', extensionsConf(a), PBX_SERVICES.dialplan),
    conf('logger.conf', loggerConf(), PBX_SERVICES.logger),
    conf('modules.conf', modulesConf(a), PBX_SERVICES.restart),
    ...Object.entries(coreConfs()).map(([name, content]) => conf(name, content, PBX_SERVICES.restart)),
    conf('http.conf', httpConf(a), PBX_SERVICES.http),
    conf('manager.conf', managerConf(), PBX_SERVICES.manager),
  ];
}

export function pbxBundle(ctx: RoleContext): RoleBundleProps {
  const a: AsteriskContext = { config: ctx.config, publicIp: PUBLIC_IP, privateIp: ctx.privateIp.pbx, meetPrivateIp: ctx.privateIp.meet, vpcCidr: ctx.config.network.vpcCidr };
  const files: BundleFile[] = [
    ...asteriskFiles(a),
    { path: ASTERISK_TLS_PENDING, content: pjsipTlsConf(a), mode: '0644', services: [PBX_SERVICES.tls] },
    { path: ASTERISK_COMPOSE, content: asteriskCompose(), mode: '0644', services: [PBX_SERVICES.compose] },
    { path: '/etc/fail2ban/jail.d/weebeetalk.local', content: fail2banJail(ctx.privateIp.meet), mode: '0644', services: [PBX_SERVICES.fail2ban] },
    {
      // The jail's log is on the data volume (mounted nofail): fail2ban exits for good if it starts first.
      path: '/etc/systemd/system/fail2ban.service.d/10-weebeetalk.conf',
      content: renderUnit({ Unit: { RequiresMountsFor: DATA_DIR } }),
      mode: '0644',
      services: ['systemd'],
    },
    {
      path: '/etc/logrotate.d/weebeetalk-asterisk',
      mode: '0644',
      content: `${ASTERISK_PATHS.log}/*.log {\n  weekly\n  rotate 8\n  compress\n  delaycompress\n  missingok\n  notifempty\n  postrotate\n    docker exec ${ASTERISK_CONTAINER} asterisk -rx 'logger reload' >/dev/null 2>&1 || true\n  endscript\n}\n`,
    },
    // Enabled by asterisk-certificate.sh only while no certificate exists (it disables it once one does).
    ...scheduledJob(UNITS.pbxCertificate, 'WeeBeeTalk: obtain the PBX certificate', helperPath('asterisk-certificate'), { OnBootSec: '15min', OnUnitActiveSec: '2h' }),
    unitFile(`${UNITS.asterisk}.service`, composeUnit('WeeBeeTalk Asterisk PBX', ASTERISK_DIR)),
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
      WBT_ASTERISK_TLS_PENDING: ASTERISK_TLS_PENDING,
      WBT_ASTERISK_CONTAINER: ASTERISK_CONTAINER,
      WBT_ASTERISK_UNIT: `${UNITS.asterisk}.service`,
      WBT_PBX_CERT_TIMER: `${UNITS.pbxCertificate}.timer`,
      WBT_ASTERISK_SOUNDS_PACKAGE: ASTERISK_SOUNDS.package,
      WBT_ASTERISK_SOUNDS: ASTERISK_SOUNDS.host,
      JIGASI_ENABLED: jitsi.jigasi ? 1 : 0,
      SIP_USERS: sip.users.map((u) => u.extension).join(' '),
      SIP_WSS: sip.wss ? 1 : 0,
    },
    hook: 'asterisk',
    files,
    scripts: ['asterisk-cert-deploy', 'asterisk-auth', 'asterisk-certificate'],
  };
}

/** Debian packages of the pbx host (in its user-data: they do not change with its configuration). */
export const PBX_PACKAGES = ['certbot', 'python3-certbot-dns-route53', 'fail2ban', 'python3-systemd'] as const;
