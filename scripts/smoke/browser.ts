/**
 * The smoke check's browser mode (`--browser`): two headless Chromium participants join one Jitsi meeting on the
 * meet host with a token signed by the environment's JWT secret, peer-to-peer off so that media goes through the
 * bridge, and pass only when each receives audio and video (scripts/smoke/media.ts judges); `meet-browser-turn`
 * does it again with relay-only ICE, through the TURN relay.
 *
 * What the pinned Jitsi reads, and where it says so:
 * - Token (Prosody's token/util.lib.lua, jitsi-meet resources/prosody-plugins): HS256 with the app secret; `iss` one of
 *   JWT_ACCEPTED_ISSUERS (our app id), `aud` one of JWT_ACCEPTED_AUDIENCES, `room` required and compared with the
 *   lower-cased room name (`*` would open every room), `sub` read as the domain (checked only with
 *   JWT_ENABLE_DOMAIN_VERIFICATION, off here), `exp` checked by luajwtjitsi; `context.user` becomes the participant.
 * - URL: the web app takes the token from `?jwt=` (react/features/base/jwt/functions.ts parseJWTFromURLParams: the
 *   hash first in newer releases, the query always), and `#config.<key>=<JSON>` overrides of keys in
 *   react/features/base/config/configWhitelist.ts (`p2p.enabled`, `prejoinConfig.enabled`, `forceTurnRelay`, ...).
 * - Relay only: lib-jitsi-meet passes the conference config to the bridge session (JitsiConference
 *   `{ ...this.options.config }` -> JingleSessionPC.doInitialize `forceTurnRelay`), and RTC.createPeerConnection sets
 *   `iceTransportPolicy = 'relay'` when `forceTurnRelay` is true; the bridge session's ICE servers are the TURN
 *   servers Prosody hands out (XEP-0215), TCP/TLS ones unless `useTurnUdp` (strophe.jingle.js).
 * The check reads back the configuration the page runs with, so an override the deployed release ignores fails
 * with a line saying so instead of passing on the wrong path.
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { CheckContext, Outcome } from './check';
import { browserErrorText, launchChromium, measureMedia, PEER_CONNECTION_RECORDER, type Participant } from './media';

function base64url(data: string | Buffer): string {
  return Buffer.from(data).toString('base64url');
}

/** A JWT (RFC 7519) signed with HMAC-SHA256 (RFC 7515 `HS256`): node:crypto, no library. */
export function signJwtHs256(claims: Record<string, unknown>, secret: string): string {
  const signingInput = `${base64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))}.${base64url(JSON.stringify(claims))}`;
  return `${signingInput}.${createHmac('sha256', secret).update(signingInput).digest('base64url')}`;
}

export interface TokenRequest {
  appId: string;
  audience: string;
  secret: string;
  /** The meet host name (Prosody keeps it as the token's domain). */
  sub: string;
  room: string;
  user: { id: string; name: string };
  nowMs?: number;
  ttlSeconds?: number;
}

/** How long a smoke token is valid: long enough for the check, short if it leaks from a log. */
export const TOKEN_TTL_SECONDS = 600;

/** A token for one participant of one room, with the claims the pinned Prosody verifies. */
export function jitsiToken(r: TokenRequest): string {
  const exp = Math.floor((r.nowMs ?? Date.now()) / 1000) + (r.ttlSeconds ?? TOKEN_TTL_SECONDS);
  return signJwtHs256({ iss: r.appId, aud: r.audience, sub: r.sub, room: r.room, exp, context: { user: r.user } }, r.secret);
}

/** A room of its own per run (lower case: Prosody compares the token's room with the lower-cased room name). */
export function smokeRoomName(): string {
  return `wbt-smoke-${randomBytes(4).toString('hex')}`;
}

/**
 * The configuration every participant joins with (`#config.<key>=<JSON>`, each key in the pinned web app's
 * configWhitelist.ts): the bridge, not peer-to-peer; no pre-join page; camera and microphone on; nothing fetched from
 * third parties (gravatar and the like), no analytics, no "open the app" page.
 */
export const MEET_HASH_OVERRIDES: Readonly<Record<string, boolean>> = {
  'p2p.enabled': false,
  'prejoinConfig.enabled': false,
  startWithAudioMuted: false,
  startWithVideoMuted: false,
  disableDeepLinking: true,
  disableThirdPartyRequests: true,
  'analytics.disabled': true,
};

/** `https://<meet>/<room>?jwt=<token>#config.p2p.enabled=false&...`, with `config.forceTurnRelay=true` for the relay run. */
export function meetRoomUrl(meetBase: string, room: string, token: string | undefined, options: { relay: boolean }): string {
  const url = new URL(`/${encodeURIComponent(room)}`, meetBase);
  if (token !== undefined) url.searchParams.set('jwt', token);
  const overrides: Record<string, boolean> = { ...MEET_HASH_OVERRIDES, ...(options.relay ? { forceTurnRelay: true } : {}) };
  url.hash = Object.entries(overrides)
    .map(([key, value]) => `config.${key}=${JSON.stringify(value)}`)
    .join('&');
  return url.toString();
}

/** A URL as it may be printed: no query (the token), no hash. */
export function printableUrl(raw: string): string {
  try {
    const u = new URL(raw);
    return `${u.origin}${u.pathname}`;
  } catch {
    return '(unparsable URL)';
  }
}

/** The token material: the application id and secret from SSM, the audience Prosody accepts. */
export interface JitsiCredentials {
  appId: string;
  secret: string;
  audience: string;
}

export interface MeetBrowserRequest {
  /** `https://<meet fqdn>[:port]`. */
  meetBase: string;
  fqdn: string;
  relay: boolean;
  /** Undefined: the meeting needs no token (jitsi.auth "none"). */
  credentials?: JitsiCredentials;
  executablePath?: string;
  /** Flags added to the participants' (the loopback test's: loopback candidates only). */
  browserArgs?: readonly string[];
  /** Time between the two samples (default 2000 ms). */
  intervalMs?: number;
  /** The whole check's budget; joining, connecting and sampling each get a bounded share. */
  timeoutMs: number;
  room?: string;
}

const PARTICIPANTS = [
  { id: 'wbt-smoke-a', name: 'WeeBeeTalk smoke A' },
  { id: 'wbt-smoke-b', name: 'WeeBeeTalk smoke B' },
] as const;

/** What the page runs with, read back from the web app (its redux store, as jitsi-meet's own tests read it). */
interface PageState {
  joined: boolean;
  members: number;
  p2p?: boolean;
  forceTurnRelay?: boolean;
}

const READ_PAGE_STATE = `(() => {
  const app = window.APP;
  const conference = app && app.conference;
  const joined = Boolean(conference && typeof conference.isJoined === 'function' && conference.isJoined());
  const members = joined && typeof conference.listMembers === 'function' ? conference.listMembers().length : 0;
  const config = app && app.store && app.store.getState()['features/base/config'];
  return { joined, members, p2p: config && config.p2p ? config.p2p.enabled : undefined, forceTurnRelay: config ? config.forceTurnRelay : undefined };
})()`;

/** A page navigating away (to the refusal page, say) has no state to read for a moment: not joined. */
async function pageState(page: Page): Promise<PageState> {
  return ((await page.evaluate(READ_PAGE_STATE).catch(() => undefined)) as PageState | undefined) ?? { joined: false, members: 0 };
}

/**
 * Where jitsi-meet sends a participant whose token Prosody refused (conference.js, NOT_ALLOWED_ERROR:
 * `static/authError.html`): no point waiting any longer.
 */
const REFUSED_PAGE = /\/static\/authError\.html$/;

/** Polls every participant's page until `done` holds for all, one was refused, or the deadline; returns the last states. */
async function waitForAll(pages: readonly Page[], done: (s: PageState) => boolean, deadline: number, signal: AbortSignal): Promise<PageState[]> {
  for (;;) {
    const states = await Promise.all(pages.map(pageState));
    const refused = pages.some((p) => REFUSED_PAGE.test(printableUrl(p.url())));
    if (states.every(done) || refused || Date.now() >= deadline || signal.aborted) return states;
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** Why a page did not join: where it ended up (authError.html: the token was refused) and what it shows. */
async function whyNotJoined(page: Page): Promise<string> {
  // A refused participant may still be on its way to the refusal page.
  await page.waitForURL(REFUSED_PAGE, { timeout: 2000, waitUntil: 'load' }).catch(() => undefined);
  const where = printableUrl(page.url());
  const text = await page
    .evaluate('(document.body && document.body.innerText || "").replace(/\\s+/g, " ").trim().slice(0, 160)')
    .then((t) => String(t))
    .catch(() => '');
  const refused = /authError|not allowed|authentication/i.test(`${where} ${text}`) ? ' (the token was refused: check the app id, audience and secret)' : '';
  return `at ${where}${refused}${text ? `, the page says "${text}"` : ''}`;
}

/** Two participants in one room, then measureMedia on their peer connections. */
export async function checkMeetBrowser(ctx: CheckContext, r: MeetBrowserRequest): Promise<Outcome> {
  const started = Date.now();
  const deadline = (share: number): number => started + Math.floor(r.timeoutMs * share);
  const room = r.room ?? smokeRoomName();
  const nowMs = Date.now();
  ctx.stage('starting Chromium');
  let browser: Browser | undefined;
  const closeBrowser = (): void => void browser?.close().catch(() => undefined);
  ctx.signal.addEventListener('abort', closeBrowser, { once: true });
  try {
    browser = await launchChromium({ executablePath: r.executablePath, args: r.browserArgs, timeoutMs: Math.min(30_000, r.timeoutMs) });
    const contexts: BrowserContext[] = [];
    const pages: Page[] = [];
    for (let i = 0; i < PARTICIPANTS.length; i++) {
      const context = await browser.newContext({ viewport: { width: 640, height: 480 } });
      await context.addInitScript({ content: PEER_CONNECTION_RECORDER });
      contexts.push(context);
      pages.push(await context.newPage());
    }
    ctx.stage(`opening ${r.meetBase}/${room}`);
    await Promise.all(
      pages.map((page, i) => {
        const token = r.credentials === undefined ? undefined : jitsiToken({ ...r.credentials, sub: r.fqdn, room, user: { ...PARTICIPANTS[i] }, nowMs });
        return page.goto(meetRoomUrl(r.meetBase, room, token, { relay: r.relay }), { waitUntil: 'domcontentloaded', timeout: Math.max(1000, deadline(0.3) - Date.now()) });
      }),
    );
    ctx.stage('waiting for both participants to join the meeting');
    let states = await waitForAll(pages, (s) => s.joined, deadline(0.5), ctx.signal);
    const notJoined = states.map((s, i) => (s.joined ? undefined : i)).filter((i): i is number => i !== undefined);
    if (notJoined.length > 0) {
      const why = await Promise.all(notJoined.map(async (i) => `${PARTICIPANTS[i].name} did not join room ${room} ${await whyNotJoined(pages[i])}`));
      return { ok: false, detail: why.join('; ') };
    }
    // The overrides this check depends on, as the page runs with them.
    if (states.some((s) => s.p2p !== false))
      return { ok: false, detail: `the meeting runs with p2p.enabled=${String(states[0].p2p)}: the web app ignored config.p2p.enabled=false, so media might not go through the bridge` };
    if (r.relay && states.some((s) => s.forceTurnRelay !== true)) return { ok: false, detail: 'the web app ignored config.forceTurnRelay=true: relay-only ICE cannot be asked for from the URL' };
    states = await waitForAll(pages, (s) => s.members >= 1, deadline(0.6), ctx.signal);
    if (states.some((s) => s.members < 1)) return { ok: false, detail: `both joined room ${room} but do not see each other (members: ${states.map((s) => s.members).join(', ')})` };
    const participants: Participant[] = pages.map((page, i) => ({ name: PARTICIPANTS[i].name, page }));
    const outcome = await measureMedia(participants, {
      connectTimeoutMs: Math.max(1000, deadline(0.85) - Date.now()),
      intervalMs: r.intervalMs ?? 2000,
      requireRelay: r.relay,
      signal: ctx.signal,
      stage: ctx.stage,
    });
    for (const c of contexts) await c.close().catch(() => undefined);
    return { ok: outcome.ok, detail: `room ${room}: ${outcome.detail}` };
  } catch (err) {
    if (ctx.signal.aborted) throw err;
    return { ok: false, detail: browserErrorText(err) || 'the browser failed without a message' };
  } finally {
    ctx.signal.removeEventListener('abort', closeBrowser);
    await browser?.close().catch(() => undefined);
  }
}
