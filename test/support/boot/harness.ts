/**
 * The first-boot harness: one host of one environment, booted from its user-data exactly as synthesized, as root
 * in a throwaway sandbox (test/support/boot/sandbox.sh under unshare: private mount, network and PID
 * namespaces, an overlay over the Debian 12 root that scripts/setup-boot-root.sh builds, the data volume a real
 * ext4 on a loop device). Stand-ins derived from the plan answer as AWS does (server.ts, standins/).
 *
 * One deliberate deviation from "exactly as synthesized": the stand-in internet cannot serve upstream's bytes
 * (and they may not be copied here), so it serves stand-in release trees and the upstream manifests written by
 * cloud-init are re-pinned to those trees. A test shows the unmodified manifest refuses them.
 */
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { transformFileSync } from '@swc/core';
import type { Faults, MemberControl, ServerWorld } from './server';
import type { HostPlan, StoredObject } from './plan';

const run = promisify(execFile);

export const BOOT_CACHE = '/var/cache/weebeetalk-test';
export const BOOT_ROOT = `${BOOT_CACHE}/bookworm-root`;
/** Docker's apt key as Debian ships it (extrepo-offline-data), extracted by scripts/setup-boot-root.sh. */
export const DOCKER_KEY = `${BOOT_CACHE}/docker-ce.asc`;
const HERE = __dirname;

/** Files shared by every sandbox of a test file: the transpiled server, fixtures. */
export class BootKit {
  /**
   * In memory when the machine has a tmpfs at /dev/shm: the data volumes are loop devices over files here, and
   * on a disk their ext4 work (mkfs, journal, flushes) costs the kernel's block workers more than the boots themselves.
   */
  readonly dir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'wbt-boot-'));
  private readonly trees = new Map<string, { tarball: string; manifest: string }>();

  constructor() {
    const server = join(this.dir, 'server');
    mkdirSync(server);
    for (const name of ['server', 'policy']) {
      const out = transformFileSync(join(HERE, `${name}.ts`), { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'commonjs' } });
      writeFileSync(join(server, `${name}.js`), out.code);
    }
    // The SSM agent package: a real (empty) .deb, so the apt-get stand-in reads its name as dpkg would.
    const deb = join(this.dir, 'ssm-agent');
    mkdirSync(join(deb, 'DEBIAN'), { recursive: true });
    writeFileSync(join(deb, 'DEBIAN', 'control'), 'Package: amazon-ssm-agent\nVersion: 3.3.0.0-1\nArchitecture: amd64\nMaintainer: stand-in <none@invalid>\nDescription: stand-in\n');
    execFileSync('dpkg-deb', ['--build', '--root-owner-group', deb, join(this.dir, 'amazon-ssm-agent.deb')], { stdio: 'ignore' });
  }

  /**
   * A stand-in release tree holding the files a manifest names (gen-passwords.sh with upstream's contract:
   * rewrite the six NAME= lines of the .env beside it), as a GitHub archive with one top-level directory.
   */
  releaseTree(manifest: string): { tarball: string; manifest: string } {
    const hit = this.trees.get(manifest);
    if (hit) return hit;
    const id = createHash('sha256').update(manifest).digest('hex').slice(0, 12);
    const top = join(this.dir, `tree-${id}`, 'release');
    mkdirSync(top, { recursive: true });
    const names = manifest
      .trim()
      .split('\n')
      .map((l) => l.split(/\s+/)[1]);
    for (const name of names) {
      const body =
        name === 'gen-passwords.sh'
          ? '#!/usr/bin/env bash\n# stand-in with the upstream contract\nenv_file="$(dirname "$0")/.env"\nfor n in JICOFO_AUTH JVB_AUTH JIGASI_XMPP JIBRI_RECORDER JIBRI_XMPP JIGASI_TRANSCRIBER; do\n  sed -i.bak "s#${n}_PASSWORD=.*#${n}_PASSWORD=$(openssl rand -hex 16)#g" "$env_file"\ndone\n'
          : `# stand-in for upstream's ${name}\n`;
      writeFileSync(join(top, name), body);
    }
    const tarball = join(this.dir, `tree-${id}.tar.gz`);
    execFileSync('tar', ['-czf', tarball, '-C', join(this.dir, `tree-${id}`), 'release']);
    const sums = names
      .map(
        (n) =>
          `${createHash('sha256')
            .update(readFileSync(join(top, n)))
            .digest('hex')}  ${n}`,
      )
      .join('\n');
    const tree = { tarball, manifest: `${sums}\n` };
    this.trees.set(manifest, tree);
    return tree;
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface SandboxOptions {
  readonly faults?: Faults;
  /** The data volume's device appears only after the data-volume step polled for it this many times. @default 0 */
  readonly attachAfterPolls?: number;
  /** Data volume size in MiB. @default 32 */
  readonly volumeMiB?: number;
  /** Serve the plan's manifests unmodified (the stand-in trees then fail the checksum check). @default false */
  readonly keepUpstreamManifests?: boolean;
  /** Files on the host whose values are secrets it generates itself (the secret scan looks for them too). @default none */
  readonly generatedSecrets?: readonly string[];
  /** Parameters the stand-in SSM does not have (deleted out of band). @default none */
  readonly withoutParameters?: readonly string[];
}

/** The host's bundle as the stand-in S3 serves it (manifests re-pinned, see above) and the association's command for it. */
export interface ServedBundle {
  readonly key: string;
  readonly sha256: string;
  readonly json: string;
  /** The document's command with the association's parameters, re-pinned like the bundle. */
  readonly command: string;
}

export type Step = readonly ['run', string] | readonly ['grow', number];

export interface BootResult {
  readonly code: number;
  /** What the boot printed (the bootstrap tees its log here too). */
  readonly output: string;
  /** Per-run exit codes of the `run` steps. */
  readonly codes: readonly number[];
}

export interface Inspected {
  readonly path: string;
  readonly exists: boolean;
  readonly mode?: string;
  readonly owner?: string;
  readonly sha256?: string;
  /** Login users (cloud-init's default user, the SSM agent's ssm-user) that can read it. */
  readonly readableBy?: readonly string[];
}

export interface Inspection {
  /** Every file holding a secret value of the plan or a private key. */
  readonly secrets: readonly Inspected[];
  readonly files: readonly Inspected[];
  /** The data volume as mounted: filesystem UUID, sizes, and `sha256sum` of every file on it. */
  readonly volume: { uuid: string; fsBytes: number; deviceBytes: number; files: string } | null;
  /** Files under /opt and /srv still holding the @PUBLIC_IP@ placeholder. */
  readonly placeholders: readonly string[];
}

export interface Logged {
  readonly cmd: string;
  readonly cwd: string;
  readonly argv: readonly string[];
  readonly extra: Record<string, unknown> | null;
}

const envValue = (text: string, key: string): string | undefined => new RegExp(`^${key}="([^"]*)"$`, 'm').exec(text)?.[1];
const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/** One host: its data volume image and its root filesystems (a fresh one per instance). */
export class HostSandbox {
  readonly dir: string;
  readonly image: string;
  private generation = 0;
  private root = '';
  private servedBundle: ServedBundle | undefined;

  constructor(
    private readonly kit: BootKit,
    public plan: HostPlan,
    private readonly options: SandboxOptions = {},
    /** Start as a copy of this host as it is now (its root filesystem, data volume and logs). @default a new host */
    from?: HostSandbox,
  ) {
    this.dir = mkdtempSync(join(kit.dir, `${plan.world.env}-${plan.world.role}-`));
    // A pool member has no data volume: no image, no device.
    this.image = plan.world.dataVolumeId === '' ? '' : join(this.dir, 'data.img');
    if (from) {
      // Between sessions nothing is mounted: the instance is its files (overlay layers, share/) and the image.
      if (this.image !== '') execFileSync('cp', ['--sparse=always', from.image, this.image]);
      this.generation = from.generation;
      this.root = join(this.dir, `instance-${this.generation}`);
      execFileSync('cp', ['-a', from.root, this.root]);
      this.writeWorld();
      return;
    }
    if (this.image !== '') execFileSync('truncate', ['-s', `${options.volumeMiB ?? 32}M`, this.image]);
    this.newInstance();
  }

  /** Another host just like this one as it is now (a test's own booted host, without booting one). */
  copy(): HostSandbox {
    return new HostSandbox(this.kit, this.plan, this.options, this);
  }

  get instanceId(): string {
    return `i-0${createHash('sha256').update(`${this.plan.world.env}/${this.plan.world.role}/${this.generation}`).digest('hex').slice(0, 16)}`;
  }

  /** A replacement: a new instance (fresh root filesystem, new id) that gets the same data volume. */
  newInstance(): void {
    this.generation += 1;
    this.root = join(this.dir, `instance-${this.generation}`);
    const share = join(this.root, 'share');
    mkdirSync(join(share, 'log'), { recursive: true });
    mkdirSync(join(share, 'cloud'), { recursive: true });
    this.writeWorld();
    const { plan } = this;
    // Laid out for cloud-init-boot to read without a JSON parser (files.tsv: index, path, permissions, owner).
    const cloud = join(share, 'cloud');
    mkdirSync(join(cloud, 'files'));
    plan.writeFiles.forEach((f, i) => writeFileSync(join(cloud, 'files', String(i)), f.content));
    for (const f of plan.writeFiles) if (/[\t\n]/.test(f.path + f.permissions + f.owner)) throw new Error(`write_files ${f.path}: tab or newline in path, permissions or owner`);
    writeFileSync(join(cloud, 'files.tsv'), plan.writeFiles.map((f, i) => `${i}\t${f.path}\t${f.permissions}\t${f.owner}\n`).join(''));
    // users (users-groups): "default" is the image's default user; an entry is useradd with its keys, in order.
    const users = (plan.users ?? ['default']).map((u) => {
      if (u === 'default') return 'default';
      const e = u as Record<string, unknown>;
      const known = ['name', 'uid', 'gecos', 'homedir', 'no_create_home', 'shell', 'lock_passwd'];
      const unknown = Object.keys(e).filter((k) => !known.includes(k));
      if (unknown.length > 0 || typeof e.name !== 'string') throw new Error(`cloud-config user ${JSON.stringify(u)}: ${unknown.join(', ')} not rendered by the harness`);
      return [e.name, e.uid ?? '', e.gecos ?? '', e.homedir ?? '', e.no_create_home === true, e.shell ?? '', e.lock_passwd !== false].join('\t');
    });
    writeFileSync(join(cloud, 'users'), users.map((u) => `${u}\n`).join(''));
    writeFileSync(join(cloud, 'package-flags'), `${plan.packageUpdate} ${plan.packageUpgrade}\n`);
    writeFileSync(join(cloud, 'packages'), plan.packages.map((p) => `${p}\n`).join(''));
    writeFileSync(join(cloud, 'script-name'), plan.script.filename);
    writeFileSync(join(cloud, 'script'), plan.script.content);
  }

  /**
   * A deploy of another plan of the same environment while this instance runs: AWS now holds that plan's
   * parameters, objects and grants (the instance, its user-data and its data volume stay). The test then runs
   * `served.command`, as State Manager does when the association changes.
   */
  deploy(plan: HostPlan, options: { readonly tampered?: boolean; readonly withoutParameters?: readonly string[] } = {}): void {
    if (plan.world.env !== this.plan.world.env || plan.world.role !== this.plan.world.role) throw new Error('deploy: another host');
    this.plan = plan;
    this.writeWorld(options.tampered ?? false, options.withoutParameters ?? this.options.withoutParameters ?? []);
  }

  /**
   * A step that sets what a member's stand-ins answer from now on (its target lifecycle state, its Jibri's or JVB's
   * state), read by the stand-in server at every request: between sessions or between the steps of one.
   */
  member(state: MemberControl): Step {
    const json = JSON.stringify(state);
    if (/'/.test(json)) throw new Error('member state: no single quote');
    return ['run', `printf '%s\\n' '${json}' > /run/wbt/member.json`];
  }

  /** The bundle the stand-in S3 serves for this host now. */
  get served(): ServedBundle {
    if (!this.servedBundle) throw new Error('no world written yet');
    return this.servedBundle;
  }

  /** world.json for the stand-in server: the plan's AWS as this instance sees it. */
  /** `tampered`: S3 serves this host's bundle with one byte more (corrupted or tampered with) under its own key. */
  private writeWorld(tampered = false, withoutParameters: readonly string[] = this.options.withoutParameters ?? []): void {
    const share = join(this.root, 'share');
    const { plan, kit } = this;
    const internet: Record<string, string> = {
      'https://download.docker.com/linux/debian/gpg': DOCKER_KEY,
      [`https://s3.${plan.world.region}.amazonaws.com/amazon-ssm-${plan.world.region}/latest/debian_amd64/amazon-ssm-agent.deb`]: join(kit.dir, 'amazon-ssm-agent.deb'),
    };
    // The bundle's upstream manifests re-pinned to the stand-in trees (see above): a new bundle, so a new key.
    const config = plan.configuration;
    const doc = JSON.parse(config.json) as { files: { path: string; content: string; sha256: string }[] };
    const settings = doc.files.find((f) => f.path === '/etc/weebeetalk/config.env')?.content ?? '';
    for (const f of doc.files) {
      if (!f.path.endsWith('/upstream.sha256')) continue;
      const tree = kit.releaseTree(f.content);
      const urls = [...settings.matchAll(/^([A-Z_]+_URL)="(https:\/\/[^"]+\.tar\.gz)"$/gm)].map((m) => m[2]);
      if (urls.length !== 1) throw new Error(`${plan.world.role}: expected one release URL in config.env beside ${f.path}, found ${urls.join(', ')}`);
      internet[urls[0]] = tree.tarball;
      if (!this.options.keepUpstreamManifests) Object.assign(f, { content: tree.manifest, sha256: sha256(tree.manifest) });
    }
    const json = this.options.keepUpstreamManifests ? config.json : `${JSON.stringify(doc, null, 1)}\n`;
    const sum = sha256(json);
    const key = config.key.replace(config.sha256, sum);
    this.servedBundle = { key, sha256: sum, json, command: config.command.split(config.sha256).join(sum) };
    const served = tampered ? json.replace('"format": 1', '"format":  1') : json;
    const objects: StoredObject[] = plan.world.objects.map((o) => (o.key === config.key ? { bucket: o.bucket, key, content: served } : o));

    const fqdn = envValue(settings, 'FQDN') ?? '';
    if (!fqdn && !plan.world.member) throw new Error(`${plan.world.role}: config.env has no FQDN`);
    // A member's compose project: the working directory of its compose unit (the JVB stand-in reads its REST switches there).
    const composeDir = plan.configuration.files
      .map((f) => /^WorkingDirectory=(.*)$/m.exec(f.path.startsWith('/etc/systemd/system/') && /docker compose up/.test(f.content) ? f.content : '')?.[1])
      .find(Boolean);
    const without = new Set(withoutParameters);
    const world: ServerWorld = {
      region: plan.world.region,
      account: plan.world.account,
      roleName: plan.world.roleName,
      instanceId: this.instanceId,
      publicIp: plan.world.publicIp,
      fqdn,
      member: plan.world.member ? { group: plan.world.member.group, privateIp: plan.world.member.privateIp, service: plan.world.role } : undefined,
      memberEnvFile: plan.world.member && composeDir ? `${composeDir}/.env` : undefined,
      groups: plan.world.groups,
      controlFile: join(share, 'member.json'),
      tags: plan.world.tags,
      parameters: plan.world.parameters.filter((p) => !without.has(p.name)).map((p) => (p.value === config.pointer ? { ...p, value: config.pointer.replace(config.key, key) } : p)),
      statements: plan.world.statements,
      buckets: plan.world.buckets,
      objects,
      zones: plan.world.zones,
      aRecords: plan.world.aRecords as Record<string, string[]>,
      internet,
      rootDir: join(this.root, 'merged'),
      logDir: join(share, 'log'),
      faults: this.options.faults ?? {},
      readyFile: join(share, 'ready'),
    };
    writeFileSync(join(share, 'world.json'), JSON.stringify(world, null, 1));
    writeFileSync(join(share, 'generated-secrets'), (this.options.generatedSecrets ?? []).map((p) => `${p}\n`).join(''));
    // What the secret scan looks for: every SecureString value of the plan.
    writeFileSync(
      join(share, 'secrets'),
      plan.world.parameters
        .filter((p) => p.type === 'SecureString')
        .map((p) => `${p.value}\n`)
        .join(''),
    );
  }

  /**
   * Boot (or run steps on) the current instance. Steps: ['run', shell command] inside the host,
   * or ['grow', MiB] to grow the volume under the running host.
   */
  async session(steps: readonly Step[]): Promise<BootResult> {
    const share = join(this.root, 'share');
    writeFileSync(join(share, 'steps'), `${steps.map(([a, b]) => `${a} ${b}`).join('\n')}\n`);
    rmSync(join(share, 'log', 'rc'), { force: true });
    const before = existsSync(join(share, 'log', 'boot.out')) ? readFileSync(join(share, 'log', 'boot.out'), 'utf8').length : 0;
    const script = join(HERE, 'sandbox.sh');
    chmodSync(script, 0o755);
    let code = 0;
    try {
      await run('unshare', ['--mount', '--net', '--pid', '--fork', '--kill-child', '/bin/bash', script], {
        env: {
          PATH: '/usr/sbin:/usr/bin:/sbin:/bin',
          WBT_RUN: this.root,
          WBT_ROOT: BOOT_ROOT,
          WBT_IMAGE: this.image,
          WBT_STANDINS: join(HERE, 'standins'),
          WBT_NODE: process.execPath,
          WBT_SERVER: join(this.kit.dir, 'server', 'server.js'),
          WBT_VOLUME_SERIAL: this.plan.world.dataVolumeId.replace(/-/g, ''),
          WBT_ATTACH_AFTER_POLLS: String(this.options.attachAfterPolls ?? 0),
        },
        timeout: 90_000,
        maxBuffer: 16 * 1024 * 1024,
      });
    } catch (e) {
      code = (e as { code?: number }).code ?? 1;
      const stderr = (e as { stderr?: string }).stderr ?? '';
      if (code >= 90) throw new Error(`sandbox failed (${code}): ${stderr}`, { cause: e });
    }
    const output = readFileSync(join(share, 'log', 'boot.out'), 'utf8').slice(before);
    const codes = existsSync(join(share, 'log', 'rc'))
      ? readFileSync(join(share, 'log', 'rc'), 'utf8')
          .trim()
          .split('\n')
          .map(Number)
      : [];
    return { code, output, codes };
  }

  /** cloud-init's first boot of this instance (write_files, users, packages, the bootstrap part), then more steps. */
  firstBoot(...then: Step[]): Promise<BootResult> {
    return this.session([['run', '/opt/wbt-standins/cloud-init-boot'], ...then]);
  }

  /** An operator's `sudo weebeetalk-bootstrap` on the running instance, then more steps. */
  rerun(...then: Step[]): Promise<BootResult> {
    return this.session([['run', '/usr/local/sbin/weebeetalk-bootstrap'], ...then]);
  }

  /**
   * A step that looks inside the running host: files holding a secret, the given paths, the data volume
   * (see standins/inspect); read the result with inspection().
   */
  inspecting(paths: readonly string[] = []): Step {
    writeFileSync(join(this.root, 'share', 'inspect-paths'), paths.map((p) => `${p}\n`).join(''));
    return ['run', '/opt/wbt-standins/inspect'];
  }

  inspection(): Inspection {
    return JSON.parse(readFileSync(join(this.root, 'share', 'inspect.json'), 'utf8')) as Inspection;
  }

  /** JSON lines a stand-in logged during this instance's life (commands, aws, ssm, imds, dns, acme...). */
  log<T = Logged>(name: string): T[] {
    const file = join(this.root, 'share', 'log', name);
    if (!existsSync(file)) return [];
    return readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as T);
  }

  /** A path of the instance's root filesystem as the boot left it (the overlay's upper layer). */
  upper(path: string): string {
    return join(this.root, 'upper', path);
  }
}

/** Paths of the root filesystem a boot rewrites every time by design (logs, the completion stamp, stand-in state). */
const VOLATILE = [/^var\/log\//, /^var\/lib\/weebeetalk\/bootstrap\.done$/, /^var\/lib\/wbt-standin\//, /^root\/\.gnupg\//, /^tmp\//, /^run\//];

/** Every file the instance's boots wrote to its root filesystem: path to "mode uid:gid sha256" (or a link target). */
export function rootTree(box: HostSandbox): Map<string, string> {
  const upper = box.upper('');
  const out = new Map<string, string>();
  const walk = (dir: string): void => {
    for (const d of readdirSync(join(upper, dir), { withFileTypes: true })) {
      const rel = dir === '' ? d.name : `${dir}/${d.name}`;
      if (VOLATILE.some((re) => re.test(rel))) continue;
      const st = lstatSync(join(upper, rel));
      if (d.isDirectory()) {
        out.set(`${rel}/`, `${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`);
        walk(rel);
      } else if (d.isSymbolicLink()) out.set(rel, `-> ${readlinkSync(join(upper, rel))}`);
      else
        out.set(
          rel,
          `${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid} ${createHash('sha256')
            .update(readFileSync(join(upper, rel)))
            .digest('hex')}`,
        );
    }
  };
  walk('');
  return out;
}

/**
 * What the harness left on the test machine under dir: loop devices (detached here, so that a failed run does
 * not leak them), mounts and processes. Both must be empty: the sandboxes detach their loop devices and their mounts live
 * in namespaces that died with them.
 */
export function leftovers(dir: string): { loops: string[]; mounts: string[]; processes: string[] } {
  const loops = execFileSync('losetup', ['--list', '--noheadings', '--output', 'NAME,BACK-FILE'], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l.includes(dir));
  for (const l of loops) execFileSync('losetup', ['-d', l.trim().split(/\s+/)[0]]);
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l.includes(dir));
  // The stand-in servers run from dir: none may outlive its sandbox.
  const processes = readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .map((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, 'utf8').replace(/\0/g, ' ');
      } catch {
        return '';
      }
    })
    .filter((c) => c.includes(dir));
  return { loops, mounts, processes };
}
