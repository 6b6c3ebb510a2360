/**
 * The security policy as data: what each host role may expose to the world and why, what may never be exposed,
 * and the rules the audit enforces, each mapped to the checkov and trivy checks auditors already know.
 * Derived from the environment configuration, like the port plan it judges (config/ports.ts).
 * Evaluation lives in stack-audit.ts (matrix.ts, checks.ts); the synthesis gate (aspect.ts) and the report (scripts/audit.ts) share it.
 */
import { DIAL_IN_MAPPER_PORT } from '../../config/dial-in';
import type { Protocol } from '../../config/ports';
import type { AnyRole, EnvironmentConfig } from '../../config/schema';

export type RuleId =
  | 'WBT-SG-WORLD'
  | 'WBT-SG-ADMIN'
  | 'WBT-SG-SIP'
  | 'WBT-SG-INTERNAL'
  | 'WBT-SG-XMPP'
  | 'WBT-SG-DIALIN'
  | 'WBT-SG-DESC'
  | 'WBT-SG-PROTO'
  | 'WBT-EC2-IMDS'
  | 'WBT-EC2-ROOT-ENC'
  | 'WBT-EBS-ENC'
  | 'WBT-EC2-USERDATA'
  | 'WBT-CONFIG-SECRET'
  | 'WBT-S3-PAB'
  | 'WBT-S3-TLS'
  | 'WBT-KMS-CMK'
  | 'WBT-PRIV-STATE'
  | 'WBT-PRIV-CHAT'
  | 'WBT-PRIV-MEET';

export interface PolicyRule {
  readonly id: RuleId;
  readonly title: string;
  /** Equivalent checkov checks (https://www.checkov.io); empty when checkov has none. */
  readonly checkov: readonly string[];
  /** Equivalent trivy checks (trivy-checks `id`, formerly AVD-AWS-xxxx); empty when trivy has none. */
  readonly trivy: readonly string[];
  /** What to change when the rule fires. */
  readonly fix: string;
  /** How the mapping differs from the scanners, for auditors reconciling their findings. */
  readonly note?: string;
}

// Ids checked against bridgecrewio/checkov 03d5fdad (2026-08-20) and aquasecurity/trivy-checks 80e53822 (2026-08-21).
export const RULES: readonly PolicyRule[] = [
  {
    id: 'WBT-SG-WORLD',
    title: 'World-open ingress only on the role allowlist',
    checkov: ['CKV_AWS_260', 'CKV_AWS_277'],
    trivy: [],
    fix: 'restrict the peer to the networks that need it, or, if the whole internet must reach a new service, add it to worldAllowlist() in constructs/audit/policy.ts with the service that needs it',
    note: 'checkov CKV_AWS_260 also flags the allowlisted tcp 80 on chat and meet (HTTPS redirect, ACME HTTP-01): accepted by design. trivy AWS-0107 covers only SSH/RDP since trivy-checks 2025; AWS Config vpc-sg-open-only-to-authorized-ports is the closest managed rule.',
  },
  {
    id: 'WBT-SG-ADMIN',
    title: 'Admin ports (22, 3389) never world-open',
    checkov: ['CKV_AWS_24', 'CKV_AWS_25'],
    trivy: ['AWS-0107'],
    fix: "list the administrators' networks in adminCidrs, or better, leave port 22 closed and use SSM Session Manager",
  },
  {
    id: 'WBT-SG-SIP',
    title: 'SIP signalling and RTP never world-open without a written justification',
    checkov: [],
    trivy: [],
    fix: 'list the SIP provider and office networks in sip.trunkSignallingCidrs / trunkMediaCidrs / clientCidrs; if the world must reach the PBX, set sip.worldOpenJustification (the report shows it)',
    note: 'No scanner knows SIP; they report these rules only as generic /0 ingress.',
  },
  {
    id: 'WBT-SG-INTERNAL',
    title: 'Database, monitoring and internal ports never open to any peer',
    checkov: [],
    trivy: [],
    fix: 'remove the rule (or move the port range clear of the port): these services talk over Docker networks or 127.0.0.1 on the host and are reached through SSM port forwarding',
    note: 'No scanner equivalent: checkov and trivy only check world-open ranges, this rule covers every peer.',
  },
  {
    id: 'WBT-SG-XMPP',
    title: "XMPP (Prosody) never beyond the VPC: its client port on the meet host from the pools' security groups only",
    checkov: [],
    trivy: [],
    fix: 'remove the rule: the recorders and bridges of the pools reach Prosody through their security groups (constructs/roles/meet.ts); nothing else, no network and never the internet, may reach 5222, 5269, 5280 or 5347',
    note: 'No scanner knows XMPP. The one allowed rule is also bound on the meet host: Prosody publishes 5222 on its private address only.',
  },
  {
    id: 'WBT-SG-DIALIN',
    title: "The dial-in conference mapper's port on the meet host from the pbx host's security group only, and only with Jigasi",
    checkov: [],
    trivy: [],
    fix: "remove the rule or narrow it to the pbx host's security group (constructs/roles/meet.ts): the mapper tells which meeting a PIN names; browsers reach its two public routes through the web container on 443, never the port itself",
    note: "No scanner knows the mapper. It answers /room to the pbx host's address only and is bound on the private address; the security group is the first line.",
  },
  {
    id: 'WBT-SG-DESC',
    title: 'Every security group and rule described',
    checkov: ['CKV_AWS_23'],
    trivy: ['AWS-0099', 'AWS-0124'],
    fix: 'give the group or rule a description naming the service that needs it (config/ports.ts for planned rules)',
  },
  {
    id: 'WBT-SG-PROTO',
    title: 'No protocol -1 (all traffic) rules',
    checkov: ['CKV_AWS_277', 'CKV_AWS_382'],
    trivy: [],
    fix: 'name the protocol (tcp or udp) and the ports the service needs',
    note: 'checkov flags -1 only towards 0.0.0.0/0; this rule flags it towards any peer.',
  },
  {
    id: 'WBT-EC2-IMDS',
    title: 'IMDSv2 required (http_tokens = required)',
    checkov: ['CKV_AWS_79'],
    trivy: ['AWS-0028'],
    fix: 'set metadataOptions.httpTokens to "required" on the instance (constructs/debian-host.ts does)',
  },
  {
    id: 'WBT-EC2-ROOT-ENC',
    title: 'Instance root and block devices encrypted',
    checkov: ['CKV_AWS_8'],
    trivy: ['AWS-0131'],
    fix: 'set rootBlockDevice.encrypted (and every ebsBlockDevice.encrypted) to true',
  },
  {
    id: 'WBT-EBS-ENC',
    title: 'EBS volumes encrypted',
    checkov: ['CKV_AWS_3'],
    trivy: ['AWS-0026'],
    fix: 'set encrypted: true on the aws_ebs_volume',
  },
  {
    id: 'WBT-EC2-USERDATA',
    title: 'No secrets in user-data',
    checkov: ['CKV_AWS_46'],
    trivy: ['AWS-0029'],
    fix: 'keep the value in SSM Parameter Store (constructs/secrets.ts) and read it on the host at boot with ssm_secret; user-data is readable by anyone with ec2:DescribeInstanceAttribute',
  },
  {
    id: 'WBT-CONFIG-SECRET',
    title: 'No secrets in configuration bundles (S3 objects of the plan)',
    checkov: [],
    trivy: [],
    fix: 'name the secret by its SSM parameter in the bundle and read it on the host with ssm_secret (userdata/scripts/config-lib.sh); an object of the plan is stored in Terraform state and readable by whoever reads the bucket',
    note: "no scanner looks into an aws_s3_object's content (checkov's CKV_AWS_46 and trivy's AWS-0029 read user-data only); the same detector as WBT-EC2-USERDATA runs over each bundle file",
  },
  {
    id: 'WBT-S3-PAB',
    title: 'Buckets block public access (all four flags)',
    checkov: ['CKV_AWS_53', 'CKV_AWS_54', 'CKV_AWS_55', 'CKV_AWS_56', 'CKV2_AWS_6'],
    trivy: ['AWS-0086', 'AWS-0087', 'AWS-0091', 'AWS-0093', 'AWS-0094'],
    fix: 'create the bucket with constructs/private-bucket.ts, or give it an aws_s3_bucket_public_access_block with block_public_acls, block_public_policy, ignore_public_acls and restrict_public_buckets all true',
  },
  {
    id: 'WBT-S3-TLS',
    title: 'Buckets refuse non-TLS access',
    checkov: ['CKV_AWS_379'],
    trivy: [],
    fix: "attach a bucket policy with a Deny statement for principal *, action s3:*, the bucket's objects, condition Bool aws:SecureTransport = false (constructs/private-bucket.ts does)",
    note: 'CKV_AWS_379 looks for the same statement but only on buckets with a public ACL; trivy has none. AWS Config s3-bucket-ssl-requests-only and CIS AWS 2.1.1 are the same control.',
  },
  {
    id: 'WBT-KMS-CMK',
    title: "With kms.customerManagedKey, everything at rest uses the environment's key, and the key rotates",
    checkov: ['CKV_AWS_7', 'CKV_AWS_145', 'CKV_AWS_189', 'CKV_AWS_337'],
    trivy: [],
    fix: "pass the environment key's ARN (EnvironmentKey.arn, constructs/weebeetalk-stack.ts) as kmsKeyArn to the DebianHost, InstancePool and PrivateBucket and as kmsKeyId to Secrets, and keep enable_key_rotation on the key (constructs/environment-key.ts)",
    note: "Runs only where kms.customerManagedKey is on (production by default). checkov checks any customer key (CKV_AWS_189 EBS volumes, CKV_AWS_145 S3 default encryption, CKV_AWS_337 SecureStrings, CKV_AWS_7 rotation), not the environment's own; it has no check of an instance's root volume or a launch template's block devices, which this rule also covers. trivy ids not mapped here.",
  },
  {
    id: 'WBT-PRIV-STATE',
    title: 'No secret in Terraform state',
    checkov: [],
    trivy: [],
    fix: "generate secrets with constructs/secrets.ts (an ephemeral random password written through the SSM parameter's write-only value_wo); never a random-password or secret-reading data source, a SecureString's value, or an ephemeral value in an attribute Terraform stores",
    note: 'no scanner checks what a plan puts into the state; checkov CKV_SECRET_* look for literal secrets in the code only',
  },
  {
    id: 'WBT-PRIV-CHAT',
    title: "Production's Rocket.Chat: registration closed, end-to-end encryption available, password policy (10+ characters), failed logins blocked, two-factor authentication, protected downloads",
    checkov: [],
    trivy: [],
    fix: 'keep those rocketchat.security settings on in the production environment file (README, "Rocket.Chat security settings"); they reach the container as OVERWRITE_SETTING_<id> (userdata/chat/index.ts)',
    note: "read from the compose override in the chat host's configuration bundle, as the container gets it; staging reports the same settings without the gate",
  },
  {
    id: 'WBT-PRIV-MEET',
    title: "Production's Jitsi: authentication on, the lobby available, end-to-end encryption not disabled, tokens only from our issuer for our audience",
    checkov: [],
    trivy: [],
    fix: 'keep jitsi.auth and jitsi.security.lobby in the production environment file (README, "Jitsi security settings"); never write a custom-config.js for the web container',
    note: "read from docker-jitsi-meet's settings in the meet host's configuration bundle; staging reports the same settings without the gate",
  },
];

export function ruleById(id: RuleId): PolicyRule {
  const rule = RULES.find((r) => r.id === id);
  if (!rule) throw new Error(`audit policy: no rule ${id}`);
  return rule;
}

/** A port range a role may expose, and the service that needs it. */
export interface Exposure {
  readonly protocol: Protocol;
  readonly from: number;
  readonly to: number;
  readonly service: string;
}

/** What each role may open to the whole internet, unconditionally. Everything else world-open is a violation. */
export function worldAllowlist(env: EnvironmentConfig): Readonly<Record<AnyRole, readonly Exposure[]>> {
  const https = env.jitsi.httpsPort;
  return {
    chat: [
      { protocol: 'tcp', from: 443, to: 443, service: 'Rocket.Chat via Traefik (HTTPS, ACME TLS-ALPN-01)' },
      { protocol: 'tcp', from: 80, to: 80, service: 'Traefik redirect to HTTPS' },
    ],
    meet: [
      { protocol: 'tcp', from: https, to: https, service: 'Jitsi Meet web (HTTPS)' },
      { protocol: 'tcp', from: 80, to: 80, service: 'Jitsi web: ACME HTTP-01 and redirect to HTTPS' },
      { protocol: 'udp', from: 10000, to: 10000, service: 'Jitsi Videobridge media' },
    ],
    pbx: [],
    // Recorders call out only.
    jibri: [],
    jvb: [{ protocol: 'udp', from: 10000, to: 10000, service: 'Jitsi Videobridge media of a pool bridge' }],
    // The TURN relay's own address only (its own host and security group).
    turn: [
      { protocol: 'tcp', from: 443, to: 443, service: 'TURN over TLS (participants behind firewalls that allow only HTTPS)' },
      { protocol: 'tcp', from: 3478, to: 3478, service: 'TURN and STUN over TCP' },
      { protocol: 'udp', from: 3478, to: 3478, service: 'TURN and STUN over UDP' },
    ],
  };
}

/** SIP signalling ports: never world-open on any host, unless the pbx's exposure is justified. */
export const SIP_SIGNALLING_PORTS: readonly number[] = [5060, 5061];

/** The pbx's SIP exposure (signalling, TLS, WSS when enabled, RTP): world-open only with sip.worldOpenJustification. */
export function sipExposure(env: EnvironmentConfig): readonly Exposure[] {
  return [
    { protocol: 'udp', from: 5060, to: 5060, service: 'SIP signalling (UDP)' },
    { protocol: 'tcp', from: 5060, to: 5060, service: 'SIP signalling (TCP)' },
    { protocol: 'tcp', from: 5061, to: 5061, service: 'SIP over TLS' },
    ...(env.sip.wss ? [{ protocol: 'tcp' as const, from: 8089, to: 8089, service: 'SIP over secure websocket (WebRTC phones)' }] : []),
    { protocol: 'udp', from: env.sip.rtpPorts.from, to: env.sip.rtpPorts.to, service: 'Asterisk RTP media' },
  ];
}

export interface NamedPort {
  readonly port: number;
  readonly service: string;
}

/** Remote administration: never world-open (adminCidrs may open 22 to named networks). */
export const ADMIN_PORTS: readonly NamedPort[] = [
  { port: 22, service: 'SSH' },
  { port: 3389, service: 'RDP' },
];

/**
 * Never in any security group, from any peer: databases, monitoring and services that only talk inside a host
 * (Docker-published ports bypass host firewalls, so the security group is the last line).
 */
export const INTERNAL_PORTS: readonly NamedPort[] = [
  { port: 27017, service: 'MongoDB' },
  { port: 3000, service: 'Rocket.Chat (behind Traefik) / Grafana' },
  { port: 9458, service: 'Rocket.Chat metrics' },
  { port: 8080, service: 'Traefik dashboard / JVB REST' },
  { port: 5050, service: 'Grafana' },
  { port: 9090, service: 'Prometheus' },
  { port: 9100, service: 'node-exporter' },
  { port: 5222, service: 'Prosody client (XMPP)' },
  { port: 5269, service: 'Prosody federation (XMPP)' },
  { port: 5280, service: 'Prosody HTTP (BOSH/websocket)' },
  { port: 5347, service: 'Prosody components (XMPP)' },
  { port: 8888, service: 'jicofo' },
  { port: 5038, service: 'Asterisk AMI' },
  { port: 8088, service: 'Asterisk HTTP' },
  { port: 4222, service: 'NATS' },
];

/** Prosody's ports: never open, but for its client port to the pools (WBT-SG-XMPP). */
export const XMPP_PORTS: readonly number[] = [5222, 5269, 5280, 5347];

/** The dial-in mapper's port (config/dial-in.ts): open on the meet host to the pbx host alone (WBT-SG-DIALIN). */
export const DIAL_IN_EXPOSURE = { port: DIAL_IN_MAPPER_PORT, role: 'meet', peer: 'pbx', service: 'dial-in conference mapper (the PBX resolves meeting PINs)' } as const satisfies {
  readonly port: number;
  readonly role: AnyRole;
  readonly peer: AnyRole;
  readonly service: string;
};
