/**
 * What a booting host meets in AWS, read from the synthesized plan only (never from the code under test):
 * its user-data parts, instance tags, IAM statements, the SSM parameters, buckets and their objects (the hosts'
 * configuration bundles), the apply document and the host's association, zone and A records.
 * Values Terraform knows only after apply (Elastic IPs, volume ids, the account, the zone id, generated
 * passwords) get fake but consistent values; an unknown reference fails loudly.
 */
import { createHash } from 'node:crypto';
import { parse } from 'yaml';
import type { AnyRole, Pool, Role } from '../../../config/schema';
import { fromTerraformLiteral } from '../../../userdata/cloud-config';
import { bundleOf, bundleOfAssociation, type BundleInPlan } from '../host-files';
import { hostIam, profileIam, type HostIam } from '../iam';
import { asArray, asObject, asString, dataSources, isObject, referenced, resources, single, type Block, type Synthesized } from '../synth';
import type { PolicyStatement } from './policy';

export const ACCOUNT = '111122223333';

export interface WriteFileSpec {
  readonly path: string;
  readonly content: string;
  readonly permissions: string;
  readonly owner: string;
}

export interface Parameter {
  readonly name: string;
  readonly type: 'String' | 'SecureString' | 'StringList';
  readonly value: string;
}

/** An object of the plan's buckets (what S3 serves): the hosts' configuration bundles. */
export interface StoredObject {
  readonly bucket: string;
  readonly key: string;
  readonly content: string;
}

/** A bundle file as the host's apply tool writes it (mode, uid:gid owner; @PUBLIC_IP@ still in when render). */
export interface BundleFileSpec {
  readonly path: string;
  readonly content: string;
  readonly mode: string;
  readonly owner: string;
  readonly render: boolean;
  readonly services: readonly string[];
}

/** The host's configuration as the plan gives it: its bundle and how State Manager applies it. */
export interface HostConfigurationPlan {
  readonly bucket: string;
  readonly key: string;
  readonly sha256: string;
  readonly json: string;
  readonly files: readonly BundleFileSpec[];
  /** The apply document's shell command with the association's parameters put in, as the SSM agent runs it. */
  readonly command: string;
  /** The SSM parameter naming the current bundle (s3://bucket/key). */
  readonly pointer: string;
}

/** An Auto Scaling group of the plan as the Auto Scaling API knows it once applied. */
export interface PlannedGroup {
  readonly name: string;
  /** arn:aws:autoscaling:<region>:<account>:autoScalingGroup:<uuid>:autoScalingGroupName/<name> (the uuid AWS generates: a fake). */
  readonly arn: string;
  /** Its lifecycle hooks on EC2_INSTANCE_TERMINATING. */
  readonly terminationHooks: readonly string[];
}

/** What makes a host a member of an Auto Scaling group: the group, its addresses from instance metadata. */
export interface Membership {
  readonly group: string;
  /** The pools' subnet (the launch template's) and the member's address in it (meta-data/local-ipv4). */
  readonly subnetCidr: string;
  readonly privateIp: string;
}

/** Everything the stand-ins of one host know. */
export interface World {
  readonly env: string;
  readonly role: AnyRole;
  readonly region: string;
  readonly account: string;
  readonly roleName: string;
  /** The Elastic IP (a host) or the address EC2 gives a member at launch (meta-data/public-ipv4). */
  readonly publicIp: string;
  /** '' for a member: it has no data volume. */
  readonly dataVolumeId: string;
  /** A pool member's group and private address; undefined for the hosts. */
  readonly member?: Membership;
  /** Every Auto Scaling group of the plan (the API refuses names it does not have). */
  readonly groups: readonly PlannedGroup[];
  /** Instance tags as IMDS lists them (provider default tags included). */
  readonly tags: Record<string, string>;
  readonly parameters: readonly Parameter[];
  readonly statements: readonly PolicyStatement[];
  readonly buckets: readonly string[];
  readonly objects: readonly StoredObject[];
  readonly zones: readonly { readonly id: string; readonly name: string }[];
  /** Public A records of the zone: name to addresses. */
  readonly aRecords: Readonly<Record<string, readonly string[]>>;
}

export interface HostPlan {
  readonly world: World;
  /** cloud-init's write_files (the user-data). */
  readonly writeFiles: readonly WriteFileSpec[];
  readonly configuration: HostConfigurationPlan;
  readonly packages: readonly string[];
  readonly packageUpdate: boolean;
  readonly packageUpgrade: boolean;
  /** The text/x-shellscript part: its filename and content as cloud-init saves it. */
  readonly script: { readonly filename: string; readonly content: string };
  /** cloud-config `users`: undefined means the image's default user, [] none. */
  readonly users: readonly unknown[] | undefined;
  /** cloud-config keys the harness does not render (the test fails on them rather than skipping them silently). */
  readonly unrenderedKeys: readonly string[];
}

const hex = (seed: string, n: number): string => createHash('sha256').update(seed).digest('hex').slice(0, n);

/** A fake, deterministic value for each reference the plan leaves to apply time. */
function resolver(s: Synthesized): (text: string) => string {
  const eips = resources(s, 'aws_eip')
    .map((e) => e.address)
    .sort();
  const fake = (address: string, attribute: string): string => {
    const [type] = address.replace(/^data\./, '').split('.');
    if (type === 'aws_eip' && attribute === 'public_ip') {
      // TEST-NET-2 (RFC 5737): documentation addresses, never routed.
      return `198.51.100.${10 + eips.indexOf(address)}`;
    }
    if (type === 'aws_ebs_volume' && attribute === 'id') return `vol-0${hex(address, 16)}`;
    if (type === 'aws_caller_identity' && attribute === 'account_id') return ACCOUNT;
    if (type === 'aws_route53_zone' && attribute === 'zone_id') return `Z0${hex(address, 18).toUpperCase()}`;
    if (type === 'aws_kms_key' && attribute === 'arn')
      return `arn:aws:kms:${s.config.aws.region}:${ACCOUNT}:key/${hex(address, 8)}-${hex(`${address}1`, 4)}-${hex(`${address}2`, 4)}-${hex(`${address}3`, 4)}-${hex(`${address}4`, 12)}`;
    throw new Error(`the boot harness has no stand-in value for \${${address}.${attribute}}`);
  };
  return (text) =>
    text.replace(/\$\{((?:data\.)?[a-z0-9_]+\.[A-Za-z0-9_-]+)\.([a-z_]+)\}/g, (_m, address: string, attribute: string) => {
      const [kind, type] = address.startsWith('data.') ? ['data', address.split('.')[1]] : ['resource', address.split('.')[0]];
      const list = kind === 'data' ? dataSources(s, type) : resources(s, type);
      if (!list.some((i) => i.address === address)) throw new Error(`reference to ${address}, which the plan does not contain`);
      return fake(address, attribute);
    });
}

/**
 * What a first deploy writes through a parameter's write-only value_wo: its ephemeral random password (the read of
 * an existing value finds nothing in a new environment). The form is constructs/secrets.ts's; any other fails.
 */
function firstDeployValue(s: Synthesized, address: string, wo: string): string {
  const m = /^\$\{(?:length\((ephemeral\.aws_ssm_parameter\.[^)]+)\) > 0 \? \1\[0\]\.value : )?ephemeral\.aws_secretsmanager_random_password\.([^.}]+)\.random_password\}$/.exec(wo);
  if (!m) throw new Error(`${address}: the boot harness does not know this value_wo: ${wo}`);
  const ephemeral = (s.json as { ephemeral?: Record<string, Record<string, unknown>> }).ephemeral ?? {};
  if (!ephemeral.aws_secretsmanager_random_password?.[m[2]]) throw new Error(`${address}: value_wo names ${m[2]}, which the plan does not contain`);
  if (m[1] && !ephemeral.aws_ssm_parameter?.[m[1].split('.')[2]]) throw new Error(`${address}: value_wo names ${m[1]}, which the plan does not contain`);
  return `R${hex(`ephemeral.aws_secretsmanager_random_password.${m[2]}`, 31)}`;
}

function part(parts: readonly Block[], contentType: string, what: string): Block {
  const found = parts.filter((p) => p.content_type === contentType);
  if (found.length !== 1) throw new Error(`${what}: expected one ${contentType} part, found ${found.length}`);
  return found[0];
}

/** The user-data, tags, IAM and configuration of one host or member, however the plan reaches them. */
interface Planned {
  readonly role: AnyRole;
  readonly name: string;
  /** The data.cloudinit_config reference (an instance's user_data_base64, a launch template's user_data). */
  readonly userData: unknown;
  /** The resource's own tags (the provider's default tags are added below). */
  readonly tags: Record<string, string>;
  readonly defaultTags: boolean;
  readonly iam: HostIam;
  readonly bundle: BundleInPlan;
  readonly publicIp: string;
  readonly dataVolumeId: string;
  readonly member?: Membership;
}

/** The host of a role: its instance's user-data, tags (with the provider's default tags) and instance profile. */
export function hostPlan(s: Synthesized, role: Role): HostPlan {
  const resolve = resolver(s);
  const name = `weebeetalk-${s.config.name}-${role}`;
  const instance = single(resources(s, 'aws_instance'), `instance ${name}`, (i) => isObject(i.block.tags) && i.block.tags.Name === name);
  const tags = Object.fromEntries(Object.entries(asObject(instance.block.tags, 'tags')).map(([k, v]) => [k, resolve(asString(v, `tag ${k}`))]));
  return planned(s, {
    role,
    name,
    userData: instance.block.user_data_base64,
    tags,
    defaultTags: true,
    iam: hostIam(s, role),
    bundle: bundleOf(s, role),
    publicIp: tags.WeebeetalkPublicIp,
    dataVolumeId: tags.WeebeetalkDataVolume,
  });
}

const ipToInt = (ip: string): number => ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);
const intToIp = (n: number): string => [24, 16, 8, 0].map((b) => (n >>> b) & 255).join('.');

/**
 * One member of a pool, as its Auto Scaling group launches it: the launch template's user-data and instance profile,
 * the group's propagated tags (what the member carries; the provider's default tags do not reach it), the
 * association that targets those tags, a public address (TEST-NET-3) and a private one in the template's subnet.
 */
export function poolMemberPlan(s: Synthesized, pool: Pool): HostPlan {
  const name = `weebeetalk-${s.config.name}-${pool}`;
  const group = single(resources(s, 'aws_autoscaling_group'), `group ${name}`, (g) => g.block.name === name);
  const template = referenced(resources(s, 'aws_launch_template'), asObject(asArray([group.block.launch_template].flat(), 'launch_template')[0], 'launch_template').id);
  // EC2 tags a member with its launch template's instance tags, then the group's propagated ones (these win).
  const templateTags = asArray(template.block.tag_specifications ?? [], 'tag_specifications')
    .map((t) => asObject(t, 'tag specification'))
    .filter((t) => t.resource_type === 'instance')
    .map((t) => asObject(t.tags, 'tags') as Record<string, string>);
  const groupTags = Object.fromEntries(
    asArray(group.block.tag, `${group.address}.tag`)
      .map((t) => asObject(t, 'tag'))
      .filter((t) => t.propagate_at_launch === true)
      .map((t) => [asString(t.key, 'tag key'), asString(t.value, 'tag value')]),
  );
  const tags: Record<string, string> = Object.assign({}, ...templateTags, groupTags);
  const profile = referenced(resources(s, 'aws_iam_instance_profile'), asObject(template.block.iam_instance_profile, 'iam_instance_profile').name);
  const nic = asObject(asArray(template.block.network_interfaces, 'network_interfaces')[0], 'network interface');
  if (nic.associate_public_ip_address !== 'true' && nic.associate_public_ip_address !== true) throw new Error(`${template.address}: no public address, the member could not boot here`);
  const subnetCidr = asString(referenced(resources(s, 'aws_subnet'), nic.subnet_id).block.cidr_block, 'subnet cidr');
  const [base, bits] = subnetCidr.split('/');
  // AWS keeps a subnet's first four addresses and its last: a member gets one in between.
  const span = 2 ** (32 - Number(bits));
  const privateIp = intToIp(ipToInt(base) + 4 + (parseInt(hex(name, 8), 16) % (span - 5)));
  const association = single(resources(s, 'aws_ssm_association'), `association of ${name}`, (a) =>
    asArray(a.block.targets, 'targets').some((t) => isObject(t) && typeof t.key === 'string' && t.key.startsWith('tag:') && asArray(t.values, 'values').includes(tags[t.key.slice(4)])),
  );
  const publicIp = `203.0.113.${10 + resources(s, 'aws_autoscaling_group').indexOf(group)}`;
  return planned(s, {
    role: pool,
    name,
    userData: template.block.user_data,
    tags,
    defaultTags: false,
    iam: profileIam(s, profile, name),
    bundle: bundleOfAssociation(s, association),
    publicIp,
    dataVolumeId: '',
    member: { group: name, subnetCidr, privateIp },
  });
}

function planned(s: Synthesized, p: Planned): HostPlan {
  const resolve = resolver(s);
  const { role, name } = p;
  const userData = referenced(dataSources(s, 'cloudinit_config'), p.userData);
  const parts = asArray(userData.block.part, `${userData.address}.part`).map((x) => asObject(x, 'part'));
  const literal = (text: string, what: string): string => {
    // User-data references no resource: anything Terraform would still interpolate is a defect.
    const unescaped = /(?<!\$)\$\{[^}]*\}|(?<!%)%\{[^}]*\}/.exec(text);
    if (unescaped) throw new Error(`${what} still holds a Terraform interpolation: ${unescaped[0]}`);
    return fromTerraformLiteral(text);
  };
  const cc = part(parts, 'text/cloud-config', name);
  const sh = part(parts, 'text/x-shellscript', name);
  const doc = parse(literal(asString(cc.content, 'cloud-config'), `${name} cloud-config`)) as Record<string, unknown>;
  const rendered = new Set(['write_files', 'packages', 'package_update', 'package_upgrade', 'timezone', 'users']);

  const provider = asArray(s.json.provider?.aws, 'provider.aws')[0] as Block;
  const defaultTags = p.defaultTags ? (((provider.default_tags as Block[] | undefined)?.[0]?.tags ?? {}) as Record<string, string>) : {};
  const tags = { ...defaultTags, ...p.tags };

  const iam = p.iam;
  const statements: PolicyStatement[] = iam.effective.map((st) => ({
    ...st,
    resources: st.resources.map(resolve),
    notResources: st.notResources.map(resolve),
    conditions: st.conditions.map((c) => ({ ...c, values: asArray(c.values, 'condition values').map((v) => resolve(String(v))) })),
  }));

  const zones = [...resources(s, 'aws_route53_zone'), ...dataSources(s, 'aws_route53_zone')].map((z) => ({
    id: resolve(z.ref('zone_id')),
    name: asString(z.block.name, 'zone name').replace(/\.$/, ''),
  }));
  const aRecords: Record<string, string[]> = {};
  for (const r of resources(s, 'aws_route53_record').filter((x) => x.block.type === 'A'))
    aRecords[asString(r.block.name, 'record name')] = asArray(r.block.records, 'records').map((v) => resolve(String(v)));

  // The configuration: the bundle object the host's association names, and the document's command as the agent
  // runs it (SSM substitutes {{ Name }} textually: the allowedPatterns keep shell syntax out).
  const bundle = p.bundle;
  const document = JSON.parse(asString(referenced(resources(s, 'aws_ssm_document'), bundle.association.block.name).block.content, 'document content')) as {
    mainSteps: { action: string; inputs: { runCommand: string[] } }[];
    parameters: Record<string, { allowedPattern: string }>;
  };
  const params = asObject(bundle.association.block.parameters, 'association parameters') as Record<string, string>;
  for (const [k, v] of Object.entries(params)) if (!new RegExp(document.parameters[k]?.allowedPattern ?? '^$').test(v)) throw new Error(`association parameter ${k}=${v}: the document refuses it`);
  const steps = document.mainSteps.filter((m) => m.action === 'aws:runShellScript');
  if (steps.length !== 1 || steps[0].inputs.runCommand.length !== 1) throw new Error('the apply document: expected one runShellScript step of one command');
  const command = steps[0].inputs.runCommand[0].replace(/\{\{ *([A-Za-z0-9]+) *\}\}/g, (_m, k: string) => {
    if (!(k in params)) throw new Error(`the apply document names {{ ${k} }}, which the association does not set`);
    return params[k];
  });
  const bucketOf = (ref: unknown): string => {
    const b = resources(s, 'aws_s3_bucket').find((x) => x.ref('bucket') === ref || x.ref('id') === ref);
    if (!b) throw new Error(`object in ${String(ref)}: not a bucket of the plan`);
    return asString(b.block.bucket, 'bucket');
  };
  const configuration: HostConfigurationPlan = {
    bucket: params.Bucket,
    key: bundle.key,
    sha256: params.Sha256,
    json: bundle.json,
    files: bundle.document.files.map((f) => ({
      path: asString(f.path, 'path'),
      content: asString(f.content, 'content'),
      mode: asString(f.mode, 'mode'),
      owner: asString(f.owner, 'owner'),
      render: f.render === true,
      services: asArray(f.services, 'services').map(String),
    })),
    command,
    pointer: asString(bundle.pointer.block.value, 'pointer'),
  };

  const world: World = {
    env: s.config.name,
    role,
    region: s.config.aws.region,
    account: ACCOUNT,
    roleName: asString(iam.role.block.name, 'role name'),
    publicIp: p.publicIp,
    dataVolumeId: p.dataVolumeId,
    member: p.member,
    groups: plannedGroups(s),
    tags,
    parameters: resources(s, 'aws_ssm_parameter').map((p) => ({
      name: asString(p.block.name, 'parameter name'),
      type: asString(p.block.type, 'parameter type') as Parameter['type'],
      value: p.block.value_wo === undefined ? resolve(asString(p.block.value, 'parameter value')) : firstDeployValue(s, p.address, asString(p.block.value_wo, 'value_wo')),
    })),
    statements,
    buckets: resources(s, 'aws_s3_bucket').map((b) => asString(b.block.bucket, 'bucket')),
    objects: resources(s, 'aws_s3_object').map((o) => ({ bucket: bucketOf(o.block.bucket), key: asString(o.block.key, 'key'), content: fromTerraformLiteral(asString(o.block.content, 'content')) })),
    zones,
    aRecords,
  };
  const writeFiles = asArray(doc.write_files ?? [], 'write_files').map((raw) => {
    const f = asObject(raw, 'write_files[]');
    if (f.encoding !== undefined || f.append !== undefined || f.defer !== undefined) throw new Error(`write_files ${String(f.path)}: encoding/append/defer are not rendered by the harness`);
    return { path: asString(f.path, 'path'), content: asString(f.content ?? '', 'content'), permissions: String(f.permissions ?? '0644'), owner: String(f.owner ?? 'root:root') };
  });
  return {
    world,
    writeFiles,
    configuration,
    packages: asArray(doc.packages ?? [], 'packages').map(String),
    packageUpdate: doc.package_update === true,
    packageUpgrade: doc.package_upgrade === true,
    script: { filename: asString(sh.filename, 'shell part filename'), content: literal(asString(sh.content, 'shell part'), `${name} bootstrap part`) },
    users: doc.users === undefined ? undefined : asArray(doc.users, 'users'),
    unrenderedKeys: Object.keys(doc).filter((k) => !rendered.has(k)),
  };
}

/** The plan's Auto Scaling groups with their termination hooks; the uuid of each ARN is a fake, stable per name. */
export function plannedGroups(s: Synthesized): PlannedGroup[] {
  return resources(s, 'aws_autoscaling_group').map((g) => {
    const name = asString(g.block.name, 'group name');
    const h = hex(name, 32);
    const uuid = `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
    return {
      name,
      arn: `arn:aws:autoscaling:${s.config.aws.region}:${ACCOUNT}:autoScalingGroup:${uuid}:autoScalingGroupName/${name}`,
      // The group's own hooks (initial_lifecycle_hook).
      terminationHooks: asArray(g.block.initial_lifecycle_hook ?? [], 'initial_lifecycle_hook')
        .map((k) => asObject(k, 'hook'))
        .filter((k) => k.lifecycle_transition === 'autoscaling:EC2_INSTANCE_TERMINATING')
        .map((k) => asString(k.name, 'hook name')),
    };
  });
}
