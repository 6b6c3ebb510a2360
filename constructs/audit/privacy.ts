/**
 * The privacy settings in force in a synthesized plan, read where they take effect: the keys from the resources and
 * the backend, the secrets from how each SecureString is written, Rocket.Chat's settings from the chat host's compose
 * override (OVERWRITE_SETTING_<id>) and Jitsi's from the meet host's docker-jitsi-meet settings, both in the
 * configuration bundles the plan uploads. The report lists them per environment; the rules of policy.ts gate the
 * ones the policy requires (WBT-PRIV-STATE everywhere, WBT-PRIV-CHAT and WBT-PRIV-MEET in production).
 */
import { parse } from 'yaml';
import type { EnvironmentConfig } from '../../config/schema';
import { fromTerraformLiteral } from '../../userdata/cloud-config';
import { helperPath, JITSI_CONFIG, roleFiles, ROLE_PATHS } from '../../userdata/paths';
import { check, type Check } from './checks';
import { elements, isObject, isTrue, str, type Element, type JsonObject } from './plan';
import type { RuleId } from './policy';

export interface PrivacySetting {
  readonly area: 'keys' | 'secrets' | 'chat' | 'meetings';
  readonly setting: string;
  /** What is in force, in words. */
  readonly value: string;
  /** The rule that requires it, where the policy does in this environment. */
  readonly rule?: RuleId;
  readonly verdict: 'ok' | 'violation' | 'reported';
}

export interface PrivacyAudit {
  readonly settings: readonly PrivacySetting[];
  /** One check per gating rule, with a finding per setting it refuses. */
  readonly checks: readonly Check[];
}

/** Data sources and resources whose results are secrets (their values would be in the state). */
const SECRET_SOURCES: readonly string[] = ['aws_secretsmanager_random_password', 'aws_secretsmanager_secret_version', 'aws_ssm_parameter', 'aws_ssm_parameters_by_path'];
const SECRET_RESOURCES: readonly string[] = ['random_password', 'tls_private_key', 'aws_iam_access_key'];
/** The write-only attributes the plan may give an ephemeral value. */
const WRITE_ONLY: Readonly<Record<string, readonly string[]>> = { aws_ssm_parameter: ['value_wo'] };

/** The files of a role's bundle in the plan (content as the host gets it), or none. */
function bundleFiles(tf: JsonObject, role: string): Map<string, string> {
  const files = new Map<string, string>();
  for (const e of elements(tf, 'resource', 'aws_s3_object')) {
    if (!(str(e.body.key) ?? '').startsWith(`bundles/${role}/`)) continue;
    try {
      const doc = JSON.parse(fromTerraformLiteral(str(e.body.content) ?? '')) as { files?: unknown };
      if (Array.isArray(doc.files)) for (const f of doc.files) if (isObject(f)) files.set(str(f.path) ?? '?', str(f.content) ?? '');
    } catch {
      // Not a bundle: WBT-CONFIG-SECRET reads it as text.
    }
  }
  return files;
}

/** KEY="value" lines (renderEnvFile's format). */
function envFile(text: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of (text ?? '').matchAll(/^([A-Z_][A-Z0-9_]*)="((?:[^"\\]|\\.)*)"$/gm)) out.set(m[1], m[2].replace(/\\(.)/g, '$1'));
  return out;
}

/** The rocketchat service's OVERWRITE_SETTING_<id> values in the chat host's compose override, by id. */
function rocketChatSettings(files: Map<string, string>): Map<string, string> | undefined {
  const text = files.get(`${ROLE_PATHS.chat.etc}/compose.weebeetalk.yml`);
  if (text === undefined) return undefined;
  const doc = parse(text, {
    customTags: [
      { tag: '!override', collection: 'seq', resolve: (v: unknown) => v },
      { tag: '!reset', resolve: () => null },
    ],
  }) as unknown;
  const env = isObject(doc as never) ? (doc as { services?: { rocketchat?: { environment?: Record<string, unknown> } } }).services?.rocketchat?.environment : undefined;
  const out = new Map<string, string>();
  for (const [k, v] of Object.entries(env ?? {})) if (k.startsWith('OVERWRITE_SETTING_')) out.set(k.slice('OVERWRITE_SETTING_'.length), String(v));
  return out;
}

/** Every string under v with its attribute path. */
function strings(v: unknown, path: string, out: [string, string][] = []): [string, string][] {
  if (typeof v === 'string') out.push([path, v]);
  else if (Array.isArray(v)) v.forEach((x, i) => strings(x, `${path}[${i}]`, out));
  else if (v !== null && typeof v === 'object') for (const [k, x] of Object.entries(v)) if (k !== '//') strings(x, `${path}.${k}`, out);
  return out;
}

/** Why the plan would put a secret into the state, per element: a secret source, a SecureString with a stored value, an ephemeral value in a stored attribute. */
function secretsInState(tf: JsonObject): { secureStrings: number; problems: { element: Element; problem: string }[] } {
  const problems: { element: Element; problem: string }[] = [];
  for (const type of SECRET_SOURCES) for (const element of elements(tf, 'data', type)) problems.push({ element, problem: 'a data source whose result (a secret) Terraform stores' });
  for (const type of SECRET_RESOURCES) for (const element of elements(tf, 'resource', type)) problems.push({ element, problem: 'a resource whose secret result Terraform stores' });
  let secureStrings = 0;
  for (const element of elements(tf, 'resource', 'aws_ssm_parameter')) {
    if (str(element.body.type) !== 'SecureString') continue;
    secureStrings += 1;
    if (element.body.value !== undefined || element.body.insecure_value !== undefined) problems.push({ element, problem: 'a SecureString with a value Terraform stores (write it through value_wo)' });
  }
  for (const kind of ['resource', 'data'] as const) {
    const byType = tf[kind];
    if (!isObject(byType)) continue;
    for (const type of Object.keys(byType))
      for (const element of elements(tf, kind, type))
        for (const [attr, v] of Object.entries(element.body))
          if (!(kind === 'resource' && (WRITE_ONLY[type] ?? []).includes(attr)))
            for (const [path, text] of strings(v, attr)) if (/\bephemeral\./.test(text)) problems.push({ element, problem: `${path}: an ephemeral value in an attribute Terraform stores` });
  }
  return { secureStrings, problems };
}

const on = (v: string | undefined): boolean => v === 'true' || v === '1';
const yes = (v: string | undefined): string => (on(v) ? 'on' : 'off');

/** The privacy settings of a stack and the checks of the rules that require them. */
export function privacyAudit(tf: JsonObject, stack: string, env: EnvironmentConfig): PrivacyAudit {
  const production = env.tier === 'production';
  const settings: PrivacySetting[] = [];
  const gated = new Map<RuleId, { element?: Element; problems: string[]; ok: string[] }>();
  const put = (area: PrivacySetting['area'], setting: string, value: string, required?: { rule: RuleId; met: boolean; element?: Element }): void => {
    settings.push({ area, setting, value, rule: required?.rule, verdict: required === undefined ? 'reported' : required.met ? 'ok' : 'violation' });
    if (!required) return;
    const g = gated.get(required.rule) ?? { element: required.element, problems: [], ok: [] };
    (required.met ? g.ok : g.problems).push(required.met ? setting : `${setting}: ${value}`);
    g.element ??= required.element;
    gated.set(required.rule, g);
  };

  // Keys.
  const keys = elements(tf, 'resource', 'aws_kms_key');
  const alias = elements(tf, 'resource', 'aws_kms_alias')[0];
  put(
    'keys',
    'Encryption at rest',
    keys.length > 0
      ? `customer-managed key ${str(alias?.body.name) ?? '(no alias)'}: rotation ${isTrue(keys[0].body.enable_key_rotation) ? 'yearly' : 'off'}, deletion window ${String(keys[0].body.deletion_window_in_days ?? 30)} days${isObject(keys[0].body.lifecycle) && isTrue(keys[0].body.lifecycle.prevent_destroy) ? ', prevent_destroy' : ''}`
      : 'AWS managed keys (aws/ebs, SSE-S3, aws/ssm)',
  );
  const backend = isObject(tf.terraform) && isObject(tf.terraform.backend) ? tf.terraform.backend : undefined;
  const s3 = backend && isObject(backend.s3) ? backend.s3 : undefined;
  put('keys', 'Terraform state', s3 ? `s3://${str(s3.bucket) ?? '?'}/${str(s3.key) ?? '?'}, ${str(s3.kms_key_id) ? `SSE-KMS ${str(s3.kms_key_id)}` : 'S3-managed keys'}` : 'a local file');

  // Secrets.
  const state = secretsInState(tf);
  settings.push({
    area: 'secrets',
    setting: 'Secrets in Terraform state',
    value: state.problems.length === 0 ? `none: ${state.secureStrings} SecureStrings written write-only (value_wo)` : state.problems.map((p) => `${p.element.address}: ${p.problem}`).join('; '),
    rule: 'WBT-PRIV-STATE',
    verdict: state.problems.length === 0 ? 'ok' : 'violation',
  });
  const stateChecks =
    state.problems.length === 0
      ? [check(stack, { address: stack, path: stack, body: {} }, 'WBT-PRIV-STATE', [], `${state.secureStrings} SecureStrings written write-only, no secret source`)]
      : state.problems.map((p) => check(stack, p.element, 'WBT-PRIV-STATE', [p.problem], ''));

  // Rocket.Chat, as its container gets it.
  const chatFiles = bundleFiles(tf, 'chat');
  const rc = rocketChatSettings(chatFiles);
  const chatBundle = elements(tf, 'resource', 'aws_s3_object').find((e) => (str(e.body.key) ?? '').startsWith('bundles/chat/'));
  // A plan without the host (a bare stack) has nothing to gate.
  const chatRule = production && chatBundle ? 'WBT-PRIV-CHAT' : undefined;
  const needChat = (met: boolean): { rule: RuleId; met: boolean; element?: Element } | undefined => (chatRule ? { rule: chatRule, met, element: chatBundle } : undefined);
  if (rc) {
    const get = (id: string): string | undefined => rc.get(id);
    put('chat', 'Registration', get('Accounts_RegistrationForm') ?? 'upstream default (public)', needChat(get('Accounts_RegistrationForm') === 'Disabled'));
    put(
      'chat',
      'End-to-end encryption',
      `${on(get('E2E_Enable')) ? 'available' : 'off'}; new direct messages ${yes(get('E2E_Enabled_Default_DirectRooms'))}, private rooms ${yes(get('E2E_Enabled_Default_PrivateRooms'))} by default`,
      needChat(on(get('E2E_Enable'))),
    );
    const minLength = Number(get('Accounts_Password_Policy_MinLength') ?? 0);
    const classes = ['Lowercase', 'Uppercase', 'Number', 'SpecialCharacter']
      .filter((c) => on(get(`Accounts_Password_Policy_AtLeastOne${c}`)))
      .map((c) => (c === 'SpecialCharacter' ? 'special character' : c.toLowerCase()));
    put(
      'chat',
      'Password policy',
      on(get('Accounts_Password_Policy_Enabled'))
        ? `at least ${minLength} characters${classes.length > 0 ? `, one each of ${classes.join(', ')}` : ''}; history ${on(get('Accounts_Password_History_Enabled')) ? `${get('Accounts_Password_History_Amount') ?? '?'} passwords` : 'off'}`
        : 'off',
      needChat(on(get('Accounts_Password_Policy_Enabled')) && minLength >= 10),
    );
    put(
      'chat',
      'Repeated failed logins',
      on(get('Block_Multiple_Failed_Logins_Enabled'))
        ? `a user blocked after ${get('Block_Multiple_Failed_Logins_Attempts_Until_Block_by_User') ?? '?'} failures, for ${get('Block_Multiple_Failed_Logins_Time_To_Unblock_By_User_In_Minutes') ?? '?'} minutes`
        : 'not blocked',
      needChat(on(get('Block_Multiple_Failed_Logins_Enabled'))),
    );
    put(
      'chat',
      'Two-factor authentication',
      on(get('Accounts_TwoFactorAuthentication_Enabled'))
        ? `available: authenticator app ${yes(get('Accounts_TwoFactorAuthentication_By_TOTP_Enabled'))}, email ${yes(get('Accounts_TwoFactorAuthentication_By_Email_Enabled'))}`
        : 'off',
      needChat(on(get('Accounts_TwoFactorAuthentication_Enabled'))),
    );
    put('chat', 'File downloads', on(get('FileUpload_ProtectFiles')) ? 'logged-in users only' : 'anyone with the link', needChat(on(get('FileUpload_ProtectFiles'))));
    put('chat', 'Login logs', on(get('Login_Logs_Enabled')) ? 'on (user, address, user agent)' : 'off');
  } else put('chat', 'Rocket.Chat settings', 'no compose override in the plan', needChat(false));
  put('chat', 'Instance metadata', chatFiles.has(helperPath('imds-guard')) ? 'Rocket.Chat only (the DOCKER-USER guard)' : 'every container');

  // Jitsi, as docker-jitsi-meet reads it.
  const meetFiles = bundleFiles(tf, 'meet');
  const jitsi = envFile(meetFiles.get(roleFiles('meet').settings));
  const meetBundle = elements(tf, 'resource', 'aws_s3_object').find((e) => (str(e.body.key) ?? '').startsWith('bundles/meet/'));
  const needMeet = (met: boolean): { rule: RuleId; met: boolean; element?: Element } | undefined => (production && meetBundle ? { rule: 'WBT-PRIV-MEET', met, element: meetBundle } : undefined);
  put('meetings', 'Lobby', on(jitsi.get('ENABLE_LOBBY')) ? 'available (a moderator turns it on per meeting)' : 'off', needMeet(on(jitsi.get('ENABLE_LOBBY'))));
  put('meetings', 'Audio/video moderation', on(jitsi.get('ENABLE_AV_MODERATION')) ? 'available' : 'off');
  const auth = jitsi.get('AUTH_TYPE');
  const enabled = on(jitsi.get('ENABLE_AUTH'));
  put(
    'meetings',
    'Who may start a meeting',
    enabled ? `authenticated users (${auth ?? 'internal'})${on(jitsi.get('ENABLE_GUESTS')) ? '; guests may join' : '; no guests'}` : 'anyone',
    needMeet(enabled),
  );
  if (auth === 'jwt') {
    const issuers = jitsi.get('JWT_ACCEPTED_ISSUERS') ?? '';
    const audiences = jitsi.get('JWT_ACCEPTED_AUDIENCES') ?? '';
    const bound = jitsi.get('JWT_ALLOW_EMPTY') === '0' && issuers !== '' && !issuers.includes('*') && audiences !== '' && !audiences.includes('*');
    put('meetings', 'Tokens', `issuer ${issuers || 'any'}, audience ${audiences || 'any'}, ${jitsi.get('JWT_ALLOW_EMPTY') === '0' ? 'required' : 'optional'}`, needMeet(bound));
  }
  // Only a custom-config.js in the web container's config folder could set e2ee.disabled (README, "Jitsi security settings").
  const e2eeOff = [...meetFiles.keys()].some((p) => p.startsWith(`${JITSI_CONFIG}/web/custom-`));
  put('meetings', 'End-to-end encryption', e2eeOff ? 'a custom web configuration may disable it' : 'available (nothing disables it)', needMeet(!e2eeOff));

  const checks = [...stateChecks, ...[...gated].map(([rule, g]): Check => check(stack, g.element ?? { address: stack, path: stack, body: {} }, rule, g.problems, g.ok.join(', ')))];
  return { settings, checks };
}
