/**
 * Likely mistakes that may still be intended: printed as warnings (cdktf annotations) at synthesis, never fatal.
 * Each is one line `<field> = <value>: <why it is likely wrong and what to do>`.
 */
import { overlaps, parseCidr } from './net';
import { ROCKETCHAT_CYCLES } from './rocketchat-support';
import { NON_PUBLIC_MAIL_DOMAIN_RE, type EnvironmentConfig } from './schema';

/** Private and shared address space: a host on the internet never sees a phone's packets come from these. */
const PRIVATE = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10'].map((c) => parseCidr(c)!);
/** Domains reserved for documentation and tests, or without a public suffix: mail to them is never delivered. */
const DOCUMENTATION_DOMAIN_RE = NON_PUBLIC_MAIL_DOMAIN_RE;
/** The shipped environment files' contact: a public domain (Let's Encrypt accepts it) that says what to do. */
export const PLACEHOLDER_MAIL_DOMAIN = 'replace-with-your-domain.com';
/** Asterisk takes an RTP and an RTCP port per call leg; a phone's call to the trunk or Jitsi has two legs. */
export const RTP_PORTS_PER_PHONE = 4;
/** Warn this many days before the Rocket.Chat release's end of life. */
const EOL_NOTICE_DAYS = 45;

export function configWarnings(config: EnvironmentConfig, now: Date = new Date()): string[] {
  const out: string[] = [];
  const lists = [
    ['sip.clientCidrs', config.sip.clientCidrs],
    ['sip.trunkSignallingCidrs', config.sip.trunkSignallingCidrs],
    ['sip.trunkMediaCidrs', config.sip.trunkMediaCidrs],
  ] as const;
  for (const [field, list] of lists)
    list.forEach((text, i) => {
      const c = parseCidr(text);
      if (c && PRIVATE.some((p) => overlaps(p, c)))
        out.push(
          `${field}.${i} = "${text}": is a private network, but the PBX is reached over the internet, where phones arrive from their office's public address: list that address (or your VPN's egress) instead`,
        );
    });
  const rtp = config.sip.rtpPorts;
  const size = rtp.to - rtp.from + 1;
  const need = RTP_PORTS_PER_PHONE * config.sip.users.length;
  if (size < need)
    out.push(
      `sip.rtpPorts = ${JSON.stringify(rtp)}: ${size} ports carry fewer than the ${need} that ${config.sip.users.length} phones in calls at once take (${RTP_PORTS_PER_PHONE} each: RTP and RTCP per call leg): widen the range, e.g. 10000-19999`,
    );
  const email = config.letsEncryptEmail;
  // A documentation or non-public domain is refused (config/schema.ts): Let's Encrypt would refuse the account.
  if ((email.split('@')[1] ?? '') === PLACEHOLDER_MAIL_DOMAIN)
    out.push(
      `letsEncryptEmail = "${email}": is the shipped placeholder: set a mailbox you read (Let's Encrypt stopped sending expiry emails on 2025-06-04, but writes to the account contact about revocations and policy changes)`,
    );
  const admin = config.rocketchat.adminEmail;
  if (admin !== undefined && (DOCUMENTATION_DOMAIN_RE.test(admin.split('@')[1] ?? '') || admin.endsWith(`@${PLACEHOLDER_MAIL_DOMAIN}`)))
    out.push(`rocketchat.adminEmail = "${admin}": is on a documentation domain: the first administrator could never receive a password reset: set a mailbox you read`);
  if (config.tier === 'production' && config.jitsi.auth === 'none')
    out.push('jitsi.auth = "none": anyone who finds the production meet host can open rooms on it: use "jwt" (shared with Rocket.Chat) or "internal"');
  if (!config.jitsi.jigasi && config.sip.trunkSignallingCidrs.length > 0)
    out.push(
      'jitsi.jigasi = false: calls from sip.trunkSignallingCidrs reach meetings (by PIN or sip.dialIn.rooms) only through Jigasi, so without it they are refused: turn Jigasi on, or leave the trunk lists empty',
    );
  const cycle = ROCKETCHAT_CYCLES.find((c) => config.rocketchat.release.startsWith(`${c.cycle}.`));
  if (cycle) {
    const days = Math.floor((Date.parse(cycle.endOfLife) - now.getTime()) / 86_400_000);
    if (days >= 0 && days < EOL_NOTICE_DAYS)
      out.push(
        `rocketchat.release = "${config.rocketchat.release}": ${cycle.cycle} reaches end of life on ${cycle.endOfLife}: plan the upgrade (config/rocketchat-support.ts lists the supported releases)`,
      );
  }
  return out;
}
