/**
 * Every path on a host, in one place. The TypeScript writes files to these paths and hands them to the scripts
 * in /etc/weebeetalk/host.env (`pathEnv`, `rolePathEnv`); no script types one (test/host-paths.test.ts).
 * Fixed points, typed in the scripts too because they are needed before any setting is read: LIB_SH (every
 * script sources it first), HOST_ETC in lib.sh (where host.env is), HOST_ENV_FILE in bootstrap.sh.
 */
import type { Role } from '../config/schema';

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

/** A helper script (not a step) as installed: `${LIB_DIR}/<name>.sh`. */
export const helperPath = (name: string): string => `${LIB_DIR}/${name}.sh`;

/** Each role's folders: its generated configuration (etc) and its compose project (dir). */
export const ROLE_PATHS = {
  chat: { etc: `${HOST_ETC}/rocketchat`, dir: `${OPT_DIR}/rocketchat-compose` },
  meet: { etc: `${HOST_ETC}/jitsi`, dir: `${OPT_DIR}/docker-jitsi-meet` },
  pbx: { etc: `${HOST_ETC}/asterisk`, dir: `${OPT_DIR}/asterisk` },
} as const satisfies Record<Role, { readonly etc: string; readonly dir: string }>;

/** The paths every host's scripts read from host.env. */
export function pathEnv(): Record<string, string> {
  return { WBT_LIB: LIB_DIR, WBT_STEPS: STEPS_DIR, WBT_LOG_DIR: LOG_DIR, WBT_STATE_DIR: STATE_DIR, WBT_CACHE_DIR: CACHE_DIR, WBT_BOOTSTRAP: BOOTSTRAP_COMMAND, DATA_DIR };
}

/** A role's own folders in host.env, e.g. WBT_RC_ETC and WBT_RC_DIR on chat. */
export function rolePathEnv(role: Role): Record<string, string> {
  const prefix = { chat: 'WBT_RC', meet: 'WBT_JITSI', pbx: 'WBT_ASTERISK' }[role];
  return { [`${prefix}_ETC`]: ROLE_PATHS[role].etc, [`${prefix}_DIR`]: ROLE_PATHS[role].dir };
}
