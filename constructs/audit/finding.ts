/**
 * A violation of the audit policy (policy.ts), wherever the audit found it: a security-group rule of the matrix
 * (matrix.ts) or a resource check (checks.ts); and the one error text the gate and the report both print.
 */
import { ruleById, type RuleId } from './policy';

/** A violation: the rule, the Terraform address and construct path of the resource, and what is wrong. */
export interface Finding {
  readonly rule: RuleId;
  readonly address: string;
  readonly path: string;
  readonly detail: string;
}

/** The error text of a finding: rule, resource, what is wrong, and the fix. */
export function findingMessage(f: Finding): string {
  const rule = ruleById(f.rule);
  return `${f.rule} ${rule.title}: ${f.address} (${f.detail}). Fix: ${rule.fix}.`;
}
