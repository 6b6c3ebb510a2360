/**
 * What the pbx host receives, read from the synthesized plan (never from the builders): the generated
 * Asterisk files under /etc/weebeetalk/asterisk/, the host's settings (host.env), the fail2ban jail, the
 * hosts' private addresses and the pbx security group's rules.
 */
import { parse } from 'yaml';
import { fromTerraformLiteral } from '../../../userdata/cloud-config';
import { asObject, asString, dataSources, resources, single, type Synthesized } from '../synth';

interface WriteFileEntry {
  readonly path: string;
  readonly content: string;
}

export interface PbxPlan {
  readonly env: string;
  /** Files written by cloud-init, by absolute path, as the host gets them. */
  readonly files: ReadonlyMap<string, string>;
  /** host.env as key/value (the values are literal here: the pbx host.env carries no reference). */
  readonly hostEnv: Readonly<Record<string, string>>;
  readonly privateIp: { readonly pbx: string; readonly meet: string; readonly chat: string };
  /** SSM parameter names the plan creates. */
  readonly ssmParameters: readonly string[];
}

export const ASTERISK_SRC = '/etc/weebeetalk/asterisk';

/** host.env lines KEY="value" (renderEnvFile's format) back to values. */
export function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z_][A-Z0-9_]*)="((?:[^"\\]|\\.)*)"$/.exec(line);
    if (m) out[m[1]] = m[2].replace(/\\(.)/g, '$1');
  }
  return out;
}

function hostFiles(s: Synthesized, role: string): Map<string, string> {
  const ci = single(dataSources(s, 'cloudinit_config'), `${role} cloudinit_config`, (i) => i.key.startsWith(`${role}-host`));
  const parts = ci.block.part as { content_type: string; content: string }[];
  const cc = parts.find((p) => p.content_type === 'text/cloud-config');
  if (!cc) throw new Error(`${s.label}/${role}: no cloud-config part`);
  const doc = asObject(parse(fromTerraformLiteral(cc.content)), 'cloud-config');
  const files = new Map<string, string>();
  for (const f of doc.write_files as WriteFileEntry[]) files.set(f.path, f.content);
  return files;
}

export function pbxPlan(s: Synthesized): PbxPlan {
  const files = hostFiles(s, 'pbx');
  const env = (role: string): Record<string, string> => {
    const text = (role === 'pbx' ? files : hostFiles(s, role)).get('/etc/weebeetalk/host.env');
    if (!text) throw new Error(`${s.label}/${role}: no host.env`);
    return parseEnvFile(text);
  };
  const hostEnv = env('pbx');
  const ip = (role: string): string => {
    const v = env(role).PRIVATE_IP;
    if (!/^\d+\.\d+\.\d+\.\d+$/.test(v ?? '')) throw new Error(`${s.label}/${role}: PRIVATE_IP ${v} is not a literal address`);
    return v;
  };
  return {
    env: s.label,
    files,
    hostEnv,
    privateIp: { pbx: ip('pbx'), meet: ip('meet'), chat: ip('chat') },
    ssmParameters: resources(s, 'aws_ssm_parameter').map((p) => asString(p.block.name, `${p.address}.name`)),
  };
}

/** A generated file of the plan, by absolute path. */
export function planFile(plan: PbxPlan, path: string): string {
  const text = plan.files.get(path);
  if (text === undefined) throw new Error(`${plan.env}: the pbx host gets no ${path}`);
  return text;
}

/** userdata/scripts/lib.sh `render`: the Elastic IP for its placeholder. */
export function renderPublicIp(text: string, publicIp: string): string {
  return text.replace(/@PUBLIC_IP@/g, publicIp);
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
