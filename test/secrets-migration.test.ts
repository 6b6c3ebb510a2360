/**
 * What a deploy writes into each secret parameter, as Terraform itself evaluates the synthesized expressions: a new
 * environment gets random passwords; an environment created before write-only values (its parameters exist, with
 * the values the hosts use) keeps every value; a raised secrets.versions.<path> writes a new random value for that
 * secret only. The AWS provider is unreachable here, so Terraform (the real binary, where installed) plans a
 * stand-in: each SSM parameter becomes a terraform_data whose input is its synthesized value_wo and value_wo_version,
 * the ephemeral blocks become locals with the synthesized count and arn expressions, and the tagging API's answer a
 * variable (the ARNs that exist). Everything else (the expressions, their references) is as synthesized.
 */
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ACCOUNT } from './support/boot/plan';
import { asString, resources, synthEnvironment, synthVariant, type Synthesized } from './support/synth';

type Block = Record<string, unknown>;

const ephemeralOf = (s: Synthesized): Record<string, Record<string, Block>> => (s.json as { ephemeral?: Record<string, Record<string, Block>> }).ephemeral ?? {};
/** The expression inside "${...}" (the synthesized strings are single interpolations). */
const inner = (text: string): string => {
  const m = /^\$\{([\s\S]*)\}$/.exec(text);
  if (!m) throw new Error(`not a single interpolation: ${text}`);
  return m[1];
};

/** The stand-in configuration of a plan's secret parameters (see the file's comment). */
function standIn(s: Synthesized): string {
  const eph = ephemeralOf(s);
  const swap = (expr: string): string =>
    expr
      .replace(/\bdata\.aws_resourcegroupstaggingapi_resources\.[A-Za-z0-9_-]+\b/g, 'local.tagging')
      .replace(/\bephemeral\.aws_ssm_parameter\.([A-Za-z0-9_-]+)/g, 'local.ssm_$1')
      .replace(/\bephemeral\.aws_secretsmanager_random_password\.([A-Za-z0-9_-]+)/g, 'local.random_$1');
  const locals: Record<string, string> = { tagging: '${{ resource_tag_mapping_list = [for a in var.existing_arns : { resource_arn = a }] }}' };
  for (const [name, block] of Object.entries(eph.aws_ssm_parameter ?? {})) {
    expect(block.with_decryption).toBe(true);
    // count instances, each reading the parameter its arn expression names (its current value: var.current).
    locals[`ssm_${name}`] = `\${[for i in range(${swap(inner(asString(block.count, 'count')))}) : { value = var.current[${swap(inner(asString(block.arn, 'arn')))}] }]}`;
  }
  for (const name of Object.keys(eph.aws_secretsmanager_random_password ?? {})) locals[`random_${name}`] = `\${{ random_password = "random:${name}" }}`;
  const data: Record<string, Block> = {};
  for (const p of resources(s, 'aws_ssm_parameter')) {
    if (p.block.value_wo === undefined) continue;
    data[p.key] = { input: { name: p.block.name, version: p.block.value_wo_version, value: `\${${swap(inner(asString(p.block.value_wo, 'value_wo')))}}` } };
  }
  return JSON.stringify({
    variable: { existing_arns: { type: 'list(string)' }, current: { type: 'map(string)' } },
    locals,
    resource: { terraform_data: data },
  });
}

const run = promisify(execFile);
const terraform = spawnSync('terraform', ['version'], { encoding: 'utf8' }).status === 0;
if (!terraform)
  process.stderr.write('SKIPPED (needs a terraform binary): Terraform evaluating what each deploy writes into the secrets. The synthesized forms are still checked in test/secrets.test.ts.\n');

interface Planned {
  readonly name: string;
  readonly version: number;
  readonly value: string;
}

(terraform ? describe : describe.skip)('what a deploy writes into the secrets, as Terraform evaluates the plan', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  /** Plans the stand-in of `s` against the parameters that exist (name to current value); each parameter's planned input. */
  async function plan(s: Synthesized, existing: Record<string, string>): Promise<Planned[]> {
    const dir = mkdtempSync(join(tmpdir(), 'weebeetalk-secrets-'));
    dirs.push(dir);
    const arn = (name: string): string => `arn:aws:ssm:${s.config.aws.region}:${ACCOUNT}:parameter${name}`;
    // The tagging API lists every parameter of the project in the account and region: the other environment's too.
    const arns = [...Object.keys(existing).map(arn), arn(`/weebeetalk/other/meet/jigasi-sip-password`)];
    writeFileSync(join(dir, 'main.tf.json'), standIn(s));
    writeFileSync(join(dir, 'terraform.tfvars.json'), JSON.stringify({ existing_arns: arns, current: Object.fromEntries(Object.entries(existing).map(([n, v]) => [arn(n), v])) }));
    const env = { ...process.env, TF_IN_AUTOMATION: '1', CHECKPOINT_DISABLE: '1' };
    const tf = async (...args: string[]): Promise<string> => (await run('terraform', args, { cwd: dir, env, encoding: 'utf8' })).stdout;
    await tf('init', '-input=false', '-no-color', '-backend=false');
    await tf('plan', '-input=false', '-no-color', '-out=p.plan');
    const changes = (JSON.parse(await tf('show', '-json', 'p.plan')) as { resource_changes: { change: { actions: string[]; after: { input: Planned } } }[] }).resource_changes;
    for (const c of changes) expect(c.change.actions).toEqual(['create']);
    return changes.map((c) => c.change.after.input).sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  const secretNames = (s: Synthesized): string[] =>
    resources(s, 'aws_ssm_parameter')
      .filter((p) => p.block.value_wo !== undefined)
      .map((p) => asString(p.block.name, 'name'))
      .sort();
  const legacy = (name: string): string => `legacy-${name.split('/').slice(3).join('-')}`;

  test('a new environment: every secret is a new random password, version 1', async () => {
    const s = synthEnvironment('staging');
    const planned = await plan(s, {});
    expect(planned.map((p) => p.name)).toEqual(secretNames(s));
    for (const p of planned) expect({ name: p.name, version: p.version, value: p.value }).toEqual({ name: p.name, version: 1, value: expect.stringMatching(/^random:secrets_/) });
    // One random password per parameter: no two secrets share a value.
    expect(new Set(planned.map((p) => p.value)).size).toBe(planned.length);
  }, 30_000);

  test('an environment created before write-only values: every parameter keeps the value it holds; one created since is random', async () => {
    const s = synthEnvironment('production');
    const names = secretNames(s);
    // One secret is new with this deploy (e.g. a phone added at the same time): it does not exist yet.
    const added = names.find((n) => n.includes('/sip-users/'))!;
    const planned = await plan(s, Object.fromEntries(names.filter((n) => n !== added).map((n) => [n, legacy(n)])));
    for (const p of planned)
      expect({ name: p.name, version: p.version, value: p.value }).toEqual({ name: p.name, version: 1, value: p.name === added ? expect.stringMatching(/^random:/) : legacy(p.name) });
  }, 30_000);

  test('secrets.versions rotates exactly the secrets it raises: a new random value for them, the current one kept for the rest', async () => {
    const s = synthVariant('rotated', 'staging', { secrets: { versions: { 'meet/jigasi-sip-password': 2 } } });
    const names = secretNames(s);
    const planned = await plan(s, Object.fromEntries(names.map((n) => [n, legacy(n)])));
    for (const p of planned) {
      const rotated = p.name === '/weebeetalk/staging/meet/jigasi-sip-password';
      expect({ name: p.name, version: p.version, value: p.value }).toEqual({
        name: p.name,
        version: rotated ? 2 : 1,
        value: rotated ? expect.stringMatching(/^random:secrets_jigasi-sip-random_/) : legacy(p.name),
      });
    }
  }, 30_000);
});
