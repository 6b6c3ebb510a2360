/**
 * Post-deploy smoke check: DNS, HTTPS (certificate + app), HTTP->HTTPS redirect, dial-in (the PIN and numbers
 * through the web container; the mapper's port and /room closed to the world), SIP OPTIONS over UDP,
 * SIP over TLS, and the TURN relay (TLS, an authenticated allocation), against the outputs of a deployed stack. Node standard library only, so it runs anywhere
 * `npm ci` ran. The CLI is cli.ts (entry point scripts/smoke.ts); tests drive runSmoke()/main() in-process.
 */
import { readFile } from 'node:fs/promises';
import * as net from 'node:net';
import { DIAL_IN_MAPPER_PORT } from '../../config/dial-in';
import type { EnvironmentConfig } from '../../config/schema';
import { checkMeetBrowser, type JitsiCredentials } from './browser';
import {
  BROWSER_CHECKS,
  CHECK_NAMES,
  COMPONENTS,
  componentList,
  OPTIONAL_COMPONENTS,
  DEFAULTS,
  errorText,
  hostPort,
  runPlan,
  UsageError,
  type CheckContext,
  type CheckName,
  type CheckPlan,
  type CheckResult,
  type Component,
  type Outcome,
  type SmokeOptions,
  type SmokeReport,
} from './check';
import { checkDialIn, checkDialInClosed, CLOSED_PORT_WAIT_MS, dialInExpectationOf, type DialInExpectation } from './dial-in';
import { checkDns } from './dns';
import { checkChatHttps, checkMeetHttps, checkRedirect } from './http';
import { endpointsFromOutputs, loadOutputs, outputValue, selectStackOutputs, type Endpoints } from './outputs';
import { checkSip, checkSipTls } from './sip';
import { checkTurnAllocate, checkTurnTls, defaultTurnSecretParameter, readSsmParameter, turnSecretHint, type TurnSecret } from './turn';

/** Friendlier spellings accepted by --skip. */
const CHECK_ALIASES: Readonly<Record<string, CheckName>> = {
  http: 'http-redirect',
  redirect: 'http-redirect',
  tls: 'sip-tls',
  sips: 'sip-tls',
};

interface SkipRule {
  check: CheckName;
  component?: Component;
}

export function parseSkip(entries: readonly string[]): SkipRule[] {
  const rules: SkipRule[] = [];
  for (const raw of entries.flatMap((e) => e.split(','))) {
    const entry = raw.trim().toLowerCase();
    if (entry === '') continue;
    const [name, component, extra] = entry.split(':');
    const check = CHECK_ALIASES[name] ?? (CHECK_NAMES as readonly string[]).find((c) => c === name);
    if (check === undefined || extra !== undefined) {
      throw new UsageError(`--skip: unknown check "${raw.trim()}" (checks: ${CHECK_NAMES.join(', ')}; optionally check:${COMPONENTS.join('|')})`);
    }
    const comp = COMPONENTS.find((c) => c === component);
    if (component !== undefined && comp === undefined) throw new UsageError(`--skip: unknown component in "${raw.trim()}" (${componentList('or')})`);
    rules.push({ check, component: comp });
  }
  return rules;
}

function validPort(n: number | undefined, what: string): void {
  if (n !== undefined && !(Number.isInteger(n) && n >= 1 && n <= 65535)) throw new UsageError(`${what} must be a port from 1 to 65535`);
}

export function validateResolver(addr: string): void {
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(addr) ?? /^([^:]+)(?::(\d+))?$/.exec(addr);
  const host = m ? m[1] : addr;
  const port = m?.[2] !== undefined ? Number(m[2]) : undefined;
  if (net.isIP(host) === 0 || (port !== undefined && !(port >= 1 && port <= 65535))) {
    throw new UsageError(`--resolver must be an IP address with an optional port (1.1.1.1, 127.0.0.1:5353, [::1]:53), got "${addr}"`);
  }
}

/** An optional component (OPTIONAL_COMPONENTS) with none of its outputs: the environment has no such host. */
function isAbsent(endpoints: Endpoints, component: Component): boolean {
  const { fqdn, ip } = endpoints[component];
  return OPTIONAL_COMPONENTS.includes(component) && fqdn === undefined && ip === undefined;
}

function plansFor(
  endpoints: Endpoints,
  opts: Required<Pick<SmokeOptions, 'timeoutMs'>> & SmokeOptions,
  ca: string | undefined,
  turnSecret: TurnSecret | undefined,
  meetAccess: MeetAccess | undefined,
  dialIn: DialInPlan,
): CheckPlan[] {
  const plans: CheckPlan[] = [];
  // A missing or malformed output fails its checks instead of aborting the whole run.
  const add = (check: CheckName, component: Component, port: number | undefined, run: (fqdn: string, ip: string, ctx: CheckContext) => Promise<Outcome>, timeoutHint?: string, skip?: string): void => {
    const { fqdn, ip } = endpoints[component];
    const target = `${fqdn ?? `${component}_fqdn?`}${port === undefined ? '' : ` @ ${hostPort(ip ?? '?', port)}`}`;
    const missing = [fqdn === undefined ? `${component}_fqdn` : '', ip === undefined ? `${component}_public_ip` : ''].filter(Boolean);
    const absent = isAbsent(endpoints, component)
      ? `no ${component} host in the stack outputs (no ${component}_fqdn, no ${component}_public_ip): ${component}.enabled is off in this environment`
      : undefined;
    plans.push({
      check,
      component,
      target,
      timeoutHint,
      skip: absent ?? skip,
      run: async (ctx) => {
        if (missing.length > 0) return { ok: false, detail: `stack output ${missing.join(' and ')} missing` };
        if (net.isIP(ip as string) === 0) return { ok: false, detail: `stack output ${component}_public_ip is not an IP address: "${ip}"` };
        return run(fqdn as string, ip as string, ctx);
      },
    });
  };
  const httpsPort = (c: Component): number => opts.httpsPort ?? endpoints[c].urlPort ?? DEFAULTS.httpsPort;
  const httpPort = opts.httpPort ?? DEFAULTS.httpPort;
  const sipPort = opts.sipPort ?? DEFAULTS.sipPort;
  const sipsPort = opts.sipsPort ?? DEFAULTS.sipsPort;

  for (const c of COMPONENTS) add('dns', c, undefined, (fqdn, ip, ctx) => checkDns(ctx, fqdn, ip, opts.resolver, opts.timeoutMs));
  add('https', 'chat', httpsPort('chat'), (fqdn, ip, ctx) => checkChatHttps(ctx, ip, httpsPort('chat'), fqdn, ca), 'is the port open and the instance up?');
  add('https', 'meet', httpsPort('meet'), (fqdn, ip, ctx) => checkMeetHttps(ctx, ip, httpsPort('meet'), fqdn, ca), 'is the port open and the instance up?');
  for (const c of ['chat', 'meet'] as const) {
    add('http-redirect', c, httpPort, (fqdn, ip, ctx) => checkRedirect(ctx, ip, httpPort, fqdn), 'is port 80 open and the instance up?');
  }
  // Both run only with an expectation (Jigasi on); otherwise both are skipped with dialIn.skip.
  const dialInSkip = 'skip' in dialIn ? dialIn.skip : undefined;
  const expected = 'expect' in dialIn ? dialIn.expect : { numbers: [] };
  add('meet-dial-in', 'meet', httpsPort('meet'), (fqdn, ip, ctx) => checkDialIn(ctx, ip, httpsPort('meet'), fqdn, ca, expected), 'is the port open and the instance up (the https check)?', dialInSkip);
  const mapperPort = opts.dialInPort ?? DIAL_IN_MAPPER_PORT;
  add(
    'meet-dial-in-closed',
    'meet',
    mapperPort,
    (fqdn, ip, ctx) =>
      checkDialInClosed(ctx, ip, httpsPort('meet'), fqdn, ca, {
        mapperPort,
        // A dropped SYN is the expected answer: wait for it well within the check's own timeout.
        waitMs: Math.min(CLOSED_PORT_WAIT_MS, Math.floor(opts.timeoutMs / 2)),
        securityGroup: expected.securityGroup,
        env: opts.env,
      }),
    'is the meet host up (the https check)?',
    dialInSkip,
  );
  add(
    'sip',
    'pbx',
    sipPort,
    (fqdn, ip, ctx) => checkSip(ctx, fqdn, ip, sipPort),
    `no SIP response. udp/${sipPort} is NOT open to the world: only the SIP trunk CIDRs (sip.trunkSignallingCidrs), and the meet host when Jigasi is on, may send. ` +
      'Run this from an allowed network, or pass --skip sip',
  );
  add(
    'sip-tls',
    'pbx',
    sipsPort,
    (fqdn, ip, ctx) => checkSipTls(ctx, fqdn, ip, sipsPort, ca),
    `tcp/${sipsPort} only admits the SIP client CIDRs (sip.clientCidrs): run from an allowed network, or pass --skip sip-tls`,
  );
  const turnPort = opts.turnPort ?? DEFAULTS.turnPort;
  const turnHint = `tcp/${turnPort} is open to the world: is the turn instance up, and coturn running (it starts only once its certificate exists; journalctl -u coturn)?`;
  add('turn-tls', 'turn', turnPort, (fqdn, ip, ctx) => checkTurnTls(ctx, fqdn, ip, turnPort, ca), turnHint);
  add(
    'turn-allocate',
    'turn',
    turnPort,
    (fqdn, ip, ctx) => {
      if (turnSecret === undefined || 'unavailable' in turnSecret) return Promise.resolve({ ok: false, detail: turnSecret?.unavailable ?? 'no TURN secret' });
      return checkTurnAllocate(ctx, fqdn, ip, turnPort, ca, turnSecret.secret, turnSecret.source);
    },
    turnHint,
    turnSecret !== undefined && 'unavailable' in turnSecret && !turnSecret.fail ? turnSecret.unavailable : undefined,
  );
  if (opts.browser) {
    const meetBase = (fqdn: string): string => `https://${fqdn}${httpsPort('meet') === 443 ? '' : `:${httpsPort('meet')}`}`;
    const browserHint = 'joining, connecting and sampling took longer than --browser-timeout: is the meet host up (npm run smoke without --browser), and UDP 10000 open from here?';
    for (const relay of [false, true]) {
      const noTurn = relay && isAbsent(endpoints, 'turn') ? 'no turn host in the stack outputs (turn.enabled is off in this environment): relay-only ICE runs where there is a TURN relay' : undefined;
      add(
        relay ? 'meet-browser-turn' : 'meet-browser',
        'meet',
        undefined,
        (fqdn, _ip, ctx) => {
          if (meetAccess === undefined || !('credentials' in meetAccess))
            return Promise.resolve({ ok: false, detail: meetAccess !== undefined && 'fail' in meetAccess ? meetAccess.fail : 'no Jitsi token material' });
          return checkMeetBrowser(ctx, {
            meetBase: meetBase(fqdn),
            fqdn,
            relay,
            credentials: meetAccess.credentials,
            executablePath: opts.chromiumPath,
            timeoutMs: opts.browserTimeoutMs ?? DEFAULTS.browserTimeoutMs,
          });
        },
        relay ? `${browserHint} With relay-only ICE the TURN relay must answer on tcp/443 (turn-tls)` : browserHint,
        noTurn ?? (meetAccess !== undefined && 'skip' in meetAccess ? meetAccess.skip : undefined),
      );
    }
  }
  return plans;
}

/** What the browser participants join with: a token's material, none needed (jitsi.auth "none"), or why they cannot. */
type MeetAccess = { credentials: JitsiCredentials | undefined } | { fail: string } | { skip: string };

/** The environment's file (config/environments), when it is one of them; otherwise why not. */
type Configured = { config: EnvironmentConfig } | { missing: string };

async function configuredEnvironment(env: string | undefined): Promise<Configured> {
  if (env === undefined) return { missing: 'no environment named' };
  try {
    const { loadEnvironments } = await import('../../config/files');
    const found = loadEnvironments().find((e) => e.config.name === env);
    return found === undefined ? { missing: `no environment file for "${env}" here (config/environments)` } : { config: found.config };
  } catch (err) {
    // Outputs from elsewhere, or files that do not load here: the defaults and the options decide.
    return { missing: `the environment files do not load here (${errorText(err).split('\n')[0]})` };
  }
}

/** jitsi.auth and jitsi.security.tokenAudience of the environment's file, when it is one of them. */
function configuredMeet(configured: Configured): { auth: string; tokenAudience: string } | undefined {
  return 'config' in configured ? { auth: configured.config.jitsi.auth, tokenAudience: configured.config.jitsi.security.tokenAudience } : undefined;
}

/** What the dial-in checks expect, or why they are skipped (Jigasi off, no environment file to tell). */
type DialInPlan = { expect: DialInExpectation } | { skip: string };

const JIGASI_OFF = 'jitsi.jigasi is off in this environment: no dial-in, no conference mapper on the meet host';

async function resolveDialIn(options: SmokeOptions, configured: () => Promise<Configured>): Promise<DialInPlan> {
  if (options.dialIn === false) return { skip: JIGASI_OFF };
  if (options.dialIn !== undefined) return { expect: options.dialIn };
  const found = await configured();
  if ('missing' in found) return { skip: `${found.missing}: cannot tell whether jitsi.jigasi is on, nor which sip.dialIn.numbers the invite shows` };
  const expect = await dialInExpectationOf(found.config);
  return expect === undefined ? { skip: JIGASI_OFF } : { expect };
}

/**
 * The token material for the browser participants: the application id (`<ssm_parameter_prefix>/meet/jwt-app-id`)
 * and the secret (`.../meet/jwt-app-secret`) read from SSM with the operator's credentials, as turn-allocate reads
 * its secret; the audience from --jwt-audience, else the environment's file, else RocketChat. Never printed.
 */
async function resolveMeetAccess(options: SmokeOptions, stack: Record<string, unknown>, configured: () => Promise<Configured>): Promise<MeetAccess> {
  const meet = configuredMeet(await configured());
  if (meet?.auth === 'none') return { credentials: undefined };
  if (meet?.auth === 'internal') return { skip: 'jitsi.auth is "internal": a participant would need a Prosody account; the browser mode signs tokens (jitsi.auth "jwt")' };
  const prefix = outputValue(stack, 'ssm_parameter_prefix');
  if (prefix === undefined) return { fail: 'no ssm_parameter_prefix in the stack outputs: cannot find the Jitsi JWT parameters (meet/jwt-app-id, meet/jwt-app-secret)' };
  const read = options.readParameter ?? ((n: string) => readSsmParameter(n));
  const base = prefix.replace(/\/+$/, '');
  const [appId, secret] = await Promise.allSettled([read(`${base}/meet/jwt-app-id`), read(`${base}/meet/jwt-app-secret`)]);
  for (const [what, name, result] of [
    ['secret', `${base}/meet/jwt-app-secret`, secret],
    ['application id', `${base}/meet/jwt-app-id`, appId],
  ] as const) {
    if (result.status === 'rejected') return { fail: `cannot read the Jitsi JWT ${what} from SSM parameter ${name}: ${errorText(result.reason)}` };
  }
  const audience = options.jwtAudience ?? meet?.tokenAudience ?? DEFAULTS.jwtAudience;
  return { credentials: { appId: (appId as PromiseFulfilledResult<string>).value, secret: (secret as PromiseFulfilledResult<string>).value, audience } };
}

/**
 * The secret turn-allocate authenticates with: the given one, else the SSM parameter named, else the default
 * parameter under the stack's ssm_parameter_prefix. A parameter that was named and cannot be read fails the
 * check; a default one that cannot be read (no aws CLI, no access) skips it, saying how to give the secret.
 */
async function resolveTurnSecret(options: SmokeOptions, stack: Record<string, unknown>): Promise<TurnSecret> {
  if (options.turnSecret !== undefined && options.turnSecret !== '') return { secret: options.turnSecret, source: 'the given secret' };
  const prefix = outputValue(stack, 'ssm_parameter_prefix');
  const name = options.turnSecretParameter ?? (prefix === undefined ? undefined : defaultTurnSecretParameter(prefix));
  if (name === undefined) return { unavailable: `no TURN secret to authenticate with: ${turnSecretHint(prefix)}`, fail: false };
  const read = options.readParameter ?? ((n: string) => readSsmParameter(n));
  try {
    return { secret: await read(name), source: `SSM parameter ${name}` };
  } catch (err) {
    const why = `cannot read the TURN secret from SSM parameter ${name}: ${errorText(err)}`;
    return options.turnSecretParameter !== undefined ? { unavailable: why, fail: true } : { unavailable: `${why}; ${turnSecretHint(prefix)}`, fail: false };
  }
}

/** Runs every check not skipped, in parallel, each within its own timeout. Throws UsageError on bad input. */
export async function runSmoke(options: SmokeOptions): Promise<SmokeReport> {
  const timeoutMs = options.timeoutMs ?? DEFAULTS.timeoutMs;
  if (!(Number.isInteger(timeoutMs) && timeoutMs > 0)) throw new UsageError('--timeout must be a positive number of milliseconds');
  const browserTimeoutMs = options.browserTimeoutMs ?? DEFAULTS.browserTimeoutMs;
  if (!(Number.isInteger(browserTimeoutMs) && browserTimeoutMs >= 10_000)) throw new UsageError('--browser-timeout must be at least 10000 milliseconds');
  if (options.jwtAudience !== undefined && !/^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$/.test(options.jwtAudience)) {
    throw new UsageError(`--jwt-audience must be one audience such as RocketChat (jitsi.security.tokenAudience), got "${options.jwtAudience}"`);
  }
  validPort(options.httpsPort, '--https-port');
  validPort(options.httpPort, '--http-port');
  validPort(options.sipPort, '--sip-port');
  validPort(options.sipsPort, '--sips-port');
  validPort(options.turnPort, '--turn-port');
  validPort(options.dialInPort, 'dialInPort');
  if (options.resolver !== undefined) validateResolver(options.resolver);
  const skip = parseSkip(options.skip ?? []);
  let ca: string | undefined;
  if (options.caFile !== undefined) {
    try {
      ca = await readFile(options.caFile, 'utf8');
    } catch (err) {
      throw new UsageError(`cannot read --ca file ${options.caFile}: ${errorText(err)}`);
    }
    if (!ca.includes('-----BEGIN CERTIFICATE-----')) throw new UsageError(`--ca file ${options.caFile} holds no PEM certificate`);
  }
  const stack = selectStackOutputs(await loadOutputs(options), options.env);
  const endpoints = endpointsFromOutputs(stack);
  const skipped = (check: CheckName, component: Component): boolean => skip.some((r) => r.check === check && (r.component === undefined || r.component === component));

  // The secret is looked for (perhaps in SSM) only when turn-allocate is going to run.
  const turnSecret = skipped('turn-allocate', 'turn') || isAbsent(endpoints, 'turn') ? undefined : await resolveTurnSecret(options, stack);
  // Likewise the Jitsi JWT parameters, only when a browser check is going to run.
  const browserRuns = options.browser === true && BROWSER_CHECKS.some((c) => !skipped(c, 'meet'));
  // The environment's file is read once, and only for a check that needs it.
  let configuredOnce: Promise<Configured> | undefined;
  const configured = (): Promise<Configured> => (configuredOnce ??= configuredEnvironment(options.env));
  const meetAccess = browserRuns ? await resolveMeetAccess(options, stack, configured) : undefined;
  const dialInRuns = ['meet-dial-in', 'meet-dial-in-closed'].some((c) => !skipped(c as CheckName, 'meet'));
  const dialIn = dialInRuns ? await resolveDialIn(options, configured) : { skip: 'skipped (--skip)' };
  const plans = plansFor(endpoints, { ...options, timeoutMs }, ca, turnSecret, meetAccess, dialIn);
  const skipResult = (plan: CheckPlan, detail: string): Promise<CheckResult> =>
    Promise.resolve({ check: plan.check, component: plan.component, target: plan.target, status: 'SKIP', detail, durationMs: 0 });
  const run = (plan: CheckPlan, ms: number): Promise<CheckResult> =>
    skipped(plan.check, plan.component) ? skipResult(plan, 'skipped (--skip)') : plan.skip !== undefined ? skipResult(plan, plan.skip) : runPlan(plan, ms);
  const isBrowser = (plan: CheckPlan): boolean => BROWSER_CHECKS.includes(plan.check);
  const results = await Promise.all(plans.filter((p) => !isBrowser(p)).map((plan) => run(plan, timeoutMs)));
  // The browser checks one after the other (two participants each are enough for two cores), after the quick ones.
  for (const plan of plans.filter(isBrowser)) results.push(await run(plan, browserTimeoutMs));
  return { env: options.env, results, exitCode: results.some((r) => r.status === 'FAIL') ? 1 : 0 };
}
