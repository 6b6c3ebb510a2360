/** systemd units as typed data: one unit per Docker Compose stack, and timers for periodic jobs. */
import type { BundleFile } from './bundle';
import { DATA_DIR } from './paths';

type Section = Record<string, string | readonly string[]>;

export function renderUnit(sections: Record<string, Section>): string {
  return Object.entries(sections)
    .map(([name, keys]) => {
      const lines = Object.entries(keys).flatMap(([k, v]) => (Array.isArray(v) ? v : [v]).map((x) => `${k}=${x}`));
      return `[${name}]\n${lines.join('\n')}\n`;
    })
    .join('\n');
}

/** What a compose unit runs beyond the defaults (a pool member's one service, without a data volume). */
export interface ComposeUnitOptions {
  /** Only these services, without their dependencies (`up --no-deps`): a pool member's jibri or jvb. @default all */
  readonly services?: readonly string[];
  /** Wait for the data volume at DATA_DIR. @default true */
  readonly dataVolume?: boolean;
}

/** A unit that starts a compose project on boot (after Docker and the data volume) and stops it cleanly. */
export function composeUnit(description: string, workingDirectory: string, options: ComposeUnitOptions = {}): string {
  const services = options.services ?? [];
  return renderUnit({
    Unit: {
      Description: description,
      Requires: 'docker.service',
      After: ['docker.service', 'network-online.target'],
      Wants: 'network-online.target',
      ...((options.dataVolume ?? true) ? { RequiresMountsFor: DATA_DIR } : {}),
    },
    Service: {
      Type: 'oneshot',
      RemainAfterExit: 'yes',
      WorkingDirectory: workingDirectory,
      // COMPOSE_FILE and the settings come from the .env in the working directory.
      ExecStart: services.length === 0 ? '/usr/bin/docker compose up --detach --remove-orphans' : `/usr/bin/docker compose up --detach --no-deps ${services.join(' ')}`,
      ExecStop: '/usr/bin/docker compose down',
      TimeoutStartSec: '20min',
    },
    Install: { WantedBy: 'multi-user.target' },
  });
}

/** A unit file in the bundle: a change makes the hook run `systemctl daemon-reload`. */
export function unitFile(unit: string, content: string, services: readonly string[] = []): BundleFile {
  return { path: `/etc/systemd/system/${unit}`, content, mode: '0644', services: ['systemd', ...services] };
}

/**
 * /etc/systemd/system/<name>.service, a oneshot after Docker and the data volume (where there is one: not on a pool
 * member, `dataVolume: false`), and <name>.timer that runs it.
 */
export function scheduledJob(name: string, description: string, command: string, timer: Record<string, string>, options: { readonly dataVolume?: boolean } = {}): BundleFile[] {
  const unit = (suffix: string, content: string): BundleFile => unitFile(`${name}.${suffix}`, content);
  return [
    unit(
      'service',
      renderUnit({
        Unit: { Description: description, Requires: 'docker.service', After: 'docker.service', ...((options.dataVolume ?? true) ? { RequiresMountsFor: DATA_DIR } : {}) },
        Service: { Type: 'oneshot', ExecStart: command },
      }),
    ),
    unit('timer', renderUnit({ Unit: { Description: `${description} (timer)` }, Timer: timer, Install: { WantedBy: 'timers.target' } })),
  ];
}

/**
 * A oneshot that runs COMMAND before every start of Docker (at boot, `systemctl restart docker`, the automatic restart
 * after a crash): for host state that must be in place before any container runs and that Docker keeps, such as
 * rules in its DOCKER-USER chain (at boot, dockerd restarts the containers with a restart policy as part of its own
 * start: a unit ordered after it could leave them a moment without the rules). docker.service's start pulls it in
 * (WantedBy: its start and restart jobs pull in what it Wants) and waits for it (Before). Not RemainAfterExit, so it
 * is inactive after each run and the next start of Docker runs it again; PartOf= would not: systemd propagates a
 * restart to a PartOf unit only as try-restart, which leaves an inactive unit alone (src/core/transaction.c). A
 * failure does not keep Docker from starting (Wants, not Requires).
 */
export function beforeDockerJob(description: string, command: string): string {
  return renderUnit({
    Unit: { Description: description, Before: 'docker.service' },
    Service: { Type: 'oneshot', ExecStart: command },
    Install: { WantedBy: 'docker.service' },
  });
}

/** Daily at a fixed time; a run missed while the host was off happens at the next boot. */
export const DAILY_AT = (time: string): Record<string, string> => ({ OnCalendar: time, Persistent: 'true', RandomizedDelaySec: '15min' });

/** What a sandboxed service may reach and read beyond nothing (sandboxedService). */
export interface SandboxOptions {
  /** Socket families (RestrictAddressFamilies). */
  readonly addressFamilies: readonly string[];
  /** The only peers it may exchange IP packets with (IPAddressAllow; everything else IPAddressDeny=any). @default any */
  readonly ipAllow?: readonly string[];
  /** Credentials systemd hands it in $CREDENTIALS_DIRECTORY (LoadCredential=NAME:PATH; PATH may stay root-only). @default none */
  readonly credentials?: Readonly<Record<string, string>>;
}

/**
 * A long-running daemon as an unprivileged, sandboxed service: a transient user of its own (DynamicUser, so no account
 * and no file of the host is its), no capabilities, a read-only view of the system, no home, private /tmp and devices,
 * no kernel or cgroup tunables, the system-service syscalls only, restarted when it fails. systemd 252 (Debian 12)
 * knows every directive here (systemd.exec(5), systemd.resource-control(5)).
 */
export function sandboxedService(unit: Section, exec: string, sandbox: SandboxOptions): string {
  return renderUnit({
    Unit: unit,
    Service: {
      Type: 'simple',
      ExecStart: exec,
      Restart: 'on-failure',
      RestartSec: '5s',
      DynamicUser: 'yes',
      ...(sandbox.credentials ? { LoadCredential: Object.entries(sandbox.credentials).map(([name, path]) => `${name}:${path}`) } : {}),
      NoNewPrivileges: 'yes',
      CapabilityBoundingSet: '',
      AmbientCapabilities: '',
      ProtectSystem: 'strict',
      ProtectHome: 'yes',
      PrivateTmp: 'yes',
      PrivateDevices: 'yes',
      PrivateUsers: 'yes',
      ProtectKernelTunables: 'yes',
      ProtectKernelModules: 'yes',
      ProtectKernelLogs: 'yes',
      ProtectControlGroups: 'yes',
      ProtectClock: 'yes',
      ProtectHostname: 'yes',
      ProtectProc: 'invisible',
      ProcSubset: 'pid',
      RestrictAddressFamilies: sandbox.addressFamilies.join(' '),
      RestrictNamespaces: 'yes',
      RestrictRealtime: 'yes',
      RestrictSUIDSGID: 'yes',
      LockPersonality: 'yes',
      MemoryDenyWriteExecute: 'yes',
      RemoveIPC: 'yes',
      SystemCallArchitectures: 'native',
      SystemCallFilter: ['@system-service', '~@privileged @resources'],
      UMask: '0077',
      ...(sandbox.ipAllow ? { IPAddressDeny: 'any', IPAddressAllow: sandbox.ipAllow.join(' ') } : {}),
    },
    Install: { WantedBy: 'multi-user.target' },
  });
}
