/**
 * First boot: every user-data document through the real validators (Debian 12's `cloud-init schema`,
 * `shellcheck`, `dclint` for the compose files we write), the upstream variables we set, no secret values,
 * and the idempotence rules of the bootstrap (never reformat, never regenerate Jitsi's passwords).
 */
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { parse } from 'yaml';
import { ROLES, type Role } from '../config/schema';
import { fromTerraformLiteral } from '../userdata/cloud-config';
import { rocketchatOverride, rocketchatSettings } from '../userdata/chat';
import { PUBLIC_IP, type RoleContext } from '../userdata/context';
import { SCRIPTS_DIR, scriptFiles, scriptPath } from '../userdata/script-files';
import { jitsiSettings } from '../userdata/meet';
import { asteriskCompose } from '../userdata/pbx';
import { COMPOSE_BUILTIN, JITSI_ENV, ROCKETCHAT_ENV } from '../userdata/upstream-env';
import { shippedNames, synthEnvironment, synthVariant, type Block } from './support/synth';

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

  it('covers every host of every environment', () => {
    expect(docs.map((d) => d.name).sort()).toEqual(
      shippedNames()
        .flatMap((e) => ROLES.map((h) => `${e}-${h}-host`))
        .sort(),
    );
  });

  it("pass Debian 12's cloud-init schema", async () => {
    requireTool('cloud-init', 'cloud-init');
    const results = await Promise.all(
      docs.map(async (d) => {
        const file = join(scratch, `${d.name}.yaml`);
        writeFileSync(file, d.text);
        try {
          const { stdout } = await run('/usr/bin/cloud-init', ['schema', '--config-file', file]);
          return `${d.name}: ${stdout.trim()}`;
        } catch (e) {
          return `${d.name}: INVALID ${(e as { stderr?: string }).stderr ?? String(e)}`;
        }
      }),
    );
    for (const r of results) expect(r).toMatch(/Valid cloud-config/);
  });

  it('the validator really rejects a broken document', async () => {
    const file = join(scratch, 'broken.yaml');
    writeFileSync(file, '#cloud-config\nwrite_files:\n  - path: 1\n    permisions: "0644"\n');
    await expect(run('/usr/bin/cloud-init', ['schema', '--config-file', file])).rejects.toThrow();
  });

  it('every bootstrap step and helper the documents install is a checked file of userdata/scripts or userdata/<role>/scripts', () => {
    const scripts = new Set(scriptFiles().map((f) => readFileSync(f, 'utf8')));
    for (const d of docs) {
      const files = (parse(d.text) as { write_files: { path: string; content: string }[] }).write_files;
      const shell = files.filter((f) => f.path.endsWith('.sh'));
      expect(shell.length).toBeGreaterThanOrEqual(4);
      for (const f of shell) expect(scripts.has(f.content)).toBe(true);
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
    const { stdout } = await run('/usr/bin/shellcheck', ['--external-sources', '--source-path', SCRIPTS_DIR, '--format', 'gcc', ...files]).catch((e: { stdout: string }) => ({ stdout: e.stdout }));
    expect(stdout).toBe('');
  });

  it('every runnable script is strict bash', () => {
    for (const f of scripts.filter((s) => s !== join(SCRIPTS_DIR, 'lib.sh'))) {
      const text = readFileSync(f, 'utf8');
      expect([f, text.split('\n')[0]]).toEqual([f, '#!/usr/bin/env bash']);
      expect([f, /^set -euo pipefail$/m.test(text)]).toEqual([f, true]);
    }
  });
});

describe('compose files we write', () => {
  it('pass dclint (Compose Specification schema and its checks)', async () => {
    const files = { 'rocketchat-override.yml': rocketchatOverride(), 'asterisk-compose.yml': asteriskCompose() };
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
    const override = rocketchatOverride();
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
  const ctx = (env: string): RoleContext => {
    const config = synthEnvironment(env).config;
    return {
      config,
      fqdn: Object.fromEntries(ROLES.map((role) => [role, `${role}.x.test`])) as Record<Role, string>,
      privateIp: Object.fromEntries(ROLES.map((role, i) => [role, `10.0.0.${10 + i}`])) as Record<Role, string>,
      buckets: { recordings: 'r', uploads: 'u', backups: 'b' },
      ssmPrefix: '/weebeetalk/x/role',
    };
  };
  // Names the scripts append to .env: printf 'NAME="%s"\n' ... and "NAME=\"${value}\"" array entries.
  const scriptVars = (script: string): string[] =>
    [...readFileSync(scriptPath(script.replace(/\.sh$/, '')), 'utf8').matchAll(/printf '([A-Z_]+)="%s"\\n'|"([A-Z][A-Z0-9_]+)=\\"\$\{/g)].map((m) => m[1] ?? m[2]);

  it.each(shippedNames())('%s: every Jitsi .env name is one docker-jitsi-meet reads', (env) => {
    const names = [...Object.keys(jitsiSettings(ctx(env))), ...scriptVars('jitsi.sh')];
    expect(names).toEqual(expect.arrayContaining(['JWT_APP_SECRET', 'JIGASI_SIP_PASSWORD', 'PUBLIC_URL']));
    const unknown = names.filter((n) => !(n in JITSI_ENV) && !(COMPOSE_BUILTIN as readonly string[]).includes(n));
    expect(unknown).toEqual([]);
  });

  it.each(shippedNames())('%s: every Rocket.Chat .env name is one rocketchat-compose or our override reads', (env) => {
    const names = [...Object.keys(rocketchatSettings(ctx(env))), ...scriptVars('rocketchat.sh')];
    expect(names).toContain('RC_ADMIN_PASS');
    const unknown = names.filter((n) => !(n in ROCKETCHAT_ENV) && !(COMPOSE_BUILTIN as readonly string[]).includes(n));
    expect(unknown).toEqual([]);
    // Every RC_* variable the override interpolates is set.
    const used = [...rocketchatOverride().matchAll(/\$\{([A-Z_]+)\}/g)].map((m) => m[1]);
    for (const v of used) expect([v, names.includes(v)]).toEqual([v, true]);
  });

  it("Jitsi uses Let's Encrypt (the CAA record refuses the ZeroSSL default) and the Elastic IP", () => {
    const s = jitsiSettings(ctx('staging'));
    expect(s.LETSENCRYPT_ACME_SERVER).toBe('letsencrypt');
    // The Elastic IP is put in on the host (render in lib.sh), from the instance's tag.
    expect(s.JVB_ADVERTISE_IPS.split(',')).toEqual([PUBLIC_IP, '10.0.0.11']);
    expect(s.HTTP_PORT).toBe('80');
  });

  it('Rocket.Chat runs a supported release with a MongoDB it supports, bound to loopback', () => {
    const s = rocketchatSettings(ctx('production'));
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

  it('each instance carries its Elastic IP and data volume id as tags readable from instance metadata', () => {
    for (const env of shippedNames()) {
      const instances = Object.values(synthEnvironment(env).json.resource?.aws_instance ?? {}) as Block[];
      expect(instances).toHaveLength(3);
      for (const i of instances) {
        expect((i.metadata_options as Block).instance_metadata_tags).toBe('enabled');
        expect((i.tags as Record<string, string>).WeebeetalkPublicIp).toMatch(/^\$\{aws_eip\..*\.public_ip\}$/);
        expect((i.tags as Record<string, string>).WeebeetalkDataVolume).toMatch(/^\$\{aws_ebs_volume\..*\.id\}$/);
      }
    }
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

  it('jigasi off: no Jigasi password is read on either side', () => {
    const v = synthVariant('staging-no-jigasi', 'staging', { jitsi: { jigasi: false } });
    const parts = Object.values(v.json.data?.cloudinit_config ?? {}).flatMap((b) => (b as Block).part as Part[]);
    const text = parts.map((p) => p.content).join('\n');
    expect(text).not.toContain('JIGASI_SIP_URI');
    expect(text).toContain('JIGASI_ENABLED="0"');
  });
});

describe('bootstrap idempotence', () => {
  const lib = join(SCRIPTS_DIR, 'lib.sh');
  const bash = (script: string): string => execFileSync('/bin/bash', ['-c', `set -euo pipefail; source '${lib}'; ${script}`], { encoding: 'utf8' });

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
      const out = spawnSync('/bin/bash', ['-c', `set -euo pipefail; source '${lib}'; blkid() { return ${code}; }; mkfs.ext4() { echo MKFS; }; ensure_filesystem '${img}' wbt-data`], {
        encoding: 'utf8',
      });
      expect({ code, status: out.status, formatted: out.stdout.includes('MKFS'), said: /cannot tell what .* holds/.test(out.stderr) }).toEqual({ code, status: 1, formatted: false, said: true });
    }
  });

  it('ssm_secret refuses a value the files it goes into cannot carry (";" starts a comment in pjsip.auth.conf)', () => {
    for (const value of ['abc;def', 'a"b', 'a$b', 'a\\b', 'a b']) {
      const out = spawnSync(
        '/bin/bash',
        ['-c', `set -euo pipefail; source '${lib}'; AWS_REGION=x SSM_PREFIX=/p; aws() { printf '%s\\n' '${value.replace(/'/g, "'\\''")}'; }; v=$(ssm_secret x); echo "read $v"`],
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
