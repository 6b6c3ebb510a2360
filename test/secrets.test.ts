/**
 * Secrets of the synthesized plans: they exist only in SSM (SecureString, valued by reference to a generated
 * password, kept once written), under each role's own path, and never in outputs, tags, user-data or a
 * configuration bundle (the bundle is an S3 object's content: it is in Terraform's state and in the bucket).
 */
import { SsmParameter } from '@cdktf/provider-aws/lib/ssm-parameter';
import { parse } from 'yaml';
import { enabledPools, enabledRoles, type Role } from '../config/schema';
import { hostSettings } from './support/host-files';
import { expectedRoles } from './support/hosts';
import { secretsIn } from '../constructs/audit/checks';
import { bundleOf, hostFiles } from './support/host-files';
import { bucketsOf, bundlePointers, expectedParameters } from './support/parts';
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
    for (const n of names) expect(n).toMatch(new RegExp(`^/weebeetalk/${s.config.name}/(${[...expectedRoles(s), ...enabledPools(s.config)].join('|')})/[a-z0-9][a-z0-9/-]*$`));
  });

  test('secrets are SecureString, kept once written, valued only by reference to a generated password', () => {
    const s = synth();
    const randoms = dataSources(s, 'aws_secretsmanager_random_password');
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
      expect(p.block.type).toBe('SecureString');
      expect(asStrings(asObject(p.block.lifecycle, `${p.address}.lifecycle`).ignore_changes, 'ignore_changes')).toContain('value');
      const m = RANDOM_REF_RE.exec(asString(p.block.value, `${p.address}.value`));
      if (!m) throw new Error(`${name} is not valued by a random-password reference: ${String(p.block.value)}`);
      const source = single(randoms, `random password ${m[1]}`, (r) => r.key === m[1]);
      expect(Number(source.block.password_length)).toBeGreaterThanOrEqual(20);
      used.set(source.key, [...(used.get(source.key) ?? []), relative]);
    }
    expect(s.text).toHaveResourceWithProperties(SsmParameter, { type: 'SecureString', name: `/weebeetalk/${s.config.name}/chat/admin-password` });
    // Only the two ends of the Jigasi trunk, of the TURN relay's secret and of the pools' XMPP accounts share a value; every other secret is its own.
    const shared = [...used.values()].filter((paths) => paths.length > 1).map((paths) => [...paths].sort());
    expect(shared.sort()).toEqual(
      [
        ...(s.config.jitsi.jigasi ? [['meet/jigasi-sip-password', 'pbx/jigasi-sip-password']] : []),
        ...(s.config.turn.enabled ? [['meet/turn-secret', 'turn/static-auth-secret']] : []),
        ...(s.config.jitsi.jibriPool.enabled
          ? [
              ['jibri/recorder-password', 'meet/jibri-recorder-password'],
              ['jibri/xmpp-password', 'meet/jibri-xmpp-password'],
            ]
          : []),
        ...(s.config.jitsi.jvbPool.enabled ? [['jvb/auth-password', 'meet/jvb-auth-password']] : []),
      ].sort(),
    );
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

  test('every secret a host reads is named in its bundle or scripts by a path under its own SSM prefix', () => {
    const s = synth();
    for (const role of enabledRoles(s.config)) {
      const text = [...hostFiles(s, role).values()].map((f) => f.content).join('\n');
      // Another host's or environment's path never appears: a host asks only for its own (ssm_secret NAME).
      const foreign = [...text.matchAll(/\/weebeetalk\/[a-z0-9-]+\/(?:chat|meet|pbx|turn)\/[a-z0-9/-]+/g)].map((m) => m[0]).filter((p) => !p.startsWith(`/weebeetalk/${s.config.name}/${role}/`));
      expect({ role, foreign }).toEqual({ role, foreign: [] });
      expect(text).toContain(`/weebeetalk/${s.config.name}/${role}/bundle`);
    }
  });
});

describe.each(ENVS)('the TURN secret of %s', (_label, synth) => {
  test('with the relay: turn/static-auth-secret and meet/turn-secret, SecureString, one value (the same random password); without it: neither', () => {
    const s = synth();
    const prefix = `/weebeetalk/${s.config.name}`;
    const params = resources(s, 'aws_ssm_parameter').filter((p) => /turn/.test(asString(p.block.name, 'name')));
    const randoms = dataSources(s, 'aws_secretsmanager_random_password');
    if (!s.config.turn.enabled) {
      expect(params).toEqual([]);
      expect(randoms.filter((r) => r.key.includes('turn'))).toEqual([]);
      return;
    }
    const byName = (name: string) => single(params, name, (p) => p.block.name === name);
    const coturn = byName(`${prefix}/turn/static-auth-secret`);
    const prosody = byName(`${prefix}/meet/turn-secret`);
    const pointer = byName(`${prefix}/turn/bundle`);
    expect(params.map((p) => p.address).sort()).toEqual([coturn.address, prosody.address, pointer.address].sort());
    for (const p of [coturn, prosody]) {
      expect(p.block.type).toBe('SecureString');
      expect(asStrings(asObject(p.block.lifecycle, `${p.address}.lifecycle`).ignore_changes, 'ignore_changes')).toContain('value');
    }
    expect(coturn.block.value).toBe(prosody.block.value);
    const m = RANDOM_REF_RE.exec(asString(coturn.block.value, 'value'));
    if (!m) throw new Error(`static-auth-secret is not a random-password reference: ${String(coturn.block.value)}`);
    const source = single(randoms, `random password ${m[1]}`, (r) => r.key === m[1]);
    expect(source.block).toMatchObject({ password_length: 48, exclude_punctuation: true, include_space: false });
    // That data source values these two parameters and no other.
    expect(
      resources(s, 'aws_ssm_parameter')
        .filter((p) => p.block.value === coturn.block.value)
        .map((p) => p.block.name)
        .sort(),
    ).toEqual([`${prefix}/meet/turn-secret`, `${prefix}/turn/static-auth-secret`]);
  });

  test('meet reads its end (turn-secret) exactly when the relay is on; the turn host reads static-auth-secret', () => {
    const s = synth();
    expect(hostSettings(s, 'meet').TURN_ENABLED).toBe(s.config.turn.enabled ? '1' : '0');
    const jitsi = [...hostFiles(s, 'meet').values()].find((f) => f.path.endsWith('/jitsi.sh'));
    expect(jitsi?.content).toMatch(/if \[\[ "\$TURN_ENABLED" == 1 \]\]; then\n(?:\s*#.*\n)*\s*turn_secret=\$\(ssm_secret turn-secret\)\n\s*secrets\+=\("TURN_CREDENTIALS=/);
    if (!s.config.turn.enabled) return;
    const hook = [...hostFiles(s, 'turn').values()].find((f) => f.path.endsWith('/turn.sh'));
    expect(hook?.content).toContain('secret=$(ssm_secret static-auth-secret)');
    expect(hook?.content).not.toContain('turn-secret');
  });
});
