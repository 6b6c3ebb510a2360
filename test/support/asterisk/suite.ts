/**
 * The pbx host's generated configuration in a real Asterisk 22, attacked and used the way the world will:
 * Jigasi from the meet host, the SIP trunk from its network, phones over TLS from the client networks, and a
 * stranger from anywhere else, each from its own network namespace with the address the plan gives it.
 * One Asterisk per environment; every scenario runs against it.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { describeAsRoot } from '../root';
import { CONFERENCE_EXTENSION } from '../../../config/schema';
import { synthEnvironment, synthVariant, type EnvironmentOverride } from '../synth';
import { checkChrootAsterisk, FAIL2BAN_ROOT, SID_ROOT, startAsterisk, type Asterisk } from './daemon';
import { createNetwork, runIn, type Network } from './netns';
import { asteriskFile, parseConf, pbxPlan, planFile, planSetting, renderPublicIp, values, type PbxPlan } from './plan';
import { preparePbx, type PreparedPbx } from './prepare';
import { callId, describeRun, finalStatus, receivedRequests, sipp, statuses, type SippRun } from './sipp';

const run = promisify(execFile);

/** Per test: a few SIPp runs with bounded timeouts each. */
const TEST_MS = 20000;

/** TEST-NET-3 stands in for the Elastic IP; TEST-NET-2's benchmark neighbour for a stranger. */
const PUBLIC_IP = '203.0.113.12';
const STRANGER_IP = '198.18.0.66';

function ipToInt(a: string): number {
  return a.split('.').reduce((n, o) => n * 256 + Number(o), 0);
}
function intToIp(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
}
export function inCidr(addr: string, cidr: string): boolean {
  const [net, len] = cidr.split('/');
  const size = 2 ** (32 - Number(len));
  const base = ipToInt(net) - (ipToInt(net) % size);
  return ipToInt(addr) >= base && ipToInt(addr) < base + size;
}
/** The n-th address of a CIDR (n must fit). */
function nth(cidr: string, n: number): string {
  const [net, len] = cidr.split('/');
  if (n >= 2 ** (32 - Number(len)) - 1) throw new Error(`${cidr} has no address #${n}`);
  return intToIp(ipToInt(net) + n);
}

/**
 * A shipped environment, or a variant of one (label, base, override) for what no shipped file enables; a
 * variant with `only: 'wss'` runs the load check and the WSS scenarios alone (the rest is its base's suite).
 */
export function realAsteriskSuite(env: string, variant?: { base: string; override: EnvironmentOverride; only?: 'wss' }): void {
  const synth = variant ? synthVariant(env, variant.base, variant.override) : synthEnvironment(env);
  const { sip, jitsi, network } = synth.config;
  const plan: PbxPlan = pbxPlan(synth);
  const trunkCidr = sip.trunkSignallingCidrs[0];
  const clientCidr = sip.clientCidrs[0];
  const everyCidr = [network.vpcCidr, ...sip.clientCidrs, ...sip.trunkSignallingCidrs, ...sip.trunkMediaCidrs];
  if (everyCidr.some((c) => inCidr(STRANGER_IP, c) || inCidr(PUBLIC_IP, c))) throw new Error(`${env}: pick other test addresses: they fall in a configured network`);
  const parties: Record<string, string[]> = {
    pbx: [plan.privateIp.pbx, PUBLIC_IP],
    meet: [plan.privateIp.meet],
    chat: [plan.privateIp.chat],
    strgr: [STRANGER_IP],
    ...(clientCidr ? { phone: [nth(clientCidr, 20)] } : {}),
    ...(trunkCidr ? { trunk: [nth(trunkCidr, 5)] } : {}),
  };
  const pbxPrivate = `${plan.privateIp.pbx}:5060`;
  const pbxPublic = `${PUBLIC_IP}:5060`;
  // A name below the host's own path, or (OWNER/NAME, e.g. meet/jigasi-sip-password) a shared secret beside it.
  const ssm = (name: string): string => (/^(meet|turn|chat)\//.test(name) ? `${plan.hostEnv.SSM_PREFIX.replace(/\/[^/]+$/, '')}/${name}` : `${plan.hostEnv.SSM_PREFIX}/${name}`);
  const users = sip.users.map((u) => u.extension);
  const all = variant?.only !== 'wss';

  describeAsRoot(`Asterisk 22 with ${env}'s configuration (real daemon, SIPp in network namespaces)`, [SID_ROOT, FAIL2BAN_ROOT])(`real Asterisk 22: ${env}`, () => {
    let work = '';
    let net: Network | undefined;
    let pbx: Asterisk | undefined;
    let prepared: PreparedPbx;
    const password = (name: string): string => {
      const p = prepared.passwords[ssm(name)];
      if (!p) throw new Error(`no SSM parameter ${ssm(name)} in the plan`);
      return p;
    };
    const rtp = parseConf(renderPublicIp(asteriskFile(plan, 'rtp.conf'), PUBLIC_IP));
    const rtpRange = [Number(values(rtp, 'general', 'rtpstart')[0]), Number(values(rtp, 'general', 'rtpend')[0])];
    /** The SDP's connection address, and whether its audio port lies in rtp.conf's range. */
    const media = (sipMessage: string): { address?: string; inRange: boolean } => {
      const port = Number(/^m=audio (\d+) /m.exec(sipMessage)?.[1]);
      return { address: /^c=IN IP4 (\S+)/m.exec(sipMessage)?.[1], inRange: port >= rtpRange[0] && port <= rtpRange[1] };
    };
    const registerJigasi = (from: string, pass: string): Promise<SippRun> =>
      sipp(net!, from, work, { scenario: 'register.xml', local: parties[from][0], remote: pbxPrivate, transport: 'u1', keys: { user: 'jigasi' }, auth: { user: 'jigasi', password: pass } });
    /** The run's final status is one of `allowed` (the diff names the run and what came back otherwise). */
    const expectFinal = (r: SippRun, allowed: readonly number[], context: Record<string, string> = {}): void => {
      const final = finalStatus(r);
      const ok = final !== undefined && allowed.includes(final);
      expect({ ...context, final, ...(ok ? {} : { run: describeRun(r) }) }).toEqual({ ...context, final: ok ? final : `one of ${allowed.join(', ')}` });
    };
    /** The security events Asterisk logged for one Call-ID (its SessionID), waiting briefly for the logger. */
    const securityEvents = async (id: string): Promise<Record<string, string>[]> => {
      const parse = (): Record<string, string>[] =>
        pbx!
          .log('security.log')
          .split('\n')
          .filter((l) => l.includes(`SessionID="${id}"`))
          .map((l) => Object.fromEntries([...l.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]])));
      for (let i = 0; i < 20 && parse().length === 0; i++) await new Promise((res) => setTimeout(res, 50));
      return parse();
    };

    beforeAll(async () => {
      // Loudly, before anything runs: every test of the suite fails with this message.
      checkChrootAsterisk();
      work = mkdtempSync(join(tmpdir(), `wbt-asterisk-${env}-`));
      prepared = preparePbx(plan, work, PUBLIC_IP);
      net = createNetwork(`wbt${env.slice(0, 3)}${env.length}-${process.pid}`, parties);
      pbx = await startAsterisk(net, 'pbx', prepared);
    }, 30000);

    afterAll(async () => {
      await pbx?.stop();
      net?.destroy();
      // WBT_KEEP_ASTERISK=1 keeps the scratch directory (configuration, logs, SIPp traces) for a post-mortem.
      if (work && !process.env.WBT_KEEP_ASTERISK) rmSync(work, { recursive: true, force: true });
    });

    it(
      'loads with zero ERROR and WARNING lines',
      () => {
        const lines = pbx!.log('messages.log').split('\n').concat(pbx!.output().split('\n'));
        expect(lines.filter((l) => /\b(ERROR|WARNING)\[/.test(l))).toEqual([]);
        expect(pbx!.log('messages.log')).toMatch(/Asterisk Ready|modules will be loaded/);
      },
      TEST_MS,
    );

    if (all && jitsi.jigasi) {
      it(
        'Jigasi registers from the meet host with its password',
        async () => {
          const r = await registerJigasi('meet', password('meet/jigasi-sip-password'));
          expect({ status: finalStatus(r), run: describeRun(r) }).toMatchObject({ status: 200 });
        },
        TEST_MS,
      );

      it(
        'Jigasi with a wrong password is refused',
        async () => {
          const r = await registerJigasi('meet', 'not-the-password');
          expect(finalStatus(r)).not.toBe(200);
          expect(statuses(r)).not.toContain(200);
        },
        TEST_MS,
      );

      it(
        "Jigasi's name and password from any other address are refused (a VPC neighbour, a stranger)",
        async () => {
          const froms = ['chat', 'strgr'];
          const runs = await Promise.all(froms.map((from) => registerJigasi(from, password('meet/jigasi-sip-password'))));
          runs.forEach((r, i) => expect({ from: froms[i], statuses: statuses(r) }).not.toMatchObject({ statuses: expect.arrayContaining([200]) }));
        },
        TEST_MS,
      );
    }

    (all ? it : it.skip)(
      'a stranger is never routed, whatever endpoint name it puts in From (challenged or refused)',
      async () => {
        const names = ['trunk', 'jigasi', 'anonymous', ...users];
        // In parallel, each from its own port.
        const runs = await Promise.all(
          names.map((user, i) =>
            sipp(net!, 'strgr', work, { scenario: 'invite.xml', local: STRANGER_IP, localPort: 5070 + i, remote: pbxPublic, transport: 'u1', keys: { user }, service: users[0] ?? '8000' }),
          ),
        );
        for (const [i, user] of names.entries()) {
          const r = runs[i];
          const final = finalStatus(r);
          expect({ user, final, answered: statuses(r).includes(200) }).toEqual({ user, final: expect.any(Number), answered: false });
          // 404 would already mean a dialplan lookup: the request was let in.
          expect([401, 403, 407]).toContain(final);
        }
      },
      TEST_MS,
    );

    if (all && trunkCidr) {
      it(
        "the trunk, identified by its source address alone, is answered with the dial-in's PIN prompt (test/asterisk-dial-in.test.ts follows the call)",
        async () => {
          // A caller id that names no endpoint: only the address may identify the trunk.
          const call = await sipp(net!, 'trunk', work, { scenario: 'invite.xml', local: parties.trunk[0], remote: pbxPublic, transport: 'u1', keys: { user: '+62215550100' }, service: '+6221555000' });
          expect({ final: finalStatus(call), run: describeRun(call) }).toMatchObject({ final: 200 });
          // NAT as the transports state it: the Elastic IP towards the trunk, and media ports inside rtp.conf's
          // range (which the security group opens). The Jigasi leg's private address: the dial-in suite.
          const answer = call.messages.filter((m) => m.dir === 'received' && /^SIP\/2\.0 200/.test(m.text) && /CSeq: \d+ INVITE/.test(m.text)).pop()?.text ?? '';
          expect(media(answer)).toEqual({ address: PUBLIC_IP, inRange: true });
        },
        TEST_MS,
      );

      it(
        "the trunk's name from outside its network is not the trunk",
        async () => {
          // The trunk's number, so that a call wrongly taken for the trunk would be routed (to from-trunk, then to
          // a Jigasi that is not listening now: 408/480/503, never 200; so the final status must be a refusal).
          const r = await sipp(net!, 'strgr', work, {
            scenario: 'invite.xml',
            local: STRANGER_IP,
            localPort: 5090,
            remote: pbxPublic,
            transport: 'u1',
            keys: { user: 'trunk' },
            service: '+6221555000',
          });
          expectFinal(r, [401, 403]);
          // This call's own failure event (its Call-ID and source), as fail2ban reads it: the earlier stranger test
          // left events from this address too. InvalidAccountID: the name identifies no endpoint at all (FailedACL
          // would mean it was taken for the trunk and only its ACL stopped it).
          const events = await securityEvents(callId(r));
          expect(events.filter((e) => /^(InvalidAccountID|FailedACL)$/.test(e.SecurityEvent) && e.RemoteAddress === `IPV4/UDP/${STRANGER_IP}/5090`)).toEqual([
            expect.objectContaining({ SecurityEvent: 'InvalidAccountID', AccountID: 'trunk' }),
          ]);
        },
        TEST_MS,
      );
    }

    // Asterisk runs under an OpenSSL policy that allows TLS 1.0 (daemon.ts): what is refused, the generated
    // configuration refuses (pjsip.tls.conf on 5061, http.conf on 8089).
    const handshake = async (port: number, version: string, cipher?: string): Promise<{ code: number | null; out: string }> => {
      // OpenSSL 3 clients offer TLS 1.0/1.1 only at security level 0: let this client try; the server decides.
      const legacy = version === 'tls1' || version === 'tls1_1' ? ['-cipher', 'DEFAULT@SECLEVEL=0'] : cipher ? ['-cipher', cipher] : [];
      const r = await runIn(
        net!,
        'phone',
        ['openssl', 's_client', '-brief', '-connect', `${PUBLIC_IP}:${port}`, `-${version}`, ...legacy, '-CAfile', prepared.caFile, '-verify_return_error', '-servername', plan.hostEnv.FQDN],
        {
          timeoutMs: 5000,
          input: '',
        },
      );
      return { code: r.code, out: r.stdout + r.stderr };
    };
    const expectModernTls = async (port: number): Promise<void> => {
      for (const [flag, name] of [
        ['tls1_2', 'TLSv1.2'],
        ['tls1_3', 'TLSv1.3'],
      ]) {
        const h = await handshake(port, flag);
        expect({ port, flag, code: h.code, protocol: /^Protocol version: (\S+)/m.exec(h.out)?.[1], out: h.out.slice(-400) }).toMatchObject({ code: 0, protocol: name });
        expect(h.out).toMatch(/^Verification: OK$/m);
      }
    };
    /**
     * TLS 1.2 desk phones whose firmware has no AEAD suite (older Yealink, Grandstream, Fanvil): a client that
     * offers one ECDHE-RSA CBC suite alone gets it (the certificate is RSA, as certbot is asked for).
     */
    const expectCbcTls12 = async (port: number): Promise<void> => {
      for (const cipher of ['ECDHE-RSA-AES128-SHA256', 'ECDHE-RSA-AES256-SHA384']) {
        const h = await handshake(port, 'tls1_2', cipher);
        expect({ port, cipher, code: h.code, suite: /^Ciphersuite: (\S+)/m.exec(h.out)?.[1], out: h.out.slice(-400) }).toMatchObject({ code: 0, suite: cipher });
        expect(h.out).toMatch(/^Verification: OK$/m);
      }
    };
    const expectLegacyTlsRefused = async (port: number): Promise<void> => {
      for (const flag of ['tls1', 'tls1_1']) {
        const h = await handshake(port, flag);
        expect({ port, flag, code: h.code }).not.toEqual({ port, flag, code: 0 });
        // The refusal must come from the server, not from a client that never offered the version: OpenSSL
        // reports an alert it received as "SSL alert number N".
        expect(h.out).not.toMatch(/no protocols available|no ciphers available/);
        expect({ port, flag, out: h.out.slice(-600) }).toMatchObject({ out: expect.stringMatching(/alert (handshake failure|protocol version).*SSL alert number (40|70)/) });
      }
    };
    const tlsFiles = (): { cert: string; key: string } => ({ cert: prepared.clientCert, key: prepared.clientKey });

    if (sip.wss && clientCidr && users.length > 0) {
      it(
        'WSS on 8089: TLS 1.2 (also CBC-only clients) and 1.3 with the certificate, TLS 1.0 and 1.1 refused by the server',
        async () => {
          await expectModernTls(8089);
          await expectCbcTls12(8089);
          await expectLegacyTlsRefused(8089);
        },
        TEST_MS,
      );

      it(
        'a browser phone registers over WSS with its password, and not without',
        async () => {
          const user = `webrtc-${users[0]}`;
          const wss = { local: parties.phone[0], remote: `${PUBLIC_IP}:8089`, transport: 'x1' as const, wsPath: '/ws', keys: { user }, tls: tlsFiles() };
          const ok = await sipp(net!, 'phone', work, { scenario: 'register.xml', ...wss, auth: { user, password: password(`sip-users/${users[0]}`) } });
          expect({ status: finalStatus(ok), run: describeRun(ok) }).toMatchObject({ status: 200 });
          const wrong = await sipp(net!, 'phone', work, { scenario: 'register.xml', ...wss, auth: { user, password: 'not-the-password' } });
          expect(statuses(wrong)).not.toContain(200);
          const options = await sipp(net!, 'phone', work, { scenario: 'options.xml', ...wss, service: user });
          expect({ final: finalStatus(options) }).toEqual({ final: 401 });
        },
        TEST_MS,
      );
    }

    if (all && clientCidr && users.length > 0) {
      it(
        'TLS 1.2 and 1.3 handshakes succeed on 5061 with the certificate',
        async () => {
          await expectModernTls(5061);
        },
        TEST_MS,
      );

      it(
        'a TLS 1.2 phone offering only an ECDHE-RSA CBC suite (SHA-256/384) completes the handshake on 5061',
        async () => {
          await expectCbcTls12(5061);
        },
        TEST_MS,
      );

      it(
        'TLS 1.0 and 1.1 are refused by the server',
        async () => {
          await expectLegacyTlsRefused(5061);
        },
        TEST_MS,
      );

      it(
        'a phone registers over TLS 1.2 and over TLS 1.3 from the client network',
        async () => {
          const versions = ['1.2', '1.3'] as const;
          const runs = await Promise.all(
            versions.map((version, i) =>
              sipp(net!, 'phone', work, {
                scenario: 'register.xml',
                local: parties.phone[0],
                localPort: 5070 + i,
                remote: `${PUBLIC_IP}:5061`,
                transport: 'l1',
                keys: { user: users[0] },
                auth: { user: users[0], password: password(`sip-users/${users[0]}`) },
                tls: { ...tlsFiles(), version },
              }),
            ),
          );
          runs.forEach((r, i) => expect({ version: versions[i], status: finalStatus(r), run: describeRun(r) }).toMatchObject({ status: 200 }));
        },
        TEST_MS,
      );

      it(
        "OPTIONS without credentials in the phones' and Jigasi's names are challenged or refused (401/403), never let in",
        async () => {
          const names = [...users, ...(jitsi.jigasi ? ['jigasi'] : [])];
          // To the endpoint's own name (answered 200 if let in) and to a number no dialplan has, as scanners
          // probe (answered 404 if let in).
          const probes = names.flatMap((user) => [user, '100'].map((to) => ({ user, to })));
          const runs = await Promise.all(
            probes.map(({ user, to }, i) =>
              sipp(net!, 'phone', work, {
                scenario: 'options.xml',
                local: parties.phone[0],
                localPort: 5070 + i,
                remote: `${PUBLIC_IP}:5061`,
                transport: 'l1',
                keys: { user },
                service: to,
                tls: tlsFiles(),
              }),
            ),
          );
          // Challenged (401) or refused (403): anything else means the request was let in without credentials.
          probes.forEach(({ user, to }, i) => expectFinal(runs[i], [401, 403], { user, to }));
        },
        TEST_MS,
      );

      it(
        "a phone's message-waiting, busy-lamp and presence SUBSCRIBEs are handled (never 489 Bad Event)",
        async () => {
          const watched = users[users.length - 1];
          const packages = [
            { event: 'message-summary', accept: 'application/simple-message-summary', to: users[0] },
            { event: 'dialog', accept: 'application/dialog-info+xml', to: watched },
            { event: 'presence', accept: 'application/pidf+xml', to: watched },
          ];
          const runs = await Promise.all(
            packages.map(({ event, accept, to }, i) =>
              sipp(net!, 'phone', work, {
                scenario: 'subscribe.xml',
                local: parties.phone[0],
                localPort: 5080 + i,
                remote: `${PUBLIC_IP}:5061`,
                transport: 'l1',
                keys: { user: users[0], event, accept },
                service: to,
                auth: { user: users[0], password: password(`sip-users/${users[0]}`) },
                tls: tlsFiles(),
              }),
            ),
          );
          // Without a handler for the event package pubsub answers 489. Message-waiting: 404, as this PBX keeps
          // no voicemail (no AOR names a mailbox). Busy lamp and presence: accepted, and the first NOTIFY
          // carries the state of the watched extension's hint.
          const outcome = packages.map(({ event }, i) => ({ event, final: finalStatus(runs[i]), notify: receivedRequests(runs[i], 'NOTIFY')[0]?.match(/^Content-Type: *(\S+)/im)?.[1] }));
          expect({ outcome, runs: outcome.some((o) => o.final === 489) ? runs.map(describeRun) : [] }).toEqual({
            outcome: [
              { event: 'message-summary', final: 404, notify: undefined },
              { event: 'dialog', final: 200, notify: 'application/dialog-info+xml' },
              { event: 'presence', final: 200, notify: 'application/pidf+xml' },
            ],
            runs: [],
          });
        },
        TEST_MS,
      );

      it(
        `a phone calls ${CONFERENCE_EXTENSION} over TLS with SDES: SRTP answered (the dial-in's PIN prompt, or the refusal without Jigasi)`,
        async () => {
          const call = await sipp(net!, 'phone', work, {
            scenario: 'phone-call.xml',
            local: parties.phone[0],
            remote: `${PUBLIC_IP}:5061`,
            transport: 'l1',
            keys: { user: users[0] },
            service: CONFERENCE_EXTENSION,
            auth: { user: users[0], password: password(`sip-users/${users[0]}`) },
            tls: tlsFiles(),
            timeoutMs: 8000,
          });
          if (!jitsi.jigasi) {
            expectFinal(call, [403, 404, 480, 503]);
            return;
          }
          expect({ final: finalStatus(call), run: describeRun(call) }).toMatchObject({ final: 200 });
          const answer = call.messages.filter((m) => m.dir === 'received' && /^SIP\/2\.0 200/.test(m.text) && /CSeq: \d+ INVITE/.test(m.text)).pop()?.text ?? '';
          expect(answer).toMatch(/^m=audio \d+ RTP\/SAVP /m);
          expect(answer).toMatch(/^a=crypto:\d+ AES_CM_128_HMAC_SHA1_80 inline:/m);
          expect(media(answer)).toEqual({ address: PUBLIC_IP, inRange: true });
        },
        TEST_MS,
      );
    }

    (all ? it : it.skip)(
      "Debian 12's fail2ban filter, with the jail's settings, finds the stranger in Asterisk's security log",
      async () => {
        const jail = parseConf(planFile(plan, '/etc/fail2ban/jail.d/weebeetalk.local'));
        const [filter] = values(jail, 'asterisk', 'filter');
        const [tz] = values(jail, 'asterisk', 'logtimezone');
        const [logpath] = values(jail, 'asterisk', 'logpath');
        // The jail reads the file Asterisk's logger writes (the compose file mounts the log directory there).
        const compose = parse(planFile(plan, `${planSetting(plan, 'WBT_ASTERISK_DIR')}/compose.yml`)) as { services: { asterisk: { volumes: string[] } } };
        const logMount = compose.services.asterisk.volumes.map((v) => v.split(':')).find(([, inside]) => inside === '/var/log/asterisk');
        expect(logMount && `${logMount[0]}/security.log`).toBe(logpath);
        const securityLog = join(prepared.log, 'security.log');
        const { stdout } = await run(
          'python3',
          [`${FAIL2BAN_ROOT}/usr/bin/fail2ban-regex`, '--timezone', tz, '--raw', '-o', 'ip', securityLog, `${FAIL2BAN_ROOT}/etc/fail2ban/filter.d/${filter}.conf`],
          { env: { PATH: '/usr/bin:/bin', PYTHONPATH: `${FAIL2BAN_ROOT}/usr/lib/python3/dist-packages` }, timeout: 15000 },
        );
        const hosts = stdout
          .split('\n')
          .map((l) => l.trim())
          .filter(Boolean);
        expect(hosts).toContain(STRANGER_IP);
        // Jigasi's failed attempt from the meet host is in the log too, but the jail ignores that address.
        expect(values(jail, 'asterisk', 'ignoreip').join(' ').split(/\s+/)).toContain(plan.privateIp.meet);
        const [maxretry] = values(jail, 'asterisk', 'maxretry');
        expect(hosts.filter((h) => h === STRANGER_IP).length).toBeGreaterThanOrEqual(Number(maxretry));
      },
      TEST_MS,
    );
  });
}
