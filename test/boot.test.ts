/**
 * First boot of every host of every environment, for real: the user-data as synthesized, rendered as cloud-init
 * renders it, the real bootstrap scripts run as root in a sandbox (test/support/boot/), against stand-ins that
 * answer as AWS does from the synthesized plan (IMDSv2 with the plan's tags, SSM with the plan's parameters and
 * the host role's policy, Route53 and S3 against the same policy, public DNS from the plan's A records).
 */
import { lstatSync } from 'node:fs';
import { ROLES, type Role } from '../config/schema';
import { BOOT_ROOT, BootKit, DOCKER_KEY, HostSandbox, loopsUnder, rootTree, type Logged } from './support/boot/harness';
import { hostPlan, type HostPlan } from './support/boot/plan';
import { describeAsRoot } from './support/root';
import { shippedNames, synthEnvironment } from './support/synth';

jest.setTimeout(60_000);

interface Started {
  readonly start: string;
  readonly workingDirectory: string;
  readonly stale: boolean;
  readonly compose: { files: string[]; envMode: string; variables: { name: string; length: number }[] } | null;
}

const started = (box: HostSandbox): Started[] =>
  box
    .log<Logged>('commands.jsonl')
    .filter((c) => c.cmd === 'systemctl' && c.extra !== null)
    .map((c) => c.extra as unknown as Started);

/** The compose units the plan writes: unit name to its WorkingDirectory. */
function composeUnits(plan: HostPlan): Map<string, string> {
  const units = new Map<string, string>();
  for (const f of plan.writeFiles) {
    const m = /^\/etc\/systemd\/system\/([^/]+\.service)$/.exec(f.path);
    if (m && /^ExecStart=.*docker compose up/m.test(f.content)) units.set(m[1], /^WorkingDirectory=(.*)$/m.exec(f.content)?.[1] ?? '');
  }
  return units;
}

/** Files whose secrets the host writes, by role (the secret scan must also find them). */
const SECRET_FILES: Record<Role, string[]> = {
  chat: ['/opt/weebeetalk/rocketchat-compose/.env'],
  meet: ['/opt/weebeetalk/docker-jitsi-meet/.env', '/srv/weebeetalk/jitsi/passwords.env'],
  pbx: ['/srv/weebeetalk/asterisk/etc/pjsip.auth.conf'],
};

describeAsRoot('first boot of every host in a sandbox (test/boot.test.ts)', [BOOT_ROOT, DOCKER_KEY])('first boot', () => {
  let kit: BootKit;
  beforeAll(() => {
    kit = new BootKit();
  });
  afterAll(() => {
    const left = loopsUnder(kit.dir);
    kit.cleanup();
    expect(left).toEqual([]);
  });

  const hosts = shippedNames().flatMap((env) => ROLES.map((role) => [env, role] as const));

  it.concurrent.each(hosts)('%s %s: boots, a second run changes nothing, a replacement comes back with its data', async (env, role) => {
    const plan = hostPlan(synthEnvironment(env), role);
    expect(plan.unrenderedKeys).toEqual([]);
    const box = new HostSandbox(kit, plan, { generatedSecrets: role === 'meet' ? ['/srv/weebeetalk/jitsi/passwords.env'] : [] });
    const boot = await box.firstBoot(['run', 'echo kept > /srv/weebeetalk/marker'], box.inspecting(SECRET_FILES[role]));
    expect([boot.codes, boot.output]).toEqual([[0, 0, 0], expect.stringContaining('bootstrap complete')]);

    // Every file of the user-data, with its owner and mode.
    for (const f of plan.writeFiles) {
      const st = lstatSync(box.upper(f.path));
      expect([f.path, (st.mode & 0o7777).toString(8).padStart(4, '0'), `${st.uid}:${st.gid}`]).toEqual([f.path, f.permissions, f.owner === 'root:root' ? '0:0' : f.owner]);
    }

    // Every file holding a secret: 0600 and unreadable by any login user.
    const inspected = box.inspection();
    expect(inspected.files.filter((f) => !f.exists).map((f) => f.path)).toEqual([]);
    const readable = plan.world.parameters.filter((p) => p.type === 'SecureString' && p.name.startsWith(`/weebeetalk/${env}/${role}/`));
    expect(readable.length).toBeGreaterThan(0);
    const holders = [...inspected.secrets, ...inspected.files];
    for (const h of holders) expect([h.path, h.mode, h.readableBy]).toEqual([h.path, '600', []]);
    for (const p of SECRET_FILES[role]) expect(inspected.secrets.map((s) => s.path)).toContain(p);

    // Each compose stack starts in its directory with a complete environment.
    const units = composeUnits(plan);
    expect(units.size).toBe(1);
    const starts = started(box);
    for (const [unit, dir] of units) {
      const s = starts.filter((x) => x.start === unit);
      expect(s.length).toBeGreaterThan(0);
      const last = s[s.length - 1];
      expect([unit, last.workingDirectory, last.stale]).toEqual([unit, dir, false]);
      expect(last.compose?.variables.filter((v) => v.length === 0).map((v) => v.name)).toEqual([]);
      if (last.compose?.envMode !== 'none') expect(last.compose?.envMode).toBe('600 root');
    }
    expect(starts.filter((x) => x.stale)).toEqual([]);

    // A second run changes nothing.
    const tree = rootTree(box);
    const volume = inspected.volume;
    const again = await box.rerun(box.inspecting(SECRET_FILES[role]));
    expect([again.codes, again.output]).toEqual([[0, 0], expect.stringContaining('bootstrap complete')]);
    expect(again.output).toContain('keeping its data');
    expect(Object.fromEntries(rootTree(box))).toEqual(Object.fromEntries(tree));
    expect(box.inspection().volume).toEqual(volume);

    // A replacement: a fresh root filesystem, the same volume.
    box.newInstance();
    const replaced = await box.firstBoot(box.inspecting(SECRET_FILES[role]));
    expect([replaced.codes, replaced.output]).toEqual([[0, 0], expect.stringContaining('bootstrap complete')]);
    expect(replaced.output).not.toContain('creating ext4');
    expect(box.inspection().volume).toEqual(volume);
    expect(volume?.files).toContain('./marker');
  });
});
