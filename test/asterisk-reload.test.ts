/**
 * The pbx hook's reloads against a real Asterisk 22 (userdata/pbx/scripts/asterisk.sh, after the apply tool wrote
 * a new bundle): staging with a SIP trunk (v1; the shipped file has none), then its next version (v2: a phone added,
 * the trunk's signalling network moved, another dial-in room), both synthesized. A call from the trunk is in progress while v2's files
 * are written over v1's and the hook's own reload commands (read from asterisk.sh) are sent: the call must end
 * normally, and Asterisk must then be v2 in every respect and not before.
 */
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { XMPP_MUC_DOMAIN } from '../config/dial-in';
import { readScript } from '../userdata/script-files';
import { checkChrootAsterisk, SID_ROOT, startAsterisk, type Asterisk } from './support/asterisk/daemon';
import { mapperInNamespace, type MapperInNamespace } from './support/asterisk/dial-in';
import { createNetwork, runIn, type Network } from './support/asterisk/netns';
import { asteriskConfFiles, pbxPlan, planSetting, type PbxPlan } from './support/asterisk/plan';
import { preparePbx, runAsteriskAuth, type PreparedPbx } from './support/asterisk/prepare';
import { inCidr } from './support/asterisk/suite';
import { describeRun, finalStatus, receivedRequests, sipp, statuses, type SippRun } from './support/asterisk/sipp';
import type { HostFile } from './support/host-files';
import { describeAsRoot } from './support/root';
import { environmentFile, synthVariant } from './support/synth';

const TEST_MS = 20000;

/** TEST-NET-3 for the Elastic IP; the trunk's network moves inside TEST-NET-1 (its media network stays). */
const PUBLIC_IP = '203.0.113.12';
const V1_TRUNK = { cidr: '192.0.2.0/28', address: '192.0.2.5' };
const V2_TRUNK = { cidr: '192.0.2.64/28', address: '192.0.2.69' };
const TRUNK_MEDIA = '192.0.2.0/24';
const NEW_PHONE = { extension: '1003', name: 'Support' };
const V2_ROOM = 'reload-room';
/** A number at the provider: from-trunk routes any number to the fixed room of did "*". */
const DID = '+6221555000';

const stagingUsers = environmentFile('staging').sip?.users ?? [];
/** Every trunk call to one fixed room (no PIN: the call needs no keys), the staging helpdesk's extension beside it. */
const V1_ROOM = 'dial-in';
const v1 = synthVariant('staging-reload-v1', 'staging', {
  sip: {
    trunkSignallingCidrs: [V1_TRUNK.cidr],
    trunkMediaCidrs: [TRUNK_MEDIA],
    dialIn: {
      rooms: [
        { did: '*', room: V1_ROOM },
        { extension: '8100', room: 'helpdesk' },
      ],
    },
  },
});
const v2 = synthVariant('staging-reload-v2', 'staging', {
  sip: {
    trunkSignallingCidrs: [V2_TRUNK.cidr],
    trunkMediaCidrs: [TRUNK_MEDIA],
    users: [...stagingUsers, NEW_PHONE],
    dialIn: {
      rooms: [
        { did: '*', room: V2_ROOM },
        { extension: '8100', room: V2_ROOM },
      ],
    },
  },
});

/** One reload of the hook: the command it sends (`cli '...'`) when a file of one of `services` changed (or pjsip.auth.conf, `auth`). */
interface HookReload {
  readonly command: string;
  readonly services: readonly string[];
  readonly auth: boolean;
}

/** asterisk.sh's reloads and the services that make it restart Asterisk instead, read from the script itself. */
function hookCommands(): { readonly reloads: readonly HookReload[]; readonly restartServices: readonly string[] } {
  const text = readScript('asterisk');
  // The test sends the commands with `asterisk -rx`, as the hook's cli() does inside the container.
  if (!/^cli\(\) \{\n(?:  .*\n)*?  out=\$\(docker exec "\$WBT_ASTERISK_CONTAINER" asterisk -rx "\$1"\) \|\| die /m.test(text))
    throw new Error('asterisk.sh: its cli() changed: update test/asterisk-reload.test.ts');
  const reloads = [...text.matchAll(/^\s*if (.+); then cli '([^']+)'; fi$/gm)].map(([, condition, command]) => {
    const services: string[] = [];
    let auth = false;
    for (const term of condition.split(' || ')) {
      const service = /^has_changed ([\w-]+)$/.exec(term)?.[1];
      if (service) services.push(service);
      else if (term === '((auth_changed))') auth = true;
      else throw new Error(`asterisk.sh: reload condition "${condition}" is not has_changed/auth_changed: update test/asterisk-reload.test.ts`);
    }
    return { command, services, auth };
  });
  const restart = /^elif (has_changed [\w-]+(?: \|\| has_changed [\w-]+)*); then$/m.exec(text);
  if (reloads.length === 0 || !restart) throw new Error('asterisk.sh: no reloads or no restart branch found: update test/asterisk-reload.test.ts');
  return { reloads, restartServices: [...restart[1].matchAll(/has_changed ([\w-]+)/g)].map((m) => m[1]) };
}

/** The bundle files of the pbx that differ from v1 to v2 (content, mode or owner; added or removed). */
function changedFiles(a: PbxPlan, b: PbxPlan): HostFile[] {
  const bundle = (p: PbxPlan): Map<string, HostFile> => new Map([...p.files].filter(([, f]) => f.source === 'bundle'));
  const [before, after] = [bundle(a), bundle(b)];
  return [...new Set([...before.keys(), ...after.keys()])]
    .sort()
    .filter((path) => {
      const [x, y] = [before.get(path), after.get(path)];
      return !x || !y || x.content !== y.content || x.mode !== y.mode || x.owner !== y.owner;
    })
    .map((path) => (after.get(path) ?? before.get(path))!);
}

describeAsRoot("the pbx hook's reloads against a real Asterisk 22 (a call in progress, v1 to v2)", [SID_ROOT])('real Asterisk 22: reloads from v1 to v2', () => {
  const p1 = pbxPlan(v1);
  const p2 = pbxPlan(v2);
  const hook = hookCommands();
  const changed = changedFiles(p1, p2);
  const changedServices = new Set(changed.flatMap((f) => f.services));
  const asteriskChanged = changed.filter((f) => f.path.startsWith(`${p1.confDir}/`)).map((f) => f.path.slice(p1.confDir.length + 1));
  const parties: Record<string, string[]> = {
    pbx: [p1.privateIp.pbx, PUBLIC_IP],
    meet: [p1.privateIp.meet],
    phone: ['198.51.100.20'],
    otrnk: [V1_TRUNK.address],
    ntrnk: [V2_TRUNK.address],
  };
  const pbxPublic = `${PUBLIC_IP}:5060`;
  // A name below the host's own path, or (OWNER/NAME) a shared secret beside it.
  const ssm = (name: string): string => (/^(meet|turn|chat)\//.test(name) ? `${planSetting(p2, 'SSM_PREFIX').replace(/\/[^/]+$/, '')}/${name}` : `${planSetting(p2, 'SSM_PREFIX')}/${name}`);

  let work = '';
  let net: Network | undefined;
  let pbx: Asterisk | undefined;
  let prepared: PreparedPbx;
  let mapper: MapperInNamespace | undefined;
  /** The call from the old trunk address, in progress across the reloads, and Jigasi's side of it. */
  let held: { call: Promise<SippRun>; jigasi: Promise<SippRun> } | undefined;
  /** The reload commands sent, with what Asterisk answered. */
  const sent: { command: string; output: string }[] = [];
  let logBeforeReload = 0;
  /** Whether asterisk-auth.sh changed pjsip.auth.conf (the hook's auth_changed). */
  let authChanged = false;

  const password = (name: string): string => {
    const p = prepared.passwords[ssm(name)];
    if (!p) throw new Error(`no SSM parameter ${ssm(name)} in the plans`);
    return p;
  };
  const tls = (): { cert: string; key: string } => ({ cert: prepared.clientCert, key: prepared.clientKey });
  const register = (user: string, pass: string, localPort: number): Promise<SippRun> =>
    sipp(net!, 'phone', work, {
      scenario: 'register.xml',
      local: parties.phone[0],
      localPort,
      remote: `${PUBLIC_IP}:5061`,
      transport: 'l1',
      keys: { user },
      auth: { user, password: pass },
      tls: tls(),
    });
  /** OPTIONS from a trunk address without credentials: 200 when the address identifies the trunk. */
  const probeTrunk = (party: 'otrnk' | 'ntrnk'): Promise<SippRun> =>
    sipp(net!, party, work, { scenario: 'options.xml', local: parties[party][0], localPort: 5070, remote: pbxPublic, transport: 'u1', keys: { user: '+62215550100' }, service: DID });
  /** Jigasi registered from the meet host, then answering one INVITE on the same port (once it listens). */
  /** recvTimeoutMs: how long it waits for the BYE of a held call. */
  const jigasiAnswering = async (timeoutMs: number, recvTimeoutMs?: number): Promise<{ done: Promise<SippRun> }> => {
    const reg = await sipp(net!, 'meet', work, {
      scenario: 'register.xml',
      local: parties.meet[0],
      remote: `${p1.privateIp.pbx}:5060`,
      transport: 'u1',
      keys: { user: 'jigasi' },
      auth: { user: 'jigasi', password: password('meet/jigasi-sip-password') },
    });
    if (finalStatus(reg) !== 200) throw new Error(`Jigasi could not register: ${describeRun(reg)}`);
    const done = sipp(net!, 'meet', work, { scenario: 'jigasi-uas.xml', local: parties.meet[0], remote: `${p1.privateIp.pbx}:5060`, transport: 'u1', timeoutMs, recvTimeoutMs });
    for (let i = 0; i < 40; i++) {
      const ss = await runIn(net!, 'meet', ['ss', '-Hlun', 'sport', '=', ':5060'], { timeoutMs: 2000 });
      if (ss.stdout.trim()) return { done };
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error('the Jigasi stand-in does not listen on 5060');
  };
  /** The channels Asterisk has up (`core show channels concise`: name!context!exten!prio!state!...). */
  const upChannels = async (): Promise<string[]> =>
    (await pbx!.cli('core show channels concise'))
      .split('\n')
      .filter((l) => l.split('!')[4] === 'Up')
      .map((l) => l.split('!')[0]);
  const roomsOf = async (context: string): Promise<string[]> => [...(await pbx!.cli(`dialplan show ${context}`)).matchAll(/Set\(DIALIN_ROOM=([^)]+)\)/g)].map((m) => m[1]);
  /** 401/403 (an address that identifies no endpoint), or the status that came back instead. */
  const refusal = (r: SippRun): string | number | undefined => ([401, 403].includes(finalStatus(r) ?? 0) ? 'challenged or refused' : finalStatus(r));
  /**
   * Commands Asterisk did not carry out, with what it answered: `module reload` must report every module it names
   * reloaded, `dialplan reload` the dialplan; the others (logger, manager) answer nothing when they succeed.
   */
  const notCarriedOut = (outputs: readonly { command: string; output: string }[]): { command: string; output: string }[] =>
    outputs.filter(({ command, output }) => {
      const modules = /^module reload (.+)$/.exec(command)?.[1].split(/\s+/);
      if (modules) return !modules.every((m) => output.includes(`Module '${m}' reloaded successfully.`));
      if (command === 'dialplan reload') return !/^Dialplan reloaded\.$/m.test(output);
      return /No such|not found|not properly initialized|Unable|fail|Usage/i.test(output);
    });
  const problems = (text: string): string[] => text.split('\n').filter((l) => /\b(ERROR|WARNING)\[/.test(l));

  beforeAll(async () => {
    checkChrootAsterisk();
    work = mkdtempSync(join(tmpdir(), 'wbt-asterisk-reload-'));
    // One SSM for both versions (what SSM holds once v2 is deployed): v1's asterisk-auth.sh reads only v1's names.
    prepared = preparePbx(p1, work, PUBLIC_IP, p2.ssmParameters);
    net = createNetwork(`wbtrld-${process.pid}`, parties);
    pbx = await startAsterisk(net, 'pbx', prepared);
    // The fixed rooms ask the real mapper on the meet host, which finds both versions' rooms running.
    mapper = await mapperInNamespace(net, 'meet', work, p1.privateIp.meet, [p1.privateIp.pbx]);
    mapper.census.set([V1_ROOM, V2_ROOM]);
  }, 30000);

  afterAll(async () => {
    mapper?.stop();
    await pbx?.stop();
    net?.destroy();
    if (work && !process.env.WBT_KEEP_ASTERISK) rmSync(work, { recursive: true, force: true });
  });

  it('v1 to v2 changes only what the hook reloads: pjsip.conf and extensions.conf (and pjsip.auth.conf), no restart', () => {
    expect(planSetting(p2, 'SSM_PREFIX')).toBe(planSetting(p1, 'SSM_PREFIX'));
    // The test's addresses where the plans put them: the phone in both's client network, each trunk in its own.
    expect({
      phone: [v1, v2].map((v) => v.config.sip.clientCidrs.some((c) => inCidr(parties.phone[0], c))),
      oldTrunk: [V1_TRUNK.address, V2_TRUNK.address].map((a) => inCidr(a, v1.config.sip.trunkSignallingCidrs[0])),
      newTrunk: [V1_TRUNK.address, V2_TRUNK.address].map((a) => inCidr(a, v2.config.sip.trunkSignallingCidrs[0])),
    }).toEqual({ phone: [true, true], oldTrunk: [true, false], newTrunk: [false, true] });
    expect(p2.privateIp).toEqual(p1.privateIp);
    expect(asteriskChanged).toEqual(['extensions.conf', 'pjsip.conf']);
    expect([...changedServices].filter((s) => hook.restartServices.includes(s))).toEqual([]);
    // Every changed service of Asterisk's has a reload in the hook.
    for (const s of changedServices) if (s.startsWith('asterisk-')) expect({ service: s, reloaded: hook.reloads.some((r) => r.services.includes(s)) }).toEqual({ service: s, reloaded: true });
    expect(planSetting(p2, 'SIP_USERS').split(' ')).toContain(NEW_PHONE.extension);
  });

  it(
    "v1 running, a call from the trunk in progress, v2's files written: nothing of v2 is in effect before the reloads",
    async () => {
      const { done: jigasi } = await jigasiAnswering(15000, 10000);
      const call = sipp(net!, 'otrnk', work, {
        scenario: 'held-call.xml',
        local: V1_TRUNK.address,
        remote: pbxPublic,
        transport: 'u1',
        keys: { user: '+62215550100' },
        service: DID,
        timeoutMs: 12000,
      });
      held = { call, jigasi };
      // In progress: the trunk's leg and Jigasi's both up (after "you will now be placed into the conference").
      let up: string[] = [];
      for (let i = 0; i < 120 && up.length < 2; i++) {
        up = await upChannels();
        if (up.length < 2) await new Promise((r) => setTimeout(r, 50));
      }
      expect(up.map((c) => c.replace(/-[0-9a-f]+$/, '')).sort()).toEqual(['PJSIP/jigasi', 'PJSIP/trunk']);

      // As the apply tool writes them: each changed file replaced atomically, rendered; then the hook's
      // asterisk-auth.sh with v2's settings (config.env is v2's now).
      const files = asteriskConfFiles(p2, PUBLIC_IP);
      for (const name of asteriskChanged) {
        const tmp = join(prepared.etc, `.${name}.tmp`);
        writeFileSync(tmp, files.get(name)!);
        renameSync(tmp, join(prepared.etc, name));
      }
      authChanged = runAsteriskAuth(p2, work, join(prepared.etc, 'pjsip.auth.conf')) === 'changed';
      expect({ authChanged, again: runAsteriskAuth(p2, work, join(prepared.etc, 'pjsip.auth.conf')) }).toEqual({ authChanged: true, again: 'unchanged' });

      const [newPhone, oldTrunk, newTrunk] = await Promise.all([register(NEW_PHONE.extension, password(`sip-users/${NEW_PHONE.extension}`), 5071), probeTrunk('otrnk'), probeTrunk('ntrnk')]);
      expect({ newPhone: statuses(newPhone).includes(200), oldTrunk: finalStatus(oldTrunk), newTrunk: refusal(newTrunk) }).toEqual({
        newPhone: false,
        oldTrunk: 200,
        newTrunk: 'challenged or refused',
      });
      expect(await roomsOf('from-trunk')).toEqual([V1_ROOM, V1_ROOM]);
      expect(await upChannels()).toHaveLength(2);
    },
    TEST_MS,
  );

  it(
    "the hook's reloads (read from asterisk.sh): the call in progress stays up and ends with its own BYE, no ERROR or WARNING",
    async () => {
      if (!held) throw new Error('no call in progress: the previous test failed');
      const commands = hook.reloads.filter((r) => (r.auth && authChanged) || r.services.some((s) => changedServices.has(s))).map((r) => r.command);
      expect(commands.length).toBeGreaterThan(0);
      logBeforeReload = pbx!.log('messages.log').length;
      for (const command of commands) sent.push({ command, output: await pbx!.cli(command) });
      const stillUp = await upChannels();
      const [call, jigasi] = await Promise.all([held.call, held.jigasi]);
      expect({ stillUp: stillUp.length, notCarriedOut: notCarriedOut(sent), sent }).toEqual({ stillUp: 2, notCarriedOut: [], sent });
      // SIPp's own BYE answered 200; no request from Asterisk (a BYE) on the trunk's side.
      expect({
        code: call.code,
        final: finalStatus(call),
        fromAsterisk: call.messages.filter((m) => m.dir === 'received' && !/^SIP\/2\.0 /.test(m.text)).map((m) => m.text.split('\n')[0]),
        run: describeRun(call),
      }).toMatchObject({
        code: 0,
        final: 200,
        fromAsterisk: [],
      });
      expect(call.messages.filter((m) => m.dir === 'sent').map((m) => m.text.split(' ')[0])).toEqual(['INVITE', 'ACK', 'BYE']);
      expect({ code: jigasi.code, byes: receivedRequests(jigasi, 'BYE').length }).toEqual({ code: 0, byes: 1 });
      expect(problems(pbx!.log('messages.log').slice(logBeforeReload))).toEqual([]);
    },
    TEST_MS,
  );

  it(
    'after the reloads: the new phone registers with its password (and not without), the old ones still do',
    async () => {
      const [added, wrong, old] = await Promise.all([
        register(NEW_PHONE.extension, password(`sip-users/${NEW_PHONE.extension}`), 5071),
        register(NEW_PHONE.extension, 'not-the-password', 5072),
        register(stagingUsers[0].extension, password(`sip-users/${stagingUsers[0].extension}`), 5073),
      ]);
      expect({ added: finalStatus(added), old: finalStatus(old), run: finalStatus(added) === 200 ? '' : describeRun(added) }).toEqual({ added: 200, old: 200, run: '' });
      expect(statuses(wrong)).not.toContain(200);
    },
    TEST_MS,
  );

  it(
    'after the reloads: the new trunk address is the trunk, the old one is not anymore',
    async () => {
      const [oldTrunk, newTrunk] = await Promise.all([probeTrunk('otrnk'), probeTrunk('ntrnk')]);
      expect({ oldTrunk: refusal(oldTrunk), newTrunk: finalStatus(newTrunk) }).toEqual({ oldTrunk: 'challenged or refused', newTrunk: 200 });
    },
    TEST_MS,
  );

  it(
    "after the reloads: a call from the new trunk address reaches Jigasi with v2's dial-in room",
    async () => {
      expect(await roomsOf('from-trunk')).toEqual([V2_ROOM, V2_ROOM]);
      expect(await roomsOf('internal')).toEqual([V2_ROOM]);
      const uas = await jigasiAnswering(12000, 10000);
      const call = await sipp(net!, 'ntrnk', work, {
        scenario: 'held-call.xml',
        local: V2_TRUNK.address,
        remote: pbxPublic,
        transport: 'u1',
        keys: { user: '+62215550100' },
        service: DID,
        timeoutMs: 12000,
      });
      const jigasi = await uas.done;
      expect({ final: finalStatus(call), run: describeRun(call) }).toMatchObject({ final: 200 });
      expect(receivedRequests(jigasi, 'INVITE').map((i) => /^X-Room-Name: (\S+)\r?$/m.exec(i)?.[1])).toEqual([`${V2_ROOM}@${XMPP_MUC_DOMAIN}`]);
    },
    TEST_MS,
  );

  it(
    'every reload command of the hook is one Asterisk 22 carries out (no unknown command or module, nothing logged as ERROR or WARNING)',
    async () => {
      const before = pbx!.log('messages.log').length;
      const outputs: { command: string; output: string }[] = [];
      for (const { command } of hook.reloads) outputs.push({ command, output: (await pbx!.cli(command)).trim() });
      expect({ notCarriedOut: notCarriedOut(outputs), outputs }).toEqual({ notCarriedOut: [], outputs });
      expect(problems(pbx!.log('messages.log').slice(before))).toEqual([]);
    },
    TEST_MS,
  );
});
