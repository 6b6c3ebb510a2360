/**
 * Dial-in by PIN through the real software: production's pbx configuration (waitSeconds shortened) in a real
 * Asterisk 22, the real mapper (userdata/meet/scripts/dial-in-mapper.py, the host's python3) on the meet host's
 * private address with a stand-in for Prosody's census on the meet namespace's loopback, callers typing PINs as
 * RFC 4733 events (SIPp replaying sip-tester's captures) from the trunk's network and from a phone over TLS, and
 * a Jigasi stand-in (registered from the meet host) that reads X-Room-Name. "Heard" is what Asterisk's verbose
 * output says it played to the call's channel. The calls run at once (each from its own port, to its own number
 * or from its own phone): the suite takes about as long as the longest call.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { XMPP_MUC_DOMAIN } from '../config/dial-in';
import { DIAL_IN_PROMPTS as P } from '../userdata/pbx/asterisk-config';
import { checkChrootAsterisk, SID_ROOT, startAsterisk, type Asterisk } from './support/asterisk/daemon';
import {
  documentedPin,
  dtmfCallScenario,
  dtmfPcap,
  fakeMapper,
  heard,
  mapperInNamespace,
  type DtmfCall,
  type HeardCall,
  type MapperInNamespace,
  type NamespaceCensus,
} from './support/asterisk/dial-in';
import { createNetwork, runIn, type Network } from './support/asterisk/netns';
import { pbxPlan } from './support/asterisk/plan';
import { preparePbx, type PreparedPbx } from './support/asterisk/prepare';
import { describeRun, finalStatus, receivedRequests, sipp, type SippRun } from './support/asterisk/sipp';
import { describeAsRoot } from './support/root';
import { synthVariant } from './support/synth';

const PUBLIC_IP = '203.0.113.12';
const WAIT_SECONDS = 2;
const PIN_KEY = 'a test key of the dial-in suite';
const synth = synthVariant('dial-in-short-wait', 'production', { sip: { dialIn: { waitSeconds: WAIT_SECONDS } } });
const { sip } = synth.config;
const plan = pbxPlan(synth);
const trunkCidr = sip.trunkSignallingCidrs[0];
const clientCidr = sip.clientCidrs[0];
const nth = (cidr: string, n: number): string => {
  const [net] = cidr.split('/');
  const o = net.split('.').map(Number);
  return [o[0], o[1], o[2], o[3] + n].join('.');
};
const parties = { pbx: [plan.privateIp.pbx, PUBLIC_IP], meet: [plan.privateIp.meet], trunk: [nth(trunkCidr, 5)], phone: [nth(clientCidr, 20)] };
const pbxPublic = `${PUBLIC_IP}:5060`;
const fixedDid = sip.dialIn.rooms.find((r) => r.did !== undefined && r.did !== '*');
const fixedExtension = sip.dialIn.rooms.find((r) => r.extension !== undefined);
const [phoneA, phoneB] = sip.users.map((u) => u.extension);

/** Each caller of the suite: who calls what, typing what, and what must come of it. */
interface Caller extends DtmfCall {
  readonly from: 'trunk' | 'phone';
  /** The number or extension dialled (distinct per trunk call: it names the call's channel in the output). */
  readonly service: string;
  readonly user: string;
}

describeAsRoot('dial-in by PIN in a real Asterisk 22 with the real mapper (SIPp in network namespaces)', [SID_ROOT])('real Asterisk 22: dial-in by PIN', () => {
  let work = '';
  let net: Network | undefined;
  let pbx: Asterisk | undefined;
  let prepared: PreparedPbx;
  let dialIn: MapperInNamespace | undefined;
  let census: NamespaceCensus;
  const pin: Record<'running' | 'later' | 'never', string> = { running: '', later: '', never: '' };
  const room = { running: '', later: '', never: '' };
  const runs = new Map<string, SippRun>();
  let jigasi: SippRun;

  const password = (ext: string): string => {
    const name = `${plan.hostEnv.SSM_PREFIX}/sip-users/${ext}`;
    const p = prepared.passwords[name];
    if (!p) throw new Error(`no SSM parameter ${name}`);
    return p;
  };
  let port = 5070;
  const call = (name: string, c: Caller): Promise<SippRun> => {
    const scenario = `dtmf-${name}.xml`;
    let seq = 1000;
    const pcaps = c.turns.map((keys, i) => {
      const { pcap, packets, durationMs } = dtmfPcap(keys, seq);
      seq += packets + 100;
      writeFileSync(join(work, 'scenarios', `dtmf-${name}-${i}.pcap`), pcap);
      return { path: `/mnt/scenarios/dtmf-${name}-${i}.pcap`, durationMs };
    });
    writeFileSync(
      join(work, 'scenarios', scenario),
      dtmfCallScenario(c, (i) => pcaps[i]),
    );
    const local = parties[c.from][0];
    const own = port++;
    return sipp(net!, c.from, work, {
      scenario,
      local,
      localPort: own,
      mediaPort: 6000 + (own - 5070) * 10,
      remote: c.from === 'trunk' ? pbxPublic : `${PUBLIC_IP}:5061`,
      transport: c.from === 'trunk' ? 'u1' : 'l1',
      keys: { user: c.user },
      service: c.service,
      ...(c.auth ? { auth: { user: c.user, password: password(c.user) }, tls: { cert: prepared.clientCert, key: prepared.clientKey } } : {}),
      timeoutMs: 25000,
      recvTimeoutMs: 20000,
    }).then((r) => {
      runs.set(name, r);
      return r;
    });
  };
  /** Where each call's part of Asterisk's output begins (a later call may dial an earlier one's number). */
  const outputFrom: Record<string, number> = {};
  const channel = (name: string): HeardCall => {
    const c = CALLERS[name];
    const output = pbx!.output().slice(outputFrom[name] ?? 0);
    return c.from === 'trunk' ? heard(output, c.service, 'from-trunk', 'trunk') : heard(output, c.service, 'internal', c.user);
  };
  const roomNames = (): string[] => receivedRequests(jigasi, 'INVITE').map((i) => /^X-Room-Name: *(.*?)\r?$/m.exec(i)?.[1] ?? '(none)');
  /** The X-Room-Name of the INVITEs Jigasi got for one caller (Asterisk passes the caller's number in From). */
  const roomsOf = (name: string): string[] =>
    receivedRequests(jigasi, 'INVITE')
      .filter((i) => new RegExp(`^From: [^\\n]*<sip:${CALLERS[name].user.replace('+', '\\+')}@`, 'm').test(i))
      .map((i) => /^X-Room-Name: *(.*?)\r?$/m.exec(i)?.[1] ?? '(none)');
  const hungUpByAsterisk = (name: string): boolean => receivedRequests(runs.get(name)!, 'BYE').length > 0;

  // The PINs a caller types; a wrong one is a running meeting's PIN with another check digit (a typo).
  const wrong = (p: string, by: number): string => p.slice(0, -1) + String((Number(p.slice(-1)) + by) % 10);
  const CALLERS: Record<string, Caller> = {};

  beforeAll(async () => {
    checkChrootAsterisk();
    work = mkdtempSync(join(tmpdir(), 'wbt-dial-in-'));
    prepared = preparePbx(plan, work, PUBLIC_IP);
    net = createNetwork(`wbtdin-${process.pid}`, parties);
    pbx = await startAsterisk(net, 'pbx', prepared, 15000, 3);
    dialIn = await mapperInNamespace(net, 'meet', work, plan.privateIp.meet, [plan.privateIp.pbx], PIN_KEY);
    census = dialIn.census;
    // The running meeting's PIN has a key twice in a row (each key press is its own RFC 4733 event).
    const names = Array.from({ length: 60 }, (_, i) => `weekly-sync-${i}`).map((r) => ({ r, p: documentedPin(PIN_KEY, r) }));
    const twice = names.find(({ p }) => /(\d)\1/.test(p))!;
    const candidates = [twice, ...names.filter((n) => n !== twice).slice(0, 2)];
    for (const c of candidates) if (dialIn.pinOf(c.r) !== c.p) throw new Error(`the mapper's PIN of ${c.r} is not the documented ${c.p}`);
    [room.running, room.later, room.never] = candidates.map((c) => c.r);
    [pin.running, pin.later, pin.never] = candidates.map((c) => c.p);
    census.set([room.running, ...(fixedDid ? [fixedDid.room] : [])], [room.later]);

    Object.assign(CALLERS, {
      trunkPin: { from: 'trunk', service: '+62215550101', user: '+62811000001', turns: [`${pin.running}#`], pauseMs: 400, holdMs: 15000, auth: false },
      phonePin: { from: 'phone', service: '8000', user: phoneA, turns: [pin.running], pauseMs: 400, holdMs: 15000, auth: true },
      retry: { from: 'trunk', service: '+62215550102', user: '+62811000002', turns: [`${wrong(pin.running, 1)}#`, `${pin.running}#`], pauseMs: 800, holdMs: 15000, auth: false },
      twiceWrong: { from: 'trunk', service: '+62215550103', user: '+62811000003', turns: [`${wrong(pin.running, 1)}#`, `${wrong(pin.running, 2)}#`], pauseMs: 800, holdMs: 15000, auth: false },
      later: { from: 'trunk', service: '+62215550104', user: '+62811000004', turns: [`${pin.later}#`], pauseMs: 400, holdMs: 15000, auth: false },
      never: { from: 'trunk', service: '+62215550105', user: '+62811000005', turns: [`${pin.never}#`], pauseMs: 400, holdMs: 15000, auth: false },
      ...(fixedDid ? { fixedDid: { from: 'trunk', service: fixedDid.did!, user: '+62811000006', turns: [], pauseMs: 0, holdMs: 15000, auth: false } } : {}),
      ...(fixedExtension ? { fixedExtension: { from: 'phone', service: fixedExtension.extension!, user: phoneB, turns: [], pauseMs: 0, holdMs: 15000, auth: true } } : {}),
    } satisfies Record<string, Caller>);
    const toJigasi = ['trunkPin', 'phonePin', 'retry', 'later', 'fixedDid', 'fixedExtension'].filter((n) => n in CALLERS);

    // Jigasi registered from the meet host, then taking every call that reaches it.
    const reg = await sipp(net, 'meet', work, {
      scenario: 'register.xml',
      local: plan.privateIp.meet,
      remote: `${plan.privateIp.pbx}:5060`,
      transport: 'u1',
      keys: { user: 'jigasi' },
      auth: { user: 'jigasi', password: prepared.passwords[`${plan.hostEnv.SSM_PREFIX.replace(/\/[^/]+$/, '')}/meet/jigasi-sip-password`] },
    });
    if (finalStatus(reg) !== 200) throw new Error(`Jigasi could not register: ${describeRun(reg)}`);
    const uas = sipp(net, 'meet', work, {
      scenario: 'jigasi-uas-hangup.xml',
      local: plan.privateIp.meet,
      remote: `${plan.privateIp.pbx}:5060`,
      transport: 'u1',
      calls: toJigasi.length,
      timeoutMs: 25000,
      recvTimeoutMs: 20000,
    });
    for (let i = 0; i < 40; i++) {
      if ((await runIn(net, 'meet', ['ss', '-Hlun', 'sport', '=', ':5060'], { timeoutMs: 2000 })).stdout.trim()) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    // The meeting that starts late: open once its caller heard that it waits for it.
    const opener = (async () => {
      for (let i = 0; i < 200; i++) {
        if (channel('later').prompts.includes(P.waitForLeader)) {
          census.set([room.running, room.later, ...(fixedDid ? [fixedDid.room] : [])]);
          return;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    await Promise.all([...Object.keys(CALLERS).map((n) => call(n, CALLERS[n])), opener]);
    jigasi = await uas;
  }, 60000);

  afterAll(async () => {
    // WBT_KEEP_ASTERISK=1 keeps the scratch directory with Asterisk's verbose output and the mapper's log.
    if (work && process.env.WBT_KEEP_ASTERISK) writeFileSync(join(work, 'output.txt'), `${pbx?.output() ?? ''}\n--- mapper ---\n${dialIn?.mapper.stderr() ?? ''}`);
    dialIn?.stop();
    await pbx?.stop();
    net?.destroy();
    if (work && !process.env.WBT_KEEP_ASTERISK) rmSync(work, { recursive: true, force: true });
  });

  const expectHeard = (name: string, prompts: readonly string[], joined: boolean): void => {
    const h = channel(name);
    const r = runs.get(name)!;
    // Every call ends from the PBX's side: Jigasi's stand-in hangs up the calls it took.
    expect({ name, channel: h.channel?.startsWith('PJSIP/'), prompts: h.prompts, dialled: h.apps.includes('Dial'), hungUpByAsterisk: hungUpByAsterisk(name) }).toEqual({
      name,
      channel: true,
      prompts,
      dialled: joined,
      hungUpByAsterisk: true,
    });
    expect({ name, final: finalStatus(r) ?? describeRun(r) }).toEqual({ name, final: 200 });
  };

  it('a trunk caller types a running meeting\'s PIN and #: "placed into the conference", Jigasi gets X-Room-Name room@muc', () => {
    expectHeard('trunkPin', [P.getPin, P.placeIntoConf], true);
    expect(roomsOf('trunkPin')).toEqual([`${room.running}@${XMPP_MUC_DOMAIN}`]);
  });

  it('a phone over TLS dials 8000 and types the 9 digits without #: the same meeting', () => {
    expectHeard('phonePin', [P.getPin, P.placeIntoConf], true);
    expect(roomsOf('phonePin')).toEqual([`${room.running}@${XMPP_MUC_DOMAIN}`]);
  });

  it('a mistyped PIN (ended with #) hears conf-invalid and may try again; the right PIN then joins', () => {
    expectHeard('retry', [P.getPin, P.invalid, P.placeIntoConf], true);
    expect(roomsOf('retry')).toEqual([`${room.running}@${XMPP_MUC_DOMAIN}`]);
  });

  it('two mistyped PINs hear conf-invalidpin and goodbye, then Asterisk hangs up', () => {
    expectHeard('twiceWrong', [P.getPin, P.invalid, P.invalidPin, P.goodbye], false);
    expect(channel('twiceWrong').apps).not.toContain('Dial');
    // The operator's trace of a guesser: who called, from which address (messages.log keeps NOTICE).
    expect(pbx!.log('messages.log')).toMatch(/NOTICE.*dial-in: PIN refused twice from \+62811000003 at \d+\.\d+\.\d+\.\d+:\d+/);
  });

  it('the PIN of a meeting not started yet hears conf-waitforleader, and joins once the meeting appears in the census', () => {
    expectHeard('later', [P.getPin, P.waitForLeader, P.placeIntoConf], true);
    expect(roomsOf('later')).toEqual([`${room.later}@${XMPP_MUC_DOMAIN}`]);
  });

  it(`a meeting that does not start within sip.dialIn.waitSeconds (${WAIT_SECONDS} s here): "try again later", goodbye, hang-up`, () => {
    expectHeard('never', [P.getPin, P.waitForLeader, P.tryLater, P.goodbye], false);
    expect(roomsOf('never')).toEqual([]);
  });

  (fixedDid ? it : it.skip)(`the fixed room's number (${fixedDid?.did}) goes to ${fixedDid?.room} without a PIN`, () => {
    expectHeard('fixedDid', [P.placeIntoConf], true);
    expect(roomsOf('fixedDid')).toEqual([`${fixedDid!.room}@${XMPP_MUC_DOMAIN}`]);
  });

  (fixedExtension ? it : it.skip)(`a phone dials the fixed room's extension (${fixedExtension?.extension}): ${fixedExtension?.room} without a PIN`, () => {
    expectHeard('fixedExtension', [P.placeIntoConf], true);
    expect(roomsOf('fixedExtension')).toEqual([`${fixedExtension!.room}@${XMPP_MUC_DOMAIN}`]);
  });

  it("Jigasi's leg offers the PBX's private address (local_net) and a port in rtp.conf's range", () => {
    const invites = receivedRequests(jigasi, 'INVITE');
    expect(invites.length).toBeGreaterThan(0);
    const rtp = synth.config.sip.rtpPorts;
    for (const invite of invites) {
      const port = Number(/^m=audio (\d+) /m.exec(invite)?.[1]);
      expect({ address: /^c=IN IP4 (\S+)/m.exec(invite)?.[1], inRange: port >= rtp.from && port <= rtp.to }).toEqual({ address: plan.privateIp.pbx, inRange: true });
    }
  });

  it('Jigasi got exactly the calls that were placed into a conference', () => {
    expect(roomNames().sort()).toEqual(
      [room.running, room.running, room.running, room.later, ...(fixedDid ? [fixedDid.room] : []), ...(fixedExtension ? [fixedExtension.room] : [])].map((r) => `${r}@${XMPP_MUC_DOMAIN}`).sort(),
    );
  });

  it('Asterisk logged no ERROR or WARNING for these calls (a module the dialplan needs but does not load shows here)', () => {
    expect(
      pbx!
        .log('messages.log')
        .split('\n')
        .filter((l) => /\b(ERROR|WARNING)\[/.test(l)),
    ).toEqual([]);
  });

  it('the mapper down: "try again later" and goodbye, never a silent drop', async () => {
    dialIn?.stop();
    CALLERS.down = { ...CALLERS.fixedDid, user: '+62811000007' };
    outputFrom.down = pbx!.output().length;
    await call('down', CALLERS.down);
    expectHeard('down', [P.tryLater, P.goodbye], false);
  }, 20000);

  it('a mapper answer that is not a room address never reaches Jigasi\'s header: "try again later", goodbye', async () => {
    // What a broken or hostile meet host might answer: a second header smuggled in, spaces, an uppercase name.
    const fake = await fakeMapper(net!, 'meet', work, plan.privateIp.meet, `found:x@${XMPP_MUC_DOMAIN}\r\nX-Injected: 1@${XMPP_MUC_DOMAIN}\n`);
    try {
      CALLERS.hostile = { ...CALLERS.fixedDid, user: '+62811000008' };
      outputFrom.hostile = pbx!.output().length;
      await call('hostile', CALLERS.hostile);
      expectHeard('hostile', [P.tryLater, P.goodbye], false);
    } finally {
      fake.stop();
    }
  }, 20000);
});
