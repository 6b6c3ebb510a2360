/**
 * A JVB pool member: docker-jitsi-meet's jvb service alone, at the meet host's pin, joining the meet host's Prosody
 * over the VPC with the bridges' shared account (SSM), so that Jicofo spreads conferences over the pool. It
 * advertises its public address and its private one (both from instance metadata at boot) and takes media on UDP
 * 10000. Its private REST API (stats, graceful shutdown) stays on 127.0.0.1:8080, as upstream publishes it.
 * pool-member.sh publishes its stress and drains it under the termination lifecycle hook. The plan's side:
 * constructs/roles/jvb.ts.
 */
import type { BundleFile, RoleBundleProps } from '../bundle';
import { renderEnvFile } from '../cloud-config';
import { poolCommonEnv, type RoleContext } from '../context';
import { XMPP_CLIENT_PORT } from '../../config/ports';
import { JITSI_CONFIG, ROLE_PATHS, roleFiles, UNITS } from '../paths';
import { POOL_MEMBER_SCRIPT, poolMemberEnv, poolMemberFiles } from '../pool-member';
import { composeUnit, unitFile } from '../systemd';
import { DOCKER_JITSI_MEET, manifest } from '../upstream';

export const JVB_ETC = ROLE_PATHS.jvb.etc;
export const JVB_DIR = ROLE_PATHS.jvb.dir;
/** Debian packages a member needs beyond every host's: none. */
export const JVB_PACKAGES: readonly string[] = [];

/** The services of a member's files, as its hook (jvb-member.sh) reloads them. */
export const JVB_SERVICES = {
  /** Inputs of `docker compose up --no-deps jvb`: compose recreates it if they changed. */
  compose: 'jvb',
} as const;

/**
 * Variables the pinned docker-compose.yml's jvb reads (see userdata/upstream-env.ts). The hook adds what only the
 * instance knows: JVB_ADVERTISE_IPS (public and private address), JVB_MUC_NICKNAME and JVB_INSTANCE_ID (the
 * instance id: the nickname in the brewery MUC must be unique; upstream defaults it to the container's hostname)
 * and JVB_AUTH_PASSWORD from SSM.
 */
export function jvbSettings(ctx: RoleContext): Record<string, string> {
  return {
    COMPOSE_PROJECT_NAME: 'jitsi',
    COMPOSE_FILE: 'docker-compose.yml',
    CONFIG: JITSI_CONFIG,
    JITSI_IMAGE_VERSION: DOCKER_JITSI_MEET.ref,
    TZ: ctx.config.jitsi.timezone,
    XMPP_SERVER: ctx.privateIp.meet,
    XMPP_PORT: String(XMPP_CLIENT_PORT),
    // /colibri/stats (the stress pool-member.sh publishes) and /colibri/shutdown (the drain): JVB enables the
    // shutdown API only with the COLIBRI one (RestConfig.kt), both off by default (jvb.conf template).
    COLIBRI_REST_ENABLED: 'true',
    SHUTDOWN_REST_ENABLED: 'true',
  };
}

export function jvbBundle(ctx: RoleContext): RoleBundleProps {
  const compose = [JVB_SERVICES.compose];
  const files: BundleFile[] = [
    { path: roleFiles('jvb').manifest, content: manifest(DOCKER_JITSI_MEET), mode: '0644', services: compose },
    { path: roleFiles('jvb').settings, content: renderEnvFile(jvbSettings(ctx)), mode: '0644', services: compose },
    unitFile(`${UNITS.jvb}.service`, composeUnit('WeeBeeTalk JVB pool member (docker-jitsi-meet jvb)', JVB_DIR, { services: ['jvb'], dataVolume: false })),
    ...poolMemberFiles(),
  ];
  return {
    env: {
      ...poolCommonEnv('jvb'),
      JITSI_URL: DOCKER_JITSI_MEET.url,
      JITSI_CONFIG,
      WBT_JVB_UNIT: `${UNITS.jvb}.service`,
      ...poolMemberEnv(ctx, { member: 'jvb', publishJibri: false, publishJvb: true }),
    },
    hook: 'jvb-member',
    files,
    scripts: [POOL_MEMBER_SCRIPT],
  };
}
