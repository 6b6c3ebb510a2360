/**
 * The chat host: rocketchat-compose (database, Traefik, Rocket.Chat) at a pinned commit, with our override:
 * Rocket.Chat on 127.0.0.1 only, the admin from SSM, registration closed, the setup wizard skipped, uploads to
 * S3 through the instance role, and a working Traefik HTTPS setup (the upstream https dynamic file is broken,
 * rocketchat-compose issue #28). Nightly mongodump to the backups bucket. Only Rocket.Chat's container reaches
 * instance metadata (the metadata guard: a fixed address on a fixed compose network, DOCKER-USER rules).
 */
import { Document, isScalar, Scalar, type YAMLMap, type YAMLSeq } from 'yaml';
import { CHAT_DOCKER_NETWORK, IMDS_IPV4, IMDS_IPV6 } from '../../config/net';
import type { EnvironmentConfig } from '../../config/schema';
import type { BundleFile, RoleBundleProps } from '../bundle';
import { renderEnvFile } from '../cloud-config';
import { commonEnv, type RoleContext } from '../context';
import { helperPath, ROLE_PATHS, roleFiles, UNITS } from '../paths';
import { readScript } from '../script-files';
import { beforeDockerJob, composeUnit, DAILY_AT, scheduledJob, unitFile } from '../systemd';
import { manifest, mongoToolsImage, ROCKETCHAT_COMPOSE } from '../upstream';

export const RC_ETC = ROLE_PATHS.chat.etc;
export const RC_DIR = ROLE_PATHS.chat.dir;
/** Traefik's dynamic configuration folder (mounted whole into the container). */
export const TRAEFIK_DIR = `${RC_ETC}/traefik`;
const UPSTREAM_FILES = ['compose.database.yml', 'compose.traefik.yml', 'compose.yml'];
/** The metadata guard's unit (scripts/imds-guard.sh before every start of Docker). */
export const IMDS_GUARD_UNIT = 'weebeetalk-imds-guard';

/** Variables the pinned rocketchat-compose files read (research: compose.yml, compose.traefik.yml, compose.database.yml). */
export function rocketchatSettings(ctx: RoleContext): Record<string, string> {
  const { config } = ctx;
  return {
    COMPOSE_PROJECT_NAME: 'rocketchat',
    COMPOSE_FILE: [...UPSTREAM_FILES, `${RC_ETC}/compose.weebeetalk.yml`].join(':'),
    RELEASE: config.rocketchat.release,
    MONGODB_VERSION: config.rocketchat.mongodbVersion,
    DOMAIN: ctx.fqdn.chat,
    ROOT_URL: `https://${ctx.fqdn.chat}`,
    LETSENCRYPT_ENABLED: 'true',
    LETSENCRYPT_EMAIL: config.letsEncryptEmail,
    TRAEFIK_PROTOCOL: 'https',
    // Rocket.Chat (3000) and its metrics (9458) on loopback: only Traefik faces the network.
    BIND_IP: '127.0.0.1',
    MONGODB_BIND_IP: '127.0.0.1',
    NATS_BIND_IP: '127.0.0.1',
    TRAEFIK_API_INSECURE: 'false',
    // Keeps traefik-init's (unused) Grafana route off "/" (it would outrank Rocket.Chat).
    GRAFANA_PATH: '/grafana',
    // Read by our override only.
    RC_ADMIN_USERNAME: config.rocketchat.adminUsername,
    RC_ADMIN_EMAIL: config.rocketchat.adminEmail ?? config.letsEncryptEmail,
    RC_UPLOADS_BUCKET: ctx.buckets.uploads,
    RC_AWS_REGION: config.aws.region,
  };
}

/**
 * Rocket.Chat's security settings from rocketchat.security, as OVERWRITE_SETTING_<id> values: re-applied at every
 * start, so the environment file stays the truth (an administrator's change in the UI lasts until the next start).
 * Every id is in userdata/upstream-env.ts ROCKETCHAT_SETTINGS with the file that registers it.
 */
export function rocketchatSecuritySettings(security: EnvironmentConfig['rocketchat']['security']): Record<string, string> {
  const flag = (on: boolean): string => (on ? 'true' : 'false');
  const classes = flag(security.passwordCharacterClasses);
  return {
    E2E_Enable: flag(security.e2e),
    E2E_Enabled_Default_DirectRooms: flag(security.e2eByDefault),
    E2E_Enabled_Default_PrivateRooms: flag(security.e2eByDefault),
    Accounts_Password_Policy_Enabled: 'true',
    Accounts_Password_Policy_MinLength: String(security.passwordMinLength),
    Accounts_Password_Policy_AtLeastOneLowercase: classes,
    Accounts_Password_Policy_AtLeastOneUppercase: classes,
    Accounts_Password_Policy_AtLeastOneNumber: classes,
    Accounts_Password_Policy_AtLeastOneSpecialCharacter: classes,
    Accounts_Password_History_Enabled: flag(security.passwordHistory > 0),
    // Rocket.Chat's own default while the history is off: an integer it accepts either way.
    Accounts_Password_History_Amount: String(security.passwordHistory > 0 ? security.passwordHistory : 5),
    Block_Multiple_Failed_Logins_Enabled: 'true',
    Block_Multiple_Failed_Logins_By_User: 'true',
    Block_Multiple_Failed_Logins_Attempts_Until_Block_by_User: String(security.failedLoginAttempts),
    Block_Multiple_Failed_Logins_Time_To_Unblock_By_User_In_Minutes: String(security.blockMinutes),
    Block_Multiple_Failed_Logins_By_Ip: 'true',
    Block_Multiple_Failed_Logins_Time_To_Unblock_By_Ip_In_Minutes: String(security.blockMinutes),
    Accounts_TwoFactorAuthentication_Enabled: flag(security.twoFactor),
    Accounts_TwoFactorAuthentication_By_TOTP_Enabled: flag(security.twoFactor),
    Accounts_TwoFactorAuthentication_By_Email_Enabled: flag(security.twoFactor),
    FileUpload_ProtectFiles: flag(security.protectFiles),
    Login_Logs_Enabled: flag(security.loginLogs),
    Login_Logs_Username: flag(security.loginLogs),
    Login_Logs_ClientIp: flag(security.loginLogs),
    Login_Logs_UserAgent: flag(security.loginLogs),
  };
}

/**
 * Our compose override: environment for Rocket.Chat, Traefik's corrected command, no port 8080, and the project's
 * default network (upstream leaves its subnet to Docker) on a fixed subnet, bridge name and dynamic range, with
 * Rocket.Chat at its fixed address: what the metadata guard's rules name (CHAT_DOCKER_NETWORK).
 */
/**
 * rocketchat-compose's services at the pin (compose.yml, compose.database.yml, compose.traefik.yml): the override
 * names each (a name upstream lacks would be a new, imageless service that compose refuses).
 */
export const ROCKETCHAT_COMPOSE_SERVICES = [
  'rocketchat',
  'nats',
  'nats-exporter',
  'mongodb-fix-permission-container',
  'mongodb-init-container',
  'mongodb',
  'mongodb-exporter',
  'traefik-init',
  'traefik',
] as const;

/**
 * Raw frames (NET_RAW) would let a container ARP-spoof Rocket.Chat's address and so pass the metadata guard, which
 * tells Rocket.Chat by its address; none of these images sends ICMP or raw packets (MongoDB's "ping" is a command).
 */
export const CHAT_CAP_DROP = ['NET_RAW'];

export function rocketchatOverride(security: EnvironmentConfig['rocketchat']['security']): string {
  const doc = new Document({
    name: 'rocketchat',
    services: {
      rocketchat: {
        environment: {
          ADMIN_USERNAME: '${RC_ADMIN_USERNAME}',
          // Written to .env on the host from SSM; never in user-data.
          ADMIN_PASS: '${RC_ADMIN_PASS}',
          ADMIN_EMAIL: '${RC_ADMIN_EMAIL}',
          ADMIN_EMAIL_VERIFIED: 'true',
          OVERWRITE_SETTING_Show_Setup_Wizard: 'completed',
          OVERWRITE_SETTING_Accounts_RegistrationForm: 'Disabled',
          OVERWRITE_SETTING_FileUpload_Storage_Type: 'AmazonS3',
          OVERWRITE_SETTING_FileUpload_S3_Bucket: '${RC_UPLOADS_BUCKET}',
          OVERWRITE_SETTING_FileUpload_S3_Region: '${RC_AWS_REGION}',
          ...Object.fromEntries(Object.entries(rocketchatSecuritySettings(security)).map(([id, value]) => [`OVERWRITE_SETTING_${id}`, value])),
        },
        // The one container the metadata guard lets reach instance metadata, by this address (CHAT_DOCKER_NETWORK).
        networks: { default: { ipv4_address: CHAT_DOCKER_NETWORK.rocketchat } },
        cap_drop: [...CHAT_CAP_DROP],
      },
      traefik: {
        // The folder, not the file: the apply replaces a file by a rename (a new inode), which a bind mount of the
        // file itself would never show the container; Traefik watches the folder.
        volumes: [`${TRAEFIK_DIR}:/etc/traefik-weebeetalk:ro`],
        ports: ['0.0.0.0:80:80', '0.0.0.0:443:443'],
        // Replaces upstream's command: static HTTP->HTTPS redirect, TLS-ALPN-01 on, our dynamic file, no API.
        command: [
          '--api.insecure=false',
          '--api.dashboard=false',
          '--providers.file.directory=/etc/traefik-weebeetalk',
          '--providers.file.watch=true',
          '--entrypoints.http.address=:80',
          '--entrypoints.http.http.redirections.entryPoint.to=https',
          '--entrypoints.http.http.redirections.entryPoint.scheme=https',
          '--entrypoints.http.http.redirections.entryPoint.permanent=true',
          '--entrypoints.https.address=:443',
          '--certificatesresolvers.le.acme.tlschallenge=true',
          '--certificatesresolvers.le.acme.email=${LETSENCRYPT_EMAIL}',
          '--certificatesresolvers.le.acme.storage=/letsencrypt/acme.json',
        ],
        cap_drop: [...CHAT_CAP_DROP],
      },
    },
    networks: {
      default: {
        driver_opts: { 'com.docker.network.bridge.name': CHAT_DOCKER_NETWORK.bridge },
        // The other containers get addresses from ip_range only, so none can hold Rocket.Chat's when it starts.
        ipam: { config: [{ subnet: CHAT_DOCKER_NETWORK.subnet, ip_range: CHAT_DOCKER_NETWORK.dynamicRange, gateway: CHAT_DOCKER_NETWORK.gateway }] },
      },
    },
  });
  // Every other service of upstream's: without raw frames too. Services in name order (dclint's).
  for (const name of ROCKETCHAT_COMPOSE_SERVICES) if (!doc.hasIn(['services', name])) doc.setIn(['services', name], doc.createNode({ cap_drop: [...CHAT_CAP_DROP] }));
  const keyOf = (k: unknown): string => String(isScalar(k) ? k.value : k);
  (doc.get('services') as YAMLMap).items.sort((a, b) => (keyOf(a.key) < keyOf(b.key) ? -1 : 1));
  // `!override` replaces upstream's port list, which also publishes 8080 on every interface.
  const ports = doc.getIn(['services', 'traefik', 'ports'], true) as YAMLSeq<Scalar>;
  ports.tag = '!override';
  // Quoted: YAML 1.1 readers take an unquoted "80:80" for a base-60 number.
  for (const item of ports.items) item.type = Scalar.QUOTE_SINGLE;
  return doc.toString({ lineWidth: 0 });
}

/** Traefik's dynamic configuration: one HTTPS router for the chat name, certificate from Let's Encrypt. */
export function traefikDynamic(fqdn: string): string {
  return new Document({
    http: {
      routers: {
        rocketchat: { entryPoints: ['https'], rule: `Host(\`${fqdn}\`)`, service: 'rocketchat', tls: { certResolver: 'le' } },
      },
      services: {
        rocketchat: {
          loadBalancer: {
            servers: [{ url: 'http://rocketchat:3000' }],
            healthCheck: { path: '/health', interval: '10s', timeout: '3s' },
          },
        },
      },
    },
  }).toString({ lineWidth: 0 });
}

/** The services of the chat host's files, as its hook (rocketchat.sh) reloads them. */
export const CHAT_SERVICES = {
  /** Inputs of `docker compose up` (settings, override, the pinned release's manifest): compose recreates what changed. */
  compose: 'rocketchat',
  /** Traefik's dynamic file: Traefik watches its folder (--providers.file.directory, watch), nothing to restart. */
  traefik: 'traefik',
  /** The metadata guard (script and unit): enabled and run again by the hook. */
  imdsGuard: 'imds-guard',
} as const;

export function chatBundle(ctx: RoleContext): RoleBundleProps {
  const compose = [CHAT_SERVICES.compose];
  const files: BundleFile[] = [
    { path: roleFiles('chat').manifest, content: manifest(ROCKETCHAT_COMPOSE), mode: '0644', services: compose },
    { path: roleFiles('chat').settings, content: renderEnvFile(rocketchatSettings(ctx)), mode: '0644', services: compose },
    { path: `${RC_ETC}/compose.weebeetalk.yml`, content: rocketchatOverride(ctx.config.rocketchat.security), mode: '0644', services: compose },
    { path: `${TRAEFIK_DIR}/dynamic.yml`, content: traefikDynamic(ctx.fqdn.chat), mode: '0644', services: [CHAT_SERVICES.traefik] },
    unitFile(`${UNITS.rocketchat}.service`, composeUnit('WeeBeeTalk Rocket.Chat (rocketchat-compose)', RC_DIR)),
    ...scheduledJob(UNITS.rocketchatBackup, 'WeeBeeTalk MongoDB dump to S3', helperPath('rocketchat-backup'), DAILY_AT('*-*-* 18:30:00 UTC')),
    // A file of its service rather than one of `scripts`: a change of the script alone runs it again.
    { path: helperPath('imds-guard'), content: readScript('imds-guard'), mode: '0755', services: [CHAT_SERVICES.imdsGuard] },
    unitFile(`${IMDS_GUARD_UNIT}.service`, beforeDockerJob('WeeBeeTalk: only Rocket.Chat reaches instance metadata (DOCKER-USER)', helperPath('imds-guard')), [CHAT_SERVICES.imdsGuard]),
  ];
  return {
    env: {
      ...commonEnv(ctx, 'chat'),
      RC_COMPOSE_URL: ROCKETCHAT_COMPOSE.url,
      WBT_RC_UNIT: `${UNITS.rocketchat}.service`,
      WBT_RC_BACKUP_TIMER: `${UNITS.rocketchatBackup}.timer`,
      BACKUPS_BUCKET: ctx.buckets.backups,
      MONGO_TOOLS_IMAGE: mongoToolsImage(ctx.config.rocketchat.mongodbVersion),
      WBT_IMDS_GUARD_UNIT: `${IMDS_GUARD_UNIT}.service`,
      WBT_IMDS_ALLOWED: CHAT_DOCKER_NETWORK.rocketchat,
      WBT_IMDS_BRIDGE: CHAT_DOCKER_NETWORK.bridge,
      // Instance metadata's addresses (the settings check reads names without digits: _SIX for IPv6).
      WBT_IMDS_ADDRESS: IMDS_IPV4,
      WBT_IMDS_ADDRESS_SIX: IMDS_IPV6,
    },
    hook: 'rocketchat',
    files,
    scripts: ['rocketchat-backup'],
  };
}
