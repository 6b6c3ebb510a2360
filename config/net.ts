/** IPv4 CIDR arithmetic for validation and address planning (no dependency does this smaller), and ARN partitions. */

export interface Cidr {
  readonly text: string;
  readonly base: number;
  readonly prefix: number;
}

const OCTET = '(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const CIDR_RE = new RegExp(`^${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}/(3[0-2]|[12]?\\d)$`);

export function isWorldCidr(text: string): boolean {
  return /^0\.0\.0\.0\/0$/.test(text.trim()) || /^::\/0$/.test(text.trim());
}

export function isIpv6(text: string): boolean {
  return text.includes(':');
}

/** Parses "a.b.c.d/n"; returns undefined when malformed. */
export function parseCidr(text: string): Cidr | undefined {
  const m = CIDR_RE.exec(text);
  if (!m) return undefined;
  const [addr, len] = text.split('/');
  const base = addr.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
  return { text, base, prefix: Number(len) };
}

export function size(c: Cidr): number {
  return 2 ** (32 - c.prefix);
}

/** The canonical form of a CIDR whose host bits are set, e.g. 10.0.0.1/16 -> 10.0.0.0/16. */
export function canonical(c: Cidr): string {
  const base = c.base - (c.base % size(c));
  return `${toIp(base)}/${c.prefix}`;
}

export function isCanonical(c: Cidr): boolean {
  return c.base % size(c) === 0;
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  return a.base < b.base + size(b) && b.base < a.base + size(a);
}

export function toIp(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
}

/** The n-th subnet of the given prefix length inside a block, e.g. subnet(10.0.0.0/16, 24, 1) = 10.0.1.0/24. */
export function subnet(block: Cidr, prefix: number, index: number): Cidr {
  const base = block.base + index * 2 ** (32 - prefix);
  return { text: `${toIp(base)}/${prefix}`, base, prefix };
}

/** The address at an offset inside a block (AWS reserves .0-.3 and the last address of every subnet). */
export function hostAddress(block: Cidr, offset: number): string {
  return toIp(block.base + offset);
}

/** The ARN partition of a region. */
export function partitionOf(region: string): 'aws' | 'aws-cn' | 'aws-us-gov' {
  if (region.startsWith('cn-')) return 'aws-cn';
  if (region.startsWith('us-gov-')) return 'aws-us-gov';
  return 'aws';
}

/** The hosts' subnet: the VPC's first /24 (or the whole VPC when it is smaller); each host has a fixed address in it. */
export function hostSubnetOf(vpc: Cidr): Cidr {
  return subnet(vpc, Math.max(vpc.prefix, 24), 0);
}

/** The pools' subnet: the VPC's second /24 (the first holds the hosts; the schema requires a /23 or larger for pools). */
export function poolSubnetOf(vpc: Cidr): Cidr {
  return subnet(vpc, 24, 1);
}

/** The first and last address of a block as coturn's range form (no CIDR there), e.g. 10.20.1.0/24 -> 10.20.1.0-10.20.1.255. */
export function addressRange(c: Cidr): string {
  const base = c.base - (c.base % size(c));
  return `${toIp(base)}-${toIp(base + size(c) - 1)}`;
}

/** Instance metadata (IMDS): its IPv4 address, and its IPv6 one (answers only with http_protocol_ipv6 enabled). */
export const IMDS_IPV4 = '169.254.169.254';
export const IMDS_IPV6 = 'fd00:ec2::254';

/**
 * Docker's default address pools, where compose networks get their subnets (172.17.0.0/16 ... 172.31.0.0/16, then
 * 192.168.0.0/16 in /20s; our daemon.json sets no default-address-pools, userdata/host-user-data.ts).
 */
export const DOCKER_DEFAULT_POOLS = ['172.16.0.0/12', '192.168.0.0/16'] as const;

/**
 * The chat host's compose network (rocketchat-compose's `default`, which upstream leaves to Docker's address pools)
 * as our override fixes it, and Rocket.Chat's address on it: the one container the metadata guard lets reach IMDS
 * (userdata/chat/scripts/imds-guard.sh). The subnet is outside RFC 1918, where every VPC is (config/schema.ts), and
 * outside Docker's default pools (DOCKER_DEFAULT_POOLS, and 10.0.0.0/8 for swarm):
 * 198.18.0.0/15 is IANA special-purpose (RFC 2544, benchmarking), never routed on the internet.
 */
export const CHAT_DOCKER_NETWORK = {
  subnet: '198.18.0.0/24',
  gateway: '198.18.0.1',
  /** Where Docker hands out the other containers' addresses: the upper half, so none can take Rocket.Chat's first. */
  dynamicRange: '198.18.0.128/25',
  /** Rocket.Chat's fixed address (in the subnet, outside the dynamic range). */
  rocketchat: '198.18.0.10',
  /** The bridge's interface name (Docker's com.docker.network.bridge.name; at most 15 characters). */
  bridge: 'br-wbt-chat',
} as const;
