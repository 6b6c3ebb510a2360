/**
 * What several test files find in a synthesized plan the same way: each bucket by its purpose and the resources
 * that configure it, the hosted zone's id, and the SSM parameters an environment must hold.
 */
import { dataSources, resources, single, type Item, type Synthesized } from './synth';

/** Hand-written from the design (not read from config/names.ts): what each bucket is for. */
export const PURPOSES = ['recordings', 'uploads', 'backups', 'config'] as const;
export type Purpose = (typeof PURPOSES)[number];

/** The four buckets of the stack, by purpose. */
export function bucketsOf(s: Synthesized): Record<Purpose, Item> {
  const all = resources(s, 'aws_s3_bucket');
  expect(all).toHaveLength(4);
  const out = {} as Record<Purpose, Item>;
  for (const purpose of PURPOSES) out[purpose] = single(all, `${purpose} bucket`, (b) => String(b.block.bucket).includes(`-${purpose}-`));
  return out;
}

/** The one resource of a type that configures this bucket. */
export function companion(s: Synthesized, type: string, bucket: Item): Item {
  return single(resources(s, type), `${type} of ${bucket.address}`, (r) => r.block.bucket === bucket.ref('id') || r.block.bucket === bucket.ref('bucket'));
}

/** The hosted zone's id as the records reference it: the created zone's, or the looked-up one's. */
export function zoneIdRef(s: Synthesized): string {
  if (s.config.dns.zone === 'create') return single(resources(s, 'aws_route53_zone'), 'created zone').ref('zone_id');
  return single(dataSources(s, 'aws_route53_zone'), 'looked-up zone').ref('zone_id');
}

/**
 * The shared secrets of an environment (hand-written from the design): one parameter each, in its owner's folder,
 * and the other roles that read it.
 */
export function sharedSecrets(s: Pick<Synthesized, 'config'>): Record<string, string[]> {
  const c = s.config;
  return {
    // Both ends of the Jigasi trunk.
    ...(c.jitsi.jigasi ? { 'meet/jigasi-sip-password': ['pbx'] } : {}),
    // The TURN relay's secret: coturn's static-auth-secret is also Prosody's TURN_CREDENTIALS.
    ...(c.turn.enabled ? { 'turn/static-auth-secret': ['meet'] } : {}),
    // The pools' XMPP accounts: the meet host's Prosody registers them, the members log in with them.
    ...(c.jitsi.jibriPool.enabled ? { 'meet/jibri-xmpp-password': ['jibri'], 'meet/jibri-recorder-password': ['jibri'] } : {}),
    ...(c.jitsi.jvbPool.enabled ? { 'meet/jvb-auth-password': ['jvb'] } : {}),
  };
}

/** The secrets every environment must hold in SSM, by full name (hand-written from the design). */
export function expectedSecrets(s: Synthesized): string[] {
  const c = s.config;
  return [
    'chat/admin-password',
    ...(c.jitsi.auth === 'jwt' ? ['meet/jwt-app-id', 'meet/jwt-app-secret'] : []),
    // The dial-in mapper's PIN key (config/dial-in.ts): the meet host's alone.
    ...(c.jitsi.jigasi ? ['meet/dial-in-pin-key'] : []),
    ...c.sip.users.map((u) => `pbx/sip-users/${u.extension}`),
    ...Object.keys(sharedSecrets(s)),
  ]
    .map((p) => `/weebeetalk/${c.name}/${p}`)
    .sort();
}

/** The parameter of each host and pool naming its current configuration bundle (not a secret: an S3 location); turn's only with the relay. */
export function bundlePointers(s: Synthesized): string[] {
  const pools = [...(s.config.jitsi.jibriPool.enabled ? ['jibri'] : []), ...(s.config.jitsi.jvbPool.enabled ? ['jvb'] : [])];
  return ['chat', 'meet', 'pbx', ...(s.config.turn.enabled ? ['turn'] : []), ...pools].map((role) => `/weebeetalk/${s.config.name}/${role}/bundle`);
}

/** Every SSM parameter an environment must hold: the secrets and the bundle pointers, sorted. */
export function expectedParameters(s: Synthesized): string[] {
  return [...expectedSecrets(s), ...bundlePointers(s)].sort();
}
