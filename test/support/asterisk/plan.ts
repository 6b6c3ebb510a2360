/**
 * What the pbx host receives, read from the synthesized plan (never from the builders) through
 * test/support/host-files.ts: its files (user-data and configuration bundle: Asterisk's configuration folder,
 * the TLS transport waiting for its certificate, the compose file, the fail2ban jail), its settings (host.env
 * and config.env), the hosts' private addresses and the pbx security group's rules.
 */
import { hostFiles, hostSettings, type HostFile } from '../host-files';
import { allows, hostIam } from '../iam';
import { asString, dataSources, resources, single, type Synthesized } from '../synth';

export interface PbxPlan {
  readonly env: string;
  /** Every file the host gets (user-data and bundle), by absolute path, as written: @PUBLIC_IP@ still in. */
  readonly files: ReadonlyMap<string, HostFile>;
  /** host.env and config.env together, as load_env reads them (literal values: the pbx's carry no reference). */
  readonly hostEnv: Readonly<Record<string, string>>;
  /** Asterisk's configuration folder on the host (WBT_ASTERISK_CONF), the container's /etc/asterisk. */
  readonly confDir: string;
  readonly privateIp: { readonly pbx: string; readonly meet: string; readonly chat: string };
  /** SSM parameter names the plan creates. */
  readonly ssmParameters: readonly string[];
  /** Those of them the pbx host's role may read (ssm:GetParameter), as its policies in the plan allow. */
  readonly ssmReadable: readonly string[];
}

export function pbxPlan(s: Synthesized): PbxPlan {
  const hostEnv = hostSettings(s, 'pbx');
  const ip = (role: 'pbx' | 'meet' | 'chat'): string => {
    const v = (role === 'pbx' ? hostEnv : hostSettings(s, role)).PRIVATE_IP;
    if (!/^\d+\.\d+\.\d+\.\d+$/.test(v ?? '')) throw new Error(`${s.label}/${role}: PRIVATE_IP ${v} is not a literal address`);
    return v;
  };
  const names = resources(s, 'aws_ssm_parameter').map((p) => asString(p.block.name, `${p.address}.name`));
  const iam = hostIam(s, 'pbx').effective;
  const account = single(dataSources(s, 'aws_caller_identity'), 'caller identity').ref('account_id');
  const confDir = hostEnv.WBT_ASTERISK_CONF;
  if (!confDir?.startsWith('/')) throw new Error(`${s.label}/pbx: WBT_ASTERISK_CONF ${confDir} is not a path`);
  return {
    env: s.label,
    files: hostFiles(s, 'pbx'),
    hostEnv,
    confDir,
    privateIp: { pbx: ip('pbx'), meet: ip('meet'), chat: ip('chat') },
    ssmParameters: names,
    ssmReadable: names.filter((n) => allows(iam, 'ssm:GetParameter', `arn:aws:ssm:${s.config.aws.region}:${account}:parameter${n}`)),
  };
}

/** A file of the plan, by absolute path: its content as written (a rendered file with @PUBLIC_IP@ still in). */
export function planFile(plan: PbxPlan, path: string): string {
  const file = plan.files.get(path);
  if (file === undefined) throw new Error(`${plan.env}: the pbx host gets no ${path}`);
  return file.content;
}

/** A setting of host.env/config.env the pbx scripts read (a missing one throws: the plan changed). */
export function planSetting(plan: PbxPlan, key: string): string {
  const v = plan.hostEnv[key];
  if (v === undefined) throw new Error(`${plan.env}: the pbx host's settings have no ${key}`);
  return v;
}

/** userdata/scripts/lib.sh `render`: the Elastic IP for its placeholder. */
export function renderPublicIp(text: string, publicIp: string): string {
  return text.replace(/@PUBLIC_IP@/g, publicIp);
}

/**
 * Asterisk's configuration folder as the apply tool writes it: every file of the plan directly in it, by name,
 * rendered (Elastic IP put in) when the bundle says so.
 */
export function asteriskConfFiles(plan: PbxPlan, publicIp: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const f of plan.files.values()) {
    if (!f.path.startsWith(`${plan.confDir}/`) || f.path.slice(plan.confDir.length + 1).includes('/')) continue;
    out.set(f.path.slice(plan.confDir.length + 1), f.render ? renderPublicIp(f.content, publicIp) : f.content);
  }
  if (!out.has('pjsip.conf')) throw new Error(`${plan.env}: no pjsip.conf in ${plan.confDir}`);
  return out;
}

/** One file of Asterisk's configuration folder (e.g. "rtp.conf"), as written: @PUBLIC_IP@ still in. */
export function asteriskFile(plan: PbxPlan, name: string): string {
  return planFile(plan, `${plan.confDir}/${name}`);
}

/** Asterisk's INI: sections (repeated names kept apart, in order) with their key/value pairs. */
export interface ConfSection {
  readonly name: string;
  readonly options: readonly (readonly [string, string])[];
}

export function parseConf(text: string): ConfSection[] {
  const sections: { name: string; options: [string, string][] }[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/;.*$/, '').trim();
    if (!line || line.startsWith('#')) continue;
    const head = /^\[([^\]]+)\]/.exec(line);
    if (head) {
      sections.push({ name: head[1], options: [] });
      continue;
    }
    const kv = /^([^=]+?)\s*=>?\s*(.*)$/.exec(line);
    if (kv && sections.length > 0) sections[sections.length - 1].options.push([kv[1].trim(), kv[2].trim()]);
  }
  return sections;
}

/** The value(s) of one option in a section, e.g. values(sections, 'general', 'rtpstart'). */
export function values(sections: readonly ConfSection[], section: string, key: string): string[] {
  return sections.filter((s) => s.name === section).flatMap((s) => s.options.filter(([k]) => k === key).map(([, v]) => v));
}

/** Ingress rules of the pbx security group, as the plan states them. */
export interface IngressRule {
  readonly address: string;
  readonly protocol: string;
  readonly from: number;
  readonly to: number;
  readonly source: string;
  readonly description: string;
}

export function pbxIngress(s: Synthesized): IngressRule[] {
  const sg = single(resources(s, 'aws_security_group'), 'pbx security group', (i) => /sg-pbx/.test(i.key));
  return resources(s, 'aws_vpc_security_group_ingress_rule')
    .filter((r) => r.block.security_group_id === sg.ref('id'))
    .map((r) => ({
      address: r.address,
      protocol: asString(r.block.ip_protocol, `${r.address}.ip_protocol`),
      from: Number(r.block.from_port),
      to: Number(r.block.to_port),
      source: String(r.block.cidr_ipv4 ?? r.block.referenced_security_group_id),
      description: String(r.block.description ?? ''),
    }));
}
