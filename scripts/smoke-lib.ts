/**
 * Post-deploy smoke check: DNS, HTTPS (certificate + app), HTTP->HTTPS redirect, SIP OPTIONS over UDP and
 * SIP over TLS, against the outputs of a deployed stack. Node standard library only, so it runs anywhere
 * `npm ci` ran. The CLI entry point is scripts/smoke.ts; tests drive runSmoke()/main() in-process.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as dgram from 'node:dgram';
import { promises as dnsPromises } from 'node:dns';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import * as http from 'node:http';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addAbortSignal } from 'node:stream';
import * as tls from 'node:tls';
import { parseArgs } from 'node:util';

export type Component = 'chat' | 'meet' | 'pbx';
export type CheckName = 'dns' | 'https' | 'http-redirect' | 'sip' | 'sip-tls';
export type Status = 'PASS' | 'FAIL' | 'SKIP';

export const CHECK_NAMES: readonly CheckName[] = ['dns', 'https', 'http-redirect', 'sip', 'sip-tls'];
const COMPONENTS: readonly Component[] = ['chat', 'meet', 'pbx'];
/** Friendlier spellings accepted by --skip. */
const CHECK_ALIASES: Readonly<Record<string, CheckName>> = {
  http: 'http-redirect',
  redirect: 'http-redirect',
  tls: 'sip-tls',
  sips: 'sip-tls',
};

export const DEFAULTS = { timeoutMs: 5000, httpsPort: 443, httpPort: 80, sipPort: 5060, sipsPort: 5061 } as const;

export interface CheckResult {
  check: CheckName;
  component: Component;
  target: string;
  status: Status;
  detail: string;
  durationMs: number;
}

export interface SmokeOptions {
  /** Stack name: selects the stack in a cdktf outputs file, and is what `cdktf output` is run for. */
  env?: string;
  /** Path of a cdktf outputs JSON file; without it (and without `outputs`) `npx cdktf output` is run. */
  outputsFile?: string;
  /** Already-parsed outputs JSON (same shapes as the file). */
  outputs?: unknown;
  /** DNS server `ip`, `ip:port` or `[ipv6]:port`; default: the system resolver configuration. */
  resolver?: string;
  timeoutMs?: number;
  /** Overrides every HTTPS port; otherwise a port in `<role>_url` is used, else 443. */
  httpsPort?: number;
  httpPort?: number;
  sipPort?: number;
  sipsPort?: number;
  /** PEM file whose certificates replace the default trusted CAs. */
  caFile?: string;
  /** Check names (`sip`) or check:component (`https:meet`). */
  skip?: string[];
}

export interface SmokeReport {
  env?: string;
  results: CheckResult[];
  exitCode: 0 | 1;
}

/** Bad arguments or unusable outputs: nothing was checked, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

// ---------------------------------------------------------------------------------------------------------
// Stack outputs

export interface RoleEndpoint {
  fqdn?: string;
  ip?: string;
  /** Port written explicitly in `<role>_url` (e.g. Jitsi on 8443). */
  urlPort?: number;
}
export type Endpoints = Record<Component, RoleEndpoint>;

/** `chat_fqdn`, `chatFqdn` and `chat-fqdn` all become `chatfqdn`. */
export function normaliseKey(key: string): string {
  return key.replace(/[^A-Za-z0-9]/g, '').toLowerCase();
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `terraform output -json` wraps each value as { value, type, sensitive }. */
function unwrapTerraformValue(v: unknown): unknown {
  return isRecord(v) && 'value' in v && ('type' in v || 'sensitive' in v) ? v.value : v;
}

/**
 * Leaf values keyed by their normalised path. cdktf nests outputs of nested constructs by construct id
 * ({ chat: { fqdn } }) and allocated logical ids end in an 8-hex hash (chat_fqdn_1A2B3C4D): both flatten to
 * keys that end with the wanted name.
 */
function flattenOutputs(obj: Record<string, unknown>, prefix = '', into = new Map<string, unknown>()): Map<string, unknown> {
  for (const [rawKey, rawValue] of Object.entries(obj)) {
    const key = prefix + normaliseKey(rawKey.replace(/[_-][0-9A-F]{8}$/, ''));
    const value = unwrapTerraformValue(rawValue);
    if (isRecord(value)) flattenOutputs(value, key, into);
    else if (!into.has(key)) into.set(key, value);
  }
  return into;
}

function lookup(flat: Map<string, unknown>, name: string): string | undefined {
  const wanted = normaliseKey(name);
  const asString = (v: unknown): string | undefined =>
    typeof v === 'string' && v.trim() !== '' ? v.trim() : typeof v === 'number' ? String(v) : undefined;
  if (flat.has(wanted)) return asString(flat.get(wanted));
  const suffixed = [...flat.entries()].filter(([k]) => k.endsWith(wanted));
  const values = new Set(suffixed.map(([, v]) => asString(v)).filter((v): v is string => v !== undefined));
  // Two different values under similar names: guessing could test the wrong host.
  return values.size === 1 ? [...values][0] : undefined;
}

const OUTPUT_NAMES = ['fqdn', 'public_ip', 'url'] as const;

function hasKnownOutput(obj: Record<string, unknown>): boolean {
  const keys = new Set(Object.keys(obj).map(normaliseKey));
  return COMPONENTS.some((c) => OUTPUT_NAMES.some((n) => keys.has(normaliseKey(`${c}_${n}`))));
}

/** Picks the stack's outputs from `{ "<env>": {...} }` or a flat `{...}` object. */
export function selectStackOutputs(json: unknown, env: string | undefined): Record<string, unknown> {
  if (!isRecord(json)) throw new UsageError('outputs must be a JSON object');
  if (env !== undefined && isRecord(json[env])) return json[env];
  if (hasKnownOutput(json)) return json;
  const stacks = Object.keys(json).filter((k) => isRecord(json[k]));
  if (stacks.length === 1 && env === undefined) return json[stacks[0]] as Record<string, unknown>;
  if (stacks.length === 0) throw new UsageError('outputs contain no chat_fqdn/meet_fqdn/pbx_fqdn/..._public_ip values');
  throw new UsageError(
    env === undefined
      ? `outputs hold several stacks (${stacks.join(', ')}): name the environment`
      : `outputs have no stack "${env}" (found: ${stacks.join(', ')})`,
  );
}

export function endpointsFromOutputs(stack: Record<string, unknown>): Endpoints {
  const flat = flattenOutputs(stack);
  const endpoint = (c: Component): RoleEndpoint => {
    const url = lookup(flat, `${c}_url`);
    let urlPort: number | undefined;
    try {
      urlPort = url && new URL(url).port ? Number(new URL(url).port) : undefined;
    } catch {
      urlPort = undefined; // a malformed URL is only a hint source
    }
    return { fqdn: lookup(flat, `${c}_fqdn`)?.replace(/\.$/, '').toLowerCase(), ip: lookup(flat, `${c}_public_ip`), urlPort };
  };
  return { chat: endpoint('chat'), meet: endpoint('meet'), pbx: endpoint('pbx') };
}

/** Runs `npx cdktf output <env> --outputs-file <tmp>`; its chatter goes to stderr so --json stays clean. */
export async function fetchOutputsWithCdktf(env: string): Promise<unknown> {
  const dir = await mkdtemp(join(tmpdir(), 'smoke-outputs-'));
  const file = join(dir, 'outputs.json');
  try {
    const code = await new Promise<number>((resolve, reject) => {
      const child = spawn('npx', ['cdktf', 'output', env, '--outputs-file', file], {
        env: { ...process.env, CHECKPOINT_DISABLE: '1' },
        stdio: ['ignore', process.stderr, process.stderr],
      });
      child.once('error', reject);
      child.once('close', (c) => resolve(c ?? 1));
    });
    if (code !== 0) throw new UsageError(`\`npx cdktf output ${env} --outputs-file ${file}\` exited with ${code}`);
    return JSON.parse(await readFile(file, 'utf8')) as unknown;
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`could not read stack outputs via cdktf: ${errorText(err)}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function loadOutputs(opts: SmokeOptions): Promise<unknown> {
  if (opts.outputs !== undefined) return opts.outputs;
  if (opts.outputsFile !== undefined) {
    let text: string;
    try {
      text = await readFile(opts.outputsFile, 'utf8');
    } catch (err) {
      throw new UsageError(`cannot read outputs file ${opts.outputsFile}: ${errorText(err)}`);
    }
    try {
      return JSON.parse(text) as unknown;
    } catch (err) {
      throw new UsageError(`outputs file ${opts.outputsFile} is not valid JSON: ${errorText(err)}`);
    }
  }
  if (opts.env === undefined) throw new UsageError('name the environment (e.g. `npm run smoke -- production`) or pass --outputs <file>');
  return fetchOutputsWithCdktf(opts.env);
}

// ---------------------------------------------------------------------------------------------------------
// Small helpers

function errorCode(err: unknown): string | undefined {
  return isRecord(err) && typeof err.code === 'string' ? err.code : undefined;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Error text that keeps the errno code, which is what an operator searches for. */
function netErrorText(err: unknown): string {
  const code = errorCode(err);
  const msg = errorText(err);
  if (code === 'ECONNREFUSED') return `connection refused (${code}): nothing listening, or the service is down`;
  if (code === 'ECONNRESET') return `connection reset by peer (${code})`;
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH') return `host/network unreachable (${code})`;
  return code && !msg.includes(code) ? `${code}: ${msg}` : msg;
}

function hostPort(ip: string, port: number): string {
  return net.isIPv6(ip) ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/** What a check reports while running, so a timeout can say where it got stuck. */
interface CheckContext {
  signal: AbortSignal;
  stage(text: string): void;
}

interface Outcome {
  ok: boolean;
  detail: string;
}

interface CheckPlan {
  check: CheckName;
  component: Component;
  target: string;
  run(ctx: CheckContext): Promise<Outcome>;
  /** Check-specific explanation of a timeout (e.g. "SIP only answers allowed networks"). */
  timeoutHint?: string;
}

class CheckTimeout extends Error {}

async function runPlan(plan: CheckPlan, timeoutMs: number): Promise<CheckResult> {
  const started = Date.now();
  const controller = new AbortController();
  let stage = 'starting';
  const timer = setTimeout(() => controller.abort(new CheckTimeout()), timeoutMs);
  const aborted = new Promise<never>((_, reject) =>
    controller.signal.addEventListener('abort', () => reject(controller.signal.reason), { once: true }),
  );
  const finish = (status: Status, detail: string): CheckResult => ({
    check: plan.check,
    component: plan.component,
    target: plan.target,
    status,
    detail,
    durationMs: Date.now() - started,
  });
  try {
    const outcome = await Promise.race([plan.run({ signal: controller.signal, stage: (s) => (stage = s) }), aborted]);
    return finish(outcome.ok ? 'PASS' : 'FAIL', outcome.detail);
  } catch (err) {
    if (err instanceof CheckTimeout) {
      return finish('FAIL', `timed out after ${timeoutMs} ms while ${stage}${plan.timeoutHint ? ` — ${plan.timeoutHint}` : ''}`);
    }
    return finish('FAIL', netErrorText(err));
  } finally {
    clearTimeout(timer);
    // Aborting after the fact closes whatever sockets the check still holds.
    if (!controller.signal.aborted) controller.abort(new Error('check finished'));
  }
}

// ---------------------------------------------------------------------------------------------------------
// DNS

const DNS_ERRORS: Readonly<Record<string, string>> = {
  ENOTFOUND: 'NXDOMAIN: the name does not exist (record or zone delegation missing?)',
  ENODATA: 'the name exists but has no A record',
  ETIMEOUT: 'DNS server did not answer',
  ECONNREFUSED: 'DNS server refused the connection',
  ESERVFAIL: 'SERVFAIL from the DNS server (broken delegation or DNSSEC?)',
  EREFUSED: 'the DNS server refused the query',
};

async function checkDns(ctx: CheckContext, fqdn: string, ip: string, resolverAddr: string | undefined, timeoutMs: number): Promise<Outcome> {
  // Two tries inside the check timeout: one lost UDP packet must not fail the check.
  const resolver = new dnsPromises.Resolver({ timeout: Math.max(50, Math.floor(timeoutMs / 2.5)), tries: 2 });
  if (resolverAddr !== undefined) resolver.setServers([resolverAddr]);
  const via = resolverAddr ?? `system resolver (${resolver.getServers().join(', ') || 'none configured'})`;
  const cancel = (): void => resolver.cancel();
  ctx.signal.addEventListener('abort', cancel, { once: true });
  ctx.stage(`querying ${via}`);
  try {
    const addresses = await resolver.resolve4(fqdn);
    if (addresses.length === 1 && addresses[0] === ip) return { ok: true, detail: `A ${ip} via ${via}` };
    if (addresses.includes(ip)) {
      const others = addresses.filter((a) => a !== ip);
      return { ok: false, detail: `A ${addresses.join(', ')}: besides ${ip} also ${others.join(', ')} (stale record?) via ${via}` };
    }
    return { ok: false, detail: `A ${addresses.join(', ') || '(none)'}, expected ${ip} (Elastic IP) via ${via}` };
  } catch (err) {
    const code = errorCode(err) ?? '';
    return { ok: false, detail: `${DNS_ERRORS[code] ?? netErrorText(err)} [${code || 'error'}] via ${via}` };
  } finally {
    ctx.signal.removeEventListener('abort', cancel);
  }
}

// ---------------------------------------------------------------------------------------------------------
// TLS

const VERIFY_ERRORS: Readonly<Record<string, string>> = {
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'chain does not lead to a trusted CA (missing intermediate or unknown issuer)',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'issuer is not a trusted CA (private/staging CA, or missing intermediate)',
  UNABLE_TO_GET_ISSUER_CERT: 'issuer certificate not found',
  SELF_SIGNED_CERT_IN_CHAIN: 'self-signed certificate in chain (untrusted root)',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'self-signed certificate (ACME issuance has not happened?)',
  CERT_HAS_EXPIRED: 'certificate has expired (renewal failing?)',
  CERT_NOT_YET_VALID: 'certificate is not yet valid (clock skew?)',
};

export interface CertVerdict {
  ok: boolean;
  /** e.g. "cert OK for chat.example.org (issuer R11), expires in 63 days (2025-03-01)". */
  detail: string;
}

function connectTls(ctx: CheckContext, ip: string, port: number, servername: string, ca: string | undefined): Promise<tls.TLSSocket> {
  ctx.stage(`connecting to ${hostPort(ip, port)} (TLS, SNI ${servername})`);
  return new Promise((resolve, reject) => {
    // Verification is done by hand below so a bad certificate can still be described (names, expiry).
    const socket = tls.connect({ host: ip, port, servername, ca, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] });
    addAbortSignal(ctx.signal, socket);
    socket.on('error', () => undefined); // errors after the handshake surface through the HTTP request or abort
    socket.once('error', reject);
    socket.once('secureConnect', () => {
      socket.removeListener('error', reject);
      resolve(socket);
    });
  });
}

/** Certificate trust (chain + hostname) and expiry, judged for `fqdn`. */
export function judgeCertificate(socket: tls.TLSSocket, fqdn: string, now = new Date()): CertVerdict {
  const cert = socket.getPeerCertificate();
  if (!cert || Object.keys(cert).length === 0) return { ok: false, detail: 'server presented no certificate' };
  const problems: string[] = [];
  const authError = socket.authorized ? undefined : String(socket.authorizationError);
  if (authError !== undefined && authError !== 'ERR_TLS_CERT_ALTNAME_INVALID') {
    problems.push(`untrusted: ${VERIFY_ERRORS[authError] ?? authError} [${authError}]`);
  }
  if (tls.checkServerIdentity(fqdn, cert) !== undefined) {
    const names = cert.subjectaltname || `CN=${cert.subject?.CN ?? '?'}`;
    problems.push(`certificate is not valid for ${fqdn} (it covers ${names})`);
  }
  const validTo = new Date(cert.valid_to);
  const days = Math.floor((validTo.getTime() - now.getTime()) / 86_400_000);
  const date = Number.isNaN(validTo.getTime()) ? cert.valid_to : validTo.toISOString().slice(0, 10);
  // Let's Encrypt renews 30 days ahead: under 14 days left means renewal is not happening.
  const expiry =
    days < 0 ? `expired ${-days} days ago (${date})` : `expires in ${days} days (${date})${days < 14 ? ', renewal overdue?' : ''}`;
  const issuer = [cert.issuer?.O, cert.issuer?.CN].filter(Boolean).join(' ') || 'unknown issuer';
  const staging = /staging|fake/i.test(issuer) ? ' — a Let\'s Encrypt STAGING certificate' : '';
  if (problems.length > 0) return { ok: false, detail: `${problems.join('; ')}; issuer ${issuer}${staging}; ${expiry}` };
  return { ok: true, detail: `cert OK for ${fqdn} (issuer ${issuer}), ${expiry}` };
}

// ---------------------------------------------------------------------------------------------------------
// HTTP(S)

interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

const MAX_BODY = 512 * 1024;

function httpGet(ctx: CheckContext, options: http.RequestOptions, what: string): Promise<HttpResponse> {
  ctx.stage(`waiting for the response to ${what}`);
  return new Promise((resolve, reject) => {
    const req = http.request({ method: 'GET', ...options, signal: ctx.signal }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const done = (): void => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        size += chunk.length;
        // Enough to recognise the app; no need to download a huge page.
        if (size >= MAX_BODY) {
          done();
          req.destroy();
        }
      });
      res.once('end', done);
      // `on`, not `once`: an abort after a first error must not become an unhandled 'error' event.
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** GET over a fresh TLS connection to the IP; the certificate is judged before the request is sent. */
async function httpsGet(
  ctx: CheckContext,
  ip: string,
  port: number,
  fqdn: string,
  path: string,
  ca: string | undefined,
): Promise<{ cert: CertVerdict; response?: HttpResponse }> {
  const socket = await connectTls(ctx, ip, port, fqdn, ca);
  const cert = judgeCertificate(socket, fqdn);
  if (!cert.ok) {
    socket.destroy();
    return { cert };
  }
  const response = await httpGet(
    ctx,
    {
      createConnection: () => socket,
      path,
      headers: { Host: fqdn, 'User-Agent': 'weebeetalk-smoke/1', Accept: '*/*', Connection: 'close' },
    },
    `GET https://${fqdn}${path}`,
  );
  socket.destroy();
  return { cert, response };
}

function statusHint(status: number): string {
  if (status === 502 || status === 503 || status === 504) return ' (proxy is up but the app behind it is not answering)';
  if (status === 404) return ' (wrong app or route)';
  return '';
}

async function checkChatHttps(ctx: CheckContext, ip: string, port: number, fqdn: string, ca: string | undefined): Promise<Outcome> {
  const { cert, response } = await httpsGet(ctx, ip, port, fqdn, '/api/info', ca);
  if (!response) return { ok: false, detail: cert.detail };
  if (response.status !== 200) return { ok: false, detail: `GET /api/info -> HTTP ${response.status}${statusHint(response.status)}; ${cert.detail}` };
  let info: unknown;
  try {
    info = JSON.parse(response.body) as unknown;
  } catch {
    return { ok: false, detail: `GET /api/info did not return JSON (not Rocket.Chat?); ${cert.detail}` };
  }
  const version = isRecord(info) ? info.version : undefined;
  if ((typeof version !== 'string' || version === '') && typeof version !== 'number') {
    return { ok: false, detail: `GET /api/info JSON has no "version" (not Rocket.Chat?); ${cert.detail}` };
  }
  return { ok: true, detail: `Rocket.Chat ${version}; ${cert.detail}` };
}

async function checkMeetHttps(ctx: CheckContext, ip: string, port: number, fqdn: string, ca: string | undefined): Promise<Outcome> {
  const home = await httpsGet(ctx, ip, port, fqdn, '/', ca);
  if (!home.response) return { ok: false, detail: home.cert.detail };
  if (home.response.status === 200 && home.response.body.includes('Jitsi Meet')) {
    return { ok: true, detail: `Jitsi Meet (GET / mentions it); ${home.cert.detail}` };
  }
  // Some skins drop the name from index.html; config.js is always served by Jitsi's web container.
  const config = await httpsGet(ctx, ip, port, fqdn, '/config.js', ca);
  if (config.response?.status === 200 && config.response.body.includes('hosts')) {
    return { ok: true, detail: `Jitsi Meet (GET /config.js has "hosts"); ${home.cert.detail}` };
  }
  const configStatus = config.response ? `HTTP ${config.response.status}` : 'no response';
  return {
    ok: false,
    detail: `not Jitsi Meet: GET / -> HTTP ${home.response.status}${statusHint(home.response.status)} without "Jitsi Meet", GET /config.js -> ${configStatus} without "hosts"; ${home.cert.detail}`,
  };
}

/** `https://fqdn` followed by the end, a port, a path, a query or a fragment (not `https://fqdn.evil`). */
export function isHttpsRedirectTo(location: string, fqdn: string): boolean {
  const prefix = `https://${fqdn}`.toLowerCase();
  const loc = location.toLowerCase();
  return loc.startsWith(prefix) && (loc.length === prefix.length || '/:?#'.includes(loc[prefix.length]));
}

async function checkRedirect(ctx: CheckContext, ip: string, port: number, fqdn: string): Promise<Outcome> {
  ctx.stage(`connecting to ${hostPort(ip, port)}`);
  const res = await httpGet(
    ctx,
    { host: ip, port, path: '/', agent: false, headers: { Host: fqdn, 'User-Agent': 'weebeetalk-smoke/1', Connection: 'close' } },
    `GET http://${fqdn}/`,
  );
  const location = res.headers.location;
  if (![301, 302, 307, 308].includes(res.status)) {
    return { ok: false, detail: `GET http://${fqdn}/ -> HTTP ${res.status}, expected a 301/302/307/308 redirect to https://${fqdn}` };
  }
  if (location === undefined || !isHttpsRedirectTo(location, fqdn)) {
    return { ok: false, detail: `HTTP ${res.status} to ${location ?? '(no Location header)'}, expected https://${fqdn}/...` };
  }
  return { ok: true, detail: `HTTP ${res.status} -> ${location}` };
}

// ---------------------------------------------------------------------------------------------------------
// SIP

export interface SipOptionsParams {
  /** Request-URI host (the PBX FQDN) and port (omitted when 5060). */
  targetHost: string;
  targetPort: number;
  localAddress: string;
  localPort: number;
  branch: string;
  tag: string;
  callId: string;
}

/** An RFC 3261 OPTIONS request; `rport` asks the PBX to answer the NATed source address we really came from. */
export function buildSipOptions(p: SipOptionsParams): string {
  const local = hostPort(p.localAddress, p.localPort);
  const localHost = net.isIPv6(p.localAddress) ? `[${p.localAddress}]` : p.localAddress;
  const uri = `sip:${p.targetHost}${p.targetPort === 5060 ? '' : `:${p.targetPort}`}`;
  return [
    `OPTIONS ${uri} SIP/2.0`,
    `Via: SIP/2.0/UDP ${local};branch=${p.branch};rport`,
    'Max-Forwards: 70',
    `From: "smoke" <sip:smoke@${localHost}>;tag=${p.tag}`,
    `To: <${uri}>`,
    `Call-ID: ${p.callId}`,
    'CSeq: 1 OPTIONS',
    `Contact: <sip:smoke@${local}>`,
    'Accept: application/sdp',
    'User-Agent: weebeetalk-smoke/1',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

export interface SipResponse {
  code: number;
  reason: string;
  /** Lower-cased header names, compact forms expanded (i -> call-id). */
  headers: Map<string, string>;
}

const SIP_COMPACT: Readonly<Record<string, string>> = { i: 'call-id', v: 'via', f: 'from', t: 'to', l: 'content-length', m: 'contact' };

export function parseSipResponse(text: string): SipResponse | undefined {
  const lines = text.split(/\r?\n/);
  const status = /^SIP\/2\.0 (\d{3})(?: (.*))?$/.exec(lines[0]?.trim() ?? '');
  if (!status) return undefined;
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    if (line === '') break;
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const full = SIP_COMPACT[name] ?? name;
    if (!headers.has(full)) headers.set(full, line.slice(colon + 1).trim());
  }
  return { code: Number(status[1]), reason: status[2] ?? '', headers };
}

async function checkSip(ctx: CheckContext, fqdn: string, ip: string, port: number): Promise<Outcome> {
  const socket = dgram.createSocket({ type: net.isIPv6(ip) ? 'udp6' : 'udp4', signal: ctx.signal });
  const timers = new Set<NodeJS.Timeout>();
  let sent = 0;
  try {
    return await new Promise<Outcome>((resolve, reject) => {
      const callId = `${randomBytes(12).toString('hex')}@weebeetalk-smoke`;
      // The signal closes the socket; settling here lets `finally` stop the retransmit timers.
      ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason), { once: true });
      socket.on('error', (err) => {
        // On a connected UDP socket an ICMP port-unreachable comes back as ECONNREFUSED.
        if (errorCode(err) === 'ECONNREFUSED') {
          resolve({ ok: false, detail: `ICMP port unreachable from ${hostPort(ip, port)}/udp: nothing listens for SIP there (Asterisk down?)` });
        } else reject(err);
      });
      socket.on('message', (msg) => {
        const res = parseSipResponse(msg.toString('utf8'));
        const theirCallId = res?.headers.get('call-id');
        if (!res || (theirCallId !== undefined && theirCallId !== callId)) return; // stray datagram
        const server = res.headers.get('server') ?? res.headers.get('user-agent');
        resolve({
          ok: true,
          detail: `SIP/2.0 ${res.code} ${res.reason}`.trim() + ` from ${hostPort(ip, port)}/udp${server ? ` (${server})` : ''}`,
        });
      });
      ctx.stage(`sending SIP OPTIONS to ${hostPort(ip, port)}/udp`);
      // Connecting fixes the local address for Via/Contact and lets ICMP errors reach us.
      socket.connect(port, ip, () => {
        const local = socket.address();
        const request = buildSipOptions({
          targetHost: fqdn,
          targetPort: port,
          localAddress: local.address,
          localPort: local.port,
          branch: `z9hG4bK${randomBytes(10).toString('hex')}`,
          tag: randomBytes(6).toString('hex'),
          callId,
        });
        // RFC 3261 timer E: retransmit after 500 ms, doubling up to 4 s, as UDP may drop the packet.
        const send = (interval: number): void => {
          if (ctx.signal.aborted) return;
          socket.send(request, (err) => {
            if (err && errorCode(err) !== 'ECONNREFUSED') reject(err);
          });
          sent += 1;
          ctx.stage(`waiting for a SIP response (${sent} OPTIONS sent to ${hostPort(ip, port)}/udp)`);
          timers.add(setTimeout(() => send(Math.min(interval * 2, 4000)), interval));
        };
        send(500);
      });
    });
  } finally {
    for (const t of timers) clearTimeout(t);
    try {
      socket.close();
    } catch {
      // already closed by the abort signal
    }
  }
}

async function checkSipTls(ctx: CheckContext, fqdn: string, ip: string, port: number, ca: string | undefined): Promise<Outcome> {
  const socket = await connectTls(ctx, ip, port, fqdn, ca);
  const verdict = judgeCertificate(socket, fqdn);
  const protocol = socket.getProtocol() ?? 'TLS';
  socket.destroy();
  return verdict.ok ? { ok: true, detail: `${protocol} handshake OK; ${verdict.detail}` } : verdict;
}

// ---------------------------------------------------------------------------------------------------------
// Orchestration

interface SkipRule {
  check: CheckName;
  component?: Component;
}

export function parseSkip(entries: readonly string[]): SkipRule[] {
  const rules: SkipRule[] = [];
  for (const raw of entries.flatMap((e) => e.split(','))) {
    const entry = raw.trim().toLowerCase();
    if (entry === '') continue;
    const [name, component, extra] = entry.split(':');
    const check = CHECK_ALIASES[name] ?? (CHECK_NAMES as readonly string[]).find((c) => c === name);
    if (check === undefined || extra !== undefined) {
      throw new UsageError(`--skip: unknown check "${raw.trim()}" (checks: ${CHECK_NAMES.join(', ')}; optionally check:chat|meet|pbx)`);
    }
    const comp = COMPONENTS.find((c) => c === component);
    if (component !== undefined && comp === undefined) throw new UsageError(`--skip: unknown component in "${raw.trim()}" (chat, meet or pbx)`);
    rules.push({ check, component: comp });
  }
  return rules;
}

function validPort(n: number | undefined, what: string): void {
  if (n !== undefined && !(Number.isInteger(n) && n >= 1 && n <= 65535)) throw new UsageError(`${what} must be a port from 1 to 65535`);
}

export function validateResolver(addr: string): void {
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(addr) ?? /^([^:]+)(?::(\d+))?$/.exec(addr);
  const host = m ? m[1] : addr;
  const port = m?.[2] !== undefined ? Number(m[2]) : undefined;
  if (net.isIP(host) === 0 || (port !== undefined && !(port >= 1 && port <= 65535))) {
    throw new UsageError(`--resolver must be an IP address with an optional port (1.1.1.1, 127.0.0.1:5353, [::1]:53), got "${addr}"`);
  }
}

function plansFor(endpoints: Endpoints, opts: Required<Pick<SmokeOptions, 'timeoutMs'>> & SmokeOptions, ca: string | undefined): CheckPlan[] {
  const plans: CheckPlan[] = [];
  // A missing or malformed output fails its checks instead of aborting the whole run.
  const add = (
    check: CheckName,
    component: Component,
    port: number | undefined,
    run: (fqdn: string, ip: string, ctx: CheckContext) => Promise<Outcome>,
    timeoutHint?: string,
  ): void => {
    const { fqdn, ip } = endpoints[component];
    const target = `${fqdn ?? `${component}_fqdn?`}${port === undefined ? '' : ` @ ${hostPort(ip ?? '?', port)}`}`;
    const missing = [fqdn === undefined ? `${component}_fqdn` : '', ip === undefined ? `${component}_public_ip` : ''].filter(Boolean);
    plans.push({
      check,
      component,
      target,
      timeoutHint,
      run: async (ctx) => {
        if (missing.length > 0) return { ok: false, detail: `stack output ${missing.join(' and ')} missing` };
        if (net.isIP(ip as string) === 0) return { ok: false, detail: `stack output ${component}_public_ip is not an IP address: "${ip}"` };
        return run(fqdn as string, ip as string, ctx);
      },
    });
  };
  const httpsPort = (c: Component): number => opts.httpsPort ?? endpoints[c].urlPort ?? DEFAULTS.httpsPort;
  const httpPort = opts.httpPort ?? DEFAULTS.httpPort;
  const sipPort = opts.sipPort ?? DEFAULTS.sipPort;
  const sipsPort = opts.sipsPort ?? DEFAULTS.sipsPort;

  for (const c of COMPONENTS) add('dns', c, undefined, (fqdn, ip, ctx) => checkDns(ctx, fqdn, ip, opts.resolver, opts.timeoutMs));
  add('https', 'chat', httpsPort('chat'), (fqdn, ip, ctx) => checkChatHttps(ctx, ip, httpsPort('chat'), fqdn, ca), 'is the port open and the instance up?');
  add('https', 'meet', httpsPort('meet'), (fqdn, ip, ctx) => checkMeetHttps(ctx, ip, httpsPort('meet'), fqdn, ca), 'is the port open and the instance up?');
  for (const c of ['chat', 'meet'] as const) {
    add('http-redirect', c, httpPort, (fqdn, ip, ctx) => checkRedirect(ctx, ip, httpPort, fqdn), 'is port 80 open and the instance up?');
  }
  add(
    'sip',
    'pbx',
    sipPort,
    (fqdn, ip, ctx) => checkSip(ctx, fqdn, ip, sipPort),
    `no SIP response. udp/${sipPort} is NOT open to the world: only the SIP trunk CIDRs (sip.trunkSignallingCidrs), and the meet host when Jigasi is on, may send. ` +
      'Run this from an allowed network, or pass --skip sip',
  );
  add(
    'sip-tls',
    'pbx',
    sipsPort,
    (fqdn, ip, ctx) => checkSipTls(ctx, fqdn, ip, sipsPort, ca),
    `tcp/${sipsPort} only admits the SIP client CIDRs (sip.clientCidrs): run from an allowed network, or pass --skip sip-tls`,
  );
  return plans;
}

/** Runs every check not skipped, in parallel, each within its own timeout. Throws UsageError on bad input. */
export async function runSmoke(options: SmokeOptions): Promise<SmokeReport> {
  const timeoutMs = options.timeoutMs ?? DEFAULTS.timeoutMs;
  if (!(Number.isInteger(timeoutMs) && timeoutMs > 0)) throw new UsageError('--timeout must be a positive number of milliseconds');
  validPort(options.httpsPort, '--https-port');
  validPort(options.httpPort, '--http-port');
  validPort(options.sipPort, '--sip-port');
  validPort(options.sipsPort, '--sips-port');
  if (options.resolver !== undefined) validateResolver(options.resolver);
  const skip = parseSkip(options.skip ?? []);
  let ca: string | undefined;
  if (options.caFile !== undefined) {
    try {
      ca = await readFile(options.caFile, 'utf8');
    } catch (err) {
      throw new UsageError(`cannot read --ca file ${options.caFile}: ${errorText(err)}`);
    }
    if (!ca.includes('-----BEGIN CERTIFICATE-----')) throw new UsageError(`--ca file ${options.caFile} holds no PEM certificate`);
  }
  const endpoints = endpointsFromOutputs(selectStackOutputs(await loadOutputs(options), options.env));

  const plans = plansFor(endpoints, { ...options, timeoutMs }, ca);
  const results = await Promise.all(
    plans.map((plan) =>
      skip.some((r) => r.check === plan.check && (r.component === undefined || r.component === plan.component))
        ? Promise.resolve<CheckResult>({ check: plan.check, component: plan.component, target: plan.target, status: 'SKIP', detail: 'skipped (--skip)', durationMs: 0 })
        : runPlan(plan, timeoutMs),
    ),
  );
  return { env: options.env, results, exitCode: results.some((r) => r.status === 'FAIL') ? 1 : 0 };
}

// ---------------------------------------------------------------------------------------------------------
// CLI

export const USAGE = `Usage: npm run smoke -- <env> [options]
       tsx scripts/smoke.ts <env> [options]

Post-deploy smoke check for a WeeBeeTalk stack: run it after \`cdktf deploy <env>\`.
It reads the stack outputs chat_fqdn, meet_fqdn, pbx_fqdn, chat_public_ip, meet_public_ip
and pbx_public_ip, then runs these checks in parallel (one table row each):

  dns            chat, meet, pbx: the FQDN resolves (A record) to exactly its Elastic IP
  https          chat, meet: TLS to <public ip>:443 with SNI = FQDN; the certificate must be trusted
                 and valid for the FQDN (days to expiry are shown), and the right app must answer:
                 chat: GET /api/info returns JSON with "version" (Rocket.Chat)
                 meet: GET / contains "Jitsi Meet", or GET /config.js contains "hosts"
                 (a port in meet_url/chat_url, e.g. Jitsi on 8443, is used instead of 443)
  http-redirect  chat, meet: GET http://<fqdn>/ on <public ip>:80 answers 301/302/307/308
                 with a Location starting https://<fqdn>
  sip            pbx: a SIP OPTIONS request over UDP to <public ip>:5060; any SIP/2.0 response
                 (200, 401, 403, ...) passes: it proves Asterisk is listening
  sip-tls        pbx: TLS handshake to <public ip>:5061 with SNI = FQDN; certificate as for https

SIP IS NOT OPEN TO THE WORLD: the security group admits udp/5060 only from the SIP trunk
CIDRs (sip.trunkSignallingCidrs) and tcp/5061 only from the SIP client CIDRs (sip.clientCidrs).
From anywhere else these checks time out: run them from an allowed network, or skip them
with --skip sip,sip-tls.

Options:
  --outputs <file>        stack outputs JSON, as written by
                          \`cdktf output <env> --outputs-file <file>\`: {"<env>": {...}} or a flat
                          {"chat_fqdn": ...} object (camelCase keys are fine). Without it the tool
                          runs \`npx cdktf output <env> --outputs-file <tmp>\` (CHECKPOINT_DISABLE=1).
  --resolver <ip[:port]>  DNS server to ask, e.g. 1.1.1.1 or 127.0.0.1:5353
                          (default: the system resolver configuration)
  --timeout <ms>          per-check timeout (default ${DEFAULTS.timeoutMs})
  --skip <checks>         comma-separated checks to skip: ${CHECK_NAMES.join(', ')};
                          or one component of a check, e.g. https:meet, dns:pbx
  --json                  print the results as JSON instead of a table
  --ca <pem file>         trust only the CA certificates in this file instead of the default
                          CA store (for private or test CAs)
  --https-port <n>        HTTPS port (default ${DEFAULTS.httpsPort})
  --http-port <n>         HTTP port for the redirect check (default ${DEFAULTS.httpPort})
  --sip-port <n>          SIP UDP port (default ${DEFAULTS.sipPort})
  --sips-port <n>         SIP TLS port (default ${DEFAULTS.sipsPort})
  -h, --help              show this help

Certificates are verified against Node's CA store (Mozilla roots, plus NODE_EXTRA_CA_CERTS).

Exit status: 0 every check that ran passed, 1 at least one check failed,
2 usage error or unusable outputs (nothing was checked).

Examples:
  npm run smoke -- production
  npm run smoke -- staging --skip sip,sip-tls --json
  npm run smoke -- production --outputs outputs.json --resolver 1.1.1.1
`;

export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  color?: boolean;
}

const defaultIo: CliIo = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
  color: Boolean(process.stdout.isTTY) && process.env.NO_COLOR === undefined,
};

export function formatTable(report: SmokeReport, color = false): string {
  const paint = (status: Status): string => {
    if (!color) return status;
    const code = status === 'PASS' ? 32 : status === 'FAIL' ? 31 : 33;
    return `\u001b[${code}m${status}\u001b[0m`;
  };
  const header = ['CHECK', 'TARGET', 'RESULT', 'DETAIL'];
  const rows = report.results.map((r) => [r.check, r.target, r.status, r.detail]);
  const widths = [0, 1, 2].map((i) => Math.max(header[i].length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[], status?: Status): string =>
    [cells[0].padEnd(widths[0]), cells[1].padEnd(widths[1]), (status ? paint(status) + ' '.repeat(widths[2] - status.length) : cells[2].padEnd(widths[2])), cells[3]]
      .join('  ')
      .trimEnd();
  const count = (s: Status): number => report.results.filter((r) => r.status === s).length;
  const summary = `${count('PASS')} passed, ${count('FAIL')} failed, ${count('SKIP')} skipped${report.env ? ` (${report.env})` : ''}: ${report.exitCode === 0 ? 'OK' : 'FAILED'}`;
  return [line(header), ...report.results.map((r, i) => line(rows[i], r.status)), '', summary, ''].join('\n');
}

function parseIntOption(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new UsageError(`${name} must be a whole number, got "${value}"`);
  return Number(value);
}

/** Parses argv (without node and the script). Returns undefined for --help. */
export function parseCli(argv: readonly string[]): { options: SmokeOptions; json: boolean } | undefined {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        outputs: { type: 'string' },
        resolver: { type: 'string' },
        timeout: { type: 'string' },
        skip: { type: 'string', multiple: true },
        json: { type: 'boolean' },
        ca: { type: 'string' },
        'https-port': { type: 'string' },
        'http-port': { type: 'string' },
        'sip-port': { type: 'string' },
        'sips-port': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    throw new UsageError(errorText(err));
  }
  const { values, positionals } = parsed;
  if (values.help) return undefined;
  if (positionals.length > 1) throw new UsageError(`expected one environment name, got: ${positionals.join(' ')}`);
  return {
    json: values.json ?? false,
    options: {
      env: positionals[0],
      outputsFile: values.outputs,
      resolver: values.resolver,
      timeoutMs: parseIntOption(values.timeout, '--timeout'),
      skip: values.skip,
      caFile: values.ca,
      httpsPort: parseIntOption(values['https-port'], '--https-port'),
      httpPort: parseIntOption(values['http-port'], '--http-port'),
      sipPort: parseIntOption(values['sip-port'], '--sip-port'),
      sipsPort: parseIntOption(values['sips-port'], '--sips-port'),
    },
  };
}

/** The whole CLI: returns the exit code (0 pass, 1 a check failed or crashed, 2 usage error). */
export async function main(argv: readonly string[], io: CliIo = defaultIo): Promise<number> {
  try {
    const cli = parseCli(argv);
    if (cli === undefined) {
      io.out(USAGE);
      return 0;
    }
    const report = await runSmoke(cli.options);
    io.out(cli.json ? `${JSON.stringify(report, null, 2)}\n` : formatTable(report, io.color ?? false));
    return report.exitCode;
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`smoke: ${err.message}\nRun with --help for usage.\n`);
      return 2;
    }
    io.err(`smoke: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return 1;
  }
}
