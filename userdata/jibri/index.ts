/**
 * A Jibri pool member: docker-jitsi-meet's jibri service alone, at the meet host's pin, joining the meet host's
 * Prosody over the VPC with the recorders' shared accounts (SSM). It records to its own disk, and the host (not the
 * container: it has no AWS credentials) uploads each finished recording to the recordings bucket and deletes the
 * local copy after a verified upload. pool-member.sh publishes its busy/idle state, protects it from scale-in while
 * it records, and drains it under the termination lifecycle hook. The plan's side: constructs/roles/jibri.ts.
 */
import { Document, Scalar, type YAMLSeq } from 'yaml';
import { XMPP_CLIENT_PORT } from '../../config/ports';
import type { BundleFile, RoleBundleProps } from '../bundle';
import { renderEnvFile } from '../cloud-config';
import { poolCommonEnv, type RoleContext } from '../context';
import { meetPublicUrl } from '../meet';
import { helperPath, JITSI_CONFIG, ROLE_PATHS, roleFiles, UNITS } from '../paths';
import { POOL_MEMBER_SCRIPT, poolMemberEnv, poolMemberFiles } from '../pool-member';
import { composeUnit, scheduledJob, unitFile } from '../systemd';
import { DOCKER_JITSI_MEET, manifest } from '../upstream';

export const JIBRI_ETC = ROLE_PATHS.jibri.etc;
export const JIBRI_DIR = ROLE_PATHS.jibri.dir;
/** Our compose override, last in COMPOSE_FILE. */
export const JIBRI_OVERRIDE = `${JIBRI_ETC}/compose.weebeetalk.yml`;
/**
 * Jibri's own settings, which the hook copies to CONFIG/jibri/custom-jibri.conf: the container copies /config to
 * /run/jibri/config at start, and upstream's jibri.conf includes custom-jibri.conf from there.
 */
export const JIBRI_CUSTOM_CONF = `${JIBRI_ETC}/custom-jibri.conf`;
/** Jibri's finalize script, as the container sees it (/config is ${CONFIG}/jibri). */
export const JIBRI_FINALIZE_IN_CONTAINER = '/config/finalize.sh';
/** Debian packages a member needs beyond every host's: none (Docker comes from the docker step). */
export const JIBRI_PACKAGES: readonly string[] = [];

/** The services of a member's files, as its hook (jibri-member.sh) reloads them. */
export const JIBRI_SERVICES = {
  /** Inputs of `docker compose up --no-deps jibri` (settings, override, manifest): compose recreates it if they changed. */
  compose: 'jibri',
  /** Jibri's own configuration, read when the container starts. */
  config: 'jibri-config',
} as const;

/**
 * Jibri's HTTP APIs on 127.0.0.1 of the host only (JIBRI_API_PORTS, with jibriCustomConf; the meet host's own Jibri
 * needs both too for pool-member.sh to read it): pool-member.sh reads the health (busy or idle) and asks for a
 * graceful shutdown through them. Jibri binds them to 127.0.0.1 inside the container since jitsi/jibri d6723de3
 * (reference.conf `jibri.api.http.external-api-host`/`internal-api-host`), where a published port cannot reach them,
 * so custom-jibri.conf binds them to the container's interfaces; a Jibri older than that ignores the keys and binds
 * them there anyway. Upstream's jibri.yml publishes no port.
 */
export const JIBRI_API_PORTS: readonly string[] = ['127.0.0.1:2222:2222', '127.0.0.1:3333:3333'];

export function jibriOverride(): string {
  // The project's name as COMPOSE_PROJECT_NAME says it (the meet host's too: containers jitsi-<service>-1).
  const doc = new Document({ name: 'jitsi', services: { jibri: { ports: [...JIBRI_API_PORTS] } } });
  for (const item of (doc.getIn(['services', 'jibri', 'ports'], true) as YAMLSeq<Scalar>).items) item.type = Scalar.QUOTE_SINGLE;
  return doc.toString({ lineWidth: 0 });
}

/** HOCON read after jibri.conf (include "/run/jibri/config/custom-jibri.conf"). */
export function jibriCustomConf(): string {
  return [
    '# WeeBeeTalk: the HTTP APIs on the container network (the host publishes them on 127.0.0.1 only).',
    'jibri.api.http.external-api-host = "0.0.0.0"',
    'jibri.api.http.internal-api-host = "0.0.0.0"',
    '',
  ].join('\n');
}

/**
 * Variables the pinned docker-jitsi-meet reads (docker-compose.yml for the network, jibri.yml for the service; see
 * userdata/upstream-env.ts). The hook adds JIBRI_INSTANCE_ID (the EC2 instance id: the nickname in the brewery MUC
 * must be unique) and the two passwords from SSM.
 */
export function jibriSettings(ctx: RoleContext): Record<string, string> {
  return {
    COMPOSE_PROJECT_NAME: 'jitsi',
    COMPOSE_FILE: ['docker-compose.yml', 'jibri.yml', JIBRI_OVERRIDE].join(':'),
    CONFIG: JITSI_CONFIG,
    JITSI_IMAGE_VERSION: DOCKER_JITSI_MEET.ref,
    TZ: ctx.config.jitsi.timezone,
    // Chrome opens the meeting at the meet host's public address, like a participant.
    PUBLIC_URL: meetPublicUrl(ctx),
    XMPP_SERVER: ctx.privateIp.meet,
    XMPP_PORT: String(XMPP_CLIENT_PORT),
    JIBRI_FINALIZE_RECORDING_SCRIPT_PATH: JIBRI_FINALIZE_IN_CONTAINER,
  };
}

export function jibriBundle(ctx: RoleContext): RoleBundleProps {
  const compose = [JIBRI_SERVICES.compose];
  const files: BundleFile[] = [
    { path: roleFiles('jibri').manifest, content: manifest(DOCKER_JITSI_MEET), mode: '0644', services: compose },
    { path: roleFiles('jibri').settings, content: renderEnvFile(jibriSettings(ctx)), mode: '0644', services: compose },
    { path: JIBRI_OVERRIDE, content: jibriOverride(), mode: '0644', services: compose },
    { path: JIBRI_CUSTOM_CONF, content: jibriCustomConf(), mode: '0644', services: [JIBRI_SERVICES.config] },
    unitFile(`${UNITS.jibri}.service`, composeUnit('WeeBeeTalk Jibri pool member (docker-jitsi-meet jibri)', JIBRI_DIR, { services: ['jibri'], dataVolume: false })),
    ...scheduledJob(
      UNITS.recordingsUpload,
      'WeeBeeTalk: upload finished Jibri recordings to S3',
      helperPath('recordings-upload'),
      { OnBootSec: '5min', OnUnitInactiveSec: '2min' },
      { dataVolume: false },
    ),
    ...poolMemberFiles(),
  ];
  return {
    env: {
      ...poolCommonEnv('jibri'),
      JITSI_URL: DOCKER_JITSI_MEET.url,
      JITSI_CONFIG,
      WBT_JIBRI_UNIT: `${UNITS.jibri}.service`,
      WBT_JIBRI_CUSTOM_CONF: JIBRI_CUSTOM_CONF,
      WBT_RECORDINGS_TIMER: `${UNITS.recordingsUpload}.timer`,
      RECORDINGS_BUCKET: ctx.buckets.recordings,
      ...poolMemberEnv(ctx, { member: 'jibri', publishJibri: true, publishJvb: false }),
    },
    hook: 'jibri-member',
    files,
    // jibri-finalize runs inside the container (the hook copies it to CONFIG/jibri/finalize.sh): the meet host's.
    scripts: ['jibri-finalize', 'recordings-upload', POOL_MEMBER_SCRIPT],
  };
}
