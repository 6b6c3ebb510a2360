/**
 * Names an environment claims: DNS names, resource names, bucket names, SSM paths, the state location.
 * Derived once, here; the stack, the constructs, the audit and the tests all read them from this module.
 */
import { createHash } from 'node:crypto';
import type { AnyRole, EnvironmentConfig, Pool, Role } from './schema';

/** The environment's private buckets, by purpose. */
export const BUCKETS = ['recordings', 'uploads', 'backups', 'config'] as const;
export type BucketPurpose = (typeof BUCKETS)[number];

export function sipDomainOf(config: EnvironmentConfig): string {
  return [config.dns.subdomain, config.dns.domain].filter((p) => p !== '').join('.');
}

export function fqdnOf(config: EnvironmentConfig, role: Role): string {
  return [config.dns.hostNames[role], sipDomainOf(config)].join('.');
}

/** Every host's public name, by role. */
export function fqdnsOf(config: EnvironmentConfig, roles: readonly Role[]): Record<Role, string> {
  return Object.fromEntries(roles.map((r) => [r, fqdnOf(config, r)])) as Record<Role, string>;
}

/** Name of the environment's resources ("weebeetalk-staging"), or of one host's or pool's ("weebeetalk-staging-chat"). */
export function resourceNameOf(config: Pick<EnvironmentConfig, 'name'>, role?: AnyRole): string {
  return role === undefined ? `weebeetalk-${config.name}` : `weebeetalk-${config.name}-${role}`;
}

/** Stable, globally unique bucket names derived from the domain and environment (no randomness at synth). */
export function bucketNameOf(config: EnvironmentConfig, purpose: BucketPurpose): string {
  const hash = createHash('sha256').update(`${config.dns.domain}/${config.name}`).digest('hex').slice(0, 10);
  return `weebeetalk-${config.name}-${purpose}-${hash}`;
}

/** Root of the environment's SSM parameters, e.g. /weebeetalk/staging; a host reads only `<root>/<role>`. */
export function ssmRootOf(config: Pick<EnvironmentConfig, 'name'>): string {
  return `/weebeetalk/${config.name}`;
}

/** Tag the snapshot policy selects the data volumes by. */
export function snapshotTagOf(config: Pick<EnvironmentConfig, 'name'>): { readonly key: string; readonly value: string } {
  return { key: 'weebeetalk:snapshot', value: `${config.name}-daily` };
}

/** Key of the environment's state object in its S3 backend. */
export function stateKeyOf(config: EnvironmentConfig, state: { readonly key?: string }): string {
  return state.key ?? `weebeetalk/${config.name}/terraform.tfstate`;
}

/** A pool's Auto Scaling group, e.g. weebeetalk-staging-jibri (its members' IAM grants name it). */
export function poolGroupOf(config: Pick<EnvironmentConfig, 'name'>, pool: Pool): string {
  return resourceNameOf(config, pool);
}

/** The termination lifecycle hook a pool member drains under before it goes. */
export function drainHookOf(config: Pick<EnvironmentConfig, 'name'>, pool: Pool): string {
  return `${poolGroupOf(config, pool)}-drain`;
}

/**
 * The pools' scaling metrics: every recorder (the meet host's own Jibri and each member) publishes IdleRecorders
 * (1 idle, 0 busy) and every bridge BridgeStress (JVB's stress_level), each with the dimension Pool = the group's
 * name, once a minute; the scaling alarms read them (constructs/pool.ts). The namespace is the environment's: a
 * host's PutMetricData is allowed there only.
 */
export const POOL_METRICS = { idleRecorders: 'IdleRecorders', bridgeStress: 'BridgeStress', dimension: 'Pool' } as const;
export function metricsNamespaceOf(config: Pick<EnvironmentConfig, 'name'>): string {
  return `WeeBeeTalk/${config.name}`;
}

/** The environment's customer-managed KMS key (kms.customerManagedKey), e.g. alias/weebeetalk-production. */
export function keyAliasOf(config: Pick<EnvironmentConfig, 'name'>): string {
  return `alias/${resourceNameOf(config)}`;
}

/** EC2 Auto Scaling's default service-linked role: it launches the pools' members and encrypts their volumes. */
export const AUTO_SCALING_SERVICE_LINKED_ROLE = 'aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling';
