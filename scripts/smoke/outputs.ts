/**
 * The deployed stack's outputs: read from a cdktf outputs file, from parsed JSON, or by running `cdktf output`;
 * the one stack picked, and each role's FQDN, Elastic IP and URL port found whatever shape cdktf gave them.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { COMPONENTS, errorText, isRecord, UsageError, type Component, type SmokeOptions } from './check';

export interface RoleEndpoint {
  fqdn?: string;
  ip?: string;
  /** Port written explicitly in `<role>_url` (e.g. Jitsi on 8443). */
  urlPort?: number;
}
export type Endpoints = Record<Component, RoleEndpoint>;

/** `chat_fqdn`, `chatFqdn` and `chat-fqdn` all become `chatfqdn`. */
export function normaliseKey(key: string): string {
  return key.replace(/[^A-Za-z0-9]/g, '').toLowerCase();
}

/** `terraform output -json` wraps each value as { value, type, sensitive }. */
function unwrapTerraformValue(v: unknown): unknown {
  return isRecord(v) && 'value' in v && ('type' in v || 'sensitive' in v) ? v.value : v;
}

/**
 * Leaf values keyed by their normalised path. cdktf nests outputs of nested constructs by construct id
 * ({ chat: { fqdn } }) and allocated logical ids end in an 8-hex hash (chat_fqdn_1A2B3C4D): both flatten to
 * keys that end with the wanted name.
 */
function flattenOutputs(obj: Record<string, unknown>, prefix = '', into = new Map<string, unknown>()): Map<string, unknown> {
  for (const [rawKey, rawValue] of Object.entries(obj)) {
    const key = prefix + normaliseKey(rawKey.replace(/[_-][0-9A-F]{8}$/, ''));
    const value = unwrapTerraformValue(rawValue);
    if (isRecord(value)) flattenOutputs(value, key, into);
    else if (!into.has(key)) into.set(key, value);
  }
  return into;
}

function lookup(flat: Map<string, unknown>, name: string): string | undefined {
  const wanted = normaliseKey(name);
  const asString = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() !== '' ? v.trim() : typeof v === 'number' ? String(v) : undefined);
  if (flat.has(wanted)) return asString(flat.get(wanted));
  const suffixed = [...flat.entries()].filter(([k]) => k.endsWith(wanted));
  const values = new Set(suffixed.map(([, v]) => asString(v)).filter((v): v is string => v !== undefined));
  // Two different values under similar names: guessing could test the wrong host.
  return values.size === 1 ? [...values][0] : undefined;
}

const OUTPUT_NAMES = ['fqdn', 'public_ip', 'url'] as const;

function hasKnownOutput(obj: Record<string, unknown>): boolean {
  const keys = new Set(Object.keys(obj).map(normaliseKey));
  return COMPONENTS.some((c) => OUTPUT_NAMES.some((n) => keys.has(normaliseKey(`${c}_${n}`))));
}

/** Picks the stack's outputs from `{ "<env>": {...} }` or a flat `{...}` object. */
export function selectStackOutputs(json: unknown, env: string | undefined): Record<string, unknown> {
  if (!isRecord(json)) throw new UsageError('outputs must be a JSON object');
  if (env !== undefined && isRecord(json[env])) return json[env];
  if (hasKnownOutput(json)) return json;
  const stacks = Object.keys(json).filter((k) => isRecord(json[k]));
  if (stacks.length === 1 && env === undefined) return json[stacks[0]] as Record<string, unknown>;
  if (stacks.length === 0) throw new UsageError(`outputs contain no ${COMPONENTS.map((c) => `${c}_fqdn`).join('/')}/..._public_ip values`);
  throw new UsageError(env === undefined ? `outputs hold several stacks (${stacks.join(', ')}): name the environment` : `outputs have no stack "${env}" (found: ${stacks.join(', ')})`);
}

/**
 * Every role's endpoint; a role whose outputs are absent (the TURN relay where `turn.enabled` is off) gets an
 * empty one, and the checks decide what that means (run.ts: skipped for OPTIONAL_COMPONENTS, failed otherwise).
 */
export function endpointsFromOutputs(stack: Record<string, unknown>): Endpoints {
  const flat = flattenOutputs(stack);
  const endpoint = (c: Component): RoleEndpoint => {
    const url = lookup(flat, `${c}_url`);
    let urlPort: number | undefined;
    try {
      urlPort = url && new URL(url).port ? Number(new URL(url).port) : undefined;
    } catch {
      urlPort = undefined; // a malformed URL is only a hint source
    }
    return { fqdn: lookup(flat, `${c}_fqdn`)?.replace(/\.$/, '').toLowerCase(), ip: lookup(flat, `${c}_public_ip`), urlPort };
  };
  return Object.fromEntries(COMPONENTS.map((c) => [c, endpoint(c)])) as Endpoints;
}

/** One output that is not a role's endpoint (e.g. `ssm_parameter_prefix`), found whatever shape cdktf gave it. */
export function outputValue(stack: Record<string, unknown>, name: string): string | undefined {
  return lookup(flattenOutputs(stack), name);
}

/** Runs `npx cdktf output <env> --outputs-file <tmp>`; its chatter goes to stderr so --json stays clean. */
export async function fetchOutputsWithCdktf(env: string): Promise<unknown> {
  const dir = await mkdtemp(join(tmpdir(), 'smoke-outputs-'));
  const file = join(dir, 'outputs.json');
  try {
    const code = await new Promise<number>((resolve, reject) => {
      const child = spawn('npx', ['cdktf', 'output', env, '--outputs-file', file], {
        env: { ...process.env, CHECKPOINT_DISABLE: '1' },
        stdio: ['ignore', process.stderr, process.stderr],
      });
      child.once('error', reject);
      child.once('close', (c) => resolve(c ?? 1));
    });
    if (code !== 0) throw new UsageError(`\`npx cdktf output ${env} --outputs-file ${file}\` exited with ${code}`);
    return JSON.parse(await readFile(file, 'utf8')) as unknown;
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`could not read stack outputs via cdktf: ${errorText(err)}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function loadOutputs(opts: SmokeOptions): Promise<unknown> {
  if (opts.outputs !== undefined) return opts.outputs;
  if (opts.outputsFile !== undefined) {
    let text: string;
    try {
      text = await readFile(opts.outputsFile, 'utf8');
    } catch (err) {
      throw new UsageError(`cannot read outputs file ${opts.outputsFile}: ${errorText(err)}`);
    }
    try {
      return JSON.parse(text) as unknown;
    } catch (err) {
      throw new UsageError(`outputs file ${opts.outputsFile} is not valid JSON: ${errorText(err)}`);
    }
  }
  if (opts.env === undefined) throw new UsageError('name the environment (e.g. `npm run smoke -- production`) or pass --outputs <file>');
  return fetchOutputsWithCdktf(opts.env);
}
