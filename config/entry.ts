/**
 * How every entry point (main.ts under `cdktf synth`, scripts/audit.ts, scripts/smoke.ts) fails: a mistake in
 * the configuration or a synthesis error annotation is printed as one readable block, once, with no stack
 * trace, and the process exits 1. Only a real bug (any other error) keeps its stack, because it is ours to fix.
 */
import type { IConstruct } from 'constructs';
import { AnnotationMetadataEntryType, Annotations, App, TerraformStack } from 'cdktf';
import { ConfigError, ConfigErrors, show, valueAt } from './load';
import { PEER_FIELD } from './ports';
import { portPlan } from '../constructs/roles';
import type { EnvironmentConfig } from './schema';

/** Error annotations of a synthesis (e.g. the security-group audit), with the configuration field behind each. */
export class SynthesisError extends Error {
  constructor(readonly blocks: readonly { readonly environment: string; readonly problems: readonly string[] }[]) {
    super(blocks.map((b) => `Synthesis of environment "${b.environment}" failed:\n${b.problems.map((p) => `  - ${p}`).join('\n')}`).join('\n\n'));
    this.name = 'SynthesisError';
  }
}

/** The configuration field(s) behind a construct: a security-group rule of config/ports.ts names its port field and source list. */
export function fieldsBehind(node: IConstruct, config: EnvironmentConfig | undefined, message: string): string[] {
  if (!config) return [];
  const rule = portPlan(config).find((r) => r.id === node.node.id && node.node.scope?.node.id === 'firewalls');
  if (!rule) return [];
  const fields: string[] = [];
  const port = rule.portField ? `${rule.portField} = ${show(valueAt(config, rule.portField.split('.')))}` : undefined;
  let peer: string | undefined;
  if (rule.peer.kind === 'cidr' && PEER_FIELD[rule.peer.label]) {
    const list = PEER_FIELD[rule.peer.label];
    const index = (valueAt(config, list.split('.')) as string[] | undefined)?.indexOf(rule.peer.cidr) ?? -1;
    peer = `${list}.${index} = ${show(rule.peer.cidr)}`;
  }
  // A port clash is the port field's doing; an exposure is the source list's.
  const aboutPorts = /WBT-SG-(INTERNAL|WORLD)/.test(message);
  for (const f of aboutPorts ? [port, peer] : [peer, port]) if (f) fields.push(f);
  return fields;
}

function configOf(node: IConstruct): { name: string; config?: EnvironmentConfig } {
  try {
    const stack = TerraformStack.of(node);
    const config = (stack as unknown as { config?: EnvironmentConfig }).config;
    return { name: stack.node.id, config };
  } catch {
    return { name: '(app)' };
  }
}

/** Error annotations in the tree, grouped by environment, each naming the configuration field behind it. */
export function errorAnnotations(app: App): SynthesisError | undefined {
  const byEnv = new Map<string, string[]>();
  for (const node of app.node.findAll()) {
    for (const m of node.node.metadata) {
      if (m.type !== AnnotationMetadataEntryType.ERROR) continue;
      const message = String(m.data);
      const { name, config } = configOf(node);
      const fields = fieldsBehind(node, config, message);
      const line = fields.length > 0 ? `${fields.join(', ')}: ${message}` : `[${node.node.path}] ${message}`;
      byEnv.set(name, [...(byEnv.get(name) ?? []), line]);
    }
  }
  if (byEnv.size === 0) return undefined;
  return new SynthesisError([...byEnv].map(([environment, problems]) => ({ environment, problems })));
}

/**
 * Builds and synthesizes the app, every stack even past the first violation (cdktf reads the switch when a
 * stack is constructed), then fails with all error annotations as one block per environment.
 */
export function synthesizeOrFail(build: () => App): void {
  const key = 'CDKTF_CONTINUE_SYNTH_ON_ERROR_ANNOTATIONS';
  const before = process.env[key];
  process.env[key] = 'true';
  let app: App;
  try {
    app = build();
    app.synth();
  } finally {
    if (before === undefined) delete process.env[key];
    else process.env[key] = before;
  }
  const failure = errorAnnotations(app);
  if (failure) throw failure;
}

/** The block an entry point prints for a failure, or undefined for a bug (which keeps its stack). */
export function formatFailure(e: unknown): string | undefined {
  if (e instanceof ConfigError || e instanceof ConfigErrors || e instanceof SynthesisError) return `${e.message}\n`;
  return undefined;
}

/**
 * Under `cdktf synth`/`diff`/`deploy` (the CLI sets CDKTF_OUTDIR) a failing app's output is echoed twice (live
 * and in the CLI's summary) whether it goes to stdout or stderr. The CLI prints a manifest's annotations once:
 * so there the block becomes the one error annotation of a stack named "configuration", synthesized in place
 * of the plan, and the CLI prints it and fails.
 */
function reportToCdktfCli(block: string): boolean {
  const outdir = process.env.CDKTF_OUTDIR;
  if (outdir === undefined) return false;
  const app = new App({ outdir, stackTraces: false });
  Annotations.of(new TerraformStack(app, 'configuration')).addError(block.trimEnd());
  const key = 'CDKTF_CONTINUE_SYNTH_ON_ERROR_ANNOTATIONS';
  const before = process.env[key];
  process.env[key] = 'true';
  try {
    app.synth();
  } finally {
    if (before === undefined) delete process.env[key];
    else process.env[key] = before;
  }
  return true;
}

/**
 * Runs an entry point: its return value (a number, or a promise of one) is the exit code; a ConfigError or a
 * SynthesisError is printed as one block on stderr with exit code 1; any other error is a bug and keeps its stack.
 */
export function runEntryPoint(name: string, main: () => unknown, options: { readonly viaCdktfCli?: boolean } = {}): void {
  const fail = (e: unknown): void => {
    const block = formatFailure(e);
    if (block !== undefined && options.viaCdktfCli && reportToCdktfCli(block)) return;
    process.stderr.write(block ?? `${name}: unexpected error (a bug, please report it): ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  };
  try {
    const result = main();
    if (result instanceof Promise) {
      result.then((code: unknown) => {
        if (typeof code === 'number') process.exitCode = code;
      }, fail);
    } else if (typeof result === 'number') process.exitCode = result;
  } catch (e) {
    fail(e);
  }
}
