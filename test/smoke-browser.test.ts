/**
 * The smoke check's browser mode end to end on loopback: Debian's Chromium (headless, fake camera and microphone,
 * driven by playwright-core) opens a small page from a node http server on 127.0.0.1 in which two RTCPeerConnections,
 * participant A and participant B, send each other fake audio and video over 127.0.0.1 only (host candidates, every
 * other one dropped before it reaches the other peer). The verdict comes from the same code the real check runs
 * (scripts/smoke/media.ts: the peer-connection recorder, the inbound-rtp reader, measureMedia and judgeMedia): media
 * flowing passes, a sender whose track is replaced by null fails naming the participant and the kind. Plus the
 * Jitsi side that needs no browser: the token, the meeting URL, and the wiring into the smoke CLI.
 */
import { createHmac } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import type { Browser, BrowserContext } from 'playwright-core';
import { checkMeetBrowser, meetRoomUrl, MEET_HASH_OVERRIDES, jitsiToken, signJwtHs256, smokeRoomName } from '../scripts/smoke/browser';
import { type CheckResult } from '../scripts/smoke/check';
import { main } from '../scripts/smoke/cli';
import { browserErrorText, CHROMIUM, chromiumMissing, judgeMedia, launchChromium, measureMedia, PEER_CONNECTION_RECORDER, type Participant, type ParticipantSample } from '../scripts/smoke/media';
import { runSmoke } from '../scripts/smoke/run';
import { FQDNS, type SmokeFixture, startSmokeFixture } from './support/smoke-fixture';

/** Two peers in one page, media over loopback only. `?block=<kind>` replaces A's sender of that kind by null. */
const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>loopback peers</title></head><body>
<script>
window.peersReady = (async () => {
  const block = new URLSearchParams(location.search).get('block');
  const a = new RTCPeerConnection();
  const b = new RTCPeerConnection();
  // Only 127.0.0.1 candidates reach the other peer: every connectivity check stays on loopback.
  const trickle = (from, to) => { from.onicecandidate = (e) => { if (e.candidate && e.candidate.address === '127.0.0.1') to.addIceCandidate(e.candidate); }; };
  trickle(a, b);
  trickle(b, a);
  for (const [pc, blocked] of [[a, block], [b, null]]) {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 320, height: 240 } });
    for (const track of stream.getTracks()) {
      const sender = pc.addTrack(track, stream);
      if (track.kind === blocked) await sender.replaceTrack(null);
    }
  }
  await a.setLocalDescription(await a.createOffer());
  await b.setRemoteDescription(a.localDescription);
  await b.setLocalDescription(await b.createAnswer());
  await a.setRemoteDescription(b.localDescription);
  // Media stops mid-call: A's sender of that kind loses its track (B's inbound stream stays, its counters stop).
  window.stopSending = (kind) => Promise.all(a.getSenders().filter((s) => s.track && s.track.kind === kind).map((s) => s.replaceTrack(null)));
  return 'negotiated';
})();
</script></body></html>`;

const CHROMIUM_ABSENT = chromiumMissing();
if (CHROMIUM_ABSENT !== undefined) {
  process.stderr.write(`SKIPPED (needs ${CHROMIUM}): the smoke check's browser mode on loopback and against a stand-in meet host: ${CHROMIUM_ABSENT}. The token, URL and CLI tests still run.\n`);
}
const describeWithChromium = CHROMIUM_ABSENT === undefined ? describe : describe.skip;

describeWithChromium('browser media on loopback, judged by the smoke check', () => {
  let server: http.Server;
  let base: string;
  let browser: Browser;
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      if ((req.url ?? '/').split('?')[0] !== '/') {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    // Loopback only: the loopback interface among WebRTC's networks, and no name resolved outside (nothing to fetch).
    browser = await launchChromium({ args: ['--allow-loopback-in-peer-connection', '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1'] });
  }, 30_000);

  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  });

  /** The page in a fresh context with the smoke check's recorder; A is its first peer connection, B its second. */
  async function openPeers(query = ''): Promise<Participant[]> {
    const context = await browser.newContext();
    contexts.push(context);
    await context.addInitScript({ content: PEER_CONNECTION_RECORDER });
    const page = await context.newPage();
    await page.goto(`${base}${query}`, { timeout: 10_000 });
    await page.evaluate('window.peersReady');
    return [
      { name: 'participant A', page, peerConnections: [0] },
      { name: 'participant B', page, peerConnections: [1] },
    ];
  }

  test.concurrent(
    'audio and video flowing both ways pass, with what each participant received',
    async () => {
      const outcome = await measureMedia(await openPeers(), { connectTimeoutMs: 8000, intervalMs: 1000 });
      expect(outcome.detail).toMatch(/^participant A: audio \+\d+ pkt, video \+\d+ pkt in 1\.\d s; participant B: audio \+\d+ pkt, video \+\d+ pkt in 1\.\d s$/);
      expect(outcome.ok).toBe(true);
    },
    20_000,
  );

  test.concurrent(
    "A's video sender replaced by null: fails naming participant B and video, and nothing else",
    async () => {
      const outcome = await measureMedia(await openPeers('?block=video'), { connectTimeoutMs: 8000, intervalMs: 1000 });
      expect(outcome.ok).toBe(false);
      expect(outcome.detail).toMatch(/^participant B received no video: /);
      expect(outcome.detail).not.toMatch(/participant A received|received no audio/);
    },
    20_000,
  );

  test.concurrent(
    "A's audio sender replaced by null: fails naming participant B and audio",
    async () => {
      const outcome = await measureMedia(await openPeers('?block=audio'), { connectTimeoutMs: 8000, intervalMs: 1000 });
      expect(outcome.ok).toBe(false);
      expect(outcome.detail).toMatch(/^participant B received no audio: /);
      expect(outcome.detail).not.toMatch(/received no video/);
    },
    20_000,
  );

  test.concurrent(
    'media that stops mid-call: the inbound stream is there, its counters no longer rise, and the line says so',
    async () => {
      const peers = await openPeers();
      expect(await measureMedia(peers, { connectTimeoutMs: 8000, intervalMs: 1000 })).toMatchObject({ ok: true });
      await peers[0].page.evaluate("window.stopSending('video')");
      await new Promise((r) => setTimeout(r, 300)); // what was in flight arrives
      const outcome = await measureMedia(peers, { connectTimeoutMs: 2000, intervalMs: 1000 });
      expect(outcome.ok).toBe(false);
      expect(outcome.detail).toMatch(/^participant B received no video: inbound-rtp packetsReceived (\d+) -> \1, bytesReceived (\d+) -> \2 over 1\.\d s \(peer connection connected\)$/);
    },
    20_000,
  );

  test.concurrent(
    'relay required: host-to-host media fails saying it did not go through the TURN relay',
    async () => {
      const outcome = await measureMedia(await openPeers(), { connectTimeoutMs: 8000, intervalMs: 1000, requireRelay: true });
      expect(outcome.ok).toBe(false);
      expect(outcome.detail).toContain("participant A's media did not go through the TURN relay: the selected candidate pair is host -> host, not relay");
      expect(outcome.detail).toContain("participant B's media did not go through the TURN relay");
    },
    20_000,
  );
});

/**
 * A stand-in for the meet host on 127.0.0.1: /<room> serves a page that does what the check relies on in Jitsi's
 * web app: the token from ?jwt= (refused: to static/authError.html, as jitsi-meet does), the #config.<key>=<JSON>
 * overrides in its store, APP.conference.isJoined()/listMembers(), and one RTCPeerConnection per participant to the
 * other (signalled through this server; loopback candidates only; iceTransportPolicy relay with forceTurnRelay, as
 * lib-jitsi-meet sets it). The server verifies the token as Prosody does (HS256, iss, aud, room, exp).
 */
const FAKE_MEET_PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>fake meet</title></head><body>
<script>
(async () => {
  const room = decodeURIComponent(location.pathname.slice(1));
  const config = {};
  for (const [key, value] of new URLSearchParams(location.hash.slice(1))) {
    if (!key.startsWith('config.')) continue;
    const path = key.slice(7).split('.');
    let at = config;
    for (const p of path.slice(0, -1)) at = at[p] = at[p] || {};
    at[path[path.length - 1]] = JSON.parse(value);
  }
  const state = { joined: false, members: 0 };
  window.APP = { conference: { isJoined: () => state.joined, listMembers: () => new Array(state.members).fill({}) }, store: { getState: () => ({ 'features/base/config': config }) } };
  const join = await fetch('/join', { method: 'POST', body: JSON.stringify({ room, jwt: new URLSearchParams(location.search).get('jwt') }) });
  if (join.status !== 200) { location.href = '/static/authError.html'; return; }
  const { me } = await join.json();
  state.joined = true;
  const send = (msg) => fetch('/signal', { method: 'POST', body: JSON.stringify({ room, from: me, msg }) });
  const pc = new RTCPeerConnection(config.forceTurnRelay ? { iceTransportPolicy: 'relay' } : {});
  pc.onicecandidate = (e) => { if (e.candidate && e.candidate.address === '127.0.0.1') send({ candidate: e.candidate.toJSON() }); };
  const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 320, height: 240 } });
  for (const t of stream.getTracks()) pc.addTrack(t, stream);
  let offered = false;
  for (;;) {
    const { members, inbox } = await (await fetch('/poll?room=' + encodeURIComponent(room) + '&me=' + me)).json();
    state.members = members - 1;
    if (me === 0 && members === 2 && !offered) {
      offered = true;
      await pc.setLocalDescription(await pc.createOffer());
      await send({ sdp: pc.localDescription.toJSON() });
    }
    for (const msg of inbox) {
      if (msg.sdp) {
        await pc.setRemoteDescription(msg.sdp);
        if (msg.sdp.type === 'offer') { await pc.setLocalDescription(await pc.createAnswer()); await send({ sdp: pc.localDescription.toJSON() }); }
      } else if (msg.candidate) await pc.addIceCandidate(msg.candidate);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
})();
</script></body></html>`;

const FAKE_SECRET = 'the-fake-meet-secret';

describeWithChromium('checkMeetBrowser against a stand-in for the meet host on 127.0.0.1', () => {
  let server: http.Server;
  let meetBase: string;
  const rooms = new Map<string, { members: number; inbox: unknown[][] }>();
  const refused: string[] = [];

  /** Prosody's checks, by hand: the HS256 signature, iss, aud, the room claim, exp. */
  function tokenProblem(jwt: string | null, room: string): string | undefined {
    if (jwt === null) return 'token required';
    const [h, p, sig] = jwt.split('.');
    if (createHmac('sha256', FAKE_SECRET).update(`${h}.${p}`).digest('base64url') !== sig) return 'signature';
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as Record<string, unknown>;
    if (claims.iss !== 'weebeetalk-smoketest') return 'iss';
    if (claims.aud !== 'RocketChat') return 'aud';
    if (claims.room !== room) return 'room';
    if (typeof claims.exp !== 'number' || claims.exp * 1000 < Date.now()) return 'exp';
    return undefined;
  }

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = chunks.length > 0 ? (JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>) : {};
        const json = (status: number, value: unknown): void => void res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
        if (url.pathname === '/join') {
          const room = String(body.room);
          const problem = tokenProblem(body.jwt as string | null, room);
          if (problem !== undefined) {
            refused.push(problem);
            return json(403, { error: problem });
          }
          const r = rooms.get(room) ?? { members: 0, inbox: [[], []] };
          rooms.set(room, r);
          return json(200, { me: r.members++ });
        }
        if (url.pathname === '/signal') {
          rooms.get(String(body.room))?.inbox[1 - Number(body.from)].push(body.msg);
          return json(200, {});
        }
        if (url.pathname === '/poll') {
          const r = rooms.get(url.searchParams.get('room') ?? '');
          const me = Number(url.searchParams.get('me'));
          return json(200, { members: r?.members ?? 0, inbox: r ? r.inbox[me].splice(0) : [] });
        }
        if (url.pathname === '/static/authError.html') return void res.writeHead(200, { 'content-type': 'text/html' }).end('<p>You are not allowed to join this call.</p>');
        if (/^\/wbt-smoke-[0-9a-f]{8}$/.test(url.pathname)) return void res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(FAKE_MEET_PAGE);
        res.writeHead(404).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    meetBase = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  });

  const LOOPBACK_ONLY = ['--allow-loopback-in-peer-connection', '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1'];
  const context = (): { signal: AbortSignal; stage(t: string): void } => ({ signal: new AbortController().signal, stage: () => undefined });
  const request = (overrides: Partial<Parameters<typeof checkMeetBrowser>[1]> = {}): Parameters<typeof checkMeetBrowser>[1] => ({
    meetBase,
    fqdn: FQDNS.meet,
    relay: false,
    credentials: { appId: 'weebeetalk-smoketest', audience: 'RocketChat', secret: FAKE_SECRET },
    browserArgs: LOOPBACK_ONLY,
    intervalMs: 1000,
    timeoutMs: 20_000,
    ...overrides,
  });

  test('two participants with valid tokens join, see each other and both receive audio and video', async () => {
    const outcome = await checkMeetBrowser(context(), request());
    expect(outcome.detail).toMatch(/^room wbt-smoke-[0-9a-f]{8}: WeeBeeTalk smoke A: audio \+\d+ pkt, video \+\d+ pkt in 1\.\d s; WeeBeeTalk smoke B: audio \+\d+ pkt, video \+\d+ pkt in 1\.\d s$/);
    expect(outcome.ok).toBe(true);
  }, 30_000);

  test('a token signed with another secret is refused: neither joins, and the line says where they ended up', async () => {
    const outcome = await checkMeetBrowser(context(), request({ credentials: { appId: 'weebeetalk-smoketest', audience: 'RocketChat', secret: 'wrong' }, timeoutMs: 10_000 }));
    expect(outcome.ok).toBe(false);
    expect(outcome.detail).toMatch(
      /^WeeBeeTalk smoke A did not join room wbt-smoke-[0-9a-f]{8} at http:\/\/127\.0\.0\.1:\d+\/static\/authError\.html \(the token was refused: check the app id, audience and secret\)/,
    );
    expect(outcome.detail).not.toContain('wrong');
    expect(refused.slice(-2)).toEqual(['signature', 'signature']);
  }, 30_000);

  test('a meet host that does not answer: the line says so, without the token (playwright names the URL it opened)', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const outcome = await checkMeetBrowser(context(), request({ meetBase: `http://127.0.0.1:${port}`, timeoutMs: 10_000 }));
    expect(outcome).toEqual({ ok: false, detail: expect.stringMatching(new RegExp(`^page\\.goto: net::ERR_CONNECTION_REFUSED at http://127\\.0\\.0\\.1:${port}/wbt-smoke-[0-9a-f]{8}$`)) });
    expect(browserErrorText(new Error('at https://m.example/r?jwt=eyJa.eyJb.c#config.p2p.enabled=false and eyJx.eyJy.z\ncall log'))).toBe('at https://m.example/r and <token>');
  }, 20_000);

  test('relay-only ICE with no relay to reach: the override is in force, no media flows, and it fails naming both', async () => {
    const outcome = await checkMeetBrowser(context(), request({ relay: true, timeoutMs: 12_000 }));
    expect(outcome.ok).toBe(false);
    expect(outcome.detail).toMatch(/WeeBeeTalk smoke A received no audio: no inbound audio RTP stream/);
    expect(outcome.detail).toMatch(/WeeBeeTalk smoke B received no video: no inbound video RTP stream/);
  }, 30_000);
});

describe('judging samples', () => {
  const sample = (name: string, at: number, audio: number, video: number, local = 'relay'): ParticipantSample => ({
    name,
    at,
    peers: [
      {
        index: 0,
        connectionState: 'connected',
        audio: { packets: audio, bytes: audio * 100, streams: 1 },
        video: { packets: video, bytes: video * 1000, streams: 1 },
        pair: { local, remote: 'host', relayProtocol: 'tls' },
      },
    ],
    audio: { packets: audio, bytes: audio * 100, streams: 1 },
    video: { packets: video, bytes: video * 1000, streams: 1 },
  });

  test('rising counters over a relay pass; a participant without a peer connection fails by name', () => {
    expect(judgeMedia([sample('A', 0, 10, 10), sample('B', 0, 5, 5)], [sample('A', 2000, 60, 90), sample('B', 2000, 55, 70)], { requireRelay: true })).toEqual({
      ok: true,
      detail: 'A: audio +50 pkt, video +80 pkt, relay over tls in 2.0 s; B: audio +50 pkt, video +65 pkt, relay over tls in 2.0 s',
    });
    const none: ParticipantSample = { name: 'B', at: 2000, peers: [], audio: { packets: 0, bytes: 0, streams: 0 }, video: { packets: 0, bytes: 0, streams: 0 } };
    expect(judgeMedia([sample('B', 0, 0, 0)], [none]).detail).toBe('B has no peer connection (it never started media)');
  });

  test('packets without bytes (or the reverse) is not media', () => {
    const after = sample('A', 2000, 20, 20);
    after.video = { ...after.video, bytes: 10 * 1000 };
    expect(judgeMedia([sample('A', 0, 10, 10)], [after])).toEqual({
      ok: false,
      detail: 'A received no video: inbound-rtp packetsReceived 10 -> 20, bytesReceived 10000 -> 10000 over 2.0 s (peer connection connected)',
    });
  });
});

describe('the Jitsi participants: token and meeting URL', () => {
  const decode = (part: string): unknown => JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));

  test('HS256 as RFC 7515 signs it (header.payload, HMAC-SHA256, base64url without padding)', () => {
    const token = signJwtHs256({ a: 1 }, 'secret');
    const [header, payload, signature] = token.split('.');
    expect(decode(header)).toEqual({ alg: 'HS256', typ: 'JWT' });
    expect(decode(payload)).toEqual({ a: 1 });
    expect(signature).toBe(createHmac('sha256', 'secret').update(`${header}.${payload}`).digest('base64url'));
    expect(token).not.toMatch(/[=+/]/);
  });

  test("the claims Prosody's token verification reads: issuer, audience, room, expiry, the user", () => {
    const token = jitsiToken({
      appId: 'weebeetalk-staging',
      audience: 'RocketChat',
      secret: 's3cret',
      sub: FQDNS.meet,
      room: 'wbt-smoke-0a1b2c3d',
      user: { id: 'smoke-a', name: 'Smoke check A' },
      nowMs: 1_800_000_000_000,
    });
    expect(decode(token.split('.')[1])).toEqual({
      iss: 'weebeetalk-staging',
      aud: 'RocketChat',
      sub: FQDNS.meet,
      room: 'wbt-smoke-0a1b2c3d',
      exp: 1_800_000_600,
      context: { user: { id: 'smoke-a', name: 'Smoke check A' } },
    });
    expect(token).not.toContain('s3cret');
  });

  test('the room is lower case (Prosody compares the claim with the lower-cased room) and new each run', () => {
    const a = smokeRoomName();
    expect(a).toMatch(/^wbt-smoke-[0-9a-f]{8}$/);
    expect(smokeRoomName()).not.toBe(a);
  });

  test('the URL: token in the query, peer-to-peer and the pre-join page off in the hash, TURN only for the relay run', () => {
    const url = new URL(meetRoomUrl('https://meet.example.org', 'wbt-smoke-0a1b2c3d', 'aaa.bbb.ccc', { relay: false }));
    expect(url.pathname).toBe('/wbt-smoke-0a1b2c3d');
    expect(url.searchParams.get('jwt')).toBe('aaa.bbb.ccc');
    const hash = new URLSearchParams(url.hash.slice(1));
    expect(hash.get('config.p2p.enabled')).toBe('false');
    expect(hash.get('config.prejoinConfig.enabled')).toBe('false');
    expect(hash.get('config.forceTurnRelay')).toBeNull();
    for (const [key, value] of Object.entries(MEET_HASH_OVERRIDES)) expect(hash.get(`config.${key}`)).toBe(JSON.stringify(value));
    const relay = new URL(meetRoomUrl('https://meet.example.org:8443', 'r', undefined, { relay: true }));
    expect(relay.searchParams.has('jwt')).toBe(false);
    expect(relay.port).toBe('8443');
    expect(new URLSearchParams(relay.hash.slice(1)).get('config.forceTurnRelay')).toBe('true');
  });
});

describe('the CLI with --browser', () => {
  let fx: SmokeFixture;
  let outputsFile: string;
  beforeAll(async () => {
    fx = await startSmokeFixture();
    // The fixture's outputs plus the prefix the JWT parameters are found under.
    const outputs = JSON.parse(readFileSync(fx.outputsFile, 'utf8')) as Record<string, Record<string, unknown>>;
    outputs[fx.env].ssm_parameter_prefix = '/weebeetalk/smoketest';
    outputsFile = join(mkdtempSync(join(tmpdir(), 'smoke-browser-outputs-')), 'outputs.json');
    writeFileSync(outputsFile, JSON.stringify(outputs));
  });
  afterAll(async () => {
    await fx?.close();
  });

  const only = (results: CheckResult[]): CheckResult[] => results.filter((r) => r.check.startsWith('meet-browser'));
  const otherChecks = ['dns', 'https', 'http-redirect', 'sip', 'sip-tls', 'turn-tls', 'turn-allocate'];

  test('without --browser there is no browser row', async () => {
    const report = await runSmoke({ env: fx.env, outputsFile: fx.outputsFile, skip: otherChecks });
    expect(only(report.results)).toEqual([]);
  });

  test('an unreadable JWT secret fails both rows with the parameter and the reason, and never launches a browser', async () => {
    const asked: string[] = [];
    const report = await runSmoke({
      env: fx.env,
      outputsFile,
      skip: otherChecks,
      browser: true,
      readParameter: (name) => {
        asked.push(name);
        return Promise.reject(new Error('AccessDeniedException'));
      },
    });
    const rows = only(report.results);
    expect(rows.map((r) => `${r.check} ${r.status}`)).toEqual(['meet-browser FAIL', 'meet-browser-turn FAIL']);
    expect(rows[0].detail).toMatch(/^cannot read the Jitsi JWT (secret|application id) from SSM parameter \/weebeetalk\/smoketest\/meet\/jwt-app-(secret|id): AccessDeniedException/);
    expect(asked.sort()).toEqual(['/weebeetalk/smoketest/meet/jwt-app-id', '/weebeetalk/smoketest/meet/jwt-app-secret']);
    expect(report.exitCode).toBe(1);
  });

  test('the CLI: --browser reads the secret with the aws CLI (a fake one on PATH that has no credentials), --skip meet-browser-turn, the usage', async () => {
    const bin = mkdtempSync(join(tmpdir(), 'smoke-browser-'));
    const aws = join(bin, 'aws');
    writeFileSync(aws, ['#!/bin/sh', 'echo "Unable to locate credentials. You can configure credentials by running aws configure." >&2', 'exit 253', ''].join('\n'));
    chmodSync(aws, 0o755);
    const savedPath = process.env.PATH;
    process.env.PATH = `${bin}${delimiter}${savedPath ?? ''}`;
    const printed: string[] = [];
    const io = { out: (t: string) => void printed.push(t), err: (t: string) => void printed.push(t), env: {} };
    try {
      const code = await main([fx.env, '--outputs', outputsFile, '--skip', otherChecks.join(','), '--skip', 'meet-browser-turn', '--browser', '--jwt-audience', 'RocketChat'], io);
      const text = printed.join('');
      expect(text).toMatch(
        /meet-browser +\S+ +FAIL +cannot read the Jitsi JWT (secret|application id) from SSM parameter \/weebeetalk\/smoketest\/meet\/jwt-app-(secret|id): aws ssm get-parameter .* exited with 253: Unable to locate credentials/,
      );
      expect(text).toMatch(/meet-browser-turn +\S+ +SKIP +skipped \(--skip\)/);
      expect(code).toBe(1);
    } finally {
      process.env.PATH = savedPath;
      rmSync(bin, { recursive: true, force: true });
    }
    printed.length = 0;
    expect(await main(['--help'], io)).toBe(0);
    expect(printed.join('')).toMatch(/--browser +two headless Chromium participants/);
  });
});
