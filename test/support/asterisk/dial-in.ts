/**
 * The dial-in's other parties for the real-Asterisk tests: Prosody's census as the meet host's loopback serves
 * it (a stand-in in the meet namespace whose room list the test sets), callers that type a PIN as RFC 4733 events
 * (SIPp replaying sid's sip-tester DTMF captures), and what a channel heard, read from Asterisk's verbose output.
 */
import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DIAL_IN_MAPPER_PORT, PIN_DIGITS, PROSODY_CENSUS_PATH, PROSODY_HTTP_LOOPBACK, XMPP_MUC_DOMAIN, type DialInMapperConfig } from '../../../config/dial-in';
import { pinOf, startMapper, type RunningMapper } from '../dial-in-mapper';
import { SID_ROOT } from './daemon';
import { runIn, type Network } from './netns';

/**
 * A room's PIN as config/dial-in.ts documents it (HMAC-SHA256 of room@muc, PIN_DIGITS - 1 digits from 10^(n-2),
 * then the Luhn digit): to choose test rooms without a python3 start per candidate (the suite confirms its
 * choice with the mapper's own --pin-of).
 */
export function documentedPin(key: string, room: string): string {
  const digest = createHmac('sha256', Buffer.from(key)).update(`${room}@${XMPP_MUC_DOMAIN}`.toLowerCase()).digest();
  const low = 10n ** BigInt(PIN_DIGITS - 2);
  const body = String(low + (digest.readBigUInt64BE(0) % (9n * low)));
  const sum = [...body].reverse().reduce((t, ch, i) => {
    const d = Number(ch) * (i % 2 === 0 ? 2 : 1);
    return t + (d > 9 ? d - 9 : d);
  }, 0);
  return body + String((10 - (sum % 10)) % 10);
}

/** A tiny HTTP server answering PROSODY_CENSUS_PATH with the file's content (read at each request). */
const CENSUS_SERVER = `
import http.server, sys
host, port, path, file = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        if self.path != path:
            self.send_response(404); self.send_header("Content-Length", "0"); self.end_headers(); return
        body = open(file, "rb").read()
        self.send_response(200); self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
http.server.ThreadingHTTPServer((host, port), H).serve_forever()
`;

export interface NamespaceCensus {
  /** The rooms with someone in them (participants 1), by name; the others are listed with 0 participants. */
  set(running: readonly string[], empty?: readonly string[]): void;
}

/** The census stand-in on the party's 127.0.0.1:5280 (PROSODY_HTTP_LOOPBACK), killed with the network. */
export async function censusInNamespace(net: Network, party: string, dir: string): Promise<NamespaceCensus> {
  const file = join(dir, 'census.json');
  const set = (running: readonly string[], empty: readonly string[] = []): void => {
    const rooms = [...running.map((r) => ({ room: r, n: 1 })), ...empty.map((r) => ({ room: r, n: 0 }))];
    writeFileSync(`${file}.new`, JSON.stringify({ room_census: rooms.map(({ room, n }) => ({ room_name: `${room}@${XMPP_MUC_DOMAIN}`, participants: n, created_time: 1 })) }));
    renameSync(`${file}.new`, file);
  };
  set([]);
  const { address, port } = PROSODY_HTTP_LOOPBACK;
  const child = net.track(spawn('ip', ['netns', 'exec', net.ns(party), 'python3', '-c', CENSUS_SERVER, address, String(port), PROSODY_CENSUS_PATH, file], { stdio: 'ignore' }));
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`the census stand-in exited ${child.exitCode}`);
    const ss = await runIn(net, party, ['ss', '-Hltn', 'sport', '=', `:${port}`], { timeoutMs: 2000 });
    if (ss.stdout.trim()) return { set };
    await new Promise((r) => setTimeout(r, 30));
  }
  throw new Error(`the census stand-in does not listen on ${address}:${port}`);
}

/** sip-tester's capture of one key as RFC 2833 events, in the chroot. */
const dtmfCapture = (key: string): string => `${SID_ROOT}/usr/share/sip-tester/dtmf_2833_${key === '#' ? 'pound' : key === '*' ? 'star' : key}.pcap`;

/** Between two keys' first packets, in ms (a capture lasts 140 ms). */
const KEY_SPACING_MS = 250;

/**
 * One pcap for a run of keys, from sip-tester's per-key captures with their RTP sequence numbers and timestamps
 * rewritten to follow one another: SIPp replays a capture as it is, and each capture carries the numbers of the
 * session it was cut from, so "41" would arrive with the 1's sequence numbers below the 4's, and "11" as the same
 * event twice: Asterisk drops both as old or repeated packets. `seq0` continues the numbering of an earlier run.
 */
export function dtmfPcap(keys: string, seq0: number): { pcap: Buffer; packets: number; durationMs: number } {
  const records: Buffer[] = [];
  let seq = seq0;
  let last = 0;
  [...keys].forEach((key, k) => {
    const cap = readFileSync(dtmfCapture(key));
    const little = cap.readUInt32LE(0) === 0xa1b2c3d4;
    const u32 = (o: number): number => (little ? cap.readUInt32LE(o) : cap.readUInt32BE(o));
    let first: number | undefined;
    for (let off = 24; off + 16 <= cap.length;) {
      const [sec, usec, len] = [u32(off), u32(off + 4), u32(off + 8)];
      const frame = Buffer.from(cap.subarray(off + 16, off + 16 + len));
      off += 16 + len;
      const t = sec * 1e6 + usec;
      first ??= t;
      const at = k * KEY_SPACING_MS * 1000 + (t - first);
      last = Math.max(last, at);
      // Ethernet (14) + IPv4 (20) + UDP (8), then RTP: sequence number at 2, timestamp at 4.
      const rtp = 14 + 20 + 8;
      frame.writeUInt16BE(seq++ & 0xffff, rtp + 2);
      frame.writeUInt32BE((seq0 * 160 + k * KEY_SPACING_MS * 8) >>> 0, rtp + 4);
      const head = Buffer.alloc(16);
      head.writeUInt32LE(Math.floor(at / 1e6), 0);
      head.writeUInt32LE(at % 1e6, 4);
      head.writeUInt32LE(len, 8);
      head.writeUInt32LE(len, 12);
      records.push(head, frame);
    }
  });
  const header = Buffer.alloc(24);
  header.writeUInt32LE(0xa1b2c3d4, 0);
  header.writeUInt16LE(2, 4);
  header.writeUInt16LE(4, 6);
  header.writeUInt32LE(65535, 16);
  header.writeUInt32LE(1, 20);
  return { pcap: Buffer.concat([header, ...records]), packets: seq - seq0, durationMs: Math.ceil(last / 1000) };
}

export interface DtmfCall {
  /** What the caller types, in turns: each string's keys one after the other; a pause between turns. */
  readonly turns: readonly string[];
  /** Before the first turn, and between turns (the next prompt starts), in ms. */
  readonly pauseMs: number;
  /** How long the caller waits after its last key for Asterisk to hang up, before hanging up itself. */
  readonly holdMs: number;
  /** Digest authentication after a 401 (a phone). */
  readonly auth: boolean;
}

/**
 * A SIPp scenario: INVITE offering PCMU and telephone-event (RFC 4733), the keys replayed from sip-tester's
 * captures once answered, then either Asterisk's BYE (answered 200) or, after holdMs, the caller's own BYE.
 */
export function dtmfCallScenario(c: DtmfCall, pcapOfTurn: (turn: number) => { path: string; durationMs: number }): string {
  const sdp = (version: number): string => `
      v=0
      o=- 1 ${version} IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-15
      a=sendrecv`;
  const invite = (cseq: number, auth: boolean): string => `
  <send retrans="500">
    <![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port];transport=[transport] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: <sip:[user]@[remote_ip]>;tag=[pid]SIPpTag0[call_number]
      To: <sip:[service]@[remote_ip]>
      Call-ID: [call_id]
      CSeq: ${cseq} INVITE
      Contact: <sip:[user]@[local_ip]:[local_port];transport=[transport]>${auth ? '\n      [authentication]' : ''}
      Max-Forwards: 70
      User-Agent: WeeBeeTalk test
      Content-Type: application/sdp
      Content-Length: [len]
${sdp(cseq)}
    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>`;
  const challenge = c.auth
    ? `${invite(1, false)}
  <recv response="401" auth="true"/>
  <send>
    <![CDATA[
      ACK sip:[service]@[remote_ip]:[remote_port];transport=[transport] SIP/2.0
      [last_Via:]
      [last_From:]
      [last_To:]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>${invite(2, true)}`
    : invite(1, false);
  const cseq = c.auth ? 2 : 1;
  const keys = c.turns
    .map((_, i) => {
      const { path, durationMs } = pcapOfTurn(i);
      return `  <pause milliseconds="${c.pauseMs}"/>\n  <nop><action><exec play_pcap_audio="${path}"/></action></nop>\n  <pause milliseconds="${durationMs + 100}"/>`;
    })
    .join('\n');
  return `<?xml version="1.0" encoding="ISO-8859-1" ?>
<!-- Generated by test/support/asterisk/dial-in.ts: a caller typing ${JSON.stringify(c.turns)} as RFC 4733 events. -->
<scenario name="dtmf-call">${challenge}
  <recv response="200" rrs="true"/>
  <send>
    <![CDATA[
      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      [routes]
      [last_From:]
      [last_To:]
      Call-ID: [call_id]
      CSeq: ${cseq} ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
${keys}
  <recv request="BYE" timeout="${c.holdMs}" ontimeout="hangup"/>
  <send next="end">
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
  <label id="hangup"/>
  <send retrans="500">
    <![CDATA[
      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      [routes]
      [last_From:]
      [last_To:]
      Call-ID: [call_id]
      CSeq: ${cseq + 1} BYE
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200"/>
  <label id="end"/>
</scenario>
`;
}

/** One call's channel as Asterisk's verbose output tells it. */
export interface HeardCall {
  readonly channel?: string;
  /** The prompts it heard, in order (file names without extension). */
  readonly prompts: readonly string[];
  /** The dialplan applications it ran after the first step, e.g. "Dial", "Hangup". */
  readonly apps: readonly string[];
}

/**
 * The channel that entered `context` at `exten` (its first step, "Executing [exten@context:1] App("CHANNEL", ...)"),
 * and what it heard: the output must hold exactly one such channel (each test call dials its own extension or
 * comes from its own endpoint).
 */
export function heard(output: string, exten: string, context: string, endpoint?: string): HeardCall {
  const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const first = new RegExp(`Executing \\[${esc(exten)}@${esc(context)}:1\\] \\w+\\("(PJSIP/${endpoint ? esc(endpoint) : '[^"]+'}-[0-9a-f]+)"`, 'g');
  const channels = [...new Set([...output.matchAll(first)].map((m) => m[1]))];
  if (channels.length !== 1) return { channel: channels.join(' '), prompts: [], apps: [] };
  const channel = channels[0];
  const prompts = [...output.matchAll(new RegExp(`<${esc(channel)}> Playing '([^'.]+)\\.\\w+'`, 'g'))].map((m) => m[1]);
  const apps = [...output.matchAll(new RegExp(`Executing \\[[^\\]]+\\] (\\w+)\\("${esc(channel)}"`, 'g'))].map((m) => m[1]);
  return { channel, prompts, apps };
}

/**
 * A mapper that is not the real one (a broken or hostile meet host): answers every request with `body`, on the real
 * mapper's address and port. Killed with the network, or by stop().
 */
export async function fakeMapper(net: Network, party: string, dir: string, listen: string, body: string): Promise<{ stop(): void }> {
  const file = join(dir, 'fake-mapper-body');
  writeFileSync(file, body);
  const hosts = join(dir, `${party}-hosts`);
  writeFileSync(hosts, `127.0.0.1 localhost\n${listen} ${party}\n`);
  const code = CENSUS_SERVER.replace('if self.path != path:', 'if path != "*" and self.path != path:').replace('"application/json"', '"text/plain"');
  const child = net.track(
    spawn('ip', ['netns', 'exec', net.ns(party), 'sh', '-c', 'mount --bind "$0" /etc/hosts && exec "$@"', hosts, 'python3', '-c', code, listen, String(DIAL_IN_MAPPER_PORT), '*', file], {
      stdio: 'ignore',
    }),
  );
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`the fake mapper exited ${child.exitCode}`);
    const ss = await runIn(net, party, ['ss', '-Hltn', 'sport', '=', `:${DIAL_IN_MAPPER_PORT}`], { timeoutMs: 2000 });
    if (ss.stdout.trim()) return { stop: () => child.pid !== undefined && child.exitCode === null && void process.kill(child.pid, 'SIGKILL') };
    await new Promise((r) => setTimeout(r, 30));
  }
  throw new Error(`the fake mapper does not listen on ${listen}:${DIAL_IN_MAPPER_PORT}`);
}

export interface MapperInNamespace {
  readonly census: NamespaceCensus;
  readonly config: DialInMapperConfig;
  readonly mapper: RunningMapper;
  /** The mapper's PIN of a room (`--pin-of`). */
  pinOf(room: string): string;
  /** Stops the mapper (the census stand-in ends with the network). */
  stop(): void;
}

/**
 * The real mapper as the meet host runs it (bound to its private address, port DIAL_IN_MAPPER_PORT, /room only
 * for the pbx's addresses), the host's python3 in the party's namespace, with the census stand-in beside it.
 */
export async function mapperInNamespace(
  net: Network,
  party: string,
  dir: string,
  listen: string,
  pbxAddresses: readonly string[],
  key = 'a test key of the dial-in suite',
): Promise<MapperInNamespace> {
  writeFileSync(join(dir, 'pin-key'), `${key}\n`, { mode: 0o600 });
  const config: DialInMapperConfig = {
    listen,
    port: DIAL_IN_MAPPER_PORT,
    mucDomain: XMPP_MUC_DOMAIN,
    censusUrl: `http://${PROSODY_HTTP_LOOPBACK.address}:${PROSODY_HTTP_LOOPBACK.port}${PROSODY_CENSUS_PATH}`,
    pbxAddresses,
    keyFile: join(dir, 'pin-key'),
    numbers: [],
  };
  const census = await censusInNamespace(net, party, dir);
  // The real mapper binds without a DNS lookup of its address (its server_bind): the namespace has no DNS, and the
  // start would wait for the resolver's timeout otherwise.
  const mapper = await startMapper(dir, config, ['ip', 'netns', 'exec', net.ns(party)]);
  return { census, config, mapper, pinOf: (room) => pinOf(dir, config, room), stop: () => mapper.stop() };
}
