/**
 * Secrets of the synthesized plans: they exist only in SSM (SecureString, one parameter per secret in its owner's
 * folder, readable by each role that needs it), written through the write-only value_wo from ephemeral values, so
 * that neither the plan nor the state holds one; never in outputs, tags, user-data or a configuration bundle (the
 * bundle is an S3 object's content: it is in Terraform's state and in the bucket).
 */
import { SsmParameter } from '@cdktf/provider-aws/lib/ssm-parameter';
import { parse } from 'yaml';
import { enabledPools, enabledRoles, type Role } from '../config/schema';
import { hostSettings } from './support/host-files';
import { expectedRoles } from './support/hosts';
import { secretsIn } from '../constructs/audit/checks';
import { VALUE_KEY_TAG, VALUE_VERSION_TAG, writeVersion } from '../constructs/secrets';
import { bundleOf, hostFiles } from './support/host-files';
import { bucketsOf, bundlePointers, expectedParameters, sharedSecrets } from './support/parts';
import { asArray, asObject, asString, dataSources, isObject, resources, single, type Synthesized } from './support/synth';
import { SHIPPED_AND_TUNED as ENVS } from './support/variants';
import './support/matchers';

/**
 * The one parameter that is not a secret: the Jitsi JWT application id is the `iss` claim, readable in every
 * token; it is stored as String so operators can copy it into the Rocket.Chat Jitsi app.
 */
const PUBLIC_PARAMETERS = ['meet/jwt-app-id'];
/**
 * What a secret's value_wo is: the value the parameter holds, where it exists at the configured version (read
 * ephemerally), else a new random password. What Terraform makes of it, case by case: test/secrets-migration.test.ts.
 */
const VALUE_RE = /^\$\{length\((ephemeral\.aws_ssm_parameter\.[^)]+)\) > 0 \? \1\[0\]\.value : ephemeral\.aws_secretsmanager_random_password\.([^.}]+)\.random_password\}$/;

type Block = Record<string, unknown>;
const ephemerals = (s: Synthesized, type: string): Record<string, Block> => ((s.json as { ephemeral?: Record<string, Record<string, Block>> }).ephemeral ?? {})[type] ?? {};

/** The ephemeral random password behind a secret parameter, and its read of the current value. */
function sourcesOf(s: Synthesized, p: { address: string; block: Block }): { random: Block; randomName: string; current: Block } {
  const wo = asString(p.block.value_wo, `${p.address}.value_wo`);
  const m = VALUE_RE.exec(wo);
  if (!m) throw new Error(`${p.address}: value_wo is not the current-or-random form: ${wo}`);
  const random = ephemerals(s, 'aws_secretsmanager_random_password')[m[2]];
  if (!random) throw new Error(`${p.address}: no ephemeral random password ${m[2]}`);
  const current = ephemerals(s, 'aws_ssm_parameter')[m[1].split('.')[2]];
  if (!current) throw new Error(`${p.address}: no ephemeral parameter read ${m[1]}`);
  return { random, randomName: m[2], current };
}

describe.each(ENVS)('secrets of %s', (_label, synth) => {
  test('SSM parameters: the expected set, under /weebeetalk/<env>/<role>/', () => {
    const s = synth();
    const names = resources(s, 'aws_ssm_parameter').map((p) => asString(p.block.name, 'name'));
    expect([...names].sort()).toEqual(expectedParameters(s));
    for (const n of names) expect(n).toMatch(new RegExp(`^/weebeetalk/${s.config.name}/(${[...expectedRoles(s), ...enabledPools(s.config)].join('|')})/[a-z0-9][a-z0-9/-]*$`));
  });

  test('secrets are SecureString, written through value_wo (the value held at the configured version, else an ephemeral random password) when their version or key changes', () => {
    const s = synth();
    const used = new Map<string, string[]>();
    for (const p of resources(s, 'aws_ssm_parameter')) {
      const name = asString(p.block.name, 'name');
      const relative = name.replace(`/weebeetalk/${s.config.name}/`, '');
      expect(p.block.insecure_value).toBeUndefined();
      if (bundlePointers(s).includes(name)) {
        // Not a secret: where the host's current bundle is. Updated with every deploy (never ignore_changes:
        // a host replaced later must boot from the current bundle, not the first one).
        const role = relative.split('/')[0] as Role;
        expect(p.block).toMatchObject({ type: 'String', value: `s3://${asString(bucketsOf(s).config.block.bucket, 'bucket')}/${bundleOf(s, role).key}` });
        expect(bundleOf(s, role).pointer.address).toBe(p.address);
        expect(p.block.lifecycle === undefined || !JSON.stringify(p.block.lifecycle).includes('value')).toBe(true);
        continue;
      }
      if (PUBLIC_PARAMETERS.includes(relative)) {
        expect(p.block).toMatchObject({ type: 'String', value: `weebeetalk-${s.config.name}` });
        continue;
      }
      // No value Terraform would keep (neither `value` nor the ignore_changes that used to keep one); the description
      // is set at creation only (a change alone would make the provider put an empty value: constructs/secrets.ts).
      expect({ name, type: p.block.type, value: p.block.value, lifecycle: p.block.lifecycle }).toEqual({
        name,
        type: 'SecureString',
        value: undefined,
        lifecycle: { ignore_changes: ['description'] },
      });
      // Nothing of the configuration but the path is in it (a renamed phone changes no parameter).
      if (relative.startsWith('pbx/sip-users/')) expect(p.block.description).toBe(`SIP password of extension ${relative.split('/').pop()}`);
      const version = s.config.secrets.versions[relative] ?? 1;
      // Written again for a new version or a change of key; the tag says which version the value is.
      const key = s.config.kms.customerManagedKey ? 'customer' : 'aws';
      expect({ name, wo: p.block.value_wo_version, tags: p.block.tags }).toEqual({
        name,
        wo: writeVersion(version, s.config.kms.customerManagedKey),
        tags: { [VALUE_VERSION_TAG]: String(version), [VALUE_KEY_TAG]: key },
      });
      const { random, randomName, current } = sourcesOf(s, p);
      expect(Number(random.password_length)).toBeGreaterThanOrEqual(20);
      expect(random).toMatchObject({ exclude_punctuation: true, include_space: false });
      // The read finds this parameter by its own name among those that exist (the tagging API's ARNs and tags), and
      // reads it only when this deploy writes and keeps it (what Terraform makes of it: test/secrets-migration.test.ts).
      const local = /^\$\{one\(local\.([A-Za-z0-9_-]+)\)\.resource_arn\}$/.exec(String(current.arn))?.[1] ?? '';
      const lookup = single(dataSources(s, 'aws_resourcegroupstaggingapi_resources'), 'parameter lookup').key;
      expect((s.json as { locals?: Record<string, string> }).locals?.[local]).toBe(
        `\${[for m in data.aws_resourcegroupstaggingapi_resources.${lookup}.resource_tag_mapping_list : m if endswith(m.resource_arn, ":parameter${name}")]}`,
      );
      expect(current.with_decryption).toBe(true);
      expect(String(current.count)).toContain(`"${VALUE_KEY_TAG}", "aws") != "${key}"`);
      expect(String(current.count)).toContain(`"${VALUE_VERSION_TAG}", "1")) >= ${version}`);
      used.set(randomName, [...(used.get(randomName) ?? []), relative]);
    }
    expect(s.text).toHaveResourceWithProperties(SsmParameter, { type: 'SecureString', name: `/weebeetalk/${s.config.name}/chat/admin-password` });
    // One parameter per secret: no random password values two parameters (a shared secret is one, read by several roles).
    expect([...used.values()].filter((paths) => paths.length > 1)).toEqual([]);
    expect([...used.values()].flat().sort()).toEqual(
      expectedParameters(s)
        .map((n) => n.replace(`/weebeetalk/${s.config.name}/`, ''))
        .filter((r) => !PUBLIC_PARAMETERS.includes(r) && !r.endsWith('/bundle'))
        .sort(),
    );
  });

  test('the lookup of existing parameters holds names and tags only: the Resource Groups Tagging API, SSM parameters of the project', () => {
    const s = synth();
    const lookup = single(dataSources(s, 'aws_resourcegroupstaggingapi_resources'), 'parameter lookup');
    const { '//': _meta, ...args } = lookup.block;
    expect(args).toEqual({ resource_type_filters: ['ssm:parameter'], tag_filter: [{ key: 'Project', values: ['weebeetalk'] }] });
    // The provider's default tags put Project on every parameter (a user tag cannot override it: config/schema.ts).
    expect(asObject(asArray(asObject(s.json.provider, 'provider').aws, 'aws')[0], 'aws').default_tags).toEqual([{ tags: expect.objectContaining({ Project: 'weebeetalk' }) }]);
  });

  test('no resource or data source carries a secret value in an attribute Terraform stores', () => {
    const s = synth();
    // Terraform stores every attribute of a resource or data source in the state, write-only ones excepted.
    const WRITE_ONLY: Record<string, string[]> = { aws_ssm_parameter: ['value_wo'] };
    // Sources whose values are secrets: none may be a data source or a resource (their results are stored).
    const SECRET_SOURCES = /\b(?:aws_secretsmanager_random_password|aws_secretsmanager_secret_version|random_password|tls_private_key|aws_iam_access_key)\b/;
    for (const type of Object.keys(s.json.data ?? {}))
      expect({ type, secretSource: SECRET_SOURCES.test(type) || /^aws_ssm_parameters?(_by_path)?$/.test(type) }).toEqual({ type, secretSource: false });
    for (const type of Object.keys(s.json.resource ?? {})) expect({ type, secretSource: SECRET_SOURCES.test(type) }).toEqual({ type, secretSource: false });
    const hits: string[] = [];
    const walk = (v: unknown, path: string, writeOnly: boolean): void => {
      if (typeof v === 'string') {
        if (!writeOnly && /\bephemeral\./.test(v)) hits.push(`${path}: ${v}`);
        if (/aws_ssm_parameter\.[^.}]+\.(value|insecure_value)\b/.test(v) && !/\bephemeral\.aws_ssm_parameter\./.test(v)) hits.push(`${path}: ${v}`);
        if (/data\.aws_secretsmanager_random_password\./.test(v)) hits.push(`${path}: ${v}`);
      } else if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${path}[${i}]`, writeOnly));
      else if (isObject(v)) for (const [k, x] of Object.entries(v)) walk(x, `${path}.${k}`, writeOnly);
    };
    for (const section of ['resource', 'data'] as const)
      for (const [type, blocks] of Object.entries(s.json[section] ?? {}))
        for (const [name, block] of Object.entries(blocks as Record<string, Block>))
          for (const [attr, v] of Object.entries(block)) walk(v, `${section}.${type}.${name}.${attr}`, section === 'resource' && (WRITE_ONLY[type] ?? []).includes(attr));
    for (const section of ['output', 'locals', 'provider', 'terraform', 'variable'] as const) walk((s.json as Record<string, unknown>)[section], section, false);
    expect(hits).toEqual([]);
    // Every secret parameter is written through value_wo, never value.
    for (const p of resources(s, 'aws_ssm_parameter'))
      if (p.block.type === 'SecureString') expect({ name: p.block.name, value: p.block.value, wo: typeof p.block.value_wo }).toEqual({ name: p.block.name, value: undefined, wo: 'string' });
    // Terraform >= 1.11 (write-only attributes); ephemeral blocks need 1.10.
    expect(asObject(s.json.terraform, 'terraform').required_version).toBe('>= 1.11.0');
    expect(s.text).not.toMatch(/AKIA[0-9A-Z]{16}/);
    expect(s.text).not.toMatch(/-----BEGIN [A-Z ]*PRIVATE KEY-----/);
    expect(s.text).not.toMatch(/secret_access_key|aws_secret_access_key/i);
  });

  test('outputs, tags and user-data carry no secret value', () => {
    const s = synth();
    const secretName = /pass(word|wd)?|secret|token|private[_-]?key|credential/i;
    // A literal that looks like a generated password: 8+ characters, no expansion, path or reference syntax.
    const literalSecret = /^["']?[A-Za-z0-9+=_-]{8,}["']?$/;
    for (const [name, output] of Object.entries(s.json.output ?? {})) {
      expect({ name, secretName: secretName.test(name) }).toEqual({ name, secretName: false });
      expect(output.sensitive).not.toBe(true);
    }
    const tags: [string, string, string][] = [];
    const collect = (v: unknown, path: string): void => {
      if (Array.isArray(v)) v.forEach((x, i) => collect(x, `${path}[${i}]`));
      else if (isObject(v))
        for (const [k, x] of Object.entries(v)) {
          if ((k === 'tags' || k === 'tags_all') && isObject(x)) for (const [tk, tv] of Object.entries(x)) tags.push([`${path}.${k}`, tk, String(tv)]);
          else collect(x, `${path}.${k}`);
        }
    };
    collect(s.json.resource, 'resource');
    collect(s.json.provider, 'provider');
    expect(tags.length).toBeGreaterThan(10);
    for (const [path, key, value] of tags) expect({ path, key, value, secret: secretName.test(key) || secretName.test(value) }).toMatchObject({ secret: false });
    // User-data: settings whose name says secret are fetched at boot (SSM), never written in.
    const offending: string[] = [];
    for (const config of dataSources(s, 'cloudinit_config')) {
      const parts = asArray(config.block.part, 'part').map((p) => asString(asObject(p, 'part').content, 'content'));
      const doc = asObject(parse(parts[0]), 'cloud-config');
      const texts = [...asArray(doc.write_files, 'write_files').map((f) => asString(asObject(f, 'file').content, 'content')), parts[1]];
      for (const text of texts) {
        for (const line of text.split('\n')) {
          const m = /^\s*(?:export\s+|local\s+|readonly\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line);
          if (m && secretName.test(m[1]) && literalSecret.test(m[2])) offending.push(`${config.address}: ${line.trim()}`);
        }
      }
    }
    expect(offending).toEqual([]);
  });

  test('no configuration bundle carries a secret value: secrets appear in bundles by SSM name only', () => {
    const s = synth();
    const secretName = /pass(word|wd)?|secret|token|private[_-]?key|credential/i;
    const literalSecret = /^["']?[A-Za-z0-9+=_-]{8,}["']?$/;
    const offending: string[] = [];
    let bundleFiles = 0;
    for (const role of enabledRoles(s.config)) {
      const bundle = bundleOf(s, role);
      // The object's content is all the bundle there is: what hostFiles reads is what S3 and the state hold.
      expect(bundle.sha256).toBe(/([0-9a-f]{64})\.json$/.exec(bundle.key)?.[1]);
      expect(bundle.json).not.toMatch(/aws_ssm_parameter|secretsmanager_random_password|random_password/);
      // Terraform interpolates nothing into it (every ${ of the scripts is escaped as $${): no value reaches it at apply.
      expect(asString(bundle.object.block.content, 'content')).not.toMatch(/(?<!\$)\$\{/);
      for (const f of hostFiles(s, role).values()) {
        if (f.source === 'bundle') bundleFiles += 1;
        // The audit's detector for user-data (constructs/audit/checks.ts secretsIn), on every file of the host.
        for (const problem of secretsIn(f.content)) offending.push(`${role}:${f.path}: ${problem}`);
        for (const line of f.content.split('\n')) {
          const m = /^\s*(?:export\s+|local\s+|readonly\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line);
          if (m && secretName.test(m[1]) && literalSecret.test(m[2])) offending.push(`${role}:${f.path}: ${line.trim()}`);
        }
      }
    }
    expect(bundleFiles).toBeGreaterThan(20);
    expect(offending).toEqual([]);
    // The detector is not vacuous: a literal password in a settings file is found.
    expect(secretsIn('RC_ADMIN_PASS="Zq8xLr2mVt9wKp4s"')).not.toEqual([]);
  });

  test('every secret a host reads is named in its bundle or scripts by a path under its own SSM prefix, or is a shared secret it is a reader of', () => {
    const s = synth();
    for (const role of enabledRoles(s.config)) {
      const text = [...hostFiles(s, role).values()].map((f) => f.content).join('\n');
      // Another host's or environment's path never appears: a host asks only for its own (ssm_secret NAME).
      const foreign = [...text.matchAll(/\/weebeetalk\/[a-z0-9-]+\/(?:chat|meet|pbx|turn)\/[a-z0-9/-]+/g)].map((m) => m[0]).filter((p) => !p.startsWith(`/weebeetalk/${s.config.name}/${role}/`));
      expect({ role, foreign }).toEqual({ role, foreign: [] });
      expect(text).toContain(`/weebeetalk/${s.config.name}/${role}/bundle`);
      // Shared secrets by OWNER/NAME (ssm_shared): every one this role is a reader of, and no other (a script may
      // name one its feature switch leaves off: meet's TURN secret without the relay, under TURN_ENABLED).
      const named = [...new Set([...text.matchAll(/\$\(ssm_shared ([a-z0-9/-]+)\)/g)].map((m) => m[1]))].sort();
      const readable = Object.entries(sharedSecrets(s))
        .filter(([, readers]) => readers.includes(role))
        .map(([path]) => path);
      expect({ role, missing: readable.filter((p) => !named.includes(p)) }).toEqual({ role, missing: [] });
      expect({ role, named }).toEqual({ role, named: named.filter((p) => readable.includes(p) || (role === 'meet' && p === 'turn/static-auth-secret' && !s.config.turn.enabled)) });
    }
  });
});

describe.each(ENVS)('the TURN secret of %s', (_label, synth) => {
  test('with the relay: turn/static-auth-secret, SecureString, 48 characters, one parameter that meet is granted too; without it: none', () => {
    const s = synth();
    const prefix = `/weebeetalk/${s.config.name}`;
    const params = resources(s, 'aws_ssm_parameter').filter((p) => /turn/.test(asString(p.block.name, 'name')));
    const randoms = Object.keys(ephemerals(s, 'aws_secretsmanager_random_password'));
    if (!s.config.turn.enabled) {
      expect(params).toEqual([]);
      expect(randoms.filter((r) => r.includes('turn'))).toEqual([]);
      return;
    }
    const byName = (name: string) => single(params, name, (p) => p.block.name === name);
    const coturn = byName(`${prefix}/turn/static-auth-secret`);
    const pointer = byName(`${prefix}/turn/bundle`);
    expect(params.map((p) => p.address).sort()).toEqual([coturn.address, pointer.address].sort());
    expect(coturn.block.type).toBe('SecureString');
    expect(sourcesOf(s, coturn).random).toMatchObject({ password_length: 48, exclude_punctuation: true, include_space: false });
    expect(sharedSecrets(s)['turn/static-auth-secret']).toEqual(['meet']);
  });

  test("meet reads the relay's secret (ssm_shared turn/static-auth-secret) exactly when the relay is on; the turn host reads its own", () => {
    const s = synth();
    expect(hostSettings(s, 'meet').TURN_ENABLED).toBe(s.config.turn.enabled ? '1' : '0');
    const jitsi = [...hostFiles(s, 'meet').values()].find((f) => f.path.endsWith('/jitsi.sh'));
    expect(jitsi?.content).toMatch(/if \[\[ "\$TURN_ENABLED" == 1 \]\]; then\n(?:\s*#.*\n)*\s*turn_secret=\$\(ssm_shared turn\/static-auth-secret\)\n\s*secrets\+=\("TURN_CREDENTIALS=/);
    if (!s.config.turn.enabled) return;
    const hook = [...hostFiles(s, 'turn').values()].find((f) => f.path.endsWith('/turn.sh'));
    expect(hook?.content).toContain('secret=$(ssm_secret static-auth-secret)');
    expect(hook?.content).not.toContain('turn-secret');
  });
});
