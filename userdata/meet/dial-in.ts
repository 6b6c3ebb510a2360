/**
 * Dial-in by PIN on the meet host (issue 17; the contract is config/dial-in.ts): the conference mapper as a sandboxed
 * systemd service on the host's private address, its configuration as typed JSON, Prosody's room census on the
 * host's loopback, and the web container's nginx include that forwards browsers' two questions (a meeting's PIN, the
 * numbers) to it. /room, which tells a PIN's meeting, is for the pbx host only: never forwarded, and the mapper
 * answers it to the pbx's address only (its security group rule is tcp 5290 from the pbx host alone).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  DIAL_IN_MAPPER_PORT,
  DIAL_IN_PUBLIC_PATHS,
  DIAL_IN_ROUTES,
  PROSODY_CENSUS_PATH,
  PROSODY_HTTP_LOOPBACK,
  XMPP_MUC_DOMAIN,
  jitsiDialInNumbers,
  type DialInMapperConfig,
} from '../../config/dial-in';
import type { BundleFile } from '../bundle';
import type { RoleContext } from '../context';
import { DOCKER_DEFAULT_POOLS } from '../../config/net';
import { DIAL_IN_PATHS, UNITS } from '../paths';
import { sandboxedService, unitFile } from '../systemd';

/** The hook's service name for the mapper's files (program, configuration, unit): a change restarts it. */
export const DIAL_IN_SERVICE = 'dial-in-mapper';

/** Debian 12's Python (python3-minimal is on the AMI: cloud-init runs on it); the mapper needs its stdlib only. */
export const SYSTEM_PYTHON = '/usr/bin/python3';

/** The jitsi-meet Prosody module that lists the running rooms (mod_muc_census, in the prosody image's plugins). */
export const CENSUS_MODULE = 'muc_census';

type Ctx = Pick<RoleContext, 'config' | 'privateIp'>;

/** The mapper's configuration, as dial-in-mapper.py reads it (--config). */
export function dialInMapperConfig(ctx: Ctx): DialInMapperConfig {
  return {
    listen: ctx.privateIp.meet,
    port: DIAL_IN_MAPPER_PORT,
    mucDomain: XMPP_MUC_DOMAIN,
    censusUrl: `http://${PROSODY_HTTP_LOOPBACK.address}:${PROSODY_HTTP_LOOPBACK.port}${PROSODY_CENSUS_PATH}`,
    pbxAddresses: [ctx.privateIp.pbx],
    numbers: jitsiDialInNumbers(ctx.config.sip.dialIn.numbers),
  };
}

/** The mapper's unit: after Jitsi (the census comes from its Prosody), as a transient user with the PIN key as a credential. */
export function dialInMapperUnit(ctx: Ctx): string {
  const jitsi = `${UNITS.jitsi}.service`;
  return sandboxedService(
    {
      Description: 'WeeBeeTalk dial-in conference mapper (meeting PINs for Jitsi and the pbx host)',
      After: ['network-online.target', 'docker.service', jitsi],
      Wants: ['network-online.target', jitsi],
    },
    `${SYSTEM_PYTHON} ${DIAL_IN_PATHS.program} --config ${DIAL_IN_PATHS.config}`,
    {
      addressFamilies: ['AF_INET', 'AF_INET6'],
      // Prosody on loopback, the pbx host (/room), the web container from its compose network's address (the two
      // public routes; delivered locally, not NATed).
      ipAllow: ['localhost', `${ctx.privateIp.pbx}/32`, ...DOCKER_DEFAULT_POOLS],
      credentials: { 'pin-key': DIAL_IN_PATHS.pinKey },
    },
  );
}

/** Whether browsers are told about dial-in: Jitsi Meet shows it only with a number to show (sip.dialIn.numbers). */
export const dialInPublic = (ctx: Pick<RoleContext, 'config'>): boolean => ctx.config.jitsi.jigasi && ctx.config.sip.dialIn.numbers.length > 0;

/**
 * The web container's include (meet.conf includes /run/web/config/nginx-custom/*.conf in its server block): the two
 * public paths, by exact match, to the mapper's two routes with the query string. Nothing else of the mapper.
 */
export function dialInNginxConf(ctx: Ctx): string {
  const upstream = `http://${ctx.privateIp.meet}:${DIAL_IN_MAPPER_PORT}`;
  const forward = (publicPath: string, route: string): string => `location = ${publicPath} {\n    proxy_pass ${upstream}${route}$is_args$args;\n}\n`;
  return [
    '# WeeBeeTalk dial-in (userdata/meet/dial-in.ts): the invite dialog asks the conference mapper for the PIN and the numbers.\n',
    forward(DIAL_IN_PUBLIC_PATHS.conferenceCode, DIAL_IN_ROUTES.conferenceCode),
    forward(DIAL_IN_PUBLIC_PATHS.numbers, DIAL_IN_ROUTES.numbers),
  ].join('');
}

/**
 * docker-jitsi-meet's settings for dial-in: the census module on Prosody's main VirtualHost (with Jigasi), and the two
 * URLs the web's config.js gets (only with numbers: without one, Jitsi Meet shows no dial-in at all).
 */
export function dialInSettings(ctx: RoleContext, publicUrl: string): Record<string, string> {
  if (!ctx.config.jitsi.jigasi) return {};
  return {
    XMPP_MODULES: CENSUS_MODULE,
    ...(dialInPublic(ctx) ? { CONFCODE_URL: `${publicUrl}${DIAL_IN_PUBLIC_PATHS.conferenceCode}`, DIALIN_NUMBERS_URL: `${publicUrl}${DIAL_IN_PUBLIC_PATHS.numbers}` } : {}),
  };
}

/** The mapper's program (userdata/meet/scripts/dial-in-mapper.py), shipped as it is in the repository. */
export function dialInMapperProgram(): string {
  return readFileSync(join(__dirname, 'scripts', 'dial-in-mapper.py'), 'utf8');
}

/**
 * The bundle's dial-in files. The unit and the nginx include are always there (jitsi.sh stops and disables the unit,
 * and removes the installed include, when Jigasi or the numbers go: systemd cannot stop a unit once its file is
 * gone); the program and its configuration only with Jigasi.
 */
export function dialInFiles(ctx: Ctx): BundleFile[] {
  const services = [DIAL_IN_SERVICE];
  return [
    unitFile(`${UNITS.dialInMapper}.service`, dialInMapperUnit(ctx), services),
    { path: DIAL_IN_PATHS.nginx, content: dialInNginxConf(ctx), mode: '0644' },
    ...(ctx.config.jitsi.jigasi
      ? [
          { path: DIAL_IN_PATHS.program, content: dialInMapperProgram(), mode: '0755' as const, services },
          { path: DIAL_IN_PATHS.config, content: `${JSON.stringify(dialInMapperConfig(ctx), null, 2)}\n`, mode: '0644' as const, services },
        ]
      : []),
  ];
}

/** The hook's settings (config.env): names and paths only, no secret. */
export function dialInEnv(ctx: Ctx): Record<string, string | number> {
  return {
    WBT_DIAL_IN_UNIT: `${UNITS.dialInMapper}.service`,
    WBT_DIAL_IN_KEY: DIAL_IN_PATHS.pinKey,
    WBT_DIAL_IN_NGINX: DIAL_IN_PATHS.nginx,
    WBT_DIAL_IN_NGINX_INSTALLED: DIAL_IN_PATHS.nginxInstalled,
    DIAL_IN_PUBLIC: dialInPublic(ctx) ? 1 : 0,
  };
}
