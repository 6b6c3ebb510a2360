/**
 * The CloudWatch scripts run for real in a scratch folder (userdata/cloudwatch-agent.ts): cloudwatch-agent.sh against a
 * stand-in of AWS's bucket (a throwaway .deb signed with a throwaway key made here, pinned by its fingerprint as AWS's
 * is): installed when the signature is the pinned key's, refused when the signature, the package or the key is not, and
 * a second run downloads nothing; host-metrics.sh with stand-ins for curl, docker and aws publishes exactly the
 * contract's names (config/metrics.ts).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HOST_METRICS } from '../config/metrics';
import { metricsNamespaceOf } from '../config/names';
import { type Role } from '../config/schema';
import { renderEnvFile } from '../userdata/cloud-config';
import { agentBaseUrl, CLOUDWATCH_AGENT, CLOUDWATCH_AGENT_PATHS, withMonitoring } from '../userdata/cloudwatch-agent';
import { hostEnv } from '../userdata/context';
import { readScript } from '../userdata/script-files';
import { stagingConfig, stagingContext } from './support/role-context';

const config = stagingConfig;
const ctxOf = stagingContext;
const EMPTY = { env: {}, hook: 'turn', files: [] };

/** A scratch host: lib.sh and the script relocated, host.env and config.env, stand-ins on PATH that record their calls. */
function scratch(
  name: string,
  role: Role,
): { root: string; bin: string; lib: string; env: Record<string, string>; write: (env: Record<string, string>) => void; run: (script: string) => { status: number; out: string; calls: string[] } } {
  const root = mkdtempSync(join(tmpdir(), `wbt-${name}-`));
  const [bin, lib, etc, state] = ['bin', 'lib', 'etc', 'state'].map((d) => join(root, d));
  for (const d of [bin, lib, etc, state]) mkdirSync(d);
  const relocate = (text: string): string => text.replace(/^WBT_ETC=\/etc\/weebeetalk$/m, `WBT_ETC=${etc}`).replace(/\/usr\/local\/lib\/weebeetalk\//g, `${lib}/`);
  writeFileSync(join(lib, 'lib.sh'), relocate(readScript('lib')));
  for (const s of ['cloudwatch-agent', 'host-metrics']) writeFileSync(join(lib, `${s}.sh`), relocate(readScript(s)));
  const props = withMonitoring(EMPTY, ctxOf(role), role, undefined);
  const env: Record<string, string> = {
    ...(props.env as Record<string, string>),
    WBT_CWAGENT_CONFIG: join(etc, 'cloudwatch-agent.json'),
    WBT_CWAGENT_VERIFIED: join(state, 'cloudwatch-agent.verified'),
    WBT_CWAGENT_APPLIED: join(state, 'cloudwatch-agent.config.sha256'),
    WBT_CWAGENT_CTL: join(bin, 'amazon-cloudwatch-agent-ctl'),
  };
  writeFileSync(join(etc, 'cloudwatch-agent.json'), props.files.find((f) => f.path === CLOUDWATCH_AGENT_PATHS.config)?.content ?? '');
  const write = (e: Record<string, string>): void => {
    writeFileSync(
      join(etc, 'host.env'),
      renderEnvFile({ ...hostEnv(ctxOf(role), role), WBT_CONFIG_ENV: join(etc, 'config.env'), WBT_STATE_DIR: state, WBT_APPLY_LOCK: join(root, 'apply.lock'), WBT_BUNDLES: join(state, 'bundles') }),
    );
    writeFileSync(join(etc, 'config.env'), renderEnvFile(e));
  };
  write(env);
  const standin = (cmd: string, body: string): void => {
    writeFileSync(join(bin, cmd), `#!/usr/bin/env bash\nset -euo pipefail\necho "${cmd} $*" >> "${root}/calls"\n${body}\n`);
    chmodSync(join(bin, cmd), 0o755);
  };
  // curl: AWS's bucket and the loopback endpoints, from files under net/ named by the URL.
  standin(
    'curl',
    `out=""; url=""; while (($#)); do case $1 in -o) out=$2; shift ;; http*) url=$1 ;; esac; shift; done\nf="${root}/net/$(printf '%s' "$url" | tr -c 'A-Za-z0-9._-' '_')"\n[[ -f "$f" ]] || { echo "curl: (6) Could not resolve host" >&2; exit 6; }\nif [[ -n "$out" ]]; then cp "$f" "$out"; else cat "$f"; fi`,
  );
  standin('dpkg-query', `if grep -qx amazon-cloudwatch-agent "${root}/installed" 2> /dev/null; then printf 'install ok installed'; else exit 1; fi`);
  standin('dpkg', `echo amd64`);
  standin('apt-get', `echo amazon-cloudwatch-agent >> "${root}/installed"`);
  standin('systemctl', `[[ -e "${root}/active" ]]`);
  standin('amazon-cloudwatch-agent-ctl', `touch "${root}/active"`);
  standin('sleep', ':');
  // SSM names the bundle the host applied (state/bundles/current.sha256), last changed an hour ago; CloudWatch takes all.
  mkdirSync(join(state, 'bundles'));
  writeFileSync(join(state, 'bundles', 'current.sha256'), `${'a'.repeat(64)}\n`);
  writeFileSync(join(state, 'bootstrap.done'), '');
  writeFileSync(join(root, 'pointer'), `s3://config/bundles/${role}/${'a'.repeat(64)}.json\t${new Date(Date.now() - 3_600_000).toISOString()}\n`);
  // put-metric-data --metric-data file://...: each datum recorded as the one-metric call it stands for.
  standin(
    'aws',
    `if [[ "$1 $2" == "ssm get-parameter" ]]; then cat "${root}/pointer"; fi\nif [[ "$1 $2" == "cloudwatch put-metric-data" ]]; then\n  region=$4 ns=$6 data=\${8#file://}\n  jq -r --arg r "$region" --arg n "$ns" '.[] | "aws cloudwatch put-metric-data --region \\($r) --namespace \\($n) --metric-name \\(.MetricName) --dimensions \\(.Dimensions[0].Name)=\\(.Dimensions[0].Value) --value \\(.Value) --unit \\(.Unit) --timestamp \\(.Timestamp)"' "$data" >> "${root}/calls"\nfi`,
  );
  const run = (script: string): { status: number; out: string; calls: string[] } => {
    rmSync(join(root, 'calls'), { force: true });
    const r = spawnSync('/bin/bash', [join(lib, `${script}.sh`)], {
      encoding: 'utf8',
      env: { PATH: `${bin}:/usr/bin:/bin`, HOME: root, LANG: 'C.UTF-8', PUBLIC_IP: '198.51.100.7', DATA_VOLUME_ID: 'vol-1' },
    });
    const calls = existsSync(join(root, 'calls'))
      ? readFileSync(join(root, 'calls'), 'utf8')
          .split('\n')
          .filter((l) => l !== '')
      : [];
    return { status: r.status ?? -1, out: `${r.stdout}${r.stderr}`, calls };
  };
  return { root, bin, lib, env, write, run };
}

type Scratch = ReturnType<typeof scratch>;
const netFile = (root: string, url: string): string => join(root, 'net', url.replace(/[^A-Za-z0-9._-]/g, '_'));

describe('cloudwatch-agent.sh against a stand-in of AWS’s bucket', () => {
  const keys = mkdtempSync(join(tmpdir(), 'wbt-gpg-'));
  const gpg = (home: string, ...args: string[]): string =>
    execFileSync('gpg', ['--batch', '--quiet', '--homedir', home, '--pinentry-mode', 'loopback', '--passphrase', '', ...args], { encoding: 'utf8' });
  const makeKey = (name: string): { home: string; fingerprint: string; armored: string } => {
    const home = join(keys, name);
    mkdirSync(home, { mode: 0o700 });
    gpg(home, '--quick-gen-key', `${name} <${name}@invalid>`, 'ed25519', 'sign', 'never');
    const fingerprint = /^fpr:+([0-9A-F]{40}):/m.exec(gpg(home, '--with-colons', '--list-keys'))?.[1] ?? '';
    return { home, fingerprint, armored: gpg(home, '--armor', '--export') };
  };
  const pinned = makeKey('pinned');
  const other = makeKey('other');
  // A throwaway .deb (what is in it does not matter: apt-get is a stand-in).
  const debRoot = join(keys, 'pkg');
  mkdirSync(join(debRoot, 'DEBIAN'), { recursive: true });
  writeFileSync(join(debRoot, 'DEBIAN', 'control'), 'Package: amazon-cloudwatch-agent\nVersion: 1.0-1\nArchitecture: amd64\nMaintainer: stand-in <none@invalid>\nDescription: stand-in\n');
  const deb = join(keys, 'agent.deb');
  execFileSync('dpkg-deb', ['--build', '--root-owner-group', debRoot, deb], { stdio: 'ignore' });
  const sign = (key: { home: string }, file: string, out: string): void => void gpg(key.home, '--detach-sign', '--output', out, file);
  afterAll(() => {
    for (const k of [pinned, other]) spawnSync('gpgconf', ['--homedir', k.home, '--kill', 'gpg-agent']);
    rmSync(keys, { recursive: true, force: true });
  });

  /** A host whose pinned fingerprint is the throwaway key's, and AWS's bucket serving DEB, its signature by SIGNER and KEY as AWS's key. */
  const host = (name: string, signer: { home: string }, served: { armored: string }, tamper = false): Scratch & { url: string } => {
    const h = scratch(name, 'pbx');
    h.write({ ...h.env, WBT_CWAGENT_FINGERPRINT: pinned.fingerprint });
    mkdirSync(join(h.root, 'net'));
    const url = `${agentBaseUrl(config.aws.region)}/${CLOUDWATCH_AGENT.packagePath.amd64}/latest/amazon-cloudwatch-agent.deb`;
    writeFileSync(netFile(h.root, url), readFileSync(deb));
    sign(signer, deb, netFile(h.root, `${url}.sig`));
    if (tamper) writeFileSync(netFile(h.root, url), Buffer.concat([readFileSync(deb), Buffer.from('x')]));
    writeFileSync(netFile(h.root, CLOUDWATCH_AGENT.keyUrl), served.armored);
    return { ...h, url };
  };

  it('installs a package signed by the pinned key, configures the agent; a second run downloads and installs nothing', () => {
    const h = host('cw-good', pinned, pinned);
    const first = h.run('cloudwatch-agent');
    expect([first.status, first.out]).toEqual([0, expect.stringContaining('signature verified')]);
    expect(first.calls.filter((c) => /^(curl|apt-get|amazon-cloudwatch-agent-ctl)/.test(c))).toEqual([
      expect.stringMatching(new RegExp(`^curl -fsSL --proto =https --tlsv1\\.2 -o \\S+ ${h.url.replace(/\./g, '\\.')}$`)),
      expect.stringContaining(`${h.url}.sig`),
      expect.stringContaining(CLOUDWATCH_AGENT.keyUrl),
      expect.stringMatching(/^apt-get -o DPkg::Lock::Timeout=600 install -y -q \S+\/amazon-cloudwatch-agent\.deb$/),
      `amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s -c file:${h.env.WBT_CWAGENT_CONFIG}`,
    ]);
    expect(readFileSync(h.env.WBT_CWAGENT_VERIFIED, 'utf8')).toMatch(new RegExp(`^[0-9a-f]{64} signed by ${pinned.fingerprint}\\n$`));
    const again = h.run('cloudwatch-agent');
    expect([again.status, again.calls.filter((c) => /^(curl|apt-get|amazon-cloudwatch-agent-ctl)/.test(c))]).toEqual([0, []]);
    // A new configuration is loaded, still without a download.
    writeFileSync(h.env.WBT_CWAGENT_CONFIG, '{}\n');
    expect(h.run('cloudwatch-agent').calls.filter((c) => /^(curl|apt-get|amazon-cloudwatch-agent-ctl)/.test(c))).toEqual([expect.stringContaining('fetch-config')]);
    rmSync(h.root, { recursive: true, force: true });
  });

  it.each([
    ['signed by another key', 'other', 'pinned', false, (): string => "Can't check signature: No public key"],
    [
      'a substituted key (its own signature is good, its fingerprint is not the pinned one)',
      'other',
      'other',
      false,
      (): string => `the signature is by ${other.fingerprint}, not AWS's ${pinned.fingerprint}`,
    ],
    ['a package changed after signing', 'pinned', 'pinned', true, (): string => 'BAD signature'],
  ] as const)('refuses %s: nothing installed', (what, signer, served, tamper, why) => {
    const key = { pinned, other };
    const h = host(`cw-bad-${what.length}`, key[signer], key[served], tamper);
    const r = h.run('cloudwatch-agent');
    expect(r.status).not.toBe(0);
    expect(r.out).toContain(`refused: ${h.url} is not signed by AWS's CloudWatch agent key ${pinned.fingerprint}; nothing installed`);
    expect(r.out).toContain(why());
    expect(r.calls.filter((c) => /^(apt-get|amazon-cloudwatch-agent-ctl)/.test(c))).toEqual([]);
    expect(existsSync(h.env.WBT_CWAGENT_VERIFIED)).toBe(false);
    rmSync(h.root, { recursive: true, force: true });
  });

  it('with the key pinned in the bundle, downloads no key', () => {
    const h = host('cw-pinned', pinned, other);
    const keyFile = join(h.root, 'etc', 'amazon-cloudwatch-agent.gpg');
    writeFileSync(keyFile, pinned.armored);
    h.write({ ...h.env, WBT_CWAGENT_FINGERPRINT: pinned.fingerprint, WBT_CWAGENT_KEY_FILE: keyFile });
    const r = h.run('cloudwatch-agent');
    expect(r.status).toBe(0);
    expect(r.calls.filter((c) => c.includes(CLOUDWATCH_AGENT.keyUrl))).toEqual([]);
    rmSync(h.root, { recursive: true, force: true });
  });
});

describe('host-metrics.sh with stand-ins', () => {
  const ns = metricsNamespaceOf(config);
  const datapoint = (role: Role, metric: string, value: string, unit = 'Count'): string =>
    expect.stringMatching(
      new RegExp(
        `^aws cloudwatch put-metric-data --region ${config.aws.region} --namespace ${ns} --metric-name ${metric} --dimensions Host=${role} --value ${value} --unit ${unit} --timestamp \\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:00Z$`,
      ),
    ) as unknown as string;
  const outcome = new RegExp(`--metric-name (${HOST_METRICS.bootstrapFailed}|${HOST_METRICS.applyFailed}) `);
  /** The probes' datapoints (the outcome's have their own test). */
  const datum = (c: string): boolean => c.startsWith('aws cloudwatch put-metric-data ') && !c.includes('--metric-data');
  const published = (calls: string[]): string[] => calls.filter((c) => datum(c) && !outcome.test(c));
  const outcomes = (calls: string[]): string[] => calls.filter((c) => datum(c) && outcome.test(c));

  it("sends the minute's figures in one call (one AWS CLI process a minute, not one per figure)", () => {
    const h = scratch('hm-batch', 'pbx');
    writeFileSync(join(h.bin, 'docker'), `#!/usr/bin/env bash\nprintf '1 active call\\n'\n`);
    chmodSync(join(h.bin, 'docker'), 0o755);
    const r = h.run('host-metrics');
    expect(r.status).toBe(0);
    expect(r.calls.filter((c) => c.includes('--metric-data file://'))).toHaveLength(1);
    expect(r.calls.filter(datum).length).toBeGreaterThanOrEqual(3);
    rmSync(h.root, { recursive: true, force: true });
  });

  it('every host: BootstrapFailed and ApplyFailed from what the bootstrap and the apply tool leave, nothing while either runs', () => {
    const h = scratch('hm-outcome', 'turn');
    const state = join(h.root, 'state');
    const ok = [datapoint('turn', HOST_METRICS.bootstrapFailed, '0'), datapoint('turn', HOST_METRICS.applyFailed, '0')];
    expect(outcomes(h.run('host-metrics').calls)).toEqual(ok);
    // The last hook failed: services still to reload.
    writeFileSync(join(state, 'bundles', 'pending'), 'coturn\n');
    expect(outcomes(h.run('host-metrics').calls)).toEqual([ok[0], datapoint('turn', HOST_METRICS.applyFailed, '1')]);
    rmSync(join(state, 'bundles', 'pending'));
    // The plan names another bundle: not yet a failure for 15 minutes (its association may not have run), then one.
    const other = `s3://config/bundles/turn/${'b'.repeat(64)}.json`;
    writeFileSync(join(h.root, 'pointer'), `${other}\t${new Date(Date.now() - 60_000).toISOString()}\n`);
    expect(outcomes(h.run('host-metrics').calls)).toEqual(ok);
    writeFileSync(join(h.root, 'pointer'), `${other}\t${Math.floor(Date.now() / 1000) - 1200}.25\n`);
    expect(outcomes(h.run('host-metrics').calls)).toEqual([ok[0], datapoint('turn', HOST_METRICS.applyFailed, '1')]);
    // Unless the host rolled back from it on purpose (weebeetalk-apply --rollback: it is the bundle before the current).
    writeFileSync(join(state, 'bundles', 'previous.sha256'), `${'b'.repeat(64)}\n`);
    expect(outcomes(h.run('host-metrics').calls)).toEqual(ok);
    rmSync(join(state, 'bundles', 'previous.sha256'));
    // The bootstrap has not completed.
    rmSync(join(state, 'bootstrap.done'));
    expect(outcomes(h.run('host-metrics').calls)[0]).toEqual(datapoint('turn', HOST_METRICS.bootstrapFailed, '1'));
    // An apply (or the bootstrap) holds the lock (another process: the script does not inherit its descriptor): no outcome this minute.
    writeFileSync(join(h.root, 'calls'), '');
    const holder = spawnSync('/bin/bash', ['-c', `exec 8> '${join(h.root, 'apply.lock')}'; flock 8; bash '${join(h.lib, 'host-metrics.sh')}' 8>&-`], {
      encoding: 'utf8',
      env: { PATH: `${h.bin}:/usr/bin:/bin`, HOME: h.root, LANG: 'C.UTF-8', PUBLIC_IP: '198.51.100.7', DATA_VOLUME_ID: 'vol-1' },
    });
    expect(holder.status).toBe(0);
    expect(outcomes(readFileSync(join(h.root, 'calls'), 'utf8').split('\n'))).toEqual([]);
    rmSync(h.root, { recursive: true, force: true });
  });

  it('chat: UsersOnline from the Prometheus endpoint on loopback; nothing when it does not answer', () => {
    const h = scratch('hm-chat', 'chat');
    mkdirSync(join(h.root, 'net'));
    writeFileSync(
      netFile(h.root, h.env.WBT_RC_METRICS_URL),
      '# HELP rocketchat_users_online total of users online\n# TYPE rocketchat_users_online gauge\nrocketchat_users_online 7\nrocketchat_users_away 2\n',
    );
    const r = h.run('host-metrics');
    expect(r.status).toBe(0);
    expect(published(r.calls)).toEqual([datapoint('chat', HOST_METRICS.usersOnline, '7')]);
    rmSync(netFile(h.root, h.env.WBT_RC_METRICS_URL));
    expect(published(h.run('host-metrics').calls)).toEqual([]);
    rmSync(h.root, { recursive: true, force: true });
  });

  it('meet: Conferences and Participants from colibri, the recordings in progress and waiting for upload', () => {
    const h = scratch('hm-meet', 'meet');
    const recordings = join(h.root, 'config', 'storage', 'jibri', 'recordings');
    h.write({ ...h.env, WBT_HOST_METRICS_PROBES: 'jvb recordings', JITSI_CONFIG: join(h.root, 'config') });
    mkdirSync(join(h.root, 'net'));
    writeFileSync(netFile(h.root, `${h.env.WBT_COLIBRI_API}/colibri/stats`), JSON.stringify({ stress_level: 0.2, conferences: 3, participants: 11 }));
    for (const [s, done] of [
      ['a', false],
      ['b', true],
      ['c', true],
    ] as const) {
      mkdirSync(join(recordings, s), { recursive: true });
      if (done) writeFileSync(join(recordings, s, '.weebeetalk-complete'), '');
    }
    const r = h.run('host-metrics');
    expect([r.status, published(r.calls)]).toEqual([
      0,
      [
        datapoint('meet', HOST_METRICS.conferences, '3'),
        datapoint('meet', HOST_METRICS.participants, '11'),
        datapoint('meet', HOST_METRICS.recordingsInProgress, '1'),
        datapoint('meet', HOST_METRICS.uploadsPending, '2'),
      ],
    ]);
    rmSync(h.root, { recursive: true, force: true });
  });

  it('pbx: ActiveCalls from Asterisk in its container, CertificateDaysLeft from certbot’s certificate', () => {
    const h = scratch('hm-pbx', 'pbx');
    const cert = join(h.root, 'cert.pem');
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(h.root, 'key.pem'), '-out', cert, '-days', '30', '-subj', '/CN=pbx.test'],
      { stdio: 'ignore' },
    );
    h.write({ ...h.env, WBT_CERT_FILE: cert });
    writeFileSync(join(h.bin, 'docker'), `#!/usr/bin/env bash\necho "docker $*" >> "${h.root}/calls"\nprintf '2 active channels\\n1 active call\\n40 calls processed\\n'\n`);
    chmodSync(join(h.bin, 'docker'), 0o755);
    const r = h.run('host-metrics');
    expect(r.calls).toContain('docker exec asterisk asterisk -rx core show channels count');
    expect([r.status, published(r.calls)]).toEqual([0, [datapoint('pbx', HOST_METRICS.activeCalls, '1'), datapoint('pbx', HOST_METRICS.certificateDaysLeft, '(29|30)', 'None')]]);
    rmSync(h.root, { recursive: true, force: true });
  });
});
