/**
 * Cloud-config as typed data, serialized by the `yaml` library. Only the keys we use, as cloud-init 22.4
 * (Debian 12) defines them; `cloud-init schema` checks every document in the tests.
 */
import { Token } from 'cdktf';
import { stringify } from 'yaml';

export type FileMode = '0600' | '0640' | '0644' | '0700' | '0750' | '0755';

export interface WriteFile {
  readonly path: string;
  readonly content: string;
  readonly permissions: FileMode;
  /** @default "root:root" */
  readonly owner?: string;
}

/** A cloud-init `users` entry (the keys we use). */
export interface CloudUser {
  readonly name: string;
  readonly uid?: number;
  readonly gecos?: string;
  readonly homedir?: string;
  readonly no_create_home?: boolean;
  readonly shell?: string;
  readonly lock_passwd?: boolean;
}

export interface CloudConfig {
  readonly package_update: boolean;
  readonly package_upgrade: boolean;
  readonly packages: readonly string[];
  readonly write_files: readonly WriteFile[];
  /** Host time zone; containers get their own. */
  readonly timezone?: string;
  /** Users cloud-init creates; without "default" in the list, not the image's default user. @default ["default"] */
  readonly users?: readonly CloudUser[];
}

/**
 * Terraform interpolates `${...}` and `%{...}` in every string; literal file content (shell scripts)
 * must reach the host unchanged, so it is escaped before it enters a resource.
 */
export function terraformLiteral(text: string): string {
  // Function replacers: in a replacement string "$$" would itself mean "$".
  return text.replace(/\$\{/g, () => '$${').replace(/%\{/g, () => '%%{');
}

/** The inverse of terraformLiteral, for tests that read the synthesized plan. */
export function fromTerraformLiteral(text: string): string {
  return text.replace(/\$\$\{/g, () => '${').replace(/%%\{/g, () => '%{');
}

export function renderCloudConfig(config: CloudConfig): string {
  // lineWidth 0: never fold long lines (a folded Terraform reference would break).
  return `#cloud-config\n${stringify(config, { lineWidth: 0 })}`;
}

/**
 * KEY="value" lines for a file that bash (and Docker Compose) reads. Literal values are double-quoted with
 * \ " $ ` escaped; a Terraform reference (an IP, a volume id, a bucket name) is left for Terraform to fill in.
 */
export function renderEnvFile(values: Record<string, string | number | boolean>): string {
  return Object.entries(values)
    .map(([k, v]) => {
      if (!/^[A-Z_][A-Z0-9_]*$/.test(k)) throw new Error(`renderEnvFile: ${k} is not a shell variable name`);
      const text = String(v);
      const value = Token.isUnresolved(text) ? text : text.replace(/[\\"$`]/g, (c) => `\\${c}`);
      return `${k}="${value}"`;
    })
    .join('\n')
    .concat('\n');
}
