/**
 * Dial-in by PIN: the contract between the conference mapper on the meet host (userdata/meet/scripts/
 * dial-in-mapper.py), the web container that forwards browsers' questions to it, and the pbx host's dialplan
 * that asks it which room a PIN names. One source for the port, the paths and the answers.
 *
 * A PIN is derived from the room's address with a keyed hash (the key is the SSM secret meet/dial-in-pin-key),
 * so the mapper keeps no database: it answers a PIN by hashing the rooms Prosody has open now (mod_muc_census).
 * PIN_DIGITS digits: PIN_DIGITS - 1 from the hash (first digit 1-9, so the number keeps its length), then a
 * Luhn check digit, which tells a mistyped PIN from the PIN of a meeting that has not started.
 */

/** The mapper's port on the meet host's private address: the pbx host (security group) and the web container reach it. */
export const DIAL_IN_MAPPER_PORT = 5290;

/** The mapper's own routes. */
export const DIAL_IN_ROUTES = {
  /** GET ?conference=<room>@<muc>: { message, id, conference }, as Jitsi Meet's dialInConfCodeUrl expects. */
  conferenceCode: '/conference-code',
  /** GET: [{ countryCode, tollFree, formattedNumber }], as Jitsi Meet's dialInNumbersUrl expects. */
  numbers: '/dial-in-numbers',
  /** GET ?pin=<digits> or ?name=<room>: one line, DIAL_IN_ANSWERS; only from the pbx host's address. */
  room: '/room',
} as const;

/** What the web container forwards to the mapper (same origin as the meeting): never /room. */
export const DIAL_IN_PUBLIC_PATHS = {
  conferenceCode: '/weebeetalk/dial-in/conference-code',
  numbers: '/weebeetalk/dial-in/numbers',
} as const;

/** The first word of /room's answer (text/plain, one line; "found:<room address>"). */
export const DIAL_IN_ANSWERS = {
  /** found:<room>@<muc>: the meeting is running; the rest of the line is the X-Room-Name for Jigasi. */
  found: 'found',
  /** The PIN fails its check digit or has the wrong length: mistyped. */
  invalid: 'invalid',
  /** A well-formed PIN (or a fixed room) with no running meeting behind it (yet). */
  notRunning: 'not-running',
  /** Prosody did not answer: the caller is asked to try later. */
  unavailable: 'unavailable',
} as const;

export const PIN_DIGITS = 9;

/**
 * Room names that have a PIN: what Prosody keeps (lowercase) and what X-Room-Name carries as it is. The mapper's
 * ROOM_RE is this pattern (test/dial-in-mapper.test.ts holds them equal); the dialplan accepts only this shape.
 */
export const DIAL_IN_ROOM_PATTERN = '[a-z0-9][a-z0-9._-]{0,127}';
/** The longest such name. */
export const DIAL_IN_ROOM_MAX = 128;

/** Prosody's MUC domain inside docker-jitsi-meet (XMPP_MUC_DOMAIN's default; hosts.muc in the web config). */
export const XMPP_MUC_DOMAIN = 'muc.meet.jitsi';

/** Prosody's HTTP port (5280 in the container) published on the meet host's loopback, for the mapper's census. */
export const PROSODY_HTTP_LOOPBACK = { address: '127.0.0.1', port: 5280 } as const;

/** The census route of jitsi-meet's mod_muc_census, enabled on the main VirtualHost through XMPP_MODULES. */
export const PROSODY_CENSUS_PATH = '/room-census';

/**
 * The mapper's configuration file (JSON), written by the meet host's bundle and read by
 * `python3 dial-in-mapper.py --config FILE` (also `--config FILE --pin-of ROOM` prints a room's PIN).
 */
export interface DialInMapperConfig {
  /** Address the mapper binds: the meet host's private address. */
  readonly listen: string;
  readonly port: number;
  /** Prosody's MUC domain: the only domain a conference address may name. */
  readonly mucDomain: string;
  /** mod_muc_census on Prosody's HTTP port, e.g. http://127.0.0.1:5280/room-census. */
  readonly censusUrl: string;
  /** Sources allowed to ask /room (the pbx host's private address); everyone else gets 403. */
  readonly pbxAddresses: readonly string[];
  /** File holding the PIN key. @default "$CREDENTIALS_DIRECTORY/pin-key" (systemd LoadCredential) */
  readonly keyFile?: string;
  /** What /dial-in-numbers answers, in Jitsi Meet's format. */
  readonly numbers: readonly { readonly countryCode: string; readonly tollFree: boolean; readonly formattedNumber: string }[];
}

/** sip.dialIn.numbers as the mapper answers them (Jitsi Meet's format): the mapper's configuration and the smoke check. */
export function jitsiDialInNumbers(numbers: readonly { readonly number: string; readonly country: string; readonly tollFree: boolean }[]): DialInMapperConfig['numbers'] {
  return numbers.map((n) => ({ countryCode: n.country.toLowerCase(), tollFree: n.tollFree, formattedNumber: n.number }));
}
