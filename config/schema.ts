/**
 * The configuration of one environment: its shape, its defaults and every rule it must obey.
 * Validated at synthesis; a failure names the environment, the field, the bad value and the fix.
 */
import { z } from 'zod';
import { canonical, isCanonical, isIpv6, isWorldCidr, overlaps, parseCidr } from './net';

export const ROLES = ['chat', 'meet', 'pbx'] as const;
export type Role = (typeof ROLES)[number];

/** Internal phones dial this to join the dial-in Jitsi room through Jigasi. */
export const CONFERENCE_EXTENSION = '8000';

/** Smallest data volume a role can run on: Docker images live there too (see README, "Sizing"). */
export const MIN_DATA_VOLUME_GIB: Record<Role, number> = { chat: 20, meet: 20, pbx: 10 };
/** Jibri keeps a recording on disk until it is uploaded: a full-HD hour is a few GB. */
export const MIN_DATA_VOLUME_GIB_WITH_JIBRI = 40;

const REGION_RE =
  /^(?:(?:af|ap|ca|eu|il|me|mx|sa|us)-(?:central|north|south|east|west|northeast|northwest|southeast|southwest)-[1-9]|us-gov-(?:east|west)-1|cn-(?:north|northwest)-1)$/;
const INSTANCE_TYPE_RE = /^[a-z][a-z0-9]*[0-9][a-z0-9-]*\.(?:nano|micro|small|medium|large|metal(?:-\d+xl)?|\d*xlarge)$/;
const LABEL = '(?!-)[a-z0-9-]{1,63}(?<!-)';
const DOMAIN_RE = new RegExp(`^(?:${LABEL}\\.)+[a-z]{2,63}$`);
const HOST_LABEL_RE = new RegExp(`^${LABEL}(?:\\.${LABEL})*$`);
const EMAIL_RE = new RegExp(`^[A-Za-z0-9._%+-]+@(?:${LABEL}\\.)+[a-z]{2,63}$`);
const AMI_RE = /^ami-[0-9a-f]{8,17}$/;
const ACCOUNT_RE = /^\d{12}$/;

const port = z
  .number({ error: 'must be a whole number from 1 to 65535' })
  .int('must be a whole number from 1 to 65535')
  .min(1, 'must be a port from 1 to 65535')
  .max(65535, 'must be a port from 1 to 65535');

const portRange = z.object({ from: port, to: port }).strict();
export type PortRange = z.infer<typeof portRange>;

const cidrList = z.array(z.string()).default([]);

const hostSize = z
  .object({
    instanceType: z.string().regex(INSTANCE_TYPE_RE, 'must be an EC2 instance type such as t3.medium or m6i.xlarge'),
    dataVolumeGiB: z.number().int('must be a whole number of GiB').max(16384, 'must be at most 16384 GiB (gp3 limit)'),
    rootVolumeGiB: z.number().int().min(8, 'must be at least 8 GiB (the Debian 12 AMI size)').max(1024).default(16),
  })
  .strict();

const sipUser = z
  .object({
    extension: z.string().regex(/^[1-9]\d{2,5}$/, 'must be 3 to 6 digits not starting with 0, e.g. "1001"'),
    name: z.string().min(1).max(64),
  })
  .strict();

const baseSchema = z
  .object({
    /** Stack id and the `<env>` of `cdktf deploy <env>`. */
    name: z.string().regex(/^[a-z][a-z0-9-]{1,20}$/, 'must be lowercase letters, digits and dashes, 2-21 characters'),
    /** Tier decides protections: production refuses destruction, staging tears down to nothing. */
    tier: z.enum(['staging', 'production']),
    aws: z
      .object({
        region: z.string().regex(REGION_RE, 'must be an AWS region name such as ap-southeast-3'),
        /** The provider refuses to run in any other account. @default [] (required in production) */
        allowedAccountIds: z.array(z.string().regex(ACCOUNT_RE, 'must be a 12-digit AWS account id')).default([]),
        /** One zone holds every host and its data volume (EBS is zonal). @default "<region>a" */
        availabilityZone: z.string().optional(),
      })
      .strict(),
    dns: z
      .object({
        /** The public domain, e.g. example.com. */
        domain: z.string().regex(DOMAIN_RE, 'must be a lowercase DNS name such as example.com'),
        /** Names live under this label, e.g. chat.staging.example.com. @default "" (production), "staging" (staging) */
        subdomain: z.string().regex(HOST_LABEL_RE, 'must be a DNS label such as "staging"').or(z.literal('')),
        /** "lookup" an existing Route53 zone by name, or "create" it and output its name servers. @default "lookup" */
        zone: z.enum(['lookup', 'create']).default('lookup'),
        /** Name of the Route53 zone. @default the domain */
        zoneName: z.string().regex(DOMAIN_RE, 'must be a lowercase DNS name such as example.com').optional(),
        /** iodef contact for the CAA record (mailto: or https:). @default none */
        caaIodef: z
          .string()
          .regex(/^(mailto:[^\s"]+@[^\s"]+|https:\/\/[^\s"]+)$/, 'must be "mailto:..." or "https://..."')
          .optional(),
        hostNames: z
          .object({
            chat: z.string().regex(HOST_LABEL_RE, 'must be a DNS label such as "chat"').default('chat'),
            meet: z.string().regex(HOST_LABEL_RE, 'must be a DNS label such as "meet"').default('meet'),
            pbx: z.string().regex(HOST_LABEL_RE, 'must be a DNS label such as "pbx"').default('pbx'),
          })
          .strict()
          .default({ chat: 'chat', meet: 'meet', pbx: 'pbx' }),
      })
      .strict(),
    /** Let's Encrypt account contact (expiry notices). */
    letsEncryptEmail: z.string().regex(EMAIL_RE, 'must be an email address such as ops@example.com'),
    network: z
      .object({
        vpcCidr: z.string(),
      })
      .strict(),
    hosts: z.object({ chat: hostSize, meet: hostSize, pbx: hostSize }).strict(),
    ami: z
      .object({
        /** Pin an AMI id; otherwise the newest `debian-12-<arch>-*` of Debian's account 136693071363. @default lookup */
        id: z.string().regex(AMI_RE, 'must be an AMI id such as ami-0123456789abcdef0').optional(),
        /** With lookup: replace instances when Debian publishes a new AMI (true) or keep the one running (false). */
        followLatest: z.boolean(),
      })
      .strict(),
    /** Sources allowed to reach tcp 22; empty keeps 22 closed (use SSM Session Manager). @default [] */
    adminCidrs: cidrList,
    sip: z
      .object({
        /** Provider's SIP signalling sources (udp/tcp 5060). @default [] */
        trunkSignallingCidrs: cidrList,
        /** Provider's RTP media sources. @default [] */
        trunkMediaCidrs: cidrList,
        /** Office networks whose phones register over TLS 5061 (and WSS when enabled). @default [] */
        clientCidrs: cidrList,
        /** Open WSS 8089 to the client CIDRs for WebRTC phones. @default false */
        wss: z.boolean().default(false),
        /** Asterisk RTP ports. @default 10000-19999 */
        rtpPorts: portRange.default({ from: 10000, to: 19999 }),
        /** A written reason to accept 0.0.0.0/0 in a SIP list; the audit report shows it. @default none */
        worldOpenJustification: z.string().min(20, 'must explain in at least 20 characters why SIP is open to the world').optional(),
        /** Extensions of the internal phones; passwords are generated into SSM. @default [] */
        users: z.array(sipUser).default([]),
        /** Jitsi room that calls arriving from the trunk are put in. @default "dial-in" */
        dialInRoom: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'must be a room name of lowercase letters, digits, - and _').default('dial-in'),
      })
      .strict()
      .prefault({}),
    jitsi: z
      .object({
        /** Port of the Jitsi web frontend. @default 443 */
        httpsPort: port.default(443),
        /** Jigasi, the SIP gateway to the PBX. @default true */
        jigasi: z.boolean().default(true),
        /** Jigasi media ports on the meet host. @default 20000-20050 */
        jigasiPorts: portRange.default({ from: 20000, to: 20050 }),
        /** Jibri recording to S3. @default true */
        jibri: z.boolean().default(true),
        /** "jwt" (shared with Rocket.Chat, guests may join), "internal" (Prosody accounts) or "none". @default "jwt" */
        auth: z.enum(['jwt', 'internal', 'none']).default('jwt'),
        /** Time zone of the Jitsi containers. @default "Asia/Jakarta" */
        timezone: z.string().regex(/^[A-Za-z_]+(?:\/[A-Za-z0-9_+-]+)*$/, 'must be a tz name such as Asia/Jakarta').default('Asia/Jakarta'),
      })
      .strict()
      .prefault({}),
    rocketchat: z
      .object({
        /** Rocket.Chat image tag (a release still supported upstream). */
        release: z.string().regex(/^\d+\.\d+\.\d+$/, 'must be an exact Rocket.Chat release such as 8.9.1'),
        /** MongoDB version the release supports. */
        mongodbVersion: z.string().regex(/^\d+\.\d+(?:\.\d+)?$/, 'must be a MongoDB version such as 7.0'),
        /** First administrator; the password is generated into SSM. @default "admin" */
        adminUsername: z.string().regex(/^[a-zA-Z0-9._-]{3,32}$/, 'must be 3-32 letters, digits, dot, dash or underscore').default('admin'),
        /** Email of the first administrator. @default letsEncryptEmail */
        adminEmail: z.string().regex(EMAIL_RE, 'must be an email address such as ops@example.com').optional(),
      })
      .strict(),
    storage: z
      .object({
        /** Days a recording stays in S3 (privacy: keep it short). @default 30 */
        recordingsRetentionDays: z.number().int().min(1).max(3650).default(30),
        /** Days a database dump or configuration archive stays in S3. */
        backupRetentionDays: z.number().int().min(1).max(3650),
        /** Days an overwritten or deleted object version is kept. @default 30 */
        noncurrentVersionDays: z.number().int().min(1).max(3650).default(30),
      })
      .strict(),
    /** Daily DLM snapshots of the data volumes. */
    snapshots: z
      .object({
        /** Snapshots outlive `cdktf destroy`, so staging has none by default. @default false (staging), true (production) */
        enabled: z.boolean(),
        /** How many daily snapshots to keep. */
        retainCount: z.number().int().min(1).max(1000),
        /** UTC time of the daily snapshot. @default "19:00" (02:00 in Jakarta) */
        time: z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be HH:MM in UTC, e.g. 19:00').default('19:00'),
      })
      .strict(),
    /** Remote state in S3 with native locking; none keeps local state (fine for a first synth). @default none */
    state: z
      .object({
        bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be an S3 bucket name'),
        region: z.string().regex(REGION_RE, 'must be an AWS region name such as ap-southeast-3'),
        /** @default "weebeetalk/<env>/terraform.tfstate" */
        key: z.string().min(1).optional(),
        /** KMS key for the state object. @default S3-managed encryption */
        kmsKeyId: z.string().optional(),
      })
      .strict()
      .optional(),
    /** Extra tags on every resource (never put a secret here). @default {} */
    tags: z.record(z.string(), z.string()).default({}),
  })
  .strict();

export const environmentSchema = baseSchema.superRefine(checkCrossFieldRules);

export type EnvironmentInput = z.input<typeof environmentSchema>;
export type EnvironmentConfig = z.output<typeof environmentSchema>;

type Ctx = z.RefinementCtx;

function issue(ctx: Ctx, path: (string | number)[], message: string): void {
  ctx.addIssue({ code: 'custom', path, message });
}

function checkCidrList(ctx: Ctx, path: (string | number)[], list: string[], vpc: ReturnType<typeof parseCidr>, world: 'never' | 'justified' | 'allowed'): void {
  const parsed: { i: number; c: NonNullable<ReturnType<typeof parseCidr>> }[] = [];
  list.forEach((text, i) => {
    if (isWorldCidr(text)) {
      if (world === 'never') issue(ctx, [...path, i], 'must never be the whole internet: list the networks that need it, or leave it empty and use SSM Session Manager');
      if (world === 'justified') issue(ctx, [...path, i], 'opens SIP to the whole internet (toll-fraud scanners find it within minutes): list your provider/office networks, or set sip.worldOpenJustification');
      return;
    }
    if (isIpv6(text)) {
      issue(ctx, [...path, i], 'must be an IPv4 CIDR such as 203.0.113.0/24 (the VPC has no IPv6)');
      return;
    }
    const c = parseCidr(text);
    if (!c) {
      issue(ctx, [...path, i], 'must be an IPv4 CIDR such as 203.0.113.0/24 (a single address is 203.0.113.7/32)');
      return;
    }
    if (!isCanonical(c)) {
      issue(ctx, [...path, i], `has host bits set: write ${canonical(c)}`);
      return;
    }
    if (vpc && overlaps(c, vpc))
      issue(ctx, [...path, i], `overlaps the VPC ${vpc.text}: list the outside network's public addresses, or move network.vpcCidr to a block clear of it`);
    for (const p of parsed) {
      if (overlaps(p.c, c)) issue(ctx, [...path, i], `overlaps ${p.c.text} at index ${p.i}: remove one or merge them`);
    }
    parsed.push({ i, c });
  });
}

function within(range: PortRange, p: number): boolean {
  return p >= range.from && p <= range.to;
}

function checkCrossFieldRules(env: z.output<typeof baseSchema>, ctx: Ctx): void {
  // VPC: a private block large enough for a /24 subnet.
  const vpc = parseCidr(env.network.vpcCidr);
  if (!vpc) issue(ctx, ['network', 'vpcCidr'], 'must be an IPv4 CIDR such as 10.20.0.0/16');
  else if (!isCanonical(vpc)) issue(ctx, ['network', 'vpcCidr'], `has host bits set: write ${canonical(vpc)}`);
  else if (vpc.prefix < 16 || vpc.prefix > 24) issue(ctx, ['network', 'vpcCidr'], 'must be a /16 to /24 block (AWS allows /16 to /28; the hosts need a /24 subnet)');
  else if (!['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16'].some((p) => overlaps(parseCidr(p)!, vpc) && parseCidr(p)!.prefix <= vpc.prefix))
    issue(ctx, ['network', 'vpcCidr'], 'must be a private (RFC 1918) block such as 10.20.0.0/16');
  const vpcOk = vpc && isCanonical(vpc) ? vpc : undefined;

  checkCidrList(ctx, ['adminCidrs'], env.adminCidrs, vpcOk, 'never');
  const sipWorld = env.sip.worldOpenJustification ? 'allowed' : 'justified';
  checkCidrList(ctx, ['sip', 'trunkSignallingCidrs'], env.sip.trunkSignallingCidrs, vpcOk, sipWorld);
  checkCidrList(ctx, ['sip', 'trunkMediaCidrs'], env.sip.trunkMediaCidrs, vpcOk, sipWorld);
  checkCidrList(ctx, ['sip', 'clientCidrs'], env.sip.clientCidrs, vpcOk, sipWorld);

  // Every host name must live in the zone the records are written to.
  const zone = env.dns.zoneName ?? env.dns.domain;
  const sipDomain = [env.dns.subdomain, env.dns.domain].filter((p) => p !== '').join('.');
  if (DOMAIN_RE.test(env.dns.domain) && sipDomain !== zone && !sipDomain.endsWith(`.${zone}`))
    issue(ctx, ['dns', 'zoneName'], `does not contain ${sipDomain}, where the host names live: use ${env.dns.domain} or a parent of it`);

  // Production must name the one account it may run in.
  if (env.tier === 'production' && env.aws.allowedAccountIds.length === 0)
    issue(ctx, ['aws', 'allowedAccountIds'], 'must list the production AWS account id, so a deploy with the wrong credentials stops before it changes anything');
  if (env.aws.availabilityZone !== undefined && !new RegExp(`^${env.aws.region}[a-z]$`).test(env.aws.availabilityZone))
    issue(ctx, ['aws', 'availabilityZone'], `must be a zone of ${env.aws.region}, such as ${env.aws.region}a`);

  // Port ranges: ordered, unprivileged, and not over another service of the same host.
  const rtp = env.sip.rtpPorts;
  if (rtp.from > rtp.to) issue(ctx, ['sip', 'rtpPorts'], `is inverted (from ${rtp.from} > to ${rtp.to}): write { from: ${rtp.to}, to: ${rtp.from} }`);
  else if (rtp.from < 1024) issue(ctx, ['sip', 'rtpPorts'], 'must start at 1024 or above (privileged ports); the usual range is 10000-19999');
  else {
    const pbxPorts: [number, string][] = [[5060, 'SIP'], [5061, 'SIP over TLS'], [5038, 'AMI'], [8088, 'Asterisk HTTP'], [8089, 'WSS']];
    for (const [p, what] of pbxPorts)
      if (within(rtp, p)) issue(ctx, ['sip', 'rtpPorts'], `${rtp.from}-${rtp.to} contains ${p} (${what}) on the pbx host: choose a range clear of it, such as 10000-19999`);
  }
  const jg = env.jitsi.jigasiPorts;
  const https = env.jitsi.httpsPort;
  if (jg.from > jg.to) issue(ctx, ['jitsi', 'jigasiPorts'], `is inverted (from ${jg.from} > to ${jg.to}): write { from: ${jg.to}, to: ${jg.from} }`);
  else if (jg.from < 1024) issue(ctx, ['jitsi', 'jigasiPorts'], 'must start at 1024 or above; the usual range is 20000-20050');
  else {
    const meetPorts: [number, string][] = [[10000, 'JVB media'], [https, 'HTTPS'], [80, 'HTTP']];
    for (const [p, what] of meetPorts)
      if (within(jg, p)) issue(ctx, ['jitsi', 'jigasiPorts'], `${jg.from}-${jg.to} contains ${p} (${what}) on the meet host: choose a range clear of it, such as 20000-20050`);
  }
  const reservedMeet: [number, string][] = [[80, 'HTTP and ACME HTTP-01'], [10000, 'JVB media (udp)'], [22, 'SSH'], [5222, 'Prosody'], [5280, 'Prosody'], [5347, 'Prosody'], [8888, 'jicofo'], [8080, 'JVB']];
  for (const [p, what] of reservedMeet)
    if (https === p) issue(ctx, ['jitsi', 'httpsPort'], `cannot be ${p}, which is ${what}: use 443 or 8443`);

  // Data volumes: the role's minimum.
  for (const role of ROLES) {
    const need = role === 'meet' && env.jitsi.jibri ? MIN_DATA_VOLUME_GIB_WITH_JIBRI : MIN_DATA_VOLUME_GIB[role];
    const why = role === 'meet' && env.jitsi.jibri ? 'Jibri keeps recordings there until uploaded' : 'Docker images and state live there';
    if (env.hosts[role].dataVolumeGiB < need)
      issue(ctx, ['hosts', role, 'dataVolumeGiB'], `is too small for ${role}: at least ${need} GiB (${why})`);
  }

  // SIP users need a network to register from; Jigasi needs the PBX for something to talk to.
  if (env.sip.users.length > 0 && env.sip.clientCidrs.length === 0)
    issue(ctx, ['sip', 'clientCidrs'], 'is empty but sip.users are defined: list the office networks the phones register from');
  const seen = new Set<string>();
  env.sip.users.forEach((u, i) => {
    if (seen.has(u.extension)) issue(ctx, ['sip', 'users', i, 'extension'], 'is used twice: each phone needs its own extension');
    if (u.extension === CONFERENCE_EXTENSION) issue(ctx, ['sip', 'users', i, 'extension'], `is the conference extension (${CONFERENCE_EXTENSION}, dials into the Jitsi room): choose another`);
    seen.add(u.extension);
  });
  if (env.sip.wss && env.sip.clientCidrs.length === 0) issue(ctx, ['sip', 'wss'], 'is on but sip.clientCidrs is empty: WSS is only opened to client networks');

  if (env.ami.id === undefined && env.tier === 'production' && env.ami.followLatest)
    issue(ctx, ['ami', 'followLatest'], 'would replace production hosts whenever Debian publishes an AMI: set it to false, or pin ami.id');
}
