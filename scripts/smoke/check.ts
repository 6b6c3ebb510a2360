/**
 * What every smoke check shares: the names and results, the options, the usage error, the errors an operator
 * reads, and how one check runs within its own timeout (runPlan), saying where it got stuck when it times out.
 */
import * as net from 'node:net';
import { ROLES, type Role } from '../../config/schema';
import type { DialInExpectation } from './dial-in';

/** A component is a role's host: every role of the registry (config/schema.ts ROLES) is smoke-checked. */
export type Component = Role;
export type CheckName = 'dns' | 'https' | 'http-redirect' | 'meet-dial-in' | 'meet-dial-in-closed' | 'sip' | 'sip-tls' | 'turn-tls' | 'turn-allocate' | 'meet-browser' | 'meet-browser-turn';
export type Status = 'PASS' | 'FAIL' | 'SKIP';

export const CHECK_NAMES: readonly CheckName[] = [
  'dns',
  'https',
  'http-redirect',
  'meet-dial-in',
  'meet-dial-in-closed',
  'sip',
  'sip-tls',
  'turn-tls',
  'turn-allocate',
  'meet-browser',
  'meet-browser-turn',
];
/** The browser mode's checks (scripts/smoke/browser.ts): only with --browser, one after the other, each with browserTimeoutMs. */
export const BROWSER_CHECKS: readonly CheckName[] = ['meet-browser', 'meet-browser-turn'];
export const COMPONENTS: readonly Component[] = ROLES;
/**
 * Hosts an environment may not have (the TURN relay: `turn.enabled`, off in staging). Without any of its outputs
 * such a component's checks are skipped; with only some of them they fail, as for every other component.
 */
export const OPTIONAL_COMPONENTS: readonly Component[] = ['turn'];

/** `a, b or c`: the components in prose, for messages. */
export function componentList(conjunction: string): string {
  return COMPONENTS.length < 2 ? COMPONENTS.join('') : `${COMPONENTS.slice(0, -1).join(', ')} ${conjunction} ${COMPONENTS[COMPONENTS.length - 1]}`;
}

export const DEFAULTS = { timeoutMs: 5000, httpsPort: 443, httpPort: 80, sipPort: 5060, sipsPort: 5061, turnPort: 443, browserTimeoutMs: 90_000, jwtAudience: 'RocketChat' } as const;

export interface CheckResult {
  check: CheckName;
  component: Component;
  target: string;
  status: Status;
  detail: string;
  durationMs: number;
}

export interface SmokeOptions {
  /** Stack name: selects the stack in a cdktf outputs file, and is what `cdktf output` is run for. */
  env?: string;
  /** Path of a cdktf outputs JSON file; without it (and without `outputs`) `npx cdktf output` is run. */
  outputsFile?: string;
  /** Already-parsed outputs JSON (same shapes as the file). */
  outputs?: unknown;
  /** DNS server `ip`, `ip:port` or `[ipv6]:port`; default: the system resolver configuration. */
  resolver?: string;
  timeoutMs?: number;
  /** Overrides every HTTPS port; otherwise a port in `<role>_url` is used, else 443. */
  httpsPort?: number;
  httpPort?: number;
  sipPort?: number;
  sipsPort?: number;
  /** TURN over TLS port (default 443; not changed by httpsPort: the relay is not an HTTPS server). */
  turnPort?: number;
  /** The TURN relay's shared secret (coturn's static-auth-secret) for turn-allocate; the CLI passes WBT_TURN_SECRET here. */
  turnSecret?: string;
  /**
   * SSM parameter holding that secret, read with the aws CLI when turnSecret is not given. Without either, the
   * default `<ssm_parameter_prefix output>/turn/static-auth-secret` is tried, and turn-allocate is skipped if unreadable.
   */
  turnSecretParameter?: string;
  /** Reads an SSM parameter (default: `aws ssm get-parameter`, scripts/smoke/turn.ts readSsmParameter). */
  readParameter?: (name: string) => Promise<string>;
  /** The browser mode: meet-browser (and meet-browser-turn where there is a TURN relay) run after the other checks. */
  browser?: boolean;
  /** Each browser check's whole budget (default DEFAULTS.browserTimeoutMs). */
  browserTimeoutMs?: number;
  /** The Chromium the participants run in (default /usr/bin/chromium). */
  chromiumPath?: string;
  /** The token audience (`aud`); default: jitsi.security.tokenAudience of the environment's file, else RocketChat. */
  jwtAudience?: string;
  /**
   * What meet-dial-in and meet-dial-in-closed expect; false: Jigasi is off (both skipped). Default: from the
   * environment's file (jitsi.jigasi, sip.dialIn.numbers, the meet host's planned private address); without a file
   * for the environment both are skipped, saying so.
   */
  dialIn?: DialInExpectation | false;
  /** The mapper's port, which meet-dial-in-closed must find closed on the meet host's public address (default DIAL_IN_MAPPER_PORT; tests aim it at the fixture). */
  dialInPort?: number;
  /** PEM file whose certificates replace the default trusted CAs. */
  caFile?: string;
  /** Check names (`sip`) or check:component (`https:meet`). */
  skip?: string[];
}

export interface SmokeReport {
  env?: string;
  results: CheckResult[];
  exitCode: 0 | 1;
}

/** Bad arguments or unusable outputs: nothing was checked, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function errorCode(err: unknown): string | undefined {
  return isRecord(err) && typeof err.code === 'string' ? err.code : undefined;
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Error text that keeps the errno code, which is what an operator searches for. */
export function netErrorText(err: unknown): string {
  const code = errorCode(err);
  const msg = errorText(err);
  if (code === 'ECONNREFUSED') return `connection refused (${code}): nothing listening, or the service is down`;
  if (code === 'ECONNRESET') return `connection reset by peer (${code})`;
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH') return `host/network unreachable (${code})`;
  return code && !msg.includes(code) ? `${code}: ${msg}` : msg;
}

export function hostPort(ip: string, port: number): string {
  return net.isIPv6(ip) ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/** What a check reports while running, so a timeout can say where it got stuck. */
export interface CheckContext {
  signal: AbortSignal;
  stage(text: string): void;
}

export interface Outcome {
  ok: boolean;
  detail: string;
}

export interface CheckPlan {
  check: CheckName;
  component: Component;
  target: string;
  run(ctx: CheckContext): Promise<Outcome>;
  /** Check-specific explanation of a timeout (e.g. "SIP only answers allowed networks"). */
  timeoutHint?: string;
  /** Known before running: the check cannot run (no such host in this environment, no secret); the reason. */
  skip?: string;
}

class CheckTimeout extends Error {}

export async function runPlan(plan: CheckPlan, timeoutMs: number): Promise<CheckResult> {
  const started = Date.now();
  const controller = new AbortController();
  let stage = 'starting';
  const timer = setTimeout(() => controller.abort(new CheckTimeout()), timeoutMs);
  const aborted = new Promise<never>((_, reject) => controller.signal.addEventListener('abort', () => reject(controller.signal.reason), { once: true }));
  const finish = (status: Status, detail: string): CheckResult => ({
    check: plan.check,
    component: plan.component,
    target: plan.target,
    status,
    detail,
    durationMs: Date.now() - started,
  });
  try {
    const outcome = await Promise.race([plan.run({ signal: controller.signal, stage: (s) => (stage = s) }), aborted]);
    return finish(outcome.ok ? 'PASS' : 'FAIL', outcome.detail);
  } catch (err) {
    if (err instanceof CheckTimeout) {
      return finish('FAIL', `timed out after ${timeoutMs} ms while ${stage}${plan.timeoutHint ? ` — ${plan.timeoutHint}` : ''}`);
    }
    return finish('FAIL', netErrorText(err));
  } finally {
    clearTimeout(timer);
    // Aborting after the fact closes whatever sockets the check still holds.
    if (!controller.signal.aborted) controller.abort(new Error('check finished'));
  }
}
