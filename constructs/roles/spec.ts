/**
 * What a role is: one RoleSpec per role, one module per role (constructs/roles/<role>.ts), mirrored by its
 * bootstrap folder userdata/<role>/. The stack (constructs/weebeetalk-stack.ts) loops over the registry
 * (constructs/roles/index.ts). The audit policy (constructs/audit/policy.ts) stays independent: a role
 * declares the ports it opens, never what the audit allows.
 */
import type { EnvironmentConfig, Role } from '../../config/schema';
import type { BucketPurpose } from '../../config/names';
import type { PortRule } from '../../config/ports';
import type { RoleContext } from '../../userdata/context';
import type { RoleBundleProps } from '../../userdata/bundle';
import type { Dns } from '../dns';
import type { HostRole } from '../host-role';
import type { PrivateBucket } from '../private-bucket';
import type { Secrets } from '../secrets';

/** What a role's grants may name. */
export interface GrantContext {
  readonly config: EnvironmentConfig;
  /** The role's own IAM role: grant methods add to it. */
  readonly role: HostRole;
  readonly buckets: Readonly<Record<BucketPurpose, PrivateBucket>>;
  readonly dns: Dns;
  /** Public names of every host. */
  readonly fqdn: Readonly<Record<Role, string>>;
}

export interface RoleSpec {
  readonly role: Role;
  /** Offset of the host's fixed private address in the public subnet (AWS reserves .0 to .3); none for pool members. */
  readonly addressOffset?: number;
  /** IMDSv2 hop limit: 2 only where a container calls AWS through the instance role. */
  readonly metadataHopLimit: 1 | 2;
  /** Every port the host accepts besides SSH (the port plan adds SSH from adminCidrs and egress). */
  readonly ports: (config: EnvironmentConfig) => PortRule[];
  /** The secrets the role owns (created before any grant; a secret may also have paths of other hosts). */
  readonly secrets?: (config: EnvironmentConfig, secrets: Secrets) => void;
  /** Grants besides its own SSM folder (`<ssm root>/<role>`), which every role reads. */
  readonly grants?: (ctx: GrantContext) => void;
  /** Docker Engine (the bootstrap's docker step): false for a role that runs Debian packages only. @default true */
  readonly docker?: boolean;
  /** Debian packages besides every host's, installed at first boot (user-data: not a function of the configuration). @default none */
  readonly packages?: readonly string[];
  /** The configuration: settings, files, hook and helper scripts (userdata/<role>/), applied in place by State Manager. */
  readonly bundle: (ctx: RoleContext) => RoleBundleProps;
}
