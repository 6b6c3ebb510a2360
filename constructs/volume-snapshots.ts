/** Daily DLM snapshots of every data volume carrying the environment's snapshot tag. */
import { Construct } from 'constructs';
import { DataAwsIamPolicyDocument } from '@cdktf/provider-aws/lib/data-aws-iam-policy-document';
import { DlmLifecyclePolicy } from '@cdktf/provider-aws/lib/dlm-lifecycle-policy';
import { IamRole } from '@cdktf/provider-aws/lib/iam-role';
import { IamRolePolicyAttachment } from '@cdktf/provider-aws/lib/iam-role-policy-attachment';

export interface VolumeSnapshotsProps {
  /** Name prefix, e.g. "weebeetalk-staging". */
  readonly name: string;
  /** The tag that selects the volumes. */
  readonly targetTag: { readonly key: string; readonly value: string };
  /** Daily snapshots kept. */
  readonly retainCount: number;
  /** UTC time, HH:MM. */
  readonly time: string;
  /** @default "aws" */
  readonly partition?: string;
}

export class VolumeSnapshots extends Construct {
  constructor(scope: Construct, id: string, props: VolumeSnapshotsProps) {
    super(scope, id);
    const trust = new DataAwsIamPolicyDocument(this, 'trust', {
      statement: [{ actions: ['sts:AssumeRole'], principals: [{ type: 'Service', identifiers: ['dlm.amazonaws.com'] }] }],
    });
    const role = new IamRole(this, 'role', { name: `${props.name}-dlm`, assumeRolePolicy: trust.json });
    new IamRolePolicyAttachment(this, 'role-policy', {
      role: role.name,
      policyArn: `arn:${props.partition ?? 'aws'}:iam::aws:policy/service-role/AWSDataLifecycleManagerServiceRole`,
    });
    new DlmLifecyclePolicy(this, 'policy', {
      description: `${props.name} daily data-volume snapshots`,
      executionRoleArn: role.arn,
      state: 'ENABLED',
      policyDetails: {
        resourceTypes: ['VOLUME'],
        targetTags: { [props.targetTag.key]: props.targetTag.value },
        schedule: [
          {
            // Constant: renaming a schedule leaves its earlier snapshots unmanaged forever.
            name: 'daily',
            createRule: { interval: 24, intervalUnit: 'HOURS', times: [props.time] },
            retainRule: { count: props.retainCount },
            copyTags: true,
            tagsToAdd: { SnapshotCreator: 'DLM' },
          },
        ],
      },
    });
  }
}
