/**
 * Secrets of the synthesized plans: they exist only in SSM (SecureString, valued by reference to a generated
 * password, kept once written), under each role's own path, and never in outputs, tags or user-data.
 */
import { SsmParameter } from '@cdktf/provider-aws/lib/ssm-parameter';
import { parse } from 'yaml';
import { expectedParameters } from './support/parts';
import { asArray, asObject, asString, asStrings, dataSources, isObject, resources, single } from './support/synth';
import { SHIPPED_AND_TUNED as ENVS } from './support/variants';
import './support/matchers';

/**
 * The one parameter that is not a secret: the Jitsi JWT application id is the `iss` claim, readable in every
 * token; it is stored as String so operators can copy it into the Rocket.Chat Jitsi app.
 */
const PUBLIC_PARAMETERS = ['meet/jwt-app-id'];
const RANDOM_REF_RE = /^\$\{data\.aws_secretsmanager_random_password\.([^.}]+)\.random_password\}$/;

describe.each(ENVS)('secrets of %s', (_label, synth) => {
  test('SSM parameters: the expected set, under /weebeetalk/<env>/<role>/', () => {
    const s = synth();
    const names = resources(s, 'aws_ssm_parameter').map((p) => asString(p.block.name, 'name'));
    expect([...names].sort()).toEqual(expectedParameters(s));
    for (const n of names) expect(n).toMatch(new RegExp(`^/weebeetalk/${s.config.name}/(chat|meet|pbx)/[a-z0-9][a-z0-9/-]*$`));
  });

  test('secrets are SecureString, kept once written, valued only by reference to a generated password', () => {
    const s = synth();
    const randoms = dataSources(s, 'aws_secretsmanager_random_password');
    const used = new Map<string, string[]>();
    for (const p of resources(s, 'aws_ssm_parameter')) {
      const name = asString(p.block.name, 'name');
      const relative = name.replace(`/weebeetalk/${s.config.name}/`, '');
      expect(p.block.insecure_value).toBeUndefined();
      if (PUBLIC_PARAMETERS.includes(relative)) {
        expect(p.block).toMatchObject({ type: 'String', value: `weebeetalk-${s.config.name}` });
        continue;
      }
      expect(p.block.type).toBe('SecureString');
      expect(asStrings(asObject(p.block.lifecycle, `${p.address}.lifecycle`).ignore_changes, 'ignore_changes')).toContain('value');
      const m = RANDOM_REF_RE.exec(asString(p.block.value, `${p.address}.value`));
      if (!m) throw new Error(`${name} is not valued by a random-password reference: ${String(p.block.value)}`);
      const source = single(randoms, `random password ${m[1]}`, (r) => r.key === m[1]);
      expect(Number(source.block.password_length)).toBeGreaterThanOrEqual(20);
      used.set(source.key, [...(used.get(source.key) ?? []), relative]);
    }
    expect(s.text).toHaveResourceWithProperties(SsmParameter, { type: 'SecureString', name: `/weebeetalk/${s.config.name}/chat/admin-password` });
    // Only the two ends of the Jigasi trunk share a value; every other secret is its own.
    for (const [, paths] of used) {
      if (paths.length > 1) expect(paths.sort()).toEqual(['meet/jigasi-sip-password', 'pbx/jigasi-sip-password']);
    }
  });

  test('no generated secret is referenced anywhere but an SSM parameter value', () => {
    const s = synth();
    const hits: string[] = [];
    const walk = (v: unknown, path: string): void => {
      if (typeof v === 'string') {
        if (/aws_secretsmanager_random_password\./.test(v) && !/^resource\.aws_ssm_parameter\.[^.]+\.value$/.test(path)) hits.push(path);
        if (/aws_ssm_parameter\.[^.}]+\.(value|insecure_value)\b/.test(v)) hits.push(path);
      } else if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${path}[${i}]`));
      else if (isObject(v)) for (const [k, x] of Object.entries(v)) walk(x, path ? `${path}.${k}` : k);
    };
    walk(s.json, '');
    expect(hits).toEqual([]);
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
});
