/**
 * A host's user-data: a cloud-config part (packages, settings, the bootstrap steps as files) and the
 * bootstrap script part, as a gzip+base64 multipart document from the cloudinit provider. The parts stay
 * readable text in the synthesized plan; only the rendered document is compressed (16 KB user-data limit).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { Construct } from 'constructs';
import { DataCloudinitConfig } from '@cdktf/provider-cloudinit/lib/data-cloudinit-config';
import { CONTAINER_ACCOUNT, DATA_DIR, DOCKER_ROOT, HOST_ENV_FILE, helperEnv, helperPath, LIB_SH, STEPS_DIR, UNITS, unitPath } from './paths';
import { renderUnit } from './systemd';
import { renderCloudConfig, renderEnvFile, terraformLiteral, terraformLiteralKeepingReferences, type CloudConfig, type WriteFile } from './cloud-config';

/** The steps and helpers every host runs (lib.sh, bootstrap.sh, data-volume.sh, ...); a role's own are in userdata/<role>/scripts. */
export const SCRIPTS_DIR = join(__dirname, 'scripts');
// The host's paths: one module (userdata/paths.ts), re-exported for the builders.
export { CONTAINER_ACCOUNT, DATA_DIR, STEPS_DIR } from './paths';

/** Every script folder: the common one, then each role's (userdata/<role>/scripts). */
export function scriptDirs(): string[] {
  const roles = readdirSync(__dirname, { withFileTypes: true }).filter((d) => d.isDirectory() && existsSync(join(__dirname, d.name, 'scripts')));
  return [SCRIPTS_DIR, ...roles.map((d) => join(__dirname, d.name, 'scripts'))];
}

/** Every bootstrap script file (absolute paths): what the tests shellcheck. Listed once per process. */
export function scriptFiles(): string[] {
  scriptFilesCache ??= scriptDirs().flatMap((dir) =>
    readdirSync(dir)
      .filter((f) => f.endsWith('.sh'))
      .map((f) => join(dir, f)),
  );
  return [...scriptFilesCache];
}
let scriptFilesCache: string[] | undefined;

/** The file of a step or helper by name (without .sh), common or a role's; a name is one file only. */
export function scriptPath(name: string): string {
  const found = scriptFiles().filter((f) => basename(f) === `${name}.sh`);
  if (found.length !== 1) throw new Error(`script ${name}.sh: ${found.length === 0 ? 'in no script folder' : `in several: ${found.join(', ')}`}`);
  return found[0];
}

const scriptTexts = new Map<string, string>();

export function readScript(name: string): string {
  let text = scriptTexts.get(name);
  if (text === undefined) scriptTexts.set(name, (text = readFileSync(scriptPath(name), 'utf8')));
  return text;
}

/** Files every host gets besides its steps. */
function commonFiles(): WriteFile[] {
  return [
    { path: LIB_SH, content: readScript('lib'), permissions: '0644' },
    {
      path: '/etc/docker/daemon.json',
      permissions: '0644',
      // Data root on the data volume; bounded logs so a chatty container cannot fill the disk. json-file, because
      // rocketchat-compose pins that driver and Docker applies these options only to the default driver.
      content: `${JSON.stringify({ 'data-root': DOCKER_ROOT, 'log-driver': 'json-file', 'log-opts': { 'max-size': '20m', 'max-file': '5' } }, null, 2)}\n`,
    },
    {
      path: '/etc/systemd/system/docker.service.d/10-weebeetalk-data.conf',
      permissions: '0644',
      content: `# Docker keeps its data on the data volume: never start it before the volume is mounted.\n[Unit]\nRequiresMountsFor=${DATA_DIR}\n`,
    },
    // Growing dataVolumeGiB grows the device under the running host; the kernel reports it (RESIZE=1 on a
    // block "change" event) and this grows the filesystem at once. data-volume.sh also does it on every boot.
    { path: helperPath('grow-data'), content: readScript('grow-data'), permissions: '0755' },
    {
      path: unitPath(`${UNITS.growData}.service`),
      permissions: '0644',
      content: renderUnit({
        Unit: { Description: 'WeeBeeTalk: grow the data volume filesystem to its device size', RequiresMountsFor: DATA_DIR },
        Service: { Type: 'oneshot', ExecStart: helperPath('grow-data') },
        Install: { WantedBy: 'multi-user.target' },
      }),
    },
    {
      path: '/etc/udev/rules.d/90-weebeetalk-grow-data.rules',
      permissions: '0644',
      content: `ACTION=="change", SUBSYSTEM=="block", ENV{RESIZE}=="1", RUN+="/usr/bin/systemctl --no-block start ${UNITS.growData}.service"\n`,
    },
    {
      path: '/etc/apt/apt.conf.d/20auto-upgrades',
      permissions: '0644',
      content: 'APT::Periodic::Update-Package-Lists "1";\nAPT::Periodic::Unattended-Upgrade "1";\n',
    },
  ];
}

/** Steps every host runs before its role's own. */
export const COMMON_STEPS = ['ssm-agent', 'data-volume', 'docker'] as const;

export interface HostUserDataProps {
  /** Non-secret settings, written to /etc/weebeetalk/host.env (values may be Terraform references). */
  readonly env: Record<string, string | number | boolean>;
  /** The role's steps, names of scripts under userdata/<role>/scripts (or userdata/scripts), run after the common ones. */
  readonly steps: readonly string[];
  /** The role's extra files (configuration generated from the settings). @default none */
  readonly files?: readonly WriteFile[];
  /** The role's extra Debian packages. @default none */
  readonly packages?: readonly string[];
  /** Helper scripts (not steps) installed as /usr/local/lib/weebeetalk/<name>.sh, e.g. for timers. @default none */
  readonly scripts?: readonly string[];
}

/** The cloud-config document of a host, before Terraform escaping (what `cloud-init schema` checks). */
export function hostCloudConfig(props: HostUserDataProps): CloudConfig {
  const steps = [...COMMON_STEPS, ...props.steps].map<WriteFile>((name, i) => ({
    path: `${STEPS_DIR}/${String((i + 1) * 10).padStart(2, '0')}-${name}.sh`,
    content: readScript(name),
    permissions: '0755',
  }));
  return {
    package_update: true,
    package_upgrade: true,
    packages: ['awscli', 'ca-certificates', 'curl', 'gnupg', 'jq', 'unattended-upgrades', ...(props.packages ?? [])],
    // Not Debian's default user `admin` (no key pair: nobody logs in as it): its uid, 1000, is the one the
    // containers (Jitsi, Asterisk) own their files with, Asterisk's TLS key among them. A locked account holds
    // 1000 instead, so the SSM agent's login user (created on the first session) gets another uid.
    users: [{ name: CONTAINER_ACCOUNT, uid: 1000, gecos: 'WeeBeeTalk containers (not a login)', homedir: '/nonexistent', no_create_home: true, shell: '/usr/sbin/nologin', lock_passwd: true }],
    write_files: [
      // The installed helpers' paths go with the role's settings (WBT_HELPER_<NAME>, userdata/paths.ts).
      { path: HOST_ENV_FILE, content: renderEnvFile({ ...props.env, ...helperEnv(props.scripts ?? []) }), permissions: '0644' },
      ...commonFiles(),
      ...(props.files ?? []),
      ...(props.scripts ?? []).map<WriteFile>((name) => ({ path: helperPath(name), content: readScript(name), permissions: '0755' })),
      ...steps,
    ],
  };
}

export class HostUserData extends Construct {
  readonly config: DataCloudinitConfig;
  /** The cloud-config document as it goes to Terraform. */
  readonly cloudConfig: string;

  constructor(scope: Construct, id: string, props: HostUserDataProps) {
    super(scope, id);
    const doc = hostCloudConfig(props);
    // File content reaches the host as written; only the references in it are for Terraform to fill in.
    const escaped: CloudConfig = { ...doc, write_files: doc.write_files.map((f) => ({ ...f, content: terraformLiteralKeepingReferences(f.content) })) };
    this.cloudConfig = renderCloudConfig(escaped);
    this.config = new DataCloudinitConfig(this, 'cloudinit', {
      gzip: true,
      base64Encode: true,
      part: [
        { filename: 'cloud-config.yaml', contentType: 'text/cloud-config', content: this.cloudConfig },
        { filename: 'weebeetalk-bootstrap.sh', contentType: 'text/x-shellscript', content: terraformLiteral(readScript('bootstrap')) },
      ],
    });
  }
}
