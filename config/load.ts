/** Loads an environment file over its tier's defaults and validates it, failing loudly. */
import type { z } from 'zod';
import { environmentSchemaAt, knownFieldsAt, TIER_MESSAGE, type EnvironmentConfig, type EnvironmentInput } from './schema';

type DeepPartial<T> = T extends (infer U)[] ? U[] : T extends object ? { [K in keyof T]?: DeepPartial<T[K]> } : T;

/** What an environment file states: its name and tier, and whatever differs from the tier's defaults. */
export type EnvironmentFile = DeepPartial<EnvironmentInput> & Pick<EnvironmentInput, 'name' | 'tier'>;

/** Defaults per tier: staging small and cheap, production sized for a few hundred users (README, "Sizing"). */
export function tierDefaults(tier: EnvironmentInput['tier']): DeepPartial<EnvironmentInput> {
  const common: DeepPartial<EnvironmentInput> = {
    aws: { region: 'ap-southeast-3' },
    network: { vpcCidr: '10.20.0.0/16' },
    rocketchat: { release: '8.9.1', mongodbVersion: '8.0' },
  };
  const perTier: Record<EnvironmentInput['tier'], DeepPartial<EnvironmentInput>> = {
    staging: {
      dns: { subdomain: 'staging' },
      network: { vpcCidr: '10.21.0.0/16' },
      hosts: {
        chat: { instanceType: 't3.medium', dataVolumeGiB: 20 },
        meet: { instanceType: 't3.large', dataVolumeGiB: 40 },
        pbx: { instanceType: 't3.small', dataVolumeGiB: 10 },
        turn: { instanceType: 't3.micro', dataVolumeGiB: 2 },
      },
      // Optional here: on in a staging that tests meetings from behind a corporate firewall.
      turn: { enabled: false },
      // Nothing runs at rest: the meet host's own Jibri and bridge serve; a second recording, or a loaded bridge, starts one.
      jitsi: {
        jibriPool: { enabled: true, min: 0, max: 1, idle: 1, instanceType: 't3.large' },
        jvbPool: { enabled: true, min: 0, max: 1, instanceType: 'c6i.large' },
      },
      ami: { followLatest: true },
      storage: { backupRetentionDays: 14 },
      snapshots: { enabled: false, retainCount: 7 },
      // Disposable: AWS managed keys, nothing to schedule for deletion at teardown.
      kms: { customerManagedKey: false },
      // Enough to look into last week's deploy; the logs go with the environment.
      observability: { logRetentionDays: 7 },
    },
    production: {
      dns: { subdomain: '' },
      hosts: {
        chat: { instanceType: 'm6i.xlarge', dataVolumeGiB: 100 },
        meet: { instanceType: 'c6i.2xlarge', dataVolumeGiB: 100 },
        pbx: { instanceType: 't3.medium', dataVolumeGiB: 20 },
        // TLS relay of a few hundred participants' media: network, not CPU, is what it needs.
        turn: { instanceType: 'c6i.large', dataVolumeGiB: 4 },
      },
      turn: { enabled: true },
      // README, "Sizing": one recording per m6i.xlarge, two ready at rest (the meet host's and one member); c6i.2xlarge
      // bridges (8 vCPU, about 300 participants), one ready beside the meet host's.
      jitsi: {
        jibriPool: { enabled: true, min: 1, max: 8, idle: 2, instanceType: 'm6i.xlarge', rootVolumeGiB: 50 },
        jvbPool: { enabled: true, min: 1, max: 6, instanceType: 'c6i.2xlarge' },
      },
      ami: { followLatest: false },
      storage: { backupRetentionDays: 90 },
      snapshots: { enabled: true, retainCount: 30 },
      kms: { customerManagedKey: true },
      observability: { logRetentionDays: 90 },
    },
  };
  return merge(common, perTier[tier]);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Deep merge of plain objects; arrays and scalars of `over` replace those of `base`. */
export function merge<T>(base: T, over: unknown): T {
  if (!isPlainObject(base) || !isPlainObject(over)) return (over === undefined ? base : over) as T;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = v === undefined ? out[k] : merge(out[k], v);
  return out as T;
}

/**
 * A mistake in the configuration: the environment (or the files) at fault and one line per problem,
 * `<field> = <value>: <what is wrong and how to fix it>`. Entry points print it as one block (config/entry.ts).
 */
export class ConfigError extends Error {
  constructor(
    readonly environment: string,
    readonly problems: string[],
    /** The file at fault, relative to the repository, when known. */
    readonly file?: string,
    /** Replaces the first line, for mistakes that are not one environment's (files, collisions). */
    heading?: string,
  ) {
    const first = heading ?? `Invalid configuration for environment "${environment}"${file ? ` (${file})` : ''}:`;
    super(`${first}\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Several ConfigErrors found in one run (every environment is checked before any stops the run). */
export class ConfigErrors extends Error {
  constructor(readonly errors: readonly ConfigError[]) {
    super(errors.map((e) => e.message).join('\n\n'));
    this.name = 'ConfigErrors';
  }
}

/** The value at a path of an object, or undefined. */
export function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  return path.reduce<unknown>((v, k) => (isPlainObject(v) || Array.isArray(v) ? (v as Record<PropertyKey, unknown>)[k] : undefined), root);
}

export function show(v: unknown): string {
  return v === undefined ? '(missing)' : JSON.stringify(v);
}

/** Edit distance with transpositions (optimal string alignment): "Emial" is one step from "Email". */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[a.length][b.length];
}

/** What to say about an unknown field: the nearest known field of its object, or the fields there are. */
export function unknownField(key: string, known: readonly string[]): { message: string; nearest?: string } {
  const scored = known.map((k) => ({ k, d: distance(key.toLowerCase(), k.toLowerCase()) })).sort((a, b) => a.d - b.d);
  const best = scored[0];
  if (best && best.d <= Math.max(2, Math.floor(key.length / 3))) return { message: `unknown field; did you mean ${best.k}?`, nearest: best.k };
  return { message: known.length > 0 ? `unknown field: remove it (the fields here are ${known.join(', ')})` : 'unknown field: remove it' };
}

/** Fields an earlier release read, with what replaced them. */
const RETIRED_FIELDS: Readonly<Record<string, string>> = {
  'sip.dialInRoom':
    'is gone: a trunk call now asks for the PIN of a running meeting (shown in its invite dialog); to keep sending every trunk call to one room, add it to sip.dialIn.rooms as { did: "*", room: "<the room>" } (internal phones: { extension: "<extension>", room: "<the room>" })',
};

export interface LoadOptions {
  /** The day of synthesis: Rocket.Chat releases must be supported on it. @default now */
  readonly now?: Date;
  /** The file the environment came from, named in the error. @default none */
  readonly source?: string;
}

/** The tiers, whose defaults a file is merged over. */
export const TIERS: readonly EnvironmentInput['tier'][] = ['staging', 'production'];

export function loadEnvironment(file: EnvironmentFile, options: LoadOptions = {}): EnvironmentConfig {
  const env = typeof file.name === 'string' ? file.name : '(unnamed)';
  // Without a tier there are no defaults to merge: every field they fill would be reported missing, misleadingly.
  if (!TIERS.includes(file.tier)) throw new ConfigError(env, [`tier = ${show(file.tier)}: ${TIER_MESSAGE}`], options.source);
  const input = merge(tierDefaults(file.tier), file);
  const result = environmentSchemaAt(options.now ?? new Date()).safeParse(input);
  if (result.success) return result.data;
  const dotted = (path: readonly PropertyKey[]): string => path.map(String).join('.') || '(root)';
  // A misspelt field: its own line and value, and the field it was probably meant to be (never the whole object);
  // the field it was meant to be is then not reported missing as well.
  const meant = new Set<string>();
  const unknown = new Map<z.core.$ZodIssue, string[]>();
  for (const i of result.error.issues)
    if (i.code === 'unrecognized_keys')
      unknown.set(
        i,
        i.keys.map((key) => {
          const retired = RETIRED_FIELDS[dotted([...i.path, key])];
          if (retired !== undefined) return `${dotted([...i.path, key])} = ${show(valueAt(input, [...i.path, key]))}: ${retired}`;
          const { message, nearest } = unknownField(key, knownFieldsAt(i.path));
          if (nearest !== undefined) meant.add(dotted([...i.path, nearest]));
          return `${dotted([...i.path, key])} = ${show(valueAt(input, [...i.path, key]))}: ${message}`;
        }),
      );
  const problems = result.error.issues.flatMap((i) => {
    const lines = unknown.get(i);
    if (lines) return lines;
    const value = valueAt(input, i.path);
    if (value === undefined && meant.has(dotted(i.path))) return [];
    return [`${dotted(i.path)} = ${show(value)}: ${i.message}`];
  });
  throw new ConfigError(env, problems, options.source);
}
