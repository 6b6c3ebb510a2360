/**
 * The role registry (constructs/roles): one RoleSpec per role, mirrored by userdata/<role>/ with a README, and
 * the port plan made of the roles' own ports plus SSH.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { enabledRoles, ROLES } from '../config/schema';
import { poolSpecs, portPlan, ROLE_SPECS, roleSpecs } from '../constructs/roles';
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
    // Production builds the TURN relay, staging does not (turn.enabled).
    expect(roleSpecs(config).map((spec) => spec.role)).toEqual(config.tier === 'production' ? ['chat', 'meet', 'pbx', 'turn'] : ['chat', 'meet', 'pbx']);
    expect(roleSpecs(config).map((spec) => spec.role)).toEqual(enabledRoles(config));
    const own = roleSpecs(config).flatMap((spec) => {
      const rules = spec.ports(config);
      expect(rules.filter((r) => r.role !== spec.role)).toEqual([]);
      return rules;
    });
    // Then the pools' own ports (constructs/roles/jibri.ts, jvb.ts), then SSH.
    own.push(
      ...poolSpecs(config).flatMap((spec) => {
        const rules = spec.ports(config);
        expect(rules.filter((r) => r.role !== spec.pool)).toEqual([]);
        return rules;
      }),
    );
    const plan = portPlan(config);
    expect(plan.slice(0, own.length)).toEqual(own);
    expect(plan.slice(own.length).every((r) => r.from === 22 && r.to === 22 && r.peer.kind === 'cidr' && r.peer.label === 'admin')).toBe(true);
    expect(new Set(plan.map((r) => r.id)).size).toBe(plan.length);
  });

  it('fixed addresses are distinct, and the hop limit is 2 only where a container calls AWS (chat)', () => {
    // Every role's, built or not: turning the relay on later must not move another host.
    const specs = Object.values(ROLE_SPECS);
    const offsets = specs.map((s) => s.addressOffset);
    expect(offsets).toHaveLength(ROLES.length);
    expect(new Set(offsets).size).toBe(offsets.length);
    expect(offsets.every((o) => o !== undefined && o >= 4)).toBe(true);
    expect(Object.fromEntries(specs.map((s) => [s.role, s.metadataHopLimit]))).toEqual(EXPECTED_HOP_LIMIT);
  });
});

describe('roles an environment builds', () => {
  it('the TURN relay only with turn.enabled; the others always, in ROLES order', () => {
    expect(enabledRoles({ turn: { enabled: false } })).toEqual(['chat', 'meet', 'pbx']);
    expect(enabledRoles({ turn: { enabled: true } })).toEqual(['chat', 'meet', 'pbx', 'turn']);
    expect(roleSpecs({ turn: { enabled: false } } as Parameters<typeof roleSpecs>[0]).map((s) => s.role)).toEqual(['chat', 'meet', 'pbx']);
  });

  it('the turn role: Debian packages only (no Docker), hop limit 1, the relay ports from the video bridges only (meet and the JVB pool)', () => {
    const config = synthEnvironment('production').config;
    const spec = ROLE_SPECS.turn;
    expect(spec.docker).toBe(false);
    for (const other of ['chat', 'meet', 'pbx'] as const) expect([other, ROLE_SPECS[other].docker ?? true]).toEqual([other, true]);
    expect(spec.metadataHopLimit).toBe(1);
    expect(spec.ports(config).map((r) => [r.id, r.protocol, r.from, r.to, r.peer])).toEqual([
      ['turn-turns-world', 'tcp', 443, 443, { kind: 'world' }],
      ['turn-turn-tcp-world', 'tcp', 3478, 3478, { kind: 'world' }],
      ['turn-turn-udp-world', 'udp', 3478, 3478, { kind: 'world' }],
      ['turn-relay-from-meet', 'udp', 49152, 65535, { kind: 'host', role: 'meet' }],
      ['turn-relay-from-jvb', 'udp', 49152, 65535, { kind: 'host', role: 'jvb' }],
    ]);
    expect(spec.ports(config).find((r) => r.id === 'turn-relay-from-meet')?.portField).toBe('turn.relayPorts');
  });
});
