/**
 * IAM policy evaluation as AWS does it for one identity-based policy set, conditions included: an explicit
 * Deny wins, then an Allow whose action, resource and every condition match, else the implicit deny.
 * Self-contained (no cdktf imports): the boot stand-in server runs it inside the sandbox.
 */

export interface PolicyStatement {
  readonly sid?: string;
  readonly effect: 'Allow' | 'Deny';
  readonly actions: readonly string[];
  readonly notActions: readonly string[];
  readonly resources: readonly string[];
  readonly notResources: readonly string[];
  /** As synthesized: { test, variable, values }. */
  readonly conditions: readonly Record<string, unknown>[];
}

/** Request context: condition key (case-insensitive in IAM) to its values; absent keys are missing. */
export type RequestContext = Readonly<Record<string, readonly string[]>>;

export type Decision = 'allow' | 'explicit-deny' | 'implicit-deny';

/** IAM wildcard match: `*` any run, `?` one character; actions compare case-insensitively. */
export function glob(pattern: string, value: string, ignoreCase: boolean): boolean {
  const re = new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
    ignoreCase ? 'i' : '',
  );
  return re.test(value);
}

function contextValues(context: RequestContext, key: string): readonly string[] | undefined {
  const hit = Object.keys(context).find((k) => k.toLowerCase() === key.toLowerCase());
  return hit === undefined ? undefined : context[hit];
}

/** One condition operator on one value (single-valued semantics). */
function compare(operator: string, actual: string, expected: readonly string[]): boolean {
  switch (operator) {
    case 'StringEquals':
    case 'ArnEquals':
      return expected.includes(actual);
    case 'StringEqualsIgnoreCase':
      return expected.some((e) => e.toLowerCase() === actual.toLowerCase());
    case 'StringLike':
    case 'ArnLike':
      return expected.some((e) => glob(e, actual, false));
    case 'Bool':
      return expected.some((e) => e.toLowerCase() === actual.toLowerCase());
    default:
      throw new Error(`condition operator ${operator} is not implemented in test/support/boot/policy.ts`);
  }
}

function conditionHolds(condition: Record<string, unknown>, context: RequestContext): boolean {
  const test = String(condition.test);
  const variable = String(condition.variable);
  const expected = (condition.values as unknown[]).map(String);
  const actual = contextValues(context, variable);
  const [qualifier, operator] = test.includes(':') ? test.split(':') : ['', test];
  const negated = operator.startsWith('StringNot') || operator.startsWith('ArnNot');
  const base = negated ? operator.replace('Not', '') : operator;
  if (qualifier === 'ForAllValues') {
    // Every value in the request must match one of the policy's; true when the key is absent or empty (AWS docs).
    if (actual === undefined || actual.length === 0) return true;
    return actual.every((a) => compare(base, a, expected) !== negated);
  }
  if (qualifier === 'ForAnyValue') {
    if (actual === undefined || actual.length === 0) return false;
    return actual.some((a) => compare(base, a, expected) !== negated);
  }
  if (qualifier !== '') throw new Error(`condition qualifier ${qualifier} is not implemented`);
  if (actual === undefined || actual.length === 0) return negated;
  if (actual.length > 1) throw new Error(`${variable} is multi-valued: a single-valued operator ${test} does not apply`);
  return compare(base, actual[0], expected) !== negated;
}

function matches(st: PolicyStatement, action: string, resource: string, context: RequestContext): boolean {
  const actionOk = st.actions.length > 0 ? st.actions.some((a) => glob(a, action, true)) : !st.notActions.some((a) => glob(a, action, true));
  const resourceOk = st.resources.length > 0 ? st.resources.some((r) => glob(r, resource, false)) : st.notResources.length > 0 && !st.notResources.some((r) => glob(r, resource, false));
  return actionOk && resourceOk && st.conditions.every((c) => conditionHolds(c, context));
}

export function evaluate(statements: readonly PolicyStatement[], action: string, resource: string, context: RequestContext = {}): Decision {
  if (statements.some((st) => st.effect === 'Deny' && matches(st, action, resource, context))) return 'explicit-deny';
  return statements.some((st) => st.effect === 'Allow' && matches(st, action, resource, context)) ? 'allow' : 'implicit-deny';
}
