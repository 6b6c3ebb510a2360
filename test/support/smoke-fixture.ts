/**
 * A fake deployed stack on 127.0.0.1 for the smoke-check tests: DNS over UDP, HTTPS (Rocket.Chat and Jitsi by
 * Host header), an HTTP redirector, SIP over UDP (answering or silent), SIP over TLS and a TURN relay over TLS,
 * with certificates from a throw-away CA made with the openssl CLI. Every port is ephemeral; nothing leaves the
 * loopback interface.
 */
import { execFileSync } from 'node:child_process';
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import * as dgram from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';
import { crc32 } from 'node:zlib';
import { DIAL_IN_ANSWERS, DIAL_IN_PUBLIC_PATHS, DIAL_IN_ROUTES, PIN_DIGITS, XMPP_MUC_DOMAIN } from '../../config/dial-in';
import { ROLES, type Role } from '../../config/schema';

/** Every role's host name (`chat.example.test`, ...): the fixture serves one host per role of the registry. */
export const FQDNS = Object.fromEntries(ROLES.map((role) => [role, `${role}.example.test`])) as Record<Role, string>;
export const WRONG_NAME = 'other.example.test';
export const LOOPBACK = '127.0.0.1';
export const ROCKET_CHAT_VERSION = '6.10.0';
/** The fake relay's static-auth-secret, and the realm it announces (coturn: realm = the turn FQDN). */
export const TURN_SECRET = 'fixture-turn-secret-0123456789abcdef';
export const TURN_REALM = FQDNS.turn;
/** What the fake relay says it relays from: a private address, as coturn's relay-ip on the instance. */
export const TURN_RELAY = { address: '10.20.0.13', port: 49160 } as const;

export interface KeyPair {
  key: string;
  cert: string;
}

export interface TestPki {
  dir: string;
  caFile: string;
  /** Valid for the three FQDNs. */
  good: KeyPair;
  /** Signed by the same CA, but only for WRONG_NAME. */
  wrong: KeyPair;
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** P-256 keys: generated instantly, unlike RSA. */
export function makeTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'smoke-pki-'));
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(dir, [
    'req',
    '-x509',
    ...ec,
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '30',
    '-subj',
    '/CN=WeeBeeTalk Smoke Test CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  const leaf = (name: string, sans: string[]): KeyPair => {
    writeFileSync(
      join(dir, `${name}.ext`),
      [`subjectAltName=${sans.map((s) => `DNS:${s}`).join(',')}`, 'basicConstraints=CA:FALSE', 'keyUsage=critical,digitalSignature', 'extendedKeyUsage=serverAuth', ''].join('\n'),
    );
    openssl(dir, ['req', '-new', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${sans[0]}`]);
    openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '30', '-extfile', `${name}.ext`, '-out', `${name}.pem`]);
    return { key: readFileSync(join(dir, `${name}.key`), 'utf8'), cert: readFileSync(join(dir, `${name}.pem`), 'utf8') };
  };
  return {
    dir,
    caFile: join(dir, 'ca.pem'),
    good: leaf('good', Object.values(FQDNS)),
    wrong: leaf('wrong', [WRONG_NAME]),
  };
}

/** A DNS answer built byte by byte: enough of RFC 1035 for A lookups by c-ares. */
export function dnsResponse(query: Buffer, records: Readonly<Record<string, string>>): Buffer | undefined {
  if (query.length < 12 || query.readUInt16BE(4) !== 1) return undefined;
  const labels: string[] = [];
  let offset = 12;
  while (offset < query.length && query[offset] !== 0) {
    const len = query[offset];
    labels.push(query.subarray(offset + 1, offset + 1 + len).toString('ascii'));
    offset += 1 + len;
  }
  const questionEnd = offset + 5; // zero label, QTYPE, QCLASS
  if (questionEnd > query.length) return undefined;
  const qtype = query.readUInt16BE(offset + 1);
  const ip = records[labels.join('.').toLowerCase()];
  const answers = ip !== undefined && qtype === 1 ? [ip] : [];
  const rcode = ip === undefined ? 3 : 0; // NXDOMAIN for names we do not serve, NODATA for other types
  const header = Buffer.alloc(12);
  header.writeUInt16BE(query.readUInt16BE(0), 0); // same id
  header.writeUInt16BE(0x8000 | (query.readUInt16BE(2) & 0x7900) | 0x0080 | rcode, 2); // QR, echoed opcode+RD, RA
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(answers.length, 6);
  const records4 = answers.map((a) => {
    const rr = Buffer.alloc(16);
    rr.writeUInt16BE(0xc00c, 0); // pointer to the question name
    rr.writeUInt16BE(1, 2); // A
    rr.writeUInt16BE(1, 4); // IN
    rr.writeUInt32BE(60, 6); // TTL
    rr.writeUInt16BE(4, 10);
    a.split('.').forEach((octet, i) => rr.writeUInt8(Number(octet), 12 + i));
    return rr;
  });
  return Buffer.concat([header, query.subarray(12, questionEnd), ...records4]);
}

/** The numbers the fake mapper answers by default (as sip.dialIn.numbers { number, country: "ID" } become). */
export const FIXTURE_NUMBERS = [
  { countryCode: 'id', tollFree: false, formattedNumber: '+62 21 5555 0100' },
  { countryCode: 'sg', tollFree: true, formattedNumber: '800 555 0100' },
] as const;

/**
 * What the fake meet host does with dial-in, as the tests set it (resetDialIn() restores the healthy one): the web
 * container's forwards of the two public paths to a mapper, or their failures.
 */
export interface FixtureDialIn {
  /**
   * The conference-code path: `mapper` forwards it (a PIN as the mapper makes them), 502 the mapper is down, 404 or
   * `page` no forward (Jitsi's nginx then takes the last segment for a meeting), `bad-luhn` an id whose last digit is
   * wrong, `short-id` an 8-digit id, `other-room` the answer for another room.
   */
  conferenceCode: 'mapper' | 502 | 404 | 'page' | 'bad-luhn' | 'short-id' | 'other-room';
  /** What the numbers path answers (the mapper's list), or its failure. */
  numbers: readonly { countryCode: string; tollFree: boolean; formattedNumber: string }[] | 502 | 404;
  /**
   * /room: Jitsi's page, or forwarded to the mapper, which answers a stranger "forbidden" (`forwarded`), or answers it
   * as if it were the pbx host (`answered`: a mapper that trusts the web container's address).
   */
  room: 'page' | 'forwarded' | 'answered';
  /** The whole public prefix forwarded to the mapper (so the mapper's /room is reachable below it). */
  prefixForwarded: boolean;
}

export const HEALTHY_DIAL_IN: Readonly<FixtureDialIn> = { conferenceCode: 'mapper', numbers: FIXTURE_NUMBERS, room: 'page', prefixForwarded: false };

/*
 * The fake mapper's PINs: HMAC-SHA256 of the room's address, then a Luhn digit, written apart from
 * scripts/smoke/dial-in.ts on purpose (a mistake there cannot be mirrored here and pass).
 */
const FIXTURE_PIN_KEY = 'fixture-dial-in-pin-key-0123456789';

function luhn(body: string): string {
  const sum = body
    .split('')
    .reverse()
    .map((c, i) => (i % 2 === 0 ? [0, 2, 4, 6, 8, 1, 3, 5, 7, 9][Number(c)] : Number(c)))
    .reduce((a, b) => a + b, 0);
  return String((10 - (sum % 10)) % 10);
}

export function fixturePin(conference: string): string {
  const low = 10 ** (PIN_DIGITS - 2);
  const n = createHmac('sha256', FIXTURE_PIN_KEY).update(conference).digest().readBigUInt64BE(0);
  const body = String(BigInt(low) + (n % BigInt(9 * low)));
  return body + luhn(body);
}

const JITSI_PAGE = '<!DOCTYPE html><html><head><title>Jitsi Meet</title></head><body></body></html>';
const json = (res: http.ServerResponse, status: number, value: unknown): void => void res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(value));
const text = (res: http.ServerResponse, status: number, line: string): void => void res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' }).end(`${line}\n`);
const nginx502 = (res: http.ServerResponse): void =>
  void res.writeHead(502, { 'Content-Type': 'text/html' }).end('<html><body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>');

/** The mapper's own routes as the real one answers them to the web container's address (not the pbx's: /room is refused). */
function mapperHandler(route: string, query: URLSearchParams, res: http.ServerResponse, dialIn: FixtureDialIn): void {
  if (route === DIAL_IN_ROUTES.conferenceCode) {
    const asked = query.get('conference') ?? '';
    const [room, muc] = asked.split('@');
    if (muc !== XMPP_MUC_DOMAIN || !/^[a-z0-9][a-z0-9._-]{0,127}$/.test(room ?? '')) return json(res, 400, { message: `conference must be a room of ${XMPP_MUC_DOMAIN}` });
    const conference = dialIn.conferenceCode === 'other-room' ? `someone-else@${XMPP_MUC_DOMAIN}` : asked;
    let id = fixturePin(conference);
    if (dialIn.conferenceCode === 'bad-luhn') id = id.slice(0, -1) + String((Number(id.slice(-1)) + 1) % 10);
    if (dialIn.conferenceCode === 'short-id') id = id.slice(0, -1);
    return json(res, 200, { message: 'Successfully retrieved conference mapping', id: Number(id), conference });
  }
  if (route === DIAL_IN_ROUTES.numbers) return typeof dialIn.numbers === 'number' ? nginx502(res) : json(res, 200, dialIn.numbers);
  if (route === DIAL_IN_ROUTES.room) return dialIn.room === 'answered' ? text(res, 200, DIAL_IN_ANSWERS.invalid) : text(res, 403, 'forbidden');
  return json(res, 404, { message: 'not found' });
}

/** Jitsi's web container on meet.*: the dial-in forwards (by exact path, as the nginx include), else Jitsi's page for any /<name>. */
function meetHandler(req: http.IncomingMessage, res: http.ServerResponse, dialIn: FixtureDialIn): void {
  const url = new URL(req.url ?? '/', 'https://meet');
  const prefix = DIAL_IN_PUBLIC_PATHS.conferenceCode.slice(0, DIAL_IN_PUBLIC_PATHS.conferenceCode.lastIndexOf('/'));
  if (url.pathname === DIAL_IN_PUBLIC_PATHS.conferenceCode && dialIn.conferenceCode !== 'page') {
    if (dialIn.conferenceCode === 502) return nginx502(res);
    if (dialIn.conferenceCode === 404) return void res.writeHead(404, { 'Content-Type': 'text/html' }).end('<html><body>404 Not Found</body></html>');
    return mapperHandler(DIAL_IN_ROUTES.conferenceCode, url.searchParams, res, dialIn);
  }
  if (url.pathname === DIAL_IN_PUBLIC_PATHS.numbers && dialIn.numbers !== 404) return mapperHandler(DIAL_IN_ROUTES.numbers, url.searchParams, res, dialIn);
  if (url.pathname === DIAL_IN_ROUTES.room && dialIn.room !== 'page') return mapperHandler(DIAL_IN_ROUTES.room, url.searchParams, res, dialIn);
  if (url.pathname.startsWith(`${prefix}/`) && dialIn.prefixForwarded) return mapperHandler(url.pathname.slice(prefix.length), url.searchParams, res, dialIn);
  // Jitsi's nginx: /<name> is a meeting (index.html); /<a>/<b>... is rewritten to /<b>... (multi-domain) and so on.
  if (url.pathname === '/' || /^(\/[^/?&:'"]+)+$/.test(url.pathname)) return void res.writeHead(200, { 'Content-Type': 'text/html' }).end(JITSI_PAGE);
  res.writeHead(404).end('not found');
}

/** Rocket.Chat on chat.*, Jitsi Meet on meet.*, chosen by Host as the real reverse proxies do. */
function appHandler(dialIn: FixtureDialIn): http.RequestListener {
  return (req, res) => {
    const host = (req.headers.host ?? '').replace(/:\d+$/, '');
    if (host === FQDNS.chat && req.url === '/api/info') {
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ version: ROCKET_CHAT_VERSION, success: true }));
    } else if (host === FQDNS.meet) {
      meetHandler(req, res, dialIn);
    } else {
      res.writeHead(404).end('not found');
    }
  };
}

export interface SipResponder {
  port: number;
  /** Requests received, as text. */
  requests: string[];
}

/** Answers OPTIONS like Asterisk would (to the source address: rport), or stays silent. */
function startSip(answer: boolean, sockets: dgram.Socket[]): Promise<SipResponder> {
  const socket = dgram.createSocket('udp4');
  sockets.push(socket);
  const responder: SipResponder = { port: 0, requests: [] };
  socket.on('message', (msg, rinfo) => {
    const text = msg.toString('utf8');
    responder.requests.push(text);
    if (!answer) return;
    const header = (name: string): string => text.split('\r\n').find((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`)) ?? '';
    const reply = [
      'SIP/2.0 200 OK',
      `${header('Via')};received=${rinfo.address}`,
      header('From'),
      `${header('To')};tag=fake-asterisk`,
      header('Call-ID'),
      header('CSeq'),
      'Server: Asterisk PBX 20.0.0 (test)',
      'Allow: INVITE, ACK, CANCEL, OPTIONS, BYE',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');
    socket.send(reply, rinfo.port, rinfo.address);
  });
  return new Promise((resolve) =>
    socket.bind(0, LOOPBACK, () => {
      responder.port = socket.address().port;
      resolve(responder);
    }),
  );
}

/*
 * A minimal TURN-over-TLS relay (RFC 8656 on a TLS stream, long-term credentials of RFC 8489 §9.2 with coturn's
 * use-auth-secret): written apart from scripts/smoke/turn.ts on purpose, so that a mistake in the smoke check's
 * STUN encoding cannot be mirrored here and pass.
 */

const COOKIE = Buffer.from([0x21, 0x12, 0xa4, 0x42]);

interface Received {
  type: number;
  txid: Buffer;
  raw: Buffer;
  attrs: { type: number; value: Buffer; at: number }[];
}

/** What the fake relay saw, one entry per request, for the tests to assert on. */
export interface TurnRequestLog {
  method: 'Allocate' | 'Refresh' | 'other';
  username?: string;
  /** undefined: no MESSAGE-INTEGRITY; false: it did not verify with the key of USERNAME (the secret's password). */
  integrity?: boolean;
  /** undefined: no FINGERPRINT. */
  fingerprint?: boolean;
  requestedTransport?: number;
  lifetime?: number;
  /** The answer's class and code: "success", "401", "438", ... */
  answer: string;
}

export interface TurnResponder {
  port: number;
  requests: TurnRequestLog[];
  /** Allocations alive now (a Refresh with LIFETIME 0 or a closed connection ends one). */
  liveAllocations(): number;
  close(): Promise<void>;
}

export interface TurnResponderOptions {
  pair: KeyPair;
  secret: string;
  realm?: string;
  /** Allocate without checking credentials: an open relay. */
  open?: boolean;
  /** Sign the answers with another key (a relay that is not the one the credentials were for, or a forgery). */
  forgeIntegrity?: boolean;
}

function parseStun(raw: Buffer): Received {
  const attrs: Received['attrs'] = [];
  for (let at = 20; at + 4 <= raw.length;) {
    const len = raw.readUInt16BE(at + 2);
    attrs.push({ type: raw.readUInt16BE(at), value: raw.subarray(at + 4, at + 4 + len), at });
    at += 4 + ((len + 3) & ~3);
  }
  return { type: raw.readUInt16BE(0), txid: raw.subarray(8, 20), raw, attrs };
}

/** The raw bytes before offset `at`, its length field counting `extra` more bytes after them. */
function prefixWithLength(raw: Buffer, at: number, extra: number): Buffer {
  const copy = Buffer.from(raw.subarray(0, at));
  copy.writeUInt16BE(at - 20 + extra, 2);
  return copy;
}

function stunAttr(type: number, value: Buffer): Buffer {
  const padded = Buffer.alloc(4 + ((value.length + 3) & ~3));
  padded.writeUInt16BE(type, 0);
  padded.writeUInt16BE(value.length, 2);
  value.copy(padded, 4);
  return padded;
}

function xorAddress(address: string, port: number): Buffer {
  const v = Buffer.alloc(8);
  v[1] = 0x01;
  v.writeUInt16BE(port ^ 0x2112, 2);
  address.split('.').forEach((octet, i) => (v[4 + i] = Number(octet) ^ COOKIE[i]));
  return v;
}

function buildStun(type: number, txid: Buffer, attrs: Buffer[], key?: Buffer): Buffer {
  let msg = Buffer.concat([Buffer.alloc(4), COOKIE, txid, ...attrs]);
  msg.writeUInt16BE(type, 0);
  if (key)
    msg = Buffer.concat([
      msg,
      stunAttr(
        0x0008,
        createHmac('sha1', key)
          .update(prefixWithLength(msg, msg.length, 24))
          .digest(),
      ),
    ]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE((crc32(prefixWithLength(msg, msg.length, 8)) ^ 0x5354554e) >>> 0, 0);
  msg = Buffer.concat([msg, stunAttr(0x8028, crc)]);
  msg.writeUInt16BE(msg.length - 20, 2);
  return msg;
}

function errorAttr(code: number, reason: string): Buffer {
  return stunAttr(0x0009, Buffer.concat([Buffer.from([0, 0, Math.floor(code / 100), code % 100]), Buffer.from(reason)]));
}

/** coturn's use-auth-secret: the password of a REST username is base64(HMAC-SHA1(secret, username)). */
function restPassword(secret: string, username: string): string {
  return createHmac('sha1', secret).update(username).digest('base64');
}

export function startTurnResponder(options: TurnResponderOptions): Promise<TurnResponder> {
  const realm = options.realm ?? TURN_REALM;
  const requests: TurnRequestLog[] = [];
  let live = 0;
  const connections = new Set<tls.TLSSocket>();
  const server = tls.createServer({ ...options.pair, minVersion: 'TLSv1.2' }, (socket) => {
    connections.add(socket);
    const nonce = randomBytes(8).toString('hex');
    let allocated = false;
    let pending = Buffer.alloc(0);
    socket.on('error', () => undefined);
    socket.on('close', () => {
      connections.delete(socket);
      if (allocated) live -= 1;
      allocated = false;
    });
    const answer = (msg: Received, log: TurnRequestLog, type: number, attrs: Buffer[], key: Buffer | undefined, what: string): void => {
      log.answer = what;
      requests.push(log);
      socket.write(buildStun(type, msg.txid, attrs, key));
    };
    const handle = (msg: Received): void => {
      const get = (type: number): Buffer | undefined => msg.attrs.find((a) => a.type === type)?.value;
      const method = msg.type & 0x3eef;
      const log: TurnRequestLog = { method: method === 0x0003 ? 'Allocate' : method === 0x0004 ? 'Refresh' : 'other', answer: '' };
      const fp = msg.attrs.find((a) => a.type === 0x8028);
      if (fp) log.fingerprint = fp.value.readUInt32BE(0) === (crc32(prefixWithLength(msg.raw, fp.at, 8)) ^ 0x5354554e) >>> 0;
      log.requestedTransport = get(0x0019)?.[0];
      log.lifetime = get(0x000d)?.readUInt32BE(0);
      const errorType = msg.type | 0x0110;
      if (log.method === 'other' || log.fingerprint === false) return answer(msg, log, errorType, [errorAttr(400, 'Bad Request')], undefined, '400');
      const challenge = (code: number, reason: string): void =>
        answer(msg, log, errorType, [errorAttr(code, reason), stunAttr(0x0015, Buffer.from(nonce)), stunAttr(0x0014, Buffer.from(realm))], undefined, String(code));
      let key: Buffer | undefined;
      if (!options.open) {
        const user = get(0x0006)?.toString('utf8');
        const mi = msg.attrs.find((a) => a.type === 0x0008);
        log.username = user;
        if (user === undefined || mi === undefined) return challenge(401, 'Unauthorized');
        key = createHash('md5')
          .update(`${user}:${realm}:${restPassword(options.secret, user)}`)
          .digest();
        const want = createHmac('sha1', key)
          .update(prefixWithLength(msg.raw, mi.at, 24))
          .digest();
        log.integrity = mi.value.length === 20 && timingSafeEqual(mi.value, want);
        if (get(0x0015)?.toString('utf8') !== nonce) return challenge(438, 'Stale Nonce');
        // coturn: the username's timestamp is the expiry; a past one is refused like a wrong password.
        const expiry = Number(/^(\d+)/.exec(user)?.[1] ?? 0);
        if (!log.integrity || get(0x0014)?.toString('utf8') !== realm || expiry * 1000 < Date.now()) return challenge(401, 'Unauthorized');
        if (options.forgeIntegrity) key = createHash('md5').update(`${user}:${realm}:forged`).digest();
      }
      if (log.method === 'Allocate') {
        if (allocated) return answer(msg, log, errorType, [errorAttr(437, 'Allocation Mismatch')], key, '437');
        if (log.requestedTransport !== 17) return answer(msg, log, errorType, [errorAttr(442, 'Unsupported Transport Protocol')], key, '442');
        allocated = true;
        live += 1;
        const remote = socket.remoteAddress ?? LOOPBACK;
        const lifetime = Buffer.alloc(4);
        lifetime.writeUInt32BE(600, 0);
        return answer(
          msg,
          log,
          0x0103,
          [stunAttr(0x0016, xorAddress(TURN_RELAY.address, TURN_RELAY.port)), stunAttr(0x0020, xorAddress(remote, socket.remotePort ?? 0)), stunAttr(0x000d, lifetime)],
          key,
          'success',
        );
      }
      if (!allocated) return answer(msg, log, errorType, [errorAttr(437, 'Allocation Mismatch')], key, '437');
      if (log.lifetime === 0) {
        allocated = false;
        live -= 1;
      }
      const lifetime = Buffer.alloc(4);
      lifetime.writeUInt32BE(log.lifetime ?? 600, 0);
      return answer(msg, log, 0x0104, [stunAttr(0x000d, lifetime)], key, 'success');
    };
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 20 && pending.length >= 20 + pending.readUInt16BE(2)) {
        const size = 20 + pending.readUInt16BE(2);
        const raw = Buffer.from(pending.subarray(0, size));
        pending = pending.subarray(size);
        if ((raw[0] & 0xc0) !== 0 || !raw.subarray(4, 8).equals(COOKIE)) {
          socket.destroy();
          return;
        }
        handle(parseStun(raw));
      }
    });
  });
  return listen(server).then((port) => ({
    port,
    requests,
    liveAllocations: () => live,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of connections) socket.destroy();
        server.close(() => resolve());
      }),
  }));
}

export interface SmokeFixture {
  pki: TestPki;
  dnsPort: number;
  dnsQueries: string[];
  httpsPort: number;
  /** HTTPS with the certificate for WRONG_NAME. */
  wrongHttpsPort: number;
  httpPort: number;
  sip: SipResponder;
  silentSip: SipResponder;
  sipsPort: number;
  /** The TURN relay (secret TURN_SECRET, realm TURN_REALM, certificate valid for every FQDN). */
  turn: TurnResponder;
  /** What the meet host does with dial-in now: a test changes it and calls resetDialIn() after. */
  dialIn: FixtureDialIn;
  resetDialIn(): void;
  /** A port where something accepts connections (the conference mapper's port left open to the world). */
  dialInOpenPort: number;
  /** A port nothing listens on (the mapper's port closed: refused). */
  dialInClosedPort: number;
  /** Outputs file in cdktf's { "<env>": {...} } shape, all IPs 127.0.0.1. */
  outputsFile: string;
  env: string;
  close(): Promise<void>;
}

function listen(server: net.Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, LOOPBACK, () => resolve((server.address() as AddressInfo).port));
  });
}

export async function startSmokeFixture(): Promise<SmokeFixture> {
  const pki = makeTestPki();
  const sockets: dgram.Socket[] = [];
  const servers: net.Server[] = [];

  const records = Object.fromEntries(Object.values(FQDNS).map((fqdn) => [fqdn, LOOPBACK]));
  const dnsQueries: string[] = [];
  const dns = dgram.createSocket('udp4');
  sockets.push(dns);
  dns.on('message', (msg, rinfo) => {
    const reply = dnsResponse(msg, records);
    dnsQueries.push(msg.toString('latin1'));
    if (reply) dns.send(reply, rinfo.port, rinfo.address);
  });
  const dnsPort = await new Promise<number>((resolve) => dns.bind(0, LOOPBACK, () => resolve(dns.address().port)));

  const dialIn: FixtureDialIn = { ...HEALTHY_DIAL_IN };
  const httpsServer = https.createServer({ ...pki.good }, appHandler(dialIn));
  const wrongHttps = https.createServer({ ...pki.wrong }, appHandler(dialIn));
  const redirect = http.createServer((req, res) => {
    const host = (req.headers.host ?? '').replace(/:\d+$/, '');
    res.writeHead(301, { Location: `https://${host}${req.url ?? '/'}` }).end();
  });
  // Asterisk's TLS transport: a handshake is all the check needs.
  const sips = tls.createServer({ ...pki.good }, (socket) => socket.end());
  // The conference mapper's port open to the world: it accepts, and the check must fail on the connection alone.
  const openMapper = net.createServer((socket) => socket.destroy());
  servers.push(httpsServer, wrongHttps, redirect, sips, openMapper);
  const [httpsPort, wrongHttpsPort, httpPort, sipsPort, dialInOpenPort] = await Promise.all(servers.map(listen));
  const closed = net.createServer();
  const dialInClosedPort = await listen(closed);
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  const [sip, silentSip] = await Promise.all([startSip(true, sockets), startSip(false, sockets)]);
  const turn = await startTurnResponder({ pair: pki.good, secret: TURN_SECRET });

  const env = 'smoketest';
  const outputsFile = join(pki.dir, 'outputs.json');
  writeFileSync(
    outputsFile,
    JSON.stringify({
      [env]: {
        ...Object.fromEntries(ROLES.map((role) => [`${role}_fqdn`, FQDNS[role]])),
        ...Object.fromEntries(ROLES.map((role) => [`${role}_public_ip`, LOOPBACK])),
        chat_url: `https://${FQDNS.chat}`,
        meet_url: `https://${FQDNS.meet}`,
        unrelated_output: 'ignored',
      },
    }),
  );

  return {
    pki,
    dnsPort,
    dnsQueries,
    httpsPort,
    wrongHttpsPort,
    httpPort,
    sip,
    silentSip,
    sipsPort,
    turn,
    dialIn,
    resetDialIn: () => void Object.assign(dialIn, HEALTHY_DIAL_IN),
    dialInOpenPort,
    dialInClosedPort,
    outputsFile,
    env,
    async close() {
      await turn.close();
      await Promise.all(
        servers.map(
          (s) =>
            new Promise<void>((resolve) => {
              // Keep-alive sockets would otherwise hold close() (and jest) open.
              if (s instanceof http.Server || s instanceof https.Server) s.closeAllConnections();
              s.close(() => resolve());
            }),
        ),
      );
      await Promise.all(sockets.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
      rmSync(pki.dir, { recursive: true, force: true });
    },
  };
}
