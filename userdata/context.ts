/** What a role's builders need to know about its environment: plain values, known at synthesis. */
import type { EnvironmentConfig, Pool, Role } from '../config/schema';
import { poolGroupOf } from '../config/names';
import { pathEnv, rolePathEnv } from './paths';

export interface RoleContext {
  readonly config: EnvironmentConfig;
  /** Public names of every host. */
  readonly fqdn: Readonly<Record<Role, string>>;
  /** Fixed private addresses of every host. */
  readonly privateIp: Readonly<Record<Role, string>>;
  readonly buckets: { readonly recordings: string; readonly uploads: string; readonly backups: string };
  /** This host's (or pool's) own SSM path, e.g. /weebeetalk/staging/chat. */
  readonly ssmPrefix: string;
}

/**
 * Stands for the host's Elastic IP in generated files; the apply tool substitutes it from the instance's
 * WeebeetalkPublicIp tag. Neither user-data nor a bundle holds a reference to a resource: user-data's would
 * be read only at apply time and `user_data_replace_on_change` would replace the host for any tag edit, and
 * a bundle is content-addressed at synthesis.
 */
export const PUBLIC_IP = '@PUBLIC_IP@';

/** Instance tags the bootstrap reads from instance metadata (IMDS allows no ":" in tag keys). */
export const INSTANCE_TAG = { publicIp: 'WeebeetalkPublicIp', dataVolume: 'WeebeetalkDataVolume' } as const;

/** The SSM parameter that names a host's current bundle (s3://<bucket>/bundles/<role>/<sha256>.json): the first boot reads it. */
export const bundleParameterOf = (ssmPrefix: string): string => `${ssmPrefix}/bundle`;

/**
 * The host's own settings (host.env, in user-data): what it is and where things are, nothing that changes with
 * its configuration. The tests hold it byte-identical across phones, networks, rooms and pins.
 */
export function hostEnv(ctx: Pick<RoleContext, 'config' | 'privateIp' | 'ssmPrefix'>, role: Role): Record<string, string> {
  return {
    WBT_ENVIRONMENT: ctx.config.name,
    WBT_ROLE: role,
    AWS_REGION: ctx.config.aws.region,
    ...pathEnv(),
    PRIVATE_IP: ctx.privateIp[role],
    SSM_PREFIX: ctx.ssmPrefix,
    WBT_BUNDLE_PARAMETER: bundleParameterOf(ctx.ssmPrefix),
  };
}

/** Settings every role's scripts read from config.env (the bundle's; they change in place). */
export function commonEnv(ctx: RoleContext, role: Role): Record<string, string> {
  return {
    ...rolePathEnv(role),
    FQDN: ctx.fqdn[role],
    LETSENCRYPT_EMAIL: ctx.config.letsEncryptEmail,
  };
}

/**
 * A pool member's host.env (its launch template's user-data): like a host's, without PRIVATE_IP (a member has no
 * fixed address: lib.sh's load_env reads it, the public address and the instance id from instance metadata when
 * WBT_POOL_GROUP is set) and with its Auto Scaling group's name, which also tells lib.sh it has no data volume.
 */
export function poolHostEnv(ctx: Pick<RoleContext, 'config' | 'ssmPrefix'>, pool: Pool): Record<string, string> {
  return {
    WBT_ENVIRONMENT: ctx.config.name,
    WBT_ROLE: pool,
    AWS_REGION: ctx.config.aws.region,
    ...pathEnv(),
    SSM_PREFIX: ctx.ssmPrefix,
    WBT_BUNDLE_PARAMETER: bundleParameterOf(ctx.ssmPrefix),
    WBT_POOL_GROUP: poolGroupOf(ctx.config, pool),
  };
}

/** Settings every pool member's scripts read from config.env: its paths (a member has no name of its own). */
export function poolCommonEnv(pool: Pool): Record<string, string> {
  return rolePathEnv(pool);
}
