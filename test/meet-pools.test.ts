/**
 * The meet host's side of the Jibri and JVB pools (issue 14), on the synthesized plans: Prosody's client port
 * published on the private address only and only with a pool, recording on with a recorder anywhere, the shared
 * XMPP accounts named as docker-jitsi-meet's Prosody registers them, and the hook reading their passwords from the
 * parameters the plan creates for meet.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { PROSODY_HTTP_LOOPBACK } from '../config/dial-in';
import { XMPP_CLIENT_PORT } from '../config/ports';
import { enabledPools, POOLS } from '../config/schema';
import { poolGroupOf } from '../config/names';
import { jibriCustomConf } from '../userdata/jibri';
import { JITSI_JIBRI_CONF, JITSI_OVERRIDE, PROSODY_CFG, SHARED_XMPP_ACCOUNTS } from '../userdata/meet';
import { POOL_APIS } from '../userdata/pool-member';
import { roleFiles } from '../userdata/paths';
import { scriptPath } from '../userdata/script-files';
import { JITSI_ENV } from '../userdata/upstream-env';
import { hostFiles, hostSettings, parseEnvFile } from './support/host-files';
import { resources, synthEnvironment, synthVariant, type Synthesized } from './support/synth';

const run = promisify(execFile);

const noPools = (): Synthesized => synthVariant('meet-no-pools', 'staging', { jitsi: { jibriPool: { enabled: false }, jvbPool: { enabled: false } } });
const jvbOnly = (): Synthesized => synthVariant('meet-jvb-pool-only', 'staging', { jitsi: { jibriPool: { enabled: false }, jvbPool: { enabled: true } } });
/** Recording by the pool alone: the meet host's own Jibri off. */
const poolRecorders = (): Synthesized => synthVariant('meet-pool-recorders', 'staging', { jitsi: { jibri: false, jibriPool: { enabled: true, idle: 1 }, jvbPool: { enabled: false } } });
const noRecorder = (): Synthesized => synthVariant('meet-no-recorder', 'staging', { jitsi: { jibri: false, jibriPool: { enabled: false }, jvbPool: { enabled: false } } });

const CASES: [string, () => Synthesized][] = [
  ['staging', () => synthEnvironment('staging')],
  ['production', () => synthEnvironment('production')],
  ['no pools', noPools],
  ['the JVB pool only', jvbOnly],
  ['the Jibri pool without the own Jibri', poolRecorders],
  ['no recorder at all', noRecorder],
];

const override = (s: Synthesized): { services: Record<string, { ports?: string[]; restart?: string }> } => {
  const f = hostFiles(s, 'meet').get(JITSI_OVERRIDE);
  if (f === undefined) throw new Error(`no ${JITSI_OVERRIDE} in meet's bundle`);
  return parse(f.content) as { services: Record<string, { ports?: string[]; restart?: string }> };
};
const settings = (s: Synthesized): Record<string, string> => {
  const f = hostFiles(s, 'meet').get(roleFiles('meet').settings);
  if (f === undefined) throw new Error('no meet settings');
  return parseEnvFile(f.content);
};

describe.each(CASES)('the meet host with %s', (_label, synth) => {
  test("Prosody's client port is published on the meet host's private address only, exactly when a pool exists", () => {
    const s = synth();
    const meetIp = hostSettings(s, 'meet').PRIVATE_IP;
    expect(meetIp).toMatch(/^10\.\d+\.\d+\.\d+$/);
    const o = override(s);
    // The web container's restart limit is there either way.
    expect(o.services.web).toEqual({ restart: 'on-failure:3' });
    // Prosody's HTTP port on loopback for the dial-in mapper's census, with Jigasi (config/dial-in.ts).
    const prosodyPorts = [
      ...(enabledPools(s.config).length > 0 ? [`${meetIp}:${XMPP_CLIENT_PORT}:${XMPP_CLIENT_PORT}`] : []),
      ...(s.config.jitsi.jigasi ? [`${PROSODY_HTTP_LOOPBACK.address}:${PROSODY_HTTP_LOOPBACK.port}:${PROSODY_HTTP_LOOPBACK.port}`] : []),
    ];
    if (prosodyPorts.length > 0) expect(o.services.prosody).toEqual({ ports: prosodyPorts });
    else expect(o.services.prosody).toBeUndefined();
    // The own Jibri, one of the Jibri pool's recorders: its health API on loopback only, for pool-member.sh.
    const publishesJibri = s.config.jitsi.jibri && s.config.jitsi.jibriPool.enabled;
    if (publishesJibri) expect(o.services.jibri).toEqual({ ports: [`127.0.0.1:${new URL(POOL_APIS.jibri).port}:${new URL(POOL_APIS.jibri).port}`] });
    else expect(o.services.jibri).toBeUndefined();
    // No other service publishes anything of ours; nothing is bound on every interface.
    expect(Object.keys(o.services)).toEqual([...(publishesJibri ? ['jibri'] : []), ...(prosodyPorts.length > 0 ? ['prosody'] : []), 'web']);
    expect(JSON.stringify(o)).not.toMatch(/0\.0\.0\.0|"5222:5222"/);
  });

  test('recording is on with a recorder anywhere; jibri.yml and its finalize script only with the own Jibri', () => {
    const s = synth();
    const { jitsi } = s.config;
    const env = settings(s);
    expect(env.ENABLE_RECORDING).toBe(jitsi.jibri || jitsi.jibriPool.enabled ? '1' : undefined);
    expect(env.COMPOSE_FILE.split(':').includes('jibri.yml')).toBe(jitsi.jibri);
    expect(env.JIBRI_FINALIZE_RECORDING_SCRIPT_PATH).toBe(jitsi.jibri ? '/config/finalize.sh' : undefined);
    expect(hostSettings(s, 'meet').JIBRI_ENABLED).toBe(jitsi.jibri ? '1' : '0');
  });

  test("pool-member.sh publishes this host's own Jibri's state and bridge's stress, for the pools that count them", () => {
    const s = synth();
    const { jitsi } = s.config;
    const host = hostSettings(s, 'meet');
    const publishesJibri = jitsi.jibri && jitsi.jibriPool.enabled;
    expect([host.WBT_PUBLISH_JIBRI_GROUP, host.WBT_PUBLISH_JVB_GROUP]).toEqual([publishesJibri ? poolGroupOf(s.config, 'jibri') : '', jitsi.jvbPool.enabled ? poolGroupOf(s.config, 'jvb') : '']);
    // Publish only: no lifecycle hook, no member service.
    expect([host.WBT_DRAIN_HOOK, host.WBT_MEMBER_SERVICE]).toEqual(['', '']);
    // Its timer always ships (jitsi.sh stops it when a pool goes); the helper is the bundle's.
    const files = hostFiles(s, 'meet');
    expect(files.get(`/etc/systemd/system/${host.WBT_POOL_MEMBER_TIMER}`)?.source).toBe('bundle');
    expect(readFileSync(scriptPath('jitsi'), 'utf8')).toContain('pool_member_timer "$WBT_POOL_MEMBER_TIMER" "${WBT_PUBLISH_JIBRI_GROUP}${WBT_PUBLISH_JVB_GROUP}"');
    // The bridge's /colibri/stats needs the COLIBRI REST API; the own Jibri's API must be reachable from outside its container.
    expect(settings(s).COLIBRI_REST_ENABLED).toBe(jitsi.jvbPool.enabled ? 'true' : undefined);
    expect(files.get(JITSI_JIBRI_CONF)?.content).toBe(jibriCustomConf());
    expect(readFileSync(scriptPath('jitsi'), 'utf8')).toMatch(/if \[\[ -n "\$WBT_PUBLISH_JIBRI_GROUP" \]\]; then\n\s+if install_if_changed "\$WBT_JITSI_JIBRI_CONF"/);
  });

  test("the hook reads the enabled pools' shared passwords from parameters the plan creates under meet/", () => {
    const s = synth();
    const host = hostSettings(s, 'meet');
    const shared = host.WBT_SHARED_XMPP === '' ? [] : host.WBT_SHARED_XMPP.split(' ');
    const expected = enabledPools(s.config).flatMap((pool) => SHARED_XMPP_ACCOUNTS[pool].map((a) => `${a.variable}:${a.secret}`));
    expect(shared).toEqual(expected);
    const parameters = new Set(resources(s, 'aws_ssm_parameter').map((p) => String(p.block.name)));
    for (const entry of shared) {
      const name = `/weebeetalk/${s.config.name}/meet/${entry.split(':')[1]}`;
      expect({ name, inPlan: parameters.has(name) }).toEqual({ name, inPlan: true });
    }
    // Every account Prosody may have to follow, whatever is enabled: a pool turned off goes back to the generated one.
    expect(host.WBT_XMPP_ACCOUNTS.split(' ')).toEqual(['JIBRI_XMPP_PASSWORD:jibri@auth.meet.jitsi', 'JIBRI_RECORDER_PASSWORD:recorder@hidden.meet.jitsi', 'JVB_AUTH_PASSWORD:jvb@auth.meet.jitsi']);
    expect(host.WBT_PROSODY_CFG).toBe(PROSODY_CFG);
    // NAME=value of a password name would read as a literal secret in the bundle (the audit's WBT-CONFIG-SECRET).
    expect(hostFiles(s, 'meet').get('/etc/weebeetalk/config.env')?.content).not.toMatch(/PASSWORD=/);
  });
});

describe('the shared XMPP accounts', () => {
  test('one per pool account, each a password variable docker-jitsi-meet reads and gen-passwords.sh generates', () => {
    expect(Object.keys(SHARED_XMPP_ACCOUNTS).sort()).toEqual([...POOLS].sort());
    const all = Object.values(SHARED_XMPP_ACCOUNTS).flat();
    for (const a of all) expect([a.variable, a.variable in JITSI_ENV, JITSI_ENV[a.variable]]).toEqual([a.variable, true, expect.stringContaining('gen-passwords.sh')]);
    // Distinct variables, accounts and parameters.
    for (const key of ['variable', 'jid', 'secret'] as const) expect(new Set(all.map((a) => a[key])).size).toBe(all.length);
  });

  test("the hook sets Prosody's copy with mod_admin_shell user:password (register-setup's user:create keeps an existing account), never on a host command line", () => {
    const script = readFileSync(scriptPath('jitsi'), 'utf8');
    expect(script).toContain('prosody_shell user password "$1"');
    expect(script).toContain('prosodyctl --config "$0" shell "$@" "$password"');
    // The password reaches the container on stdin: no docker argument carries it.
    expect(script).not.toMatch(/docker compose exec[^\n]*(-e|--env)\b/);
    expect(script).toMatch(/account_line "\$2" \| prosody_shell user password/);
  });
});

describe('the compose override we write', () => {
  test('passes dclint with the pools on (Compose Specification schema and its checks)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wbt-meet-pools-'));
    const p = join(dir, 'compose.weebeetalk.yml');
    const content = hostFiles(synthEnvironment('production'), 'meet').get(JITSI_OVERRIDE)?.content ?? '';
    expect(content).toContain('prosody');
    writeFileSync(p, content);
    const dclint = join(__dirname, '..', 'node_modules', '.bin', 'dclint');
    const out = await run(dclint, [p]).then(
      (r) => r.stdout,
      (e: { stdout: string }) => `FAILED\n${e.stdout}`,
    );
    expect(out.trim()).toBe('');
  });
});
