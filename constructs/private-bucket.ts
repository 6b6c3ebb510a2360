/**
 * An S3 bucket that can only be private: all four public-access blocks, BucketOwnerEnforced, default
 * encryption (SSE-S3, or SSE-KMS with the environment's key), TLS-only policy, versioning, and lifecycle rules that
 * clean up what privacy asks to forget.
 */
import { Construct } from 'constructs';
import type { HostRole } from './host-role';
import type { ITerraformDependable } from 'cdktf';
import { DataAwsIamPolicyDocument } from '@cdktf/provider-aws/lib/data-aws-iam-policy-document';
import { S3Bucket } from '@cdktf/provider-aws/lib/s3-bucket';
import { S3BucketLifecycleConfiguration, type S3BucketLifecycleConfigurationRule } from '@cdktf/provider-aws/lib/s3-bucket-lifecycle-configuration';
import { S3BucketOwnershipControls } from '@cdktf/provider-aws/lib/s3-bucket-ownership-controls';
import { S3BucketPolicy } from '@cdktf/provider-aws/lib/s3-bucket-policy';
import { S3BucketPublicAccessBlock } from '@cdktf/provider-aws/lib/s3-bucket-public-access-block';
import { S3BucketServerSideEncryptionConfigurationA } from '@cdktf/provider-aws/lib/s3-bucket-server-side-encryption-configuration';
import { S3BucketVersioningA } from '@cdktf/provider-aws/lib/s3-bucket-versioning';

export interface PrivateBucketProps {
  /** Globally unique, stable name (no randomness at synth). */
  readonly bucketName: string;
  /** Days before current objects expire. @default never */
  readonly expireAfterDays?: number;
  /** Objects under a prefix that expire (e.g. State Manager's output), besides expireAfterDays. @default none */
  readonly expireUnder?: { readonly prefix: string; readonly days: number };
  /** Days an overwritten or deleted version is kept. */
  readonly noncurrentVersionDays: number;
  /** Production: refuse to destroy the bucket. @default false */
  readonly protect?: boolean;
  /** Staging: destroy empties the bucket, versions included. @default false */
  readonly forceDestroy?: boolean;
  /** The partition's ARN prefix: grants name the bucket by a plain ARN, known at synth. @default aws */
  readonly partition?: string;
  /** The bucket's purpose as grants' statement ids begin with it, e.g. "Uploads". @default the construct id */
  readonly sidPrefix?: string;
  /**
   * A customer-managed key (its ARN): default encryption SSE-KMS with it and the bucket key (one data key per bucket
   * for a while, not a KMS call per object). Objects the stack uploads rely on this default. New objects only: the
   * objects already there keep their encryption. @default SSE-S3 (AES256)
   */
  readonly kmsKeyArn?: string;
}

export class PrivateBucket extends Construct {
  readonly bucket: S3Bucket;
  /** The bucket's ARN as plain text (a name known at synth, not a reference). */
  readonly arn: string;
  /** The bucket's name as plain text. */
  readonly bucketName: string;
  private readonly sidPrefix: string;

  constructor(scope: Construct, id: string, props: PrivateBucketProps) {
    super(scope, id);
    this.arn = `arn:${props.partition ?? 'aws'}:s3:::${props.bucketName}`;
    this.bucketName = props.bucketName;
    this.sidPrefix = props.sidPrefix ?? id.replace(/(^|-)([a-z])/g, (_, __, c: string) => c.toUpperCase());
    if (props.protect && props.forceDestroy) throw new Error(`PrivateBucket ${id}: protect and forceDestroy contradict each other`);
    this.bucket = new S3Bucket(this, 'bucket', {
      bucket: props.bucketName,
      forceDestroy: props.forceDestroy ?? false,
      lifecycle: { preventDestroy: props.protect ?? false },
    });
    const bucket = this.bucket.id;
    // One change at a time: S3 answers 409 OperationAborted to concurrent changes of one bucket's settings.
    // Private first, then the rest, each after the one before.
    let previous: ITerraformDependable = new S3BucketPublicAccessBlock(this, 'public-access-block', {
      bucket,
      blockPublicAcls: true,
      blockPublicPolicy: true,
      ignorePublicAcls: true,
      restrictPublicBuckets: true,
    });
    previous = new S3BucketOwnershipControls(this, 'ownership', { bucket, rule: { objectOwnership: 'BucketOwnerEnforced' }, dependsOn: [previous] });
    previous = new S3BucketServerSideEncryptionConfigurationA(this, 'encryption', {
      bucket,
      rule: [
        {
          applyServerSideEncryptionByDefault: props.kmsKeyArn === undefined ? { sseAlgorithm: 'AES256' } : { sseAlgorithm: 'aws:kms', kmsMasterKeyId: props.kmsKeyArn },
          bucketKeyEnabled: true,
        },
      ],
      dependsOn: [previous],
    });
    previous = new S3BucketVersioningA(this, 'versioning', { bucket, versioningConfiguration: { status: 'Enabled' }, dependsOn: [previous] });
    const tlsOnly = new DataAwsIamPolicyDocument(this, 'tls-only', {
      statement: [
        {
          sid: 'DenyInsecureTransport',
          effect: 'Deny',
          principals: [{ type: '*', identifiers: ['*'] }],
          actions: ['s3:*'],
          resources: [this.bucket.arn, `${this.bucket.arn}/*`],
          condition: [{ test: 'Bool', variable: 'aws:SecureTransport', values: ['false'] }],
        },
      ],
    });
    previous = new S3BucketPolicy(this, 'policy', { bucket, policy: tlsOnly.json, dependsOn: [previous] });

    const rules: S3BucketLifecycleConfigurationRule[] = [
      {
        id: 'cleanup',
        status: 'Enabled',
        filter: [{ prefix: '' }],
        noncurrentVersionExpiration: [{ noncurrentDays: props.noncurrentVersionDays }],
        abortIncompleteMultipartUpload: [{ daysAfterInitiation: 7 }],
        // Expiring a current version leaves a delete marker; "days" and marker cleanup need separate rules.
        expiration: [props.expireAfterDays === undefined ? { expiredObjectDeleteMarker: true } : { days: props.expireAfterDays }],
      },
      ...(props.expireAfterDays === undefined ? [] : [{ id: 'delete-markers', status: 'Enabled', filter: [{ prefix: '' }], expiration: [{ expiredObjectDeleteMarker: true }] }]),
      ...(props.expireUnder ? [{ id: 'expire-under-prefix', status: 'Enabled', filter: [{ prefix: props.expireUnder.prefix }], expiration: [{ days: props.expireUnder.days }] }] : []),
    ];
    // After versioning: its noncurrent-version rules apply to a versioned bucket.
    new S3BucketLifecycleConfiguration(this, 'lifecycle', { bucket, rule: rules, dependsOn: [previous] });
  }

  /** Read, write and delete objects (under `prefix`), and list the bucket. */
  grantReadWrite(role: HostRole, prefix = ''): void {
    role.grant([
      { sid: `${this.sidPrefix}ReadWrite`, actions: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload'], resources: [`${this.arn}/${prefix}*`] },
      { sid: `${this.sidPrefix}List`, actions: ['s3:ListBucket'], resources: [this.arn] },
    ]);
  }

  /**
   * Put objects under `prefix`, never delete or list them. `readBack`: also read them (a backup checks what it
   * wrote); otherwise multipart uploads may be aborted (large recordings).
   */
  grantPut(role: HostRole, prefix = '', options: { readonly readBack?: boolean } = {}): void {
    const actions = options.readBack ? ['s3:PutObject', 's3:GetObject'] : ['s3:PutObject', 's3:AbortMultipartUpload'];
    role.grant([{ sid: `${this.sidPrefix}Write`, actions, resources: [`${this.arn}/${prefix}*`] }]);
  }

  /** Read objects under `prefix`, nothing else (no list, no write). `needs`: objects a host must not boot before. */
  grantRead(role: HostRole, prefix: string, needs: readonly ITerraformDependable[] = []): void {
    role.grant([{ sid: `${this.sidPrefix}Read`, actions: ['s3:GetObject'], resources: [`${this.arn}/${prefix}*`] }], needs);
  }

  /**
   * What the SSM agent needs to store a command's output under `prefix` with the role's credentials: it puts each
   * object with the bucket-owner-full-control ACL and asks the bucket's encryption first (amazon-ssm-agent s3util).
   */
  grantCommandOutput(role: HostRole, prefix: string): void {
    role.grant([
      { sid: `${this.sidPrefix}CommandOutput`, actions: ['s3:PutObject', 's3:PutObjectAcl'], resources: [`${this.arn}/${prefix}*`] },
      { sid: `${this.sidPrefix}Encryption`, actions: ['s3:GetEncryptionConfiguration'], resources: [this.arn] },
    ]);
  }
}
