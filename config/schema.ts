/**
 * The configuration of one environment: its shape, its defaults and every rule it must obey.
 * Validated at synthesis; a failure names the environment, the field, the bad value and the fix.
 */
import { z } from 'zod';
import { canonical, isCanonical, isIpv6, isWorldCidr, overlaps, parseCidr } from './net';
import { checkRocketChat } from './rocketchat-support';

export const ROLES = ['chat', 'meet', 'pbx', 'turn'] as const;
export type Role = (typeof ROLES)[number];

/** The roles an environment builds, in ROLES order: every role but the TURN relay when `turn.enabled` is off. */
export function enabledRoles(env: { readonly turn: { readonly enabled: boolean } }): Role[] {
  return ROLES.filter((role) => role !== 'turn' || env.turn.enabled);
}

/**
 * Auto Scaling pools of the meet host: recorders (Jibri) and video bridges (JVB) that join its Prosody over the
 * VPC. Members have no fixed address, name or data volume: they are cattle, the meet host is their shepherd.
 */
export const POOLS = ['jibri', 'jvb'] as const;
export type Pool = (typeof POOLS)[number];
/** A host role or a pool: what a security group, an IAM role, a bootstrap and a bundle are made for. */
export type AnyRole = Role | Pool;
export const ANY_ROLES: readonly AnyRole[] = [...ROLES, ...POOLS];

/** The pools an environment builds, in POOLS order (`jitsi.<pool>Pool.enabled`). */
export function enabledPools(env: { readonly jitsi: { readonly jibriPool: { readonly enabled: boolean }; readonly jvbPool: { readonly enabled: boolean } } }): Pool[] {
  return POOLS.filter((pool) => env.jitsi[`${pool}Pool`].enabled);
}

/** Internal phones dial this to join a running meeting by its PIN, through Jigasi. */
export const CONFERENCE_EXTENSION = '8000';

/** One value per role, in ROLES order: the strict objects keyed by role (hosts, dns.hostNames) are built from it. */
function perRole<T>(make: (role: Role) => T): Record<Role, T> {
  return Object.fromEntries(ROLES.map((role) => [role, make(role)])) as Record<Role, T>;
}

/** A role's smallest data volume and why it needs that much. */
export interface DataVolumeMinimum {
  gib: number;
  why: string;
}

const DOCKER_STATE = 'Docker images and state live there';

/**
 * Smallest data volume each role can run on (see README, "Sizing"): the one source, enforced by the schema.
 * Docker images live there too; Jibri keeps a recording on disk until it is uploaded (a full-HD hour is a few GB).
 */
export const DATA_VOLUME_MINIMUM: Record<Role, (env: { jitsi: { jibri: boolean } }) => DataVolumeMinimum> = {
  chat: () => ({ gib: 20, why: DOCKER_STATE }),
  meet: ({ jitsi }) => (jitsi.jibri ? { gib: 40, why: 'Jibri keeps recordings there until uploaded' } : { gib: 20, why: DOCKER_STATE }),
  pbx: () => ({ gib: 10, why: DOCKER_STATE }),
  // No Docker there: coturn is Debian's package; the volume keeps its certificate.
  turn: () => ({ gib: 2, why: "its Let's Encrypt certificate lives there" }),
};

const REGION_RE = /^(?:(?:af|ap|ca|eu|il|me|mx|sa|us)-(?:central|north|south|east|west|northeast|northwest|southeast|southwest)-[1-9]|us-gov-(?:east|west)-1|cn-(?:north|northwest)-1)$/;
const INSTANCE_TYPE_RE = /^[a-z][a-z0-9]*[0-9][a-z0-9-]*\.(?:nano|micro|small|medium|large|metal(?:-\d+xl)?|\d*xlarge)$/;
const LABEL = '(?!-)[a-z0-9-]{1,63}(?<!-)';
const DOMAIN_RE = new RegExp(`^(?:${LABEL}\\.)+[a-z]{2,63}$`);
const HOST_LABEL_RE = new RegExp(`^${LABEL}(?:\\.${LABEL})*$`);
const EMAIL_RE = new RegExp(`^[A-Za-z0-9._%+-]+@(?:${LABEL}\\.)+[a-z]{2,63}$`);
/**
 * Mail domains Let's Encrypt's Boulder refuses as an account contact: example.com/.net/.org (RFC 2606), and names
 * without a public suffix (RFC 2606/6761 reserved TLDs, mDNS .local, and .internal, .lan, .home.arpa).
 */
export const NON_PUBLIC_MAIL_DOMAIN_RE = /(^|\.)example\.(com|net|org)$|(^|\.)(example|test|invalid|localhost|local|internal|lan|home\.arpa)$/;
/** An environment's name: the stack id, the file name and part of every resource name. */
export const ENVIRONMENT_NAME_RE = /^[a-z][a-z0-9-]{1,20}$/;
const AMI_RE = /^ami-[0-9a-f]{8,17}$/;
const ACCOUNT_RE = /^\d{12}$/;
/**
 * A phone's display name lands in pjsip.conf as `callerid="<name>" <ext>`: no quote, `;` (comment), brackets
 * (section header), angle brackets (the number), backslash or control character may reach it.
 */
const SIP_NAME_RE = /^[\p{L}\p{N}][\p{L}\p{N} .,'()&/_+-]*$/u;
/** AWS tag keys and values: letters, digits, spaces and `_ . : / = + - @` (EC2 and S3 accept only these). */
const TAG_TEXT_RE = /^[\p{L}\p{N} _.:/=+\-@]*$/u;

/** CloudWatch Logs' retention periods: PutRetentionPolicy accepts only these (never-expire is not offered: logs hold addresses). */
export const LOG_RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653] as const;
const LOG_RETENTION_MESSAGE = `must be one of CloudWatch Logs' retention periods in days: ${LOG_RETENTION_DAYS.join(', ')}`;

export const TIER_MESSAGE = 'must be "staging" or "production" (write tier: \'staging\' for a disposable environment, tier: \'production\' for a protected one)';

export type Architecture = 'x86_64' | 'arm64';

/**
 * Graviton families run arm64: a1 (the first generation, no "g") and a "g" after the generation digit (t4g, m7g,
 * c7gn); all others x86_64. The one rule for the schema and the image lookup (constructs/debian-host.ts, archOf).
 */
export function architectureOf(instanceType: string): Architecture {
  return /^(?:a1|[a-z]+\d+g[a-z]*)[.-]/.test(instanceType) ? 'arm64' : 'x86_64';
}

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
    /** Pin this role's AMI (wins over ami.id), e.g. an arm64 image for a Graviton role. @default ami.id or lookup */
    amiId: z.string().regex(AMI_RE, 'must be an AMI id such as ami-0123456789abcdef0').optional(),
    /** Architecture of the pinned amiId, checked against the instance type. @default not checked at synthesis */
    amiArchitecture: z.enum(['x86_64', 'arm64']).optional(),
  })
  .strict();

/**
 * Memory of an instance type in GiB where its family says it (AWS's ratios: c 2, m and t 4, r 8, x 16 GiB per vCPU;
 * 2 vCPUs per "large"), or undefined for a family this does not know (GPU, storage, burstable t2/t3 below large...).
 */
export function memoryGiBOf(instanceType: string): number | undefined {
  const m = /^([cmrtx])\d+[a-z-]*\.(\d*)(large|xlarge)$/.exec(instanceType);
  if (!m) return undefined;
  const perVcpu = { c: 2, m: 4, t: 4, r: 8, x: 16 }[m[1] as 'c' | 'm' | 't' | 'r' | 'x'];
  const vcpus = m[3] === 'large' ? 2 : 4 * (m[2] === '' ? 1 : Number(m[2]));
  return perVcpu * vcpus;
}

/** Jibri's Chrome and ffmpeg recording 720p take about 8 GB (DESIGN.md, "Roles and pools"). */
export const JIBRI_MEMORY_GIB = 8;

/** What both pools are made of. */
const poolShape = {
  /** Build the pool. */
  enabled: z.boolean(),
  /** Members running at all times (0: none until the scaling policy asks). */
  min: z.number().int('must be a whole number of members').min(0, 'must be 0 or more').max(50, 'must be at most 50 members'),
  /** Members at most: the bill's ceiling. */
  max: z.number().int('must be a whole number of members').min(0, 'must be 0 or more').max(50, 'must be at most 50 members'),
  instanceType: z.string().regex(INSTANCE_TYPE_RE, 'must be an EC2 instance type such as m6i.xlarge'),
  /** The member's only disk (Docker's images; a recording until it is uploaded). @default 30 */
  rootVolumeGiB: z.number().int().min(16, 'must be at least 16 GiB (Debian, Docker and the Jitsi images)').max(1024).default(30),
};

/** A Jitsi room name as Prosody keeps it (lowercase: Prosody lowercases room addresses). */
const roomName = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'must be a room name of lowercase letters, digits, - and _ (at most 64)');

const dialInNumber = z
  .object({
    /** As callers dial it and the invite shows it, e.g. "+62 21 5555 0100". */
    number: z.string().regex(/^\+?[0-9][0-9 ()-]{2,30}$/, 'must be a phone number of digits, spaces, ( ) and -, optionally with a leading +, e.g. "+62 21 5555 0100"'),
    /** ISO 3166 country code of the number (the invite shows its flag), e.g. "id". */
    country: z
      .string()
      .regex(/^[A-Za-z]{2}$/, 'must be a two-letter ISO 3166 country code, e.g. "id"')
      .transform((c) => c.toLowerCase()),
    /** Shown as toll-free. @default false */
    tollFree: z.boolean().default(false),
  })
  .strict();

const fixedRoom = z
  .object({
    room: roomName,
    /** The called number exactly as the trunk sends it in the request URI (e.g. "622155550199"), or "*" for every trunk call. @default none */
    did: z
      .string()
      .regex(/^(\+?[0-9]{2,20}|\*)$/, 'must be the called number as the trunk sends it (digits, optionally with a leading +), or "*" for every trunk call')
      .optional(),
    /** An internal extension that phones dial for this room. @default none */
    extension: z
      .string()
      .regex(/^[1-9]\d{2,5}$/, 'must be 3 to 6 digits not starting with 0, e.g. "8100"')
      .optional(),
  })
  .strict();

const sipUser = z
  .object({
    extension: z.string().regex(/^[1-9]\d{2,5}$/, 'must be 3 to 6 digits not starting with 0, e.g. "1001"'),
    /** Display name shown on phones (pjsip.conf callerid): letters, digits, spaces and . , ' ( ) & / _ + - */
    name: z
      .string()
      // Composed form first: an "é" typed as e + U+0301 is a letter, not a letter and a stray mark.
      .normalize('NFC')
      .min(1, 'must not be empty')
      .max(64, 'must be at most 64 characters')
      .regex(SIP_NAME_RE, "may hold only letters, digits, spaces and . , ' ( ) & / _ + - (it is written into pjsip.conf, where a quote, ; [ ] < > or a line break would change the configuration)"),
  })
  .strict();

/** An email address on a public domain (never a documentation or non-public one: `why` says what that would cost). */
function publicMailbox(why: string) {
  return z
    .string()
    .regex(EMAIL_RE, 'must be an email address such as ops@example.com')
    .superRefine((email, ctx) => {
      const domain = email.split('@')[1] ?? '';
      if (EMAIL_RE.test(email) && NON_PUBLIC_MAIL_DOMAIN_RE.test(domain))
        ctx.addIssue({ code: 'custom', message: `is on ${domain}, a documentation or non-public domain: ${why}: set a mailbox of your own public domain` });
    });
}

const baseSchema = z
  .object({
    /** Stack id and the `<env>` of `cdktf deploy <env>`. */
    name: z.string().regex(ENVIRONMENT_NAME_RE, 'must be lowercase letters, digits and dashes, 2-21 characters'),
    /** Tier decides protections: production refuses destruction, staging tears down to nothing. */
    tier: z.enum(['staging', 'production'], { error: TIER_MESSAGE }),
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
          .object(perRole((role) => z.string().regex(HOST_LABEL_RE, `must be a DNS label such as "${role}"`).default(role)))
          .strict()
          .default(perRole((role) => role)),
      })
      .strict(),
    /** Let's Encrypt account contact (it no longer sends expiry emails since 2025-06-04; the account still needs one it accepts). */
    letsEncryptEmail: publicMailbox("Let's Encrypt refuses it as an account contact (invalidContact), so no host would get a certificate"),
    network: z
      .object({
        vpcCidr: z.string(),
      })
      .strict(),
    hosts: z.object(perRole(() => hostSize)).strict(),
    ami: z
      .object({
        /** Pin an AMI id; otherwise the newest `debian-12-<arch>-*` of Debian's account 136693071363. @default lookup */
        id: z.string().regex(AMI_RE, 'must be an AMI id such as ami-0123456789abcdef0').optional(),
        /** With lookup: replace instances when Debian publishes a new AMI (true) or keep the one running (false). */
        followLatest: z.boolean(),
        /** Architecture of the pinned id, checked against every role's instance type. @default not checked at synthesis */
        architecture: z.enum(['x86_64', 'arm64']).optional(),
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
        worldOpenJustification: z
          .string()
          .min(20, 'must explain in at least 20 characters why SIP is open to the world')
          .max(300, 'must be at most 300 characters')
          // The audit report prints it in a markdown table: one line, no cell separator.
          .regex(/^[^\p{Cc}|]+$/u, 'must be one line without "|" (the audit report prints it in a table)')
          .optional(),
        /** Extensions of the internal phones; passwords are generated into SSM. @default [] */
        users: z.array(sipUser).default([]),
        /** Dial-in through Jigasi: the numbers shown with each meeting's PIN, fixed rooms, the wait for a meeting (README, "Dial-in"). */
        dialIn: z
          .object({
            /** Numbers shown in a meeting's invite dialog with its PIN: your trunk's numbers as callers dial them. @default [] */
            numbers: z.array(dialInNumber).default([]),
            /** Numbers or extensions that go straight to one room, without a PIN (e.g. a helpdesk). @default [] */
            rooms: z.array(fixedRoom).default([]),
            /** How long a caller waits for a meeting nobody has opened yet before hearing goodbye. @default 300 */
            waitSeconds: z.number().int().min(0).max(1800, 'must be at most 1800 (30 minutes)').default(300),
          })
          .strict()
          .prefault({}),
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
        timezone: z
          .string()
          .regex(/^[A-Za-z][A-Za-z0-9_+-]*(?:\/[A-Za-z0-9_+-]+)*$/, 'must be a tz name such as Asia/Jakarta')
          .refine(timeZoneExists, 'is not a time zone of the tz database: use a name such as Asia/Jakarta or Europe/Berlin')
          .superRefine((tz, ctx) => {
            const problem = timeZoneSpelling(tz);
            if (problem) ctx.addIssue({ code: 'custom', message: problem });
          })
          .default('Asia/Jakarta'),
        /**
         * Who gets into a meeting and who runs it, written into docker-jitsi-meet's .env (README, "Jitsi security
         * settings"; each variable with the upstream file that reads it in userdata/upstream-env.ts). End-to-end
         * encryption is never disabled: there is no switch for it.
         */
        security: z
          .object({
            /** The lobby is available: a moderator can make newcomers wait until admitted (ENABLE_LOBBY). @default true */
            lobby: z.boolean().default(true),
            /** Moderators can mute everyone and let people unmute one by one (ENABLE_AV_MODERATION). @default true */
            avModeration: z.boolean().default(true),
            /** People without a token or account may join a meeting a token holder has opened (ENABLE_GUESTS; needs auth). @default true */
            guests: z.boolean().default(true),
            /** The pre-join page (camera and microphone check, name) before anyone is seen or heard (ENABLE_PREJOIN_PAGE). @default true */
            prejoinPage: z.boolean().default(true),
            /** Everyone must give a name to join, or to knock at the lobby (ENABLE_REQUIRE_DISPLAY_NAME). @default true */
            requireDisplayName: z.boolean().default(true),
            /**
             * The only token audience (`aud`) Prosody accepts with jitsi.auth "jwt" (JWT_ACCEPTED_AUDIENCES; unset, upstream
             * accepts any): the Rocket.Chat Jitsi app's "Token Auditor", whose default is "RocketChat". @default "RocketChat"
             */
            tokenAudience: z
              .string()
              .regex(
                /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$/,
                'must be one audience such as "RocketChat" (the Rocket.Chat Jitsi app\'s "Token Auditor"): letters, digits and . _ : / -, no "*" (it accepts any audience), commas or spaces',
              )
              .default('RocketChat'),
          })
          .strict()
          .prefault({}),
        /**
         * Recorders on Auto Scaling: each records one meeting at a time and uploads it to the recordings bucket. The
         * meet host's own Jibri (`jitsi.jibri`) stays the first recorder and counts as one of the idle ones.
         */
        jibriPool: z
          .object({
            ...poolShape,
            /** Recorders kept idle and ready, the meet host's own among them; scaling adds or removes members to hold it. */
            idle: z.number().int('must be a whole number of recorders').min(0, 'must be 0 or more').max(20, 'must be at most 20 recorders'),
          })
          .strict(),
        /** Video bridges on Auto Scaling beside the meet host's own: Jicofo spreads the conferences over them. */
        jvbPool: z
          .object({
            ...poolShape,
            /** Average bridge stress (JVB's stress_level; 1 is a full bridge) above which a bridge is added. @default 0.6 */
            scaleOutStress: z.number().min(0.05, 'must be at least 0.05').max(1, 'must be at most 1 (a full bridge)').default(0.6),
            /** Average bridge stress below which, for 15 minutes, a bridge drains and goes. @default 0.2 */
            scaleInStress: z.number().min(0, 'must be 0 or more').max(1, 'must be at most 1').default(0.2),
          })
          .strict(),
      })
      .strict(),
    turn: z
      .object({
        /** A TURN relay (coturn) on TCP 443 (TLS) and 3478 for participants behind firewalls that allow only HTTPS. */
        enabled: z.boolean(),
        /** The relay's port range (media to and from the video bridge only). @default 49152-65535 */
        relayPorts: portRange.default({ from: 49152, to: 65535 }),
        /**
         * Allocations per TURN credential at once. Prosody's credentials are the expiry second alone: everyone who joined
         * in the same second shares one, and a client makes several (per ICE server, per connection). @default 48
         */
        userQuota: z.number().int().min(1).max(1000).default(48),
        /** Allocations in total at once. @default 1200 */
        totalQuota: z.number().int().min(1).max(100000).default(1200),
      })
      .strict(),
    rocketchat: z
      .object({
        /** Rocket.Chat image tag (a release still supported upstream). */
        release: z.string().regex(/^\d+\.\d+\.\d+$/, 'must be an exact Rocket.Chat release such as 8.9.1'),
        /** MongoDB version the release supports. */
        mongodbVersion: z.string().regex(/^\d+\.\d+(?:\.\d+)?$/, 'must be a MongoDB version such as 7.0'),
        /** First administrator; the password is generated into SSM. @default "admin" */
        adminUsername: z
          .string()
          .regex(/^[a-zA-Z0-9._-]{3,32}$/, 'must be 3-32 letters, digits, dot, dash or underscore')
          .default('admin'),
        /** Email of the first administrator. @default letsEncryptEmail */
        adminEmail: z.string().regex(EMAIL_RE, 'must be an email address such as ops@example.com').optional(),
        /**
         * Security settings, applied at every start of Rocket.Chat (an administrator's change in the UI lasts until the
         * next start): README, "Rocket.Chat security settings".
         */
        security: z
          .object({
            /** End-to-end encryption available to users (their keys stay on their devices). @default true */
            e2e: z.boolean().default(true),
            /** New direct messages and private rooms are encrypted by default (needs e2e). @default false */
            e2eByDefault: z.boolean().default(false),
            /** Shortest password accepted. @default 14 (Rocket.Chat 8's own) */
            passwordMinLength: z.number().int('must be a whole number of characters').min(10, 'must be at least 10 characters').max(128, 'must be at most 128 characters').default(14),
            /** A lower-case and an upper-case letter, a digit and a symbol in every password. @default true */
            passwordCharacterClasses: z.boolean().default(true),
            /** Earlier passwords a user may not choose again (0 keeps no history). @default 5 */
            passwordHistory: z.number().int().min(0).max(50).default(5),
            /** Failed logins of one user before the user is blocked for blockMinutes (per address: 50). @default 10 */
            failedLoginAttempts: z.number().int().min(3, 'must be at least 3').max(100).default(10),
            /** Minutes a blocked user or address waits. @default 15 */
            blockMinutes: z.number().int().min(1).max(1440).default(15),
            /** Two-factor authentication offered by authenticator app (TOTP) and by email. @default true */
            twoFactor: z.boolean().default(true),
            /** Uploaded files need a logged-in user to download. @default true */
            protectFiles: z.boolean().default(true),
            /** Every login (user, address, browser) in Rocket.Chat's log. @default true */
            loginLogs: z.boolean().default(true),
          })
          .strict()
          .prefault({}),
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
        time: z
          .string()
          .regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be HH:MM in UTC, e.g. 19:00')
          .default('19:00'),
      })
      .strict(),
    /** Remote state in S3 with native locking; none keeps local state (fine for a first synth). @default none */
    state: z
      .object({
        bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be an S3 bucket name'),
        region: z.string().regex(REGION_RE, 'must be an AWS region name such as ap-southeast-3'),
        /** @default "weebeetalk/<env>/terraform.tfstate" */
        key: z
          .string()
          .regex(/^(?!\/)(?!.*\/\/)(?!.*\/$)[A-Za-z0-9!_.*'()/-]{1,1024}$/, 'must be an S3 key such as weebeetalk/qa/terraform.tfstate (no leading, trailing or double "/", safe characters only)')
          .optional(),
        /** KMS key for the state object. @default S3-managed encryption */
        kmsKeyId: z
          .string()
          .regex(
            /^(arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key\/[0-9a-f-]{36}|alias\/[A-Za-z0-9/_-]+)|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|alias\/[A-Za-z0-9/_-]+)$/,
            'must be a KMS key id, key ARN or alias (alias/terraform-state)',
          )
          .optional(),
      })
      .strict()
      .optional(),
    /** Production only: accept local state (a file on one laptop holding production's secrets). @default false */
    allowLocalState: z.boolean().default(false),
    /** The generated secrets (README, "Secrets and state"). */
    secrets: z
      .object({
        /**
         * Each secret's version, by its parameter path below /weebeetalk/<env>/ (e.g. "meet/jigasi-sip-password"):
         * raising one writes a new random value at the next deploy, and the hosts that read it pick it up.
         * @default {} (every secret at version 1)
         */
        versions: z
          .record(
            z.string().regex(/^[a-z]+\/[a-z0-9][a-z0-9/-]*$/, 'must be a parameter path below /weebeetalk/<env>/, such as meet/jigasi-sip-password'),
            z.number({ error: 'must be a whole number from 1' }).int('must be a whole number from 1').min(1, 'must be at least 1 (the version every secret starts at)'),
          )
          .default({}),
      })
      .strict()
      .prefault({}),
    /**
     * Keys the customer controls (README, "Secrets and state"): one customer-managed KMS key per environment, rotated
     * yearly, for the data and root volumes, the pools' volumes, the buckets and the SecureStrings.
     */
    kms: z
      .object({
        /** The environment's own key (alias/weebeetalk-<env>); off: AWS managed keys (aws/ebs, aws/s3 SSE-S3, aws/ssm). @default true (production), false (staging) */
        customerManagedKey: z.boolean(),
        /** Days a key scheduled for deletion waits before AWS destroys it (and with it every byte it encrypted). @default 30 */
        deletionWindowDays: z
          .number({ error: 'must be a whole number of days from 7 to 30' })
          .int('must be a whole number of days from 7 to 30')
          .min(7, 'must be at least 7 days (the shortest window AWS KMS allows)')
          .max(30, 'must be at most 30 days (the longest window AWS KMS allows)')
          .default(30),
        /** Production only: run on AWS managed keys on purpose (customerManagedKey: false). @default false */
        allowAwsManagedKeys: z.boolean().default(false),
      })
      .strict(),
    /** The dashboard, the alarms and where they are mailed, the hosts' log groups (README, "Dashboard and alarms"). */
    observability: z
      .object({
        /**
         * Where the alarms are mailed: an SNS email subscription, which stays pending until someone at this address
         * clicks the confirmation link AWS sends after the first deploy. @default letsEncryptEmail
         */
        alarmEmail: publicMailbox("AWS's confirmation and every alarm would go to a mailbox nobody reads").optional(),
        /** Days the hosts' logs stay in CloudWatch Logs, one of CloudWatch's retention periods (LOG_RETENTION_DAYS). @default 7 (staging), 90 (production) */
        logRetentionDays: z.number({ error: LOG_RETENTION_MESSAGE }).refine((days) => (LOG_RETENTION_DAYS as readonly number[]).includes(days), LOG_RETENTION_MESSAGE),
        /** A data or root disk fuller than this (percent) raises its alarm. @default 80 */
        diskAlarmPercent: z
          .number({ error: 'must be a whole percentage from 50 to 99' })
          .int('must be a whole percentage from 50 to 99')
          .min(50, 'must be at least 50 (below, a freshly booted host would alarm)')
          .max(99, 'must be at most 99 (at 100 the disk is already full)')
          .default(80),
        /** A certificate with fewer days left than this raises its host's alarm (renewal runs 30 days ahead). @default 14 */
        certificateAlarmDays: z
          .number({ error: 'must be a whole number of days from 1 to 29' })
          .int('must be a whole number of days from 1 to 29')
          .min(1, 'must be at least 1 day')
          .max(29, "must be below 30: Let's Encrypt certificates renew with 30 days left, so a higher value alarms on every certificate before its renewal")
          .default(14),
        /** SIP authentication failures in five minutes (Asterisk's security log) that raise the pbx's alarm. @default 20 */
        sipAuthFailureBurst: z.number({ error: 'must be a whole number of failures from 1' }).int('must be a whole number of failures from 1').min(1, 'must be at least 1').default(20),
        /** Where operators read the README, e.g. your Git host's page of it: the alarms' links start with it. @default "README.md" (the path in the repository) */
        runbookUrl: z
          .string()
          .regex(/^https:\/\/[^\s#"]+$/, 'must be an https:// address without a #fragment, such as https://git.example.com/ops/weebeetalk/-/blob/main/README.md')
          .optional(),
      })
      .strict(),
    /** Extra tags on every resource (never put a secret here). @default {} */
    tags: z.record(z.string(), z.string()).default({}),
  })
  .strict();

/** The schema as of a day: Rocket.Chat releases must be supported on it (config/rocketchat-support.ts). */
/** A wrapper's inner schema (optional, default, ...), or the schema itself. */
function unwrapped(schema: z.ZodType): z.ZodType {
  let s = schema;
  for (;;) {
    const def = s._zod.def as { type: string; innerType?: z.ZodType; in?: z.ZodType };
    if (def.innerType !== undefined) s = def.innerType;
    else if (def.type === 'pipe' && def.in !== undefined) s = def.in;
    else return s;
  }
}

/** The fields the schema knows in the object at a path (array indices step into the element), or none. */
export function knownFieldsAt(path: readonly PropertyKey[]): string[] {
  let s: z.ZodType | undefined = baseSchema;
  for (const key of path) {
    if (s === undefined) return [];
    const u = unwrapped(s);
    if (u instanceof z.ZodObject) s = (u.shape as Record<string, z.ZodType>)[String(key)];
    else if (u instanceof z.ZodArray) s = u.element as z.ZodType;
    else if (u instanceof z.ZodRecord) s = u.valueType as z.ZodType;
    else return [];
  }
  const u = s === undefined ? undefined : unwrapped(s);
  return u instanceof z.ZodObject ? Object.keys(u.shape) : [];
}

export function environmentSchemaAt(now: Date) {
  return baseSchema.superRefine((env, ctx) => {
    checkCrossFieldRules(env, ctx);
    for (const v of checkRocketChat(env.rocketchat.release, env.rocketchat.mongodbVersion, now)) issue(ctx, v.field.split('.'), v.message);
  });
}

export const environmentSchema = environmentSchemaAt(new Date());

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
      if (world === 'justified')
        issue(ctx, [...path, i], 'opens SIP to the whole internet (toll-fraud scanners find it within minutes): list your provider/office networks, or set sip.worldOpenJustification');
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
    if (vpc && overlaps(c, vpc)) issue(ctx, [...path, i], `overlaps the VPC ${vpc.text}: list the outside network's public addresses, or move network.vpcCidr to a block clear of it`);
    for (const p of parsed) {
      if (overlaps(p.c, c)) issue(ctx, [...path, i], `overlaps ${p.c.text} at index ${p.i}: remove one or merge them`);
    }
    parsed.push({ i, c });
  });
}

function timeZoneExists(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/**
 * Why a time zone Intl knows is not spelt as the tz database spells it, or undefined. Intl ignores case, glibc
 * does not: TZ=asia/jakarta is read as a POSIX rule "asia" with offset 0, UTC on the host without a word.
 */
export function timeZoneSpelling(tz: string): string | undefined {
  if (!timeZoneExists(tz)) return undefined;
  const lower = tz.toLowerCase();
  const resolved = new Intl.DateTimeFormat('en-US', { timeZone: tz }).resolvedOptions().timeZone;
  const spelt = [resolved, ...Intl.supportedValuesOf('timeZone')].find((name) => name.toLowerCase() === lower);
  const fix = "the tz database's spelling (glibc on the host reads names case-sensitively and falls back to UTC without a word)";
  if (spelt !== undefined) return spelt === tz ? undefined : `is not ${fix}: write ${spelt}`;
  // An alias Intl maps elsewhere (EST5EDT, US/Pacific): every part of a tz name starts with a capital.
  if (tz.split('/').some((part) => !/^[A-Z]/.test(part))) return `is not ${fix}: write it as the tz database does, e.g. Asia/Jakarta, America/New_York or EST5EDT`;
  return undefined;
}

/** Shannon entropy in bits per character: random tokens score above 4, words and ids well below. */
function entropy(text: string): number {
  const counts = new Map<string, number>();
  for (const ch of text) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  let bits = 0;
  for (const n of counts.values()) bits -= (n / text.length) * Math.log2(n / text.length);
  return bits;
}

/** The words of a tag key, lowercase: split at separators and camelCase humps (DbPassword, GITHUB_TOKEN, APIKey). */
function keyWords(key: string): string[] {
  return key
    .replace(/([a-z\d])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .split(/[^A-Za-z\d]+/)
    .filter((w) => w !== '')
    .map((w) => w.toLowerCase());
}

const SECRET_NOUNS = new Set(['pass', 'password', 'passwords', 'passwd', 'pwd', 'secret', 'secrets', 'token', 'tokens', 'credential', 'credentials', 'apikey', 'privatekey']);

/** A key naming a secret ends with the secret's noun (DbPassword, ApiKey, GITHUB_TOKEN), not only contains it (CompassId, TokenRing). */
function namesSecret(key: string): boolean {
  const words = keyWords(key);
  const last = words[words.length - 1] ?? '';
  const lastTwo = words.slice(-2).join('');
  return SECRET_NOUNS.has(last) || ['apikey', 'privatekey', 'secretkey', 'accesskey'].includes(lastTwo);
}

/** Why a tag value looks like a secret, or undefined. Tags are readable by anyone with Describe rights. */
export function secretLookingTag(key: string, value: string): string | undefined {
  if (namesSecret(key)) return `the key "${key}" names a secret`;
  if (/(password|passwd|pwd|secret|token|api[-_]?key)\s*[=:]/i.test(value)) return 'it holds a "name=value" secret';
  if (/\b(AKIA|ASIA)[0-9A-Z]{16}\b/.test(value)) return 'it holds an AWS access key id';
  if (/\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/.test(value)) return 'it holds a JSON Web Token';
  // One unbroken run of base64-like characters with both cases and digits: words joined by - or _, ids in one case
  // (ULIDs, hex commit ids) and dates are not it.
  for (const run of value.match(/[A-Za-z0-9+/=]{20,}/g) ?? [])
    if (/[a-z]/.test(run) && /[A-Z]/.test(run) && /\d/.test(run) && entropy(run) > 4) return 'it is a long random-looking string, like a password or key';
  return undefined;
}

/** AWS's limit of user tags per resource (keys under aws: do not count). */
export const AWS_TAGS_PER_RESOURCE = 50;
/**
 * The most tags this project puts on one resource besides the user's (the provider's default tags Project,
 * Environment, ManagedBy on every one): the instance adds Name, WeebeetalkPublicIp and WeebeetalkDataVolume
 * (constructs/debian-host.ts); a DLM snapshot copies its volume's Name and weebeetalk:snapshot and adds
 * SnapshotCreator (constructs/volume-snapshots.ts). test/config-mistakes.test.ts counts them in the plan.
 */
export const PROJECT_TAGS_PER_RESOURCE = 6;
/** User tags that leave room for the project's own on every resource. */
export const USER_TAG_LIMIT = AWS_TAGS_PER_RESOURCE - PROJECT_TAGS_PER_RESOURCE;
/** Tag keys the project sets on some resources (besides weebeetalk:*), lowercase. */
const PROJECT_TAG_KEYS = ['project', 'environment', 'managedby', 'name', 'weebeetalkpublicip', 'weebeetalkdatavolume', 'snapshotcreator'];

function checkTags(ctx: Ctx, tags: Record<string, string>): void {
  const keys = Object.keys(tags);
  if (keys.length > USER_TAG_LIMIT) {
    const first = keys[USER_TAG_LIMIT];
    issue(
      ctx,
      ['tags', first],
      `is user tag ${USER_TAG_LIMIT + 1} of ${keys.length}: AWS allows ${AWS_TAGS_PER_RESOURCE} tags per resource and this project sets up to ${PROJECT_TAGS_PER_RESOURCE} on one (Project, Environment, ManagedBy, Name and the instance's or snapshot's own): at most ${USER_TAG_LIMIT} user tags: remove ${keys.length - USER_TAG_LIMIT}`,
    );
  }
  for (const [key, value] of Object.entries(tags)) {
    const path = ['tags', key];
    if (key.length < 1 || key.length > 128) issue(ctx, path, `key "${key}" must be 1 to 128 characters (AWS tag limit)`);
    else if (!TAG_TEXT_RE.test(key)) issue(ctx, path, `key "${key}" may hold only letters, digits, spaces and _ . : / = + - @ (AWS tag rules)`);
    else if (/^aws:/i.test(key)) issue(ctx, path, `key "${key}" starts with "aws:", which AWS reserves: choose another key`);
    else if (/^weebeetalk:/i.test(key) || PROJECT_TAG_KEYS.includes(key.toLowerCase()))
      issue(ctx, path, `key "${key}" is set by this project (Project, Environment, ManagedBy, Name, WeebeetalkPublicIp, WeebeetalkDataVolume, SnapshotCreator and weebeetalk:*): choose another key`);
    if (value.length > 256) issue(ctx, path, 'must be at most 256 characters (AWS tag limit)');
    else if (!TAG_TEXT_RE.test(value)) issue(ctx, path, 'may hold only letters, digits, spaces and _ . : / = + - @ (AWS tag rules)');
    const secret = secretLookingTag(key, value);
    if (secret) issue(ctx, path, `looks like a secret (${secret}): tags are readable by anyone with Describe rights; keep secrets in SSM Parameter Store`);
  }
}

/** The environment's key: production keeps it unless told otherwise, and its state needs a key of its own. */
function checkKms(ctx: Ctx, env: z.output<typeof baseSchema>): void {
  const { kms } = env;
  const production = env.tier === 'production';
  if (!production && kms.allowAwsManagedKeys) issue(ctx, ['kms', 'allowAwsManagedKeys'], 'only applies to production (staging may always run on AWS managed keys): remove it');
  else if (production && !kms.customerManagedKey && !kms.allowAwsManagedKeys)
    issue(
      ctx,
      ['kms', 'customerManagedKey'],
      'is false in a production environment: its volumes, buckets and secrets would be encrypted with AWS managed keys that any IAM principal of the account may use through the services: keep it true, or set kms.allowAwsManagedKeys: true on purpose',
    );
  else if (kms.customerManagedKey && kms.allowAwsManagedKeys)
    issue(ctx, ['kms', 'allowAwsManagedKeys'], 'contradicts kms.customerManagedKey = true: there are no AWS managed keys to allow: remove allowAwsManagedKeys, or set customerManagedKey to false');
  // The environment's key cannot encrypt the state that records its creation (README, "Secrets and state").
  if (production && kms.customerManagedKey && env.state !== undefined && env.state.kmsKeyId === undefined)
    issue(
      ctx,
      ['state', 'kmsKeyId'],
      'is missing in a production environment with kms.customerManagedKey: the state would fall back to S3-managed keys: create the state key with the state bucket (README, "Deploy and destroy") and set state.kmsKeyId, e.g. \'alias/weebeetalk-terraform-state\'',
    );
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
    const pbxPorts: [number, string][] = [
      [5060, 'SIP'],
      [5061, 'SIP over TLS'],
      [5038, 'AMI'],
      [8088, 'Asterisk HTTP'],
      [8089, 'WSS'],
    ];
    for (const [p, what] of pbxPorts)
      if (within(rtp, p)) issue(ctx, ['sip', 'rtpPorts'], `${rtp.from}-${rtp.to} contains ${p} (${what}) on the pbx host: choose a range clear of it, such as 10000-19999`);
  }
  const jg = env.jitsi.jigasiPorts;
  const https = env.jitsi.httpsPort;
  if (jg.from > jg.to) issue(ctx, ['jitsi', 'jigasiPorts'], `is inverted (from ${jg.from} > to ${jg.to}): write { from: ${jg.to}, to: ${jg.from} }`);
  else if (jg.from < 1024) issue(ctx, ['jitsi', 'jigasiPorts'], 'must start at 1024 or above; the usual range is 20000-20050');
  else {
    const meetPorts: [number, string][] = [
      [10000, 'JVB media'],
      [https, 'HTTPS'],
      [80, 'HTTP'],
    ];
    for (const [p, what] of meetPorts)
      if (within(jg, p)) issue(ctx, ['jitsi', 'jigasiPorts'], `${jg.from}-${jg.to} contains ${p} (${what}) on the meet host: choose a range clear of it, such as 20000-20050`);
  }
  const reservedMeet: [number, string][] = [
    [80, 'HTTP and ACME HTTP-01'],
    [10000, 'JVB media (udp)'],
    [22, 'SSH'],
    [5222, 'Prosody'],
    [5280, 'Prosody'],
    [5347, 'Prosody'],
    [8888, 'jicofo'],
    [8080, 'JVB'],
  ];
  for (const [p, what] of reservedMeet) if (https === p) issue(ctx, ['jitsi', 'httpsPort'], `cannot be ${p}, which is ${what}: use 443 or 8443`);

  if (env.jitsi.auth === 'none' && !env.jitsi.security.guests)
    issue(
      ctx,
      ['jitsi', 'security', 'guests'],
      'is false but jitsi.auth is "none": everyone joins without a token or an account, so there are no guests to keep out: set jitsi.auth to "jwt" (or "internal"), or remove guests',
    );

  if (env.rocketchat.security.e2eByDefault && !env.rocketchat.security.e2e)
    issue(ctx, ['rocketchat', 'security', 'e2eByDefault'], 'is on but rocketchat.security.e2e is off: rooms cannot be encrypted by default without end-to-end encryption: turn e2e on, or this off');

  // Pools: bounds in order, a recorder that can record, a subnet to live in.
  for (const pool of POOLS) {
    const p = env.jitsi[`${pool}Pool`];
    const field = `${pool}Pool`;
    if (!p.enabled) continue;
    if (p.max < p.min) issue(ctx, ['jitsi', field, 'max'], `is ${p.max}, below jitsi.${field}.min (${p.min}): set max to at least ${p.min}`);
    else if (p.max === 0) issue(ctx, ['jitsi', field, 'max'], `is 0: the pool could never start a member: set it to 1 or more, or set jitsi.${field}.enabled to false`);
  }
  const pools = enabledPools(env);
  if (vpcOk && vpcOk.prefix > 23 && pools.length > 0)
    issue(
      ctx,
      ['network', 'vpcCidr'],
      `is a /${vpcOk.prefix}: the pools need a second /24 beside the hosts': use a /23 or larger block, or set ${pools.map((p) => `jitsi.${p}Pool.enabled`).join(' and ')} to false`,
    );
  const jibriPool = env.jitsi.jibriPool;
  if (jibriPool.enabled) {
    const gib = memoryGiBOf(jibriPool.instanceType);
    if (gib !== undefined && gib < JIBRI_MEMORY_GIB)
      issue(
        ctx,
        ['jitsi', 'jibriPool', 'instanceType'],
        `has ${gib} GiB of memory; Jibri's Chrome and ffmpeg need about ${JIBRI_MEMORY_GIB} GiB to record 720p: choose e.g. m6i.large (8 GiB) or m6i.xlarge (16 GiB)`,
      );
    else if (gib === undefined)
      issue(
        ctx,
        ['jitsi', 'jibriPool', 'instanceType'],
        `is of a family whose memory this cannot check (c, m, r, t and x families, large or bigger, are known); Jibri needs about ${JIBRI_MEMORY_GIB} GiB: choose e.g. m6i.xlarge`,
      );
    const own = env.jitsi.jibri ? 1 : 0;
    if (jibriPool.idle > jibriPool.max + own)
      issue(
        ctx,
        ['jitsi', 'jibriPool', 'idle'],
        `is ${jibriPool.idle}, more recorders than can run (jitsi.jibriPool.max ${jibriPool.max}${own ? " plus the meet host's own" : ''}): lower it or raise max`,
      );
    if (!env.jitsi.jibri && jibriPool.idle === 0 && jibriPool.min === 0)
      issue(ctx, ['jitsi', 'jibriPool', 'idle'], 'is 0 with jitsi.jibriPool.min 0 and jitsi.jibri off: no recorder would ever run and every recording would be refused: set idle (or min) to 1');
  }
  const jvbPool = env.jitsi.jvbPool;
  if (jvbPool.enabled && jvbPool.scaleInStress >= jvbPool.scaleOutStress)
    issue(
      ctx,
      ['jitsi', 'jvbPool', 'scaleInStress'],
      `is ${jvbPool.scaleInStress}, not below jitsi.jvbPool.scaleOutStress (${jvbPool.scaleOutStress}): the pool would add and remove bridges in turn: keep it well below, e.g. ${Math.round(jvbPool.scaleOutStress * 33) / 100}`,
    );

  // Data volumes: the role's minimum.
  for (const role of ROLES) {
    const { gib, why } = DATA_VOLUME_MINIMUM[role](env);
    if (env.hosts[role].dataVolumeGiB < gib) issue(ctx, ['hosts', role, 'dataVolumeGiB'], `is too small for ${role}: at least ${gib} GiB (${why})`);
  }

  // SIP users need a network to register from; Jigasi needs the PBX for something to talk to.
  if (env.sip.users.length > 0 && env.sip.clientCidrs.length === 0) issue(ctx, ['sip', 'clientCidrs'], 'is empty but sip.users are defined: list the office networks the phones register from');
  const seen = new Set<string>();
  env.sip.users.forEach((u, i) => {
    if (seen.has(u.extension)) issue(ctx, ['sip', 'users', i, 'extension'], 'is used twice: each phone needs its own extension');
    if (u.extension === CONFERENCE_EXTENSION) issue(ctx, ['sip', 'users', i, 'extension'], `is the conference extension (${CONFERENCE_EXTENSION}, asks for a meeting's PIN): choose another`);
    seen.add(u.extension);
  });
  // Fixed rooms: each answers one number or one extension, which nothing else answers.
  const calledBy = new Map<string, string>();
  env.sip.dialIn.rooms.forEach((r, i) => {
    const at = ['sip', 'dialIn', 'rooms', i];
    if ((r.did === undefined) === (r.extension === undefined)) {
      issue(
        ctx,
        at,
        `gives ${r.did === undefined ? 'neither did nor extension' : 'both did and extension'} for room ${r.room}: give one (a trunk number in did, or an internal extension); add a second entry for the other`,
      );
      return;
    }
    const key = r.did !== undefined ? `did ${r.did}` : `extension ${r.extension}`;
    const field = r.did !== undefined ? 'did' : 'extension';
    const other = calledBy.get(key);
    if (other !== undefined) issue(ctx, [...at, field], `is also the ${key} of room ${other}: each number or extension reaches one room`);
    calledBy.set(key, r.room);
    if (r.extension === CONFERENCE_EXTENSION) issue(ctx, [...at, 'extension'], `is the conference extension (${CONFERENCE_EXTENSION}, asks for a meeting's PIN): choose another`);
    if (r.extension !== undefined && seen.has(r.extension)) issue(ctx, [...at, 'extension'], "is a phone's extension (sip.users): choose one no phone has");
  });
  if (!env.jitsi.jigasi && (env.sip.dialIn.rooms.length > 0 || env.sip.dialIn.numbers.length > 0))
    issue(ctx, ['jitsi', 'jigasi'], 'is off but sip.dialIn lists numbers or rooms: calls reach meetings only through Jigasi: turn jitsi.jigasi on, or empty sip.dialIn.numbers and sip.dialIn.rooms');
  if (env.sip.wss && env.sip.clientCidrs.length === 0) issue(ctx, ['sip', 'wss'], 'is on but sip.clientCidrs is empty: WSS is only opened to client networks');

  if (env.ami.id === undefined && env.tier === 'production' && env.ami.followLatest)
    issue(ctx, ['ami', 'followLatest'], 'would replace production hosts whenever Debian publishes an AMI: set it to false, or pin ami.id');

  // Each role needs its own name: two roles on one name would fight over its A and CAA records.
  const roleOfName = new Map<string, Role>();
  for (const role of ROLES) {
    const label = env.dns.hostNames[role];
    const other = roleOfName.get(label);
    if (other) issue(ctx, ['dns', 'hostNames', role], `is also the ${other} host's name: give each role its own name (records of one would overwrite the other's)`);
    else roleOfName.set(label, role);
  }

  // Architectures: an image boots only on instance types of its architecture.
  const pinnedGlobally = ROLES.filter((r) => env.hosts[r].amiId === undefined);
  if (env.ami.id !== undefined) {
    const archs = new Set(pinnedGlobally.map((r) => architectureOf(env.hosts[r].instanceType)));
    if (archs.size > 1) {
      const list = pinnedGlobally.map((r) => `${r} ${env.hosts[r].instanceType} (${architectureOf(env.hosts[r].instanceType)})`).join(', ');
      issue(
        ctx,
        ['ami', 'id'],
        `is one image for roles of two architectures (${list}): one image boots only one of them: pin each role's image with hosts.<role>.amiId, or use instance types of one architecture`,
      );
    }
    if (env.ami.architecture !== undefined)
      for (const r of pinnedGlobally)
        if (architectureOf(env.hosts[r].instanceType) !== env.ami.architecture)
          issue(
            ctx,
            ['hosts', r, 'instanceType'],
            `is ${architectureOf(env.hosts[r].instanceType)} but the pinned ami.id is ${env.ami.architecture}: EC2 cannot boot it: choose a${env.ami.architecture === 'arm64' ? ' Graviton (e.g. t4g, m7g)' : 'n x86_64 (e.g. t3, m6i)'} type or pin an ${architectureOf(env.hosts[r].instanceType)} image`,
          );
  } else if (env.ami.architecture !== undefined) issue(ctx, ['ami', 'architecture'], 'describes a pinned image, but ami.id is not set: remove it, or pin ami.id');
  for (const role of ROLES) {
    const h = env.hosts[role];
    if (h.amiArchitecture !== undefined && h.amiId === undefined)
      issue(ctx, ['hosts', role, 'amiArchitecture'], `describes a pinned image, but hosts.${role}.amiId is not set: remove it, or pin the image`);
    else if (h.amiArchitecture !== undefined && architectureOf(h.instanceType) !== h.amiArchitecture)
      issue(
        ctx,
        ['hosts', role, 'instanceType'],
        `is ${architectureOf(h.instanceType)} but hosts.${role}.amiId is an ${h.amiArchitecture} image: EC2 cannot boot it: pin an ${architectureOf(h.instanceType)} image or choose a${h.amiArchitecture === 'arm64' ? ' Graviton' : 'n x86_64'} type`,
      );
  }

  // Production keeps its state (and the secrets in it) in the S3 backend, not in a file on one machine.
  if (env.tier === 'production' && env.state === undefined && !env.allowLocalState)
    issue(
      ctx,
      ['state'],
      'is missing in a production environment: local state would keep production\'s secrets in one file on one machine: set state { bucket, region } (README, "Deploy and destroy"), or set allowLocalState: true on purpose',
    );
  if (env.tier !== 'production' && env.allowLocalState) issue(ctx, ['allowLocalState'], 'only applies to production (staging may always keep local state): remove it');
  else if (env.allowLocalState && env.state !== undefined)
    issue(
      ctx,
      ['allowLocalState'],
      `contradicts state (s3://${env.state.bucket}): the state is remote, so there is no local state to allow: remove allowLocalState, or remove state to keep local state on purpose`,
    );

  checkKms(ctx, env);

  checkTags(ctx, env.tags);
}
