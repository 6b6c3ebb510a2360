/**
 * First boot of every host of every environment, for real: the user-data as synthesized, rendered as cloud-init
 * renders it, the real bootstrap scripts run as root in a sandbox (test/support/boot/), against stand-ins that
 * answer as AWS does from the synthesized plan.
 */
import { ROLES } from '../config/schema';
import { BOOT_ROOT, BootKit, DOCKER_KEY, HostSandbox, loopsUnder } from './support/boot/harness';
import { hostPlan } from './support/boot/plan';
import { describeAsRoot } from './support/root';
import { shippedNames, synthEnvironment } from './support/synth';

jest.setTimeout(120_000);

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
  it.each(hosts)('%s %s boots', async (env, role) => {
    const box = new HostSandbox(kit, hostPlan(synthEnvironment(env), role));
    const first = await box.firstBoot();
    expect([first.code, first.output]).toEqual([0, expect.stringContaining('bootstrap complete')]);
  });
});
