/** Loads an environment file over its tier's defaults and validates it, failing loudly. */
import { environmentSchemaAt, TIER_MESSAGE, type EnvironmentConfig, type EnvironmentInput } from './schema';

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
      },
      ami: { followLatest: true },
      storage: { backupRetentionDays: 14 },
      snapshots: { enabled: false, retainCount: 7 },
    },
    production: {
      dns: { subdomain: '' },
      hosts: {
        chat: { instanceType: 'm6i.xlarge', dataVolumeGiB: 100 },
        meet: { instanceType: 'c6i.2xlarge', dataVolumeGiB: 100 },
        pbx: { instanceType: 't3.medium', dataVolumeGiB: 20 },
      },
      ami: { followLatest: false },
      storage: { backupRetentionDays: 90 },
      snapshots: { enabled: true, retainCount: 30 },
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
  if (!TIERS.includes(file.tier))
    throw new ConfigError(env, [`tier = ${show(file.tier)}: ${TIER_MESSAGE}`], options.source);
  const input = merge(tierDefaults(file.tier), file);
  const result = environmentSchemaAt(options.now ?? new Date()).safeParse(input);
  if (result.success) return result.data;
  const problems = result.error.issues.map((i) => {
    const field = i.path.map(String).join('.') || '(root)';
    const message = i.code === 'unrecognized_keys' ? `has unknown field(s) ${i.keys.join(', ')}: remove them or check the spelling` : i.message;
    return `${field} = ${show(valueAt(input, i.path))}: ${message}`;
  });
  throw new ConfigError(env, problems, options.source);
}
