/** The constructs' grant methods on a bare stack: each adds its statements to the role, in call order, and the host waits for what it was granted. */
import { App, TerraformStack, Testing } from 'cdktf';
import { S3Object } from '@cdktf/provider-aws/lib/s3-object';
import { ApplyDocument } from '../constructs/apply-document';
import { Dns } from '../constructs/dns';
import { HostConfiguration } from '../constructs/host-configuration';
import { HostRole } from '../constructs/host-role';
import { PrivateBucket } from '../constructs/private-bucket';
import { Secrets } from '../constructs/secrets';
import { hostBundle } from '../userdata/bundle';

type Statement = { sid?: string; actions?: string[]; resources?: string[]; condition?: { test: string; variable: string; values: string[] }[] };

function bare(): { stack: TerraformStack; role: HostRole } {
  const stack = new TerraformStack(Testing.app() as App, 'bare');
  return { stack, role: new HostRole(stack, 'role', { name: 'r' }) };
}

/** The role's statements after the SSM agent's three. */
function granted(stack: TerraformStack): Statement[] {
  const json = JSON.parse(Testing.synth(stack)) as { data: { aws_iam_policy_document: Record<string, { statement: Statement[] }> } };
  const doc = Object.entries(json.data.aws_iam_policy_document).find(([k]) => k.includes('grants'))![1];
  expect(doc.statement.slice(0, 3).map((s) => s.sid)).toEqual(['SsmAgent', 'SessionManagerChannels', 'SsmAgentMessages']);
  return doc.statement.slice(3);
}

describe('grant methods', () => {
  it('PrivateBucket.grantReadWrite: objects (under a prefix) read, written, deleted; the bucket listed', () => {
    const { stack, role } = bare();
    new PrivateBucket(stack, 'uploads-bucket', { bucketName: 'b-up', noncurrentVersionDays: 1, partition: 'aws-cn', sidPrefix: 'Uploads' }).grantReadWrite(role, 'x/');
    expect(granted(stack)).toEqual([
      { sid: 'UploadsReadWrite', actions: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload'], resources: ['arn:aws-cn:s3:::b-up/x/*'] },
      { sid: 'UploadsList', actions: ['s3:ListBucket'], resources: ['arn:aws-cn:s3:::b-up'] },
    ]);
  });

  it('PrivateBucket.grantPut: put only (with multipart abort, or read back), never delete or list', () => {
    const { stack, role } = bare();
    new PrivateBucket(stack, 'recordings-bucket', { bucketName: 'b-rec', noncurrentVersionDays: 1 }).grantPut(role);
    new PrivateBucket(stack, 'backups-bucket', { bucketName: 'b-bak', noncurrentVersionDays: 1, sidPrefix: 'Backups' }).grantPut(role, 'chat/', { readBack: true });
    expect(granted(stack)).toEqual([
      { sid: 'RecordingsBucketWrite', actions: ['s3:PutObject', 's3:AbortMultipartUpload'], resources: ['arn:aws:s3:::b-rec/*'] },
      { sid: 'BackupsWrite', actions: ['s3:PutObject', 's3:GetObject'], resources: ['arn:aws:s3:::b-bak/chat/*'] },
    ]);
  });

  it('PrivateBucket.grantRead: GetObject under the prefix only (no list, no write), and the host waits for what it reads', () => {
    const { stack, role } = bare();
    const bucket = new PrivateBucket(stack, 'config-bucket', { bucketName: 'b-cfg', noncurrentVersionDays: 1, partition: 'aws-cn', sidPrefix: 'Config' });
    const object = new S3Object(stack, 'bundle', { bucket: 'b-cfg', key: 'bundles/pbx/x.json', content: '{}' });
    bucket.grantRead(role, 'bundles/pbx/', [object]);
    expect(granted(stack)).toEqual([{ sid: 'ConfigRead', actions: ['s3:GetObject'], resources: ['arn:aws-cn:s3:::b-cfg/bundles/pbx/*'] }]);
    expect(role.prerequisites).toEqual([role.policy, object]);
  });

  it("PrivateBucket.grantCommandOutput: what the SSM agent needs to store a command's output under a prefix, nothing to read", () => {
    const { stack, role } = bare();
    new PrivateBucket(stack, 'config-bucket', { bucketName: 'b-cfg', noncurrentVersionDays: 1, sidPrefix: 'Config' }).grantCommandOutput(role, 'apply-output/meet/');
    expect(granted(stack)).toEqual([
      { sid: 'ConfigCommandOutput', actions: ['s3:PutObject', 's3:PutObjectAcl'], resources: ['arn:aws:s3:::b-cfg/apply-output/meet/*'] },
      { sid: 'ConfigEncryption', actions: ['s3:GetEncryptionConfiguration'], resources: ['arn:aws:s3:::b-cfg'] },
    ]);
  });

  it("HostConfiguration.grantApply: its own role's bundles and apply output, and the host waits for its bundle and the pointer to it", () => {
    const { stack, role } = bare();
    const bucket = new PrivateBucket(stack, 'config-bucket', { bucketName: 'b-cfg', noncurrentVersionDays: 1, sidPrefix: 'Config' });
    const document = new ApplyDocument(stack, 'apply-document', { name: 'w-apply' });
    const bundle = hostBundle('e', 'chat', { env: { A: 1 }, hook: 'rocketchat', files: [] });
    const configuration = new HostConfiguration(stack, 'chat-configuration', { name: 'w-chat', role: 'chat', region: 'r-1', bundle, bucket, parameterName: '/w/chat/bundle', document });
    configuration.grantApply(role);
    expect(granted(stack)).toEqual([
      { sid: 'ConfigRead', actions: ['s3:GetObject'], resources: ['arn:aws:s3:::b-cfg/bundles/chat/*'] },
      { sid: 'ConfigCommandOutput', actions: ['s3:PutObject', 's3:PutObjectAcl'], resources: ['arn:aws:s3:::b-cfg/apply-output/chat/*'] },
      { sid: 'ConfigEncryption', actions: ['s3:GetEncryptionConfiguration'], resources: ['arn:aws:s3:::b-cfg'] },
    ]);
    expect(role.prerequisites).toEqual([role.policy, configuration.object, configuration.pointer]);
  });

  it('a second grant with the same Sid is refused at synth (IAM refuses a policy with duplicate Sids)', () => {
    const { stack, role } = bare();
    const bucket = new PrivateBucket(stack, 'backups-bucket', { bucketName: 'b-bak', noncurrentVersionDays: 1, sidPrefix: 'Backups' });
    bucket.grantPut(role, 'chat/');
    expect(() => bucket.grantPut(role, 'meet/')).toThrow(/Sid BackupsWrite is granted already/);
  });

  it('Secrets.grantRead: one host folder, and GetParameter on each shared secret of which the role is a reader; the host waits for exactly those parameters', () => {
    const { stack, role } = bare();
    const secrets = new Secrets(stack, 'secrets', { prefix: '/w/e', arn: { partition: 'aws', region: 'r-1', account: '111122223333' } });
    secrets.add({ id: 'shared', description: 'both', path: 'meet/x', readers: ['pbx'] });
    secrets.add({ id: 'meet-only', description: 'meet', path: 'meet/y' });
    secrets.add({ id: 'pbx-only', description: 'pbx', path: 'pbx/sip/1' });
    secrets.addPlain('meet/id', 'meet', 'v');
    secrets.grantRead(role, 'pbx');
    expect(granted(stack)).toEqual([
      {
        sid: 'OwnSecretsOnly',
        actions: ['ssm:GetParameter', 'ssm:GetParameters', 'ssm:GetParametersByPath'],
        resources: ['arn:aws:ssm:r-1:111122223333:parameter/w/e/pbx', 'arn:aws:ssm:r-1:111122223333:parameter/w/e/pbx/*'],
      },
      { sid: 'SharedSecrets', actions: ['ssm:GetParameter'], resources: ['arn:aws:ssm:r-1:111122223333:parameter/w/e/meet/x'] },
    ]);
    expect(role.prerequisites).toEqual([role.policy, secrets.parameters['pbx/sip/1'], secrets.parameters['meet/x']]);
  });

  it('Dns.grantAcmeChallenge: only the TXT record _acme-challenge.<fqdn> of its zone, UPSERT and DELETE', () => {
    const { stack, role } = bare();
    const dns = new Dns(stack, 'dns', { zoneName: 'z.test', zoneMode: 'lookup', hosts: [], sipDomain: 'z.test', pbxFqdn: 'pbx.z.test', partition: 'aws-us-gov' });
    dns.grantAcmeChallenge(role, 'pbx.z.test');
    const [change, status, find] = granted(stack);
    expect(change.sid).toBe('AcmeChallengeOnly');
    expect(change.actions).toEqual(['route53:ChangeResourceRecordSets']);
    expect(change.resources![0]).toMatch(/^arn:aws-us-gov:route53:::hostedzone\/\$\{data\.aws_route53_zone\.[A-Za-z0-9_]+\.zone_id\}$/);
    expect(change.condition).toEqual([
      { test: 'ForAllValues:StringEquals', variable: 'route53:ChangeResourceRecordSetsNormalizedRecordNames', values: ['_acme-challenge.pbx.z.test'] },
      { test: 'ForAllValues:StringEquals', variable: 'route53:ChangeResourceRecordSetsRecordTypes', values: ['TXT'] },
      { test: 'ForAllValues:StringEquals', variable: 'route53:ChangeResourceRecordSetsActions', values: ['UPSERT', 'DELETE'] },
    ]);
    expect([status, find]).toEqual([
      { sid: 'AcmeChangeStatus', actions: ['route53:GetChange'], resources: ['arn:aws-us-gov:route53:::change/*'] },
      { sid: 'AcmeFindZone', actions: ['route53:ListHostedZones'], resources: ['*'] },
    ]);
  });

  it('grants come out in call order, after the agent, whatever construct adds them', () => {
    const { stack, role } = bare();
    const bucket = new PrivateBucket(stack, 'b', { bucketName: 'b', noncurrentVersionDays: 1, sidPrefix: 'B' });
    bucket.grantPut(role);
    new Secrets(stack, 'secrets', { prefix: '/p' }).grantRead(role, 'chat');
    bucket.grantReadWrite(role);
    expect(granted(stack).map((s) => s.sid)).toEqual(['BWrite', 'OwnSecretsOnly', 'BReadWrite', 'BList']);
  });
});
