/** systemd units as typed data: one unit per Docker Compose stack, and timers for periodic jobs. */
import type { WriteFile } from './cloud-config';
import { DATA_DIR } from './host-user-data';

type Section = Record<string, string | readonly string[]>;

export function renderUnit(sections: Record<string, Section>): string {
  return Object.entries(sections)
    .map(([name, keys]) => {
      const lines = Object.entries(keys).flatMap(([k, v]) => (Array.isArray(v) ? v : [v]).map((x) => `${k}=${x}`));
      return `[${name}]\n${lines.join('\n')}\n`;
    })
    .join('\n');
}

/** A unit that starts a compose project on boot (after Docker and the data volume) and stops it cleanly. */
export function composeUnit(description: string, workingDirectory: string): string {
  return renderUnit({
    Unit: {
      Description: description,
      Requires: 'docker.service',
      After: ['docker.service', 'network-online.target'],
      Wants: 'network-online.target',
      RequiresMountsFor: DATA_DIR,
    },
    Service: {
      Type: 'oneshot',
      RemainAfterExit: 'yes',
      WorkingDirectory: workingDirectory,
      // COMPOSE_FILE and the settings come from the .env in the working directory.
      ExecStart: '/usr/bin/docker compose up --detach --remove-orphans',
      ExecStop: '/usr/bin/docker compose down',
      TimeoutStartSec: '20min',
    },
    Install: { WantedBy: 'multi-user.target' },
  });
}

/** /etc/systemd/system/<name>.service, a oneshot after Docker and the data volume, and <name>.timer that runs it. */
export function scheduledJob(name: string, description: string, command: string, timer: Record<string, string>): WriteFile[] {
  const unit = (suffix: string, content: string): WriteFile => ({ path: `/etc/systemd/system/${name}.${suffix}`, content, permissions: '0644' });
  return [
    unit(
      'service',
      renderUnit({
        Unit: { Description: description, Requires: 'docker.service', After: 'docker.service', RequiresMountsFor: DATA_DIR },
        Service: { Type: 'oneshot', ExecStart: command },
      }),
    ),
    unit('timer', renderUnit({ Unit: { Description: `${description} (timer)` }, Timer: timer, Install: { WantedBy: 'timers.target' } })),
  ];
}

/** Daily at a fixed time; a run missed while the host was off happens at the next boot. */
export const DAILY_AT = (time: string): Record<string, string> => ({ OnCalendar: time, Persistent: 'true', RandomizedDelaySec: '15min' });
