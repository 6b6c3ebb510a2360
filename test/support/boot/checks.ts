/**
 * What the boot tests read back from a sandboxed host: the compose units the plan writes, what the systemctl
 * stand-in started and with which environment, and the command a unit of the plan runs. Shared by the boot suites.
 */
import type { HostSandbox, Logged } from './harness';
import type { HostPlan } from './plan';

/** A start the systemctl stand-in recorded (a compose unit's with the environment compose would read). */
export interface Started {
  readonly start: string;
  readonly workingDirectory: string;
  readonly execStart: string;
  readonly stale: boolean;
  readonly compose: { files: string[]; envMode: string; variables: { name: string; length: number }[] } | null;
}

export const started = (box: HostSandbox): Started[] =>
  box
    .log<Logged>('commands.jsonl')
    .filter((c) => c.cmd === 'systemctl' && c.extra !== null)
    .map((c) => c.extra as unknown as Started);

/** Every file the plan gives the host: its user-data's and its bundle's. */
export const planFiles = (plan: HostPlan): { path: string; content: string }[] => [...plan.writeFiles, ...plan.configuration.files];

/** The compose units the plan writes: unit name to its WorkingDirectory. */
export function composeUnits(plan: HostPlan): Map<string, string> {
  const units = new Map<string, string>();
  for (const f of planFiles(plan)) {
    const m = /^\/etc\/systemd\/system\/([^/]+\.service)$/.exec(f.path);
    if (m && /^ExecStart=.*docker compose up/m.test(f.content)) units.set(m[1], /^WorkingDirectory=(.*)$/m.exec(f.content)?.[1] ?? '');
  }
  return units;
}

/** What a unit of the plan runs (its ExecStart), as a timer would start it. */
export const execOf = (plan: HostPlan, unit: string): string => /^ExecStart=(.*)$/m.exec(planFiles(plan).find((f) => f.path === `/etc/systemd/system/${unit}`)?.content ?? '')?.[1] ?? '';

/** A value of the host's config.env (the applied bundle's settings) as the plan writes it. */
export const settingOf = (plan: HostPlan, key: string): string =>
  new RegExp(`^${key}="([^"]*)"$`, 'm').exec(plan.configuration.files.find((f) => f.path === '/etc/weebeetalk/config.env')?.content ?? '')?.[1] ?? '';
