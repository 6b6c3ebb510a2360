/**
 * One snapshot per shipped environment, for review in pull requests: the whole synthesized plan, with every
 * user-data part readable as text (the cloudinit_config parts), never a gzip/base64 blob.
 */
import { enabledPools, enabledRoles } from '../config/schema';
import { AnnotationMetadataEntryType, TerraformStack, Testing } from 'cdktf';
import { parse } from 'yaml';
import { buildApp } from '../main';
import { asArray, asObject, asString, dataSources, referenced, resources, shippedNames, synthEnvironment } from './support/synth';

/** A base64 run this long is a blob no reviewer can read (gzip+base64 of a 1 KB script is ~600 characters). */
const BLOB_RE = /[A-Za-z0-9+/]{200,}={0,2}/;
/** gzip's magic bytes 1f 8b 08, base64-encoded. */
const GZIP_BASE64 = 'H4sI';

describe.each(shippedNames())('%s', (name) => {
  test('matches the snapshot', () => {
    expect(synthEnvironment(name).json).toMatchSnapshot();
  });

  test('every host and pool has user-data whose parts are readable text: a #cloud-config and a bash script', () => {
    const s = synthEnvironment(name);
    const configs = dataSources(s, 'cloudinit_config');
    const instances = resources(s, 'aws_instance');
    const templates = resources(s, 'aws_launch_template');
    expect(instances).toHaveLength(enabledRoles(s.config).length);
    expect(templates).toHaveLength(enabledPools(s.config).length);
    expect(configs).toHaveLength(enabledRoles(s.config).length + enabledPools(s.config).length);
    for (const instance of instances) {
      expect(instance.block.user_data).toBeUndefined();
      // The instance gets the rendered (compressed) document by reference; the plan holds its readable parts.
      const config = referenced(configs, instance.block.user_data_base64);
      expect(instance.block.user_data_base64).toBe(config.ref('rendered'));
    }
    // A launch template takes it base64-encoded too (its user_data), by reference.
    for (const template of templates) expect(template.block.user_data).toBe(referenced(configs, template.block.user_data).ref('rendered'));
    for (const config of configs) {
      const parts = asArray(config.block.part, `${config.address}.part`).map((p, i) => asObject(p, `${config.address}.part[${i}]`));
      expect(parts.map((p) => p.content_type)).toEqual(['text/cloud-config', 'text/x-shellscript']);
      const [cloudConfig, script] = parts.map((p) => asString(p.content, `${config.address} part content`));
      expect(cloudConfig.startsWith('#cloud-config\n')).toBe(true);
      expect(script.startsWith('#!/usr/bin/env bash\n')).toBe(true);
      // Readable means parseable as the YAML it claims to be, with the files it writes in plain text.
      const doc = asObject(parse(cloudConfig), `${config.address} cloud-config`);
      const files = asArray(doc.write_files, `${config.address} write_files`).map((f) => asObject(f, 'write_files entry'));
      expect(files.length).toBeGreaterThan(0);
      for (const f of files) {
        expect(f.encoding).toBeUndefined();
        expect(asString(f.content, `${String(f.path)} content`)).not.toMatch(BLOB_RE);
      }
      for (const part of [cloudConfig, script]) {
        expect(part).not.toMatch(BLOB_RE);
        expect(part).not.toContain(GZIP_BASE64);
      }
    }
  });

  test('the plan holds no base64 blob anywhere', () => {
    const { text } = synthEnvironment(name);
    expect(text).not.toMatch(BLOB_RE);
    expect(text).not.toContain(GZIP_BASE64);
  });
});

test('main.ts builds one stack per shipped environment, named after it, synthesizing deterministically and without errors', () => {
  const app = buildApp(Testing.app());
  const stacks = app.node.children.filter((c): c is TerraformStack => c instanceof TerraformStack);
  expect(stacks.map((s) => s.node.id)).toEqual(shippedNames());
  // A second, independent synthesis (through main.ts) equals the first: the snapshot is deterministic.
  for (const stack of stacks) expect(JSON.parse(Testing.synth(stack))).toEqual(synthEnvironment(stack.node.id).json);
  // Testing.synth ignores error annotations; `cdktf synth` would fail on any (e.g. from the audit gate).
  const errors = stacks.flatMap((stack) =>
    stack.node.findAll().flatMap((c) => c.node.metadata.filter((m) => m.type === AnnotationMetadataEntryType.ERROR).map((m) => `${c.node.path}: ${String(m.data)}`)),
  );
  expect(errors).toEqual([]);
});
