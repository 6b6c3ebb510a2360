/**
 * What a role is: one RoleSpec per role, one module per role (constructs/roles/<role>.ts), mirrored by its
 * bootstrap folder userdata/<role>/. The stack (constructs/weebeetalk-stack.ts) loops over the registry
 * (constructs/roles/index.ts). The audit policy (constructs/audit/policy.ts) stays independent: a role
 * declares the ports it opens, never what the audit allows.
 */
import type { EnvironmentConfig, Pool, Role } from '../../config/schema';
import type { BucketPurpose } from '../../config/names';
import type { PortRule } from '../../config/ports';
import type { RoleContext } from '../../userdata/context';
import type { RoleBundleProps } from '../../userdata/bundle';
import type { Dns } from '../dns';
import type { HostRole } from '../host-role';
import type { PrivateBucket } from '../private-bucket';
import type { InstancePool } from '../pool';
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

/**
 * What a pool is: members on an Auto Scaling group (constructs/pool.ts) that join the meet host, without a fixed
 * address, name or data volume (constructs/roles/<pool>.ts, bootstrap in userdata/<pool>/).
 */
export interface PoolSpec {
  readonly pool: Pool;
  /** Every port a member accepts besides SSH. */
  readonly ports: (config: EnvironmentConfig) => PortRule[];
  /** The secrets the pool reads (created before any grant); their other paths are the meet host's. */
  readonly secrets?: (config: EnvironmentConfig, secrets: Secrets) => void;
  /** Grants besides its own SSM folder, its bundles, its metrics and its own group's scaling actions. */
  readonly grants?: (ctx: GrantContext) => void;
  /** May a member protect itself from scale-in while it works (a recording that must not be cut). */
  readonly selfProtecting: boolean;
  /** The configuration, as for a host role; members apply it at boot and State Manager applies later ones. */
  readonly bundle: (ctx: RoleContext) => RoleBundleProps;
  /** The pool's scaling: policies and alarms on the metric its members (and the meet host) publish. */
  readonly scale: (config: EnvironmentConfig, pool: InstancePool) => void;
}
