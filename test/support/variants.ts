/**
 * The configuration variants several test files synthesize (each file synthesizes them once: test/support/synth.ts
 * caches per file). Labels are fixed here, so a label always means the same override.
 */
import { synthEnvironment, synthVariant, type Synthesized } from './synth';

/** The port plan's optional rows. */
export const portVariants = {
  /** No Jigasi (so no SIP from meet), WSS for WebRTC phones, Jitsi on 8443. */
  'jigasi-off-wss-on': () => synthVariant('jigasi-off-wss-on', 'staging', { jitsi: { jigasi: false, httpsPort: 8443 }, sip: { wss: true, dialIn: { rooms: [] } } }),
  /** Administrators' SSH and a SIP trunk, on top of staging's phones and Jigasi. */
  'admin-and-trunk': () =>
    synthVariant('admin-and-trunk', 'staging', {
      adminCidrs: ['203.0.113.0/28', '198.18.0.0/15'],
      sip: { trunkSignallingCidrs: ['192.0.2.0/28'], trunkMediaCidrs: ['192.0.2.0/24', '203.0.113.128/25'] },
    }),
} as const;

/** Staging with its own retention, a created zone with an https iodef, no Jibri, a trunk and no phones. */
export const tuned = (): Synthesized =>
  synthVariant('tuned', 'staging', {
    storage: { recordingsRetentionDays: 7, backupRetentionDays: 21, noncurrentVersionDays: 5 },
    dns: { zone: 'create', caaIodef: 'https://security.example.org/caa' },
    jitsi: { jibri: false, httpsPort: 8443 },
    sip: { clientCidrs: [], users: [], trunkSignallingCidrs: ['192.0.2.0/28'] },
  });

/** Staging with no SIP networks at all. */
export const noSip = (): Synthesized => synthVariant('no-sip', 'staging', { sip: { clientCidrs: [], users: [] } });

/** Staging with the TURN relay on (off in staging by default): a fourth host, its group, name, secret and bundle. */
export const stagingTurn = (): Synthesized => synthVariant('staging-turn', 'staging', { turn: { enabled: true } });

/**
 * The shipped environments (staging without the TURN relay, production with it) and the tuned variant: what storage,
 * DNS, IAM, secrets and outputs are checked on. Staging with the relay (stagingTurn) has tests of its own where it
 * differs (what it adds to staging); production checks the relay's host in every one of these.
 */
export const SHIPPED_AND_TUNED: [string, () => Synthesized][] = [
  ['staging', () => synthEnvironment('staging')],
  ['production', () => synthEnvironment('production')],
  ['tuned', tuned],
];
