/**
 * An ephemeral block (Terraform >= 1.10): a value Terraform opens during plan and apply and never stores in a plan
 * or state file. cdktf 0.21 has no class for ephemeral blocks, so this element writes its own `ephemeral` section
 * into the stack's JSON; its values may go only to write-only attributes (e.g. aws_ssm_parameter.value_wo) or to
 * other ephemeral blocks, which Terraform itself enforces.
 */
import type { Construct } from 'constructs';
import { TerraformElement } from 'cdktf';

export interface EphemeralResourceProps {
  /** The provider's ephemeral resource type, e.g. aws_secretsmanager_random_password. */
  readonly type: string;
  /** Its arguments, in Terraform's (snake_case) names. */
  readonly config: Readonly<Record<string, unknown>>;
  /** A Terraform expression for `count` (the block then is a list: see attribute's index). @default one instance */
  readonly count?: string;
}

export class EphemeralResource extends TerraformElement {
  readonly type: string;
  private readonly props: EphemeralResourceProps;

  constructor(scope: Construct, id: string, props: EphemeralResourceProps) {
    super(scope, id, `ephemeral.${props.type}`);
    this.type = props.type;
    this.props = props;
  }

  /** `ephemeral.<type>.<name>`, for expressions such as length(...). */
  get address(): string {
    return `ephemeral.${this.type}.${this.friendlyUniqueId}`;
  }

  /** A reference to one of its attributes; `index` for a counted block. */
  attribute(name: string, index?: number): string {
    return `\${${this.address}${index === undefined ? '' : `[${index}]`}.${name}}`;
  }

  override toTerraform(): Record<string, unknown> {
    const block: Record<string, unknown> = { ...this.props.config };
    if (this.props.count !== undefined) block.count = this.props.count;
    return { ephemeral: { [this.type]: { [this.friendlyUniqueId]: block } } };
  }
}
