/**
 * What Terraform must create before what, read from the plan's references and depends_on: a host boots only
 * after its own DNS names exist (an ACME client must never ask before the name can resolve), and the settings
 * of one S3 bucket are changed one after another (S3 answers 409 OperationAborted to concurrent changes).
 */
import { fqdnOf } from '../config/names';
import { enabledRoles } from '../config/schema';
import { expectedRoles } from './support/hosts';
import { allResources, byNameTag, dataSources, resources, synthEnvironment, synthVariant, type Item, type Synthesized } from './support/synth';
import { stagingTurn } from './support/variants';

const dataItems = (s: Synthesized): Item[] => Object.keys(s.json.data ?? {}).flatMap((t) => dataSources(s, t));

const ENVS = ['staging', 'production'] as const;
const plan = (env: string): Synthesized => (env === 'staging-turn' ? stagingTurn() : synthEnvironment(env));

/** Addresses an item names in depends_on or in any `${address.attr}` interpolation, directly. */
function directDependencies(item: Item): Set<string> {
  const out = new Set<string>();
  const text = JSON.stringify(item.block);
  for (const m of text.matchAll(/\$\{((?:data\.)?[a-z0-9_]+\.[A-Za-z0-9_-]+)[.}[]/g)) out.add(m[1]);
  const deps = item.block.depends_on;
  if (Array.isArray(deps)) for (const d of deps) out.add(String(d).replace(/^\$\{|\}$/g, ''));
  out.delete(item.address);
  return out;
}

/** Everything an item waits for, transitively. */
function dependencyClosure(s: Synthesized, item: Item): Set<string> {
  const byAddress = new Map(allResources(s).map((i) => [i.address, i]));
  const seen = new Set<string>();
  const todo = [...directDependencies(item)];
  while (todo.length > 0) {
    const next = todo.pop() as string;
    if (seen.has(next)) continue;
    seen.add(next);
    const dep = byAddress.get(next);
    if (dep) todo.push(...directDependencies(dep));
  }
  return seen;
}

describe.each([...ENVS, 'staging-turn'])('names before hosts in %s', (env) => {
  test('each instance waits for the A and CAA records of its own name', () => {
    const s = plan(env);
    const records = resources(s, 'aws_route53_record');
    const missing: string[] = [];
    expect(enabledRoles(s.config)).toEqual(expectedRoles(s));
    for (const role of enabledRoles(s.config)) {
      const instance = byNameTag(resources(s, 'aws_instance'), `weebeetalk-${s.config.name}-${role}`);
      const waits = dependencyClosure(s, instance);
      for (const type of ['A', 'CAA']) {
        const own = records.filter((r) => r.block.type === type && r.block.name === fqdnOf(s.config, role));
        expect(own).toHaveLength(1);
        if (!waits.has(own[0].address)) missing.push(`${role} does not wait for ${type} ${fqdnOf(s.config, role)}`);
      }
    }
    expect(missing).toEqual([]);
  });
});

describe.each(ENVS)('apply order of %s', (env) => {
  test("one bucket's sub-resources are applied one after another, never in parallel", () => {
    const s = synthEnvironment(env);
    const parallel: string[] = [];
    for (const bucket of resources(s, 'aws_s3_bucket')) {
      const ref = bucket.ref('id');
      const subs = allResources(s).filter((i) => i.type.startsWith('aws_s3_bucket_') && i.block.bucket === ref);
      // public-access-block, ownership, encryption, versioning, policy, lifecycle
      expect(subs.length).toBeGreaterThanOrEqual(6);
      for (const a of subs)
        for (const b of subs) {
          if (a.address >= b.address) continue;
          if (!dependencyClosure(s, a).has(b.address) && !dependencyClosure(s, b).has(a.address)) parallel.push(`${a.address} || ${b.address}`);
        }
      // The bucket is private before anything else is set on it.
      const pab = subs.find((i) => i.type === 'aws_s3_bucket_public_access_block') as Item;
      for (const other of subs)
        if (other !== pab) expect({ sub: other.address, afterPublicAccessBlock: dependencyClosure(s, other).has(pab.address) }).toEqual({ sub: other.address, afterPublicAccessBlock: true });
    }
    expect(parallel).toEqual([]);
  });

  test('growing a data volume changes only its size: no instance, no user-data, nothing else', () => {
    const base = synthEnvironment(env);
    const grown = synthVariant(`${env}-grown`, env, { hosts: { pbx: { dataVolumeGiB: base.config.hosts.pbx.dataVolumeGiB + 10 } } });
    const changed: string[] = [];
    for (const item of [...allResources(base), ...dataItems(base)]) {
      const after = [...allResources(grown), ...dataItems(grown)].find((i) => i.address === item.address);
      if (!after) changed.push(`${item.address} gone`);
      else if (JSON.stringify(after.block) !== JSON.stringify(item.block)) changed.push(item.address);
    }
    const pbxVolume = byNameTag(resources(base, 'aws_ebs_volume'), `weebeetalk-${env}-pbx-data`);
    expect(changed).toEqual([pbxVolume.address]);
    // aws_ebs_volume modifies `size` in place (ModifyVolume); the host grows its filesystem itself.
    expect(byNameTag(resources(grown, 'aws_ebs_volume'), `weebeetalk-${env}-pbx-data`).block.size).toBe(base.config.hosts.pbx.dataVolumeGiB + 10);
  });
});
