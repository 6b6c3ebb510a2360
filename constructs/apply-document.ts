/**
 * The environment's SSM Command document that State Manager runs on a host: the host's apply tool with a bundle's
 * location and checksum. Parameters are substituted into the command as text, so each is held to a pattern that
 * admits no shell syntax (SSM refuses a value that does not match, and so does the agent).
 */
import { Construct } from 'constructs';
import { SsmDocument } from '@cdktf/provider-aws/lib/ssm-document';
import { ANY_ROLES } from '../config/schema';
import { APPLY_COMMAND } from '../userdata/paths';

/**
 * How long one apply may take. The first one (an association created with its instance) waits for the bootstrap's
 * lock while the host installs Docker, pulls images and waits for DNS (up to 20 minutes) before it starts anything.
 */
export const APPLY_TIMEOUT_SECONDS = 3600;

/** The document's parameters, the bundle's location. */
export interface ApplyParameters {
  readonly Bucket: string;
  readonly Key: string;
  readonly Sha256: string;
}

export interface ApplyDocumentProps {
  /** Document name, e.g. "weebeetalk-staging-apply" (not starting with aws, amazon or amzn). */
  readonly name: string;
}

export class ApplyDocument extends Construct {
  readonly document: SsmDocument;

  constructor(scope: Construct, id: string, props: ApplyDocumentProps) {
    super(scope, id);
    const content = {
      schemaVersion: '2.2',
      description: `WeeBeeTalk: apply a host's configuration bundle in place (${APPLY_COMMAND})`,
      parameters: {
        Bucket: { type: 'String', description: "The environment's configuration bucket", allowedPattern: '^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$' },
        Key: { type: 'String', description: 'The bundle: bundles/<role>/<sha256>.json', allowedPattern: `^bundles/(${ANY_ROLES.join('|')})/[0-9a-f]{64}\\.json$` },
        Sha256: { type: 'String', description: "The bundle's sha256 (the host refuses any other content)", allowedPattern: '^[0-9a-f]{64}$' },
      },
      mainSteps: [
        {
          action: 'aws:runShellScript',
          name: 'apply',
          inputs: { timeoutSeconds: String(APPLY_TIMEOUT_SECONDS), runCommand: [`${APPLY_COMMAND} --bucket {{ Bucket }} --key {{ Key }} --sha256 {{ Sha256 }}`] },
        },
      ],
    };
    this.document = new SsmDocument(this, 'document', {
      name: props.name,
      documentType: 'Command',
      documentFormat: 'JSON',
      targetType: '/AWS::EC2::Instance',
      content: JSON.stringify(content, null, 2),
    });
  }
}
