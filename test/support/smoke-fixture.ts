/**
 * A fake deployed stack on 127.0.0.1 for the smoke-check tests: DNS over UDP, HTTPS (Rocket.Chat and Jitsi by
 * Host header), an HTTP redirector, SIP over UDP (answering or silent) and SIP over TLS, with certificates from
 * a throw-away CA made with the openssl CLI. Every port is ephemeral; nothing leaves the loopback interface.
 */
import { execFileSync } from 'node:child_process';
import * as dgram from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';
import { ROLES, type Role } from '../../config/schema';

/** Every role's host name (`chat.example.test`, ...): the fixture serves one host per role of the registry. */
export const FQDNS = Object.fromEntries(ROLES.map((role) => [role, `${role}.example.test`])) as Record<Role, string>;
export const WRONG_NAME = 'other.example.test';
export const LOOPBACK = '127.0.0.1';
export const ROCKET_CHAT_VERSION = '6.10.0';

interface KeyPair {
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

/** Rocket.Chat on chat.*, Jitsi Meet on meet.*, chosen by Host as the real reverse proxies do. */
function appHandler(req: http.IncomingMessage, res: http.ServerResponse): void {
  const host = (req.headers.host ?? '').replace(/:\d+$/, '');
  if (host === FQDNS.chat && req.url === '/api/info') {
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ version: ROCKET_CHAT_VERSION, success: true }));
  } else if (host === FQDNS.meet && req.url === '/') {
    res.writeHead(200, { 'Content-Type': 'text/html' }).end('<!DOCTYPE html><html><head><title>Jitsi Meet</title></head><body></body></html>');
  } else {
    res.writeHead(404).end('not found');
  }
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
  /** Outputs file in cdktf's { "<env>": {...} } shape, all IPs 127.0.0.1. */
  outputsFile: string;
  env: string;
  close(): Promise<void>;
}

function listen(server: http.Server | tls.Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, LOOPBACK, () => resolve((server.address() as AddressInfo).port));
  });
}

export async function startSmokeFixture(): Promise<SmokeFixture> {
  const pki = makeTestPki();
  const sockets: dgram.Socket[] = [];
  const servers: (http.Server | tls.Server)[] = [];

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

  const httpsServer = https.createServer({ ...pki.good }, appHandler);
  const wrongHttps = https.createServer({ ...pki.wrong }, appHandler);
  const redirect = http.createServer((req, res) => {
    const host = (req.headers.host ?? '').replace(/:\d+$/, '');
    res.writeHead(301, { Location: `https://${host}${req.url ?? '/'}` }).end();
  });
  // Asterisk's TLS transport: a handshake is all the check needs.
  const sips = tls.createServer({ ...pki.good }, (socket) => socket.end());
  servers.push(httpsServer, wrongHttps, redirect, sips);
  const [httpsPort, wrongHttpsPort, httpPort, sipsPort] = await Promise.all(servers.map(listen));
  const [sip, silentSip] = await Promise.all([startSip(true, sockets), startSip(false, sockets)]);

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
    outputsFile,
    env,
    async close() {
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
