/** A host's IAM role and instance profile: SSM Session Manager for every host, plus the role's own grants. */
import { Construct } from 'constructs';
import { DataAwsIamPolicyDocument, type DataAwsIamPolicyDocumentStatement } from '@cdktf/provider-aws/lib/data-aws-iam-policy-document';
import { IamInstanceProfile } from '@cdktf/provider-aws/lib/iam-instance-profile';
import { IamRole } from '@cdktf/provider-aws/lib/iam-role';
import { IamRolePolicy } from '@cdktf/provider-aws/lib/iam-role-policy';
import { IamRolePolicyAttachment } from '@cdktf/provider-aws/lib/iam-role-policy-attachment';

export interface HostRoleProps {
  /** Role and profile name, e.g. "weebeetalk-staging-chat". */
  readonly name: string;
  /** AWS partition of the region (aws, aws-cn, aws-us-gov). @default "aws" */
  readonly partition?: string;
  /** Least-privilege grants of this role; each names its resources. @default none */
  readonly statements?: DataAwsIamPolicyDocumentStatement[];
}

export class HostRole extends Construct {
  readonly role: IamRole;
  readonly profile: IamInstanceProfile;

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
    // Session Manager instead of SSH keys.
    new IamRolePolicyAttachment(this, 'ssm-core', {
      role: this.role.name,
      policyArn: `arn:${props.partition ?? 'aws'}:iam::aws:policy/AmazonSSMManagedInstanceCore`,
    });
    if (props.statements && props.statements.length > 0) {
      const doc = new DataAwsIamPolicyDocument(this, 'grants', { statement: props.statements });
      new IamRolePolicy(this, 'grants-policy', { name: 'weebeetalk-host', role: this.role.id, policy: doc.json });
    }
    this.profile = new IamInstanceProfile(this, 'profile', { name: props.name, role: this.role.name });
  }
}
