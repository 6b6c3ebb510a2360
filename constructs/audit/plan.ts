/**
 * Reading a synthesized plan (the JSON of cdktf.out/stacks/<env>/cdk.tf.json, or stack.toTerraform()): typed
 * access to its values and blocks, its resources and data sources with their Terraform addresses and construct
 * paths, and the `${type.name.attribute}` references between them. Pure functions, no policy.
 */

export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export function isObject(v: Json | undefined): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function str(v: Json | undefined): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

export function num(v: Json | undefined): number | undefined {
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  return Number.isFinite(n) ? n : undefined;
}

export function isTrue(v: Json | undefined): boolean {
  return v === true || v === 'true';
}

/** A nested block: cdktf writes single blocks as objects and repeated ones as arrays. */
export function blocks(v: Json | undefined): JsonObject[] {
  if (Array.isArray(v)) return v.filter(isObject);
  return isObject(v) ? [v] : [];
}

export function strings(v: Json | undefined): string[] {
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string');
  return typeof v === 'string' ? [v] : [];
}

export interface Element {
  /** Terraform address: aws_instance.chat-host_instance_02E1A649, data.cloudinit_config.x. */
  readonly address: string;
  readonly path: string;
  readonly body: JsonObject;
}

export function elements(tf: JsonObject, kind: 'resource' | 'data', type: string): Element[] {
  const byName = kind === 'resource' ? tf.resource : tf.data;
  const all = isObject(byName) ? byName[type] : undefined;
  if (!isObject(all)) return [];
  return Object.entries(all)
    .filter((e): e is [string, JsonObject] => isObject(e[1]))
    .map(([name, body]) => {
      const address = `${kind === 'data' ? 'data.' : ''}${type}.${name}`;
      const meta = isObject(body['//']) && isObject(body['//'].metadata) ? body['//'].metadata : undefined;
      return { address, path: str(meta?.path) ?? address, body };
    });
}

/** `${aws_s3_bucket.x.id}` -> { address: "aws_s3_bucket.x", attribute: "id" }. */
export function reference(v: string | undefined): { address: string; attribute: string } | undefined {
  const m = v === undefined ? null : /^\$\{((?:data\.)?[a-z0-9_]+\.[A-Za-z0-9_-]+)\.([a-z0-9_]+)\}$/.exec(v);
  return m ? { address: m[1], attribute: m[2] } : undefined;
}

/** The block at a Terraform address (`aws_s3_bucket.x`, `data.aws_iam_policy_document.y`), if the plan holds it. */
export function lookup(tf: JsonObject, address: string): JsonObject | undefined {
  const parts = address.split('.');
  const [root, type, name] = parts[0] === 'data' ? ['data', parts[1], parts[2]] : ['resource', parts[0], parts[1]];
  const byType = tf[root];
  const byName = isObject(byType) ? byType[type] : undefined;
  const body = isObject(byName) ? byName[name] : undefined;
  return isObject(body) ? body : undefined;
}
