/**
 * The pool members' bootstrap and bundles (userdata/jibri, userdata/jvb, userdata/pool-member.ts) and one pass of
 * pool-member.sh at a time, run for real in a scratch folder with stand-ins on PATH for curl (instance metadata and
 * the local Jibri/JVB APIs), aws, docker and systemctl that record their calls: what it publishes, the scale-in
 * protection it sets (once per change), and the drain under the lifecycle hook.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { parse } from 'yaml';
import { drainHookOf, fqdnsOf, metricsNamespaceOf, poolGroupOf, ssmRootOf } from '../config/names';
import { loadEnvironment } from '../config/load';
import { ROLES, type EnvironmentConfig, type Pool, type Role } from '../config/schema';
import { hostBundle, type RoleBundleProps } from '../userdata/bundle';
import { hostEnv, poolHostEnv, type RoleContext } from '../userdata/context';
import { hostCloudConfig } from '../userdata/host-user-data';
import { JIBRI_CUSTOM_CONF, JIBRI_OVERRIDE, jibriBundle, jibriSettings } from '../userdata/jibri';
import { jvbBundle, jvbSettings } from '../userdata/jvb';
import { CONFIG_ENV_FILE, helperPath, HOST_ENV_FILE, LIB_SH, roleFiles, STEPS_DIR, UNITS } from '../userdata/paths';
import { meetPoolPublisher, poolMemberEnv } from '../userdata/pool-member';
import { readScript, scriptPath, SCRIPTS_DIR } from '../userdata/script-files';
import { COMPOSE_BUILTIN, JITSI_ENV } from '../userdata/upstream-env';
import { renderCloudConfig } from '../userdata/cloud-config';
import { parseEnvFile } from './support/host-files';
import { describeAsRoot } from './support/root';
import { environmentFile, variantFile } from './support/synth';

const MEET_IP = '10.20.0.11';

function contextOf(config: EnvironmentConfig, who: Role | Pool): RoleContext {
  const privateIp = Object.fromEntries(ROLES.map((r, i) => [r, r === 'meet' ? MEET_IP : `10.20.0.${20 + i}`])) as Record<Role, string>;
  return {
    config,
    fqdn: fqdnsOf(config, ROLES),
    privateIp,
    buckets: { recordings: `weebeetalk-${config.name}-recordings-x`, uploads: 'u', backups: 'b' },
    ssmPrefix: `${ssmRootOf(config)}/${who}`,
  };
}

const configs = { staging: loadEnvironment(environmentFile('staging')), production: loadEnvironment(environmentFile('production')) };
const BUILDERS: Record<Pool, (ctx: RoleContext) => RoleBundleProps> = { jibri: jibriBundle, jvb: jvbBundle };
const fileOf = (props: RoleBundleProps, path: string): string => {
  const f = props.files.find((x) => x.path === path);
  if (!f) throw new Error(`no ${path} in the bundle`);
  return f.content;
};
/** Names a hook appends to .env: "NAME=\"${value}\"" array entries. */
const hookVars = (hook: string): string[] => [...readFileSync(scriptPath(hook), 'utf8').matchAll(/"([A-Z][A-Z0-9_]+)=\\"\$\{/g)].map((m) => m[1]);

describe.each(Object.entries(configs))('%s: pool members', (_name, config) => {
  it.each(['jibri', 'jvb'] as Pool[])("%s: host.env has the group's name and no fixed address; user-data without a data volume, under budget", (pool) => {
    const ctx = contextOf(config, pool);
    const env = poolHostEnv(ctx, pool);
    expect(env.WBT_ROLE).toBe(pool);
    expect(env.WBT_POOL_GROUP).toBe(poolGroupOf(config, pool));
    expect(env.SSM_PREFIX).toBe(`${ssmRootOf(config)}/${pool}`);
    expect(env.WBT_BUNDLE_PARAMETER).toBe(`${ssmRootOf(config)}/${pool}/bundle`);
    expect(env.PRIVATE_IP).toBeUndefined();
    // The same keys as a host's, less PRIVATE_IP, plus the group.
    const host = hostEnv({ ...ctx, ssmPrefix: ctx.ssmPrefix }, 'meet');
    expect(Object.keys(env).sort()).toEqual([...Object.keys(host).filter((k) => k !== 'PRIVATE_IP'), 'WBT_POOL_GROUP'].sort());

    const doc = hostCloudConfig({ env, dataVolume: false });
    const paths = doc.write_files.map((f) => f.path);
    // Its disk step (DATA_DIR on the root disk, bind-mounted on itself) where a host mounts its data volume.
    expect(paths.filter((p) => p.startsWith(`${STEPS_DIR}/`))).toEqual(['10-ssm-agent', '20-member-disk', '30-docker', '40-configure'].map((n) => `${STEPS_DIR}/${n}.sh`));
    expect(paths.filter((p) => /grow-data|udev/.test(p))).toEqual([]);
    expect(paths).toContain('/etc/docker/daemon.json');
    // lib.sh: the hosts' as it is, then the member's part (a host's user-data is not touched by the pools).
    const libOf = (d: ReturnType<typeof hostCloudConfig>): string => d.write_files.find((f) => f.path === LIB_SH)?.content ?? '';
    expect(libOf(doc)).toBe(`${readScript('lib')}${readScript('member-lib')}`);
    expect(libOf(hostCloudConfig({ env: host }))).toBe(readScript('lib'));
    expect(readScript('lib')).not.toMatch(/WBT_POOL_GROUP|INSTANCE_ID|public-ipv4/);
    expect(paths[0]).toBe(HOST_ENV_FILE);
    // A host's keeps all of it (the default).
    const full = hostCloudConfig({ env: host }).write_files.map((f) => f.path);
    expect(full.filter((p) => /grow-data|udev|docker\.service\.d|20-data-volume/.test(p))).toHaveLength(5);
    const size = gzipSync(renderCloudConfig(doc), { level: 9 }).length;
    expect(size).toBeLessThan(14 * 1024);
  });

  it.each(['jibri', 'jvb'] as Pool[])('%s: every .env name is one docker-jitsi-meet reads; XMPP to the meet host; settings as docker-jitsi-meet names them', (pool) => {
    const ctx = contextOf(config, pool);
    const props = BUILDERS[pool](ctx);
    const settings = parseEnvFile(fileOf(props, roleFiles(pool).settings));
    const names = [...Object.keys(settings), ...hookVars(`${pool}-member`)];
    expect(names.filter((n) => !(n in JITSI_ENV) && !(COMPOSE_BUILTIN as readonly string[]).includes(n))).toEqual([]);
    expect(settings).toMatchObject({ COMPOSE_PROJECT_NAME: 'jitsi', XMPP_SERVER: MEET_IP, XMPP_PORT: '5222', CONFIG: '/srv/weebeetalk/jitsi/config', JITSI_IMAGE_VERSION: 'stable-11146-2' });
    expect(settings).toEqual(pool === 'jibri' ? jibriSettings(ctx) : jvbSettings(ctx));
    // The hook adds what only the instance (and SSM) knows.
    expect(hookVars(`${pool}-member`).sort()).toEqual(
      pool === 'jibri' ? ['JIBRI_INSTANCE_ID', 'JIBRI_RECORDER_PASSWORD', 'JIBRI_XMPP_PASSWORD'] : ['JVB_ADVERTISE_IPS', 'JVB_AUTH_PASSWORD', 'JVB_INSTANCE_ID', 'JVB_MUC_NICKNAME'],
    );
    // No password and no instance-specific value in the bundle.
    expect(Object.keys(settings).filter((k) => /PASSWORD|INSTANCE_ID|NICKNAME|ADVERTISE/.test(k))).toEqual([]);
    const bundle = hostBundle(config.name, pool, props);
    expect(bundle.key).toMatch(new RegExp(`^bundles/${pool}/[0-9a-f]{64}\\.json$`));
    expect(bundle.document.hook).toBe(helperPath(`${pool}-member`));
    const cfg = parseEnvFile(bundle.document.files.find((f) => f.path === CONFIG_ENV_FILE)!.content);
    expect(cfg).toMatchObject({ WBT_DRAIN_HOOK: drainHookOf(config, pool), WBT_MEMBER_SERVICE: pool, WBT_METRICS_NAMESPACE: metricsNamespaceOf(config) });
    expect(cfg.WBT_HELPER_POOL_MEMBER).toBe(helperPath('pool-member'));
  });

  it('jibri: only the jibri service, its APIs on 127.0.0.1, the shared finalize and uploader, recordings to the bucket', () => {
    const ctx = contextOf(config, 'jibri');
    const props = jibriBundle(ctx);
    const settings = parseEnvFile(fileOf(props, roleFiles('jibri').settings));
    expect(settings.COMPOSE_FILE.split(':')).toEqual(['docker-compose.yml', 'jibri.yml', JIBRI_OVERRIDE]);
    expect(settings.PUBLIC_URL).toBe(config.jitsi.httpsPort === 443 ? `https://${ctx.fqdn.meet}` : `https://${ctx.fqdn.meet}:${config.jitsi.httpsPort}`);
    const override = parse(fileOf(props, JIBRI_OVERRIDE)) as { services: Record<string, { ports: string[] }> };
    expect(Object.keys(override.services)).toEqual(['jibri']);
    expect(override.services.jibri.ports.every((p) => p.startsWith('127.0.0.1:'))).toBe(true);
    expect(fileOf(props, JIBRI_CUSTOM_CONF)).toMatch(/^jibri\.api\.http\.external-api-host = "0\.0\.0\.0"$/m);
    const unit = fileOf(props, `/etc/systemd/system/${UNITS.jibri}.service`);
    expect(unit).toContain('ExecStart=/usr/bin/docker compose up --detach --no-deps jibri');
    expect(unit).not.toContain('RequiresMountsFor');
    expect(props.scripts).toEqual(expect.arrayContaining(['jibri-finalize', 'recordings-upload', 'pool-member']));
    expect(props.env.RECORDINGS_BUCKET).toBe(ctx.buckets.recordings);
    expect(fileOf(props, `/etc/systemd/system/${UNITS.recordingsUpload}.service`)).not.toContain('RequiresMountsFor');
    expect(props.env.WBT_PUBLISH_JIBRI_GROUP).toBe(poolGroupOf(config, 'jibri'));
    expect(props.env.WBT_PUBLISH_JVB_GROUP).toBe('');
  });

  it('jvb: only the jvb service, COLIBRI and shutdown REST on (both needed for the drain), no override', () => {
    const props = jvbBundle(contextOf(config, 'jvb'));
    const settings = parseEnvFile(fileOf(props, roleFiles('jvb').settings));
    expect(settings.COMPOSE_FILE).toBe('docker-compose.yml');
    expect([settings.COLIBRI_REST_ENABLED, settings.SHUTDOWN_REST_ENABLED]).toEqual(['true', 'true']);
    expect(fileOf(props, `/etc/systemd/system/${UNITS.jvb}.service`)).toContain('ExecStart=/usr/bin/docker compose up --detach --no-deps jvb');
    expect(props.env.WBT_PUBLISH_JVB_GROUP).toBe(poolGroupOf(config, 'jvb'));
    expect(props.env.WBT_RECORDINGS_UPLOAD_SERVICE).toBe('');
  });
});

describe("the meet host's publisher (for userdata/meet)", () => {
  it("publishes its own Jibri only with jitsi.jibri and the Jibri pool, its bridge with the JVB pool; the same keys as a member's", () => {
    const on = meetPoolPublisher({ config: configs.production });
    expect([on.enabled, on.env.WBT_PUBLISH_JIBRI_GROUP, on.env.WBT_PUBLISH_JVB_GROUP, on.env.WBT_DRAIN_HOOK]).toEqual([
      true,
      configs.production.jitsi.jibri ? poolGroupOf(configs.production, 'jibri') : '',
      poolGroupOf(configs.production, 'jvb'),
      '',
    ]);
    const off = meetPoolPublisher({
      config: loadEnvironment(variantFile('staging', { jitsi: { jibriPool: { enabled: false }, jvbPool: { enabled: false } } })),
    });
    expect([off.enabled, off.env.WBT_PUBLISH_JIBRI_GROUP, off.env.WBT_PUBLISH_JVB_GROUP]).toEqual([false, '', '']);
    expect(Object.keys(on.env).sort()).toEqual(Object.keys(poolMemberEnv({ config: configs.staging }, { member: 'jibri', publishJibri: true, publishJvb: false })).sort());
    expect(on.files.map((f) => f.path)).toEqual([`/etc/systemd/system/${UNITS.poolMember}.service`, `/etc/systemd/system/${UNITS.poolMember}.timer`]);
    expect(on.files[1].content).toMatch(/^OnUnitInactiveSec=30s$/m);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// pool-member.sh, one pass at a time.

const scratch = mkdtempSync(join(tmpdir(), 'wbt-pool-'));
jest.setTimeout(30_000);

/** A stand-in command on PATH: records "name argv..." to calls, then runs BODY. */
function standin(bin: string, name: string, body: string): void {
  const file = join(bin, name);
  writeFileSync(file, `#!/usr/bin/env bash\nset -euo pipefail\nT=\${WBT_TEST_ROOT}\nprintf '%s\\n' "${name} $*" >> "$T/calls"\n${body}\n`);
  chmodSync(file, 0o755);
}

interface Host {
  readonly root: string;
  /** Sets what the local services and metadata answer. */
  set(key: 'jibri' | 'jvb' | 'lifecycle' | 'aws-fail', value: string): void;
  /** One pass; the calls it made (curl to IMDS's token left out). */
  pass(): { status: number; calls: string[]; stderr: string; stdout: string };
  readonly recordings: string;
}

/**
 * A host with pool-member.sh and its libraries installed as on a host, host.env and config.env from the builders,
 * and stand-ins. `mode`: a member of a pool, or the meet host (publish only).
 */
function host(label: string, mode: Pool | 'meet'): Host {
  const root = join(scratch, label);
  const etc = join(root, 'etc');
  const lib = join(root, 'lib');
  const bin = join(root, 'bin');
  for (const d of [etc, lib, bin]) mkdirSync(d, { recursive: true });
  const config = configs.staging;
  // The libraries and the script, their fixed paths pointed into the scratch folder.
  const relocate = (text: string): string => text.replace(/^WBT_ETC=\/etc\/weebeetalk$/m, `WBT_ETC=${etc}`).replace(/\/usr\/local\/lib\/weebeetalk\//g, `${lib}/`);
  const recordings = join(root, 'jitsi', 'storage', 'jibri', 'recordings');
  const memberEnv =
    mode === 'meet'
      ? { ...hostEnv(contextOf(config, 'meet'), 'meet'), ...meetPoolPublisher({ config }).env }
      : { ...poolHostEnv(contextOf(config, mode), mode), ...BUILDERS[mode](contextOf(config, mode)).env };
  // lib.sh as the user-data writes it (a member's with its own part appended), config-lib.sh and the script as the bundle does.
  const userData = hostCloudConfig(mode === 'meet' ? { env: hostEnv(contextOf(config, 'meet'), 'meet') } : { env: poolHostEnv(contextOf(config, mode), mode), dataVolume: false });
  const libSh = userData.write_files.find((f) => f.path === LIB_SH)?.content;
  if (libSh === undefined) throw new Error('no lib.sh in the user-data');
  writeFileSync(join(lib, 'lib.sh'), relocate(libSh));
  for (const name of ['config-lib', 'pool-member']) writeFileSync(join(lib, `${name}.sh`), relocate(readFileSync(join(SCRIPTS_DIR, `${name}.sh`), 'utf8')));
  const envText = Object.entries({
    ...memberEnv,
    WBT_CONFIG_ENV: join(etc, 'config.env'),
    WBT_POOL_STATE: join(root, 'run'),
    JITSI_CONFIG: join(root, 'jitsi'),
    ...(mode === 'meet' ? {} : { WBT_MEMBER_DIR: root }),
  })
    .map(([k, v]) => `${k}="${String(v)}"`)
    .join('\n');
  writeFileSync(join(etc, 'host.env'), `${envText}\n`);
  writeFileSync(join(etc, 'config.env'), '');
  standin(
    bin,
    'curl',
    `url=""; for a in "$@"; do case $a in http://*) url=$a ;; esac; done
case $url in
  */latest/api/token) echo token ;;
  */meta-data/public-ipv4) echo 198.51.100.20 ;;
  */meta-data/local-ipv4) echo 10.20.1.37 ;;
  */meta-data/instance-id) echo i-0123456789abcdef0 ;;
  */meta-data/tags/instance/WeebeetalkPublicIp) echo 198.51.100.5 ;;
  */meta-data/tags/instance/WeebeetalkDataVolume) echo vol-1 ;;
  */meta-data/autoscaling/target-lifecycle-state) cat "$T/lifecycle" ;;
  */jibri/api/v1.0/health)
    s=$(cat "$T/jibri"); [[ $s != DOWN ]] || exit 7
    printf '{"status":{"busyStatus":"%s","health":{"healthStatus":"HEALTHY","details":{}}}}\\n' "$s" ;;
  */jibri/api/internal/v1.0/gracefulShutdown) [[ $(cat "$T/jibri") != DOWN ]] || exit 7 ;;
  */colibri/stats)
    read -r stress conferences < "$T/jvb"; [[ $stress != DOWN ]] || exit 7
    printf '{"stress_level":%s,"conferences":%s,"participants":3}\\n' "$stress" "$conferences" ;;
  */colibri/shutdown) [[ $(cat "$T/jvb") != DOWN* ]] || exit 7 ;;
  *) echo "curl stand-in: $url" >&2; exit 6 ;;
esac`,
  );
  standin(bin, 'aws', `case "$*" in *"$(cat "$T/aws-fail" 2> /dev/null || echo none)"*) echo "An error occurred (Throttling)" >&2; exit 255 ;; esac`);
  standin(bin, 'docker', `case "$*" in "compose ps --quiet "*) echo c0ffee ;; esac`);
  // The uploader's run: removes the complete sessions (as recordings-upload.sh after a verified upload), unless told not to.
  standin(
    bin,
    'systemctl',
    `case "$*" in "start --no-block ${UNITS.recordingsUpload}.service") [[ -e "$T/upload-fails" ]] && exit 1
  for m in "${recordings}"/*/.weebeetalk-complete; do [[ -e $m ]] && rm -rf "\${m%/*}"; done ;; esac; exit 0`,
  );
  const h: Host = {
    root,
    recordings,
    set(key, value) {
      writeFileSync(join(root, key), `${value}\n`);
    },
    pass() {
      writeFileSync(join(root, 'calls'), '');
      const out = spawnSync('/bin/bash', [join(lib, 'pool-member.sh')], {
        encoding: 'utf8',
        env: { PATH: `${bin}:/usr/bin:/bin`, WBT_TEST_ROOT: root, HOME: root, LANG: 'C.UTF-8' },
      });
      const calls = readFileSync(join(root, 'calls'), 'utf8')
        .split('\n')
        .filter((l) => l !== '' && !l.includes('/latest/api/token') && !l.includes('/meta-data/') && !/colibri\/stats|v1\.0\/health/.test(l));
      return { status: out.status ?? -1, calls, stderr: out.stderr, stdout: out.stdout };
    },
  };
  h.set('lifecycle', 'InService');
  h.set('jibri', 'IDLE');
  h.set('jvb', '0.1 0');
  return h;
}

const group = (pool: Pool): string => poolGroupOf(configs.staging, pool);
const hook = (pool: Pool): string => drainHookOf(configs.staging, pool);
const ns = metricsNamespaceOf(configs.staging);
const INSTANCE = 'i-0123456789abcdef0';
/** A datapoint, stamped with the start of its minute (UTC). */
const metric = (g: string, name: string, value: string): string =>
  expect.stringMatching(
    new RegExp(
      `^aws cloudwatch put-metric-data --region ap-southeast-3 --namespace ${ns} --metric-name ${name} --dimensions Pool=${g} --value ${value.replace('.', '\\.')} --unit None --timestamp \\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:00Z$`,
    ),
  ) as unknown as string;
const protect = (on: boolean): string =>
  `aws autoscaling set-instance-protection --region ap-southeast-3 --auto-scaling-group-name ${group('jibri')} --instance-ids ${INSTANCE} ${on ? '--protected-from-scale-in' : '--no-protected-from-scale-in'}`;
const lifecycleCall = (pool: Pool, action: string, ...extra: string[]): string =>
  [`aws autoscaling ${action} --region ap-southeast-3 --auto-scaling-group-name ${group(pool)} --lifecycle-hook-name ${hook(pool)} --instance-id ${INSTANCE}`, ...extra].join(' ');
/** The current minute as the script stamps it: a pass in the same minute publishes nothing new. */
const minute = (): string => execFileSync('date', ['-u', '+%Y-%m-%dT%H:%M:00Z'], { encoding: 'utf8' }).trim();

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('pool-member.sh', () => {
  beforeAll(() => {
    if (configs.staging.aws.region !== 'ap-southeast-3') throw new Error(`the expected calls name ap-southeast-3, staging is in ${configs.staging.aws.region}`);
  });

  it('a Jibri member: publishes IdleRecorders, protects itself while BUSY and releases when IDLE, one call per change', () => {
    const h = host('jibri-protect', 'jibri');
    let r = h.pass();
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    // The first pass after boot sets protection for what it sees (a reboot may have left it protected).
    expect(r.calls).toEqual([metric(group('jibri'), 'IdleRecorders', '1'), protect(false)]);
    // Same minute, same state: nothing.
    const before = minute();
    r = h.pass();
    if (minute() === before) expect(r.calls).toEqual([]);
    h.set('jibri', 'BUSY');
    rmSync(join(h.root, 'run', 'published-IdleRecorders'));
    r = h.pass();
    expect(r.calls).toEqual([metric(group('jibri'), 'IdleRecorders', '0'), protect(true)]);
    r = h.pass();
    expect(r.calls.filter((c) => c.includes('set-instance-protection'))).toEqual([]);
    h.set('jibri', 'IDLE');
    r = h.pass();
    expect(r.calls.filter((c) => c.includes('set-instance-protection'))).toEqual([protect(false)]);
    // Down (starting, crashed): counted as not idle, protection left as it is.
    h.set('jibri', 'DOWN');
    rmSync(join(h.root, 'run', 'published-IdleRecorders'));
    r = h.pass();
    expect(r.calls).toEqual([metric(group('jibri'), 'IdleRecorders', '0')]);
  });

  it('a failed protection call is tried again by the next pass; a failed publish does not stop the pass', () => {
    const h = host('jibri-retry', 'jibri');
    h.set('jibri', 'BUSY');
    h.set('aws-fail', 'set-instance-protection');
    let r = h.pass();
    expect(r.status).toBe(0);
    expect(r.calls).toEqual([metric(group('jibri'), 'IdleRecorders', '0'), protect(true)]);
    expect(r.stdout).toMatch(/cannot set scale-in protection/);
    h.set('aws-fail', 'put-metric-data');
    rmSync(join(h.root, 'run', 'published-IdleRecorders'));
    r = h.pass();
    expect(r.status).toBe(0);
    expect(r.calls).toEqual([metric(group('jibri'), 'IdleRecorders', '0'), protect(true)]);
    expect(r.stdout).toMatch(/cannot publish IdleRecorders/);
    // The failed publish left no stamp: the next pass publishes (and protection is set already).
    h.set('aws-fail', 'none');
    r = h.pass();
    expect(r.calls).toEqual([metric(group('jibri'), 'IdleRecorders', '0')]);
  });

  it('a Jibri member drains under its lifecycle hook: graceful shutdown, heartbeats while recording and uploading, then CONTINUE', () => {
    const h = host('jibri-drain', 'jibri');
    h.set('jibri', 'BUSY');
    h.pass();
    h.set('lifecycle', 'Terminated');
    let r = h.pass();
    expect(r.status).toBe(0);
    expect(r.calls).toEqual([
      `docker compose ps --quiet jibri`,
      'docker update --restart no c0ffee',
      expect.stringMatching(/^curl .*-X POST http:\/\/127\.0\.0\.1:3333\/jibri\/api\/internal\/v1\.0\/gracefulShutdown$/),
      lifecycleCall('jibri', 'record-lifecycle-action-heartbeat'),
    ]);
    // Still recording: a heartbeat, no second shutdown request, nothing published.
    r = h.pass();
    expect(r.calls).toEqual([lifecycleCall('jibri', 'record-lifecycle-action-heartbeat')]);
    // The recording ended; its folder is there, its finalize did not run: marked complete, and the upload fails once.
    h.set('jibri', 'IDLE');
    mkdirSync(join(h.recordings, 'abcdefgh'), { recursive: true });
    writeFileSync(join(h.recordings, 'abcdefgh', 'meeting.mp4'), 'x');
    writeFileSync(join(h.root, 'upload-fails'), '');
    // The upload is its own unit (started, not waited for): the pass sends its heartbeat at once.
    const upload = [`systemctl show -p ActiveState --value ${UNITS.recordingsUpload}.service`, `systemctl start --no-block ${UNITS.recordingsUpload}.service`];
    r = h.pass();
    expect(r.calls).toEqual([`systemctl stop ${UNITS.jibri}.service`, ...upload, lifecycleCall('jibri', 'record-lifecycle-action-heartbeat')]);
    expect(existsSync(join(h.recordings, 'abcdefgh', '.weebeetalk-complete'))).toBe(true);
    // Started again (the last run failed), this time it uploads; the next pass finds nothing left.
    rmSync(join(h.root, 'upload-fails'));
    r = h.pass();
    expect(r.calls).toEqual([`systemctl stop ${UNITS.jibri}.service`, ...upload, lifecycleCall('jibri', 'record-lifecycle-action-heartbeat')]);
    r = h.pass();
    expect(r.calls).toEqual([`systemctl stop ${UNITS.jibri}.service`, lifecycleCall('jibri', 'complete-lifecycle-action', '--lifecycle-action-result CONTINUE')]);
    expect(existsSync(join(h.recordings, 'abcdefgh'))).toBe(false);
    // Done: later passes do nothing at all.
    r = h.pass();
    expect(r.calls).toEqual([]);
  });

  it('a failed complete-lifecycle-action is tried again by the next pass', () => {
    const h = host('jibri-complete-retry', 'jibri');
    h.set('lifecycle', 'Terminated');
    h.set('aws-fail', 'complete-lifecycle-action');
    let r = h.pass();
    expect(r.calls.filter((c) => c.startsWith('aws '))).toEqual([lifecycleCall('jibri', 'complete-lifecycle-action', '--lifecycle-action-result CONTINUE')]);
    h.set('aws-fail', 'none');
    r = h.pass();
    expect(r.calls.filter((c) => c.startsWith('aws '))).toEqual([lifecycleCall('jibri', 'complete-lifecycle-action', '--lifecycle-action-result CONTINUE')]);
    expect(h.pass().calls).toEqual([]);
  });

  it('a JVB member: publishes BridgeStress; drains with a graceful shutdown until it hosts no conference', () => {
    const h = host('jvb-drain', 'jvb');
    h.set('jvb', '0.35 2');
    let r = h.pass();
    expect(r.stderr).toBe('');
    // Its meetings and participants too, under its pool (the dashboard sums the members).
    expect(r.calls).toEqual([metric(group('jvb'), 'BridgeStress', '0.35'), metric(group('jvb'), 'Conferences', '2'), metric(group('jvb'), 'Participants', '3')]);
    h.set('lifecycle', 'Terminated');
    r = h.pass();
    expect(r.calls).toEqual([
      'docker compose ps --quiet jvb',
      'docker update --restart no c0ffee',
      expect.stringMatching(/^curl .*-X POST -H Content-Type: application\/json --data \{"graceful-shutdown": true\} http:\/\/127\.0\.0\.1:8080\/colibri\/shutdown$/),
      lifecycleCall('jvb', 'record-lifecycle-action-heartbeat'),
    ]);
    h.set('jvb', '0.01 0');
    r = h.pass();
    expect(r.calls).toEqual([`systemctl stop ${UNITS.jvb}.service`, lifecycleCall('jvb', 'complete-lifecycle-action', '--lifecycle-action-result CONTINUE')]);
    // A bridge that exited on its own (graceful shutdown done) counts as drained too.
    const g = host('jvb-gone', 'jvb');
    g.set('lifecycle', 'Terminated');
    g.set('jvb', 'DOWN DOWN');
    expect(g.pass().calls.filter((c) => c.startsWith('aws '))).toEqual([lifecycleCall('jvb', 'complete-lifecycle-action', '--lifecycle-action-result CONTINUE')]);
  });

  it('the meet host publishes only: no protection, no lifecycle, no metadata beyond its tags', () => {
    const h = host('meet', 'meet');
    h.set('jibri', 'BUSY');
    h.set('jvb', '0.2 1');
    h.set('lifecycle', 'Terminated');
    const r = h.pass();
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const expected = [
      ...(configs.staging.jitsi.jibri && configs.staging.jitsi.jibriPool.enabled ? [metric(group('jibri'), 'IdleRecorders', '0')] : []),
      ...(configs.staging.jitsi.jvbPool.enabled ? [metric(group('jvb'), 'BridgeStress', '0.2')] : []),
    ];
    expect(expected.length).toBeGreaterThan(0);
    expect(r.calls).toEqual(expected);
    expect(readFileSync(join(h.root, 'calls'), 'utf8')).not.toMatch(/autoscaling|public-ipv4|instance-id/);
  });
});

describe("lib.sh's load_env", () => {
  it("a member's addresses and instance id come from instance metadata, without a data volume; a host's from its tags", () => {
    const m = host('load-env-member', 'jvb');
    const show = (h: Host): string =>
      execFileSync('/bin/bash', ['-c', `set -euo pipefail; . '${join(h.root, 'lib', 'lib.sh')}'; load_env; echo "$PUBLIC_IP|\${PRIVATE_IP:-}|\${INSTANCE_ID:-}|$DATA_VOLUME_ID"`], {
        encoding: 'utf8',
        env: { PATH: `${join(h.root, 'bin')}:/usr/bin:/bin`, WBT_TEST_ROOT: h.root },
      }).trim();
    expect(show(m)).toBe(`198.51.100.20|10.20.1.37|${INSTANCE}|`);
    expect(show(host('load-env-meet', 'meet'))).toBe(`198.51.100.5|${MEET_IP}||vol-1`);
  });

  it("in a member's hook, which the apply tool starts with PUBLIC_IP only, it still reads the private address and instance id", () => {
    const m = host('load-env-hook', 'jibri');
    const out = execFileSync('/bin/bash', ['-c', `set -euo pipefail; . '${join(m.root, 'lib', 'lib.sh')}'; load_env; echo "$PUBLIC_IP|\${PRIVATE_IP:-}|\${INSTANCE_ID:-}|$DATA_VOLUME_ID"`], {
      encoding: 'utf8',
      // As apply.sh runs the hook: env -i ... PUBLIC_IP=... DATA_VOLUME_ID=... bash HOOK.
      env: { PATH: `${join(m.root, 'bin')}:/usr/bin:/bin`, WBT_TEST_ROOT: m.root, PUBLIC_IP: '198.51.100.20', DATA_VOLUME_ID: '' },
    }).trim();
    expect(out).toBe(`198.51.100.20|10.20.1.37|${INSTANCE}|`);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// The members' hooks (jibri-member.sh, jvb-member.sh) as the apply tool runs them, with the same stand-ins.

/** A member's hook ready to run: its bundle's settings and scripts in the scratch folder, the release already there. */
function memberHook(label: string, pool: Pool): { h: Host; run: (changed?: string) => ReturnType<Host['pass']>; env: () => Record<string, string> } {
  const h = host(label, pool);
  const lib = join(h.root, 'lib');
  const props = BUILDERS[pool](contextOf(configs.staging, pool));
  const dir = join(h.root, 'release');
  mkdirSync(dir, { recursive: true });
  // The release as fetch_release leaves it: its manifest checks (one file here), so nothing is downloaded.
  writeFileSync(join(dir, 'docker-compose.yml'), 'services: {}\n');
  const manifest = join(h.root, 'upstream.sha256');
  writeFileSync(manifest, `${execFileSync('sha256sum', ['docker-compose.yml'], { cwd: dir, encoding: 'utf8' })}`);
  const settings = join(h.root, 'settings.env');
  writeFileSync(settings, fileOf(props, roleFiles(pool).settings));
  const extra: Record<string, string> = { [`WBT_${pool.toUpperCase()}_DIR`]: dir, [`WBT_${pool.toUpperCase()}_MANIFEST`]: manifest, [`WBT_${pool.toUpperCase()}_SETTINGS`]: settings };
  if (pool === 'jibri') {
    writeFileSync(join(h.root, 'custom-jibri.conf'), fileOf(props, JIBRI_CUSTOM_CONF));
    writeFileSync(join(lib, 'jibri-finalize.sh'), readFileSync(scriptPath('jibri-finalize'), 'utf8'));
    Object.assign(extra, { WBT_JIBRI_CUSTOM_CONF: join(h.root, 'custom-jibri.conf'), WBT_HELPER_JIBRI_FINALIZE: join(lib, 'jibri-finalize.sh') });
  }
  const hostEnvFile = join(h.root, 'etc', 'host.env');
  writeFileSync(
    hostEnvFile,
    `${readFileSync(hostEnvFile, 'utf8')}${Object.entries(extra)
      .map(([k, v]) => `${k}="${v}"\n`)
      .join('')}`,
  );
  const hookText = readFileSync(scriptPath(`${pool}-member`), 'utf8').replace(/\/usr\/local\/lib\/weebeetalk\//g, `${lib}/`);
  writeFileSync(join(lib, `${pool}-member.sh`), hookText);
  // SSM answers with the parameter's name below the environment: each secret, and where it was read, told apart in .env.
  standin(join(h.root, 'bin'), 'aws', `case "$*" in "ssm get-parameter "*) n=$(sed -n 's/.*--name \\([^ ]*\\).*/\\1/p' <<< "$*"); echo "pw-\${n#/weebeetalk/*/}" ;; esac`);
  const run = (changed = ''): ReturnType<Host['pass']> => {
    writeFileSync(join(h.root, 'calls'), '');
    const out = spawnSync('/bin/bash', [join(lib, `${pool}-member.sh`)], {
      encoding: 'utf8',
      env: { PATH: `${join(h.root, 'bin')}:/usr/bin:/bin`, WBT_TEST_ROOT: h.root, HOME: h.root, LANG: 'C.UTF-8', PUBLIC_IP: '198.51.100.20', DATA_VOLUME_ID: '', WBT_CHANGED: changed },
    });
    const calls = readFileSync(join(h.root, 'calls'), 'utf8')
      .split('\n')
      .filter((l) => l !== '' && !l.includes('/latest/') && !/colibri\/stats|v1\.0\/health/.test(l));
    return { status: out.status ?? -1, calls, stderr: out.stderr, stdout: out.stdout };
  };
  return { h, run, env: () => parseEnvFile(readFileSync(join(dir, '.env'), 'utf8')) };
}

describeAsRoot("the pool members' hooks (owners uid 1000, as on a host)")('the members hooks', () => {
  it('jibri-member.sh: .env = the settings, the instance id and the two passwords from SSM; started once; recreated only when idle', () => {
    const { h, run, env } = memberHook('hook-jibri', 'jibri');
    // systemctl answers "inactive" until the unit was restarted once.
    standin(join(h.root, 'bin'), 'systemctl', `case "$*" in "is-active --quiet "*) [[ -e "$T/started" ]] ;; "restart "*) touch "$T/started" ;; esac`);
    let r = run();
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const e = env();
    expect(e).toMatchObject({ XMPP_SERVER: MEET_IP, JIBRI_INSTANCE_ID: INSTANCE, JIBRI_XMPP_PASSWORD: 'pw-meet/jibri-xmpp-password', JIBRI_RECORDER_PASSWORD: 'pw-meet/jibri-recorder-password' });
    expect(execFileSync('stat', ['-c', '%a', join(h.root, 'release', '.env')], { encoding: 'utf8' }).trim()).toBe('600');
    expect(readFileSync(join(h.root, 'jitsi', 'jibri', 'custom-jibri.conf'), 'utf8')).toContain('external-api-host');
    expect(execFileSync('stat', ['-c', '%a', join(h.root, 'jitsi', 'jibri', 'finalize.sh')], { encoding: 'utf8' }).trim()).toBe('755');
    expect(execFileSync('stat', ['-c', '%u:%g %a', join(h.root, 'jitsi', 'storage', 'jibri')], { encoding: 'utf8' }).trim()).toBe('1000:1000 750');
    expect(r.calls.filter((c) => c.startsWith('aws '))).toEqual([
      `aws ssm get-parameter --region ap-southeast-3 --with-decryption --name ${ssmRootOf(configs.staging)}/meet/jibri-xmpp-password --query Parameter.Value --output text`,
      `aws ssm get-parameter --region ap-southeast-3 --with-decryption --name ${ssmRootOf(configs.staging)}/meet/jibri-recorder-password --query Parameter.Value --output text`,
    ]);
    expect(r.calls.filter((c) => c.startsWith('systemctl '))).toEqual([
      `systemctl enable --now ${UNITS.recordingsUpload}.timer`,
      `systemctl enable --now ${UNITS.poolMember}.timer`,
      `systemctl is-active --quiet ${UNITS.jibri}.service`,
      'systemctl daemon-reload',
      `systemctl enable ${UNITS.jibri}.service`,
      `systemctl restart ${UNITS.jibri}.service`,
    ]);
    // Nothing changed: nothing recreated.
    r = run();
    expect(r.calls.filter((c) => c.startsWith('docker ') || c.includes('restart'))).toEqual([]);
    // A changed setting while Jibri records: the apply succeeds without touching it, and pool-member.sh's first idle
    // pass recreates it (never under a recording, never a failed apply for one).
    h.set('jibri', 'BUSY');
    r = run('jibri-config');
    expect([r.status, r.stdout]).toEqual([0, expect.stringMatching(/jibri is at work: its new settings apply once it is idle/)]);
    expect(r.calls.filter((c) => c.startsWith('docker '))).toEqual([]);
    const pending = join(h.root, 'run', 'recreate-pending');
    expect(readFileSync(pending, 'utf8')).toBe('--force-recreate\n');
    expect(h.pass().calls.filter((c) => c.startsWith('docker '))).toEqual([]);
    h.set('jibri', 'IDLE');
    expect(h.pass().calls.filter((c) => c.startsWith('docker '))).toEqual(['docker compose up --detach --no-deps --force-recreate jibri']);
    expect(existsSync(pending)).toBe(false);
    expect(h.pass().calls.filter((c) => c.startsWith('docker '))).toEqual([]);
    // Idle at the apply: at once.
    r = run('jibri');
    expect(r.status).toBe(0);
    expect(r.calls.filter((c) => c.startsWith('docker '))).toEqual(['docker compose up --detach --no-deps jibri']);
    r = run('jibri-config');
    expect(r.calls.filter((c) => c.startsWith('docker '))).toEqual(['docker compose up --detach --no-deps --force-recreate jibri']);
    // Draining: the hook leaves Jibri as the drain left it.
    mkdirSync(join(h.root, 'run'), { recursive: true });
    writeFileSync(join(h.root, 'run', 'draining'), '');
    rmSync(join(h.root, 'started'));
    r = run('jibri');
    expect(r.status).toBe(0);
    expect(r.calls.filter((c) => /restart|docker /.test(c))).toEqual([]);
  });

  it('jvb-member.sh: .env advertises the public and private addresses, named by the instance id, the password from SSM; recreated only without conferences', () => {
    const { h, run, env } = memberHook('hook-jvb', 'jvb');
    standin(join(h.root, 'bin'), 'systemctl', `case "$*" in "is-active --quiet "*) [[ -e "$T/started" ]] ;; "restart "*) touch "$T/started" ;; esac`);
    let r = run();
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(env()).toMatchObject({
      XMPP_SERVER: MEET_IP,
      JVB_ADVERTISE_IPS: '198.51.100.20,10.20.1.37',
      JVB_MUC_NICKNAME: INSTANCE,
      JVB_INSTANCE_ID: INSTANCE,
      JVB_AUTH_PASSWORD: 'pw-meet/jvb-auth-password',
      COLIBRI_REST_ENABLED: 'true',
      SHUTDOWN_REST_ENABLED: 'true',
    });
    expect(r.calls.filter((c) => c.startsWith('systemctl ') && c.includes('restart'))).toEqual([`systemctl restart ${UNITS.jvb}.service`]);
    // While it hosts conferences: held back, then recreated by the first pass that finds it empty.
    h.set('jvb', '0.3 2');
    r = run('jvb');
    expect([r.status, r.calls.filter((c) => c.startsWith('docker '))]).toEqual([0, []]);
    expect(readFileSync(join(h.root, 'run', 'recreate-pending'), 'utf8')).toBe('');
    h.set('jvb', '0.01 0');
    expect(h.pass().calls.filter((c) => c.startsWith('docker '))).toEqual(['docker compose up --detach --no-deps jvb']);
    r = run('jvb');
    expect(r.calls.filter((c) => c.startsWith('docker '))).toEqual(['docker compose up --detach --no-deps jvb']);
  });
});
