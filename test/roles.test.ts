/**
 * The role registry (constructs/roles): one RoleSpec per role, mirrored by userdata/<role>/ with a README, and
 * the port plan made of the roles' own ports plus SSH.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { portPlan } from '../config/ports';
import { ROLES } from '../config/schema';
import { ROLE_SPECS, roleSpecs } from '../constructs/roles';
import { EXPECTED_HOP_LIMIT } from './support/hosts';
import { synthEnvironment, shippedNames } from './support/synth';

const ROOT = join(__dirname, '..');

describe('role registry', () => {
  it('has one spec per role, in the order of ROLES', () => {
    expect(Object.keys(ROLE_SPECS)).toEqual([...ROLES]);
    for (const [role, spec] of Object.entries(ROLE_SPECS)) expect(spec.role).toBe(role);
  });

  it.each([...ROLES])('%s: its story is in constructs/roles/<role>.ts and userdata/<role>/ (builder, scripts, README)', (role) => {
    expect(existsSync(join(ROOT, 'constructs/roles', `${role}.ts`))).toBe(true);
    expect(existsSync(join(ROOT, 'userdata', role, 'index.ts'))).toBe(true);
    expect(existsSync(join(ROOT, 'userdata', role, 'scripts'))).toBe(true);
    const readme = readFileSync(join(ROOT, 'userdata', role, 'README.md'), 'utf8');
    for (const part of ['## What runs there', '## What it exposes', '## What it may read', '## Debugging', `constructs/roles/${role}.ts`])
      expect([role, part, readme.includes(part)]).toEqual([role, part, true]);
  });

  it.each(shippedNames())('%s: a role declares only its own ports; the plan is theirs plus SSH, ids unique', (env) => {
    const config = synthEnvironment(env).config;
    const own = roleSpecs().flatMap((spec) => {
      const rules = spec.ports(config);
      expect(rules.filter((r) => r.role !== spec.role)).toEqual([]);
      return rules;
    });
    const plan = portPlan(config);
    expect(plan.slice(0, own.length)).toEqual(own);
    expect(plan.slice(own.length).every((r) => r.from === 22 && r.to === 22 && r.peer.kind === 'cidr' && r.peer.label === 'admin')).toBe(true);
    expect(new Set(plan.map((r) => r.id)).size).toBe(plan.length);
  });

  it('fixed addresses are distinct, and the hop limit is 2 only where a container calls AWS (chat)', () => {
    const offsets = roleSpecs().map((s) => s.addressOffset);
    expect(new Set(offsets).size).toBe(offsets.length);
    expect(offsets.every((o) => o !== undefined && o >= 4)).toBe(true);
    expect(Object.fromEntries(roleSpecs().map((s) => [s.role, s.metadataHopLimit]))).toEqual(EXPECTED_HOP_LIMIT);
  });
});
