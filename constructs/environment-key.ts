/**
 * The environment's customer-managed KMS key (kms.customerManagedKey): one symmetric key, rotated yearly by AWS, for
 * the hosts' data and root volumes, the pools' volumes, the buckets and the SecureStrings, under the alias
 * alias/weebeetalk-<env>. Its key policy, built as data:
 * - the account administers it (the default key policy's statement: IAM decides, so the deployer uses it as its IAM
 *   allows, and nobody can lock the account out);
 * - EC2 Auto Scaling's service-linked role may use it and create grants for EC2, so that it can launch the pools'
 *   members with volumes encrypted under it (AWS: "Required AWS KMS key policy for use with encrypted volumes");
 * - the hosts' and pools' instance roles, granted through `grantUseVia`, may use it only through the services they
 *   were granted (kms:ViaService): an explicit Deny for those roles on any other call, direct calls included.
 * - CloudWatch Logs may use it for the environment's log groups only (kms:EncryptionContext:aws:logs:arn), and
 *   CloudWatch alarms of the account may have SNS encrypt their notifications to the alarm topic with it, when the
 *   Observability construct asks (allowCloudWatchLogs, allowAlarmNotifications).
 * Roles are named by `aws:PrincipalArn` conditions, never as principals: KMS refuses a key policy naming a principal
 * that does not exist (the Auto Scaling role appears with the first group, after the key), and the key does not
 * depend on the roles.
 */
import { Construct } from 'constructs';
import { DataAwsIamPolicyDocument, type DataAwsIamPolicyDocumentStatement } from '@cdktf/provider-aws/lib/data-aws-iam-policy-document';
import { KmsAlias } from '@cdktf/provider-aws/lib/kms-alias';
import { KmsKey } from '@cdktf/provider-aws/lib/kms-key';
import { AUTO_SCALING_SERVICE_LINKED_ROLE } from '../config/names';
import type { HostRole } from './host-role';

/** The services a host's role may use the key through. */
export type KeyService = 'ssm' | 's3' | 'ec2';

/**
 * What each service asks KMS for on the caller's behalf: SSM decrypts a SecureString it reads; S3 (with the bucket key)
 * generates a data key to write an object and decrypts one to read it or to go on with a multipart upload; EC2
 * creates a grant for the volumes it attaches.
 */
export const KEY_ACTIONS: Readonly<Record<KeyService, readonly string[]>> = {
  ssm: ['kms:Decrypt'],
  s3: ['kms:Decrypt', 'kms:GenerateDataKey'],
  ec2: ['kms:Decrypt', 'kms:GenerateDataKeyWithoutPlaintext', 'kms:ReEncrypt*', 'kms:CreateGrant', 'kms:DescribeKey'],
};

/** What EC2 Auto Scaling's service-linked role needs of a key that encrypts its members' volumes (AWS's documented statements). */
export const AUTO_SCALING_KEY_ACTIONS = ['kms:Encrypt', 'kms:Decrypt', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:DescribeKey'] as const;

export interface EnvironmentKeyProps {
  /** The alias, e.g. "alias/weebeetalk-production" (config/names.ts keyAliasOf). */
  readonly alias: string;
  /** What the key is for, shown in the KMS console. */
  readonly description: string;
  /** Days a key scheduled for deletion waits, 7 to 30. */
  readonly deletionWindowDays: number;
  /** Partition, region and account of the ARNs in the key policy (the account may be a reference). */
  readonly arn: { readonly partition: string; readonly region: string; readonly account: string };
  /** EC2 Auto Scaling launches members with volumes under this key (the pools): its service-linked role may use it. @default false */
  readonly autoScaling?: boolean;
  /** Production: prevent_destroy on the key (Terraform refuses any plan that would schedule its deletion). @default false */
  readonly protect?: boolean;
}

export class EnvironmentKey extends Construct {
  readonly key: KmsKey;
  readonly alias: KmsAlias;
  /** The key policy, as data. */
  readonly policy: DataAwsIamPolicyDocument;
  private readonly props: EnvironmentKeyProps;
  /** Roles granted through grantUseVia, with the services each may use the key through. */
  private readonly restricted: { readonly arn: string; readonly services: readonly KeyService[] }[] = [];
  /** AWS services allowed to use the key for this environment's resources (allowCloudWatchLogs, allowAlarmNotifications). */
  private readonly servicePrincipals: DataAwsIamPolicyDocumentStatement[] = [];

  constructor(scope: Construct, id: string, props: EnvironmentKeyProps) {
    super(scope, id);
    if (!Number.isInteger(props.deletionWindowDays) || props.deletionWindowDays < 7 || props.deletionWindowDays > 30)
      throw new Error(`EnvironmentKey ${id}: deletionWindowDays ${props.deletionWindowDays} is outside AWS KMS's 7 to 30 days`);
    this.props = props;
    this.policy = new DataAwsIamPolicyDocument(this, 'policy', { statement: this.statements() });
    this.key = new KmsKey(this, 'key', {
      description: props.description,
      keyUsage: 'ENCRYPT_DECRYPT',
      customerMasterKeySpec: 'SYMMETRIC_DEFAULT',
      enableKeyRotation: true,
      deletionWindowInDays: props.deletionWindowDays,
      policy: this.policy.json,
      lifecycle: { preventDestroy: props.protect ?? false },
    });
    this.alias = new KmsAlias(this, 'alias', { name: props.alias, targetKeyId: this.key.keyId });
  }

  /** The key's ARN (a reference): what volumes, launch templates, buckets and parameters name. */
  get arn(): string {
    return this.key.arn;
  }

  /** The ARN of an IAM role by name, as aws:PrincipalArn carries it for the role's sessions. */
  roleArn(name: string): string {
    return `arn:${this.props.arn.partition}:iam::${this.props.arn.account}:role/${name}`;
  }

  /**
   * Lets a host's role use the key through `services` only: an IAM grant per service (the actions it needs, under
   * kms:ViaService), and the key policy denies the role any other use of the key, a direct call included.
   */
  grantUseVia(role: HostRole, services: readonly KeyService[]): void {
    if (services.length === 0) throw new Error(`EnvironmentKey ${this.node.path}: grantUseVia needs at least one service`);
    const name = role.role.nameInput;
    if (name === undefined || name.includes('${')) throw new Error(`EnvironmentKey ${this.node.path}: the role ${role.node.path} needs a plain name (its ARN is a condition value of the key policy)`);
    const unique = [...new Set(services)].sort();
    role.grant(
      unique.map((service) => ({
        sid: `EnvironmentKeyVia${service[0].toUpperCase()}${service.slice(1)}`,
        actions: [...KEY_ACTIONS[service]],
        resources: [this.key.arn],
        condition: [{ test: 'StringEquals', variable: 'kms:ViaService', values: [this.viaService(service)] }],
      })),
    );
    this.restricted.push({ arn: this.roleArn(name), services: unique });
    this.policy.putStatement(this.statements());
  }

  /**
   * Lets CloudWatch Logs encrypt and read the log groups whose ARNs match `logGroupArnPattern` (e.g.
   * arn:aws:logs:<region>:<account>:log-group:/weebeetalk/<env>/*) with the key: the service principal of the key's
   * region, limited by the encryption context CloudWatch Logs puts on every use (AWS: "Encrypt log data in CloudWatch
   * Logs using AWS Key Management Service", step 2). A log group naming the key is refused without it.
   */
  allowCloudWatchLogs(logGroupArnPattern: string): void {
    this.servicePrincipals.push({
      sid: 'CloudWatchLogsUsesKeyForLogGroups',
      principals: [{ type: 'Service', identifiers: [`logs.${this.props.arn.region}.amazonaws.com`] }],
      actions: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
      resources: ['*'],
      condition: [{ test: 'ArnLike', variable: 'kms:EncryptionContext:aws:logs:arn', values: [logGroupArnPattern] }],
    });
    this.policy.putStatement(this.statements());
  }

  /**
   * Lets CloudWatch alarms of this account publish to an SNS topic encrypted with the key: SNS asks KMS for a data key
   * on the publisher's behalf (AWS: "Enable compatibility between event sources from AWS services and encrypted
   * topics"; AWS's managed aws/sns key cannot be given this, so an alarm cannot publish to a topic under it).
   */
  allowAlarmNotifications(): void {
    this.servicePrincipals.push({
      sid: 'CloudWatchAlarmsPublishToEncryptedTopic',
      principals: [{ type: 'Service', identifiers: ['cloudwatch.amazonaws.com'] }],
      actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
      resources: ['*'],
      condition: [{ test: 'StringEquals', variable: 'aws:SourceAccount', values: [this.props.arn.account] }],
    });
    this.policy.putStatement(this.statements());
  }

  private viaService(service: KeyService): string {
    return `${service}.${this.props.arn.region}.amazonaws.com`;
  }

  private statements(): DataAwsIamPolicyDocumentStatement[] {
    const { partition, account } = this.props.arn;
    const anyone = [{ type: 'AWS', identifiers: ['*'] }];
    const autoScaling = [
      { test: 'ArnEquals', variable: 'aws:PrincipalArn', values: [this.roleArn(AUTO_SCALING_SERVICE_LINKED_ROLE)] },
      { test: 'StringEquals', variable: 'aws:PrincipalAccount', values: [account] },
    ];
    // One Deny per set of services: a role granted SSM and S3 is denied everything else.
    const bySet = new Map<string, { services: readonly KeyService[]; arns: string[] }>();
    for (const r of this.restricted) {
      const key = r.services.join(',');
      const entry = bySet.get(key) ?? { services: r.services, arns: [] };
      if (!entry.arns.includes(r.arn)) entry.arns.push(r.arn);
      bySet.set(key, entry);
    }
    return [
      {
        sid: 'AccountAdministersKey',
        principals: [{ type: 'AWS', identifiers: [`arn:${partition}:iam::${account}:root`] }],
        actions: ['kms:*'],
        resources: ['*'],
      },
      ...(this.props.autoScaling
        ? [
            { sid: 'AutoScalingUsesKeyForMembersVolumes', principals: anyone, actions: [...AUTO_SCALING_KEY_ACTIONS], resources: ['*'], condition: autoScaling },
            {
              sid: 'AutoScalingGrantsKeyToEc2',
              principals: anyone,
              actions: ['kms:CreateGrant'],
              resources: ['*'],
              condition: [...autoScaling, { test: 'Bool', variable: 'kms:GrantIsForAWSResource', values: ['true'] }],
            },
          ]
        : []),
      ...[...bySet.values()].map(({ services, arns }) => ({
        sid: `HostRolesOnlyVia${services.map((s) => s[0].toUpperCase() + s.slice(1)).join('')}`,
        effect: 'Deny',
        principals: anyone,
        actions: ['kms:*'],
        resources: ['*'],
        condition: [
          { test: 'ArnEquals', variable: 'aws:PrincipalArn', values: arns },
          { test: 'StringNotEquals', variable: 'kms:ViaService', values: services.map((s) => this.viaService(s)) },
        ],
      })),
      ...this.servicePrincipals,
    ];
  }
}
