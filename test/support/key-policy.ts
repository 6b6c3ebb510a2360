/**
 * AWS KMS's authorization of one request on one key, evaluated offline from a synthesized key policy and the caller's
 * IAM policies (AWS KMS Developer Guide, "Key policies" and "Determining access to an AWS KMS key"):
 * - an explicit Deny in the key policy or the caller's IAM policies wins;
 * - otherwise a key policy Allow whose principal is the caller (its ARN, or "*" under conditions the request meets)
 *   allows by itself;
 * - a key policy Allow to the account ("arn:aws:iam::<account>:root") only lets IAM decide: the caller's own IAM
 *   policies must then allow the request;
 * - else denied. No grants are modelled.
 * The conditions are those of test/support/boot/policy.ts (the same evaluator, per statement).
 */
import { evaluate, type PolicyStatement, type RequestContext } from './boot/policy';
import { asArray, asObject, asStrings, type Item } from './synth';

export interface KeyPolicyStatement extends PolicyStatement {
  /** Principals of type AWS (ARNs, account roots or "*"); a statement without principals matches nobody. */
  readonly principals: readonly string[];
  /** Principals of type Service (e.g. logs.<region>.amazonaws.com): they match only a service's request (authorizeKeyForService). @default none */
  readonly services?: readonly string[];
}

export interface KeyRequest {
  /** The caller's ARN as aws:PrincipalArn carries it (a role's, not its session's). */
  readonly principalArn: string;
  readonly action: string;
  /** Other request context: kms:ViaService, kms:GrantIsForAWSResource... (aws:PrincipalArn and aws:PrincipalAccount are added). */
  readonly context?: RequestContext;
  /** The caller's IAM statements (identity-based). @default none */
  readonly iam?: readonly PolicyStatement[];
}

export type KeyDecision = 'allow' | 'explicit-deny' | 'implicit-deny';

/** The statements of a key policy synthesized as an aws_iam_policy_document, with `${...}` references replaced by `values`. */
export function keyPolicyStatements(doc: Item, values: Readonly<Record<string, string>>): KeyPolicyStatement[] {
  const resolve = (s: string): string => s.replace(/\$\{([^}]+)\}/g, (m, ref: string) => values[ref] ?? m);
  const strings = (v: unknown, what: string): string[] => (v === undefined ? [] : asStrings(v, what).map(resolve));
  return asArray(doc.block.statement, 'statement').map((raw, i) => {
    const st = asObject(raw, `statement[${i}]`);
    const principals = st.principals === undefined ? [] : asArray(st.principals, 'principals').map((p) => asObject(p, 'principal'));
    for (const p of principals) if (p.type !== 'AWS' && p.type !== 'Service') throw new Error(`statement ${String(st.sid)}: principal type ${String(p.type)} is not modelled`);
    if (st.not_principals !== undefined) throw new Error(`statement ${String(st.sid)}: not_principals is not modelled`);
    return {
      sid: typeof st.sid === 'string' ? st.sid : undefined,
      effect: st.effect === 'Deny' ? 'Deny' : 'Allow',
      principals: principals.filter((p) => p.type === 'AWS').flatMap((p) => strings(p.identifiers, 'identifiers')),
      services: principals.filter((p) => p.type === 'Service').flatMap((p) => strings(p.identifiers, 'identifiers')),
      actions: strings(st.actions, 'actions'),
      notActions: strings(st.not_actions, 'not_actions'),
      resources: strings(st.resources, 'resources'),
      notResources: strings(st.not_resources, 'not_resources'),
      conditions:
        st.condition === undefined
          ? []
          : asArray(st.condition, 'condition').map((c) => {
              const cond = asObject(c, 'condition');
              return { ...cond, values: strings(cond.values, 'values') };
            }),
    };
  });
}

function accountOf(arn: string): string {
  const account = arn.split(':')[4];
  if (account === undefined || !/^\d{12}$/.test(account)) throw new Error(`not an IAM ARN: ${arn}`);
  return account;
}

/** How a key policy principal names the caller: directly ("*" or its ARN), through its account (IAM decides), or not. */
function names(principal: string, caller: string): 'direct' | 'account' | undefined {
  if (principal === '*' || principal === caller) return 'direct';
  if (/^arn:aws[a-z-]*:iam::\d{12}:root$/.test(principal) && accountOf(principal) === accountOf(caller)) return 'account';
  if (/^\d{12}$/.test(principal) && principal === accountOf(caller)) return 'account';
  return undefined;
}

/** KMS's decision on `request` against the key `keyArn` under `policy`. */
export function authorizeKey(policy: readonly KeyPolicyStatement[], keyArn: string, request: KeyRequest): KeyDecision {
  const context: RequestContext = { 'aws:PrincipalArn': [request.principalArn], 'aws:PrincipalAccount': [accountOf(request.principalArn)], ...(request.context ?? {}) };
  const iam = request.iam ?? [];
  const applying = (how: 'direct' | 'account') => policy.filter((st) => st.principals.some((p) => names(p, request.principalArn) === how));
  const all = [...applying('direct'), ...applying('account')];
  if (evaluate([...all.filter((st) => st.effect === 'Deny'), ...iam.filter((st) => st.effect === 'Deny')], request.action, keyArn, context) === 'explicit-deny') return 'explicit-deny';
  if (evaluate(applying('direct'), request.action, keyArn, context) === 'allow') return 'allow';
  if (evaluate(applying('account'), request.action, keyArn, context) === 'allow' && evaluate(iam, request.action, keyArn, context) === 'allow') return 'allow';
  return 'implicit-deny';
}

/**
 * KMS's decision on a request an AWS service makes as its own service principal (CloudWatch Logs encrypting a log
 * group, CloudWatch publishing to an encrypted topic): only key policy statements naming that service (or "*")
 * apply; IAM plays no part (a service principal has no identity policies).
 */
export function authorizeKeyForService(
  policy: readonly KeyPolicyStatement[],
  keyArn: string,
  request: { readonly service: string; readonly action: string; readonly context?: RequestContext },
): KeyDecision {
  const context: RequestContext = { 'aws:PrincipalServiceName': [request.service], ...(request.context ?? {}) };
  const applying = policy.filter((st) => (st.services ?? []).includes(request.service) || st.principals.includes('*'));
  const denies = applying.filter((st) => st.effect === 'Deny');
  const allows = applying.filter((st) => st.effect === 'Allow');
  if (evaluate(denies, request.action, keyArn, context) === 'explicit-deny') return 'explicit-deny';
  if (evaluate(allows, request.action, keyArn, context) === 'allow') return 'allow';
  return 'implicit-deny';
}
