/**
 * Generated Asterisk files read against the rest of the plan: what a real daemon cannot show, because the
 * security group lives in AWS. Read from the synthesized plan (the pbx's configuration bundle), as the host receives it.
 */
import { asteriskFile, parseConf, pbxIngress, pbxPlan, values } from './support/asterisk/plan';
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
