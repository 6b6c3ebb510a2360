/** A host's IAM role and instance profile: SSM Session Manager for every host, plus the role's own grants. */
import { Construct } from 'constructs';
import { DataAwsIamPolicyDocument, type DataAwsIamPolicyDocumentStatement } from '@cdktf/provider-aws/lib/data-aws-iam-policy-document';
import { IamInstanceProfile } from '@cdktf/provider-aws/lib/iam-instance-profile';
import { IamRole } from '@cdktf/provider-aws/lib/iam-role';
import { IamRolePolicy } from '@cdktf/provider-aws/lib/iam-role-policy';

export interface HostRoleProps {
  /** Role and profile name, e.g. "weebeetalk-staging-chat". */
  readonly name: string;
  /** ARN of the instances this role may register with SSM, e.g. arn:aws:ec2:<region>:<account>:instance/*. */
  readonly instanceArns: string;
  /** Least-privilege grants of this role; each names its resources. @default none */
  readonly statements?: DataAwsIamPolicyDocumentStatement[];
}

export class HostRole extends Construct {
  readonly role: IamRole;
  readonly profile: IamInstanceProfile;
  /** The role's grants: a host booting before they exist fails to read its secrets. */
  readonly policy: IamRolePolicy;

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
    // Session Manager instead of SSH keys: AWS's minimal instance policy for it. Not AmazonSSMManagedInstanceCore,
    // which also grants ssm:GetParameter(s) on every parameter and would let any host read the others' secrets.
    const sessionManager: DataAwsIamPolicyDocumentStatement[] = [
      { sid: 'SessionManagerRegister', actions: ['ssm:UpdateInstanceInformation'], resources: [props.instanceArns] },
      {
        sid: 'SessionManagerChannels',
        // ssmmessages has no resource-level permissions.
        actions: ['ssmmessages:CreateControlChannel', 'ssmmessages:CreateDataChannel', 'ssmmessages:OpenControlChannel', 'ssmmessages:OpenDataChannel'],
        resources: ['*'],
      },
    ];
    const doc = new DataAwsIamPolicyDocument(this, 'grants', { statement: [...sessionManager, ...(props.statements ?? [])] });
    this.policy = new IamRolePolicy(this, 'grants-policy', { name: 'weebeetalk-host', role: this.role.id, policy: doc.json });
    this.profile = new IamInstanceProfile(this, 'profile', { name: props.name, role: this.role.name });
  }
}
