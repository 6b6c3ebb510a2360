/**
 * Switching a role between x86_64 and arm64 (e.g. t3 -> t4g) replaces its instance with an image of the new
 * architecture. Production keeps its AMI (ignore_changes = [ami]), which alone would keep the x86 image on a
 * Graviton type, and EC2 refuses to start it. Synthesized through main.ts's buildApp; where a Terraform binary is
 * installed, Terraform itself plans the synthesized lifecycle (on a terraform_data stand-in for the instance,
 * the AWS provider being unreachable here) and must replace the host.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TerraformStack, Testing } from 'cdktf';
import { buildApp } from '../main';
import { ROOT_KMS_KEY_ID } from '../constructs/debian-host';
import { environmentsDir, shipped } from './support/environments-dir';

type Block = Record<string, unknown>;
interface Plan {
  resource: Record<string, Record<string, Block>>;
  data: Record<string, Record<string, Block>>;
}

const TODAY = new Date('2026-12-01T12:00:00Z');

/** The production plan with the pbx host on the given instance type (and optionally a pinned image). */
function productionPlan(pbx: Record<string, unknown>, ami?: Record<string, unknown>): Plan {
  const d = environmentsDir({ staging: shipped('staging'), production: shipped('production', { hosts: { pbx }, ...(ami ? { ami } : {}) }) });
  try {
    const stack = buildApp(Testing.app(), { dir: d.dir, now: TODAY }).node.findChild('production') as TerraformStack;
    return JSON.parse(Testing.synth(stack)) as Plan;
  } finally {
    d.remove();
  }
}

function pbxEntry(section: Record<string, Block> | undefined): [string, Block] {
  const found = Object.entries(section ?? {}).filter(([key]) => key.startsWith('pbx-host'));
  if (found.length !== 1) throw new Error(`expected one pbx-host entry, found ${found.map(([k]) => k).join(', ') || 'none'}`);
  return found[0];
}

const x86 = productionPlan({ instanceType: 't3.medium' });
const arm = productionPlan({ instanceType: 't4g.medium' });

describe('a role switched between architectures', () => {
  test('looks up an image of the new architecture', () => {
    const filters = (p: Plan) => (pbxEntry(p.data.aws_ami)[1].filter as { name: string; values: string[] }[]).find((f) => f.name === 'architecture')?.values;
    expect(filters(x86)).toEqual(['x86_64']);
    expect(filters(arm)).toEqual(['arm64']);
  });

  test('keeps its AMI otherwise, but is replaced when the architecture changes', () => {
    for (const [plan, arch] of [
      [x86, 'x86_64'],
      [arm, 'arm64'],
    ] as const) {
      const [markerKey, marker] = pbxEntry(plan.resource.terraform_data);
      expect(marker.input).toEqual({ architecture: arch });
      const lifecycle = pbxEntry(plan.resource.aws_instance)[1].lifecycle as Block;
      // And the root's key (production's customer-managed key, kms.customerManagedKey): a root keeps the key it has.
      expect(lifecycle.ignore_changes).toEqual(['ami', ROOT_KMS_KEY_ID]);
      expect(lifecycle.replace_triggered_by).toEqual([`terraform_data.${markerKey}`]);
    }
    // Same address in both plans: the switch updates the marker, which is what triggers the replacement.
    expect(pbxEntry(x86.resource.terraform_data)[0]).toBe(pbxEntry(arm.resource.terraform_data)[0]);
  });

  test('a pinned image is checked against the instance type when Terraform plans', () => {
    const pinned = productionPlan({ instanceType: 't4g.medium', amiId: 'ami-0fedcba9876543210' });
    const check = Object.entries(pinned.data.aws_ami).find(([key]) => key.startsWith('pbx-host_pinned-ami'))?.[1];
    expect(check?.filter).toEqual([{ name: 'image-id', values: ['ami-0fedcba9876543210'] }]);
    expect((check?.lifecycle as { postcondition: { condition: string; error_message: string }[] }).postcondition).toEqual([
      { condition: '${self.architecture == "arm64"}', error_message: expect.stringContaining('the pinned image ami-0fedcba9876543210 is not arm64, which t4g.medium needs') },
    ]);
    expect(pbxEntry(pinned.resource.aws_instance)[1].ami).toBe('ami-0fedcba9876543210');
  });
});

const terraform = spawnSync('terraform', ['version'], { encoding: 'utf8' }).status === 0;
if (!terraform) process.stderr.write('SKIPPED (needs a terraform binary): Terraform planning the architecture switch. The synthesized lifecycle is still checked above.\n');

(terraform ? describe : describe.skip)('Terraform plans the switch', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'weebeetalk-arch-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** The synthesized marker and the instance's lifecycle, on a terraform_data stand-in whose `input` is the AMI. */
  function standIn(plan: Plan, imageId: string): string {
    const [markerKey, marker] = pbxEntry(plan.resource.terraform_data);
    const lifecycle = pbxEntry(plan.resource.aws_instance)[1].lifecycle as { ignore_changes: string[]; replace_triggered_by: string[] };
    // The stand-in has no root device: its key's entry goes.
    const ignore = lifecycle.ignore_changes.filter((a) => a !== ROOT_KMS_KEY_ID).map((a) => (a === 'ami' ? 'input' : a));
    const instance = { input: imageId, lifecycle: { ignore_changes: ignore, replace_triggered_by: lifecycle.replace_triggered_by } };
    return JSON.stringify({ resource: { terraform_data: { [markerKey]: marker, instance } } });
  }

  const tf = (...args: string[]): string =>
    execFileSync('terraform', args, { cwd: dir, encoding: 'utf8', env: { ...process.env, TF_IN_AUTOMATION: '1', CHECKPOINT_DISABLE: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });

  test('t3 -> t4g: the instance is replaced and boots the arm64 image', () => {
    writeFileSync(join(dir, 'main.tf.json'), standIn(x86, 'ami-debian-x86'));
    tf('init', '-input=false', '-no-color');
    tf('apply', '-auto-approve', '-input=false', '-no-color');
    writeFileSync(join(dir, 'main.tf.json'), standIn(arm, 'ami-debian-arm64'));
    tf('plan', '-input=false', '-no-color', '-out=switch.plan');
    const changes = (JSON.parse(tf('show', '-json', 'switch.plan')) as { resource_changes: { address: string; change: { actions: string[]; after: { input?: string } } }[] }).resource_changes;
    const instance = changes.find((c) => c.address === 'terraform_data.instance');
    expect(instance?.change.actions).toEqual(['delete', 'create']);
    expect(instance?.change.after.input).toBe('ami-debian-arm64');
  });
});
