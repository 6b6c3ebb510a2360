/**
 * A host's configuration bundle: every file the roles' scripts read (generated configuration, the upstream pins
 * and their checksum manifests, units, the roles' scripts themselves), each with the services it belongs to,
 * serialized as one JSON document. Secrets appear by SSM name only. Content-addressed: the object's key is its
 * sha256, so a change is a new object and the same configuration is byte-identical. The apply tool
 * (userdata/scripts/apply.sh) writes the files that differ and hands the changed services to the role's hook.
 */
import { createHash } from 'node:crypto';
import type { AnyRole } from '../config/schema';
import type { FileMode } from './cloud-config';
import { renderEnvFile } from './cloud-config';
import { CONFIG_ENV_FILE, CONFIG_LIB_SH, helperEnv, helperPath, SECRET_VERSIONS_FILE } from './paths';
import { readScript } from './script-files';

/** The format the apply tool reads (`.format == 1`). */
export const BUNDLE_FORMAT = 1;

/** Owners as uid:gid: root, or the containers' uid 1000 (Asterisk's configuration). */
export type FileOwner = '0:0' | '1000:1000';

export interface BundleFile {
  readonly path: string;
  readonly content: string;
  readonly mode: FileMode;
  /** @default "0:0" */
  readonly owner?: FileOwner;
  /** The apply tool puts the Elastic IP in for @PUBLIC_IP@ (userdata/context.ts PUBLIC_IP). @default false */
  readonly render?: boolean;
  /** What the role's hook reloads or restarts when this file changes (has_changed in config-lib.sh). @default none */
  readonly services?: readonly string[];
}

/** What a role's builder (userdata/<role>/index.ts) gives its bundle. */
export interface RoleBundleProps {
  /** Settings of the role's scripts, written to config.env (load_env reads it after host.env). */
  readonly env: Record<string, string | number | boolean>;
  /** The role's script the apply tool runs after writing the files (a name under userdata/<role>/scripts). */
  readonly hook: string;
  /** The role's generated files. */
  readonly files: readonly BundleFile[];
  /** Helper scripts installed as /usr/local/lib/weebeetalk/<name>.sh (timers, hooks); the hook is one. @default none */
  readonly scripts?: readonly string[];
}

export interface BundleDocument {
  readonly format: typeof BUNDLE_FORMAT;
  readonly environment: string;
  readonly role: AnyRole;
  /** The hook's installed path. */
  readonly hook: string;
  /** Sorted by path; every field present (the apply tool reads them with jq). */
  readonly files: readonly (Required<Omit<BundleFile, 'services'>> & { readonly services: readonly string[]; readonly sha256: string })[];
}

export interface HostBundle {
  readonly document: BundleDocument;
  /** The bytes stored and checked on the host. */
  readonly json: string;
  readonly sha256: string;
  /** The object's key in the environment's configuration bucket: bundles/<role>/<sha256>.json. */
  readonly key: string;
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/** The key prefix of a role's bundles (its role may read only these). */
export const bundlePrefix = (role: AnyRole): string => `bundles/${role}/`;

/**
 * The bundle of one host: the role's files, its scripts, config.env and the roles' library; with `secretVersions`
 * (the configured versions of the secrets it reads, by path), a file naming them: a rotated secret makes a new
 * bundle, so State Manager applies it and the role's hook reads the new value.
 */
export function hostBundle(environment: string, role: AnyRole, props: RoleBundleProps, secretVersions: Readonly<Record<string, number>> = {}): HostBundle {
  const scripts = [...new Set([props.hook, ...(props.scripts ?? [])])];
  const versions = Object.keys(secretVersions).sort();
  const files: BundleFile[] = [
    ...(versions.length > 0 ? [{ path: SECRET_VERSIONS_FILE, content: `${JSON.stringify(Object.fromEntries(versions.map((p) => [p, secretVersions[p]])), null, 1)}\n`, mode: '0644' as const }] : []),
    { path: CONFIG_ENV_FILE, content: renderEnvFile({ ...props.env, ...helperEnv(scripts) }), mode: '0644', services: ['settings'] },
    { path: CONFIG_LIB_SH, content: readScript('config-lib'), mode: '0644' },
    ...scripts.map<BundleFile>((name) => ({ path: helperPath(name), content: readScript(name), mode: '0755' })),
    ...props.files,
  ];
  const seen = new Set<string>();
  for (const f of files) {
    if (seen.has(f.path)) throw new Error(`bundle of ${environment}/${role}: ${f.path} is written twice`);
    seen.add(f.path);
    if ([f.path, f.content, ...(f.services ?? [])].some((t) => t.includes('\u0000')))
      throw new Error(`bundle of ${environment}/${role}: ${f.path} holds a NUL byte (the apply tool reads the fields NUL-separated)`);
    if (/\$\{TfToken\[/.test(f.content)) throw new Error(`bundle of ${environment}/${role}: ${f.path} holds a Terraform reference; a bundle is plain text known at synthesis`);
  }
  const document: BundleDocument = {
    format: BUNDLE_FORMAT,
    environment,
    role,
    hook: helperPath(props.hook),
    files: [...files]
      .sort((a, b) => (a.path < b.path ? -1 : 1))
      .map((f) => ({
        path: f.path,
        mode: f.mode,
        owner: f.owner ?? '0:0',
        render: f.render ?? false,
        services: [...(f.services ?? [])].sort(),
        sha256: sha256(f.content),
        content: f.content,
      })),
  };
  const json = `${JSON.stringify(document, null, 1)}\n`;
  const sum = sha256(json);
  return { document, json, sha256: sum, key: `${bundlePrefix(role)}${sum}.json` };
}
