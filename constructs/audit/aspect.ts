/**
 * The synthesis gate: an Aspect that audits the stack as it will be synthesized (stack-audit.ts, the same rules the
 * report prints) and puts an error annotation on every offending resource. `cdktf synth`, `app.synth()` and
 * `Testing.fullSynth()` then fail, naming the construct, the rule and the fix. (`Testing.synth()` ignores
 * annotations: test the gate through a path that fails.)
 */
import type { IConstruct } from 'constructs';
import { AnnotationMetadataEntryType, Annotations, Aspects, type IAspect, TerraformStack } from 'cdktf';
import type { EnvironmentConfig } from '../../config/schema';
import { findingMessage } from './finding';
import type { Json } from './plan';
import { auditStack } from './stack-audit';

export class SecurityAuditAspect implements IAspect {
  constructor(
    private readonly stack: TerraformStack,
    private readonly config: EnvironmentConfig,
    private readonly onPlan?: (plan: Json) => void,
  ) {}

  visit(node: IConstruct): void {
    // Aspects visit the stack before its children: the tree is complete, and one evaluation covers it all.
    if (node !== this.stack) return;
    const plan = this.stack.toTerraform() as Json;
    this.onPlan?.(plan);
    const audit = auditStack(plan, this.config);
    const byPath = new Map(this.stack.node.findAll().map((c) => [c.node.path, c]));
    for (const finding of audit.findings) {
      const target = byPath.get(finding.path) ?? this.stack;
      const message = findingMessage(finding);
      // A second synthesis of the same tree visits again: annotate once.
      if (!target.node.metadata.some((m) => m.type === AnnotationMetadataEntryType.ERROR && m.data === message)) Annotations.of(target).addError(message);
    }
  }
}

/**
 * Gates the stack on the audit policy (constructs/audit/policy.ts). Call once, at the end of the stack constructor.
 * `onPlan` receives the plan the audit judged (the stack may keep it: nothing changes it before synthesis writes it).
 */
export function applyAudit(stack: TerraformStack, config: EnvironmentConfig, onPlan?: (plan: Json) => void): void {
  Aspects.of(stack).add(new SecurityAuditAspect(stack, config, onPlan));
}
