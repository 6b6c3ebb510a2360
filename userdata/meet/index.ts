/**
 * The meet host: docker-jitsi-meet at a pinned stable tag. Let's Encrypt on 80/443 (Let's Encrypt, not the
 * ZeroSSL default, which the CAA record refuses), JWT shared with Rocket.Chat with guests allowed, Jigasi
 * registered to the PBX, Jibri recording to S3 through the host (the containers get no AWS credentials).
 */
import { Document } from 'yaml';
import type { BundleFile, RoleBundleProps } from '../bundle';
import { renderEnvFile } from '../cloud-config';
import { commonEnv, PUBLIC_IP, type RoleContext } from '../context';
import { helperPath, JITSI_CONFIG, JITSI_STATE, ROLE_PATHS, roleFiles, UNITS } from '../paths';
import { composeUnit, scheduledJob, unitFile } from '../systemd';
import { TURN_PORT, TURN_TLS_PORT } from '../turn';
import { DOCKER_JITSI_MEET, manifest } from '../upstream';

export const JITSI_ETC = ROLE_PATHS.meet.etc;
export const JITSI_DIR = ROLE_PATHS.meet.dir;
/** Jitsi's CONFIG: every byte of its state, on the data volume. */
export { JITSI_CONFIG } from '../paths';

/** Our compose override, last in COMPOSE_FILE. */
export const JITSI_OVERRIDE = `${JITSI_ETC}/compose.weebeetalk.yml`;

/**
 * The web container requests its certificate when it starts and, when that fails, sleeps 15 s and exits
 * (docker-jitsi-meet stable-11146-2 web/rootfs/etc/s6-overlay/scripts/config; S6_BEHAVIOUR_IF_STAGE2_FAILS=2 in
 * base/Dockerfile). Upstream's `restart: unless-stopped` would then ask Let's Encrypt every ~20 s forever, far
 * past its 5 failed validations per name per hour: at most 3 restarts, then it stays down (a re-run of the
 * bootstrap tries again). A certificate already issued lives in CONFIG/storage and is not requested again.
 */
export function jitsiOverride(): string {
  return new Document({ services: { web: { restart: 'on-failure:3' } } }).toString({ lineWidth: 0 });
}

export function meetPublicUrl(ctx: RoleContext): string {
  const port = ctx.config.jitsi.httpsPort;
  return `https://${ctx.fqdn.meet}${port === 443 ? '' : `:${port}`}`;
}

/** Variables the pinned docker-jitsi-meet reads (docker-compose.yml, jigasi.yml, jibri.yml; see test/upstream-env). */
export function jitsiSettings(ctx: RoleContext): Record<string, string> {
  const { jitsi } = ctx.config;
  const files = ['docker-compose.yml', ...(jitsi.jigasi ? ['jigasi.yml'] : []), ...(jitsi.jibri ? ['jibri.yml'] : []), JITSI_OVERRIDE];
  const settings: Record<string, string> = {
    COMPOSE_PROJECT_NAME: 'jitsi',
    COMPOSE_FILE: files.join(':'),
    CONFIG: JITSI_CONFIG,
    JITSI_IMAGE_VERSION: DOCKER_JITSI_MEET.ref,
    HTTP_PORT: '80',
    HTTPS_PORT: String(jitsi.httpsPort),
    TZ: jitsi.timezone,
    PUBLIC_URL: meetPublicUrl(ctx),
    // The Elastic IP for clients, the private IP for the path inside the VPC.
    JVB_ADVERTISE_IPS: `${PUBLIC_IP},${ctx.privateIp.meet}`,
    ENABLE_LETSENCRYPT: '1',
    LETSENCRYPT_DOMAIN: ctx.fqdn.meet,
    LETSENCRYPT_EMAIL: ctx.config.letsEncryptEmail,
    LETSENCRYPT_ACME_SERVER: 'letsencrypt',
    ENABLE_HTTP_REDIRECT: '1',
    ENABLE_AUTH: jitsi.auth === 'none' ? '0' : '1',
    ENABLE_GUESTS: '1',
  };
  if (jitsi.auth !== 'none') settings.AUTH_TYPE = jitsi.auth;
  if (jitsi.jigasi) {
    Object.assign(settings, {
      JIGASI_SIP_URI: `jigasi@${ctx.fqdn.pbx}`,
      JIGASI_SIP_SERVER: ctx.privateIp.pbx,
      JIGASI_SIP_PORT: '5060',
      JIGASI_SIP_TRANSPORT: 'UDP',
      JIGASI_SIP_DEFAULT_ROOM: ctx.config.sip.dialInRoom,
      JIGASI_PORT_MIN: String(jitsi.jigasiPorts.from),
      JIGASI_PORT_MAX: String(jitsi.jigasiPorts.to),
    });
  }
  if (jitsi.jibri) {
    Object.assign(settings, { ENABLE_RECORDING: '1', JIBRI_FINALIZE_RECORDING_SCRIPT_PATH: '/config/finalize.sh' });
  }
  if (ctx.config.turn.enabled) {
    // Prosody hands clients the relay (XEP-0215, mod_external_services) with credentials it computes from
    // TURN_CREDENTIALS (written on the host from SSM): TURN over TLS on 443, TURN on 3478 over UDP and TCP.
    Object.assign(settings, {
      TURNS_HOST: ctx.fqdn.turn,
      TURNS_PORT: String(TURN_TLS_PORT),
      TURN_HOST: ctx.fqdn.turn,
      TURN_PORT: String(TURN_PORT),
      TURN_TRANSPORT: 'udp,tcp',
    });
  }
  return settings;
}

/** The services of the meet host's files, as its hook (jitsi.sh) reloads them. */
export const MEET_SERVICES = {
  /** Inputs of `docker compose up` (settings, override, the pinned release's manifest): compose recreates what changed. */
  compose: 'jitsi',
} as const;

export function meetBundle(ctx: RoleContext): RoleBundleProps {
  const { jitsi } = ctx.config;
  const compose = [MEET_SERVICES.compose];
  const files: BundleFile[] = [
    { path: roleFiles('meet').manifest, content: manifest(DOCKER_JITSI_MEET), mode: '0644', services: compose },
    { path: roleFiles('meet').settings, content: renderEnvFile(jitsiSettings(ctx)), mode: '0644', render: true, services: compose },
    { path: JITSI_OVERRIDE, content: jitsiOverride(), mode: '0644', services: compose },
    unitFile(`${UNITS.jitsi}.service`, composeUnit('WeeBeeTalk Jitsi Meet (docker-jitsi-meet)', JITSI_DIR)),
  ];
  // Always there, enabled by jitsi.sh only with Jibri: turning Jibri off must be able to stop and disable its
  // timer, which systemd cannot do once the unit file is gone.
  files.push(...scheduledJob(UNITS.recordingsUpload, 'WeeBeeTalk: upload finished Jibri recordings to S3', helperPath('recordings-upload'), { OnBootSec: '5min', OnUnitInactiveSec: '2min' }));
  return {
    env: {
      ...commonEnv(ctx, 'meet'),
      JITSI_URL: DOCKER_JITSI_MEET.url,
      JITSI_CONFIG,
      WBT_JITSI_STATE: JITSI_STATE,
      WBT_JITSI_UNIT: `${UNITS.jitsi}.service`,
      WBT_RECORDINGS_TIMER: `${UNITS.recordingsUpload}.timer`,
      JITSI_PUBLIC_URL: meetPublicUrl(ctx),
      JITSI_AUTH: jitsi.auth,
      JIGASI_ENABLED: jitsi.jigasi ? 1 : 0,
      JIBRI_ENABLED: jitsi.jibri ? 1 : 0,
      TURN_ENABLED: ctx.config.turn.enabled ? 1 : 0,
      RECORDINGS_BUCKET: ctx.buckets.recordings,
    },
    hook: 'jitsi',
    files,
    scripts: ['jibri-finalize', 'recordings-upload'],
  };
}
