/**
 * The role registry: every role of a host, in the order the stack builds them. A new role is a module
 * beside these (constructs/roles/<role>.ts), its bootstrap folder (userdata/<role>/) and one line here, plus
 * its name in ROLES and its minimum in DATA_VOLUME_MINIMUM (config/schema.ts: the schema's hosts and
 * dns.hostNames, the smoke components and the audit's SIP hosts follow from them and the port plan) and the
 * places that still name the roles (CONTRIBUTING.md, "Add a role").
 */
import { enabledPools, enabledRoles, type EnvironmentConfig, type Pool, type Role } from '../../config/schema';
import type { PortRule } from '../../config/ports';
import { sshRules } from './ports';
import { chat } from './chat';
import { meet } from './meet';
import { pbx } from './pbx';
import { turn } from './turn';
import { jibri } from './jibri';
import { jvb } from './jvb';
import type { PoolSpec, RoleSpec } from './spec';

export type { GrantContext, PoolSpec, RoleSpec } from './spec';

export const ROLE_SPECS: Readonly<Record<Role, RoleSpec>> = { chat, meet, pbx, turn };

/** The specs of the roles an environment builds (config/schema.ts enabledRoles), in registry order. */
export const roleSpecs = (env: Pick<EnvironmentConfig, 'turn'>): RoleSpec[] => enabledRoles(env).map((role) => ROLE_SPECS[role]);

/** The pools (constructs/pool.ts): Auto Scaling groups that join the meet host. */
export const POOL_SPECS: Readonly<Record<Pool, PoolSpec>> = { jibri, jvb };

/** The specs of the pools an environment builds (config/schema.ts enabledPools), in registry order. */
export const poolSpecs = (env: Pick<EnvironmentConfig, 'jitsi'>): PoolSpec[] => enabledPools(env).map((pool) => POOL_SPECS[pool]);

/**
 * The port plan: every port a host accepts, derived from the configuration and nowhere typed twice: the
 * roles' own ports, then SSH from the administrators' networks on every host (egress: EGRESS in config/ports.ts).
 */
export function portPlan(env: EnvironmentConfig): PortRule[] {
  const specs = roleSpecs(env);
  const pools = poolSpecs(env);
  return [...specs.flatMap((s) => s.ports(env)), ...pools.flatMap((p) => p.ports(env)), ...sshRules(env, [...specs.map((s) => s.role), ...pools.map((p) => p.pool)])];
}
