/** What a role's user-data builder needs to know about its environment (values may be Terraform references). */
import type { EnvironmentConfig, Role } from '../config/schema';
import { pathEnv, rolePathEnv } from './paths';

export interface RoleContext {
  readonly config: EnvironmentConfig;
  /** Public names of every host. */
  readonly fqdn: Readonly<Record<Role, string>>;
  /** Fixed private addresses of every host. */
  readonly privateIp: Readonly<Record<Role, string>>;
  readonly buckets: { readonly recordings: string; readonly uploads: string; readonly backups: string };
  /** This host's own SSM path, e.g. /weebeetalk/staging/chat. */
  readonly ssmPrefix: string;
}

/**
 * Stands for the host's Elastic IP in generated files; the bootstrap substitutes it from the instance's
 * WeebeetalkPublicIp tag. User-data holds no reference to a resource that can change in place: if it did,
 * Terraform would read it only at apply time and `user_data_replace_on_change` would replace the host for
 * any tag edit.
 */
export const PUBLIC_IP = '@PUBLIC_IP@';

/** Instance tags the bootstrap reads from instance metadata (IMDS allows no ":" in tag keys). */
export const INSTANCE_TAG = { publicIp: 'WeebeetalkPublicIp', dataVolume: 'WeebeetalkDataVolume' } as const;

/** Settings every host's bootstrap reads from /etc/weebeetalk/host.env. */
export function commonEnv(ctx: RoleContext, role: Role): Record<string, string> {
  return {
    WBT_ENVIRONMENT: ctx.config.name,
    WBT_ROLE: role,
    AWS_REGION: ctx.config.aws.region,
    ...pathEnv(),
    ...rolePathEnv(role),
    FQDN: ctx.fqdn[role],
    PRIVATE_IP: ctx.privateIp[role],
    SSM_PREFIX: ctx.ssmPrefix,
    LETSENCRYPT_EMAIL: ctx.config.letsEncryptEmail,
  };
}
