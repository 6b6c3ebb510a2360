/**
 * Reads the environment files of a folder (config/environments/ by default) and checks what no single file can:
 * the folder's shape (every file listed in its index.ts, every listed file present, a default export shaped like
 * an environment, named after its file) and collisions between environments (stack names, DNS names and
 * records, state objects). Every mistake names the file it is in.
 */
import { existsSync, readdirSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { ConfigError, ConfigErrors, loadEnvironment, show, type EnvironmentFile } from './load';
import { fqdnOf, sipDomainOf, stateKeyOf } from './names';
import { ENVIRONMENT_NAME_RE, ROLES, type EnvironmentConfig } from './schema';

/** The shipped folder. */
export const DEFAULT_ENVIRONMENTS_DIR = join(__dirname, 'environments');
/** Names another folder of environment files (index.ts and one file per environment), e.g. for a fork or a test. */
export const ENVIRONMENTS_DIR_VARIABLE = 'WEEBEETALK_ENVIRONMENTS_DIR';

export interface EnvironmentSource {
  /** File name without `.ts`, as index.ts lists it. */
  readonly id: string;
  /** The file, relative to the working directory when inside it. */
  readonly path: string;
  readonly file: EnvironmentFile;
}

export interface LoadedEnvironment extends EnvironmentSource {
  readonly config: EnvironmentConfig;
}

export function displayPath(file: string): string {
  const rel = relative(process.cwd(), file);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel : file;
}

function filesError(dir: string, problems: string[]): ConfigError {
  return new ConfigError('(files)', problems, displayPath(dir), `Invalid environment files in ${displayPath(dir)}:`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Why a file cannot be loaded, in one line that keeps the compiler's location: esbuild (tsx) says
 * `Transform failed with 1 error:` and then `<file>:<line>:<col>: ERROR: <what>`; swc (jest) says `x <what>`
 * and then `,-[<file>:<line>:<col>]`. Both become `<file>:<line>:<col>: ERROR: <what>`.
 */
export function loadFailure(e: unknown): string {
  const message = isObject(e) && typeof e.message === 'string' ? e.message : String(e);
  const esbuild = /^(.+?):(\d+):(\d+): ERROR: (.*)$/m.exec(message);
  if (esbuild) return `${displayPath(esbuild[1])}:${esbuild[2]}:${esbuild[3]}: ERROR: ${esbuild[4]}`;
  const swc = /^\s*x (.*)\n\s*,-\[(.+?):(\d+):(\d+)\]/m.exec(message);
  if (swc) return `${displayPath(swc[2])}:${swc[3]}:${swc[4]}: ERROR: ${swc[1]}`;
  const lines = message
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
  // A heading such as "Transform failed with 1 error:" says nothing without the line after it.
  return lines.length > 1 && lines[0].endsWith(':') ? `${lines[0]} ${lines[1]}` : (lines[0] ?? message);
}

/** The ids index.ts lists (its `ENVIRONMENT_FILES`), or a ConfigError naming index.ts. */
function listedIds(dir: string): string[] {
  const index = join(dir, 'index.ts');
  if (!existsSync(index)) throw filesError(dir, [`${displayPath(index)} is missing: it lists the environment files (export const ENVIRONMENT_FILES = ['staging', 'production'])`]);
  let mod: unknown;
  try {
    mod = require(index);
  } catch (e) {
    if (e instanceof ConfigError || e instanceof ConfigErrors) throw e;
    throw filesError(dir, [`${displayPath(index)} cannot be loaded: ${loadFailure(e)}`]);
  }
  const list = isObject(mod) ? mod.ENVIRONMENT_FILES : undefined;
  if (!Array.isArray(list) || !list.every((x): x is string => typeof x === 'string'))
    throw filesError(dir, [`${displayPath(index)} must export ENVIRONMENT_FILES, the list of file names without .ts (e.g. ['staging', 'production']), found ${show(list)}`]);
  return list;
}

/** Reads and shape-checks every environment file of a folder; `ids` defaults to what its index.ts lists. */
export function readEnvironmentFiles(dir: string = DEFAULT_ENVIRONMENTS_DIR, ids: readonly string[] = listedIds(dir)): EnvironmentSource[] {
  const problems: string[] = [];
  const index = displayPath(join(dir, 'index.ts'));
  const present = existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts') && f !== 'index.ts')
        .map((f) => f.slice(0, -3))
    : [];
  for (const id of present) if (!ids.includes(id)) problems.push(`${displayPath(join(dir, `${id}.ts`))} is not listed in ${index}: add '${id}' to ENVIRONMENT_FILES, or delete the file`);
  const seen = new Set<string>();
  const sources: EnvironmentSource[] = [];
  for (const id of ids) {
    const path = displayPath(join(dir, `${id}.ts`));
    if (seen.has(id)) {
      problems.push(`${index} lists '${id}' twice: list each file once`);
      continue;
    }
    seen.add(id);
    if (!present.includes(id)) {
      problems.push(`${index} lists '${id}' but ${path} does not exist: create it, or remove '${id}' from ENVIRONMENT_FILES`);
      continue;
    }
    let mod: unknown;
    try {
      mod = require(resolve(dir, `${id}.ts`));
    } catch (e) {
      problems.push(`${path} cannot be loaded: ${loadFailure(e)}`);
      continue;
    }
    const exported = isObject(mod) ? mod.default : undefined;
    const named = isObject(mod) ? Object.keys(mod).filter((k) => k !== 'default' && k !== '__esModule') : [];
    if (exported === undefined) {
      problems.push(
        named.length > 0
          ? `${path} has no default export (it exports ${named.join(', ')}): end it with \`export default ${named[0]};\``
          : `${path} exports nothing: it must \`export default\` an environment { name: '${id}', tier: 'staging' | 'production', ... }`,
      );
      continue;
    }
    if (!isObject(exported) || typeof exported.name !== 'string' || typeof exported.tier !== 'string') {
      problems.push(`${path} must \`export default\` an environment object with a name and a tier, found ${show(exported).slice(0, 120)}`);
      continue;
    }
    sources.push({ id, path, file: exported as unknown as EnvironmentFile });
  }
  // One name per file, the file's own: the file, the stack and `cdktf deploy <name>` then agree.
  const byName = new Map<string, EnvironmentSource>();
  for (const s of sources) {
    const other = byName.get(s.file.name);
    if (other) problems.push(`${s.path} and ${other.path} both have name = "${s.file.name}": one stack (and one state) per name: give ${s.path} name: '${s.id}'`);
    else if (s.file.name !== s.id) {
      // Renaming the file is advice only when the name is one the schema accepts (Staging is not).
      const rename = ENVIRONMENT_NAME_RE.test(s.file.name) ? `rename the file to ${s.file.name}.ts` : undefined;
      const fix = !ENVIRONMENT_NAME_RE.test(s.id) && rename ? rename : `name: '${s.id}'${rename ? `, or ${rename}` : ''}`;
      problems.push(`${s.path}: name = "${s.file.name}" differs from the file name: name each file after its environment (${fix})`);
    }
    byName.set(s.file.name, s);
  }
  for (const s of sources) {
    const tier = s.file.tier;
    // "prod" as a word of the name (prod, prod-eu, prod2, eu-production), not inside one (preprod, nonprod, products).
    if (tier === 'staging' && /(^|-)prod(uction)?(-|\d|$)/.test(s.id))
      problems.push(`${s.path}: tier = "staging" contradicts the file name ${s.id}: a production environment needs tier: 'production' (termination protection, prevent_destroy, snapshots)`);
    if (tier === 'production' && /(^|-)(stag(e|ing)?|stg|dev|test|qa|sandbox|demo)(-|\d|$)/.test(s.id))
      problems.push(`${s.path}: tier = "production" contradicts the file name ${s.id}: use tier: 'staging' for a disposable environment, or rename the file`);
  }
  if (problems.length > 0) throw filesError(dir, problems);
  return sources;
}

interface Claim {
  /** What is claimed, e.g. "name chat.staging.example.com" or "state s3://bucket/key". */
  readonly key: string;
  /** The field that makes the claim, and its value as written. */
  readonly field: string;
  readonly value: unknown;
  readonly what: string;
}

/** What one environment claims that no other may: a second claim of the same key is a collision. */
function claims(config: EnvironmentConfig): Claim[] {
  const out: Claim[] = [];
  const zone = zoneOf(config);
  for (const role of ROLES) out.push({ key: `name ${fqdnOf(config, role)}`, field: `dns.hostNames.${role}`, value: config.dns.hostNames[role], what: `its A and CAA records (${role} host)` });
  out.push({ key: `name _sips._tcp.${sipDomainOf(config)}`, field: 'dns.subdomain', value: config.dns.subdomain, what: 'its SIP SRV records' });
  if (config.dns.zone === 'create') out.push({ key: `zone ${zone}`, field: 'dns.zone', value: config.dns.zone, what: 'a created hosted zone (two zones of one name: only one can be delegated)' });
  if (config.state)
    out.push({
      key: `state s3://${config.state.bucket}/${stateKeyOf(config, config.state)}`,
      field: config.state.key ? 'state.key' : 'state.bucket',
      value: config.state.key ?? config.state.bucket,
      what: 'its Terraform state object',
    });
  return out;
}

/** Collisions between environments: a staging deploy must never touch what production owns. */
export function checkAcrossEnvironments(loaded: readonly LoadedEnvironment[]): ConfigError[] {
  const owner = new Map<string, LoadedEnvironment>();
  const errors: ConfigError[] = [];
  // Production owns what it claims: the other environment is the one to change.
  const order = [...loaded].sort((a, b) => Number(b.config.tier === 'production') - Number(a.config.tier === 'production'));
  for (const env of order) {
    const problems: string[] = [];
    for (const c of claims(env.config)) {
      const other = owner.get(c.key);
      if (!other) {
        owner.set(c.key, env);
        continue;
      }
      const fix = c.key.startsWith('state')
        ? 'give each environment its own state key (or leave state.key out: it defaults to weebeetalk/<name>/terraform.tfstate)'
        : 'give each environment its own dns.subdomain or host names';
      problems.push(
        `${c.field} = ${show(c.value)}: ${c.key} is already ${other.config.name}'s (${other.path}, ${c.what}): a deploy or destroy of ${env.config.name} would act on ${other.config.name}: ${fix}`,
      );
    }
    problems.push(...shadowedZones(env, loaded));
    if (problems.length > 0) errors.push(new ConfigError(env.config.name, problems, env.path));
  }
  return errors;
}

/**
 * A zone this environment creates that another environment looks up by the same name: Route53 then holds two
 * zones of that name, the lookup fails ("multiple zones matched") or finds the wrong one, and only one of them can
 * be delegated. (Two creates are the claims' collision above.)
 */
function shadowedZones(env: LoadedEnvironment, loaded: readonly LoadedEnvironment[]): string[] {
  if (env.config.dns.zone !== 'create') return [];
  const zone = zoneOf(env.config);
  return loaded
    .filter((other) => other !== env && other.config.dns.zone === 'lookup' && zoneOf(other.config) === zone)
    .map(
      (other) =>
        `dns.zone = ${show(env.config.dns.zone)}: creates zone ${zone}, which ${other.config.name} looks up (${other.path}): a second hosted zone of that name breaks ${other.config.name}'s lookup (or answers it with the wrong zone) and only one can be delegated: set dns.zone: 'lookup' to share the existing zone, or give one environment its own dns.zoneName`,
    );
}

function zoneOf(config: EnvironmentConfig): string {
  return config.dns.zoneName ?? config.dns.domain;
}

/** Every environment of a folder, loaded and checked; all mistakes of all files at once, or none. */
export function loadEnvironments(dir?: string, now: Date = new Date()): LoadedEnvironment[] {
  const sources = readEnvironmentFiles(dir ?? process.env[ENVIRONMENTS_DIR_VARIABLE] ?? DEFAULT_ENVIRONMENTS_DIR);
  const errors: ConfigError[] = [];
  const loaded: LoadedEnvironment[] = [];
  for (const s of sources) {
    try {
      loaded.push({ ...s, config: loadEnvironment(s.file, { now, source: s.path }) });
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      errors.push(e);
    }
  }
  errors.push(...checkAcrossEnvironments(loaded));
  if (errors.length === 1) throw errors[0];
  if (errors.length > 1) throw new ConfigErrors(errors);
  return loaded;
}
