/**
 * The audit's privacy section: the settings in force per environment, read where they take effect (the key and the
 * backend, how each secret is written, Rocket.Chat's container settings and Jitsi's in the bundles), and the gate on
 * those the policy requires: no secret in the state everywhere, Rocket.Chat's and Jitsi's essentials in production.
 */
import { auditStack } from '../constructs/audit/stack-audit';
import type { PrivacySetting } from '../constructs/audit/privacy';
import type { Json } from '../constructs/audit/plan';
import { shipped } from './support/environments-dir';
import { synthesisFailure } from './support/synthesis-failure';
import { synthEnvironment, synthVariant, type Synthesized } from './support/synth';

const TODAY = new Date('2026-12-01T12:00:00Z');
const privacy = (s: Synthesized): Record<string, PrivacySetting> => Object.fromEntries(auditStack(s.json as unknown as Json, s.config).privacy.map((p) => [p.setting, p]));

describe('the privacy section', () => {
  test('production: its key, its state key, no secret in the state, and the chat and meeting settings as the containers get them, the required ones gated', () => {
    const p = privacy(synthEnvironment('production'));
    expect(p['Encryption at rest'].value).toBe('customer-managed key alias/weebeetalk-production: rotation yearly, deletion window 30 days, prevent_destroy');
    expect(p['Terraform state'].value).toMatch(/^s3:\/\/.+\/weebeetalk\/production\/terraform\.tfstate, SSE-KMS alias\/weebeetalk-terraform-state$/);
    expect(p['Secrets in Terraform state']).toEqual({
      area: 'secrets',
      setting: 'Secrets in Terraform state',
      value: expect.stringMatching(/^none: \d+ SecureStrings written write-only \(value_wo\)$/),
      rule: 'WBT-PRIV-STATE',
      verdict: 'ok',
    });
    expect(Object.fromEntries(Object.values(p).map((x) => [x.setting, [x.value, x.rule ?? '-', x.verdict]]))).toMatchObject({
      Registration: ['Disabled', 'WBT-PRIV-CHAT', 'ok'],
      'End-to-end encryption': ['available (nothing disables it)', 'WBT-PRIV-MEET', 'ok'],
      'Password policy': ['at least 14 characters, one each of lowercase, uppercase, number, special character; history 5 passwords', 'WBT-PRIV-CHAT', 'ok'],
      'Repeated failed logins': ['a user blocked after 10 failures, for 15 minutes', 'WBT-PRIV-CHAT', 'ok'],
      'Two-factor authentication': ['available: authenticator app on, email on', 'WBT-PRIV-CHAT', 'ok'],
      'File downloads': ['logged-in users only', 'WBT-PRIV-CHAT', 'ok'],
      'Login logs': ['on (user, address, user agent)', '-', 'reported'],
      'Instance metadata': ['Rocket.Chat only (the DOCKER-USER guard)', '-', 'reported'],
      Lobby: ['available (a moderator turns it on per meeting)', 'WBT-PRIV-MEET', 'ok'],
      Tokens: ['issuer weebeetalk-production, audience RocketChat, required', 'WBT-PRIV-MEET', 'ok'],
    });
    // Rocket.Chat's end-to-end encryption has its own line (two settings share the name "End-to-end encryption").
    const chatE2e = auditStack(synthEnvironment('production').json as unknown as Json, synthEnvironment('production').config).privacy.find(
      (x) => x.area === 'chat' && x.setting === 'End-to-end encryption',
    );
    expect(chatE2e).toEqual({ area: 'chat', setting: 'End-to-end encryption', value: 'available; new direct messages off, private rooms off by default', rule: 'WBT-PRIV-CHAT', verdict: 'ok' });
  });

  test("staging reports the same settings, gating only the state's; its keys are AWS managed and its state a local file", () => {
    const all = auditStack(synthEnvironment('staging').json as unknown as Json, synthEnvironment('staging').config).privacy;
    expect(all.filter((x) => x.rule !== undefined).map((x) => x.rule)).toEqual(['WBT-PRIV-STATE']);
    const p = Object.fromEntries(all.map((x) => [x.setting, x.value]));
    expect(p['Encryption at rest']).toBe('AWS managed keys (aws/ebs, SSE-S3, aws/ssm)');
    expect(p['Terraform state']).toBe('a local file');
  });

  test('follows the configuration: a switch turned off in staging shows as off, not as the default', () => {
    const s = synthVariant('staging-relaxed', 'staging', { rocketchat: { security: { e2e: false, e2eByDefault: false, twoFactor: false } }, jitsi: { security: { lobby: false } } });
    const all = auditStack(s.json as unknown as Json, s.config).privacy;
    const get = (area: string, setting: string): PrivacySetting | undefined => all.find((x) => x.area === area && x.setting === setting);
    expect(get('chat', 'End-to-end encryption')?.value).toMatch(/^off;/);
    expect(get('chat', 'Two-factor authentication')?.value).toBe('off');
    expect(get('meetings', 'Lobby')?.value).toBe('off');
    expect(all.every((x) => x.verdict !== 'violation')).toBe(true);
  });
});

describe('the privacy gate', () => {
  /** The block `cdktf synth` prints when production with `override` fails (staging as shipped). */
  const productionFailure = (override: Record<string, unknown>): string => synthesisFailure({ staging: shipped('staging'), production: shipped('production', override) }, TODAY);

  test('production Rocket.Chat without end-to-end encryption or two-factor authentication fails synthesis on its bundle, saying what and how to fix it', () => {
    const block = productionFailure({ rocketchat: { security: { e2e: false, e2eByDefault: false, twoFactor: false } } });
    expect(block).toMatch(/^Synthesis of environment "production" failed:\n {2}- \[production\/chat-configuration\/bundle\] WBT-PRIV-CHAT /);
    expect(block).toContain('End-to-end encryption: off;');
    expect(block).toContain('Two-factor authentication: off');
    expect(block).toContain('Fix: keep those rocketchat.security settings on');
    expect(block).not.toContain('staging');
  });

  test('production Jitsi without the lobby fails synthesis on the meet bundle', () => {
    const block = productionFailure({ jitsi: { security: { lobby: false } } });
    expect(block).toMatch(/^Synthesis of environment "production" failed:\n {2}- \[production\/meet-configuration\/bundle\] WBT-PRIV-MEET .*Lobby: off/);
  });
});
