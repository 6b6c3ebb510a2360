/**
 * A host's configuration, applied in place: its bundle as a content-addressed object in the environment's
 * configuration bucket, an SSM parameter naming the current one (the first boot reads it), and a State Manager
 * association that runs the apply document on the host with it. A new bundle is a new object; the association is
 * replaced with it, because the AWS provider waits for an association's success only when creating one
 * (resourceAssociationCreate; an update runs it without waiting), and `cdktf deploy` must fail when the apply does.
 */
import { Construct } from 'constructs';
import { dependable, type ITerraformDependable } from 'cdktf';
import type { Instance } from '@cdktf/provider-aws/lib/instance';
import { S3Object } from '@cdktf/provider-aws/lib/s3-object';
import { SsmAssociation } from '@cdktf/provider-aws/lib/ssm-association';
import { SsmParameter } from '@cdktf/provider-aws/lib/ssm-parameter';
import type { AnyRole } from '../config/schema';
import { bundlePrefix, type HostBundle } from '../userdata/bundle';
import { terraformLiteral } from '../userdata/cloud-config';
import { APPLY_TIMEOUT_SECONDS, type ApplyDocument, type ApplyParameters } from './apply-document';
import type { HostRole } from './host-role';
import type { PrivateBucket } from './private-bucket';

/** Where State Manager writes each apply's output in the configuration bucket: apply-output/<role>/. */
export const APPLY_OUTPUT_ROOT = 'apply-output/';
export const applyOutputPrefix = (role: AnyRole): string => `${APPLY_OUTPUT_ROOT}${role}/`;
/** Days an apply's output is kept. */
export const APPLY_OUTPUT_RETENTION_DAYS = 90;

export interface HostConfigurationProps {
  /** Resource names, e.g. "weebeetalk-staging-pbx". */
  readonly name: string;
  readonly role: AnyRole;
  readonly region: string;
  readonly bundle: HostBundle;
  /** The environment's configuration bucket (private, versioned). */
  readonly bucket: PrivateBucket;
  /** The SSM parameter that names the current bundle (host.env's WBT_BUNDLE_PARAMETER). */
  readonly parameterName: string;
  readonly document: ApplyDocument;
}

export class HostConfiguration extends Construct {
  readonly object: S3Object;
  readonly pointer: SsmParameter;
  readonly parameters: ApplyParameters;
  /** Set by associate(). */
  association?: SsmAssociation;
  private readonly props: HostConfigurationProps;
  /** Set by grantApply(): its apply waits for what the role waits for (its policy, the parameters it reads). */
  private role?: HostRole;

  constructor(scope: Construct, id: string, props: HostConfigurationProps) {
    super(scope, id);
    this.props = props;
    const bucket = props.bucket.bucket.bucket;
    this.object = new S3Object(this, 'bundle', {
      bucket,
      key: props.bundle.key,
      // Terraform interpolates ${...} in every string: the bundle's bytes must reach S3 as they were hashed.
      content: terraformLiteral(props.bundle.json),
      contentType: 'application/json',
      // S3 checks the upload against its SHA-256 and keeps it with the object.
      checksumAlgorithm: 'SHA256',
    });
    this.parameters = { Bucket: props.bucket.bucketName, Key: props.bundle.key, Sha256: props.bundle.sha256 };
    this.pointer = new SsmParameter(this, 'current', {
      name: props.parameterName,
      description: `The current configuration bundle of ${props.name} (read at first boot; State Manager applies later ones)`,
      type: 'String',
      value: `s3://${props.bucket.bucketName}/${props.bundle.key}`,
      dependsOn: [this.object],
    });
  }

  /** Lets the host's role read its own bundles (and no other host's) and State Manager's agent write the apply's output. */
  grantApply(role: HostRole): void {
    this.role = role;
    this.props.bucket.grantRead(role, bundlePrefix(this.props.role), [this.object, this.pointer]);
    this.props.bucket.grantCommandOutput(role, applyOutputPrefix(this.props.role));
  }

  /** The association that applies each new bundle on the instance, and that `cdktf deploy` waits for. */
  associate(instance: Instance, after: readonly ITerraformDependable[] = []): SsmAssociation {
    this.association = new SsmAssociation(this, 'apply', {
      ...this.associationProps([{ key: 'InstanceIds', values: [instance.id] }]),
      // On a first deploy the association exists with the instance: its run starts once the agent registers (after
      // cloud-init's package upgrade), then waits for the bootstrap's lock; the slack covers the registration.
      waitForSuccessTimeoutSeconds: APPLY_TIMEOUT_SECONDS + 900,
      complianceSeverity: 'HIGH',
      maxConcurrency: '1',
      maxErrors: '0',
      // Replaced with each new bundle (see above), and with a new instance (an update of its targets would not be
      // waited for either): its creation is what the provider waits for.
      lifecycle: { replaceTriggeredBy: [dependable(this.object), `${instance.terraformResourceType}.${instance.friendlyUniqueId}.id`] },
      // After the parameters it reads: a rotated secret is written before the apply that reads it.
      dependsOn: [this.object, this.pointer, ...(this.role?.prerequisites ?? []), ...after],
    });
    return this.association;
  }

  /**
   * The association for a pool: every member that carries the tag, now and later (State Manager applies it to a
   * member as it registers; the member's first boot has applied the same bundle already). Not waited for: a pool
   * may have no member at all. A member whose apply fails keeps running and shows it in State Manager's association
   * status and its apply output (README, "Pools").
   */
  associateTagged(tagKey: string, tagValue: string): SsmAssociation {
    this.association = new SsmAssociation(this, 'apply', {
      ...this.associationProps([{ key: `tag:${tagKey}`, values: [tagValue] }]),
      complianceSeverity: 'HIGH',
      // Members one after another, and a failed one stops the rest (it says what broke before all are broken).
      maxConcurrency: '1',
      maxErrors: '0',
      lifecycle: { replaceTriggeredBy: [dependable(this.object)] },
      dependsOn: [this.object, this.pointer, ...(this.role?.prerequisites ?? [])],
    });
    return this.association;
  }

  private associationProps(targets: { key: string; values: string[] }[]) {
    const { props } = this;
    return {
      name: props.document.document.name,
      associationName: `${props.name}-apply`,
      targets,
      parameters: { ...this.parameters },
      outputLocation: { s3BucketName: props.bucket.bucketName, s3KeyPrefix: applyOutputPrefix(props.role).replace(/\/$/, ''), s3Region: props.region },
    };
  }
}
