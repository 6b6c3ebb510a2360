/** One security group per host role and per pool, one rule resource per port-plan entry, every rule described. */
import { Construct } from 'constructs';
import { SecurityGroup } from '@cdktf/provider-aws/lib/security-group';
import { VpcSecurityGroupEgressRule } from '@cdktf/provider-aws/lib/vpc-security-group-egress-rule';
import { VpcSecurityGroupIngressRule } from '@cdktf/provider-aws/lib/vpc-security-group-ingress-rule';
import { EGRESS, type PortRule } from '../config/ports';
import { POOLS, type AnyRole } from '../config/schema';

export interface FirewallsProps {
  /** Name prefix, e.g. "weebeetalk-staging". */
  readonly name: string;
  readonly vpcId: string;
  /** The roles and pools the environment builds, one security group each. */
  readonly roles: readonly AnyRole[];
  /** The port plan of the environment (config/ports.ts). */
  readonly rules: readonly PortRule[];
}

/** Characters AWS accepts in security-group and rule descriptions. */
const DESCRIPTION_RE = /^[a-zA-Z0-9. _\-:/()#,@[\]+=&;{}!$*]{1,255}$/;

export class Firewalls extends Construct {
  readonly groups: Partial<Record<AnyRole, SecurityGroup>>;

  constructor(scope: Construct, id: string, props: FirewallsProps) {
    super(scope, id);
    const groups: Partial<Record<AnyRole, SecurityGroup>> = {};
    for (const role of props.roles) {
      const group = (groups[role] = new SecurityGroup(this, `sg-${role}`, {
        name: `${props.name}-${role}`,
        description: `WeeBeeTalk ${role} ${(POOLS as readonly string[]).includes(role) ? 'pool members' : 'host'}: ingress from the port plan only`,
        vpcId: props.vpcId,
        // Rules are separate resources; an inline rule here would fight them.
        tags: { Name: `${props.name}-${role}` },
      }));
      for (const e of EGRESS) {
        new VpcSecurityGroupEgressRule(this, `${role}-egress-${e.protocol}`, {
          securityGroupId: group.id,
          ipProtocol: e.protocol,
          fromPort: 0,
          toPort: 65535,
          cidrIpv4: '0.0.0.0/0',
          description: e.description,
        });
      }
    }
    for (const rule of props.rules) {
      if (!DESCRIPTION_RE.test(rule.description)) throw new Error(`Firewalls: rule ${rule.id} has a description AWS rejects (allowed: a-zA-Z0-9. _-:/()#,@[]+=&;{}!$*): "${rule.description}"`);
      const group = (role: AnyRole): SecurityGroup => {
        const g = groups[role];
        if (!g) throw new Error(`Firewalls: rule ${rule.id} names the ${role} host, which this environment does not build`);
        return g;
      };
      const peer = rule.peer.kind === 'host' ? { referencedSecurityGroupId: group(rule.peer.role).id } : { cidrIpv4: rule.peer.kind === 'world' ? '0.0.0.0/0' : rule.peer.cidr };
      new VpcSecurityGroupIngressRule(this, rule.id, {
        securityGroupId: group(rule.role).id,
        ipProtocol: rule.protocol,
        fromPort: rule.from,
        toPort: rule.to,
        ...peer,
        description: rule.description,
        tags: { Name: rule.id },
      });
    }
    this.groups = groups;
  }

  /** The security group of a role this environment builds. */
  groupOf(role: AnyRole): SecurityGroup {
    const g = this.groups[role];
    if (!g) throw new Error(`Firewalls: no security group for ${role}: this environment does not build that host`);
    return g;
  }
}
