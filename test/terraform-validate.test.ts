/**
 * Terraform itself validates the secrets part of each synthesized plan (the ephemeral blocks, the lookup and its
 * locals, every SSM parameter) against the AWS provider's schema, where a provider is installed locally as a
 * filesystem mirror (TF_PROVIDER_MIRROR, default /opt/tf-plugins: `terraform init` cannot download here). That is
 * what refuses an ephemeral value anywhere but a write-only attribute, a misspelt argument of an ephemeral block,
 * or a count it cannot use. The mirror's provider may be older than the pinned one (5.100 has value_wo and both
 * ephemeral resources); references to resources outside this part are replaced by literals.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { shippedNames, synthEnvironment, type Synthesized } from './support/synth';

type Block = Record<string, unknown>;
const MIRROR = process.env.TF_PROVIDER_MIRROR ?? '/opt/tf-plugins';
const AWS_DIR = join(MIRROR, 'registry.terraform.io', 'hashicorp', 'aws');
const version = existsSync(AWS_DIR) ? readdirSync(AWS_DIR).sort().pop() : undefined;
const terraform = existsSync('/usr/local/bin/terraform') || existsSync('/usr/bin/terraform');
if (!version || !terraform) process.stderr.write(`SKIPPED (needs terraform and an AWS provider mirror in ${MIRROR}): Terraform validating the secrets of each plan.\n`);

/** The secrets part of a plan, as a module Terraform can validate on its own (the provider is the root's). */
function secretsPart(s: Synthesized, mutate?: (doc: { resource: { aws_ssm_parameter: Record<string, Block> } }) => void): string {
  const json = s.json as unknown as { ephemeral: Block; locals: Block; data: Record<string, Block>; resource: Record<string, Record<string, Block>> };
  const keep = new Set(['aws_ssm_parameter', 'data.aws_resourcegroupstaggingapi_resources', 'ephemeral', 'local']);
  // A reference to anything else (a bucket, an object, the key) becomes a literal of the same shape.
  const outside = (text: string): string =>
    text.replace(/\$\{((?:data\.)?[a-z0-9_]+)\.[A-Za-z0-9_-]+\.[a-z_]+\}/g, (m, type: string) =>
      keep.has(type) || keep.has(type.split('.')[0]) ? m : 'arn:aws:kms:ap-southeast-3:111122223333:key/00000000-0000-0000-0000-000000000000',
    );
  const parameters = Object.fromEntries(
    Object.entries(json.resource.aws_ssm_parameter).map(([name, block]) => {
      const { '//': _meta, depends_on: _deps, ...rest } = block;
      return [name, JSON.parse(outside(JSON.stringify(rest))) as Block];
    }),
  );
  const doc = {
    terraform: { required_providers: { aws: { source: 'hashicorp/aws' } } },
    ephemeral: json.ephemeral,
    locals: json.locals,
    data: { aws_resourcegroupstaggingapi_resources: json.data.aws_resourcegroupstaggingapi_resources },
    resource: { aws_ssm_parameter: parameters },
  };
  mutate?.(doc);
  return JSON.stringify(doc);
}

const run = promisify(execFile);

interface Diagnostic {
  readonly severity: string;
  readonly summary: string;
  readonly detail?: string;
  readonly range?: { readonly filename: string };
}

(version && terraform ? describe : describe.skip)('Terraform validates the secrets of each plan (AWS provider from the local mirror)', () => {
  let dir = '';
  let result: { valid: boolean; diagnostics: Diagnostic[] } = { valid: false, diagnostics: [] };
  const envs = shippedNames();
  // One validation (the provider's schema loads once): each environment's secrets as a module, and a broken copy.
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'weebeetalk-validate-'));
    const modules: Record<string, string> = Object.fromEntries(envs.map((e) => [e, secretsPart(synthEnvironment(e))]));
    modules.broken = secretsPart(synthEnvironment('staging'), (doc) => {
      const [, first] = Object.entries(doc.resource.aws_ssm_parameter).find(([, b]) => b.value_wo !== undefined)!;
      first.description = first.value_wo;
    });
    for (const [name, config] of Object.entries(modules)) {
      mkdirSync(join(dir, name));
      writeFileSync(join(dir, name, 'main.tf.json'), config);
    }
    writeFileSync(
      join(dir, 'main.tf.json'),
      JSON.stringify({
        terraform: { required_providers: { aws: { source: 'hashicorp/aws', version } } },
        provider: { aws: [{ region: 'ap-southeast-3' }] },
        module: Object.fromEntries(Object.keys(modules).map((name) => [name, { source: `./${name}` }])),
      }),
    );
    writeFileSync(join(dir, 'cli.tfrc'), `provider_installation {\n  filesystem_mirror {\n    path = "${MIRROR}"\n  }\n}\n`);
    const env = { ...process.env, TF_IN_AUTOMATION: '1', CHECKPOINT_DISABLE: '1', TF_CLI_CONFIG_FILE: join(dir, 'cli.tfrc') };
    await run('terraform', ['init', '-input=false', '-no-color', '-backend=false'], { cwd: dir, env });
    const out = await run('terraform', ['validate', '-json', '-no-color'], { cwd: dir, env }).catch((e: { stdout: string }) => ({ stdout: e.stdout }));
    result = JSON.parse(out.stdout) as { valid: boolean; diagnostics: Diagnostic[] };
  }, 60_000);
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  const errorsOf = (module: string): string[] =>
    result.diagnostics.filter((d) => d.severity === 'error' && (d.range?.filename ?? '').startsWith(`${module}/`)).map((d) => `${d.summary}: ${d.detail ?? ''}`);

  test.each(envs)('%s: valid', (env) => {
    expect(errorsOf(env)).toEqual([]);
  });

  test('the check is not vacuous: an ephemeral value in an attribute Terraform stores is refused, and that is the only error', () => {
    expect(result.valid).toBe(false);
    expect(errorsOf('broken').join('\n')).toMatch(/ephemeral/i);
    expect(result.diagnostics.filter((d) => d.severity === 'error').length).toBe(errorsOf('broken').length);
  });
});
