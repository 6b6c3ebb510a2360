/**
 * The audit of one synthesized stack: its security-group matrix (matrix.ts) and resource checks (checks.ts),
 * with every violation together. The synthesis gate (aspect.ts) and the report (report.ts) share it.
 */
import type { EnvironmentConfig } from '../../config/schema';
import { bucketChecks, groupChecks, instanceChecks, keyChecks, type Check } from './checks';
import type { Finding } from './finding';
import { collectGroups, securityGroupMatrix, type GroupMatrix } from './matrix';
import { privacyAudit, type PrivacySetting } from './privacy';
import { isObject, str, type Json } from './plan';

export interface StackAudit {
  readonly environment: string;
  readonly groups: readonly GroupMatrix[];
  readonly checks: readonly Check[];
  /** The privacy settings in force (privacy.ts); the ones the policy requires are also checks. */
  readonly privacy: readonly PrivacySetting[];
  /** Every violation of the stack, matrix and checks together. */
  readonly findings: readonly Finding[];
  readonly accepted: number;
}

/** Audits one synthesized stack against the policy of its environment. */
export function auditStack(tf: Json, env: EnvironmentConfig): StackAudit {
  if (!isObject(tf)) throw new Error('audit: the synthesized stack is not a JSON object');
  const meta = isObject(tf['//']) && isObject(tf['//'].metadata) ? tf['//'].metadata : undefined;
  const stack = str(meta?.stackName) ?? env.name;
  const groups = collectGroups(tf, env);
  const matrices = securityGroupMatrix(tf, env, groups);
  const privacy = privacyAudit(tf, stack, env);
  const checks: Check[] = [...groupChecks(stack, groups), ...instanceChecks(tf, stack), ...bucketChecks(tf, stack), ...keyChecks(tf, stack, env.kms.customerManagedKey), ...privacy.checks];
  const allRows = matrices.flatMap((m) => m.rows);
  return {
    environment: env.name,
    groups: matrices,
    checks,
    privacy: privacy.settings,
    findings: [...allRows.flatMap((r) => r.findings), ...checks.flatMap((c) => c.findings)],
    accepted: allRows.filter((r) => r.verdict === 'accepted').length,
  };
}
