/**
 * A Debian 12 host: the instance on a HostIdentity's interface, an encrypted gp3 root, a separate encrypted
 * gp3 data volume in the same zone, IMDSv2 only, no key pair, and a CloudWatch alarm that recovers the
 * instance on a failed system status check. Replacing the instance re-attaches interface and volume.
 */
import { Construct } from 'constructs';
import { DataResource, dependable, type ITerraformDependable } from 'cdktf';
import { CloudwatchMetricAlarm } from '@cdktf/provider-aws/lib/cloudwatch-metric-alarm';
import { DataAwsAmi } from '@cdktf/provider-aws/lib/data-aws-ami';
import { EbsVolume } from '@cdktf/provider-aws/lib/ebs-volume';
import { Instance } from '@cdktf/provider-aws/lib/instance';
import { VolumeAttachment } from '@cdktf/provider-aws/lib/volume-attachment';
import { partitionOf } from '../config/net';
import { architectureOf } from '../config/schema';
import { INSTANCE_TAG } from '../userdata/context';
import { HostUserData, type HostUserDataProps } from '../userdata/host-user-data';
import type { HostIdentity } from './host-identity';
import type { HostRole } from './host-role';
import { checkUserDataSize } from './user-data-size';

/** Debian's own AWS account, publisher of the official AMIs. */
export const DEBIAN_AMI_OWNER = '136693071363';
/** Device name requested for the data volume; on Nitro it appears as NVMe, found by volume id instead. */
export const DATA_DEVICE_NAME = '/dev/sdf';
/** The root volume's key as ignore_changes names it. */
export const ROOT_KMS_KEY_ID = 'root_block_device[0].kms_key_id';

export type Arch = 'amd64' | 'arm64';

/** Graviton families (a1, and a "g" after the generation digit, e.g. t4g, m7g, c7gn) need the arm64 image (config/schema.ts architectureOf decides). */
export function archOf(instanceType: string): Arch {
  return architectureOf(instanceType) === 'arm64' ? 'arm64' : 'amd64';
}

/**
 * The image a Debian 12 machine boots: a pinned id (checked for the instance type's architecture at plan time), or
 * the newest of Debian's own account. Data sources in `scope` ("pinned-ami", "debian-12").
 */
export function debianImage(
  scope: Construct,
  props: { readonly name: string; readonly instanceType: string; readonly amiId?: string },
): { readonly id: string; readonly rootDeviceName: string; readonly architecture: 'x86_64' | 'arm64' } {
  const arch = archOf(props.instanceType);
  const ec2Arch = arch === 'amd64' ? 'x86_64' : 'arm64';
  // A pinned image is checked at plan time: EC2 cannot boot an image of the other architecture.
  const pinned =
    props.amiId === undefined
      ? undefined
      : new DataAwsAmi(scope, 'pinned-ami', {
          filter: [{ name: 'image-id', values: [props.amiId] }],
          lifecycle: {
            postcondition: [
              {
                condition: `\${self.architecture == "${ec2Arch}"}`,
                errorMessage: `${props.name}: the pinned image ${props.amiId} is not ${ec2Arch}, which ${props.instanceType} needs: pin an ${ec2Arch} image (hosts.<role>.amiId) or choose an instance type of the image's architecture`,
              },
            ],
          },
        });
  const image =
    pinned ??
    new DataAwsAmi(scope, 'debian-12', {
      owners: [DEBIAN_AMI_OWNER],
      mostRecent: true,
      filter: [
        { name: 'name', values: [`debian-12-${arch}-*`] },
        { name: 'architecture', values: [ec2Arch] },
        { name: 'virtualization-type', values: ['hvm'] },
      ],
    });
  return { id: props.amiId ?? image.id, rootDeviceName: image.rootDeviceName, architecture: ec2Arch };
}

export interface DebianHostProps {
  /** Name tag, e.g. "weebeetalk-staging-chat". */
  readonly name: string;
  readonly region: string;
  readonly availabilityZone: string;
  readonly instanceType: string;
  /** A pinned AMI id; otherwise the newest Debian 12 image of DEBIAN_AMI_OWNER. @default lookup */
  readonly amiId?: string;
  /** With lookup: replace the instance when Debian publishes a new AMI. @default true */
  readonly followLatestAmi?: boolean;
  /** The interface, Elastic IP and private address the instance boots on (they outlive it). */
  readonly identity: HostIdentity;
  /** The instance profile; the host waits for its grants and granted secrets. */
  readonly role: HostRole;
  /** IMDSv2 hop limit: 2 when containers call AWS APIs through the instance role, else 1. @default 1 */
  readonly metadataHopLimit?: number;
  /** @default 16 */
  readonly rootVolumeGiB?: number;
  readonly dataVolumeGiB: number;
  /** The bootstrap (the configuration comes in place, as bundles: constructs/host-configuration.ts). */
  readonly userData: HostUserDataProps;
  /** Tag the snapshot policy selects the data volume by. */
  readonly snapshotTag: { readonly key: string; readonly value: string };
  /**
   * Its name's records: it resolves before any ACME client on the host starts (the bootstrap also waits for
   * public DNS). Besides them the host waits for the identity's routes and association and the role's
   * grants and secrets. @default none
   */
  readonly nameRecords?: readonly ITerraformDependable[];
  /** Production: termination protection and prevent_destroy on the data volume. @default false */
  readonly protect?: boolean;
  /**
   * A customer-managed key (its ARN) for the root and data volumes. New volumes only: a volume's key cannot change
   * (kms_key_id forces a new volume, and a new instance for the root), so an existing volume keeps its key
   * (ignore_changes) and a replaced instance's new root takes this one. @default the account's aws/ebs key
   */
  readonly kmsKeyArn?: string;
}

export class DebianHost extends Construct {
  readonly instance: Instance;
  readonly dataVolume: EbsVolume;
  readonly userData: HostUserData;

  constructor(scope: Construct, id: string, props: DebianHostProps) {
    super(scope, id);
    const protect = props.protect ?? false;
    const image = debianImage(this, props);
    const ami = image.id;

    // Created before the instance so user-data can name it; lives on when the instance is replaced.
    this.dataVolume = new EbsVolume(this, 'data', {
      availabilityZone: props.availabilityZone,
      size: props.dataVolumeGiB,
      type: 'gp3',
      encrypted: true,
      kmsKeyId: props.kmsKeyArn,
      finalSnapshot: protect,
      tags: { Name: `${props.name}-data`, [props.snapshotTag.key]: props.snapshotTag.value },
      // A key turned on later must not replace the volume (its data with it): it applies to new volumes.
      lifecycle: props.kmsKeyArn === undefined ? { preventDestroy: protect } : { preventDestroy: protect, ignoreChanges: ['kms_key_id'] },
    });

    this.userData = new HostUserData(this, 'user-data', props.userData);
    checkUserDataSize(this, this.userData, `${this.node.id.replace(/-host$/, '')} host`);

    // Kept AMIs (ignore_changes) would survive a switch of architecture, and EC2 refuses to start the old image
    // on the new type: a change of architecture replaces the instance instead, with an image of the new one.
    // (Terraform triggers on an update of the marker, not on its creation: adding it replaces nothing.)
    const keepsAmi = props.amiId === undefined && props.followLatestAmi === false;
    const architecture = keepsAmi ? new DataResource(this, 'architecture', { input: { architecture: image.architecture } }) : undefined;
    const ignoreChanges = [...(architecture ? ['ami'] : []), ...(props.kmsKeyArn !== undefined ? [ROOT_KMS_KEY_ID] : [])];

    this.instance = new Instance(this, 'instance', {
      ami,
      instanceType: props.instanceType,
      primaryNetworkInterface: { networkInterfaceId: props.identity.networkInterface.id },
      iamInstanceProfile: props.role.profile.name,
      metadataOptions: {
        httpEndpoint: 'enabled',
        httpTokens: 'required',
        httpPutResponseHopLimit: props.metadataHopLimit ?? 1,
        // The bootstrap reads its Elastic IP and data volume id from these tags (never a secret).
        instanceMetadataTags: 'enabled',
      },
      rootBlockDevice: {
        volumeType: 'gp3',
        volumeSize: props.rootVolumeGiB ?? 16,
        encrypted: true,
        kmsKeyId: props.kmsKeyArn,
        deleteOnTermination: true,
        tags: { Name: `${props.name}-root` },
      },
      userDataBase64: this.userData.config.rendered,
      userDataReplaceOnChange: true,
      disableApiTermination: protect,
      monitoring: false,
      // Tags change in place; user-data referencing these resources would force a replacement on any edit.
      tags: { Name: props.name, [INSTANCE_TAG.publicIp]: props.identity.eip.publicIp, [INSTANCE_TAG.dataVolume]: this.dataVolume.id },
      // As a plain address: cdktf 0.21 renders a dependable here as "${...}", which Terraform's JSON syntax refuses.
      // A key turned on later reaches the root with the next replacement (a new image or bootstrap), not by one of its own.
      lifecycle: ignoreChanges.length > 0 ? { ignoreChanges, ...(architecture ? { replaceTriggeredBy: [dependable(architecture)] } : {}) } : undefined,
      dependsOn: [...props.identity.internetAccess, props.identity.association, ...(props.nameRecords ?? []), ...props.role.prerequisites],
    });

    new VolumeAttachment(this, 'data-attachment', {
      deviceName: DATA_DEVICE_NAME,
      volumeId: this.dataVolume.id,
      instanceId: this.instance.id,
      // Stop the old instance first so the filesystem is clean when the volume moves.
      stopInstanceBeforeDetaching: true,
    });

    new CloudwatchMetricAlarm(this, 'recover-alarm', {
      alarmName: `${props.name}-recover`,
      alarmDescription: `Recover ${props.name} when the AWS system status check fails`,
      namespace: 'AWS/EC2',
      metricName: 'StatusCheckFailed_System',
      dimensions: { InstanceId: this.instance.id },
      statistic: 'Maximum',
      period: 60,
      evaluationPeriods: 2,
      threshold: 0,
      comparisonOperator: 'GreaterThanThreshold',
      alarmActions: [`arn:${partitionOf(props.region)}:automate:${props.region}:ec2:recover`],
    });
  }
}
