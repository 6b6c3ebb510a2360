/**
 * What a host gets: every user-data document through the real validators (Debian 12's `cloud-init schema`,
 * `shellcheck`, `dclint` for the compose files we write), every script of the user-data and of the configuration
 * bundles a checked file, the upstream variables the bundles' settings set, no secret values, and the idempotence
 * rules of the bootstrap and the roles' helpers (never reformat, never regenerate Jitsi's passwords).
 */
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { parse } from 'yaml';
import { enabledPools, enabledRoles } from '../config/schema';
import { fqdnOf } from '../config/names';
import { addressRange, parseCidr, poolSubnetOf } from '../config/net';
import { fromTerraformLiteral } from '../userdata/cloud-config';
import { RC_ETC, rocketchatOverride } from '../userdata/chat';
import { loadEnvironment } from '../config/load';
import { PUBLIC_IP } from '../userdata/context';
import { APPLY_COMMAND, CONFIG_LIB_SH, LIB_SH, roleFiles, STEPS_DIR, TURNSERVER_CONF } from '../userdata/paths';
import { SCRIPTS_DIR, scriptDirs, scriptFiles, scriptPath } from '../userdata/script-files';
import { asteriskCompose } from '../userdata/pbx';
import { jibriOverride } from '../userdata/jibri';
import { TURN_CONF_SOURCE } from '../userdata/turn';
import { COMPOSE_BUILTIN, JITSI_ENV, ROCKETCHAT_ENV, ROCKETCHAT_SETTINGS } from '../userdata/upstream-env';
import { bundleOf, hostFiles, hostSettings, parseEnvFile, userDataOf, type HostFile } from './support/host-files';
import { expectedRoles } from './support/hosts';
import { asString, environmentFile, shippedNames, synthEnvironment, synthVariant, type Block, type Synthesized } from './support/synth';
import { stagingTurn } from './support/variants';

const run = promisify(execFile);

interface Part {
  readonly filename: string;
  readonly content_type: string;
  readonly content: string;
}

/** Every host's user-data parts in every shipped environment, as Terraform will receive them. */
function userDataParts(): { env: string; host: string; parts: Part[] }[] {
  return shippedNames().flatMap((env) => {
    const data = synthEnvironment(env).json.data?.cloudinit_config ?? {};
    return Object.entries(data).map(([host, block]) => ({ env, host: host.split('_')[0], parts: (block as Block).part as Part[] }));
  });
}

function requireTool(tool: string, pkg: string): void {
  if (!existsSync(`/usr/bin/${tool}`)) throw new Error(`${tool} is missing: install Debian's ${pkg} (see .ci/run)`);
}

const scratch = mkdtempSync(join(tmpdir(), 'wbt-userdata-'));
// The validators are real programs (cloud-init schema, shellcheck, dclint), run a dozen at a time: on a loaded
// 2-core machine they take longer than jest's default 5 s.
jest.setTimeout(60_000);

describe('cloud-config documents', () => {
  const docs = userDataParts().map(({ env, host, parts }) => {
    const cc = parts.find((p) => p.content_type === 'text/cloud-config');
    if (!cc) throw new Error(`${env}/${host}: no cloud-config part`);
    return { name: `${env}-${host}`, text: fromTerraformLiteral(cc.content) };
  });

  it("covers every host and every pool's launch template of every environment", () => {
    expect(docs.map((d) => d.name).sort()).toEqual(
      shippedNames()
        .flatMap((e) => [...expectedRoles(synthEnvironment(e)).map((h) => `${e}-${h}-host`), ...enabledPools(synthEnvironment(e).config).map((p) => `${e}-${p}-pool`)])
        .sort(),
    );
    // Both shipped environments build both pools (their members are validated like the hosts).
    expect(docs.filter((d) => d.name.endsWith('-pool')).length).toBe(2 * shippedNames().length);
    // Hand-written: production has the TURN relay, staging does not.
    expect(docs.filter((d) => d.name.endsWith('-turn-host')).map((d) => d.name)).toEqual(['production-turn-host']);
  });

  it("pass Debian 12's cloud-init schema", async () => {
    requireTool('cloud-init', 'cloud-init');
    // What `cloud-init schema --config-file` runs (cloudinit.cmd... handle_schema_args: validate_cloudconfig_file with
    // get_schema()), for every document in one interpreter: seven of them cost seven cloud-init start-ups otherwise.
    // The CLI itself is run on a broken document below.
    const files = docs.map((d) => {
      const file = join(scratch, `${d.name}.yaml`);
      writeFileSync(file, d.text);
      return file;
    });
    const program = [
      'import sys',
      'from cloudinit.config.schema import SchemaValidationError, get_schema, validate_cloudconfig_file',
      'schema = get_schema()',
      'for f in sys.argv[1:]:',
      '    try:',
      '        validate_cloudconfig_file(f, schema)',
      '        print(f + ": Valid cloud-config")',
      '    except SchemaValidationError as e:',
      '        print(f + ": INVALID " + str(e).replace("\\n", " "))',
    ].join('\n');
    const { stdout } = await run('/usr/bin/python3', ['-c', program, ...files]);
    const lines = stdout.trim().split('\n');
    expect(lines).toHaveLength(docs.length);
    for (const [i, d] of docs.entries()) expect(`${d.name}: ${lines[i]}`).toBe(`${d.name}: ${files[i]}: Valid cloud-config`);
  });

  it('the validator really rejects a broken document', async () => {
    const file = join(scratch, 'broken.yaml');
    writeFileSync(file, '#cloud-config\nwrite_files:\n  - path: 1\n    permisions: "0644"\n');
    await expect(run('/usr/bin/cloud-init', ['schema', '--config-file', file])).rejects.toThrow();
  });

  it('every bootstrap step, helper, hook and library the user-data or a bundle installs is a checked file of userdata/scripts or userdata/<role>/scripts', () => {
    // The shell scripts, and the programs beside them (the dial-in mapper, run by its own tests).
    const programs = scriptDirs().flatMap((d) =>
      readdirSync(d)
        .filter((f) => f.endsWith('.py'))
        .map((f) => join(d, f)),
    );
    const scripts = new Set([...scriptFiles(), ...programs].map((f) => readFileSync(f, 'utf8')));
    const lib = readFileSync(join(SCRIPTS_DIR, 'lib.sh'), 'utf8');
    const configLib = readFileSync(join(SCRIPTS_DIR, 'config-lib.sh'), 'utf8');
    for (const env of shippedNames()) {
      expect(enabledRoles(synthEnvironment(env).config)).toEqual(expectedRoles(synthEnvironment(env)));
      for (const role of enabledRoles(synthEnvironment(env).config)) {
        const files = [...hostFiles(synthEnvironment(env), role).values()];
        // A shell file by its name or its first line (the apply tool is /usr/local/sbin/weebeetalk-apply).
        const shell = files.filter((f) => f.path.endsWith('.sh') || f.content.startsWith('#!'));
        const where = (f: HostFile): string => `${env}/${role}:${f.path} (${f.source})`;
        expect({ host: `${env}/${role}`, unchecked: shell.filter((f) => !scripts.has(f.content)).map(where) }).toEqual({ host: `${env}/${role}`, unchecked: [] });
        const from = (source: HostFile['source']): string[] => shell.filter((f) => f.source === source).map((f) => f.path);
        // The bootstrap's: lib.sh, the apply tool, grow-data and the steps (Docker's only where it runs: not on the
        // turn host); the bundle's: config-lib.sh and the hook at least.
        const steps = role === 'turn' ? ['10-ssm-agent', '20-data-volume', '30-configure'] : ['10-ssm-agent', '20-data-volume', '30-docker', '40-configure'];
        expect({ host: `${env}/${role}`, steps: from('user-data').filter((p) => p.startsWith(`${STEPS_DIR}/`)) }).toEqual({ host: `${env}/${role}`, steps: steps.map((n) => `${STEPS_DIR}/${n}.sh`) });
        expect(from('user-data').length).toBeGreaterThanOrEqual(3 + steps.length);
        expect(from('user-data')).toEqual(expect.arrayContaining([LIB_SH, APPLY_COMMAND]));
        expect(from('bundle').length).toBeGreaterThanOrEqual(2);
        expect(from('bundle')).toContain(CONFIG_LIB_SH);
        expect(from('bundle')).toContain(bundleOf(synthEnvironment(env), role).document.hook);
        // The libraries are sourced, not run: not executable; everything else with a shebang is.
        for (const f of shell) {
          const sourced = f.content === lib || f.content === configLib;
          expect({ file: where(f), mode: f.mode }).toEqual({ file: where(f), mode: sourced ? '0644' : '0755' });
        }
        expect(files.find((f) => f.path === LIB_SH)?.content).toBe(lib);
        expect(files.find((f) => f.path === CONFIG_LIB_SH)?.content).toBe(configLib);
      }
    }
  });
});

describe('shell scripts', () => {
  const scripts = scriptFiles();

  it('pass shellcheck (the files, and the bootstrap part as synthesized)', async () => {
    requireTool('shellcheck', 'shellcheck');
    const bootstrap = userDataParts()[0].parts.find((p) => p.content_type === 'text/x-shellscript');
    expect(bootstrap).toBeDefined();
    const synthesized = join(scratch, 'bootstrap-part.sh');
    writeFileSync(synthesized, fromTerraformLiteral(bootstrap!.content));
    const files = [...scripts, synthesized];
    // SCRIPTDIR: a role's script names its libraries relative to itself (source=../../scripts/lib.sh); SCRIPTS_DIR:
    // the common ones and the synthesized part name them by file name (source=lib.sh).
    const { stdout } = await run('/usr/bin/shellcheck', ['--external-sources', '--source-path', `SCRIPTDIR:${SCRIPTS_DIR}`, '--format', 'gcc', ...files]).catch((e: { stdout: string }) => ({
      stdout: e.stdout,
    }));
    expect(stdout).toBe('');
    expect(files.length).toBeGreaterThan(15);
  });

  it('every runnable script is strict bash (lib.sh, its members part and config-lib.sh are sourced, never run)', () => {
    const sourced = [join(SCRIPTS_DIR, 'lib.sh'), join(SCRIPTS_DIR, 'config-lib.sh')];
    for (const lib of sourced) expect([lib, /sourced.*never run/.test(readFileSync(lib, 'utf8').split('\n').slice(0, 3).join(' '))]).toEqual([lib, true]);
    // Appended to lib.sh in a member's user-data (test/pool-userdata.test.ts).
    const memberLib = join(SCRIPTS_DIR, 'member-lib.sh');
    expect(readFileSync(memberLib, 'utf8').split('\n').slice(0, 2)).toEqual(['# shellcheck shell=bash', expect.stringMatching(/lib\.sh continued/)]);
    sourced.push(memberLib);
    for (const f of scripts.filter((s) => !sourced.includes(s))) {
      const text = readFileSync(f, 'utf8');
      expect([f, text.split('\n')[0]]).toEqual([f, '#!/usr/bin/env bash']);
      expect([f, /^set -euo pipefail$/m.test(text)]).toEqual([f, true]);
    }
  });
});

describe('libraries', () => {
  /** The functions a library defines (`name() {`). */
  const defined = (file: string): string[] => [...readFileSync(file, 'utf8').matchAll(/^([a-z_][a-z0-9_]*)\(\) \{/gm)].map((m) => m[1]);
  const lib = join(SCRIPTS_DIR, 'lib.sh');
  const configLib = join(SCRIPTS_DIR, 'config-lib.sh');
  /** Lines that run (comments dropped). */
  const code = (file: string): string =>
    readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => !l.trimStart().startsWith('#'))
      .join('\n');

  it("every script that calls a helper of config-lib.sh sources it (it is the bundle's, no longer in lib.sh)", () => {
    const helpers = defined(configLib);
    expect(helpers).toEqual(expect.arrayContaining(['wait_for_public_dns', 'ssm_secret', 'write_secret_file', 'fetch_release', 'generate_internal_passwords']));
    // lib.sh and config-lib.sh define disjoint sets: a name in both would depend on the order they are sourced in.
    expect(defined(lib).filter((f) => helpers.includes(f))).toEqual([]);
    const missing: string[] = [];
    for (const file of scriptFiles().filter((f) => f !== configLib && f !== lib)) {
      const text = code(file);
      // `. /usr/local/lib/weebeetalk/config-lib.sh`, or beside the script (asterisk-auth.sh).
      const sources = /^\. "?(?:\/usr\/local\/lib\/weebeetalk|\$\(dirname "\$\{BASH_SOURCE\[0\]\}"\))\/config-lib\.sh"?$/m.test(text);
      const calls = helpers.filter((h) => new RegExp(`(?<![\\w-])${h}(?![\\w-])`).test(text));
      if (calls.length > 0 && !sources) missing.push(`${file}: calls ${calls.join(', ')} without sourcing config-lib.sh`);
    }
    expect(missing).toEqual([]);
    // The ones that do call them are found (the check is not vacuous).
    expect(scriptFiles().filter((f) => helpers.some((h) => new RegExp(`(?<![\\w-])${h}(?![\\w-])`).test(code(f))) && f !== configLib).length).toBeGreaterThanOrEqual(4);
  });
});

describe('compose files we write', () => {
  it('pass dclint (Compose Specification schema and its checks)', async () => {
    const files = {
      'rocketchat-override.yml': rocketchatOverride(loadEnvironment(environmentFile('staging')).rocketchat.security),
      'asterisk-compose.yml': asteriskCompose(),
      'jibri-override.yml': jibriOverride(),
    };
    const paths = Object.entries(files).map(([name, text]) => {
      const p = join(scratch, name);
      writeFileSync(p, text);
      return p;
    });
    const dclint = join(__dirname, '..', 'node_modules', '.bin', 'dclint');
    const out = await run(dclint, paths).then(
      (r) => r.stdout,
      (e: { stdout: string }) => `FAILED\n${e.stdout}`,
    );
    expect(out.trim()).toBe('');
  });

  it('Traefik publishes only 80 and 443 (upstream also publishes 8080 on every interface)', () => {
    const override = rocketchatOverride(loadEnvironment(environmentFile('staging')).rocketchat.security);
    expect(override).toContain('ports: !override');
    const doc = parse(override, { customTags: [{ tag: '!override', collection: 'seq', resolve: (v: unknown) => v }] }) as {
      services: { traefik: { ports: { items: { value: string }[] } | string[] } };
    };
    const ports = doc.services.traefik.ports;
    const list = Array.isArray(ports) ? ports : ports.items.map((i) => i.value);
    expect(list).toEqual(['0.0.0.0:80:80', '0.0.0.0:443:443']);
  });
});

describe('upstream variables', () => {
  /** The settings file a role's bundle writes for upstream's compose project (roleFiles(role).settings). */
  const settingsOf = (env: string, role: 'chat' | 'meet'): Record<string, string> => {
    const file = hostFiles(synthEnvironment(env), role).get(roleFiles(role).settings);
    if (file === undefined || file.source !== 'bundle') throw new Error(`${env}/${role}: no ${roleFiles(role).settings} in the bundle`);
    return parseEnvFile(file.content);
  };
  // Names the scripts append to .env: printf 'NAME="%s"\n' ... and "NAME=\"${value}\"" array entries.
  const scriptVars = (script: string): string[] =>
    [...readFileSync(scriptPath(script.replace(/\.sh$/, '')), 'utf8').matchAll(/printf '([A-Z_]+)="%s"\\n'|"([A-Z][A-Z0-9_]+)=\\"\$\{/g)].map((m) => m[1] ?? m[2]);

  it.each(shippedNames())('%s: every Jitsi .env name is one docker-jitsi-meet reads', (env) => {
    const names = [...Object.keys(settingsOf(env, 'meet')), ...scriptVars('jitsi.sh')];
    expect(names).toEqual(expect.arrayContaining(['JWT_APP_SECRET', 'JIGASI_SIP_PASSWORD', 'PUBLIC_URL']));
    const unknown = names.filter((n) => !(n in JITSI_ENV) && !(COMPOSE_BUILTIN as readonly string[]).includes(n));
    expect(unknown).toEqual([]);
  });

  it.each(shippedNames())('%s: every Rocket.Chat .env name is one rocketchat-compose or our override reads', (env) => {
    const names = [...Object.keys(settingsOf(env, 'chat')), ...scriptVars('rocketchat.sh')];
    expect(names).toContain('RC_ADMIN_PASS');
    const unknown = names.filter((n) => !(n in ROCKETCHAT_ENV) && !(COMPOSE_BUILTIN as readonly string[]).includes(n));
    expect(unknown).toEqual([]);
    // Every RC_* variable the override interpolates is set.
    const used = [...rocketchatOverride(loadEnvironment(environmentFile('staging')).rocketchat.security).matchAll(/\$\{([A-Z_]+)\}/g)].map((m) => m[1]);
    for (const v of used) expect([v, names.includes(v)]).toEqual([v, true]);
  });

  it.each(shippedNames())('%s: every Rocket.Chat setting the override sets is a setting id Rocket.Chat registers (upstream-env ROCKETCHAT_SETTINGS)', (env) => {
    const override = hostFiles(synthEnvironment(env), 'chat').get(`${RC_ETC}/compose.weebeetalk.yml`)?.content ?? '';
    const ids = [...override.matchAll(/^\s+OVERWRITE_SETTING_([A-Za-z0-9_]+):/gm)].map((m) => m[1]);
    expect(ids.length).toBeGreaterThan(20);
    expect(ids.filter((id) => !(id in ROCKETCHAT_SETTINGS))).toEqual([]);
    // The check is not vacuous: a misspelt id (Rocket.Chat's casing is irregular) is not in the table.
    expect('Block_Multiple_Failed_Logins_Attempts_Until_Block_By_User' in ROCKETCHAT_SETTINGS).toBe(false);
  });

  it("Jitsi uses Let's Encrypt (the CAA record refuses the ZeroSSL default) and the Elastic IP", () => {
    const s = settingsOf('staging', 'meet');
    expect(s.LETSENCRYPT_ACME_SERVER).toBe('letsencrypt');
    // The Elastic IP is put in on the host (the apply tool renders the file), from the instance's tag.
    const file = hostFiles(synthEnvironment('staging'), 'meet').get(roleFiles('meet').settings);
    expect(file?.render).toBe(true);
    expect(s.JVB_ADVERTISE_IPS.split(',')).toEqual([PUBLIC_IP, hostSettings(synthEnvironment('staging'), 'meet').PRIVATE_IP]);
    expect(hostSettings(synthEnvironment('staging'), 'meet').PRIVATE_IP).toMatch(/^10\.\d+\.\d+\.\d+$/);
    expect(s.HTTP_PORT).toBe('80');
  });

  it.each([
    ['staging', () => synthEnvironment('staging')],
    ['production', () => synthEnvironment('production')],
    ['staging-turn', stagingTurn],
  ] as [string, () => Synthesized][])("%s: meet's settings name the TURN relay exactly when it is on", (_label, synth) => {
    const s = synth();
    const file = hostFiles(s, 'meet').get(roleFiles('meet').settings);
    if (file === undefined) throw new Error('no meet settings');
    const settings = parseEnvFile(file.content);
    const turn = Object.fromEntries(Object.entries(settings).filter(([k]) => /^TURNS?_/.test(k)));
    const fqdn = fqdnOf(s.config, 'turn');
    expect(fqdn).toBe(s.config.dns.subdomain ? `turn.${s.config.dns.subdomain}.${s.config.dns.domain}` : `turn.${s.config.dns.domain}`);
    expect(turn).toEqual(s.config.turn.enabled ? { TURNS_HOST: fqdn, TURNS_PORT: '443', TURN_HOST: fqdn, TURN_PORT: '3478', TURN_TRANSPORT: 'udp,tcp' } : {});
    expect(hostSettings(s, 'meet').TURN_ENABLED).toBe(s.config.turn.enabled ? '1' : '0');
    // The credentials are no setting: jitsi.sh writes TURN_CREDENTIALS from SSM on the host, never into a file of the plan.
    expect(settings.TURN_CREDENTIALS).toBeUndefined();
    for (const name of Object.keys(turn)) expect([name, name in JITSI_ENV]).toEqual([name, true]);
  });

  it('Rocket.Chat runs a supported release with a MongoDB it supports, bound to loopback', () => {
    const s = settingsOf('production', 'chat');
    expect(Number(s.RELEASE.split('.')[0])).toBeGreaterThanOrEqual(8);
    expect(s.MONGODB_VERSION).not.toBe('8.2');
    expect(s.BIND_IP).toBe('127.0.0.1');
    expect(s.ROOT_URL).toMatch(/^https:\/\//);
  });
});

describe('user-data and instance replacement', () => {
  it("fits EC2's 16 KB user-data limit once gzipped (the multipart headers need a few hundred bytes more)", () => {
    for (const { env, host, parts } of userDataParts()) {
      const size = gzipSync(parts.map((p) => fromTerraformLiteral(p.content)).join('\n'), { level: 9 }).length;
      expect([`${env}/${host}`, size < 14 * 1024]).toEqual([`${env}/${host}`, true]);
    }
  });

  it('references no resource: a pending in-place change (a tag, a volume size) must not defer it to apply and replace the host', () => {
    for (const { env, host, parts } of userDataParts())
      for (const p of parts) expect([`${env}/${host}/${p.filename}`, /(?<!\$)\$\{(?:aws_|data\.|var\.|local\.)/.test(p.content)]).toEqual([`${env}/${host}/${p.filename}`, false]);
  });

  it('no bundle references anything either: it is content-addressed at synthesis, so Terraform must write it as hashed', () => {
    for (const env of shippedNames())
      for (const role of enabledRoles(synthEnvironment(env).config)) {
        const content = asString(bundleOf(synthEnvironment(env), role).object.block.content, 'content');
        expect([`${env}/${role}`, /(?<!\$)\$\{/.test(content), /(?<!%)%\{/.test(content)]).toEqual([`${env}/${role}`, false, false]);
      }
  });

  it('each instance carries its Elastic IP and data volume id as tags readable from instance metadata', () => {
    for (const env of shippedNames()) {
      const instances = Object.values(synthEnvironment(env).json.resource?.aws_instance ?? {}) as Block[];
      expect(instances).toHaveLength(expectedRoles(synthEnvironment(env)).length);
      for (const i of instances) {
        expect((i.metadata_options as Block).instance_metadata_tags).toBe('enabled');
        expect((i.tags as Record<string, string>).WeebeetalkPublicIp).toMatch(/^\$\{aws_eip\..*\.public_ip\}$/);
        expect((i.tags as Record<string, string>).WeebeetalkDataVolume).toMatch(/^\$\{aws_ebs_volume\..*\.id\}$/);
      }
    }
  });
});

describe.each([
  ['production', () => synthEnvironment('production')],
  ['staging-turn', stagingTurn],
] as [string, () => Synthesized][])('the turn host of %s', (_label, synth) => {
  it('its user-data has no Docker: no docker step, no daemon.json, no docker.service drop-in; certbot from Debian', () => {
    const s = synth();
    const { cloudConfig, script } = userDataOf(s, 'turn');
    const paths = [...hostFiles(s, 'turn').values()].filter((f) => f.source === 'user-data').map((f) => f.path);
    expect(paths.filter((p) => /docker/i.test(p))).toEqual([]);
    expect(paths.filter((p) => p.startsWith(`${STEPS_DIR}/`))).toEqual(['10-ssm-agent', '20-data-volume', '30-configure'].map((n) => `${STEPS_DIR}/${n}.sh`));
    expect(asString(JSON.stringify(cloudConfig.packages), 'packages')).not.toMatch(/docker/);
    expect(cloudConfig.packages).toEqual(expect.arrayContaining(['certbot', 'python3-certbot-dns-route53']));
    // coturn itself is not a first-boot package: its hook installs it masked (Debian's starts it unauthenticated).
    expect(cloudConfig.packages).not.toContain('coturn');
    expect(script).not.toMatch(/docker/i);
    // The others keep theirs.
    for (const role of ['chat', 'meet', 'pbx'] as const) {
      const others = [...hostFiles(s, role).values()].filter((f) => f.source === 'user-data').map((f) => f.path);
      expect([role, others.includes('/etc/docker/daemon.json'), others.includes(`${STEPS_DIR}/30-docker.sh`)]).toEqual([role, true, true]);
    }
  });

  it("its bundle: the turn hook, coturn's configuration without its secret, the relay reaching only the bridges", () => {
    const s = synth();
    const bundle = bundleOf(s, 'turn');
    expect(bundle.document).toMatchObject({ role: 'turn', environment: s.config.name, hook: expect.stringMatching(/\/turn\.sh$/) });
    expect(bundle.key).toBe(`bundles/turn/${bundle.sha256}.json`);
    const files = hostFiles(s, 'turn');
    const conf = files.get(TURN_CONF_SOURCE);
    if (conf === undefined) throw new Error(`no ${TURN_CONF_SOURCE}`);
    expect([conf.source, conf.services]).toEqual(['bundle', ['coturn']]);
    // The package's own file is written on the host, with the secret: not in the bundle.
    expect(files.get(TURNSERVER_CONF)).toBeUndefined();
    const lines = conf.content.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
    const settings = hostSettings(s, 'turn');
    const fqdn = fqdnOf(s.config, 'turn');
    const meetIp = hostSettings(s, 'meet').PRIVATE_IP;
    expect(meetIp).toMatch(/^10\.\d+\.\d+\.\d+$/);
    expect(lines).toEqual(
      expect.arrayContaining([
        `listening-ip=${settings.PRIVATE_IP}`,
        `relay-ip=${settings.PRIVATE_IP}`,
        'listening-port=3478',
        'tls-listening-port=443',
        `min-port=${s.config.turn.relayPorts.from}`,
        `max-port=${s.config.turn.relayPorts.to}`,
        `realm=${fqdn}`,
        'use-auth-secret',
        `user-quota=${s.config.turn.userQuota}`,
        `total-quota=${s.config.turn.totalQuota}`,
        'no-tlsv1',
        'no-tlsv1_1',
        'no-dtls',
        'no-tcp-relay',
        'no-cli',
        // Every peer refused (the metadata service, the VPC, the internet), the bridge allowed (allowed wins).
        'denied-peer-ip=0.0.0.0-255.255.255.255',
        `allowed-peer-ip=${meetIp}`,
      ]),
    );
    // The only private peers it may reach are the bridges: meet's, and with the JVB pool the pools' subnet (coturn's
    // range form: 4.6.1 reads no CIDR there); no long-term accounts, no secret.
    const vpc = parseCidr(s.config.network.vpcCidr);
    const pool = s.config.jitsi.jvbPool.enabled && vpc ? [`allowed-peer-ip=${addressRange(poolSubnetOf(vpc))}`] : [];
    expect(lines.filter((l) => l.startsWith('allowed-peer-ip='))).toEqual([`allowed-peer-ip=${meetIp}`, ...pool]);
    expect(lines.filter((l) => ['static-auth-secret', 'user', 'lt-cred-mech', 'cli-password'].includes(l.split('=')[0]))).toEqual([]);
    expect(lines.filter((l) => l.startsWith('denied-peer-ip='))).toEqual(['denied-peer-ip=0.0.0.0-255.255.255.255']);
    expect([s.config.turn.relayPorts.from, s.config.turn.relayPorts.to, s.config.turn.userQuota, s.config.turn.totalQuota]).toEqual([49152, 65535, 48, 1200]);
    expect(settings.WBT_TURN_CONF_SOURCE).toBe(TURN_CONF_SOURCE);
    expect(settings.WBT_TURNSERVER_CONF).toBe(TURNSERVER_CONF);
  });
});

describe('secrets', () => {
  it('no user-data carries a secret value or a reference to one', () => {
    for (const { env, host, parts } of userDataParts()) {
      for (const p of parts) {
        const where = `${env}/${host}/${p.filename}`;
        expect([where, /aws_ssm_parameter|secretsmanager_random_password|random_password/.test(p.content)]).toEqual([where, false]);
        // A password assignment in user-data may only take its value at boot (from SSM), never a literal.
        for (const m of p.content.matchAll(/^\s*(?:export\s+)?[A-Z_]*(?:PASS|PASSWORD|SECRET)[A-Z_]*="?[A-Za-z0-9+/=_-]{6,}/gm)) expect([where, m[0]]).toEqual([where, 'none']);
      }
    }
  });

  it('no bundle carries a secret value either (it is in Terraform state): a password assignment takes its value on the host', () => {
    for (const env of shippedNames())
      for (const role of enabledRoles(synthEnvironment(env).config))
        for (const f of hostFiles(synthEnvironment(env), role).values()) {
          const where = `${env}/${role}:${f.path}`;
          expect([where, /aws_ssm_parameter\.|secretsmanager_random_password|random_password\./.test(f.content)]).toEqual([where, false]);
          for (const m of f.content.matchAll(/^\s*(?:export\s+)?[A-Z_]*(?:PASS|PASSWORD|SECRET)[A-Z_]*="?[A-Za-z0-9+/=_-]{6,}/gm)) expect([where, m[0]]).toEqual([where, 'none']);
        }
  });

  it('jigasi off: no Jigasi password is read on either side', () => {
    const v = synthVariant('staging-no-jigasi', 'staging', { jitsi: { jigasi: false }, sip: { dialIn: { rooms: [] } } });
    const text = enabledRoles(v.config)
      .flatMap((role) => [...hostFiles(v, role).values()].filter((f) => !f.path.endsWith('.sh') && !f.content.startsWith('#!')).map((f) => f.content))
      .join('\n');
    expect(text).not.toContain('JIGASI_SIP_URI');
    expect(text).not.toContain('jigasi-sip-password');
    // Both ends read the switch from their own settings (meet's jitsi.sh, pbx's asterisk-auth.sh).
    expect(hostSettings(v, 'meet').JIGASI_ENABLED).toBe('0');
    expect(hostSettings(v, 'pbx').JIGASI_ENABLED).toBe('0');
    expect(hostSettings(synthEnvironment('staging'), 'meet').JIGASI_ENABLED).toBe('1');
    expect(hostSettings(synthEnvironment('staging'), 'pbx').JIGASI_ENABLED).toBe('1');
  });
});

describe('bootstrap idempotence', () => {
  const lib = join(SCRIPTS_DIR, 'lib.sh');
  const configLib = join(SCRIPTS_DIR, 'config-lib.sh');
  // As the roles' scripts do: lib.sh, then config-lib.sh (ssm_secret, write_secret_file, generate_internal_passwords are config-lib's).
  const sources = `source '${lib}'; source '${configLib}'`;
  const bash = (script: string): string => execFileSync('/bin/bash', ['-c', `set -euo pipefail; ${sources}; ${script}`], { encoding: 'utf8' });

  it('ensure_filesystem formats an empty volume once and never again', () => {
    const img = join(scratch, 'data.img');
    execFileSync('truncate', ['-s', '16M', img]);
    bash(`ensure_filesystem '${img}' wbt-data`);
    const uuid = execFileSync('blkid', ['-o', 'value', '-s', 'UUID', img], { encoding: 'utf8' }).trim();
    expect(uuid).toMatch(/^[0-9a-f-]{36}$/);
    const second = bash(`ensure_filesystem '${img}' wbt-data`);
    expect(second).toMatch(/already holds ext4: keeping its data/);
    expect(execFileSync('blkid', ['-o', 'value', '-s', 'UUID', img], { encoding: 'utf8' }).trim()).toBe(uuid);
  });

  it('generate_internal_passwords runs gen-passwords.sh once and keeps the first passwords', () => {
    // A stand-in with upstream's contract: rewrite six NAME= lines of the .env beside the script, and count runs.
    const counter = join(scratch, 'gen-runs');
    const fake = join(scratch, 'gen-passwords.sh');
    writeFileSync(
      fake,
      `#!/usr/bin/env bash\nset -euo pipefail\necho run >> '${counter}'\nfor n in JICOFO_AUTH JVB_AUTH JIGASI_XMPP JIBRI_RECORDER JIBRI_XMPP JIGASI_TRANSCRIBER; do\n  sed -i "s#^\${n}_PASSWORD=.*#\${n}_PASSWORD=$(openssl rand -hex 16)#" "$(dirname "$0")/.env"\ndone\n`,
    );
    const file = join(scratch, 'passwords.env');
    bash(`write_secret_file() { cat > "$1"; }; generate_internal_passwords '${fake}' '${file}'`);
    const first = readFileSync(file, 'utf8');
    expect(first.trim().split('\n')).toHaveLength(6);
    bash(`generate_internal_passwords '${fake}' '${file}'`);
    expect(readFileSync(file, 'utf8')).toBe(first);
    expect(readFileSync(counter, 'utf8').trim().split('\n')).toHaveLength(1);
  });

  it('render puts in the Elastic IP and refuses anything that is not an IPv4 address', () => {
    const file = join(scratch, 'tpl.conf');
    writeFileSync(file, `external_media_address=${PUBLIC_IP}\nx=${PUBLIC_IP}\n`);
    expect(bash(`PUBLIC_IP=198.51.100.7 render '${file}'`)).toBe('external_media_address=198.51.100.7\nx=198.51.100.7\n');
    expect(() => bash(`PUBLIC_IP='1.2.3.4/g; s/x/y' render '${file}' 2>/dev/null`)).toThrow();
  });

  it('an empty secret in SSM stops the step instead of writing an empty password', () => {
    const script = `AWS_REGION=x SSM_PREFIX=/p; aws() { echo ""; }; v=$(ssm_secret chat/admin-password); echo "wrote $v"`;
    expect(() => bash(`${script} 2>/dev/null`)).toThrow();
    const ok = `AWS_REGION=x SSM_PREFIX=/p; aws() { echo "s3cr3t"; }; v=$(ssm_secret chat/admin-password); echo "read \${#v}"`;
    expect(bash(ok).trim()).toBe('read 6');
  });

  it("ssm_secret reads the host's own path (SSM_PREFIX/NAME) and refuses a name that repeats the role", () => {
    const script = `AWS_REGION=r SSM_PREFIX=/weebeetalk/staging/chat WBT_ROLE=chat; aws() { while (($#)); do if [[ $1 == --name ]]; then echo "$2"; fi; shift; done; }`;
    expect(bash(`${script}; ssm_secret admin-password`)).toBe('/weebeetalk/staging/chat/admin-password');
    expect(() => bash(`${script}; ssm_secret chat/admin-password 2>/dev/null`)).toThrow();
    expect(() => bash(`${script}; ssm_secret /weebeetalk/staging/chat/admin-password 2>/dev/null`)).toThrow();
  });

  it("ssm_shared reads a shared secret by OWNER/NAME beside the host's own path, checked as ssm_secret's, and refuses any other form", () => {
    const script = `AWS_REGION=r SSM_PREFIX=/weebeetalk/staging/pbx WBT_ROLE=pbx; aws() { while (($#)); do if [[ $1 == --name ]]; then echo "$2"; fi; shift; done; }`;
    expect(bash(`${script}; ssm_shared meet/jigasi-sip-password`)).toBe('/weebeetalk/staging/meet/jigasi-sip-password');
    for (const bad of ['jigasi-sip-password', '/weebeetalk/staging/meet/jigasi-sip-password', '../meet/x', 'meet/../x', 'Meet/x', 'meet/'])
      expect({
        bad,
        refused: (() => {
          try {
            bash(`${script}; ssm_shared '${bad}' 2>/dev/null`);
            return false;
          } catch {
            return true;
          }
        })(),
      }).toEqual({ bad, refused: true });
    // The value is checked as ssm_secret checks it: a ";" would start a comment in pjsip.auth.conf.
    expect(() => bash(`AWS_REGION=r SSM_PREFIX=/w/e/pbx; aws() { echo 'a;b'; }; v=$(ssm_shared meet/x) 2>/dev/null`)).toThrow();
  });

  it('ssm_secret fails at once on a missing or forbidden parameter, and retries throttling', () => {
    const calls = join(scratch, 'ssm-calls');
    const fake = (stderr: string, okAfter: number): string =>
      `AWS_REGION=r SSM_PREFIX=/p WBT_ROLE=x; sleep() { :; }; aws() { echo x >> '${calls}'; if (( $(wc -l < '${calls}') > ${okAfter} )); then echo v; return 0; fi; echo '${stderr}' >&2; return 254; }`;
    writeFileSync(calls, '');
    expect(() => bash(`${fake('An error occurred (ParameterNotFound) when calling the GetParameter operation: ', 99)}; v=$(ssm_secret a) 2>/dev/null`)).toThrow();
    expect(readFileSync(calls, 'utf8').trim().split('\n')).toHaveLength(1);
    writeFileSync(calls, '');
    expect(bash(`${fake('An error occurred (ThrottlingException) when calling the GetParameter operation (reached max retries: 2): Rate exceeded', 3)}; ssm_secret a 2>/dev/null`)).toBe('v');
    expect(readFileSync(calls, 'utf8').trim().split('\n')).toHaveLength(4);
  });

  it('ensure_filesystem never formats a volume blkid could not probe (an I/O error is not an empty volume)', () => {
    const img = join(scratch, 'unreadable.img');
    execFileSync('truncate', ['-s', '16M', img]);
    // blkid's exit 4 (usage or I/O error) and 8 (ambivalent probe) must stop the step; only 2 means "nothing".
    for (const code of [4, 8]) {
      const out = spawnSync('/bin/bash', ['-c', `set -euo pipefail; ${sources}; blkid() { return ${code}; }; mkfs.ext4() { echo MKFS; }; ensure_filesystem '${img}' wbt-data`], {
        encoding: 'utf8',
      });
      expect({ code, status: out.status, formatted: out.stdout.includes('MKFS'), said: /cannot tell what .* holds/.test(out.stderr) }).toEqual({ code, status: 1, formatted: false, said: true });
    }
  });

  it('ssm_secret refuses a value the files it goes into cannot carry (";" starts a comment in pjsip.auth.conf)', () => {
    for (const value of ['abc;def', 'a"b', 'a$b', 'a\\b', 'a b']) {
      const out = spawnSync(
        '/bin/bash',
        ['-c', `set -euo pipefail; ${sources}; AWS_REGION=x SSM_PREFIX=/p; aws() { printf '%s\\n' '${value.replace(/'/g, "'\\''")}'; }; v=$(ssm_secret x); echo "read $v"`],
        { encoding: 'utf8' },
      );
      expect({ value, status: out.status, read: out.stdout.includes('read') }).toEqual({ value, status: 1, read: false });
    }
    expect(bash(`AWS_REGION=x SSM_PREFIX=/p; aws() { echo 'Abc-123_x.y~z+/='; }; ssm_secret x`)).toBe('Abc-123_x.y~z+/=');
  });

  it('write_secret_file leaves a root-only file', () => {
    const file = join(scratch, 'secret.env');
    bash(`echo 'X=1' | write_secret_file '${file}'`);
    expect(execFileSync('stat', ['-c', '%a', file], { encoding: 'utf8' }).trim()).toBe('600');
  });
});
