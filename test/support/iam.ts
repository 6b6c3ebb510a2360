/**
 * Reads the hosts' IAM out of a synthesized plan and evaluates it offline: which actions on which resources a
 * host's role is allowed, counting the AWS managed policies attached to it (their documents are not in the plan,
 * so the parts that matter are written down here from the AWS managed policy reference).
 */
import { resourceNameOf } from '../../config/names';
import { POOLS, type AnyRole } from '../../config/schema';
import { glob, type PolicyStatement } from './boot/policy';
import { asArray, asObject, asStrings, dataSources, isObject, one, referenced, resources, single, type Item, type Synthesized } from './synth';

/** A statement as synthesized; the boot stand-ins' evaluator reads the same shape. */
export type Statement = PolicyStatement;

/**
 * AWS managed policies a host may carry, with what they grant. AmazonSSMManagedInstanceCore (v2, the default
 * version since 2019-05-23; https://docs.aws.amazon.com/aws-managed-policy/latest/reference/AmazonSSMManagedInstanceCore.html)
 * allows, among the agent's messaging calls, ssm:GetParameter and ssm:GetParameters on every resource ("*").
 */
export const MANAGED_POLICIES: Record<string, readonly Statement[]> = {
  AmazonSSMManagedInstanceCore: [
    allow(
      [
        'ssm:DescribeAssociation',
        'ssm:GetDeployablePatchSnapshotForInstance',
        'ssm:GetDocument',
        'ssm:DescribeDocument',
        'ssm:GetManifest',
        'ssm:GetParameter',
        'ssm:GetParameters',
        'ssm:ListAssociations',
        'ssm:ListInstanceAssociations',
        'ssm:PutInventory',
        'ssm:PutComplianceItems',
        'ssm:PutConfigurePackageResult',
        'ssm:UpdateAssociationStatus',
        'ssm:UpdateInstanceAssociationStatus',
        'ssm:UpdateInstanceInformation',
      ],
      ['*'],
    ),
    allow(['ssmmessages:CreateControlChannel', 'ssmmessages:CreateDataChannel', 'ssmmessages:OpenControlChannel', 'ssmmessages:OpenDataChannel'], ['*']),
    allow(['ec2messages:AcknowledgeMessage', 'ec2messages:DeleteMessage', 'ec2messages:FailMessage', 'ec2messages:GetEndpoint', 'ec2messages:GetMessages', 'ec2messages:SendReply'], ['*']),
  ],
};

function allow(actions: string[], res: string[]): Statement {
  return { effect: 'Allow', actions, notActions: [], resources: res, notResources: [], conditions: [] };
}

const optionalStrings = (v: unknown, what: string): string[] => (v === undefined ? [] : asStrings(v, what));

/** Statements of an aws_iam_policy_document data source. */
export function documentStatements(doc: Item): Statement[] {
  return asArray(doc.block.statement, `${doc.address}.statement`).map((raw, i) => {
    const st = asObject(raw, `${doc.address}.statement[${i}]`);
    const effect = st.effect ?? 'Allow';
    if (effect !== 'Allow' && effect !== 'Deny') throw new Error(`${doc.address}: effect ${String(effect)}`);
    return {
      sid: typeof st.sid === 'string' ? st.sid : undefined,
      effect,
      actions: optionalStrings(st.actions, 'actions'),
      notActions: optionalStrings(st.not_actions, 'not_actions'),
      resources: optionalStrings(st.resources, 'resources'),
      notResources: optionalStrings(st.not_resources, 'not_resources'),
      conditions: st.condition === undefined ? [] : asArray(st.condition, 'condition').map((c) => asObject(c, 'condition')),
    };
  });
}

function statementMatches(st: Statement, action: string, resource: string): boolean {
  const actionOk = st.actions.length > 0 ? st.actions.some((a) => glob(a, action, true)) : !st.notActions.some((a) => glob(a, action, true));
  const resourceOk = st.resources.length > 0 ? st.resources.some((r) => glob(r, resource, false)) : st.notResources.length > 0 && !st.notResources.some((r) => glob(r, resource, false));
  return actionOk && resourceOk;
}

/**
 * Whether the statements allow an action on a resource. Conservative for a "must not" check: an Allow counts
 * even with a condition, a Deny only counts when unconditional.
 */
export function allows(statements: readonly Statement[], action: string, resource: string): boolean {
  if (statements.some((st) => st.effect === 'Deny' && st.conditions.length === 0 && statementMatches(st, action, resource))) return false;
  return statements.some((st) => st.effect === 'Allow' && statementMatches(st, action, resource));
}

export interface HostIam {
  readonly role: Item;
  /** Statements of the role's inline policies (aws_iam_role_policy). */
  readonly inline: readonly Statement[];
  /** ARNs of the managed policies attached to the role. */
  readonly managedArns: readonly string[];
  /** inline + the known managed policies' statements: what the host can really do. */
  readonly effective: readonly Statement[];
}

/**
 * The IAM of a host, found from its instance (instance -> instance profile -> role -> policies), or of a pool's
 * members, found from their launch template.
 */
export function hostIam(s: Synthesized, role: AnyRole): HostIam {
  const name = resourceNameOf(s.config, role);
  const profiles = resources(s, 'aws_iam_instance_profile');
  const profile = (POOLS as readonly string[]).includes(role)
    ? referenced(profiles, one(single(resources(s, 'aws_launch_template'), `launch template ${name}`, (t) => t.block.name === name).block.iam_instance_profile, 'iam_instance_profile').name)
    : referenced(profiles, single(resources(s, 'aws_instance'), `instance ${name}`, (i) => isObject(i.block.tags) && i.block.tags.Name === name).block.iam_instance_profile);
  return profileIam(s, profile, name);
}

/** The IAM of an instance profile: its role and the role's policies (inline and the known managed ones). */
export function profileIam(s: Synthesized, profile: Item, name: string): HostIam {
  const iamRole = referenced(resources(s, 'aws_iam_role'), profile.block.role);
  if (iamRole.block.inline_policy !== undefined || iamRole.block.managed_policy_arns !== undefined) throw new Error(`${iamRole.address} declares policies inline on the role; read them here too`);
  const refs = [iamRole.ref('id'), iamRole.ref('name')];
  const docs = dataSources(s, 'aws_iam_policy_document');
  const inline = resources(s, 'aws_iam_role_policy')
    .filter((p) => refs.includes(String(p.block.role)))
    .flatMap((p) => documentStatements(referenced(docs, p.block.policy)));
  const managedArns = resources(s, 'aws_iam_role_policy_attachment')
    .filter((a) => refs.includes(String(a.block.role)))
    .map((a) => String(a.block.policy_arn));
  const effective = [
    ...inline,
    ...managedArns.flatMap((arn) => {
      const known = /^arn:aws[a-z-]*:iam::aws:policy\//.test(arn) ? MANAGED_POLICIES[arn.split('/').pop() ?? ''] : undefined;
      if (!known) throw new Error(`${name}: managed policy ${arn} is not described in test/support/iam.ts; add what it grants`);
      return known;
    }),
  ];
  return { role: iamRole, inline, managedArns, effective };
}
