/**
 * Production's TURN relay configuration in a real coturn 4.6.1 (Debian 12's), used and attacked from network
 * namespaces with the addresses the plan gives: the turn host (its listening-ip), a client from the Internet,
 * the video bridge (the meet host's private address, an allowed peer) and a bridge of the JVB pool (an address of
 * the pools' subnet, the other allowed range) echoing with turnutils_peer.
 * The configuration is the bundle's file from the synthesized plan plus a test static-auth-secret, as turn.sh
 * writes to /etc/coturn/weebeetalk.conf, bind-mounted here where turnserver -c reads it; nothing in it is replaced. Credentials are computed as Prosody's
 * mod_external_services computes them (docker-jitsi-meet's TURN_CREDENTIALS).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addressRange, hostAddress, parseCidr, poolSubnetOf, subnet } from '../config/net';
import { createNetwork, runIn, type Network } from './support/asterisk/netns';
import { checkChrootCoturn, COTURN_ROOT, installCertificate, startCoturn, testCa, TURN_CLIENT, turnserverGid, type Certificate, type Coturn } from './support/coturn/server';
import { hostFiles, hostSettings } from './support/host-files';
import { describeAsRoot } from './support/root';
import { synthEnvironment } from './support/synth';

const TEST_MS = 8000;
/** A client somewhere on the Internet (a benchmarking address: nothing routes it here anyway). */
const CLIENT_IP = '198.18.0.66';
const PEER_PORT = 3480;

const synth = synthEnvironment('production');
const generated = hostFiles(synth, 'turn').get('/etc/weebeetalk/coturn/turnserver.conf')?.content ?? '';
/** Every value of an option of the generated file (coturn's `name=value` lines). */
const option = (name: string): string[] =>
  generated
    .split('\n')
    .filter((l) => l === name || l.startsWith(`${name}=`))
    .map((l) => l.slice(name.length + 1));
const [turnIp] = option('listening-ip');
const [bridgeIp, poolRange] = option('allowed-peer-ip');
const [realm] = option('realm');
const userQuota = Number(option('user-quota')[0]);
/** Another host of the VPC: the pbx's private address in the plan. */
const pbxIp = hostSettings(synth, 'pbx').PRIVATE_IP;
const vpc = parseCidr(synth.config.network.vpcCidr);
if (!vpc) throw new Error(`production's vpcCidr ${synth.config.network.vpcCidr} is not a CIDR`);
/** A bridge of the JVB pool: an address of the pools' subnet (members get theirs by DHCP). */
const poolBridgeIp = hostAddress(poolSubnetOf(vpc), 57);
/** The VPC beyond the hosts' and the pools' subnets: no peer of the relay. */
const otherVpcIp = hostAddress(subnet(vpc, 24, 2), 57);

/** Prosody's mod_external_services: username = expiry in Unix seconds, password = base64(HMAC-SHA1(secret, username)). */
function restCredentials(secret: string, expiry: number): { username: string; password: string } {
  const username = String(expiry);
  return { username, password: createHmac('sha1', secret).update(username).digest('base64') };
}

interface Step {
  step: string;
  status: number | string;
  error?: string;
}
interface TurnResult {
  steps: Step[];
  relayed?: { ip: string; port: number };
  echoed?: Record<string, number>;
}
interface TlsResult {
  ok: boolean;
  protocol?: string;
  cipher?: string;
  fingerprint256?: string;
  error?: string;
}

describeAsRoot("coturn 4.6.1 with production's turnserver.conf (real daemon, clients in network namespaces)", [COTURN_ROOT])('real coturn: production', () => {
  const secret = randomBytes(24).toString('base64url');
  const now = (): number => Math.floor(Date.now() / 1000);
  let work = '';
  let certDir = '';
  let net: Network | undefined;
  let turn: Coturn | undefined;
  let ca: ReturnType<typeof testCa>;
  let first: Certificate;
  let listening = '';
  let uclientW: Promise<{ code: number | null; stdout: string; stderr: string }>;

  const client = async <T>(job: Record<string, unknown>): Promise<T> => {
    const r = await runIn(net!, 'clnt', [process.execPath, TURN_CLIENT, JSON.stringify({ host: turnIp, servername: realm, ca: ca.ca, ...job })], { timeoutMs: 6000 });
    if (r.code !== 0) throw new Error(`turn-client failed (${r.code}): ${r.stderr}`);
    return JSON.parse(r.stdout) as T;
  };
  const allocate = (creds: { username: string; password: string }, peers: string[], extra: Record<string, unknown> = {}): Promise<TurnResult> =>
    client<TurnResult>({ op: 'turn', port: 443, ...creds, peers: peers.map((ip) => ({ ip, port: PEER_PORT })), messages: 5, ...extra });
  const tlsProbe = (version: string, extra: Record<string, unknown> = {}): Promise<TlsResult> =>
    client<TlsResult>({ op: 'tls', port: 443, minVersion: version, maxVersion: version, ciphers: 'DEFAULT@SECLEVEL=0', ...extra });
  /** coturn's own client, over TCP 3478 (its TLS mode picks TLS 1.0, 1.1, 1.2 or any at random per run). */
  const uclient = (args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> =>
    runIn(net!, 'clnt', ['chroot', COTURN_ROOT, 'turnutils_uclient', '-t', '-p', '3478', '-e', bridgeIp, '-r', String(PEER_PORT), '-n', '10', '-z', '5', '-c', ...args, turnIp], { timeoutMs: 7500 });

  beforeAll(async () => {
    checkChrootCoturn();
    if (!turnIp || !bridgeIp || !realm || !userQuota || !pbxIp) throw new Error(`the plan's turnserver.conf lacks listening-ip, allowed-peer-ip, realm or user-quota:\n${generated}`);
    if (!synth.config.jitsi.jvbPool.enabled) throw new Error("production's JVB pool is off: the pool bridge tests below need it");
    work = mkdtempSync(join(tmpdir(), 'wbt-coturn-'));
    certDir = join(work, 'certs');
    mkdirSync(certDir);
    ca = testCa(join(work, 'ca'));
    first = ca.issue(realm, 'first');
    installCertificate(certDir, first, turnserverGid());
    net = createNetwork(`wbtturn-${process.pid}`, { turn: [turnIp], clnt: [CLIENT_IP], brdg: [bridgeIp], pool: [poolBridgeIp], vpc: [otherVpcIp] });
    // The bridges (and a would-be peer elsewhere in the VPC): turnutils_peer echoes what reaches it on 3480 back to the relayed address.
    net.track(spawnPeer(net, 'brdg', bridgeIp));
    net.track(spawnPeer(net, 'pool', poolBridgeIp));
    net.track(spawnPeer(net, 'vpc', otherVpcIp));
    // What turn.sh writes: the bundle's file, then the secret.
    turn = await startCoturn(net, 'turn', work, `${generated}static-auth-secret=${secret}\n`, certDir);
    listening = (await runIn(net, 'turn', ['ss', '-Hltun'], { timeoutMs: 2000 })).stdout;
    // coturn's client waits 1 to 6 s before it sends: it starts now and runs alongside the other tests. With -W
    // and no -u its username is the expiry alone, Prosody's format (mainuclient.c: "%lu", time(NULL) + 86400).
    uclientW = uclient(['-W', secret]);
  }, 15000);

  afterAll(async () => {
    // Clients still running (a failed test) are killed with the namespaces, by PID.
    await turn?.stop();
    net?.destroy();
    if (work && !process.env.WBT_KEEP_COTURN) rmSync(work, { recursive: true, force: true });
  });

  it(
    'loads the configuration: no unknown or malformed option, the deny-all range and the bridge read',
    () => {
      const log = turn!.output();
      expect(log.split('\n').filter((l) => /Bad configuration format|unknown option|unrecognized option|CONFIG ERROR|ERROR:|WARNING/i.test(l))).toEqual([]);
      expect(log).toContain(`Listener address to use: ${turnIp}`);
      expect(log).toContain(`Relay address to use: ${turnIp}`);
      expect(log).toContain(`Default realm: ${realm}`);
      expect(log).toContain(`White listing: ${bridgeIp}`);
      // The JVB pool's bridges: the pools' whole subnet, in coturn's range form (4.6.1 reads no CIDR there).
      expect(option('allowed-peer-ip')).toEqual([bridgeIp, addressRange(poolSubnetOf(vpc!))]);
      expect(log).toContain(`White listing: ${poolRange}`);
      const denied = option('denied-peer-ip');
      // The whole IPv4 space denied, the bridge allowed (allowed wins in coturn).
      expect(denied).toEqual(['0.0.0.0-255.255.255.255']);
      expect(denied.filter((d) => !log.includes(`Black listing: ${d}`))).toEqual([]);
      expect(turn!.alive()).toBe(true);
    },
    TEST_MS,
  );

  it(
    'listens on TLS 443 and TCP/UDP 3478 of its private address only, no CLI (5766)',
    () => {
      const sockets = listening
        .trim()
        .split('\n')
        .map((l) => l.trim().split(/\s+/))
        .map((f) => `${f[0]} ${f[4]}`);
      expect([...new Set(sockets)].sort()).toEqual([`tcp ${turnIp}:3478`, `tcp ${turnIp}:443`, `udp ${turnIp}:3478`]);
      expect(listening).not.toMatch(/:5766\b/);
    },
    TEST_MS,
  );

  it(
    'TLS on 443: 1.2 with an AEAD cipher and the certificate for its name; no TLS 1.0 or 1.1, no CBC cipher',
    async () => {
      // coturn 4.6.1 never answers a TLS 1.0/1.1 ClientHello once no-tlsv1/no-tlsv1_1 removed their contexts: no
      // handshake within 600 ms (a TLS 1.2 one takes a few) is the refusal.
      const old = { handshakeMs: 600 };
      const [v10, v11, v12, cbc] = await Promise.all([
        tlsProbe('TLSv1', old),
        tlsProbe('TLSv1.1', old),
        tlsProbe('TLSv1.2'),
        tlsProbe('TLSv1.2', { ciphers: 'ECDHE-RSA-AES128-SHA256:ECDHE-RSA-AES128-SHA@SECLEVEL=0' }),
      ]);
      expect(v12).toMatchObject({ ok: true, protocol: 'TLSv1.2', fingerprint256: first.fingerprint256 });
      expect(v12.cipher).toMatch(/^ECDHE-RSA-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)$/);
      expect({ v10: v10.ok, v11: v11.ok, cbc: cbc.ok }).toEqual({ v10: false, v11: false, cbc: false });
    },
    TEST_MS,
  );

  it(
    'TLS 1.3: a browser offering 1.2 and 1.3 gets 1.2; coturn 4.6.1 refuses a 1.3-only client (upstream bug, fixed in 4.6.2)',
    async () => {
      // 4.6.1 picks its TLSv1_2_server_method context for every ClientHello whose version field says 1.2, which
      // a TLS 1.3 ClientHello's does (ns_ioalib_engine_impl.c, check_tentative_tls); coturn e87c4252 "Fix TLS1.3
      // support" is in 4.6.2. When Debian's coturn negotiates 1.3, this test fails: make it require 1.3 then.
      const [both, only13] = await Promise.all([client<TlsResult>({ op: 'tls', port: 443, minVersion: 'TLSv1.2', maxVersion: 'TLSv1.3' }), tlsProbe('TLSv1.3')]);
      expect(both).toMatchObject({ ok: true, protocol: 'TLSv1.2', fingerprint256: first.fingerprint256 });
      expect(only13).toMatchObject({ ok: false });
    },
    TEST_MS,
  );

  it(
    "allocates over TLS with Prosody's credentials and relays to the bridge without loss",
    async () => {
      const r = await allocate(restCredentials(secret, now() + 86400), [bridgeIp]);
      expect(r.steps).toEqual([
        { step: 'challenge', status: 401 },
        { step: 'allocate', status: 200 },
        { step: `permission ${bridgeIp}`, status: 200 },
      ]);
      expect(r.relayed?.ip).toBe(turnIp);
      expect(r.echoed).toEqual({ [bridgeIp]: 5 });
    },
    TEST_MS,
  );

  it(
    "coturn's own client (turnutils_uclient -W with the shared secret) relays to the bridge with 0% loss",
    async () => {
      const r = await uclientW;
      const out = r.stdout + r.stderr;
      // Its final count (the periodic ones say `msz=...` first): exit 0 alone does not say anything was relayed.
      const sent = /start_mclient: tot_send_msgs=(\d+), tot_recv_msgs=(\d+)/.exec(out);
      expect({ code: r.code, sent: sent?.[1], received: sent?.[2], lost: /Total lost packets (\d+) \(/.exec(out)?.[1] }).toEqual({ code: 0, sent: '10', received: '10', lost: '0' });
    },
    TEST_MS,
  );

  it(
    "relays to a bridge of the JVB pool (an address of the pools' subnet) without loss",
    async () => {
      const r = await allocate(restCredentials(secret, now() + 86400), [poolBridgeIp]);
      expect(r.steps).toEqual([
        { step: 'challenge', status: 401 },
        { step: 'allocate', status: 200 },
        { step: `permission ${poolBridgeIp}`, status: 200 },
      ]);
      expect(r.echoed).toEqual({ [poolBridgeIp]: 5 });
    },
    TEST_MS,
  );

  it(
    'refuses a wrong secret and an expired credential (401)',
    async () => {
      const [wrong, expired] = await Promise.all([allocate(restCredentials('not-the-secret', now() + 86400), [bridgeIp]), allocate(restCredentials(secret, now() - 60), [bridgeIp])]);
      for (const r of [wrong, expired]) {
        expect(r.steps).toEqual([
          { step: 'challenge', status: 401 },
          { step: 'allocate', status: 401, error: 'Unauthorized' },
        ]);
      }
    },
    TEST_MS,
  );

  it(
    'refuses to relay to the metadata service, another VPC host, loopback, private ranges and the internet (403 Forbidden IP)',
    async () => {
      // A public address too: the bridge is the only peer, or every meeting guest would have an anonymous UDP sender.
      // otherVpcIp answers (a peer listens there): only the relay's refusal keeps it out.
      const forbidden = ['169.254.169.254', pbxIp, otherVpcIp, '127.0.0.1', '192.168.1.1', '172.17.0.1', '100.64.0.1', '8.8.8.8', '203.0.113.7'];
      expect(forbidden).not.toContain(bridgeIp);
      expect(forbidden).not.toContain(poolBridgeIp);
      const r = await allocate(restCredentials(secret, now() + 86400), forbidden);
      expect(r.steps.slice(0, 2)).toEqual([
        { step: 'challenge', status: 401 },
        { step: 'allocate', status: 200 },
      ]);
      expect(r.steps.slice(2)).toEqual(forbidden.map((ip) => ({ step: `permission ${ip}`, status: 403, error: 'Forbidden IP' })));
      expect(r.echoed).toEqual({});
    },
    TEST_MS,
  );

  it(
    'refuses more than user-quota simultaneous allocations for one username (486)',
    async () => {
      const r = await client<{ sessions: TurnResult[] }>({ op: 'turn', port: 443, ...restCredentials(secret, now() + 86400), sessions: userQuota + 1 });
      const statuses = r.sessions.map((s) => s.steps.find((x) => x.step === 'allocate')?.status);
      expect(statuses).toEqual([...Array<number>(userQuota).fill(200), 486]);
    },
    TEST_MS,
  );

  it(
    'serves a replaced certificate after SIGUSR2, without a restart (turn-cert-deploy.sh)',
    async () => {
      const second = ca.issue(realm, 'second');
      expect(second.fingerprint256).not.toBe(first.fingerprint256);
      installCertificate(certDir, second, turnserverGid());
      const pid = turn!.pid;
      process.kill(pid, 'SIGUSR2');
      let served: TlsResult | undefined;
      for (let i = 0; i < 20; i++) {
        served = await tlsProbe('TLSv1.2');
        if (served.fingerprint256 === second.fingerprint256) break;
        await new Promise((res) => setTimeout(res, 50));
      }
      expect(served).toMatchObject({ ok: true, fingerprint256: second.fingerprint256 });
      expect({ alive: turn!.alive(), pid: turn!.pid }).toEqual({ alive: true, pid });
    },
    TEST_MS,
  );
});

function spawnPeer(net: Network, party: string, ip: string): ChildProcess {
  return spawn('ip', ['netns', 'exec', net.ns(party), 'chroot', COTURN_ROOT, 'turnutils_peer', '-L', ip, '-p', String(PEER_PORT)], { stdio: 'ignore' });
}
