/**
 * Dial-in by PIN on the meet host (issue 17), on the synthesized plans: the conference mapper's sandboxed unit and its
 * configuration, its PIN key (an SSM secret only meet reads, written root-only by the hook), Prosody's census on
 * loopback, the web container's include that forwards exactly the two public paths, the settings browsers get, the
 * security group rule from the pbx host alone and the audit that refuses anything wider.
 */
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { App } from 'cdktf';
import { parse } from 'yaml';
import type { DialInMapperConfig } from '../config/dial-in';
import { loadEnvironment } from '../config/load';
import { ANY_ROLES } from '../config/schema';
import type { Json } from '../constructs/audit/plan';
import { auditStack } from '../constructs/audit/stack-audit';
import { WeeBeeTalkStack } from '../constructs/weebeetalk-stack';
import { JITSI_OVERRIDE } from '../userdata/meet';
import { roleFiles } from '../userdata/paths';
import { scriptPath } from '../userdata/script-files';
import { JITSI_ENV } from '../userdata/upstream-env';
import { hostFiles, hostSettings, parseEnvFile, type HostFile } from './support/host-files';
import { hostIam, allows } from './support/iam';
import { censusStandIn, startMapper } from './support/dial-in-mapper';
import { dataSources, environmentFile, resources, single, synthEnvironment, synthVariant, type Synthesized } from './support/synth';

const run = promisify(execFile);

// Hand-written from the contract (config/dial-in.ts) and userdata/paths.ts: what a host really gets.
const UNIT = '/etc/systemd/system/weebeetalk-dial-in-mapper.service';
const PROGRAM = '/usr/local/lib/weebeetalk/dial-in-mapper.py';
const CONFIG = '/etc/weebeetalk/jitsi/dial-in-mapper.json';
const PIN_KEY = '/etc/weebeetalk/jitsi/dial-in-pin-key';
const NGINX = '/etc/weebeetalk/jitsi/nginx-dial-in.conf';
const NGINX_INSTALLED = '/srv/weebeetalk/jitsi/config/web/nginx-custom/weebeetalk-dial-in.conf';

const noJigasi = (): Synthesized => synthVariant('dial-in-no-jigasi', 'staging', { sip: { dialIn: { rooms: [] } }, jitsi: { jigasi: false } });
const stagingWithNumber = (): Synthesized => synthVariant('dial-in-staging-number', 'staging', { sip: { dialIn: { numbers: [{ number: '0800 123 456', country: 'ID', tollFree: true }] } } });

const CASES: [string, () => Synthesized][] = [
  ['staging (no number)', () => synthEnvironment('staging')],
  ['production (one number)', () => synthEnvironment('production')],
  ['staging with a toll-free number', stagingWithNumber],
  ['no Jigasi', noJigasi],
];

const files = (s: Synthesized): Map<string, HostFile> => hostFiles(s, 'meet');
const file = (s: Synthesized, path: string): HostFile => {
  const f = files(s).get(path);
  if (f === undefined) throw new Error(`${s.label}: no ${path} in meet's files`);
  return f;
};
const settings = (s: Synthesized): Record<string, string> => parseEnvFile(file(s, roleFiles('meet').settings).content);
const ip = (s: Synthesized, role: 'meet' | 'pbx'): string => hostSettings(s, role).PRIVATE_IP;
/** A unit file's KEY=value lines (repeated keys in order). */
const unitKeys = (text: string): [string, string][] =>
  text
    .split('\n')
    .filter((l) => /^[A-Za-z]+=/.test(l))
    .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]);
const unitValues = (text: string, key: string): string[] =>
  unitKeys(text)
    .filter(([k]) => k === key)
    .map(([, v]) => v);

describe.each(CASES)('the meet host, %s', (_label, synth) => {
  test('the mapper: its unit is always there (jitsi.sh can stop it), its program and configuration only with Jigasi', () => {
    const s = synth();
    const f = files(s);
    expect(f.get(UNIT)?.services).toEqual(expect.arrayContaining(['systemd', 'dial-in-mapper']));
    expect(f.has(PROGRAM)).toBe(s.config.jitsi.jigasi);
    expect(f.has(CONFIG)).toBe(s.config.jitsi.jigasi);
    if (s.config.jitsi.jigasi) {
      expect(file(s, PROGRAM)).toMatchObject({ mode: '0755', owner: '0:0', services: ['dial-in-mapper'] });
      expect(file(s, PROGRAM).content).toBe(readFileSync(join(__dirname, '..', 'userdata', 'meet', 'scripts', 'dial-in-mapper.py'), 'utf8'));
    }
    // The key is never shipped: the hook writes it from SSM.
    expect(f.has(PIN_KEY)).toBe(false);
    expect(hostSettings(s, 'meet')).toMatchObject({
      WBT_DIAL_IN_UNIT: 'weebeetalk-dial-in-mapper.service',
      WBT_DIAL_IN_KEY: PIN_KEY,
      WBT_DIAL_IN_NGINX: NGINX,
      WBT_DIAL_IN_NGINX_INSTALLED: NGINX_INSTALLED,
    });
  });

  test("the mapper's configuration: the meet host's private address, the census on loopback, the pbx host's address, the numbers", () => {
    const s = synth();
    if (!s.config.jitsi.jigasi) return;
    const config = JSON.parse(file(s, CONFIG).content) as DialInMapperConfig;
    expect(config).toEqual({
      listen: ip(s, 'meet'),
      port: 5290,
      mucDomain: 'muc.meet.jitsi',
      censusUrl: 'http://127.0.0.1:5280/room-census',
      pbxAddresses: [ip(s, 'pbx')],
      numbers: s.config.sip.dialIn.numbers.map((n) => ({ countryCode: n.country, tollFree: n.tollFree, formattedNumber: n.number })),
    });
    expect(ip(s, 'meet')).not.toBe(ip(s, 'pbx'));
    // No keyFile: the key comes from systemd's credential, never from a path the configuration names.
    expect(config).not.toHaveProperty('keyFile');
  });

  test('the unit: Debian python3, a transient user, the key as a credential, strong sandboxing, after Jitsi', () => {
    const s = synth();
    const unit = file(s, UNIT).content;
    const one = (key: string): string | undefined => {
      const v = unitValues(unit, key);
      expect([key, v.length]).toEqual([key, 1]);
      return v[0];
    };
    expect(one('ExecStart')).toBe(`/usr/bin/python3 ${PROGRAM} --config ${CONFIG}`);
    expect(one('DynamicUser')).toBe('yes');
    expect(unitValues(unit, 'User')).toEqual([]);
    expect(one('LoadCredential')).toBe(`pin-key:${PIN_KEY}`);
    expect(one('Restart')).toBe('on-failure');
    for (const [key, value] of Object.entries({
      NoNewPrivileges: 'yes',
      ProtectSystem: 'strict',
      ProtectHome: 'yes',
      PrivateTmp: 'yes',
      PrivateDevices: 'yes',
      CapabilityBoundingSet: '',
      RestrictAddressFamilies: 'AF_INET AF_INET6',
      IPAddressDeny: 'any',
    }))
      expect([key, one(key)]).toEqual([key, value]);
    // The packets it may exchange: Prosody on loopback, the pbx host, the web container on Docker's networks; never the world.
    const allowed = (one('IPAddressAllow') ?? '').split(' ');
    expect(allowed).toEqual(['localhost', `${ip(s, 'pbx')}/32`, '172.16.0.0/12', '192.168.0.0/16']);
    expect(allowed).not.toContain('any');
    expect(unitValues(unit, 'After').join(' ').split(' ')).toEqual(expect.arrayContaining(['docker.service', 'weebeetalk-jitsi.service', 'network-online.target']));
    expect(unitValues(unit, 'WantedBy')).toEqual(['multi-user.target']);
  });

  test("the web container's include: exactly the two public paths, by exact match, to the mapper's two routes; never /room", () => {
    const s = synth();
    const conf = file(s, NGINX).content;
    const locations = [...conf.matchAll(/^location (\S+) (\S+) \{\n([^}]*)\}\n/gm)].map((m) => [m[1], m[2], m[3].trim()]);
    const upstream = `http://${ip(s, 'meet')}:5290`;
    expect(locations).toEqual([
      ['=', '/weebeetalk/dial-in/conference-code', `proxy_pass ${upstream}/conference-code$is_args$args;`],
      ['=', '/weebeetalk/dial-in/numbers', `proxy_pass ${upstream}/dial-in-numbers$is_args$args;`],
    ]);
    // Nothing else in it but its comment: every line is a comment or part of those two blocks.
    const rest = conf.replace(/^location [^{]*\{\n[^}]*\}\n/gm, '').replace(/^#.*\n/gm, '');
    expect(rest).toBe('');
    expect(conf).not.toMatch(/\/room\b/);
    expect(conf).not.toMatch(/\blocation\s+(?!=)/);
  });

  test(".env: the census module with Jigasi; the invite dialog's two URLs only with a number; no default room for Jigasi", () => {
    const s = synth();
    const env = settings(s);
    const { jigasi } = s.config.jitsi;
    const numbers = s.config.sip.dialIn.numbers.length > 0;
    expect(env.XMPP_MODULES).toBe(jigasi ? 'muc_census' : undefined);
    const publicUrl = `https://${hostSettings(s, 'meet').FQDN}`;
    expect(env.PUBLIC_URL).toBe(publicUrl);
    expect([env.CONFCODE_URL, env.DIALIN_NUMBERS_URL]).toEqual(
      jigasi && numbers ? [`${publicUrl}/weebeetalk/dial-in/conference-code`, `${publicUrl}/weebeetalk/dial-in/numbers`] : [undefined, undefined],
    );
    expect(hostSettings(s, 'meet').DIAL_IN_PUBLIC).toBe(jigasi && numbers ? '1' : '0');
    // Every call carries X-Room-Name: without a default, Jigasi refuses one that does not.
    expect(env).not.toHaveProperty('JIGASI_SIP_DEFAULT_ROOM');
    for (const name of ['XMPP_MODULES', 'CONFCODE_URL', 'DIALIN_NUMBERS_URL']) expect([name, JITSI_ENV[name]]).toEqual([name, expect.stringContaining('docker-compose.yml')]);
    expect(JITSI_ENV).not.toHaveProperty('JIGASI_SIP_DEFAULT_ROOM');
  });

  test("Prosody's HTTP port published on loopback only, with Jigasi (the census); never on the private address or every interface", () => {
    const s = synth();
    const o = parse(file(s, JITSI_OVERRIDE).content) as { services: Record<string, { ports?: string[] }> };
    const ports = Object.values(o.services).flatMap((svc) => svc.ports ?? []);
    const http = ports.filter((p) => /:5280$/.test(p));
    expect(http).toEqual(s.config.jitsi.jigasi ? ['127.0.0.1:5280:5280'] : []);
    expect(o.services.prosody?.ports ?? []).toEqual(expect.arrayContaining(http));
    expect(ports.filter((p) => p.split(':').length < 3 || p.startsWith('0.0.0.0:'))).toEqual([]);
  });

  test('the PIN key: one SecureString meet/dial-in-pin-key with Jigasi, readable by the meet host only', () => {
    const s = synth();
    const name = `/weebeetalk/${s.config.name}/meet/dial-in-pin-key`;
    const params = resources(s, 'aws_ssm_parameter').filter((p) => p.block.name === name);
    expect(params.map((p) => p.block.type)).toEqual(s.config.jitsi.jigasi ? ['SecureString'] : []);
    if (!s.config.jitsi.jigasi) return;
    // Written through the write-only value, never stored.
    expect(params[0].block).not.toHaveProperty('value');
    expect(params[0].block.value_wo).toMatch(/aws_secretsmanager_random_password/);
    const account = single(dataSources(s, 'aws_caller_identity'), 'caller identity').ref('account_id');
    const arn = `arn:aws:ssm:${s.config.aws.region}:${account}:parameter${name}`;
    const readers = ANY_ROLES.filter((role) => {
      try {
        return allows(hostIam(s, role).effective, 'ssm:GetParameter', arn);
      } catch {
        return false; // a role or pool this environment does not build
      }
    });
    expect(readers).toEqual(['meet']);
  });

  test("the security group: tcp 5290 on the meet host from the pbx host's group, with Jigasi; the audit calls it ok", () => {
    const s = synth();
    const rules = resources(s, 'aws_vpc_security_group_ingress_rule').filter((r) => r.block.from_port === 5290 || r.block.to_port === 5290);
    if (!s.config.jitsi.jigasi) {
      expect(rules).toEqual([]);
      return;
    }
    expect(rules).toHaveLength(1);
    // The construct id is the rule's address: stable (roleRules: <role>-<service>-<peer>).
    expect(rules[0].key).toMatch(/meet-dial-in-mapper-from-pbx/);
    const [rule] = rules;
    expect(rule.block).toMatchObject({ ip_protocol: 'tcp', from_port: 5290, to_port: 5290 });
    expect(rule.block).not.toHaveProperty('cidr_ipv4');
    expect(String(rule.block.referenced_security_group_id)).toMatch(/aws_security_group\.[\w-]*pbx/);
    const audit = auditStack(s.json as unknown as Json, s.config);
    const rows = audit.groups.flatMap((g) =>
      g.rows.filter((r) => r.direction === 'ingress' && r.from <= 5290 && r.to >= 5290).map((r) => `${g.host} ${r.protocol} ${r.ports} ${r.peer} ${r.verdict} ${r.rules.join(',')}`),
    );
    expect(rows).toEqual(['meet tcp 5290 pbx host ok WBT-SG-DIALIN']);
  });
});

describe('the audit gate on the real stack', () => {
  let outdir: string;
  beforeAll(() => {
    outdir = mkdtempSync(join(tmpdir(), 'dial-in-audit-'));
    delete process.env.CDKTF_CONTINUE_SYNTH_ON_ERROR_ANNOTATIONS;
  });
  afterAll(() => rmSync(outdir, { recursive: true, force: true }));

  const widened = (override: Record<string, unknown>): string => {
    const app = new App({ outdir, stackTraces: false });
    const stack = new WeeBeeTalkStack(app, 'staging', { config: loadEnvironment(environmentFile('staging')) });
    const rule = stack.node.findChild('firewalls').node.findChild('meet-dial-in-mapper-from-pbx');
    for (const [k, v] of Object.entries(override)) (rule as unknown as { addOverride(p: string, v: unknown): void }).addOverride(k, v);
    try {
      app.synth();
      return '';
    } catch (e) {
      return e instanceof Error ? e.message : String(e);
    }
  };

  test.each([
    ['to the world', { referenced_security_group_id: null, cidr_ipv4: '0.0.0.0/0' }, ['WBT-SG-DIALIN', 'WBT-SG-WORLD']],
    ['to a network of the VPC', { referenced_security_group_id: null, cidr_ipv4: '10.0.0.0/8' }, ['WBT-SG-DIALIN']],
    ['to a range of ports around it', { from_port: 5285, to_port: 5295 }, ['WBT-SG-DIALIN']],
  ])("widening the mapper's rule %s stops synthesis", (_what, override, fired) => {
    const error = widened(override);
    expect([...new Set([...error.matchAll(/^\[[^\]]+\] (WBT-[A-Z0-9-]+) /gm)].map((m) => m[1]))].sort()).toEqual(fired);
    expect(error).toContain('[staging/firewalls/meet-dial-in-mapper-from-pbx] WBT-SG-DIALIN');
  });

  test('the rule as planned synthesizes', () => {
    expect(widened({})).toBe('');
  });
});

describe('real validators', () => {
  let scratch: string;
  beforeAll(() => {
    scratch = mkdtempSync(join(tmpdir(), 'dial-in-meet-'));
  });
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  test('the compose override with the loopback publish passes dclint', async () => {
    const p = join(scratch, 'jitsi-override.yml');
    writeFileSync(p, file(synthEnvironment('production'), JITSI_OVERRIDE).content);
    const dclint = join(__dirname, '..', 'node_modules', '.bin', 'dclint');
    const out = await run(dclint, [p]).then(
      (r) => r.stdout,
      (e: { stdout: string }) => `FAILED\n${e.stdout}`,
    );
    expect(out.trim()).toBe('');
  });

  const analyze = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
  const withSystemd = analyze.status === 0 ? test : test.skip;
  withSystemd("the unit: systemd-analyze verify accepts it, and its security exposure rates 'OK' or better", () => {
    const s = synthEnvironment('production');
    const p = join(scratch, 'weebeetalk-dial-in-mapper.service');
    writeFileSync(p, file(s, UNIT).content);
    // verify checks the unit's syntax and directives (the program path is not on this machine: only ExecStart's binary is checked).
    const verify = spawnSync('systemd-analyze', ['verify', p], { encoding: 'utf8' });
    expect(verify.stderr.split('\n').filter((l) => l.includes('weebeetalk-dial-in-mapper') && !/Failed to (?:add|load) dependency|not found/.test(l))).toEqual([]);
    const security = spawnSync('systemd-analyze', ['security', '--offline=yes', '--no-pager', p], { encoding: 'utf8' });
    const m = /Overall exposure level for \S+: ([0-9.]+) (\w+)/.exec(`${security.stdout}${security.stderr}`);
    expect(m).not.toBeNull();
    expect(Number(m?.[1])).toBeLessThanOrEqual(3.0);
  });

  test("the real mapper answers the plan's numbers in Jitsi Meet's format (its configuration, on a test address and key)", async () => {
    const s = synthEnvironment('production');
    const planned = JSON.parse(file(s, CONFIG).content) as DialInMapperConfig;
    const census = await censusStandIn();
    const key = join(scratch, 'pin-key');
    writeFileSync(key, 'k'.repeat(48), { mode: 0o600 });
    const mapper = await startMapper(scratch, { ...planned, listen: '127.0.0.1', port: 0, censusUrl: census.url, keyFile: key });
    try {
      const r = await fetch(`http://${mapper.address}/dial-in-numbers`);
      expect(await r.json()).toEqual([{ countryCode: 'id', tollFree: false, formattedNumber: '+62 21 5555 0100' }]);
    } finally {
      mapper.stop();
      await census.close();
    }
  });
});

describe('the hook (jitsi.sh)', () => {
  const hook = readFileSync(scriptPath('jitsi'), 'utf8');
  test('reads the PIN key from SSM with Jigasi and writes it root-only with the secret-file helpers, restarting the mapper when it changes', () => {
    expect(hook).toContain('pin_key=$(ssm_secret dial-in-pin-key)');
    expect(hook).toMatch(/draft=\$\(secret_draft "\$WBT_DIAL_IN_KEY"\)\n\s*printf '%s' "\$pin_key" > "\$draft"\n\s*if update_secret_file "\$draft" "\$WBT_DIAL_IN_KEY"; then pin_key_changed=1; fi/);
    expect(hook).toMatch(/elif \(\(pin_key_changed\)\) \|\| has_changed dial-in-mapper; then\n\s*systemctl restart "\$WBT_DIAL_IN_UNIT"/);
    // Never into .env (the containers read it) or a log line.
    expect(hook).not.toMatch(/secrets\+=\([^)]*pin_key/);
    expect(hook).not.toMatch(/log [^\n]*\$\{?pin_key/);
  });
  test('restarts the web container when its include changed on a running stack', () => {
    expect(hook).toMatch(/if \(\(web_conf_changed && was_running\)\); then restart_later web; fi/);
  });
});
