/**
 * The stack's outputs (URLs, names, addresses, SSM session commands, bucket names), and the names the suites
 * read, hand-checked on staging.
 */
import { fqdnOf } from '../config/names';
import { ROLES } from '../config/schema';
import { bucketsOf, expectedParameters, PURPOSES } from './support/parts';
import { allResources, asObject, byNameTag, resources, synthEnvironment } from './support/synth';
import { SHIPPED_AND_TUNED as ENVS, tuned } from './support/variants';

describe.each(ENVS)('outputs of %s', (_label, synth) => {
  test('outputs: URLs, names, addresses, SSM session commands, bucket names', () => {
    const s = synth();
    const out = s.json.output ?? {};
    const value = (name: string): unknown => asObject(out[name], `output ${name}`).value;
    const port = s.config.jitsi.httpsPort === 443 ? '' : `:${s.config.jitsi.httpsPort}`;
    expect(value('chat_url')).toBe(`https://${fqdnOf(s.config, 'chat')}`);
    expect(value('meet_url')).toBe(`https://${fqdnOf(s.config, 'meet')}${port}`);
    const buckets = bucketsOf(s);
    for (const role of ROLES) {
      const instance = byNameTag(resources(s, 'aws_instance'), `weebeetalk-${s.config.name}-${role}`);
      const eip = byNameTag(resources(s, 'aws_eip'), `weebeetalk-${s.config.name}-${role}`);
      expect(value(`${role}_fqdn`)).toBe(fqdnOf(s.config, role));
      expect(value(`${role}_public_ip`)).toBe(eip.ref('public_ip'));
      expect(value(`${role}_ssm_session`)).toBe(`aws ssm start-session --region ${s.config.aws.region} --target ${instance.ref('id')}`);
    }
    for (const p of PURPOSES) expect(value(`${p}_bucket`)).toBe(buckets[p].ref('bucket'));
  });
});

test('staging names are hand-checked: the suite reads the right things', () => {
  const s = synthEnvironment('staging');
  expect(fqdnOf(s.config, 'chat')).toBe('chat.staging.weebeetalk.example');
  expect(expectedParameters(s)).toEqual([
    '/weebeetalk/staging/chat/admin-password',
    '/weebeetalk/staging/meet/jigasi-sip-password',
    '/weebeetalk/staging/meet/jwt-app-id',
    '/weebeetalk/staging/meet/jwt-app-secret',
    '/weebeetalk/staging/pbx/jigasi-sip-password',
    '/weebeetalk/staging/pbx/sip-users/1001',
    '/weebeetalk/staging/pbx/sip-users/1002',
  ]);
  expect(asObject(s.json.output?.meet_url, 'meet_url').value).toBe('https://meet.staging.weebeetalk.example');
  expect(asObject(tuned().json.output?.meet_url, 'meet_url').value).toBe('https://meet.staging.weebeetalk.example:8443');
  expect(allResources(s).length).toBeGreaterThan(50);
});
