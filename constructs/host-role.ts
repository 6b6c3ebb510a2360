/** A host's IAM role and instance profile: SSM Session Manager for every host, plus the role's own grants. */
import { Construct } from 'constructs';
import type { ITerraformDependable } from 'cdktf';
import { DataAwsIamPolicyDocument, type DataAwsIamPolicyDocumentStatement } from '@cdktf/provider-aws/lib/data-aws-iam-policy-document';
import { IamInstanceProfile } from '@cdktf/provider-aws/lib/iam-instance-profile';
import { IamRole } from '@cdktf/provider-aws/lib/iam-role';
import { IamRolePolicy } from '@cdktf/provider-aws/lib/iam-role-policy';

/**
 * What the SSM agent calls for itself, as AmazonSSMManagedInstanceCore allows it (without GetParameter(s)):
 * https://docs.aws.amazon.com/aws-managed-policy/latest/reference/AmazonSSMManagedInstanceCore.html
 */
export const SSM_AGENT_ACTIONS = {
  ssm: [
    'DescribeAssociation',
    'GetDeployablePatchSnapshotForInstance',
    'GetDocument',
    'DescribeDocument',
    'GetManifest',
    'ListAssociations',
    'ListInstanceAssociations',
    'PutInventory',
    'PutComplianceItems',
    'PutConfigurePackageResult',
    'UpdateAssociationStatus',
    'UpdateInstanceAssociationStatus',
    'UpdateInstanceInformation',
  ],
  ssmmessages: ['CreateControlChannel', 'CreateDataChannel', 'OpenControlChannel', 'OpenDataChannel'],
  ec2messages: ['AcknowledgeMessage', 'DeleteMessage', 'FailMessage', 'GetEndpoint', 'GetMessages', 'SendReply'],
} as const;

/** The parts of an ARN in this environment (the stack's partition, region and account). */
export interface ArnParts {
  readonly partition: string;
  readonly region: string;
  readonly account: string;
}

/** A CloudWatch Logs log group's ARN. */
export const logGroupArnOf = (arn: ArnParts, name: string): string => `arn:${arn.partition}:logs:${arn.region}:${arn.account}:log-group:${name}`;

/** What the CloudWatch agent and the hosts' publishers may call (userdata/cloudwatch-agent.ts). */
export interface MetricsAndLogsGrant {
  /** The namespaces it may publish to (cloudwatch:namespace): the agent's CWAgent and the environment's WeeBeeTalk/<env>. */
  readonly namespaces: readonly string[];
  /** The ARNs (logGroupArnOf) of the log groups it ships to, its own only; none on a pool member. */
  readonly logGroupArns: readonly string[];
}

export interface HostRoleProps {
  /** Role and profile name, e.g. "weebeetalk-staging-chat". */
  readonly name: string;
  /** Least-privilege grants of this role; each names its resources (more through `grant`). @default none */
  readonly statements?: DataAwsIamPolicyDocumentStatement[];
}

export class HostRole extends Construct {
  readonly role: IamRole;
  readonly profile: IamInstanceProfile;
  /** The role's grants: a host booting before they exist fails to read its secrets. */
  readonly policy: IamRolePolicy;
  /** What a host on this role must not boot before: the grants' policy and every secret it was granted. */
  readonly prerequisites: ITerraformDependable[];
  private readonly grants: DataAwsIamPolicyDocument;
  private readonly agent: DataAwsIamPolicyDocumentStatement[];
  private readonly statements: DataAwsIamPolicyDocumentStatement[];

  constructor(scope: Construct, id: string, props: HostRoleProps) {
    super(scope, id);
    const trust = new DataAwsIamPolicyDocument(this, 'trust', {
      statement: [{ actions: ['sts:AssumeRole'], principals: [{ type: 'Service', identifiers: ['ec2.amazonaws.com'] }] }],
    });
    this.role = new IamRole(this, 'role', {
      name: props.name,
      description: `WeeBeeTalk host ${props.name}`,
      assumeRolePolicy: trust.json,
    });
    // The SSM agent (Session Manager instead of SSH keys, State Manager for configuration) with the actions of AWS's
    // AmazonSSMManagedInstanceCore, on "*" as there: the agent's calls do not take narrower resources. Not the managed
    // policy itself: it also grants ssm:GetParameter(s) on every parameter, so any host could read the others' secrets.
    this.agent = [
      { sid: 'SsmAgent', actions: SSM_AGENT_ACTIONS.ssm.map((a) => `ssm:${a}`), resources: ['*'] },
      { sid: 'SessionManagerChannels', actions: SSM_AGENT_ACTIONS.ssmmessages.map((a) => `ssmmessages:${a}`), resources: ['*'] },
      { sid: 'SsmAgentMessages', actions: SSM_AGENT_ACTIONS.ec2messages.map((a) => `ec2messages:${a}`), resources: ['*'] },
    ];
    this.statements = [...(props.statements ?? [])];
    this.grants = new DataAwsIamPolicyDocument(this, 'grants', { statement: [...this.agent, ...this.statements] });
    this.policy = new IamRolePolicy(this, 'grants-policy', { name: 'weebeetalk-host', role: this.role.id, policy: this.grants.json });
    this.prerequisites = [this.policy];
    this.profile = new IamInstanceProfile(this, 'profile', { name: props.name, role: this.role.name });
  }

  /**
   * The CloudWatch agent's and the host's publishers' calls, least privilege: PutMetricData (which takes no resource but
   * "*") only into the given namespaces; its log events only into its own log groups' streams. Nothing creates a log
   * group (no logs:CreateLogGroup: constructs/observability.ts creates them with their retention) or sets retention;
   * no ec2:DescribeTags either: the agent needs it only for ${aws:AutoScalingGroupName} or tag dimensions, and Host is
   * written into its configuration instead.
   */
  grantMetricsAndLogs(grant: MetricsAndLogsGrant): void {
    this.grant([
      {
        sid: 'PublishHostMetrics',
        actions: ['cloudwatch:PutMetricData'],
        resources: ['*'],
        condition: [{ test: 'StringEquals', variable: 'cloudwatch:namespace', values: [...grant.namespaces] }],
      },
      ...(grant.logGroupArns.length > 0
        ? [
            {
              sid: 'ShipHostLogs',
              actions: ['logs:CreateLogStream', 'logs:PutLogEvents', 'logs:DescribeLogStreams'],
              // The group (CreateLogStream, DescribeLogStreams) and its streams (PutLogEvents: log-group:NAME:log-stream:STREAM).
              resources: grant.logGroupArns.flatMap((arn) => [arn, `${arn}:*`]),
            },
          ]
        : []),
    ]);
  }

  /**
   * Adds grants after the agent's and the earlier ones, in call order (the constructs' grant methods call it:
   * PrivateBucket.grantReadWrite, Secrets.grantRead, Dns.grantAcmeChallenge). `needs`: what must exist before a
   * host on this role boots (e.g. the parameters it reads).
   */
  grant(statements: readonly DataAwsIamPolicyDocumentStatement[], needs: readonly ITerraformDependable[] = []): void {
    // IAM refuses a policy with two statements of one Sid: a second grant of the same kind must say so here, at synth.
    const taken = new Set([...this.agent, ...this.statements].map((st) => st.sid).filter((sid) => sid !== undefined));
    for (const st of statements)
      if (st.sid !== undefined && taken.has(st.sid))
        throw new Error(`HostRole ${this.node.path}: a statement with Sid ${st.sid} is granted already (grant once per resource kind, or give the grant its own Sid)`);
    this.statements.push(...statements);
    this.grants.putStatement([...this.agent, ...this.statements]);
    this.prerequisites.push(...needs);
  }
}
