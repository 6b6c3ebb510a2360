/** The environment's own VPC: one public subnet in the hosts' zone, an internet gateway, no NAT (hosts have EIPs). */
import { Construct } from 'constructs';
import type { ITerraformDependable } from 'cdktf';
import { DefaultSecurityGroup } from '@cdktf/provider-aws/lib/default-security-group';
import { InternetGateway } from '@cdktf/provider-aws/lib/internet-gateway';
import { Route } from '@cdktf/provider-aws/lib/route';
import { RouteTable } from '@cdktf/provider-aws/lib/route-table';
import { RouteTableAssociation } from '@cdktf/provider-aws/lib/route-table-association';
import { Subnet } from '@cdktf/provider-aws/lib/subnet';
import { Vpc } from '@cdktf/provider-aws/lib/vpc';
import { hostSubnetOf, parseCidr, poolSubnetOf, type Cidr } from '../config/net';

export interface NetworkProps {
  /** Name prefix for tags, e.g. "weebeetalk-staging". */
  readonly name: string;
  /** VPC block, validated by the configuration schema (RFC 1918, /16 to /24). */
  readonly vpcCidr: string;
  /** Zone of the public subnet: the hosts and their volumes live there. */
  readonly availabilityZone: string;
  /** A second public /24 for the pools' members (addresses by DHCP, a public address each). @default none */
  readonly poolSubnet?: boolean;
}

export class Network extends Construct {
  readonly vpc: Vpc;
  readonly publicSubnet: Subnet;
  /** The public subnet's block, for planning the hosts' fixed private addresses. */
  readonly publicSubnetCidr: Cidr;
  /** The pools' subnet, when asked for: its own /24, so that the TURN relay may reach the bridges there and nothing else. */
  readonly poolSubnet?: Subnet;
  readonly poolSubnetCidr?: Cidr;
  /** What must exist before a host or an Elastic IP can reach the internet. */
  readonly internetAccess: ITerraformDependable[];
  /** What must exist before a pool member can reach the internet (the pools' subnet's routes). @default none */
  readonly poolInternetAccess: ITerraformDependable[] = [];

  constructor(scope: Construct, id: string, props: NetworkProps) {
    super(scope, id);
    const block = parseCidr(props.vpcCidr);
    if (!block) throw new Error(`Network ${id}: vpcCidr ${props.vpcCidr} is not an IPv4 CIDR`);
    // The first /24 (or the whole block when it is a /24) holds the hosts.
    this.publicSubnetCidr = hostSubnetOf(block);

    this.vpc = new Vpc(this, 'vpc', {
      cidrBlock: props.vpcCidr,
      enableDnsSupport: true,
      enableDnsHostnames: true,
      tags: { Name: props.name },
    });
    // The default security group allows all traffic between its members: empty it so nothing relies on it.
    new DefaultSecurityGroup(this, 'default-sg', { vpcId: this.vpc.id, tags: { Name: `${props.name}-default-closed` } });

    const igw = new InternetGateway(this, 'igw', { vpcId: this.vpc.id, tags: { Name: props.name } });
    this.publicSubnet = new Subnet(this, 'public-subnet', {
      vpcId: this.vpc.id,
      cidrBlock: this.publicSubnetCidr.text,
      availabilityZone: props.availabilityZone,
      // Hosts get Elastic IPs on their own interfaces; nothing should get an address by accident.
      mapPublicIpOnLaunch: false,
      tags: { Name: `${props.name}-public-${props.availabilityZone}` },
    });
    const routes = new RouteTable(this, 'public-routes', { vpcId: this.vpc.id, tags: { Name: `${props.name}-public` } });
    const route = new Route(this, 'default-route', { routeTableId: routes.id, destinationCidrBlock: '0.0.0.0/0', gatewayId: igw.id });
    const association = new RouteTableAssociation(this, 'public-subnet-routes', { subnetId: this.publicSubnet.id, routeTableId: routes.id });
    this.internetAccess = [igw, route, association];
    if (props.poolSubnet) {
      this.poolSubnetCidr = poolSubnetOf(block);
      this.poolSubnet = new Subnet(this, 'pool-subnet', {
        vpcId: this.vpc.id,
        cidrBlock: this.poolSubnetCidr.text,
        availabilityZone: props.availabilityZone,
        // The launch templates ask for a public address per member (no NAT gateway); nothing else gets one.
        mapPublicIpOnLaunch: false,
        tags: { Name: `${props.name}-pools-${props.availabilityZone}` },
      });
      // Apart from the hosts' internetAccess: a host does not wait for the pools' subnet.
      this.poolInternetAccess = [igw, route, new RouteTableAssociation(this, 'pool-subnet-routes', { subnetId: this.poolSubnet.id, routeTableId: routes.id })];
    }
  }
}
