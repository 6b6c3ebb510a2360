/** What a role's user-data builder needs to know about its environment (values may be Terraform references). */
import type { EnvironmentConfig, Role } from '../config/schema';
import { DATA_DIR } from './host-user-data';

export interface RoleContext {
  readonly config: EnvironmentConfig;
  /** Public names of every host. */
  readonly fqdn: Readonly<Record<Role, string>>;
  /** Fixed private addresses of every host. */
  readonly privateIp: Readonly<Record<Role, string>>;
  /** This host's Elastic IP. */
  readonly publicIp: string;
  readonly buckets: { readonly recordings: string; readonly uploads: string; readonly backups: string };
  /** This host's own SSM path, e.g. /weebeetalk/staging/chat. */
  readonly ssmPrefix: string;
}

/** Settings every host's bootstrap reads from /etc/weebeetalk/host.env. */
export function commonEnv(ctx: RoleContext, role: Role): Record<string, string> {
  return {
    WBT_ENVIRONMENT: ctx.config.name,
    WBT_ROLE: role,
    AWS_REGION: ctx.config.aws.region,
    DATA_DIR,
    FQDN: ctx.fqdn[role],
    PUBLIC_IP: ctx.publicIp,
    PRIVATE_IP: ctx.privateIp[role],
    SSM_PREFIX: ctx.ssmPrefix,
    LETSENCRYPT_EMAIL: ctx.config.letsEncryptEmail,
  };
}
