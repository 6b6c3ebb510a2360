/**
 * Dial-in by PIN (issue 17; the contract is config/dial-in.ts), seen from the operator's machine:
 * - meet-dial-in: the web container forwards the invite dialog's two questions to the conference mapper, which
 *   answers a fresh room's PIN (9 digits ending in their Luhn check digit) and exactly the configured numbers;
 * - meet-dial-in-closed: nothing else of the mapper shows: its port is closed to the world (only the pbx host's
 *   security group may reach it) and /room, which tells a PIN's meeting, is not forwarded (Jitsi's page answers it).
 */
import { randomBytes } from 'node:crypto';
import * as net from 'node:net';
import { DIAL_IN_ANSWERS, DIAL_IN_MAPPER_PORT, DIAL_IN_PUBLIC_PATHS, DIAL_IN_ROUTES, PIN_DIGITS, XMPP_MUC_DOMAIN, jitsiDialInNumbers, type DialInMapperConfig } from '../../config/dial-in';
import { resourceNameOf } from '../../config/names';
import { hostAddress, hostSubnetOf, parseCidr } from '../../config/net';
import type { EnvironmentConfig } from '../../config/schema';
import { UNITS } from '../../userdata/paths';
import { errorCode, errorText, hostPort, isRecord, netErrorText, type CheckContext, type Outcome } from './check';
import { httpsGet, type HttpResponse } from './http';

/** One number as the mapper answers it (Jitsi Meet's dialInNumbersUrl format). */
export type DialInNumber = DialInMapperConfig['numbers'][number];

/** What the dial-in checks expect of a deployed environment with Jigasi on (run.ts reads it from the environment's file). */
export interface DialInExpectation {
  /** sip.dialIn.numbers as the mapper answers them, in their order. */
  numbers: readonly DialInNumber[];
  /** Where the web container forwards to: the meet host's private address (the mapper listens there). */
  mapperAddress?: string;
  /** The meet host's security group (weebeetalk-<env>-meet), named when the mapper's port is open. */
  securityGroup?: string;
}

/**
 * What an environment's file says the dial-in checks will find, or undefined when Jigasi is off (no mapper). The
 * meet host's private address is planned as the stack plans it (constructs/network.ts: the hosts' subnet is the
 * VPC's first /24; the role's addressOffset); loading the role spec costs a few hundred ms, so only with Jigasi.
 */
export async function dialInExpectationOf(config: EnvironmentConfig): Promise<DialInExpectation | undefined> {
  if (!config.jitsi.jigasi) return undefined;
  let mapperAddress: string | undefined;
  try {
    const { meet } = await import('../../constructs/roles/meet');
    const block = parseCidr(config.network.vpcCidr);
    if (block !== undefined && meet.addressOffset !== undefined) mapperAddress = hostAddress(hostSubnetOf(block), meet.addressOffset);
  } catch {
    mapperAddress = undefined; // only a hint: the detail then says "the meet host's private address"
  }
  return {
    numbers: jitsiDialInNumbers(config.sip.dialIn.numbers),
    mapperAddress,
    securityGroup: resourceNameOf(config, 'meet'),
  };
}

/** The mapper's unit on the meet host. */
const DIAL_IN_UNIT = UNITS.dialInMapper;

/** The mapper's text answers on /room (config/dial-in.ts DIAL_IN_ANSWERS, and "forbidden" to any address but the pbx host's). */
const MAPPER_TEXT = new RegExp(`^(${DIAL_IN_ANSWERS.found}:\\S*|${[DIAL_IN_ANSWERS.invalid, DIAL_IN_ANSWERS.notRunning, DIAL_IN_ANSWERS.unavailable, 'forbidden'].join('|')})\\r?\\n?$`);

/** Nine digits to ask /room with (123456789, a mistyped PIN to the mapper): whatever the mapper would answer, it must not be asked. */
export const PROBE_PIN = '1234567890'.repeat(2).slice(0, PIN_DIGITS);

/** The longest meet-dial-in-closed waits for the mapper's port to answer before calling it dropped (a security group drops silently). */
export const CLOSED_PORT_WAIT_MS = 1500;

/** The Luhn check digit of a string of digits (the mapper's last digit of a PIN). */
export function luhnDigit(body: string): number {
  let total = 0;
  [...body].reverse().forEach((ch, i) => {
    let d = Number(ch);
    if (i % 2 === 0) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    total += d;
  });
  return (10 - (total % 10)) % 10;
}

/** Why an id is not a PIN the mapper would give, or undefined when it is one. */
export function pinProblem(id: unknown): string | undefined {
  const digits = typeof id === 'number' && Number.isInteger(id) ? String(id) : undefined;
  if (digits === undefined || !new RegExp(`^[1-9][0-9]{${PIN_DIGITS - 1}}$`).test(digits)) return `"id" ${JSON.stringify(id)} is not a ${PIN_DIGITS}-digit number`;
  const check = luhnDigit(digits.slice(0, -1));
  if (Number(digits.slice(-1)) !== check) {
    return `"id" ${digits} does not end in the Luhn check digit of its first ${PIN_DIGITS - 1} (${check}): the pbx would refuse that PIN as mistyped`;
  }
  return undefined;
}

/** The prefix the public paths share (/weebeetalk/dial-in): a forward of the whole prefix would expose /room below it. */
function publicPrefix(): string {
  const [a, b] = [DIAL_IN_PUBLIC_PATHS.conferenceCode, DIAL_IN_PUBLIC_PATHS.numbers].map((p) => p.split('/'));
  let i = 0;
  while (i < a.length && a[i] === b[i]) i += 1;
  return a.slice(0, i).join('/');
}

function contentType(res: HttpResponse): string {
  return String(res.headers['content-type'] ?? '(no Content-Type)')
    .split(';')[0]
    .trim();
}

function parseJson(res: HttpResponse): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(res.body) as unknown };
  } catch {
    return { ok: false };
  }
}

/** What a failed answer of a public path means for the operator: no forward, or no mapper behind it. */
function forwardProblem(what: string, res: HttpResponse, expect: DialInExpectation): string | undefined {
  const at = `${expect.mapperAddress ?? "the meet host's private address"}:${DIAL_IN_MAPPER_PORT}`;
  if (res.status === 502 || res.status === 503 || res.status === 504) {
    return `${what} -> HTTP ${res.status}: the web container cannot reach the mapper on ${at}: is ${DIAL_IN_UNIT} running on the meet host (systemctl status ${DIAL_IN_UNIT})?`;
  }
  if (!unforwarded(res)) return undefined;
  const page = res.status === 200 ? ` ${contentType(res)}, not the mapper's JSON` : '';
  return `${what} -> HTTP ${res.status}${page}: the web container has no dial-in forward: was the bundle applied (the meet_apply_again output) and the web container restarted?`;
}

/** No forward there: nginx's 404, or Jitsi's page (its nginx takes the path's last segment for a meeting). */
function unforwarded(res: HttpResponse): boolean {
  return res.status === 404 || (res.status === 200 && contentType(res) !== 'application/json');
}

const NO_NUMBERS = 'no numbers (sip.dialIn.numbers is empty: the invite shows no dial-in)';

/**
 * No numbers configured, and the conference-code path not forwarded: as the meet host does it (the web container
 * forwards the two paths only while there are numbers to show, userdata/meet/dial-in.ts). The numbers path must then
 * not be forwarded either, or answer no numbers.
 */
async function noNumbers(ctx: CheckContext, ip: string, port: number, fqdn: string, ca: string | undefined, code: HttpResponse, cert: string): Promise<Outcome> {
  const numbers = await httpsGet(ctx, ip, port, fqdn, DIAL_IN_PUBLIC_PATHS.numbers, ca);
  if (!numbers.response) return { ok: false, detail: numbers.cert.detail };
  const list = parseJson(numbers.response);
  const none = unforwarded(numbers.response) || (numbers.response.status === 200 && list.ok && Array.isArray(list.value) && list.value.length === 0);
  if (!none) {
    return {
      ok: false,
      detail: `GET ${DIAL_IN_PUBLIC_PATHS.numbers} -> HTTP ${numbers.response.status} ${contentType(numbers.response)}, but ${DIAL_IN_PUBLIC_PATHS.conferenceCode} is not forwarded (HTTP ${code.status}) and sip.dialIn.numbers is empty: is the meet host's bundle current (the meet_apply_again output)?`,
    };
  }
  return { ok: true, detail: `${NO_NUMBERS}; the web container forwards no PIN question (HTTP ${code.status} ${contentType(code)}); ${cert}` };
}

const showNumber = (n: unknown): string =>
  isRecord(n)
    ? `${String(n.formattedNumber)} (${String(n.countryCode)}${n.tollFree === true ? ', toll-free' : n.tollFree === false ? '' : `, tollFree ${JSON.stringify(n.tollFree)}`})`
    : JSON.stringify(n);

function sameNumbers(actual: unknown, expected: readonly DialInNumber[]): boolean {
  const keys = ['countryCode', 'formattedNumber', 'tollFree'];
  return (
    Array.isArray(actual) &&
    actual.length === expected.length &&
    actual.every((n, i) => isRecord(n) && Object.keys(n).sort().join() === keys.join() && keys.every((k) => n[k] === (expected[i] as unknown as Record<string, unknown>)[k]))
  );
}

/** meet-dial-in: a fresh room's PIN and the configured numbers, through the web container as a browser asks them. */
export async function checkDialIn(ctx: CheckContext, ip: string, port: number, fqdn: string, ca: string | undefined, expect: DialInExpectation): Promise<Outcome> {
  const room = `weebeetalk-smoke-${randomBytes(4).toString('hex')}`;
  const conference = `${room}@${XMPP_MUC_DOMAIN}`;
  // As Jitsi Meet asks it (dialInConfCodeUrl?conference=<room>@<muc>, the address unescaped).
  const codePath = `${DIAL_IN_PUBLIC_PATHS.conferenceCode}?conference=${conference}`;
  const code = await httpsGet(ctx, ip, port, fqdn, codePath, ca);
  if (!code.response) return { ok: false, detail: code.cert.detail };
  const codeWhat = `GET ${codePath}`;
  if (expect.numbers.length === 0 && unforwarded(code.response)) return noNumbers(ctx, ip, port, fqdn, ca, code.response, code.cert.detail);
  const codeProblem = forwardProblem(codeWhat, code.response, expect);
  if (codeProblem !== undefined) return { ok: false, detail: codeProblem };
  const codeJson = parseJson(code.response);
  const message = codeJson.ok && isRecord(codeJson.value) && typeof codeJson.value.message === 'string' ? `: "${codeJson.value.message}"` : '';
  if (code.response.status === 400) return { ok: false, detail: `${codeWhat} -> HTTP 400${message}: the mapper refuses rooms of ${XMPP_MUC_DOMAIN} (its mucDomain)` };
  if (code.response.status !== 200) return { ok: false, detail: `${codeWhat} -> HTTP ${code.response.status}${message}, expected 200 with { message, id, conference }` };
  if (!codeJson.ok || !isRecord(codeJson.value)) return { ok: false, detail: `${codeWhat} -> HTTP 200 but not a JSON object: ${JSON.stringify(code.response.body.slice(0, 120))}` };
  const answer = codeJson.value;
  const problem = pinProblem(answer.id);
  if (problem !== undefined) return { ok: false, detail: `${codeWhat}: ${problem}` };
  if (answer.conference !== conference) {
    return { ok: false, detail: `${codeWhat}: "conference" is ${JSON.stringify(answer.conference)}, expected the room asked for, ${conference}` };
  }

  const numbers = await httpsGet(ctx, ip, port, fqdn, DIAL_IN_PUBLIC_PATHS.numbers, ca);
  if (!numbers.response) return { ok: false, detail: numbers.cert.detail };
  const numbersWhat = `GET ${DIAL_IN_PUBLIC_PATHS.numbers}`;
  const numbersProblem = forwardProblem(numbersWhat, numbers.response, expect);
  if (numbersProblem !== undefined) return { ok: false, detail: numbersProblem };
  if (numbers.response.status !== 200) return { ok: false, detail: `${numbersWhat} -> HTTP ${numbers.response.status}, expected 200 with the numbers` };
  const list = parseJson(numbers.response);
  const expected = expect.numbers.length === 0 ? 'none' : expect.numbers.map(showNumber).join(', ');
  if (!list.ok || !Array.isArray(list.value)) return { ok: false, detail: `${numbersWhat} -> HTTP 200 but not a JSON array: ${JSON.stringify(numbers.response.body.slice(0, 120))}` };
  if (!sameNumbers(list.value, expect.numbers)) {
    const got = list.value.length === 0 ? 'none' : list.value.map(showNumber).join(', ');
    return { ok: false, detail: `${numbersWhat} -> ${got}, expected sip.dialIn.numbers: ${expected}: is the meet host's bundle current (the meet_apply_again output)?` };
  }
  const shown = expect.numbers.length === 0 ? NO_NUMBERS : `numbers ${expected}`;
  return { ok: true, detail: `PIN ${String(answer.id)} for ${conference} (Luhn OK); ${shown}; ${code.cert.detail}` };
}

type PortProbe = { connected: true } | { connected: false; detail: string };

/** A TCP connection to ip:port within waitMs: a refusal, an ICMP error or silence are all "not connected". */
function probePort(ctx: CheckContext, ip: string, port: number, waitMs: number): Promise<PortProbe> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: ip, port });
    const done = (result: PortProbe): void => {
      clearTimeout(timer);
      ctx.signal.removeEventListener('abort', abort);
      socket.destroy();
      resolve(result);
    };
    const abort = (): void => done({ connected: false, detail: 'aborted' });
    const timer = setTimeout(() => done({ connected: false, detail: `no answer within ${waitMs} ms (dropped, as a security group drops)` }), waitMs);
    ctx.signal.addEventListener('abort', abort, { once: true });
    socket.once('connect', () => done({ connected: true }));
    socket.once('error', (err) => {
      const code = errorCode(err);
      done({
        connected: false,
        detail:
          code === 'ECONNREFUSED'
            ? 'refused (ECONNREFUSED: nothing listens there, but the packet reached the host, where a security group would drop it)'
            : `no connection (${code ?? errorText(err)})`,
      });
    });
  });
}

/** An answer of /room (or of /room under the public prefix) that is the mapper's, or undefined. */
function mapperAnswer(res: HttpResponse): string | undefined {
  return MAPPER_TEXT.test(res.body) ? `"${res.body.trim()}" (HTTP ${res.status} ${contentType(res)})` : undefined;
}

/** meet-dial-in-closed: the mapper's port refuses the world, and neither /room nor a forward of the public prefix reaches the mapper. */
export async function checkDialInClosed(
  ctx: CheckContext,
  ip: string,
  httpsPort: number,
  fqdn: string,
  ca: string | undefined,
  opts: { mapperPort: number; waitMs: number; securityGroup?: string; env?: string },
): Promise<Outcome> {
  const roomPath = `${DIAL_IN_ROUTES.room}?pin=${PROBE_PIN}`;
  const prefixed = `${publicPrefix()}${DIAL_IN_ROUTES.room}?pin=${PROBE_PIN}`;
  // The GETs' own errors name HTTPS: a refused tcp/443 must not read as the mapper's port refusing (a pass).
  const get = (path: string): ReturnType<typeof httpsGet> =>
    httpsGet(ctx, ip, httpsPort, fqdn, path, ca).catch((err: unknown) => {
      throw new Error(`GET https://${fqdn}${path} (${hostPort(ip, httpsPort)}): ${netErrorText(err)}`);
    });
  const [probe, room, under] = await Promise.all([probePort(ctx, ip, opts.mapperPort, opts.waitMs), get(roomPath), get(prefixed)]);
  const portText = `tcp/${opts.mapperPort} on ${ip}`;
  if (probe.connected) {
    const group = opts.securityGroup ?? "the meet host's security group";
    const audit = opts.env === undefined ? 'npm run audit' : `npm run audit -- --env ${opts.env}`;
    return {
      ok: false,
      detail: `${portText} accepted a connection from here: the conference mapper's port must admit only the pbx host's security group: check the inbound rules of ${group} (${audit})`,
    };
  }
  if (!room.response) return { ok: false, detail: room.cert.detail };
  const leaks: string[] = [];
  for (const [path, res] of [
    [roomPath, room.response],
    [prefixed, under.response],
  ] as const) {
    const said = res === undefined ? undefined : mapperAnswer(res);
    if (said !== undefined) leaks.push(`GET https://${fqdn}${path} answered ${said}, the mapper's answer`);
  }
  if (leaks.length > 0) {
    return {
      ok: false,
      detail: `${leaks.join('; ')}: the web container forwards the mapper's ${DIAL_IN_ROUTES.room} (which tells a PIN's meeting) to the world: it may forward only ${DIAL_IN_PUBLIC_PATHS.conferenceCode} and ${DIAL_IN_PUBLIC_PATHS.numbers}`,
    };
  }
  const jitsiPage = room.response.status === 200 && (contentType(room.response) === 'text/html' || room.response.body.includes('Jitsi Meet'));
  if (!jitsiPage) {
    return {
      ok: false,
      detail: `GET ${roomPath} -> HTTP ${room.response.status} ${contentType(room.response)}, expected Jitsi's page (every /<name> is a meeting there): what answers ${fqdn}?`,
    };
  }
  const underText = under.response ? `GET ${publicPrefix()}${DIAL_IN_ROUTES.room} -> HTTP ${under.response.status}, not the mapper` : under.cert.detail;
  return { ok: true, detail: `${portText}: ${probe.detail}; GET ${roomPath} -> Jitsi's page; ${underText}` };
}
