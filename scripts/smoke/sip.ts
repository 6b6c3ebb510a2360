/**
 * SIP checks: an RFC 3261 OPTIONS over UDP (any SIP response proves Asterisk listens), retransmitted as timer E
 * says, and a TLS handshake on the SIP-over-TLS port with the certificate judged as for HTTPS.
 */
import { randomBytes } from 'node:crypto';
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import { errorCode, hostPort, type CheckContext, type Outcome } from './check';
import { connectTls, judgeCertificate } from './tls';

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

export async function checkSip(ctx: CheckContext, fqdn: string, ip: string, port: number): Promise<Outcome> {
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

export async function checkSipTls(ctx: CheckContext, fqdn: string, ip: string, port: number, ca: string | undefined): Promise<Outcome> {
  const socket = await connectTls(ctx, ip, port, fqdn, ca);
  const verdict = judgeCertificate(socket, fqdn);
  const protocol = socket.getProtocol() ?? 'TLS';
  socket.destroy();
  return verdict.ok ? { ok: true, detail: `${protocol} handshake OK; ${verdict.detail}` } : verdict;
}
