/** A host's resources found in a synthesized plan by following its references, as Terraform would. */
import { resourceNameOf } from '../../config/names';
import { ROLES, type Role } from '../../config/schema';
import { asStrings, byNameTag, one, referenced, resources, type Item, type Synthesized } from './synth';

export const hostName = (s: Synthesized, role: Role): string => resourceNameOf(s.config, role);

/**
 * The expected IMDSv2 hop limit of each role, written by hand (never read from the specs): 2 only where a container
 * calls AWS through the instance role (chat: Rocket.Chat uploads to S3). test/roles.test.ts checks the specs and
 * test/hosts.test.ts the synthesized instances against this one table.
 */
export const EXPECTED_HOP_LIMIT: Readonly<Record<Role, 1 | 2>> = { chat: 2, meet: 1, pbx: 1 };

/** A host's chain: instance -> its ENI -> the ENI's security group; the EIP and data volume by name. */
export interface Host {
  readonly role: Role;
  readonly instance: Item;
  readonly eni: Item;
  readonly sg: Item;
  readonly eip: Item;
  readonly volume: Item;
}

export function hosts(s: Synthesized): Record<Role, Host> {
  const out = {} as Record<Role, Host>;
  for (const role of ROLES) {
    const instance = byNameTag(resources(s, 'aws_instance'), hostName(s, role));
    const eni = referenced(resources(s, 'aws_network_interface'), one(instance.block.primary_network_interface, 'primary_network_interface').network_interface_id);
    const groups = asStrings(eni.block.security_groups, `${eni.address}.security_groups`);
    expect(groups).toHaveLength(1);
    const sg = referenced(resources(s, 'aws_security_group'), groups[0]);
    const eip = byNameTag(resources(s, 'aws_eip'), hostName(s, role));
    const volume = byNameTag(resources(s, 'aws_ebs_volume'), `${hostName(s, role)}-data`);
    out[role] = { role, instance, eni, sg, eip, volume };
  }
  return out;
}
