/**
 * The TURN relay's checks (coturn on the turn host, TURN over TLS on 443): the TLS handshake with the certificate
 * judged as for HTTPS, and a real allocation: an Allocate answered 401 with REALM and NONCE, the same Allocate
 * with time-limited credentials (the ones Prosody's mod_external_services hands to meeting participants) answered
 * with an XOR-RELAYED-ADDRESS, then released by a Refresh with LIFETIME 0. STUN (RFC 5389/8489) and TURN
 * (RFC 5766/8656) are encoded here with the Node standard library only; over TLS the messages come back to back.
 */
import { spawn } from 'node:child_process';
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type * as tls from 'node:tls';
import { crc32 } from 'node:zlib';
import { errorCode, errorText, type CheckContext, type Outcome } from './check';
import { connectTls, judgeCertificate } from './tls';

export const STUN_MAGIC_COOKIE = 0x2112a442;
const HEADER_BYTES = 20;
/** CRC-32 of the message XORed with "STUN" (RFC 5389 §15.5). */
const FINGERPRINT_XOR = 0x5354554e;

export const STUN_TYPE = {
  BINDING_REQUEST: 0x0001,
  ALLOCATE_REQUEST: 0x0003,
  ALLOCATE_SUCCESS: 0x0103,
  ALLOCATE_ERROR: 0x0113,
  REFRESH_REQUEST: 0x0004,
  REFRESH_SUCCESS: 0x0104,
  REFRESH_ERROR: 0x0114,
} as const;

export const STUN_ATTR = {
  USERNAME: 0x0006,
  MESSAGE_INTEGRITY: 0x0008,
  ERROR_CODE: 0x0009,
  LIFETIME: 0x000d,
  REALM: 0x0014,
  NONCE: 0x0015,
  XOR_RELAYED_ADDRESS: 0x0016,
  REQUESTED_TRANSPORT: 0x0019,
  XOR_MAPPED_ADDRESS: 0x0020,
  SOFTWARE: 0x8022,
  FINGERPRINT: 0x8028,
} as const;

/** IANA protocol number of UDP: what WebRTC relays (REQUESTED-TRANSPORT). */
const UDP = 17;

export interface StunAttribute {
  type: number;
  value: Buffer;
}

export interface StunMessage {
  type: number;
  /** 12 bytes. */
  transactionId: Buffer;
  attributes: StunAttribute[];
}

export interface DecodedStun extends StunMessage {
  /** The message as received, for MESSAGE-INTEGRITY and FINGERPRINT. */
  raw: Buffer;
  /** Where each attribute (its header) starts in `raw`, in order. */
  offsets: number[];
}

function header(type: number, length: number, transactionId: Buffer): Buffer {
  if (transactionId.length !== 12) throw new Error('a STUN transaction ID is 12 bytes');
  const h = Buffer.alloc(HEADER_BYTES);
  h.writeUInt16BE(type, 0);
  h.writeUInt16BE(length, 2);
  h.writeUInt32BE(STUN_MAGIC_COOKIE, 4);
  transactionId.copy(h, 8);
  return h;
}

/** Type, length, value, then zero bytes up to a multiple of four (the length does not count them). */
function encodeAttribute(a: StunAttribute): Buffer {
  const out = Buffer.alloc(4 + Math.ceil(a.value.length / 4) * 4);
  out.writeUInt16BE(a.type, 0);
  out.writeUInt16BE(a.value.length, 2);
  a.value.copy(out, 4);
  return out;
}

/** A copy of `prefix` (a message cut just before an attribute) whose length field counts `trailing` more bytes. */
function withLength(prefix: Buffer, trailing: number): Buffer {
  const copy = Buffer.from(prefix);
  copy.writeUInt16BE(prefix.length - HEADER_BYTES + trailing, 2);
  return copy;
}

/**
 * RFC 5389 §15.4: HMAC-SHA1 over the message up to (not including) MESSAGE-INTEGRITY, its header's length field
 * already counting the 24 bytes of the MESSAGE-INTEGRITY attribute (and nothing after it).
 */
export function messageIntegrity(beforeIntegrity: Buffer, key: Buffer): Buffer {
  return createHmac('sha1', key).update(withLength(beforeIntegrity, 24)).digest();
}

/** RFC 5389 §15.5: CRC-32 of the message up to FINGERPRINT, the length counting its 8 bytes, XOR 0x5354554e. */
export function fingerprint(beforeFingerprint: Buffer): number {
  return (crc32(withLength(beforeFingerprint, 8)) ^ FINGERPRINT_XOR) >>> 0;
}

export function encodeStun(message: StunMessage, options: { integrityKey?: Buffer; fingerprint?: boolean } = {}): Buffer {
  const body = Buffer.concat(message.attributes.map(encodeAttribute));
  let out = Buffer.concat([header(message.type, body.length, message.transactionId), body]);
  if (options.integrityKey !== undefined) {
    out = Buffer.concat([out, encodeAttribute({ type: STUN_ATTR.MESSAGE_INTEGRITY, value: messageIntegrity(out, options.integrityKey) })]);
  }
  if (options.fingerprint) {
    const value = Buffer.alloc(4);
    value.writeUInt32BE(fingerprint(out), 0);
    out = Buffer.concat([out, encodeAttribute({ type: STUN_ATTR.FINGERPRINT, value })]);
  }
  out.writeUInt16BE(out.length - HEADER_BYTES, 2);
  return out;
}

/** Parses one whole STUN message; throws on anything else (wrong cookie, length, truncated attribute). */
export function decodeStun(raw: Buffer): DecodedStun {
  if (raw.length < HEADER_BYTES) throw new Error(`a STUN message has a 20-byte header, got ${raw.length} bytes`);
  const type = raw.readUInt16BE(0);
  const length = raw.readUInt16BE(2);
  if ((type & 0xc000) !== 0) throw new Error(`not a STUN message (first bits ${(type >> 14).toString(2)})`);
  if (raw.readUInt32BE(4) !== STUN_MAGIC_COOKIE) throw new Error(`not a STUN message (magic cookie 0x${raw.readUInt32BE(4).toString(16)})`);
  if (length % 4 !== 0 || HEADER_BYTES + length !== raw.length) throw new Error(`STUN length ${length} does not match the ${raw.length - HEADER_BYTES} bytes after the header`);
  const attributes: StunAttribute[] = [];
  const offsets: number[] = [];
  let offset = HEADER_BYTES;
  while (offset < raw.length) {
    if (offset + 4 > raw.length) throw new Error('truncated STUN attribute header');
    const attrType = raw.readUInt16BE(offset);
    const attrLength = raw.readUInt16BE(offset + 2);
    if (offset + 4 + attrLength > raw.length) throw new Error(`STUN attribute 0x${attrType.toString(16).padStart(4, '0')} runs past the end of the message`);
    offsets.push(offset);
    attributes.push({ type: attrType, value: raw.subarray(offset + 4, offset + 4 + attrLength) });
    offset += 4 + Math.ceil(attrLength / 4) * 4;
  }
  return { type, transactionId: raw.subarray(8, 20), attributes, raw, offsets };
}

export function attribute(message: StunMessage, type: number): Buffer | undefined {
  return message.attributes.find((a) => a.type === type)?.value;
}

function textAttribute(message: StunMessage, type: number): string | undefined {
  return attribute(message, type)?.toString('utf8');
}

/** Whether MESSAGE-INTEGRITY verifies with `key`; undefined when the message has none. */
export function verifyIntegrity(message: DecodedStun, key: Buffer): boolean | undefined {
  const index = message.attributes.findIndex((a) => a.type === STUN_ATTR.MESSAGE_INTEGRITY);
  if (index < 0) return undefined;
  const got = message.attributes[index].value;
  const want = messageIntegrity(message.raw.subarray(0, message.offsets[index]), key);
  return got.length === want.length && timingSafeEqual(got, want);
}

/** Whether FINGERPRINT (the last attribute) matches; undefined when the message has none. */
export function verifyFingerprint(message: DecodedStun): boolean | undefined {
  const last = message.attributes.length - 1;
  if (last < 0 || message.attributes[last].type !== STUN_ATTR.FINGERPRINT) return undefined;
  const value = message.attributes[last].value;
  return value.length === 4 && value.readUInt32BE(0) === fingerprint(message.raw.subarray(0, message.offsets[last]));
}

/**
 * SASLprep (RFC 4013) as far as STUN passwords need it: the characters mapped to nothing are dropped, the non-ASCII
 * spaces become spaces, then NFKC. The prohibited-character and bidi checks are left out: the TURN credentials
 * this tool computes are ASCII (a number and base64), which SASLprep leaves alone.
 */
export function saslPrep(text: string): string {
  // RFC 3454 table B.1 (some are combining marks: compared by code point, not in a regular expression class).
  const mappedToNothing = (c: number): boolean =>
    c === 0xad || c === 0x34f || c === 0x1806 || (c >= 0x180b && c <= 0x180d) || (c >= 0x200b && c <= 0x200d) || c === 0x2060 || (c >= 0xfe00 && c <= 0xfe0f) || c === 0xfeff;
  return Array.from(text)
    .filter((ch) => !mappedToNothing(ch.codePointAt(0) ?? 0))
    .join('')
    .replace(/[\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]/g, ' ')
    .normalize('NFKC');
}

/** The long-term credential key (RFC 5389 §15.4): MD5(username ":" realm ":" SASLprep(password)). */
export function longTermKey(username: string, realm: string, password: string): Buffer {
  return createHash('md5')
    .update(`${username}:${realm}:${saslPrep(password)}`, 'utf8')
    .digest();
}

export interface StunAddress {
  family: 4 | 6;
  address: string;
  port: number;
}

/** XOR-MAPPED-ADDRESS / XOR-RELAYED-ADDRESS: the port XOR the cookie's top half, the address XOR cookie (+ ID). */
export function decodeXorAddress(value: Buffer, transactionId: Buffer): StunAddress {
  if (value.length < 8) throw new Error('XOR address attribute shorter than 8 bytes');
  const family = value[1];
  const port = value.readUInt16BE(2) ^ (STUN_MAGIC_COOKIE >>> 16);
  const cookie = Buffer.alloc(4);
  cookie.writeUInt32BE(STUN_MAGIC_COOKIE, 0);
  const mask = Buffer.concat([cookie, transactionId]);
  if (family === 0x01) {
    const octets = [...value.subarray(4, 8)].map((b, i) => b ^ mask[i]);
    return { family: 4, address: octets.join('.'), port };
  }
  if (family === 0x02 && value.length >= 20) {
    const bytes = Buffer.from([...value.subarray(4, 20)].map((b, i) => b ^ mask[i]));
    const groups = Array.from({ length: 8 }, (_, i) => bytes.readUInt16BE(i * 2).toString(16));
    // The URL parser writes IPv6 addresses in their canonical compressed form (RFC 5952).
    return { family: 6, address: new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1), port };
  }
  throw new Error(`unknown address family 0x${family.toString(16)}`);
}

function formatAddress(a: StunAddress): string {
  return a.family === 6 ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}

export interface StunError {
  code: number;
  reason: string;
}

export function decodeErrorCode(message: StunMessage): StunError | undefined {
  const value = attribute(message, STUN_ATTR.ERROR_CODE);
  if (value === undefined || value.length < 4) return undefined;
  return { code: (value[2] & 0x07) * 100 + value[3], reason: value.subarray(4).toString('utf8') };
}

/** Printable start of unexpected bytes, so "HTTP/1.1 400 Bad Request" is recognisable. */
function describeBytes(data: Buffer): string {
  const head = data.subarray(0, 32);
  const printable = [...head].every((b) => b === 0x0d || b === 0x0a || (b >= 0x20 && b < 0x7f));
  return printable ? `"${head.toString('latin1').replace(/\r?\n/g, ' ').trim()}"` : `0x${head.subarray(0, 8).toString('hex')}`;
}

/**
 * Splits a TURN-over-TCP/TLS byte stream into STUN messages (RFC 8656 §12.5): each one 20 + length bytes,
 * back to back. Throws on anything else (a web server answering, say): ChannelData, the stream's other framing,
 * comes only on a channel the client bound, and this client binds none ("HTTP" would even pass for channel 0x4854).
 */
export class StunFramer {
  private pending: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Buffer[] {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const messages: Buffer[] = [];
    while (this.pending.length >= 4) {
      // A STUN message starts with two zero bits, and its bytes 4-7 are the magic cookie.
      if (this.pending[0] >> 6 !== 0 || (this.pending.length >= 8 && this.pending.readUInt32BE(4) !== STUN_MAGIC_COOKIE)) {
        throw new Error(`not TURN: the server sent ${describeBytes(this.pending)}`);
      }
      const size = HEADER_BYTES + this.pending.readUInt16BE(2);
      if (this.pending.length < size) break;
      messages.push(Buffer.from(this.pending.subarray(0, size)));
      this.pending = this.pending.subarray(size);
    }
    return messages;
  }
}

/** Requests and their responses (matched by transaction ID) over one TLS connection. */
class StunConnection {
  private readonly waiting = new Map<string, { resolve(m: DecodedStun): void; reject(e: Error): void }>();
  private failure?: Error;
  private received = 0;

  constructor(private readonly socket: tls.TLSSocket) {
    const framer = new StunFramer();
    socket.on('data', (chunk: Buffer) => {
      this.received += chunk.length;
      try {
        for (const raw of framer.push(chunk)) {
          const message = decodeStun(raw);
          const key = message.transactionId.toString('hex');
          const waiter = this.waiting.get(key);
          this.waiting.delete(key);
          waiter?.resolve(message); // anything else (an indication, a late answer) is ignored
        }
      } catch (err) {
        this.fail(new Error(errorText(err)));
        socket.destroy();
      }
    });
    socket.once('close', () => this.fail(new Error(`the server closed the connection${this.received === 0 ? ' without answering' : ''}`)));
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const waiter of this.waiting.values()) waiter.reject(this.failure);
    this.waiting.clear();
  }

  request(message: StunMessage, options: { integrityKey?: Buffer } = {}): Promise<DecodedStun> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiting.set(message.transactionId.toString('hex'), { resolve, reject });
      this.socket.write(encodeStun(message, { ...options, fingerprint: true }));
    });
  }
}

export interface TurnCredentials {
  username: string;
  password: string;
  /** Unix seconds. */
  expires: number;
}

/** What Prosody's mod_external_services hands out (`ttl = 86400` in docker-jitsi-meet's configuration). */
export const TURN_CREDENTIAL_TTL_SECONDS = 86_400;

/**
 * Time-limited TURN credentials exactly as Prosody's mod_external_services computes them (`algorithm = "turn"`,
 * the TURN REST API draft coturn implements with use-auth-secret): username = the expiry in Unix seconds (or
 * "<expiry>:<user>"), password = base64(HMAC-SHA1(key = secret, message = username)).
 */
export function turnCredentials(secret: string, nowMs: number, ttlSeconds = TURN_CREDENTIAL_TTL_SECONDS, user?: string): TurnCredentials {
  const expires = Math.floor(nowMs / 1000) + ttlSeconds;
  const username = user === undefined ? String(expires) : `${expires}:${user}`;
  return { username, password: createHmac('sha1', secret).update(username, 'utf8').digest('base64'), expires };
}

/** Where turn-allocate's secret came from, or why there is none (`fail`: one was asked for and could not be read). */
export type TurnSecret = { secret: string; source: string } | { unavailable: string; fail: boolean };

/** Environment variable the CLI reads the TURN secret from (when --turn-secret-parameter is not given). */
export const TURN_SECRET_ENV = 'WBT_TURN_SECRET';

/** coturn's static-auth-secret in SSM, under the stack's `ssm_parameter_prefix` output (constructs/roles/turn.ts). */
export function defaultTurnSecretParameter(ssmParameterPrefix: string): string {
  return `${ssmParameterPrefix.replace(/\/+$/, '')}/turn/static-auth-secret`;
}

/** How an operator gives turn-allocate its secret (for SKIP details). */
export function turnSecretHint(ssmParameterPrefix: string | undefined): string {
  const name = ssmParameterPrefix === undefined ? '<ssm_parameter_prefix>/turn/static-auth-secret' : defaultTurnSecretParameter(ssmParameterPrefix);
  return `pass --turn-secret-parameter ${name} (read with aws ssm get-parameter) or set ${TURN_SECRET_ENV}`;
}

export const SSM_READ_TIMEOUT_MS = 20_000;

/**
 * `aws ssm get-parameter --with-decryption --name <name> --query Parameter.Value --output text`. The value never
 * reaches a log or an error message; the CLI's stderr does (it says what is wrong: credentials, region, access).
 */
export function readSsmParameter(name: string, options: { command?: string; timeoutMs?: number } = {}): Promise<string> {
  const command = options.command ?? 'aws';
  const args = ['ssm', 'get-parameter', '--with-decryption', '--name', name, '--query', 'Parameter.Value', '--output', 'text'];
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, AWS_PAGER: '' } });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const timer = setTimeout(() => {
      child.kill('SIGTERM');
      reject(new Error(`aws ssm get-parameter --name ${name} did not finish within ${options.timeoutMs ?? SSM_READ_TIMEOUT_MS} ms`));
    }, options.timeoutMs ?? SSM_READ_TIMEOUT_MS);
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(new Error(errorCode(e) === 'ENOENT' ? `the aws CLI is not installed (${command}: ENOENT)` : `cannot run ${command}: ${errorText(e)}`));
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      const stderr = Buffer.concat(err).toString('utf8').trim().split('\n').filter(Boolean).slice(-2).join(' ').slice(0, 300);
      const value = Buffer.concat(out)
        .toString('utf8')
        .replace(/\r?\n$/, '');
      if (code !== 0) reject(new Error(`aws ssm get-parameter --name ${name} exited with ${code}${stderr ? `: ${stderr}` : ''}`));
      else if (value === '' || value === 'None') reject(new Error(`SSM parameter ${name} is empty`));
      else resolve(value);
    });
  });
}

const TLS_VERSIONS = ['TLSv1.2', 'TLSv1.3'];

/** OpenSSL's words for a handshake that failed over the protocol version. */
function isVersionFailure(err: unknown): boolean {
  return errorCode(err) === 'ERR_SSL_UNSUPPORTED_PROTOCOL' || /unsupported protocol|protocol version|no protocols available/i.test(errorText(err));
}

/** TLS 1.2 or 1.3 to the relay's TLS port with SNI = FQDN, the certificate judged as for HTTPS. */
export async function checkTurnTls(ctx: CheckContext, fqdn: string, ip: string, port: number, ca: string | undefined): Promise<Outcome> {
  let socket: tls.TLSSocket;
  try {
    socket = await connectTls(ctx, ip, port, fqdn, ca);
  } catch (err) {
    if (isVersionFailure(err)) return { ok: false, detail: `no TLS 1.2 or 1.3: ${errorText(err)} (coturn: no-tlsv1, no-tlsv1_1)` };
    throw err;
  }
  try {
    const verdict = judgeCertificate(socket, fqdn);
    const protocol = socket.getProtocol() ?? 'unknown protocol';
    if (!TLS_VERSIONS.includes(protocol)) return { ok: false, detail: `${protocol} negotiated, TLS 1.2 or 1.3 required; ${verdict.detail}` };
    return verdict.ok ? { ok: true, detail: `${protocol} handshake OK; ${verdict.detail}` } : verdict;
  } finally {
    socket.destroy();
  }
}

const ERROR_HINTS: Readonly<Record<number, string>> = {
  400: 'the relay could not parse the request',
  403: 'forbidden by the relay',
  437: 'allocation mismatch',
  440: 'address family not supported',
  442: 'UDP relaying not supported',
  486: 'allocation quota reached (turn.userQuota)',
  508: 'insufficient capacity (turn.totalQuota, or the relay ports are used up)',
};

function describeResponse(message: StunMessage): string {
  const error = decodeErrorCode(message);
  if (error) return `${error.code} ${error.reason}`.trim() + (ERROR_HINTS[error.code] ? ` (${ERROR_HINTS[error.code]})` : '');
  return `message type 0x${message.type.toString(16).padStart(4, '0')}`;
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n, 0);
  return b;
}

/**
 * TURN over TLS: Allocate (REQUESTED-TRANSPORT UDP) without credentials must be refused with 401, REALM and NONCE;
 * with the credentials derived from `secret` it must succeed with an XOR-RELAYED-ADDRESS (the response's own
 * MESSAGE-INTEGRITY verified); a Refresh with LIFETIME 0 then releases the allocation.
 */
export async function checkTurnAllocate(ctx: CheckContext, fqdn: string, ip: string, port: number, ca: string | undefined, secret: string, source: string, now = Date.now()): Promise<Outcome> {
  const socket = await connectTls(ctx, ip, port, fqdn, ca);
  try {
    const cert = judgeCertificate(socket, fqdn);
    // Credentials go only to a relay that proved its name.
    if (!cert.ok) return { ok: false, detail: `not authenticating to a relay whose certificate fails: ${cert.detail}` };
    const conn = new StunConnection(socket);
    const transport: StunAttribute = { type: STUN_ATTR.REQUESTED_TRANSPORT, value: Buffer.from([UDP, 0, 0, 0]) };
    const txid = (): Buffer => randomBytes(12);

    ctx.stage('waiting for the answer to an Allocate without credentials (expecting 401)');
    const challenge = await conn.request({ type: STUN_TYPE.ALLOCATE_REQUEST, transactionId: txid(), attributes: [transport] });
    if (challenge.type === STUN_TYPE.ALLOCATE_SUCCESS) {
      return { ok: false, detail: 'OPEN RELAY: an Allocate without credentials succeeded (coturn without use-auth-secret?)' };
    }
    const firstError = decodeErrorCode(challenge);
    if (challenge.type !== STUN_TYPE.ALLOCATE_ERROR || firstError?.code !== 401) {
      return { ok: false, detail: `Allocate without credentials answered ${describeResponse(challenge)}, expected 401 Unauthorized with REALM and NONCE` };
    }
    const realm = textAttribute(challenge, STUN_ATTR.REALM);
    let nonce = textAttribute(challenge, STUN_ATTR.NONCE);
    if (realm === undefined || nonce === undefined) return { ok: false, detail: `401 without ${realm === undefined ? 'REALM' : 'NONCE'}: not a long-term-credential TURN server` };

    const creds = turnCredentials(secret, now);
    const key = longTermKey(creds.username, realm, creds.password);
    const authenticated = async (type: number, attributes: StunAttribute[], what: string): Promise<DecodedStun> => {
      // A 438 Stale Nonce comes with a fresh NONCE: one retry with it.
      for (let attempt = 1; ; attempt += 1) {
        ctx.stage(`waiting for the answer to ${what}`);
        const auth = [
          { type: STUN_ATTR.USERNAME, value: Buffer.from(creds.username, 'utf8') },
          { type: STUN_ATTR.REALM, value: Buffer.from(realm, 'utf8') },
          { type: STUN_ATTR.NONCE, value: Buffer.from(nonce as string, 'utf8') },
        ];
        const response = await conn.request({ type, transactionId: txid(), attributes: [...attributes, ...auth] }, { integrityKey: key });
        const fresh = textAttribute(response, STUN_ATTR.NONCE);
        if (decodeErrorCode(response)?.code === 438 && fresh !== undefined && attempt === 1) {
          nonce = fresh;
          continue;
        }
        return response;
      }
    };

    const allocation = await authenticated(STUN_TYPE.ALLOCATE_REQUEST, [transport], `an Allocate with credentials (realm ${realm})`);
    if (allocation.type !== STUN_TYPE.ALLOCATE_SUCCESS) {
      if (decodeErrorCode(allocation)?.code === 401) {
        return {
          ok: false,
          detail:
            `authentication failed: the Allocate with credentials (realm ${realm}, secret from ${source}) was answered 401 Unauthorized again: ` +
            "the secret is not coturn's static-auth-secret, or the clocks disagree (the username is an expiry time)",
        };
      }
      return { ok: false, detail: `Allocate with credentials answered ${describeResponse(allocation)}` };
    }
    if (verifyIntegrity(allocation, key) !== true) {
      return { ok: false, detail: 'the Allocate success response has no MESSAGE-INTEGRITY that verifies with our credentials: not the relay we authenticated to?' };
    }
    const relayedValue = attribute(allocation, STUN_ATTR.XOR_RELAYED_ADDRESS);
    if (relayedValue === undefined) return { ok: false, detail: 'the Allocate success response has no XOR-RELAYED-ADDRESS' };
    const relayed = formatAddress(decodeXorAddress(relayedValue, allocation.transactionId));
    const mappedValue = attribute(allocation, STUN_ATTR.XOR_MAPPED_ADDRESS);
    const mapped = mappedValue === undefined ? undefined : formatAddress(decodeXorAddress(mappedValue, allocation.transactionId));
    const lifetime = attribute(allocation, STUN_ATTR.LIFETIME)?.readUInt32BE(0);

    const release = await authenticated(STUN_TYPE.REFRESH_REQUEST, [{ type: STUN_ATTR.LIFETIME, value: u32(0) }], 'a Refresh with LIFETIME 0 (releasing the allocation)');
    const summary = `relayed address ${relayed}/udp${lifetime === undefined ? '' : `, lifetime ${lifetime} s`}${mapped === undefined ? '' : `, our address as seen by the relay ${mapped}`}`;
    if (release.type !== STUN_TYPE.REFRESH_SUCCESS) return { ok: false, detail: `${summary}; but the Refresh with LIFETIME 0 was answered ${describeResponse(release)}` };
    return { ok: true, detail: `allocated (realm ${realm}, credentials from ${source}): ${summary}; released` };
  } finally {
    socket.destroy();
  }
}
