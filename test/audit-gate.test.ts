/**
 * The audit gate: every policy rule fires on a deliberately bad construct or configuration, through app.synth(),
 * which throws on error annotations (Testing.synth() would not). Bad cases are one construct on a fresh, small
 * stack; the full WeeBeeTalkStack is synthesized only where the configuration itself is the bad case.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Manifest, Testing, TerraformStack } from 'cdktf';
import { DataCloudinitConfig } from '@cdktf/provider-cloudinit/lib/data-cloudinit-config';
import { CloudinitProvider } from '@cdktf/provider-cloudinit/lib/provider';
import { EbsVolume } from '@cdktf/provider-aws/lib/ebs-volume';
import { KmsKey } from '@cdktf/provider-aws/lib/kms-key';
import { Instance } from '@cdktf/provider-aws/lib/instance';
import { LaunchTemplate } from '@cdktf/provider-aws/lib/launch-template';
import { AwsProvider } from '@cdktf/provider-aws/lib/provider';
import { S3Object } from '@cdktf/provider-aws/lib/s3-object';
import { S3Bucket } from '@cdktf/provider-aws/lib/s3-bucket';
import { S3BucketPolicy } from '@cdktf/provider-aws/lib/s3-bucket-policy';
import { S3BucketPublicAccessBlock } from '@cdktf/provider-aws/lib/s3-bucket-public-access-block';
import { S3BucketServerSideEncryptionConfigurationA } from '@cdktf/provider-aws/lib/s3-bucket-server-side-encryption-configuration';
import { SsmParameter } from '@cdktf/provider-aws/lib/ssm-parameter';
import { DataAwsSecretsmanagerRandomPassword } from '@cdktf/provider-aws/lib/data-aws-secretsmanager-random-password';
import { DataAwsSsmParameter } from '@cdktf/provider-aws/lib/data-aws-ssm-parameter';
import { SecurityGroup } from '@cdktf/provider-aws/lib/security-group';
import { VpcSecurityGroupEgressRule } from '@cdktf/provider-aws/lib/vpc-security-group-egress-rule';
import { VpcSecurityGroupIngressRule, type VpcSecurityGroupIngressRuleConfig } from '@cdktf/provider-aws/lib/vpc-security-group-ingress-rule';
import production from '../config/environments/production';
import staging from '../config/environments/staging';
import { loadEnvironment } from '../config/load';
import { ANY_ROLES, type AnyRole, type EnvironmentConfig } from '../config/schema';
import { applyAudit } from '../constructs/audit/aspect';
import type { Json } from '../constructs/audit/plan';
import { auditStack } from '../constructs/audit/stack-audit';
import { RULES, type RuleId } from '../constructs/audit/policy';
import { PrivateBucket } from '../constructs/private-bucket';
import { WeeBeeTalkStack } from '../constructs/weebeetalk-stack';
import { roleFiles, ROLE_PATHS } from '../userdata/paths';

// The cdktf CLI sets this to collect errors itself; here the gate must throw.
delete process.env.CDKTF_CONTINUE_SYNTH_ON_ERROR_ANNOTATIONS;

const config = loadEnvironment(staging);
/** Production on AWS managed keys (so that only the privacy rules judge a bare stack). */
const productionPlain = loadEnvironment({ ...production, kms: { customerManagedKey: false, allowAwsManagedKeys: true } });
/** Staging with its own KMS key (kms.customerManagedKey): what WBT-KMS-CMK judges. */
const withKey = loadEnvironment({ ...staging, kms: { customerManagedKey: true } });
let outdir: string;

beforeAll(() => {
  outdir = mkdtempSync(join(tmpdir(), 'audit-test-'));
});
afterAll(() => rmSync(outdir, { recursive: true, force: true }));

function newApp(): App {
  return Testing.app({ outdir, stackTraces: false });
}

/** A fresh stack with the gate and the host and pool groups, named as Firewalls names them. */
function freshStack(env: EnvironmentConfig = config): { app: App; stack: TerraformStack; sg: Record<AnyRole, SecurityGroup> } {
  const app = newApp();
  const stack = new TerraformStack(app, env.name);
  new AwsProvider(stack, 'aws', { region: env.aws.region });
  applyAudit(stack, env);
  const sg = Object.fromEntries(ANY_ROLES.map((role) => [role, new SecurityGroup(stack, `sg-${role}`, { name: `weebeetalk-${env.name}-${role}`, description: `WeeBeeTalk ${role} host` })])) as Record<
    AnyRole,
    SecurityGroup
  >;
  return { app, stack, sg };
}

/** The error app.synth() throws, or "" when synthesis passes. */
function synthError(app: App): string {
  try {
    app.synth();
    return '';
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}

function firedRules(message: string): RuleId[] {
  return [...new Set([...message.matchAll(/^\[[^\]]+\] (WBT-[A-Z0-9-]+) /gm)].map((m) => m[1] as RuleId))].sort();
}

type Add = (stack: TerraformStack, sg: Record<AnyRole, SecurityGroup>) => void;

/** An ingress rule on a host's group, from a CIDR in `rule` or from another host's group. */
function ingress(role: AnyRole, rule: Omit<VpcSecurityGroupIngressRuleConfig, 'securityGroupId'>, fromHost?: AnyRole): Add {
  return (stack, sg) => void new VpcSecurityGroupIngressRule(stack, 'bad', { securityGroupId: sg[role].id, ...(fromHost ? { referencedSecurityGroupId: sg[fromHost].id } : {}), ...rule });
}

const instance =
  (extra: Partial<ConstructorParameters<typeof Instance>[2]>): Add =>
  (stack) =>
    void new Instance(stack, 'bad', {
      ami: 'ami-0123456789abcdef0',
      instanceType: 't3.micro',
      metadataOptions: { httpTokens: 'required' },
      rootBlockDevice: { encrypted: true },
      ...extra,
    });

const template =
  (extra: Partial<ConstructorParameters<typeof LaunchTemplate>[2]>): Add =>
  (stack) =>
    void new LaunchTemplate(stack, 'bad', {
      imageId: 'ami-0123456789abcdef0',
      metadataOptions: { httpTokens: 'required' },
      blockDeviceMappings: [{ deviceName: '/dev/xvda', ebs: { encrypted: 'true' } }],
      ...extra,
    });

/** A configuration bundle object of `role` holding one file (the privacy rules read the bundles). */
const bundle = (stack: TerraformStack, role: AnyRole, path: string, content: string): S3Object =>
  new S3Object(stack, 'bad', {
    bucket: 'b',
    key: `bundles/${role}/${'0'.repeat(64)}.json`,
    content: JSON.stringify({ format: 1, environment: 'production', role, hook: '/x', files: [{ path, content }] }),
  });

const TLS_ONLY = (arn: string): string =>
  JSON.stringify({
    Version: '2012-10-17',
    Statement: [{ Effect: 'Deny', Principal: '*', Action: 's3:*', Resource: [arn, `${arn}/*`], Condition: { Bool: { 'aws:SecureTransport': 'false' } } }],
  });

interface BadCase {
  readonly name: string;
  readonly add: Add;
  /** Exactly the rules that must fire: the case proves its rule and nothing unrelated. */
  readonly fires: readonly RuleId[];
  /** The construct the error is put on, when not the one named "bad". @default "bad" */
  readonly at?: string;
  /** The environment the gate judges by. @default staging */
  readonly env?: EnvironmentConfig;
}

const BAD: Record<RuleId, readonly BadCase[]> = {
  'WBT-SG-WORLD': [
    {
      name: 'tcp 8443 world-open on chat (not on its allowlist)',
      add: ingress('chat', { ipProtocol: 'tcp', fromPort: 8443, toPort: 8443, cidrIpv4: '0.0.0.0/0', description: 'Alternative HTTPS' }),
      fires: ['WBT-SG-WORLD'],
    },
    {
      name: 'udp 10000 world-open on chat (allowlisted on meet only)',
      add: ingress('chat', { ipProtocol: 'udp', fromPort: 10000, toPort: 10000, cidrIpv4: '0.0.0.0/0', description: 'Media' }),
      fires: ['WBT-SG-WORLD'],
    },
    {
      name: '0.0.0.0/1 counts as the world',
      add: ingress('meet', { ipProtocol: 'tcp', fromPort: 8443, toPort: 8443, cidrIpv4: '0.0.0.0/1', description: 'Half the internet' }),
      fires: ['WBT-SG-WORLD'],
    },
    { name: 'IPv6 ::/0', add: ingress('chat', { ipProtocol: 'tcp', fromPort: 8443, toPort: 8443, cidrIpv6: '::/0', description: 'Alternative HTTPS' }), fires: ['WBT-SG-WORLD'] },
  ],
  'WBT-SG-ADMIN': [
    { name: 'SSH world-open', add: ingress('chat', { ipProtocol: 'tcp', fromPort: 22, toPort: 22, cidrIpv4: '0.0.0.0/0', description: 'SSH' }), fires: ['WBT-SG-ADMIN', 'WBT-SG-WORLD'] },
    { name: 'RDP world-open', add: ingress('meet', { ipProtocol: 'tcp', fromPort: 3389, toPort: 3389, cidrIpv4: '0.0.0.0/0', description: 'RDP' }), fires: ['WBT-SG-ADMIN', 'WBT-SG-WORLD'] },
  ],
  'WBT-SG-SIP': [
    {
      name: 'udp 5060 world-open on pbx without a justification',
      add: ingress('pbx', { ipProtocol: 'udp', fromPort: 5060, toPort: 5060, cidrIpv4: '0.0.0.0/0', description: 'SIP' }),
      fires: ['WBT-SG-SIP'],
    },
    { name: 'RTP world-open on pbx', add: ingress('pbx', { ipProtocol: 'udp', fromPort: 10000, toPort: 19999, cidrIpv4: '0.0.0.0/0', description: 'RTP' }), fires: ['WBT-SG-SIP'] },
    {
      name: 'tcp 5061 world-open on meet',
      add: ingress('meet', { ipProtocol: 'tcp', fromPort: 5061, toPort: 5061, cidrIpv4: '0.0.0.0/0', description: 'SIP TLS' }),
      fires: ['WBT-SG-SIP', 'WBT-SG-WORLD'],
    },
  ],
  'WBT-SG-INTERNAL': [
    { name: 'MongoDB from the meet host', add: ingress('chat', { ipProtocol: 'tcp', fromPort: 27017, toPort: 27017, description: 'MongoDB' }, 'meet'), fires: ['WBT-SG-INTERNAL'] },
    {
      name: 'a range containing Grafana 3000, from an office CIDR',
      add: ingress('chat', { ipProtocol: 'tcp', fromPort: 2900, toPort: 3100, cidrIpv4: '198.51.100.0/24', description: 'Dashboards' }),
      fires: ['WBT-SG-INTERNAL'],
    },
    { name: 'Asterisk AMI from the meet host', add: ingress('pbx', { ipProtocol: 'tcp', fromPort: 5038, toPort: 5038, description: 'AMI' }, 'meet'), fires: ['WBT-SG-INTERNAL'] },
  ],
  'WBT-SG-XMPP': [
    {
      name: "Prosody's client port from the chat host",
      add: ingress('meet', { ipProtocol: 'tcp', fromPort: 5222, toPort: 5222, description: 'XMPP' }, 'chat'),
      fires: ['WBT-SG-INTERNAL', 'WBT-SG-XMPP'],
    },
    {
      name: "Prosody's client port from a network inside the VPC",
      add: ingress('meet', { ipProtocol: 'tcp', fromPort: 5222, toPort: 5222, cidrIpv4: '10.21.1.0/24', description: 'XMPP for the pools' }),
      fires: ['WBT-SG-INTERNAL', 'WBT-SG-XMPP'],
    },
    { name: "Prosody's HTTP port from the JVB pool", add: ingress('meet', { ipProtocol: 'tcp', fromPort: 5280, toPort: 5280, description: 'BOSH' }, 'jvb'), fires: ['WBT-SG-INTERNAL', 'WBT-SG-XMPP'] },
    {
      name: "Prosody's client port on a pool from the meet host",
      add: ingress('jvb', { ipProtocol: 'tcp', fromPort: 5222, toPort: 5222, description: 'XMPP' }, 'meet'),
      fires: ['WBT-SG-INTERNAL', 'WBT-SG-XMPP'],
    },
  ],
  'WBT-SG-DIALIN': [
    {
      name: "the dial-in mapper's port world-open",
      add: ingress('meet', { ipProtocol: 'tcp', fromPort: 5290, toPort: 5290, cidrIpv4: '0.0.0.0/0', description: 'Dial-in mapper' }),
      fires: ['WBT-SG-DIALIN', 'WBT-SG-WORLD'],
    },
    {
      name: "the dial-in mapper's port from a network inside the VPC (not the pbx host's group)",
      add: ingress('meet', { ipProtocol: 'tcp', fromPort: 5290, toPort: 5290, cidrIpv4: '10.20.0.0/16', description: 'Dial-in mapper' }),
      fires: ['WBT-SG-DIALIN'],
    },
    {
      name: "the dial-in mapper's port from the chat host",
      add: ingress('meet', { ipProtocol: 'tcp', fromPort: 5290, toPort: 5290, description: 'Dial-in mapper' }, 'chat'),
      fires: ['WBT-SG-DIALIN'],
    },
    {
      name: 'a range around the mapper port from the pbx host (more than the mapper)',
      add: ingress('meet', { ipProtocol: 'tcp', fromPort: 5285, toPort: 5295, description: 'Dial-in mapper' }, 'pbx'),
      fires: ['WBT-SG-DIALIN'],
    },
    {
      name: "the mapper's port from the pbx host with Jigasi off (nothing listens)",
      add: ingress('meet', { ipProtocol: 'tcp', fromPort: 5290, toPort: 5290, description: 'Dial-in mapper' }, 'pbx'),
      fires: ['WBT-SG-DIALIN'],
      env: loadEnvironment({ ...staging, sip: { ...staging.sip, dialIn: { rooms: [] } }, jitsi: { ...staging.jitsi, jigasi: false } }),
    },
  ],
  'WBT-SG-DESC': [
    { name: 'a rule without description', add: ingress('pbx', { ipProtocol: 'tcp', fromPort: 5061, toPort: 5061, cidrIpv4: '198.51.100.0/24' }), fires: ['WBT-SG-DESC'] },
    { name: 'a group without description', add: (stack) => void new SecurityGroup(stack, 'bad', { name: 'undescribed' }), fires: ['WBT-SG-DESC'] },
  ],
  'WBT-SG-PROTO': [
    {
      name: 'egress protocol -1',
      add: (stack, sg) => void new VpcSecurityGroupEgressRule(stack, 'bad', { securityGroupId: sg.chat.id, ipProtocol: '-1', cidrIpv4: '0.0.0.0/0', description: 'Everything out' }),
      fires: ['WBT-SG-PROTO'],
    },
    {
      name: 'ingress protocol -1 from a host (every port, so internal ones too)',
      add: ingress('chat', { ipProtocol: '-1', description: 'All' }, 'meet'),
      fires: ['WBT-SG-DIALIN', 'WBT-SG-INTERNAL', 'WBT-SG-PROTO', 'WBT-SG-XMPP'],
    },
  ],
  'WBT-EC2-IMDS': [
    { name: 'http_tokens optional', add: instance({ metadataOptions: { httpTokens: 'optional' } }), fires: ['WBT-EC2-IMDS'] },
    { name: 'a launch template without IMDSv2', add: template({ metadataOptions: { httpTokens: 'optional' } }), fires: ['WBT-EC2-IMDS'] },
  ],
  'WBT-EC2-ROOT-ENC': [
    { name: "a launch template with the image's own root", add: template({ blockDeviceMappings: [] }), fires: ['WBT-EC2-ROOT-ENC'] },
    { name: 'a launch template with an unencrypted root', add: template({ blockDeviceMappings: [{ deviceName: '/dev/xvda', ebs: { encrypted: 'false' } }] }), fires: ['WBT-EC2-ROOT-ENC'] },
    { name: 'unencrypted root', add: instance({ rootBlockDevice: { encrypted: false } }), fires: ['WBT-EC2-ROOT-ENC'] },
    { name: 'an unencrypted extra block device', add: instance({ ebsBlockDevice: [{ deviceName: '/dev/sdg', encrypted: false }] }), fires: ['WBT-EC2-ROOT-ENC'] },
  ],
  'WBT-EBS-ENC': [{ name: 'unencrypted volume', add: (stack) => void new EbsVolume(stack, 'bad', { availabilityZone: 'ap-southeast-3a', size: 10, encrypted: false }), fires: ['WBT-EBS-ENC'] }],
  'WBT-EC2-USERDATA': [
    {
      name: 'a literal secret in a cloud-init part',
      add: (stack) => {
        new CloudinitProvider(stack, 'cloudinit', {});
        new DataCloudinitConfig(stack, 'bad', { part: [{ contentType: 'text/x-shellscript', content: '#!/bin/sh\nexport JWT_APP_SECRET=hunter2hunter2\n' }] });
      },
      fires: ['WBT-EC2-USERDATA'],
    },
    { name: 'an AWS access key in instance user_data', add: instance({ userData: 'AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\n' }), fires: ['WBT-EC2-USERDATA'] },
  ],
  'WBT-CONFIG-SECRET': [
    {
      name: "a password's value in a bundle file (a bundle names secrets by their SSM parameter only)",
      add: (stack) =>
        void new S3Object(stack, 'bad', {
          bucket: 'bad-bucket',
          key: 'bundles/chat/0.json',
          content: JSON.stringify({ format: 1, files: [{ path: '/etc/weebeetalk/config.env', content: 'FQDN="chat.example.org"\nRC_ADMIN_PASS="hunter2hunter2"\n' }] }),
        }),
      fires: ['WBT-CONFIG-SECRET'],
    },
    {
      name: 'a private key in an object of the plan',
      add: (stack) => void new S3Object(stack, 'bad', { bucket: 'bad-bucket', key: 'x.pem', content: '-----BEGIN PRIVATE KEY-----\nMII\n-----END PRIVATE KEY-----\n' }),
      fires: ['WBT-CONFIG-SECRET'],
    },
  ],
  'WBT-S3-PAB': [
    {
      name: 'restrict_public_buckets off',
      add: (stack) => {
        const b = new PrivateBucket(stack, 'bad', { bucketName: 'bad-bucket', noncurrentVersionDays: 30 });
        (b.node.findChild('public-access-block') as S3BucketPublicAccessBlock).addOverride('restrict_public_buckets', false);
      },
      fires: ['WBT-S3-PAB'],
      at: 'bad/public-access-block',
    },
    {
      name: 'no public access block at all',
      add: (stack) => {
        const b = new S3Bucket(stack, 'bad', { bucket: 'bad-bucket' });
        new S3BucketPolicy(stack, 'bad-policy', { bucket: b.id, policy: TLS_ONLY('arn:aws:s3:::bad-bucket') });
      },
      fires: ['WBT-S3-PAB'],
    },
  ],
  'WBT-S3-TLS': [
    {
      name: 'a policy that does not deny plain HTTP',
      add: (stack) => {
        const b = new S3Bucket(stack, 'bad', { bucket: 'bad-bucket' });
        new S3BucketPublicAccessBlock(stack, 'bad-pab', { bucket: b.id, blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true });
        const policy = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Deny', Principal: '*', Action: 's3:DeleteBucket', Resource: 'arn:aws:s3:::bad-bucket' }] });
        new S3BucketPolicy(stack, 'bad-policy', { bucket: b.id, policy });
      },
      fires: ['WBT-S3-TLS'],
      at: 'bad-policy',
    },
    {
      name: 'no policy at all',
      add: (stack) => {
        const b = new S3Bucket(stack, 'bad', { bucket: 'bad-bucket' });
        new S3BucketPublicAccessBlock(stack, 'bad-pab', { bucket: b.id, blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true });
      },
      fires: ['WBT-S3-TLS'],
    },
  ],
  'WBT-KMS-CMK': [
    {
      name: 'a data volume on the AWS managed key in an environment with its own key',
      add: (stack) => {
        new KmsKey(stack, 'key', { enableKeyRotation: true });
        new EbsVolume(stack, 'bad', { availabilityZone: 'ap-southeast-3a', size: 10, type: 'gp3', encrypted: true });
      },
      fires: ['WBT-KMS-CMK'],
      env: withKey,
    },
    { name: 'a key that does not rotate', add: (stack) => new KmsKey(stack, 'bad', { enableKeyRotation: false }), fires: ['WBT-KMS-CMK'], env: withKey },
    {
      name: 'a bucket on SSE-S3',
      add: (stack) => new S3BucketServerSideEncryptionConfigurationA(stack, 'bad', { bucket: 'bad-bucket', rule: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: 'AES256' } }] }),
      fires: ['WBT-KMS-CMK'],
      env: withKey,
    },
    {
      name: 'a SecureString on aws/ssm',
      add: (stack) =>
        new SsmParameter(stack, 'bad', { name: '/weebeetalk/staging/x', type: 'SecureString', valueWo: '${ephemeral.aws_secretsmanager_random_password.r.random_password}', valueWoVersion: 10 }),
      fires: ['WBT-KMS-CMK'],
      env: withKey,
    },
  ],
  'WBT-PRIV-STATE': [
    { name: 'a random-password data source (its result is stored)', add: (stack) => new DataAwsSecretsmanagerRandomPassword(stack, 'bad', { passwordLength: 32 }), fires: ['WBT-PRIV-STATE'] },
    { name: 'a SecureString with a value (stored)', add: (stack) => new SsmParameter(stack, 'bad', { name: '/weebeetalk/staging/x', type: 'SecureString', value: 'x' }), fires: ['WBT-PRIV-STATE'] },
    {
      name: 'an ephemeral value in an attribute Terraform stores',
      add: (stack) => new SsmParameter(stack, 'bad', { name: '/weebeetalk/staging/x', type: 'String', value: '${ephemeral.aws_secretsmanager_random_password.r.random_password}' }),
      fires: ['WBT-PRIV-STATE'],
    },
    { name: 'a data source reading a parameter (its decrypted value is stored)', add: (stack) => new DataAwsSsmParameter(stack, 'bad', { name: '/weebeetalk/staging/x' }), fires: ['WBT-PRIV-STATE'] },
  ],
  'WBT-PRIV-CHAT': [
    {
      name: "production Rocket.Chat without end-to-end encryption or two-factor authentication (the chat bundle's compose override)",
      add: (stack) =>
        bundle(
          stack,
          'chat',
          `${ROLE_PATHS.chat.etc}/compose.weebeetalk.yml`,
          'services:\n  rocketchat:\n    environment:\n      OVERWRITE_SETTING_Accounts_RegistrationForm: Disabled\n      OVERWRITE_SETTING_E2E_Enable: "false"\n',
        ),
      fires: ['WBT-PRIV-CHAT'],
      env: productionPlain,
    },
  ],
  'WBT-PRIV-MEET': [
    {
      name: "production Jitsi without the lobby (the meet bundle's docker-jitsi-meet settings)",
      add: (stack) => bundle(stack, 'meet', roleFiles('meet').settings, 'ENABLE_AUTH="1"\nAUTH_TYPE="internal"\nENABLE_LOBBY="0"\n'),
      fires: ['WBT-PRIV-MEET'],
      env: productionPlain,
    },
  ],
};

describe('the gate fails synthesis on every policy rule', () => {
  test('every rule of the policy has a bad case', () => {
    expect(Object.keys(BAD).sort()).toEqual(RULES.map((r) => r.id).sort());
  });

  test('a fresh stack with the gate and nothing bad synthesizes', () => {
    expect(synthError(freshStack().app)).toBe('');
  });

  const cases = Object.entries(BAD).flatMap(([rule, list]) => list.map((c) => [rule, c.name, c] as const));
  test.each(cases)('%s: %s', (rule, _name, c) => {
    const { app, stack, sg } = freshStack(c.env);
    c.add(stack, sg);
    const error = synthError(app);
    expect(error).toMatch(/^Encountered Annotations with level "ERROR"/);
    expect(firedRules(error)).toEqual([...c.fires].sort());
    // Names the construct and the Terraform resource, and says how to fix it.
    expect(error).toContain(`[${(c.env ?? config).name}/${c.at ?? 'bad'}] ${rule} `);
    expect(error).toMatch(/ Fix: /);
  });

  test('Testing.synth() ignores error annotations: it is no gate (why these tests use app.synth()); fullSynth throws', () => {
    const { stack, sg } = freshStack();
    BAD['WBT-SG-SIP'][0].add(stack, sg);
    expect(() => Testing.synth(stack)).not.toThrow();
    // What Testing.fullSynth() does (it throws too), into our outdir instead of a directory it never removes.
    expect(() => stack.synthesizer.synthesize({ outdir, manifest: new Manifest('stubbed', outdir, false) })).toThrow(/WBT-SG-SIP/);
  });

  test('a second synthesis of the same tree does not repeat annotations', () => {
    const { app, stack, sg } = freshStack();
    BAD['WBT-SG-SIP'][0].add(stack, sg);
    synthError(app);
    const again = synthError(app);
    expect(again.match(/WBT-SG-SIP/g)).toHaveLength(1);
  });
});

describe('the gate on the WeeBeeTalk stack', () => {
  test('is wired into WeeBeeTalkStack: a world-open SIP rule added to the real staging stack stops synthesis', () => {
    const app = newApp();
    const stack = new WeeBeeTalkStack(app, 'staging', { config });
    const pbxGroup = stack.node.findChild('firewalls').node.findChild('sg-pbx') as SecurityGroup;
    new VpcSecurityGroupIngressRule(stack, 'open-sip', { securityGroupId: pbxGroup.id, ipProtocol: 'udp', fromPort: 5060, toPort: 5060, cidrIpv4: '0.0.0.0/0', description: 'SIP from anywhere' });
    const error = synthError(app);
    expect(firedRules(error)).toEqual(['WBT-SG-SIP']);
    expect(error).toContain('[staging/open-sip] WBT-SG-SIP');
    expect(error).toContain('aws_vpc_security_group_ingress_rule.open-sip');
    expect(error).toContain('(pbx host: ingress udp 5060 from 0.0.0.0/0: opens SIP/RTP to the internet without sip.worldOpenJustification)');
    expect(error).toContain('sip.worldOpenJustification');
  });

  test('a configuration that puts an internal port in a planned range fails: RTP 9000-9999 holds Prometheus and node-exporter', () => {
    const bad = loadEnvironment({ ...staging, sip: { ...staging.sip, rtpPorts: { from: 9000, to: 9999 } } });
    const app = newApp();
    new WeeBeeTalkStack(app, 'staging', { config: bad });
    const error = synthError(app);
    expect(firedRules(error)).toEqual(['WBT-SG-INTERNAL']);
    expect(error).toContain('[staging/firewalls/pbx-rtp-from-meet] WBT-SG-INTERNAL');
    expect(error).toContain('9090 (Prometheus), 9100 (node-exporter)');
  });

  test('world-open SIP and RTP with sip.worldOpenJustification synthesize, and the audit shows them as accepted with the reason', () => {
    const justification = 'Remote field staff dial in from mobile networks with changing addresses; fail2ban guards the PBX.';
    const open = loadEnvironment({
      ...staging,
      sip: { ...staging.sip, trunkSignallingCidrs: ['0.0.0.0/0'], trunkMediaCidrs: ['0.0.0.0/0'], worldOpenJustification: justification },
    });
    const app = newApp();
    const stack = new WeeBeeTalkStack(app, 'staging', { config: open });
    expect(synthError(app)).toBe('');
    const audit = auditStack(stack.toTerraform() as Json, open);
    const accepted = audit.groups.flatMap((g) => g.rows.filter((r) => r.verdict === 'accepted').map((r) => `${g.host} ${r.protocol} ${r.ports} ${r.peer}`));
    expect(accepted.sort()).toEqual(['pbx tcp 5060 0.0.0.0/0 (trunk)', 'pbx udp 10000-19999 0.0.0.0/0 (trunk-media)', 'pbx udp 5060 0.0.0.0/0 (trunk)']);
    expect(
      audit.groups
        .flatMap((g) => g.rows)
        .filter((r) => r.verdict === 'accepted')
        .every((r) => r.justification === justification && r.rules[0] === 'WBT-SG-SIP'),
    ).toBe(true);
    expect(audit.accepted).toBe(3);
  });
});
