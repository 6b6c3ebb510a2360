/** A host's resources found in a synthesized plan by following its references, as Terraform would. */
import { resourceNameOf } from '../../config/names';
import { enabledRoles, type Role } from '../../config/schema';
import { asStrings, byNameTag, one, referenced, resources, type Item, type Synthesized } from './synth';

export const hostName = (s: Synthesized, role: Role): string => resourceNameOf(s.config, role);

/**
 * The expected IMDSv2 hop limit of each role, written by hand (never read from the specs): 2 only where a container
 * calls AWS through the instance role (chat: Rocket.Chat uploads to S3). test/roles.test.ts checks the specs and
 * test/hosts.test.ts the synthesized instances against this one table.
 */
export const EXPECTED_HOP_LIMIT: Readonly<Record<Role, 1 | 2>> = { chat: 2, meet: 1, pbx: 1, turn: 1 };

/** The hosts an environment builds, hand-written from the design: every role, the TURN relay only with turn.enabled. */
export function expectedRoles(s: Synthesized): Role[] {
  const roles: Role[] = ['chat', 'meet', 'pbx'];
  return s.config.turn.enabled ? [...roles, 'turn'] : roles;
}

/** A host's chain: instance -> its ENI -> the ENI's security group; the EIP and data volume by name. */
export interface Host {
  readonly role: Role;
  readonly instance: Item;
  readonly eni: Item;
  readonly sg: Item;
  readonly eip: Item;
  readonly volume: Item;
}

/** The hosts of an environment, by role: exactly the roles it builds (asserted against expectedRoles). */
export interface Hosts {
  readonly roles: readonly Role[];
  /** The host of a role the environment builds; a failure for one it does not. */
  of(role: Role): Host;
}

export function hosts(s: Synthesized): Hosts {
  const out: Partial<Record<Role, Host>> = {};
  const roles = enabledRoles(s.config);
  expect(roles).toEqual(expectedRoles(s));
  for (const role of roles) {
    const instance = byNameTag(resources(s, 'aws_instance'), hostName(s, role));
    const eni = referenced(resources(s, 'aws_network_interface'), one(instance.block.primary_network_interface, 'primary_network_interface').network_interface_id);
    const groups = asStrings(eni.block.security_groups, `${eni.address}.security_groups`);
    expect(groups).toHaveLength(1);
    const sg = referenced(resources(s, 'aws_security_group'), groups[0]);
    const eip = byNameTag(resources(s, 'aws_eip'), hostName(s, role));
    const volume = byNameTag(resources(s, 'aws_ebs_volume'), `${hostName(s, role)}-data`);
    out[role] = { role, instance, eni, sg, eip, volume };
  }
  return {
    roles,
    of(role: Role): Host {
      const h = out[role];
      if (!h) throw new Error(`${s.label} builds no ${role} host (it builds ${roles.join(', ')})`);
      return h;
    },
  };
}
