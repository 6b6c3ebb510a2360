/**
 * Synthesizes environments for the tests with cdktf's `Testing.synth`, once per environment per test file
 * (jest gives every test file its own module registry, so this cache lives exactly as long as one file).
 * Shipped environments come from config/environments; variants are a shipped file with an override merged
 * over it by config/load.ts's `merge`, validated by `loadEnvironment` like the real app does.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Testing } from 'cdktf';
import { environments } from '../../config/environments';
import { loadEnvironment, merge, type EnvironmentFile } from '../../config/load';
import type { EnvironmentConfig } from '../../config/schema';
import type { WeeBeeTalkStack as Stack } from '../../constructs/weebeetalk-stack';

/** A block of synthesized Terraform JSON: a resource, a data source, an output. */
export type Block = Record<string, unknown>;

/** The parts of a synthesized stack the tests read. */
export interface TerraformJson {
  readonly terraform?: Block;
  readonly provider?: Record<string, Block[]>;
  readonly resource?: Record<string, Record<string, Block>>;
  readonly data?: Record<string, Record<string, Block>>;
  readonly output?: Record<string, Block>;
}

export interface Synthesized {
  /** The environment name, or the variant's label. */
  readonly label: string;
  /** The validated configuration the stack was built from. */
  readonly config: EnvironmentConfig;
  /** The JSON text `Testing.synth` returned: what cdktf's jest matchers take. */
  readonly text: string;
  /** The same, parsed. */
  readonly json: TerraformJson;
}

/** What a variant changes in a shipped environment file (deeply merged; arrays replace). */
export type EnvironmentOverride = Omit<EnvironmentFile, 'name' | 'tier'> & Partial<Pick<EnvironmentFile, 'name' | 'tier'>>;

/** Names of the shipped environments, in the order main.ts builds them. */
export function shippedNames(): string[] {
  return environments.map((e) => e.name);
}

export function environmentFile(name: string): EnvironmentFile {
  const file = environments.find((e) => e.name === name);
  if (!file) throw new Error(`no shipped environment "${name}" (have ${shippedNames().join(', ')})`);
  return file;
}

/** A shipped environment file with an override merged over it, exactly as loadEnvironment will see it. */
export function variantFile(base: string, override: EnvironmentOverride): EnvironmentFile {
  return merge(environmentFile(base), override);
}

const cache = new Map<string, { key: string; result: Synthesized }>();

// One output directory per test file, removed after it: Testing.app() alone leaves one per app in the temp dir.
let outdir: string | undefined;
afterAll(() => {
  if (outdir !== undefined) rmSync(outdir, { recursive: true, force: true });
});

/**
 * Synthesized plans shared by every test file of one jest run (the run's own directory, test/support/tmpdir-setup.js):
 * a plan is a function of its environment file (and the day), and thirty files synthesizing the same two
 * environments spent a third of the suite's CPU. A file's own variants are synthesized once in the run too.
 */
const RUN_CACHE = process.env.WBT_JEST_TMPDIR === undefined ? undefined : join(process.env.WBT_JEST_TMPDIR, 'synth-cache');

function synthFile(label: string, file: EnvironmentFile): Synthesized {
  const config = loadEnvironment(file);
  const key = createHash('sha256')
    .update(JSON.stringify({ file, day: new Date().toISOString().slice(0, 10) }))
    .digest('hex');
  const cached = RUN_CACHE === undefined ? undefined : join(RUN_CACHE, `${key}.json`);
  let text = cached !== undefined && existsSync(cached) ? readFileSync(cached, 'utf8') : undefined;
  if (text === undefined) {
    outdir ??= mkdtempSync(join(tmpdir(), 'synth-test-'));
    // Loaded on a miss only: the constructs and the AWS provider's bindings are most of a file's start-up.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { WeeBeeTalkStack } = require('../../constructs/weebeetalk-stack') as { WeeBeeTalkStack: typeof Stack };
    // As buildApp does (constructs/stack-traces.ts).
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    (require('../../constructs/stack-traces') as { skipTokenStackTraces: () => void }).skipTokenStackTraces();
    const stack = new WeeBeeTalkStack(Testing.app({ outdir }), config.name, { config });
    text = Testing.synth(stack);
    if (cached !== undefined && RUN_CACHE !== undefined) {
      mkdirSync(RUN_CACHE, { recursive: true });
      // Written whole, then renamed: another worker may read it at any moment.
      const partial = `${cached}.${process.pid}`;
      writeFileSync(partial, text);
      renameSync(partial, cached);
    }
  }
  return { label, config, text, json: JSON.parse(text) as TerraformJson };
}

function memoized(label: string, key: string, make: () => Synthesized): Synthesized {
  const hit = cache.get(label);
  if (hit) {
    if (hit.key !== key) throw new Error(`synth label "${label}" reused for a different configuration`);
    return hit.result;
  }
  const result = make();
  cache.set(label, { key, result });
  return result;
}

/** A shipped environment, synthesized at most once per test file. */
export function synthEnvironment(name: string): Synthesized {
  return memoized(name, name, () => synthFile(name, environmentFile(name)));
}

/** A shipped environment with an override, synthesized at most once per test file and label. */
export function synthVariant(label: string, base: string, override: EnvironmentOverride): Synthesized {
  if (shippedNames().includes(label)) throw new Error(`variant label "${label}" would shadow the shipped environment`);
  return memoized(label, `${base}:${JSON.stringify(override)}`, () => synthFile(label, variantFile(base, override)));
}

/** One resource or data source of a synthesized stack. */
export interface Item {
  readonly type: string;
  readonly key: string;
  readonly block: Block;
  /** Terraform address: `aws_instance.key` or `data.aws_ami.key`. */
  readonly address: string;
  /** Interpolation of one of its attributes, as it appears where another block references it. */
  ref(attribute: string): string;
}

function items(section: Record<string, Record<string, Block>> | undefined, type: string, prefix: string): Item[] {
  return Object.entries(section?.[type] ?? {}).map(([key, block]) => {
    const address = `${prefix}${type}.${key}`;
    return { type, key, block, address, ref: (attribute: string) => `\${${address}.${attribute}}` };
  });
}

/** Every resource of a type (e.g. "aws_instance"). */
export function resources(s: Synthesized, type: string): Item[] {
  return items(s.json.resource, type, '');
}

/** Every data source of a type (e.g. "cloudinit_config"). */
export function dataSources(s: Synthesized, type: string): Item[] {
  return items(s.json.data, type, 'data.');
}

/** Every resource of the stack, all types. */
export function allResources(s: Synthesized): Item[] {
  return Object.keys(s.json.resource ?? {}).flatMap((type) => resources(s, type));
}

/** Resource types present in the stack. */
export function resourceTypes(s: Synthesized): string[] {
  return Object.keys(s.json.resource ?? {}).sort();
}

/** The one item matching, or a failure that says what was there instead. */
export function single(list: readonly Item[], what: string, predicate: (i: Item) => boolean = () => true): Item {
  const found = list.filter(predicate);
  if (found.length !== 1) throw new Error(`expected exactly one ${what}, found ${found.length}: ${found.map((i) => i.address).join(', ') || list.map((i) => i.address).join(', ')}`);
  return found[0];
}

/** The item whose `tags.Name` is exactly `name`. */
export function byNameTag(list: readonly Item[], name: string): Item {
  return single(list, `${list[0]?.type ?? 'item'} tagged Name=${name}`, (i) => isObject(i.block.tags) && i.block.tags.Name === name);
}

/** The item a `${type.key.attr}` interpolation points to. */
export function referenced(list: readonly Item[], interpolation: unknown): Item {
  return single(list, `target of ${String(interpolation)}`, (i) => typeof interpolation === 'string' && interpolation.startsWith(`\${${i.address}.`));
}

export function isObject(v: unknown): v is Block {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function asObject(v: unknown, what: string): Block {
  if (!isObject(v)) throw new Error(`${what}: expected an object, got ${JSON.stringify(v)}`);
  return v;
}

export function asArray(v: unknown, what: string): unknown[] {
  if (!Array.isArray(v)) throw new Error(`${what}: expected an array, got ${JSON.stringify(v)}`);
  return v;
}

export function asString(v: unknown, what: string): string {
  if (typeof v !== 'string') throw new Error(`${what}: expected a string, got ${JSON.stringify(v)}`);
  return v;
}

export function asStrings(v: unknown, what: string): string[] {
  return asArray(v, what).map((x, i) => asString(x, `${what}[${i}]`));
}

/** A block that Terraform accepts as an object or a one-element list (cdktf renders both). */
export function one(v: unknown, what: string): Block {
  if (Array.isArray(v)) {
    if (v.length !== 1) throw new Error(`${what}: expected one block, got ${v.length}`);
    return asObject(v[0], what);
  }
  return asObject(v, what);
}

/** `lifecycle.prevent_destroy` of a resource block. */
export function preventsDestroy(block: Block): boolean {
  return isObject(block.lifecycle) && block.lifecycle.prevent_destroy === true;
}
