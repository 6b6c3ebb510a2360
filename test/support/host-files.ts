/**
 * What a host of a synthesized plan receives, read from the plan only (never from the builders): its user-data
 * (the cloud-config's write_files and the bootstrap part) and its configuration bundle (the aws_s3_object the
 * host's association names), merged into one view of the files the host ends up with.
 */
import { createHash } from 'node:crypto';
import { parse } from 'yaml';
import { POOLS, type AnyRole, type Role } from '../../config/schema';
import { fromTerraformLiteral } from '../../userdata/cloud-config';
import { asArray, asObject, asString, dataSources, isObject, referenced, resources, single, type Block, type Item, type Synthesized } from './synth';

export interface HostFile {
  readonly path: string;
  /** As written: a bundle file with `render` still holds @PUBLIC_IP@ (the apply tool fills it in). */
  readonly content: string;
  /** e.g. "0644". */
  readonly mode: string;
  /** uid:gid for bundle files, user:group for user-data's ("root:root"). */
  readonly owner: string;
  readonly source: 'user-data' | 'bundle';
  /** Bundle files: the services the role's hook reloads when the file changes. */
  readonly services: readonly string[];
  readonly render: boolean;
}

export interface BundleInPlan {
  readonly object: Item;
  readonly association: Item;
  readonly pointer: Item;
  /** The object's bytes as S3 stores them (Terraform's escaping undone). */
  readonly json: string;
  readonly sha256: string;
  readonly key: string;
  readonly document: { readonly format: number; readonly role: string; readonly environment: string; readonly hook: string; readonly files: readonly Block[] };
}

const instanceOf = (s: Synthesized, role: Role): Item =>
  single(resources(s, 'aws_instance'), `instance of ${role}`, (i) => isObject(i.block.tags) && i.block.tags.Name === `weebeetalk-${s.config.name}-${role}`);

/** The host's association (the one whose target is its instance), its bundle object and the SSM parameter naming it. */
export function bundleOf(s: Synthesized, role: AnyRole): BundleInPlan {
  // A pool's association targets its members by tag; a host's, its instance.
  const targets = (POOLS as readonly string[]).includes(role) ? `weebeetalk-${s.config.name}-${role}` : instanceOf(s, role as Role).ref('id');
  const association = single(resources(s, 'aws_ssm_association'), `association of ${role}`, (a) =>
    asArray(a.block.targets, 'targets').some((t) => isObject(t) && asArray(t.values, 'values').includes(targets)),
  );
  return bundleOfAssociation(s, association);
}

/** The bundle object an association applies, and the SSM parameter naming it. */
export function bundleOfAssociation(s: Synthesized, association: Item): BundleInPlan {
  const params = asObject(association.block.parameters, 'association parameters');
  const key = asString(params.Key, 'Key');
  const object = single(resources(s, 'aws_s3_object'), `bundle object ${key}`, (o) => o.block.key === key);
  const json = fromTerraformLiteral(asString(object.block.content, 'bundle content'));
  const pointer = single(resources(s, 'aws_ssm_parameter'), `bundle parameter of ${key}`, (p) => String(p.block.value).endsWith(`/${key}`));
  return {
    object,
    association,
    pointer,
    json,
    sha256: createHash('sha256').update(json).digest('hex'),
    key,
    document: JSON.parse(json) as BundleInPlan['document'],
  };
}

/** The user-data parts of the host: cloud-config (parsed) and the bootstrap script. */
export function userDataOf(s: Synthesized, role: Role): { readonly cloudConfig: Block; readonly cloudConfigText: string; readonly script: string } {
  const ci = referenced(dataSources(s, 'cloudinit_config'), instanceOf(s, role).block.user_data_base64);
  const parts = asArray(ci.block.part, 'parts').map((p) => asObject(p, 'part'));
  const text = (type: string): string => {
    const found = parts.filter((p) => p.content_type === type);
    if (found.length !== 1) throw new Error(`${s.label}/${role}: ${found.length} user-data parts of type ${type}`);
    return fromTerraformLiteral(asString(found[0].content, type));
  };
  const cloudConfigText = text('text/cloud-config');
  return { cloudConfig: asObject(parse(cloudConfigText), 'cloud-config'), cloudConfigText, script: text('text/x-shellscript') };
}

/** Every file the host gets: user-data's write_files, then its bundle's (a path in both is a defect: it throws). */
export function hostFiles(s: Synthesized, role: Role): Map<string, HostFile> {
  const files = new Map<string, HostFile>();
  for (const raw of asArray(userDataOf(s, role).cloudConfig.write_files ?? [], 'write_files')) {
    const f = asObject(raw, 'write_files[]');
    const path = asString(f.path, 'path');
    files.set(path, {
      path,
      content: asString(f.content ?? '', 'content'),
      mode: String(f.permissions ?? '0644'),
      owner: String(f.owner ?? 'root:root'),
      source: 'user-data',
      services: [],
      render: false,
    });
  }
  for (const f of bundleOf(s, role).document.files) {
    const path = asString(f.path, 'path');
    if (files.has(path)) throw new Error(`${s.label}/${role}: ${path} is in both the user-data and the bundle`);
    files.set(path, {
      path,
      content: asString(f.content, 'content'),
      mode: asString(f.mode, 'mode'),
      owner: asString(f.owner, 'owner'),
      source: 'bundle',
      services: asArray(f.services, 'services').map(String),
      render: f.render === true,
    });
  }
  return files;
}

/** KEY="value" lines (renderEnvFile's format) back to values. */
export function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z_][A-Z0-9_]*)="((?:[^"\\]|\\.)*)"$/.exec(line);
    if (m) out[m[1]] = m[2].replace(/\\(.)/g, '$1');
  }
  return out;
}

/** host.env and config.env together, as load_env reads them (config.env last). */
export function hostSettings(s: Synthesized, role: Role): Record<string, string> {
  const files = hostFiles(s, role);
  return { ...parseEnvFile(files.get('/etc/weebeetalk/host.env')?.content ?? ''), ...parseEnvFile(files.get('/etc/weebeetalk/config.env')?.content ?? '') };
}
