/**
 * What a deploy writes into each secret parameter, as Terraform itself evaluates the synthesized expressions: a new
 * environment gets random passwords; an environment created before write-only values (its parameters exist, with
 * the values the hosts use) keeps every value; a raised secrets.versions.<path> writes a new random value for that
 * secret only. The AWS provider is unreachable here, so Terraform (the real binary, where installed) plans a
 * stand-in: each SSM parameter becomes a terraform_data whose input is its synthesized value_wo and value_wo_version,
 * the ephemeral blocks become locals with the synthesized count and arn expressions, and the tagging API's answer a
 * variable (the parameters that exist, with their tags). Everything else (the expressions, their references) is as
 * synthesized. A change of key writes every value again, unchanged.
 */
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { VALUE_KEY_TAG, VALUE_VERSION_TAG, writeVersion } from '../constructs/secrets';
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
  const locals: Record<string, string> = { tagging: '${{ resource_tag_mapping_list = [for p in var.existing : { resource_arn = p.arn, tags = p.tags }] }}' };
  // The plan's own locals (each secret's lookup among the existing parameters), as synthesized.
  for (const [name, value] of Object.entries((s.json as { locals?: Record<string, string> }).locals ?? {})) locals[name] = `\${${swap(inner(value))}}`;
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
    variable: { existing: { type: 'list(object({ arn = string, tags = map(string) }))' }, current: { type: 'map(string)' } },
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

  /** Plans the stand-in of `s` against the parameters that exist (name to current value and tags); each parameter's planned input. */
  async function plan(s: Synthesized, existing: Record<string, { value: string; tags?: Record<string, string> }>, options: { omitCurrent?: readonly string[] } = {}): Promise<Planned[]> {
    const dir = mkdtempSync(join(tmpdir(), 'weebeetalk-secrets-'));
    dirs.push(dir);
    const arn = (name: string): string => `arn:aws:ssm:${s.config.aws.region}:${ACCOUNT}:parameter${name}`;
    // The tagging API lists every parameter of the project in the account and region: the other environment's too.
    const listed = [
      ...Object.entries(existing).map(([n, e]) => ({ arn: arn(n), tags: { Project: 'weebeetalk', ...e.tags } })),
      { arn: arn('/weebeetalk/other/meet/jigasi-sip-password'), tags: { Project: 'weebeetalk' } },
    ];
    writeFileSync(join(dir, 'main.tf.json'), standIn(s));
    writeFileSync(
      join(dir, 'terraform.tfvars.json'),
      JSON.stringify({
        existing: listed,
        current: Object.fromEntries(
          Object.entries(existing)
            .map(([n, e]) => [arn(n), e.value])
            .filter(([a]) => !(options.omitCurrent ?? []).includes(a)),
        ),
      }),
    );
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
  /** Every secret parameter existing with its legacy value, tagged with a version (and its key, default aws) or, before versions, not. */
  const existingAll = (names: readonly string[], tag?: (name: string) => string, key = 'aws'): Record<string, { value: string; tags?: Record<string, string> }> =>
    Object.fromEntries(names.map((n) => [n, { value: legacy(n), ...(tag ? { tags: { [VALUE_VERSION_TAG]: tag(n), [VALUE_KEY_TAG]: key } } : {}) }]));
  const JIGASI = '/weebeetalk/staging/meet/jigasi-sip-password';

  test('a new environment: every secret is a new random password, version 1 (written as 10: no customer key in staging)', async () => {
    const s = synthEnvironment('staging');
    const planned = await plan(s, {});
    expect(planned.map((p) => p.name)).toEqual(secretNames(s));
    for (const p of planned) expect({ name: p.name, version: p.version, value: p.value }).toEqual({ name: p.name, version: 10, value: expect.stringMatching(/^random:secrets_/) });
    // One random password per parameter: no two secrets share a value.
    expect(new Set(planned.map((p) => p.value)).size).toBe(planned.length);
  }, 30_000);

  test('an environment created before write-only values (no version tag): every parameter keeps its value, re-encrypted under the new key; one created since is random', async () => {
    const s = synthEnvironment('production');
    const names = secretNames(s);
    // One secret is new with this deploy (e.g. a phone added at the same time): it does not exist yet.
    const added = names.find((n) => n.includes('/sip-users/'))!;
    const planned = await plan(s, existingAll(names.filter((n) => n !== added)));
    for (const p of planned)
      expect({ name: p.name, version: p.version, value: p.value }).toEqual({ name: p.name, version: 11, value: p.name === added ? expect.stringMatching(/^random:/) : legacy(p.name) });
  }, 30_000);

  /**
   * What the deploy writes: the provider sends value_wo only when value_wo_version changes, from what the parameter
   * was written with (its tags: writeVersion(version, key); before versions, none).
   */
  const writes = (planned: readonly Planned[], existing: Record<string, { tags?: Record<string, string> }>): Record<string, string> =>
    Object.fromEntries(
      planned
        .filter((p) => {
          const tags = existing[p.name]?.tags;
          return tags === undefined || writeVersion(Number(tags[VALUE_VERSION_TAG]), tags[VALUE_KEY_TAG] === 'customer') !== p.version;
        })
        .map((p) => [p.name, p.value]),
    );

  test('secrets.versions rotates exactly the secrets it raises; once rotated (tagged with the version) nothing is written again', async () => {
    const s = synthVariant('rotated', 'staging', { secrets: { versions: { 'meet/jigasi-sip-password': 2 } } });
    const names = secretNames(s);
    const before = existingAll(names, () => '1');
    expect(writes(await plan(s, before), before)).toEqual({ [JIGASI]: expect.stringMatching(/^random:secrets_jigasi-sip-random_/) });
    // The deploy after: the parameter holds version 2 (its tag says so).
    const after = existingAll(names, (n) => (n === JIGASI ? '2' : '1'));
    expect(writes(await plan(s, after), after)).toEqual({});
  }, 30_000);

  test('turning the customer key on (or off) writes every value again under the new key, unchanged', async () => {
    const names = secretNames(synthEnvironment('staging'));
    const on = synthVariant('staging-keyed', 'staging', { kms: { customerManagedKey: true } });
    const existing = existingAll(names, () => '1');
    const planned = await plan(on, existing);
    expect(planned.map((p) => p.name)).toEqual(names);
    expect(writes(planned, existing)).toEqual(Object.fromEntries(names.map((n) => [n, legacy(n)])));
    // And back: under aws/ssm again, unchanged.
    const keyed = existingAll(names, () => '1', 'customer');
    expect(writes(await plan(synthEnvironment('staging'), keyed), keyed)).toEqual(Object.fromEntries(names.map((n) => [n, legacy(n)])));
  }, 30_000);

  test('an ordinary deploy reads no value: a parameter the tagging API still lists after it was deleted (staging destroyed and deployed again) is no error', async () => {
    const s = synthEnvironment('staging');
    const names = secretNames(s);
    const arn = (name: string): string => `arn:aws:ssm:${s.config.aws.region}:${ACCOUNT}:parameter${name}`;
    // Listed with the tags they had, but gone: no current value to read (var.current has none; a read would fail the plan).
    const lingering = Object.fromEntries(names.map((n) => [n, { value: '', tags: { [VALUE_VERSION_TAG]: '1', [VALUE_KEY_TAG]: 'aws' } }]));
    const planned = await plan(s, lingering, { omitCurrent: names.map(arn) });
    for (const p of planned) expect({ name: p.name, value: p.value }).toEqual({ name: p.name, value: expect.stringMatching(/^random:/) });
  }, 30_000);

  test('a lowered version writes the parameter again with the value it holds (only a raised one rotates)', async () => {
    const s = synthEnvironment('staging');
    const existing = existingAll(secretNames(s), (n) => (n === JIGASI ? '3' : '1'));
    expect(writes(await plan(s, existing), existing)).toEqual({ [JIGASI]: legacy(JIGASI) });
  }, 30_000);
});
