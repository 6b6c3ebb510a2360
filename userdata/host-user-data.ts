/**
 * A host's user-data: a cloud-config part (packages, the host's own settings, the bootstrap steps and the apply
 * tool as files) and the bootstrap script part, as a gzip+base64 multipart document from the cloudinit provider.
 * The parts stay readable text in the synthesized plan; only the rendered document is compressed (16 KB limit).
 */
import { Construct } from 'constructs';
import { DataCloudinitConfig } from '@cdktf/provider-cloudinit/lib/data-cloudinit-config';
import { APPLY_COMMAND, CONTAINER_ACCOUNT, DATA_DIR, DOCKER_ROOT, HOST_ENV_FILE, helperPath, LIB_SH, STEPS_DIR, UNITS, unitPath } from './paths';
import { readScript } from './script-files';
import { renderUnit } from './systemd';
import { renderCloudConfig, renderEnvFile, terraformLiteral, type CloudConfig, type WriteFile } from './cloud-config';

/** Docker's settings: data root on the data volume, bounded logs, never started before the volume is mounted. */
function dockerFiles(): WriteFile[] {
  return [
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
  ];
}

/** Files every host gets besides its steps (Docker's only where it runs, the data volume's only where there is one). */
function commonFiles(docker: boolean, dataVolume: boolean): WriteFile[] {
  return [
    // A pool member's lib.sh is the hosts' with its own part appended (addresses from instance metadata): the hosts'
    // stays byte for byte, and with it their instances.
    { path: LIB_SH, content: dataVolume ? readScript('lib') : `${readScript('lib')}${readScript('member-lib')}`, permissions: '0644' },
    // The configuration comes later, in place, as bundles: State Manager runs this with each new one.
    { path: APPLY_COMMAND, content: readScript('apply'), permissions: '0755' },
    ...(docker ? dockerFiles() : []),
    ...(dataVolume ? growDataFiles() : []),
    // After the data volume's (the order every host's user-data has always had).
    {
      path: '/etc/apt/apt.conf.d/20auto-upgrades',
      permissions: '0644',
      content: 'APT::Periodic::Update-Package-Lists "1";\nAPT::Periodic::Unattended-Upgrade "1";\n',
    },
  ];
}

/** The data volume's filesystem grown with its device. */
function growDataFiles(): WriteFile[] {
  return [
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
  ];
}

/** The bootstrap's steps, in order (docker only where it runs): the last applies the host's current configuration bundle. */
export const BOOTSTRAP_STEPS = ['ssm-agent', 'data-volume', 'docker', 'configure'] as const;

/**
 * A host's user-data: only what does not change with its configuration (that comes as bundles, userdata/bundle.ts),
 * so the same for 2 phones or 2,000 and replaced only with the image or the bootstrap itself.
 */
export interface HostUserDataProps {
  /** The host's own settings, written to /etc/weebeetalk/host.env: names and paths, never a setting of its role. */
  readonly env: Record<string, string | number | boolean>;
  /** The role's extra Debian packages. @default none */
  readonly packages?: readonly string[];
  /** Docker Engine (the docker step and its settings). @default true */
  readonly docker?: boolean;
  /**
   * A data volume mounted at DATA_DIR (the data-volume step, the grow-data unit and udev rule). False for a pool
   * member: its state is disposable and lives on its root disk, DATA_DIR bind-mounted on itself (member-disk.sh),
   * and its lib.sh reads its addresses from instance metadata (member-lib.sh). @default true
   */
  readonly dataVolume?: boolean;
}

/** The cloud-config document of a host, before Terraform escaping (what `cloud-init schema` checks). */
export function hostCloudConfig(props: HostUserDataProps): CloudConfig {
  const docker = props.docker ?? true;
  const dataVolume = props.dataVolume ?? true;
  // A member's disk step in place of the data volume's: its DATA_DIR on the root disk, a mount point all the same.
  const script = (step: string): string => (!dataVolume && step === 'data-volume' ? 'member-disk' : step);
  const steps = BOOTSTRAP_STEPS.filter((name) => docker || name !== 'docker').map<WriteFile>((name, i) => ({
    path: `${STEPS_DIR}/${String((i + 1) * 10).padStart(2, '0')}-${script(name)}.sh`,
    content: readScript(script(name)),
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
    write_files: [{ path: HOST_ENV_FILE, content: renderEnvFile(props.env), permissions: '0644' }, ...commonFiles(docker, dataVolume), ...steps],
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
    const escaped: CloudConfig = { ...doc, write_files: doc.write_files.map((f) => ({ ...f, content: terraformLiteral(f.content) })) };
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
