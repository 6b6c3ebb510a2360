/**
 * What a host keeps across instance replacement: a network interface with a fixed private IP, its security
 * groups, and an Elastic IP allocated on its own and associated to that interface (so user-data can carry the
 * public IP without a dependency cycle).
 */
import { Construct } from 'constructs';
import type { ITerraformDependable } from 'cdktf';
import { Eip } from '@cdktf/provider-aws/lib/eip';
import { EipAssociation } from '@cdktf/provider-aws/lib/eip-association';
import { NetworkInterface } from '@cdktf/provider-aws/lib/network-interface';

export interface HostIdentityProps {
  /** Name tag, e.g. "weebeetalk-staging-chat". */
  readonly name: string;
  readonly subnetId: string;
  /** Fixed private address inside the subnet. */
  readonly privateIp: string;
  readonly securityGroupIds: string[];
  /** Refuse to destroy the Elastic IP (production): DNS and SIP trunks point at it. @default false */
  readonly protect?: boolean;
  /** The internet gateway and routes: associating an Elastic IP before they exist fails. @default none */
  readonly dependsOn?: ITerraformDependable[];
}

export class HostIdentity extends Construct {
  readonly networkInterface: NetworkInterface;
  readonly eip: Eip;
  readonly association: EipAssociation;
  readonly privateIp: string;
  /** What the interface's Elastic IP needs to route (hosts on this identity need it too). */
  readonly internetAccess: readonly ITerraformDependable[];

  constructor(scope: Construct, id: string, props: HostIdentityProps) {
    super(scope, id);
    this.privateIp = props.privateIp;
    this.internetAccess = props.dependsOn ?? [];
    this.networkInterface = new NetworkInterface(this, 'eni', {
      subnetId: props.subnetId,
      privateIps: [props.privateIp],
      securityGroups: props.securityGroupIds,
      description: `${props.name} primary interface (outlives the instance)`,
      tags: { Name: props.name },
    });
    this.eip = new Eip(this, 'eip', {
      domain: 'vpc',
      tags: { Name: props.name },
      lifecycle: { preventDestroy: props.protect ?? false },
    });
    this.association = new EipAssociation(this, 'eip-association', {
      allocationId: this.eip.allocationId,
      networkInterfaceId: this.networkInterface.id,
      dependsOn: props.dependsOn,
    });
  }
}
