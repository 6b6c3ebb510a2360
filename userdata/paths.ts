/**
 * Every path on a host, in one place. The TypeScript writes files to these paths and hands them to the scripts
 * in /etc/weebeetalk/host.env (`pathEnv`, `rolePathEnv`); no script types one (test/host-paths.test.ts).
 * Fixed points, typed in the scripts too because they are needed before any setting is read: LIB_SH (every
 * script sources it first), HOST_ETC in lib.sh (where host.env is), HOST_ENV_FILE in bootstrap.sh.
 */
import type { AnyRole } from '../config/schema';

/** Settings and generated configuration. */
export const HOST_ETC = '/etc/weebeetalk';
export const HOST_ENV_FILE = `${HOST_ETC}/host.env`;
/** Our scripts: lib.sh, helpers run by timers and hooks, and the steps. */
export const LIB_DIR = '/usr/local/lib/weebeetalk';
export const LIB_SH = `${LIB_DIR}/lib.sh`;
export const STEPS_DIR = `${LIB_DIR}/steps`;
/** Where each host keeps all of its state: the data volume. */
export const DATA_DIR = '/srv/weebeetalk';
/** Upstream releases, unpacked and checked (rocketchat-compose, docker-jitsi-meet), and our compose projects. */
export const OPT_DIR = '/opt/weebeetalk';
export const LOG_DIR = '/var/log/weebeetalk';
/** The bootstrap's own state (bootstrap.done). */
export const STATE_DIR = '/var/lib/weebeetalk';
export const CACHE_DIR = '/var/cache/weebeetalk';
/** The bootstrap's copy on PATH, for running it again by hand. */
export const BOOTSTRAP_COMMAND = '/usr/local/sbin/weebeetalk-bootstrap';
/** The apply tool (userdata/scripts/apply.sh): State Manager's document and the first boot run it. */
export const APPLY_COMMAND = '/usr/local/sbin/weebeetalk-apply';
/** The bundle's library for the roles' scripts (sourced after lib.sh), written by the apply tool. */
export const CONFIG_LIB_SH = `${LIB_DIR}/config-lib.sh`;
/** The bundle's settings (what may change in place), written by the apply tool; load_env reads it after host.env. */
export const CONFIG_ENV_FILE = `${HOST_ETC}/config.env`;
/** The versions of the rotated secrets a host reads (only when one is configured: userdata/bundle.ts). */
export const SECRET_VERSIONS_FILE = `${HOST_ETC}/secret-versions.json`;
/** The applied bundles (current.json, previous.json), the applied checksum, services still to reload. */
export const BUNDLE_STATE = `${STATE_DIR}/bundles`;
/** One apply at a time: the bootstrap holds it from its first step to its first apply. */
export const APPLY_LOCK = '/run/weebeetalk-apply.lock';

/** Docker's data root (daemon.json), on the data volume. */
export const DOCKER_ROOT = `${DATA_DIR}/docker`;
/** The locked account that owns uid 1000, the containers' uid (see ssm-agent.sh). */
export const CONTAINER_ACCOUNT = 'weebeetalk-container';

/** A helper script (not a step) as installed: `${LIB_DIR}/<name>.sh`. */
export const helperPath = (name: string): string => `${LIB_DIR}/${name}.sh`;
/** A helper's setting in host.env: WBT_HELPER_<NAME> (asterisk-auth: WBT_HELPER_ASTERISK_AUTH). */
export const helperEnvName = (name: string): string => `WBT_HELPER_${name.toUpperCase().replace(/-/g, '_')}`;
/** The installed helpers' paths in host.env, by helperEnvName. */
export function helperEnv(names: readonly string[]): Record<string, string> {
  return Object.fromEntries(names.map((name) => [helperEnvName(name), helperPath(name)]));
}

/** Our systemd units (without suffix), written by the TypeScript and started by the scripts (names in host.env). */
export const UNITS = {
  growData: 'weebeetalk-grow-data',
  rocketchat: 'weebeetalk-rocketchat',
  rocketchatBackup: 'weebeetalk-rocketchat-backup',
  jitsi: 'weebeetalk-jitsi',
  recordingsUpload: 'weebeetalk-recordings-upload',
  asterisk: 'weebeetalk-asterisk',
  pbxCertificate: 'weebeetalk-pbx-certificate',
  turnCertificate: 'weebeetalk-turn-certificate',
  /** A pool member's one docker-jitsi-meet service (jibri or jvb). */
  jibri: 'weebeetalk-jibri',
  jvb: 'weebeetalk-jvb',
  /** pool-member.sh every 30 s: probe, publish the scaling metric, protect, drain (members and the meet host). */
  poolMember: 'weebeetalk-pool-member',
  /** The dial-in conference mapper on the meet host (userdata/meet/dial-in.ts), with Jigasi. */
  dialInMapper: 'weebeetalk-dial-in-mapper',
} as const;
/** A unit file's path: /etc/systemd/system/<name>. */
export const unitPath = (unit: string): string => `/etc/systemd/system/${unit}`;

/** Jitsi's state on the data volume, and its CONFIG (every byte of docker-jitsi-meet's own state) in it. */
export const JITSI_STATE = `${DATA_DIR}/jitsi`;
export const JITSI_CONFIG = `${JITSI_STATE}/config`;

/** Asterisk's state on the data volume: the folders bind-mounted into its container, and fail2ban's log. */
export const ASTERISK_STATE = `${DATA_DIR}/asterisk`;
export const ASTERISK_PATHS = {
  conf: `${ASTERISK_STATE}/etc`,
  keys: `${ASTERISK_STATE}/etc/keys`,
  log: `${ASTERISK_STATE}/log`,
  spool: `${ASTERISK_STATE}/spool`,
  securityLog: `${ASTERISK_STATE}/log/security.log`,
} as const;
/** certbot's deploy hook for the PBX's certificate (a link to the asterisk-cert-deploy helper). */
export const ASTERISK_CERT_HOOK = '/etc/letsencrypt/renewal-hooks/deploy/weebeetalk-asterisk.sh';
/** certbot's deploy hook for the TURN relay's certificate (a link to the turn-cert-deploy helper). */
export const TURN_CERT_HOOK = '/etc/letsencrypt/renewal-hooks/deploy/weebeetalk-turn.sh';
/**
 * coturn's configuration with its secret, written by the hook. Not the package's /etc/turnserver.conf: that is a
 * conffile, and ours in its place would hold coturn's security updates at a conffile prompt (unattended-upgrades skips
 * such packages). Our drop-in points Debian's unit at this file instead.
 */
export const TURNSERVER_CONF = '/etc/coturn/weebeetalk.conf';

/** pool-member.sh's state between passes (last protection set, drain progress): gone with a reboot, on purpose. */
export const POOL_STATE = '/run/weebeetalk-pool';

/** Each role's folders: its generated configuration (etc) and its compose project (dir). Files in etc: roleFiles. */
export const ROLE_PATHS = {
  chat: { etc: `${HOST_ETC}/rocketchat`, dir: `${OPT_DIR}/rocketchat-compose` },
  meet: { etc: `${HOST_ETC}/jitsi`, dir: `${OPT_DIR}/docker-jitsi-meet` },
  pbx: { etc: `${HOST_ETC}/asterisk`, dir: `${OPT_DIR}/asterisk` },
  // coturn is Debian's package: its folder holds the certificate it reads (group turnserver), no compose project.
  turn: { etc: `${HOST_ETC}/coturn`, dir: '/etc/coturn' },
  // Pool members: docker-jitsi-meet's release, of which they run one service.
  jibri: { etc: `${HOST_ETC}/jibri`, dir: `${OPT_DIR}/docker-jitsi-meet` },
  jvb: { etc: `${HOST_ETC}/jvb`, dir: `${OPT_DIR}/docker-jitsi-meet` },
} as const satisfies Record<AnyRole, { readonly etc: string; readonly dir: string }>;

/**
 * The dial-in conference mapper on the meet host (userdata/meet/dial-in.ts): its program (Python 3 stdlib, run by
 * Debian's /usr/bin/python3), its configuration (JSON, no secret), the PIN key the hook writes from SSM (root only,
 * handed to the unit by LoadCredential), and the web container's nginx include that forwards the two public paths:
 * the bundle's copy, and where jitsi.sh installs it (CONFIG/web is copied to /run/web/config when the container starts).
 */
export const DIAL_IN_PATHS = {
  program: `${LIB_DIR}/dial-in-mapper.py`,
  config: `${ROLE_PATHS.meet.etc}/dial-in-mapper.json`,
  pinKey: `${ROLE_PATHS.meet.etc}/dial-in-pin-key`,
  nginx: `${ROLE_PATHS.meet.etc}/nginx-dial-in.conf`,
  nginxInstalled: `${JITSI_CONFIG}/web/nginx-custom/weebeetalk-dial-in.conf`,
} as const;

/** The files the TypeScript writes to a role's etc: the upstream release's manifest and the compose settings. */
export function roleFiles(role: AnyRole): { readonly manifest: string; readonly settings: string } {
  return { manifest: `${ROLE_PATHS[role].etc}/upstream.sha256`, settings: `${ROLE_PATHS[role].etc}/settings.env` };
}

/** The paths and names every host's scripts read from host.env. */
export function pathEnv(): Record<string, string> {
  return {
    WBT_LIB: LIB_DIR,
    WBT_STEPS: STEPS_DIR,
    WBT_LOG_DIR: LOG_DIR,
    WBT_STATE_DIR: STATE_DIR,
    WBT_CACHE_DIR: CACHE_DIR,
    WBT_BOOTSTRAP: BOOTSTRAP_COMMAND,
    WBT_APPLY: APPLY_COMMAND,
    WBT_APPLY_LOCK: APPLY_LOCK,
    WBT_BUNDLES: BUNDLE_STATE,
    WBT_CONFIG_ENV: CONFIG_ENV_FILE,
    DATA_DIR,
    WBT_DOCKER_ROOT: DOCKER_ROOT,
    WBT_CONTAINER_ACCOUNT: CONTAINER_ACCOUNT,
    WBT_GROW_DATA_UNIT: `${UNITS.growData}.service`,
  };
}

/** A role's own folders and files in host.env, e.g. WBT_RC_ETC, WBT_RC_DIR, WBT_RC_MANIFEST on chat. */
export function rolePathEnv(role: AnyRole): Record<string, string> {
  const prefix = { chat: 'WBT_RC', meet: 'WBT_JITSI', pbx: 'WBT_ASTERISK', turn: 'WBT_TURN', jibri: 'WBT_JIBRI', jvb: 'WBT_JVB' }[role];
  const env: Record<string, string> = { [`${prefix}_ETC`]: ROLE_PATHS[role].etc, [`${prefix}_DIR`]: ROLE_PATHS[role].dir };
  if (role !== 'pbx' && role !== 'turn') Object.assign(env, { [`${prefix}_MANIFEST`]: roleFiles(role).manifest, [`${prefix}_SETTINGS`]: roleFiles(role).settings });
  return env;
}
