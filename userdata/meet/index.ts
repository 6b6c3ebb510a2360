/**
 * The meet host: docker-jitsi-meet at a pinned stable tag. Let's Encrypt on 80/443 (Let's Encrypt, not the
 * ZeroSSL default, which the CAA record refuses), JWT shared with Rocket.Chat with guests allowed, Jigasi
 * registered to the PBX, Jibri recording to S3 through the host (the containers get no AWS credentials).
 */
import { Document, Scalar, type YAMLSeq } from 'yaml';
import { PROSODY_HTTP_LOOPBACK } from '../../config/dial-in';
import { XMPP_CLIENT_PORT } from '../../config/ports';
import { enabledPools, type Pool } from '../../config/schema';
import type { BundleFile, RoleBundleProps } from '../bundle';
import { renderEnvFile } from '../cloud-config';
import { commonEnv, PUBLIC_IP, type RoleContext } from '../context';
import { jibriCustomConf } from '../jibri';
import { helperPath, JITSI_CONFIG, JITSI_STATE, ROLE_PATHS, roleFiles, UNITS } from '../paths';
import { meetPoolPublisher, POOL_APIS } from '../pool-member';
import { composeUnit, scheduledJob, unitFile } from '../systemd';
import { TURN_PORT, TURN_TLS_PORT } from '../turn';
import { DOCKER_JITSI_MEET, manifest } from '../upstream';
import { DIAL_IN_SERVICE, dialInEnv, dialInFiles, dialInSettings } from './dial-in';

export const JITSI_ETC = ROLE_PATHS.meet.etc;
export const JITSI_DIR = ROLE_PATHS.meet.dir;
/** Jitsi's CONFIG: every byte of its state, on the data volume. */
export { JITSI_CONFIG } from '../paths';

/** The compose project's name (COMPOSE_PROJECT_NAME, and `name` in our override). */
export const JITSI_PROJECT = 'jitsi';

/** Our compose override, last in COMPOSE_FILE. */
export const JITSI_OVERRIDE = `${JITSI_ETC}/compose.weebeetalk.yml`;
/** Jibri's custom-jibri.conf when the host publishes its Jibri's state (jitsi.sh copies it to CONFIG/jibri). */
export const JITSI_JIBRI_CONF = `${JITSI_ETC}/custom-jibri.conf`;

/** Whether pool-member.sh on this host publishes its own Jibri's state (it is one of the Jibri pool's recorders). */
const publishesJibri = (ctx: Pick<RoleContext, 'config'>): boolean => ctx.config.jitsi.jibri && ctx.config.jitsi.jibriPool.enabled;

/**
 * The web container requests its certificate when it starts and, when that fails, sleeps 15 s and exits
 * (docker-jitsi-meet stable-11146-2 web/rootfs/etc/s6-overlay/scripts/config; S6_BEHAVIOUR_IF_STAGE2_FAILS=2 in
 * base/Dockerfile). Upstream's `restart: unless-stopped` would then ask Let's Encrypt every ~20 s forever, far
 * past its 5 failed validations per name per hour: at most 3 restarts, then it stays down (a re-run of the
 * bootstrap tries again). A certificate already issued lives in CONFIG/storage and is not requested again.
 *
 * With a pool, Prosody's client port is published for the pools' members (upstream only `expose`s it): on the meet
 * host's private address only, not on its Docker networks or loopback. AWS delivers the Elastic IP's traffic to that
 * same address, so the security group is what admits the pools' groups only (constructs/roles/meet.ts). With the Jibri pool, this host's own Jibri's public HTTP API
 * on 127.0.0.1 for pool-member.sh (its health: busy or idle; upstream's jibri.yml publishes nothing; JVB's private
 * API is published on 127.0.0.1:8080 by upstream already).
 */
/** Jibri's public HTTP API port (jibri reference.conf external-api-port), as pool-member.sh reaches it. */
const jibriApiPort = new URL(POOL_APIS.jibri).port;

export function jitsiOverride(ctx: Pick<RoleContext, 'config' | 'privateIp'>): string {
  const pools = enabledPools(ctx.config).length > 0;
  const prosodyPorts = [
    ...(pools ? [`${ctx.privateIp.meet}:${XMPP_CLIENT_PORT}:${XMPP_CLIENT_PORT}`] : []),
    // With Jigasi, Prosody's HTTP port (upstream only `expose`s it) on loopback for the dial-in mapper's room census
    // (userdata/meet/dial-in.ts): never on the private address or the Docker networks.
    ...(ctx.config.jitsi.jigasi ? [`${PROSODY_HTTP_LOOPBACK.address}:${PROSODY_HTTP_LOOPBACK.port}:${PROSODY_HTTP_LOOPBACK.port}`] : []),
  ];
  const doc = new Document({
    name: JITSI_PROJECT,
    services: {
      ...(publishesJibri(ctx) ? { jibri: { ports: [`127.0.0.1:${jibriApiPort}:${jibriApiPort}`] } } : {}),
      ...(prosodyPorts.length > 0 ? { prosody: { ports: prosodyPorts } } : {}),
      web: { restart: 'on-failure:3' },
    },
  });
  for (const service of ['jibri', 'prosody']) {
    const ports = doc.getIn(['services', service, 'ports'], true) as YAMLSeq<Scalar> | undefined;
    for (const item of ports?.items ?? []) item.type = Scalar.QUOTE_SINGLE;
  }
  return doc.toString({ lineWidth: 0 });
}

/**
 * The XMPP accounts the pools' members share with the meet host, by the .env variable that holds the password:
 * upstream's default users and domains (docker-jitsi-meet stable-11146-2
 * prosody/rootfs/etc/s6-overlay/scripts/register-setup: JVB_AUTH_USER=jvb and JIBRI_XMPP_USER=jibri on
 * XMPP_AUTH_DOMAIN=auth.meet.jitsi, JIBRI_RECORDER_USER=recorder on XMPP_HIDDEN_DOMAIN=hidden.meet.jitsi; we set
 * none of those), and the SSM parameter under meet/ holding the shared password (constructs/roles/jvb.ts, jibri.ts).
 */
export const SHARED_XMPP_ACCOUNTS: Readonly<Record<Pool, readonly { readonly variable: string; readonly jid: string; readonly secret: string }[]>> = {
  jibri: [
    { variable: 'JIBRI_XMPP_PASSWORD', jid: 'jibri@auth.meet.jitsi', secret: 'jibri-xmpp-password' },
    { variable: 'JIBRI_RECORDER_PASSWORD', jid: 'recorder@hidden.meet.jitsi', secret: 'jibri-recorder-password' },
  ],
  jvb: [{ variable: 'JVB_AUTH_PASSWORD', jid: 'jvb@auth.meet.jitsi', secret: 'jvb-auth-password' }],
};

/**
 * Prosody's configuration inside its container, which `prosodyctl shell` needs (register-setup's PROSODY_CFG, same
 * pin): jitsi.sh sets the shared accounts' passwords through it (mod_admin_shell `user:password`).
 */
export const PROSODY_CFG = '/run/prosody/config/prosody.cfg.lua';

/**
 * The JWT application id: SSM meet/jwt-app-id (constructs/roles/meet.ts), which the operator copies into the
 * Rocket.Chat Jitsi app's "Application ID", so that is the issuer (`iss`) of every token the app signs.
 */
export function jwtAppId(config: Pick<RoleContext['config'], 'name'>): string {
  return `weebeetalk-${config.name}`;
}

const flag = (on: boolean): string => (on ? '1' : '0');

/**
 * jitsi.security as docker-jitsi-meet's variables (README, "Jitsi security settings"; the container that reads each
 * is in userdata/upstream-env.ts). Nothing here or anywhere in the meet host's files disables end-to-end encryption:
 * no variable of the pinned release does, and config.js could only get `e2ee.disabled` from a custom-config.js in
 * CONFIG/web, which we never write (test/jitsi-security.test.ts).
 */
export function jitsiSecuritySettings(ctx: Pick<RoleContext, 'config'>): Record<string, string> {
  const { auth, security } = ctx.config.jitsi;
  const settings: Record<string, string> = {
    ENABLE_LOBBY: flag(security.lobby),
    ENABLE_AV_MODERATION: flag(security.avModeration),
    ENABLE_PREJOIN_PAGE: flag(security.prejoinPage),
    ENABLE_REQUIRE_DISPLAY_NAME: flag(security.requireDisplayName),
    // Only moderators start a recording (jicofo's own default, written down).
    ENABLE_MODERATOR_CHECKS: flag(true),
  };
  // Without authentication everyone is anonymous: there are no guests to admit or keep out (the schema refuses false).
  if (auth !== 'none') settings.ENABLE_GUESTS = flag(security.guests);
  if (auth === 'jwt') {
    Object.assign(settings, {
      // Upstream's defaults, written down: a token is required on the main domain (guests use the guest domain)...
      JWT_ALLOW_EMPTY: '0',
      // ...signed by our issuer only (unset, Prosody's default is the app id too)...
      JWT_ACCEPTED_ISSUERS: jwtAppId(ctx.config),
      // ...for our audience only (unset, Prosody accepts any audience).
      JWT_ACCEPTED_AUDIENCES: security.tokenAudience,
    });
  }
  return settings;
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
    COMPOSE_PROJECT_NAME: JITSI_PROJECT,
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
    ...jitsiSecuritySettings(ctx),
  };
  if (jitsi.auth !== 'none') settings.AUTH_TYPE = jitsi.auth;
  // No JIGASI_SIP_DEFAULT_ROOM: every call the pbx sends carries X-Room-Name (the meeting its PIN or fixed room
  // names), and without a default Jigasi refuses a call that has none (486, "No JVB room name provided") rather than
  // putting it into a room nobody is in.
  if (jitsi.jigasi) {
    Object.assign(settings, {
      JIGASI_SIP_URI: `jigasi@${ctx.fqdn.pbx}`,
      JIGASI_SIP_SERVER: ctx.privateIp.pbx,
      JIGASI_SIP_PORT: '5060',
      JIGASI_SIP_TRANSPORT: 'UDP',
      JIGASI_PORT_MIN: String(jitsi.jigasiPorts.from),
      JIGASI_PORT_MAX: String(jitsi.jigasiPorts.to),
      ...dialInSettings(ctx, meetPublicUrl(ctx)),
    });
  }
  // Recording with a recorder anywhere: the meet host's own Jibri or the pool's (jicofo renders its jibri brewery and
  // Prosody registers the recorder account only with ENABLE_RECORDING).
  if (jitsi.jibri || jitsi.jibriPool.enabled) settings.ENABLE_RECORDING = '1';
  if (jitsi.jibri) settings.JIBRI_FINALIZE_RECORDING_SCRIPT_PATH = '/config/finalize.sh';
  // With the JVB pool, pool-member.sh reads this host's bridge's stress from /colibri/stats (on only with the
  // COLIBRI REST API: jvb.conf videobridge.apis.rest.enabled; 127.0.0.1:8080 by upstream's compose).
  if (jitsi.jvbPool.enabled) settings.COLIBRI_REST_ENABLED = 'true';
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
  /** The dial-in mapper's program, configuration and unit: restarted (userdata/meet/dial-in.ts). */
  dialIn: DIAL_IN_SERVICE,
} as const;

export function meetBundle(ctx: RoleContext): RoleBundleProps {
  const { jitsi } = ctx.config;
  const compose = [MEET_SERVICES.compose];
  const files: BundleFile[] = [
    { path: roleFiles('meet').manifest, content: manifest(DOCKER_JITSI_MEET), mode: '0644', services: compose },
    { path: roleFiles('meet').settings, content: renderEnvFile(jitsiSettings(ctx)), mode: '0644', render: true, services: compose },
    { path: JITSI_OVERRIDE, content: jitsiOverride(ctx), mode: '0644', services: compose },
    unitFile(`${UNITS.jitsi}.service`, composeUnit('WeeBeeTalk Jitsi Meet (docker-jitsi-meet)', JITSI_DIR)),
  ];
  // Always there, enabled by jitsi.sh only with Jibri: turning Jibri off must be able to stop and disable its
  // timer, which systemd cannot do once the unit file is gone.
  files.push(...scheduledJob(UNITS.recordingsUpload, 'WeeBeeTalk: upload finished Jibri recordings to S3', helperPath('recordings-upload'), { OnBootSec: '5min', OnUnitInactiveSec: '2min' }));
  // The pools' metrics of this host's own Jibri and bridge (pool-member.sh, publish only): its timer always there
  // too, run by jitsi.sh only while there is something to publish.
  const publisher = meetPoolPublisher(ctx);
  files.push(...publisher.files);
  // Always there (jitsi.sh installs it into CONFIG/jibri only while the host publishes its Jibri's state).
  files.push({ path: JITSI_JIBRI_CONF, content: jibriCustomConf(), mode: '0644', services: compose });
  // Dial-in by PIN: the conference mapper and the web container's include (userdata/meet/dial-in.ts).
  files.push(...dialInFiles(ctx));
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
      // VARIABLE:ssm-name of the accounts the enabled pools share (jitsi.sh reads them from SSM into .env), and
      // VARIABLE:jid of every account that may be shared (Prosody's copy follows .env when a pool comes or goes).
      // Colons: NAME=value in a bundle reads as a literal secret to the audit (WBT-CONFIG-SECRET).
      WBT_SHARED_XMPP: enabledPools(ctx.config)
        .flatMap((pool) => SHARED_XMPP_ACCOUNTS[pool].map((a) => `${a.variable}:${a.secret}`))
        .join(' '),
      WBT_XMPP_ACCOUNTS: Object.values(SHARED_XMPP_ACCOUNTS)
        .flat()
        .map((a) => `${a.variable}:${a.jid}`)
        .join(' '),
      WBT_PROSODY_CFG: PROSODY_CFG,
      WBT_JITSI_JIBRI_CONF: JITSI_JIBRI_CONF,
      ...dialInEnv(ctx),
      ...publisher.env,
    },
    hook: 'jitsi',
    files,
    scripts: ['jibri-finalize', 'recordings-upload', ...publisher.scripts],
  };
}
