/**
 * Generated Asterisk files read against the rest of the plan: what a real daemon cannot show, because the
 * security group lives in AWS. Read from the synthesized plan (the pbx's configuration bundle), as the host receives it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { DIAL_IN_PROMPTS } from '../userdata/pbx/asterisk-config';
import { ASTERISK_SOUNDS } from '../userdata/pbx';
import { SID_ROOT } from './support/asterisk/daemon';
import { asteriskFile, parseConf, pbxIngress, pbxPlan, planFile, planSetting, values } from './support/asterisk/plan';
import { describeAsRoot } from './support/root';
import { shippedNames, synthEnvironment } from './support/synth';

describe.each(shippedNames())('%s: Asterisk files against the plan', (env) => {
  const s = synthEnvironment(env);
  const plan = pbxPlan(s);

  it("rtp.conf's rtpstart/rtpend are exactly the pbx security group's UDP media range", () => {
    const rtp = parseConf(asteriskFile(plan, 'rtp.conf'));
    const range = { from: Number(values(rtp, 'general', 'rtpstart')[0]), to: Number(values(rtp, 'general', 'rtpend')[0]) };
    // Every UDP rule that is not SIP signalling carries media.
    const media = pbxIngress(s).filter((r) => r.protocol === 'udp' && !(r.from <= 5060 && 5060 <= r.to));
    expect(media.length).toBeGreaterThan(0);
    for (const rule of media) expect({ rule: rule.address, from: rule.from, to: rule.to }).toEqual({ rule: rule.address, ...range });
  });
});

describeAsRoot("the dial-in's prompts: Debian's GSM core sounds (the chroot has the package the pbx hook installs)", [SID_ROOT])('the prompts the dialplan plays', () => {
  it.each(shippedNames())("%s: the compose file mounts Debian's en prompts read-only at the image's sounds/en, and each prompt the dialplan plays is there", (env) => {
    const plan = pbxPlan(synthEnvironment(env));
    const compose = parse(planFile(plan, `${planSetting(plan, 'WBT_ASTERISK_DIR')}/compose.yml`)) as { services: { asterisk: { volumes: string[] } } };
    const mount = compose.services.asterisk.volumes.map((v) => v.split(':')).find(([, inside]) => inside === ASTERISK_SOUNDS.container);
    expect(mount).toEqual([planSetting(plan, 'WBT_ASTERISK_SOUNDS'), ASTERISK_SOUNDS.container, 'ro']);
    expect(planSetting(plan, 'WBT_ASTERISK_SOUNDS_PACKAGE')).toBe(ASTERISK_SOUNDS.package);
    // What Playback and Read play (file names; a variable is one of the PROMPT values the dialplan sets).
    const dialplan = asteriskFile(plan, 'extensions.conf');
    const played = [
      ...[...dialplan.matchAll(/(?:Playback|Read)\(([^)]*)\)/g)].flatMap((m) => (m[0].startsWith('Read') ? [m[1].split(',')[1] ?? ''] : [m[1]])),
      ...[...dialplan.matchAll(/Set\(PROMPT=([\w-]+)\)/g)].map((m) => m[1]),
    ]
      .flatMap((arg) => arg.split('&'))
      .filter((f) => f && !f.includes('$'));
    const prompts = [...new Set(played)].sort();
    if (synthEnvironment(env).config.jitsi.jigasi) expect(prompts).toEqual(expect.arrayContaining(Object.values(DIAL_IN_PROMPTS)));
    expect(prompts.filter((p) => !existsSync(join(SID_ROOT, mount![0], `${p}.gsm`)))).toEqual([]);
  });

  it("the chroot's prompts are the package version Debian 12 ships (what the pbx hook installs)", () => {
    const version = (status: string): string | undefined => new RegExp(`^Package: ${ASTERISK_SOUNDS.package}\\n(?:[^\\n]+\\n)*?Version: (\\S+)`, 'm').exec(status)?.[1];
    expect(version(readFileSync(join(SID_ROOT, 'var/lib/dpkg/status'), 'utf8'))).toBe('1.6.1-1');
  });
});
