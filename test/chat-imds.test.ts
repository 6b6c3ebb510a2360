/**
 * The chat host's metadata guard (issue 15, item 3): only Rocket.Chat's container reaches instance metadata.
 * The plan: the compose override puts Rocket.Chat at a fixed address on a fixed subnet, the bundle's settings give
 * the guard the same address and bridge, the unit runs it after every start of Docker, user-data carries none of it.
 * For real (root): the guard's own script in network namespaces laid out as a Docker host (a bridge with
 * ip_forward, DOCKER-USER and its FORWARD jump as Docker makes them, masquerading), with an "imds" namespace
 * answering HTTP on 169.254.169.254:80.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { CHAT_DOCKER_NETWORK, IMDS_IPV4, IMDS_IPV6, overlaps, parseCidr, type Cidr } from '../config/net';
import { IMDS_GUARD_UNIT, RC_ETC } from '../userdata/chat';
import { CONFIG_ENV_FILE, helperPath, LIB_SH } from '../userdata/paths';
import { scriptPath } from '../userdata/script-files';
import { hostFiles, parseEnvFile } from './support/host-files';
import { describeAsRoot } from './support/root';
import { shippedNames, synthEnvironment } from './support/synth';

interface Override {
  services: Record<string, { networks?: Record<string, { ipv4_address?: string }>; cap_drop?: string[] }>;
  networks?: Record<string, { driver_opts?: Record<string, string>; ipam?: { config?: { subnet?: string; ip_range?: string; gateway?: string }[] } }>;
}
const overrideTags = [{ tag: '!override', collection: 'seq' as const, resolve: (v: unknown) => v }];
const cidr = (text: string): Cidr => {
  const c = parseCidr(text);
  if (!c) throw new Error(`not a CIDR: ${text}`);
  return c;
};
const contains = (block: Cidr, address: string): boolean => overlaps(block, cidr(`${address}/32`));

describe('the metadata guard in the plan', () => {
  it.each(shippedNames())("%s: no container of the chat stack (nor the nightly dump) may send raw frames: none can ARP-spoof Rocket.Chat's address past the guard", (env) => {
    const s = synthEnvironment(env);
    const files = hostFiles(s, 'chat');
    const override = parse(files.get(`${RC_ETC}/compose.weebeetalk.yml`)?.content ?? '', { customTags: overrideTags }) as Override;
    // rocketchat-compose's nine services at the pin (compose.yml, compose.database.yml, compose.traefik.yml of f693f76c), hand-written.
    const upstream = ['mongodb', 'mongodb-exporter', 'mongodb-fix-permission-container', 'mongodb-init-container', 'nats', 'nats-exporter', 'rocketchat', 'traefik', 'traefik-init'];
    expect(Object.keys(override.services).sort()).toEqual(upstream);
    for (const name of upstream) expect({ name, capDrop: override.services[name].cap_drop }).toEqual({ name, capDrop: ['NET_RAW'] });
    const backup = [...files.values()].find((f) => f.path.endsWith('/rocketchat-backup.sh'))?.content ?? '';
    expect(backup).toMatch(/docker run --rm --cap-drop NET_RAW --network rocketchat_default /);
  });

  it.each(shippedNames())('%s: Rocket.Chat has a fixed address inside its compose network, which no VPC, Docker pool or other container can take', (env) => {
    const s = synthEnvironment(env);
    const files = hostFiles(s, 'chat');
    const override = parse(files.get(`${RC_ETC}/compose.weebeetalk.yml`)?.content ?? '', { customTags: overrideTags }) as Override;
    const net = override.networks?.default;
    const [pool, ...more] = net?.ipam?.config ?? [];
    expect(more).toEqual([]);
    expect(pool).toEqual({ subnet: CHAT_DOCKER_NETWORK.subnet, ip_range: CHAT_DOCKER_NETWORK.dynamicRange, gateway: CHAT_DOCKER_NETWORK.gateway });
    expect(net?.driver_opts).toEqual({ 'com.docker.network.bridge.name': CHAT_DOCKER_NETWORK.bridge });
    expect(CHAT_DOCKER_NETWORK.bridge.length).toBeLessThanOrEqual(15);
    // Rocket.Chat, and only Rocket.Chat, on that network with a fixed address (upstream attaches every service to it).
    const fixed = Object.entries(override.services).filter(([, svc]) => svc.networks !== undefined);
    expect(fixed).toEqual([['rocketchat', expect.anything()]]);
    expect(Object.keys(override.services.rocketchat.networks ?? {})).toEqual(['default']);
    const address = override.services.rocketchat.networks?.default?.ipv4_address ?? '';
    expect(address).toBe(CHAT_DOCKER_NETWORK.rocketchat);

    const subnet = cidr(pool.subnet ?? '');
    const range = cidr(pool.ip_range ?? '');
    const [first, last] = [subnet.base, subnet.base + 2 ** (32 - subnet.prefix) - 1];
    const n = cidr(`${address}/32`).base;
    // Inside the subnet, a host address, not the gateway, outside the range Docker hands the other containers.
    expect([contains(subnet, address), n > first && n < last, address !== pool.gateway, contains(range, address)]).toEqual([true, true, true, false]);
    expect(range.base >= subnet.base && range.base + 2 ** (32 - range.prefix) <= subnet.base + 2 ** (32 - subnet.prefix)).toBe(true);
    expect(contains(subnet, pool.gateway ?? '')).toBe(true);
    // Clear of the VPC (this one, and any: the schema keeps every VPC inside RFC 1918) and of Docker's default pools.
    const clear = [s.config.network.vpcCidr, '10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '172.17.0.0/16', '172.20.0.0/14', '172.24.0.0/14', '172.28.0.0/14'];
    expect(clear.filter((c) => overlaps(cidr(c), subnet))).toEqual([]);

    // The guard's settings (config.env of the bundle) name the same address and bridge.
    const settings = parseEnvFile(files.get(CONFIG_ENV_FILE)?.content ?? '');
    expect([settings.WBT_IMDS_ALLOWED, settings.WBT_IMDS_BRIDGE, settings.WBT_IMDS_ADDRESS, settings.WBT_IMDS_ADDRESS_SIX]).toEqual([address, CHAT_DOCKER_NETWORK.bridge, IMDS_IPV4, IMDS_IPV6]);
  });

  it.each(shippedNames())('%s: the guard and its unit come with the bundle (in place), run before every start of Docker; user-data has none of it', (env) => {
    const files = hostFiles(synthEnvironment(env), 'chat');
    const unitPath = `/etc/systemd/system/${IMDS_GUARD_UNIT}.service`;
    const script = files.get(helperPath('imds-guard'));
    const unit = files.get(unitPath);
    expect([script?.source, script?.mode, unit?.source]).toEqual(['bundle', '0755', 'bundle']);
    expect(script?.content).toBe(readFileSync(scriptPath('imds-guard'), 'utf8'));
    // A oneshot that is inactive after each run (no RemainAfterExit), so that each start of docker.service pulls it in
    // again, and runs before it (no container without the rules at boot).
    const lines = (unit?.content ?? '').split('\n');
    expect(lines).toEqual(expect.arrayContaining(['Before=docker.service', 'Type=oneshot', `ExecStart=${helperPath('imds-guard')}`, 'WantedBy=docker.service']));
    expect(lines.filter((l) => /^(After|RemainAfterExit|PartOf|Requires|BindsTo)=/.test(l))).toEqual([]);
    const userData = [...files.values()].filter((f) => f.source !== 'bundle');
    expect(userData.filter((f) => /imds-guard|DOCKER-USER|WBT_IMDS/.test(`${f.path}\n${f.content}`))).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// For real, in network namespaces.

/** Namespace names are global: this file's, with its process id (stale ones of a killed run are removed). */
const PREFIX = `wbtimds-${process.pid}`;
const NS = { host: `${PREFIX}-host`, rc: `${PREFIX}-rc`, other: `${PREFIX}-other`, imds: `${PREFIX}-imds` } as const;
/** Somewhere else than instance metadata (TEST-NET-1, RFC 5737): the "internet" the containers must still reach. */
const ELSEWHERE = '192.0.2.80';
const OTHER_CONTAINER = '198.18.0.130';

const sh = (argv: readonly string[]): string => execFileSync(argv[0], argv.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
const inNs = (ns: string, ...argv: string[]): string => sh(['ip', 'netns', 'exec', ns, ...argv]);

function reapStale(): void {
  for (const line of sh(['ip', 'netns', 'list']).split('\n')) {
    const m = /^wbtimds-(\d+)-[a-z]+/.exec(line);
    if (!m) continue;
    try {
      process.kill(Number(m[1]), 0);
    } catch {
      spawnSync('ip', ['netns', 'del', line.split(' ')[0]]);
    }
  }
}

/** An HTTP GET from a namespace, bounded: curl's exit code (0 answered, 28 timed out) and the body. */
function get(ns: string, address: string): { code: number | null; body: string } {
  const r = spawnSync('ip', ['netns', 'exec', ns, 'curl', '-sS', '--noproxy', '*', '--connect-timeout', '1', '--max-time', '2', `http://${address}/latest/meta-data/`], {
    encoding: 'utf8',
    timeout: 10_000,
  });
  return { code: r.status, body: r.stdout };
}

describeAsRoot('the chat host metadata guard in network namespaces (test/chat-imds.test.ts)', ['/usr/sbin/iptables', '/usr/sbin/ip6tables', '/usr/bin/curl'])('the metadata guard for real', () => {
  let scratch = '';
  let server: ChildProcess | undefined;
  let guardScript = '';
  /** The real script as the bundle installs it, with its settings as the plan's config.env gives them. */
  const guard = (): { code: number | null; output: string } => {
    const r = spawnSync('ip', ['netns', 'exec', NS.host, '/bin/bash', guardScript], { encoding: 'utf8', timeout: 30_000, env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8' } });
    return { code: r.status, output: `${r.stdout}${r.stderr}` };
  };
  /** DOCKER-USER's rules, as `iptables -S` prints them. */
  const rules = (tool = 'iptables'): string[] =>
    inNs(NS.host, tool, '-w', '-S', 'DOCKER-USER')
      .split('\n')
      .filter((l) => l.startsWith('-A '));
  const ours = (tool = 'iptables'): string[] => rules(tool).filter((l) => l.includes('wbt-imds-guard'));

  beforeAll(() => {
    reapStale();
    scratch = mkdtempSync(join(tmpdir(), 'wbt-imds-'));
    const [etc, lib] = [join(scratch, 'etc'), join(scratch, 'lib')];
    for (const d of [etc, lib]) mkdirSync(d, { recursive: true });
    const files = hostFiles(synthEnvironment('staging'), 'chat');
    const relocate = (text: string): string => text.replace(/^WBT_ETC=\/etc\/weebeetalk$/m, `WBT_ETC=${etc}`).replace(/\/usr\/local\/lib\/weebeetalk\//g, `${lib}/`);
    writeFileSync(join(lib, 'lib.sh'), relocate(files.get(LIB_SH)?.content ?? ''));
    guardScript = join(lib, 'imds-guard.sh');
    writeFileSync(guardScript, relocate(files.get(helperPath('imds-guard'))?.content ?? ''));
    writeFileSync(join(etc, 'host.env'), `WBT_CONFIG_ENV="${join(etc, 'config.env')}"\n`);
    writeFileSync(join(etc, 'config.env'), files.get(CONFIG_ENV_FILE)?.content ?? '');

    const bridge = CHAT_DOCKER_NETWORK.bridge;
    for (const ns of Object.values(NS)) sh(['ip', 'netns', 'add', ns]);
    for (const ns of Object.values(NS)) sh(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
    // The Docker host: the compose network's bridge with its gateway address, forwarding on.
    sh(['ip', '-n', NS.host, 'link', 'add', bridge, 'type', 'bridge']);
    sh(['ip', '-n', NS.host, 'addr', 'add', `${CHAT_DOCKER_NETWORK.gateway}/24`, 'dev', bridge]);
    sh(['ip', '-n', NS.host, 'link', 'set', bridge, 'up']);
    inNs(NS.host, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1');
    // Two containers on the bridge: Rocket.Chat at its fixed address, another one from the dynamic range.
    for (const [ns, address, port] of [
      [NS.rc, CHAT_DOCKER_NETWORK.rocketchat, 'vrc'],
      [NS.other, OTHER_CONTAINER, 'voth'],
    ] as const) {
      sh(['ip', '-n', NS.host, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
      sh(['ip', '-n', NS.host, 'link', 'set', port, 'master', bridge, 'up']);
      sh(['ip', '-n', ns, 'addr', 'add', `${address}/24`, 'dev', 'eth0']);
      sh(['ip', '-n', ns, 'link', 'set', 'eth0', 'up']);
      sh(['ip', '-n', ns, 'route', 'add', 'default', 'via', CHAT_DOCKER_NETWORK.gateway]);
    }
    // The host's uplink, behind which instance metadata (and the rest of the world) answers.
    sh(['ip', '-n', NS.host, 'link', 'add', 'vimds', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', NS.imds]);
    sh(['ip', '-n', NS.host, 'addr', 'add', '169.254.169.1/24', 'dev', 'vimds']);
    sh(['ip', '-n', NS.host, 'link', 'set', 'vimds', 'up']);
    sh(['ip', '-n', NS.host, 'route', 'add', `${ELSEWHERE}/32`, 'via', '169.254.169.254']);
    for (const a of [`${IMDS_IPV4}/24`, `${ELSEWHERE}/32`]) sh(['ip', '-n', NS.imds, 'addr', 'add', a, 'dev', 'eth0']);
    sh(['ip', '-n', NS.imds, 'link', 'set', 'eth0', 'up']);
    // Docker's firewall as it makes it: FORWARD's policy DROP, the jump to DOCKER-USER first (Docker <= 27 also
    // leaves a RETURN in it), the bridge's outbound traffic and replies accepted, masquerading out of the bridge.
    inNs(NS.host, 'iptables', '-w', '-N', 'DOCKER-USER');
    inNs(NS.host, 'iptables', '-w', '-A', 'DOCKER-USER', '-j', 'RETURN');
    inNs(NS.host, 'iptables', '-w', '-P', 'FORWARD', 'DROP');
    inNs(NS.host, 'iptables', '-w', '-A', 'FORWARD', '-j', 'DOCKER-USER');
    inNs(NS.host, 'iptables', '-w', '-A', 'FORWARD', '-o', bridge, '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', '-j', 'ACCEPT');
    inNs(NS.host, 'iptables', '-w', '-A', 'FORWARD', '-i', bridge, '!', '-o', bridge, '-j', 'ACCEPT');
    inNs(NS.host, 'iptables', '-w', '-t', 'nat', '-A', 'POSTROUTING', '-s', CHAT_DOCKER_NETWORK.subnet, '!', '-o', bridge, '-j', 'MASQUERADE');
    inNs(NS.host, 'ip6tables', '-w', '-N', 'DOCKER-USER');
    inNs(NS.host, 'ip6tables', '-w', '-A', 'FORWARD', '-j', 'DOCKER-USER');

    // Instance metadata: a tiny HTTP server (any path answers), started by PID and killed by PID.
    server = spawn('ip', ['netns', 'exec', NS.imds, process.execPath, '-e', "require('http').createServer((q, s) => s.end('imds ' + q.url)).listen(80, '0.0.0.0')"], {
      stdio: 'ignore',
    });
    let up = false;
    for (let i = 0; i < 100 && !up; i++) {
      up = spawnSync('ip', ['netns', 'exec', NS.imds, 'curl', '-s', '--max-time', '1', `http://${IMDS_IPV4}/`], { timeout: 5_000 }).status === 0;
      if (!up) spawnSync('sleep', ['0.05']);
    }
    if (!up) throw new Error('the metadata stand-in did not start');
  });

  afterAll(() => {
    if (server?.pid !== undefined && server.exitCode === null && server.signalCode === null) {
      try {
        process.kill(server.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    for (const ns of Object.values(NS)) spawnSync('ip', ['netns', 'del', ns]);
    if (scratch !== '') rmSync(scratch, { recursive: true, force: true });
    const left = sh(['ip', 'netns', 'list'])
      .split('\n')
      .filter((l) => l.startsWith(PREFIX));
    expect(left).toEqual([]);
  });

  it('without the guard, every container reaches instance metadata (the hole it closes)', () => {
    expect(ours()).toEqual([]);
    expect(get(NS.rc, IMDS_IPV4)).toEqual({ code: 0, body: 'imds /latest/meta-data/' });
    expect(get(NS.other, IMDS_IPV4)).toEqual({ code: 0, body: 'imds /latest/meta-data/' });
  });

  it("with the guard: Rocket.Chat's address gets an answer, the other container's request is dropped, everything else passes", () => {
    const run = guard();
    expect([run.code, run.output]).toEqual([0, expect.stringContaining(`only ${CHAT_DOCKER_NETWORK.rocketchat} on ${CHAT_DOCKER_NETWORK.bridge} (Rocket.Chat) reaches it`)]);
    expect(get(NS.rc, IMDS_IPV4)).toEqual({ code: 0, body: 'imds /latest/meta-data/' });
    // Dropped, not refused: curl times out (28) within its bound.
    expect(get(NS.other, IMDS_IPV4)).toEqual({ code: 28, body: '' });
    expect(get(NS.other, ELSEWHERE)).toEqual({ code: 0, body: 'imds /latest/meta-data/' });
    expect(get(NS.rc, ELSEWHERE)).toEqual({ code: 0, body: 'imds /latest/meta-data/' });
    // Ours first, in order, once each; Docker's RETURN after them; IPv6's address dropped for every container.
    expect(rules()).toEqual([
      `-A DOCKER-USER -s ${CHAT_DOCKER_NETWORK.rocketchat}/32 -d ${IMDS_IPV4}/32 -i ${CHAT_DOCKER_NETWORK.bridge} -p tcp -m tcp --dport 80 -m comment --comment "wbt-imds-guard: Rocket.Chat may reach instance metadata" -j RETURN`,
      `-A DOCKER-USER -d ${IMDS_IPV4}/32 -m comment --comment "wbt-imds-guard: no other container may" -j DROP`,
      '-A DOCKER-USER -j RETURN',
    ]);
    expect(rules('ip6tables')).toEqual([`-A DOCKER-USER -d ${IMDS_IPV6}/128 -m comment --comment "wbt-imds-guard: no container may (IPv6)" -j DROP`]);
  });

  it('a second run changes nothing: exactly one copy of each rule', () => {
    const [before, before6] = [rules(), rules('ip6tables')];
    const run = guard();
    expect([run.code, run.output]).toEqual([0, expect.stringContaining('iptables DOCKER-USER: the metadata guard is in place')]);
    expect(run.output).toContain('ip6tables DOCKER-USER: the metadata guard is in place');
    expect([rules(), rules('ip6tables')]).toEqual([before, before6]);
  });

  it('doubled or stale rules of ours are cleaned up, to exactly one copy each, in order', () => {
    const before = rules();
    const allowLine = before[0].replace(/^-A DOCKER-USER /, '');
    // A doubled DROP at the bottom, and an allow for an old address (a previous bundle's) below it.
    inNs(NS.host, '/bin/bash', '-c', `iptables -w -A DOCKER-USER ${before[1].replace(/^-A DOCKER-USER /, '')}`);
    inNs(NS.host, '/bin/bash', '-c', `iptables -w -A DOCKER-USER ${allowLine.replace(CHAT_DOCKER_NETWORK.rocketchat, '198.18.0.11')}`);
    expect(ours()).toHaveLength(4);
    expect(guard().code).toBe(0);
    expect(rules()).toEqual(before);
    expect(get(NS.rc, IMDS_IPV4).code).toBe(0);
    expect(get(NS.other, IMDS_IPV4).code).toBe(28);
  });

  it('after Docker recreates its chain (flushed, as a firewall reload or a new Docker leaves it), a run restores the guard', () => {
    inNs(NS.host, 'iptables', '-w', '-F', 'DOCKER-USER');
    inNs(NS.host, 'iptables', '-w', '-A', 'DOCKER-USER', '-j', 'RETURN');
    inNs(NS.host, 'ip6tables', '-w', '-F', 'DOCKER-USER');
    expect(get(NS.other, IMDS_IPV4).code).toBe(0);
    const run = guard();
    expect([run.code, run.output]).toEqual([0, expect.stringContaining('iptables DOCKER-USER: metadata guard set (2 rules)')]);
    expect(ours()).toHaveLength(2);
    expect(ours('ip6tables')).toHaveLength(1);
    expect(get(NS.rc, IMDS_IPV4).code).toBe(0);
    expect(get(NS.other, IMDS_IPV4).code).toBe(28);
  });

  it("before Docker's first start at boot (no chain yet): the guard makes DOCKER-USER and FORWARD's jump, and Docker's own setup keeps them", () => {
    inNs(NS.host, 'iptables', '-w', '-D', 'FORWARD', '-j', 'DOCKER-USER');
    inNs(NS.host, 'iptables', '-w', '-F', 'DOCKER-USER');
    inNs(NS.host, 'iptables', '-w', '-X', 'DOCKER-USER');
    inNs(NS.host, 'ip6tables', '-w', '-D', 'FORWARD', '-j', 'DOCKER-USER');
    inNs(NS.host, 'ip6tables', '-w', '-F', 'DOCKER-USER');
    inNs(NS.host, 'ip6tables', '-w', '-X', 'DOCKER-USER');
    const run = guard();
    expect([run.code, run.output]).toEqual([0, expect.stringContaining('iptables: made DOCKER-USER (Docker keeps it and its rules)')]);
    expect(run.output).toContain('ip6tables: made DOCKER-USER');
    expect([ours(), ours('ip6tables')].map((r) => r.length)).toEqual([2, 1]);
    expect(get(NS.other, IMDS_IPV4).code).toBe(28);
    // dockerd's setupUserChain (moby libnetwork): the chain kept as it is, a RETURN appended when there is none, the
    // jump moved to the top of FORWARD (deleted, inserted).
    inNs(NS.host, 'iptables', '-w', '-A', 'DOCKER-USER', '-j', 'RETURN');
    inNs(NS.host, 'iptables', '-w', '-D', 'FORWARD', '-j', 'DOCKER-USER');
    inNs(NS.host, 'iptables', '-w', '-I', 'FORWARD', '-j', 'DOCKER-USER');
    const forward = inNs(NS.host, 'iptables', '-w', '-S', 'FORWARD')
      .split('\n')
      .filter((l) => l.startsWith('-A '));
    expect(forward.filter((l) => l === '-A FORWARD -j DOCKER-USER')).toHaveLength(1);
    expect(forward[0]).toBe('-A FORWARD -j DOCKER-USER');
    expect(rules().map((l) => l.replace(/ -m comment .*? -j/, ' ... -j'))).toEqual([
      `-A DOCKER-USER -s ${CHAT_DOCKER_NETWORK.rocketchat}/32 -d ${IMDS_IPV4}/32 -i ${CHAT_DOCKER_NETWORK.bridge} -p tcp -m tcp --dport 80 ... -j RETURN`,
      `-A DOCKER-USER -d ${IMDS_IPV4}/32 ... -j DROP`,
      '-A DOCKER-USER -j RETURN',
    ]);
    expect(guard().output).toContain('iptables DOCKER-USER: the metadata guard is in place');
    expect(get(NS.rc, IMDS_IPV4).code).toBe(0);
    expect(get(NS.other, IMDS_IPV4).code).toBe(28);
  });
});
