/**
 * Jitsi's privacy defaults (issue 15, item 2): jitsi.security reaches docker-jitsi-meet's .env as the variables the
 * pinned release reads (userdata/upstream-env.ts), tokens are accepted from our issuer and audience only, and
 * nothing the meet host writes can disable end-to-end encryption. The boot harness shows the same values in the
 * .env a first boot writes (test/boot.test.ts, "meet: Jitsi's security settings").
 */
import { readFileSync } from 'node:fs';
import { Testing } from 'cdktf';
import { formatFailure } from '../config/entry';
import { ConfigError, ConfigErrors, loadEnvironment, type EnvironmentFile } from '../config/load';
import { buildApp } from '../main';
import { jitsiSecuritySettings, jwtAppId } from '../userdata/meet';
import { JITSI_CONFIG, roleFiles } from '../userdata/paths';
import { scriptPath } from '../userdata/script-files';
import { JITSI_ENV } from '../userdata/upstream-env';
import { environmentsDir, shipped } from './support/environments-dir';
import { hostFiles, parseEnvFile } from './support/host-files';
import { environmentFile, shippedNames, synthEnvironment, synthVariant, type Synthesized } from './support/synth';

const TODAY = new Date('2026-12-01T12:00:00Z');

const staging = environmentFile('staging');
const production = environmentFile('production');

function variant(file: EnvironmentFile, over: Record<string, unknown>): EnvironmentFile {
  return JSON.parse(JSON.stringify({ ...file, ...over, jitsi: { ...file.jitsi, ...(over.jitsi as object) } })) as EnvironmentFile;
}

function problemsOf(file: EnvironmentFile): string[] {
  try {
    loadEnvironment(file, { now: TODAY });
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  throw new Error(`accepted: ${JSON.stringify(file.jitsi)}`);
}

/** The meet host's settings file (copied into docker-jitsi-meet's .env by jitsi.sh, before the secrets). */
function meetSettings(s: Synthesized): Record<string, string> {
  const file = hostFiles(s, 'meet').get(roleFiles('meet').settings);
  if (!file) throw new Error('no meet settings in the bundle');
  return parseEnvFile(file.content);
}

const SECURITY_NAMES = /^(ENABLE_(LOBBY|AV_MODERATION|GUESTS|PREJOIN_PAGE|REQUIRE_DISPLAY_NAME|MODERATOR_CHECKS)|JWT_(ALLOW_EMPTY|ACCEPTED_ISSUERS|ACCEPTED_AUDIENCES))$/;
const security = (s: Record<string, string>): Record<string, string> => Object.fromEntries(Object.entries(s).filter(([k]) => SECURITY_NAMES.test(k)));

describe('jitsi.security in the configuration', () => {
  test("secure by default in both tiers: lobby, AV moderation, guests behind a token holder, pre-join page, a name, the Rocket.Chat app's audience", () => {
    for (const file of [staging, production])
      expect(loadEnvironment(file, { now: TODAY }).jitsi.security).toEqual({
        lobby: true,
        avModeration: true,
        guests: true,
        prejoinPage: true,
        requireDisplayName: true,
        tokenAudience: 'RocketChat',
      });
  });

  test.each(['*', 'RocketChat,other', 'Rocket Chat', '', '"RocketChat"'])('tokenAudience %j is refused: one audience, never "any"', (bad) => {
    const problems = problemsOf(variant(staging, { jitsi: { security: { tokenAudience: bad } } }));
    expect(problems).toEqual([
      expect.stringMatching(new RegExp(`^jitsi\\.security\\.tokenAudience = ${JSON.stringify(JSON.stringify(bad)).slice(1, -1).replace(/[*.]/g, '\\$&')}: must be one audience such as "RocketChat"`)),
    ]);
    expect(problems[0]).toMatch(/no "\*" \(it accepts any audience\)/);
  });

  test('guests off without authentication: there are no guests to keep out', () => {
    expect(problemsOf(variant(staging, { jitsi: { auth: 'none', security: { guests: false } } }))).toEqual([
      'jitsi.security.guests = false: is false but jitsi.auth is "none": everyone joins without a token or an account, so there are no guests to keep out: set jitsi.auth to "jwt" (or "internal"), or remove guests',
    ]);
  });

  test('a misspelt switch names the one it probably meant', () => {
    expect(problemsOf(variant(staging, { jitsi: { security: { loby: false } } }))).toEqual([expect.stringMatching(/^jitsi\.security\.loby = false: unknown field; did you mean lobby\?/)]);
  });

  test('through the entry point (cdktf synth): one block naming the file, the field, the value and the fix', () => {
    const d = environmentsDir({ staging: shipped('staging', { jitsi: { security: { tokenAudience: '*' } } }), production: shipped('production') });
    let caught: unknown;
    try {
      buildApp(Testing.app(), { dir: d.dir, now: TODAY });
    } catch (e) {
      caught = e;
    } finally {
      d.remove();
    }
    if (!(caught instanceof ConfigError || caught instanceof ConfigErrors)) throw new Error(`not refused: ${String(caught)}`);
    const block = formatFailure(caught) ?? '';
    expect(block).toMatch(/^Invalid configuration for environment "staging" \(\S*\/staging\.ts\):$/m);
    expect(block).toContain('jitsi.security.tokenAudience = "*": must be one audience such as "RocketChat"');
    expect(block).not.toMatch(/^\s+at /m);
  });
});

describe("jitsi.security in the meet host's .env", () => {
  test.each(shippedNames())('%s: the shipped defaults as docker-jitsi-meet variables, tokens from our issuer and audience only', (env) => {
    const s = synthEnvironment(env);
    const settings = meetSettings(s);
    expect(security(settings)).toEqual({
      ENABLE_LOBBY: '1',
      ENABLE_AV_MODERATION: '1',
      ENABLE_GUESTS: '1',
      ENABLE_PREJOIN_PAGE: '1',
      ENABLE_REQUIRE_DISPLAY_NAME: '1',
      ENABLE_MODERATOR_CHECKS: '1',
      JWT_ALLOW_EMPTY: '0',
      JWT_ACCEPTED_ISSUERS: `weebeetalk-${env}`,
      JWT_ACCEPTED_AUDIENCES: 'RocketChat',
    });
    // The issuer is the application id the plan stores for the operator to copy into the Rocket.Chat Jitsi app.
    const appId = Object.values((s.json.resource?.aws_ssm_parameter ?? {}) as Record<string, { name?: string; value?: string }>).find((p) => p.name === `/weebeetalk/${env}/meet/jwt-app-id`);
    expect(appId?.value).toBe(settings.JWT_ACCEPTED_ISSUERS);
    expect(jwtAppId({ name: env })).toBe(appId?.value);
  });

  test('every switch reaches its variable; other authentication types carry no JWT settings', () => {
    const off = meetSettings(
      synthVariant('jitsi-security-off', 'staging', {
        jitsi: { security: { lobby: false, avModeration: false, guests: false, prejoinPage: false, requireDisplayName: false, tokenAudience: 'weebeetalk-chat' } },
      }),
    );
    expect(security(off)).toEqual({
      ENABLE_LOBBY: '0',
      ENABLE_AV_MODERATION: '0',
      ENABLE_GUESTS: '0',
      ENABLE_PREJOIN_PAGE: '0',
      ENABLE_REQUIRE_DISPLAY_NAME: '0',
      ENABLE_MODERATOR_CHECKS: '1',
      JWT_ALLOW_EMPTY: '0',
      JWT_ACCEPTED_ISSUERS: 'weebeetalk-staging',
      JWT_ACCEPTED_AUDIENCES: 'weebeetalk-chat',
    });
    const internal = loadEnvironment(variant(staging, { jitsi: { auth: 'internal' } }), { now: TODAY });
    expect(Object.keys(jitsiSecuritySettings({ config: internal })).filter((k) => k.startsWith('JWT_'))).toEqual([]);
    const none = jitsiSecuritySettings({ config: loadEnvironment(variant(staging, { jitsi: { auth: 'none' } }), { now: TODAY }) });
    expect([none.ENABLE_GUESTS, Object.keys(none).filter((k) => k.startsWith('JWT_'))]).toEqual([undefined, []]);
  });

  test('every variable jitsi.security writes is one the pinned docker-jitsi-meet reads (upstream-env.ts)', () => {
    const names = Object.keys(jitsiSecuritySettings({ config: loadEnvironment(staging, { now: TODAY }) }));
    expect(names.length).toBe(9);
    expect(names.filter((n) => !(n in JITSI_ENV))).toEqual([]);
  });
});

describe('end-to-end encryption is never disabled', () => {
  /** Every meet host configuration we can build: the shipped ones, every switch off, each authentication type. */
  const variants = (): [string, Synthesized][] => [
    ...shippedNames().map((env): [string, Synthesized] => [env, synthEnvironment(env)]),
    [
      'every switch off',
      synthVariant('jitsi-security-off', 'staging', {
        jitsi: { security: { lobby: false, avModeration: false, guests: false, prejoinPage: false, requireDisplayName: false, tokenAudience: 'weebeetalk-chat' } },
      }),
    ],
    ['auth internal', synthVariant('jitsi-auth-internal', 'staging', { jitsi: { auth: 'internal' } })],
    ['auth none', synthVariant('jitsi-auth-none', 'staging', { jitsi: { auth: 'none' } })],
  ];

  test('no .env name or value of any meet host names E2EE (docker-jitsi-meet 738058b has no such variable: a new one is a decision)', () => {
    for (const [label, s] of variants()) {
      const settings = meetSettings(s);
      expect([label, Object.entries(settings).filter(([k, v]) => /e2ee|end.?to.?end/i.test(`${k}=${v}`))]).toEqual([label, []]);
    }
    expect(Object.keys(JITSI_ENV).filter((k) => /E2EE/.test(k))).toEqual([]);
    // The hook appends only secrets to .env; none of them is about encryption either.
    const hook = readFileSync(scriptPath('jitsi'), 'utf8');
    expect(hook.match(/E2EE|e2ee/g)).toBeNull();
  });

  test("nothing writes web's custom-config.js (appended to config.js: the only way to set e2ee.disabled or testing.disableE2EE)", () => {
    for (const [label, s] of variants()) {
      const paths = [...hostFiles(s, 'meet').keys()];
      expect([label, paths.filter((p) => p.startsWith(`${JITSI_CONFIG}/web`) || /custom-(config|interface_config)\.js$/.test(p))]).toEqual([label, []]);
    }
    const hook = readFileSync(scriptPath('jitsi'), 'utf8');
    expect(hook).not.toMatch(/custom-config|custom-interface_config|\{JITSI_CONFIG\}\/web\b/);
  });
});
