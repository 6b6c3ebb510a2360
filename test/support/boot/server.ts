/**
 * The AWS a sandboxed host sees, running inside the sandbox's own network namespace (transpiled to plain JS by
 * the harness, started with `node server.js world.json`):
 * - IMDSv2 on 169.254.169.254:80: a token is required (PUT with a TTL), instance tags exactly as the plan sets them;
 * - the AWS API for the `aws` and `certbot` stand-ins on 127.0.0.1:8999: SSM knows only the plan's parameters and
 *   refuses names the host's policy does not grant, S3 and Route53 are checked against the same policy; errors
 *   are printed as AWS CLI v2 (Debian 12's awscli 2.9) prints them, with its exit codes;
 * - public DNS on 127.0.0.1:53 (UDP), answering the plan's A records;
 * - "the internet": the few URLs the bootstrap downloads, served from fixture files;
 * - on a pool member: its addresses and target lifecycle state in IMDS, the Auto Scaling and CloudWatch calls its
 *   pass makes (checked against the policy and against what the group is), and the local APIs of its Jibri
 *   (127.0.0.1:2222 health, 3333 graceful shutdown) or JVB (127.0.0.1:8080 stats, shutdown), answering as the
 *   test sets them in member.json (MemberControl).
 * Faults (slow IMDS, SSM throttling, late DNS) come from world.json. Every call is logged as a JSON line.
 */
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { appendFileSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { join, relative } from 'node:path';
import { evaluate, type PolicyStatement, type RequestContext } from './policy';

export interface Faults {
  /** IMDS holds its first `count` answers for `ms` (longer than the client's timeout: the call fails). */
  readonly imdsSlow?: { readonly count: number; readonly ms: number };
  /** SSM answers ThrottlingException to its first `count` API calls. */
  readonly ssmThrottle?: number;
  /** Public DNS answers NXDOMAIN for a host name's first `count` queries (propagation); -1: never (no delegation). */
  readonly dnsDelay?: number;
}

/** What the test sets on a member, read at every request (share/member.json; absent: the defaults). */
export interface MemberControl {
  /** meta-data/autoscaling/target-lifecycle-state. @default InService */
  readonly lifecycle?: 'InService' | 'Terminated';
  /** Jibri's busyStatus. @default IDLE */
  readonly jibri?: 'IDLE' | 'BUSY';
  /** JVB's /colibri/stats. @default 0, 0 */
  readonly stress?: number;
  readonly conferences?: number;
}

export interface ServerWorld {
  readonly region: string;
  readonly account: string;
  readonly roleName: string;
  readonly instanceId: string;
  readonly publicIp: string;
  /** '' on a member (no name of its own). */
  readonly fqdn: string;
  /** A member's group and private address (meta-data/local-ipv4); its service's local API stand-in. */
  readonly member?: { readonly group: string; readonly privateIp: string; readonly service: string };
  /** The member's compose .env, as the root sees it (what its service reads). */
  readonly memberEnvFile?: string;
  /** The plan's Auto Scaling groups. */
  readonly groups: readonly { readonly name: string; readonly arn: string; readonly terminationHooks: readonly string[] }[];
  readonly controlFile: string;
  readonly tags: Record<string, string>;
  readonly parameters: readonly { name: string; type: string; value: string }[];
  readonly statements: readonly PolicyStatement[];
  readonly buckets: readonly string[];
  /** What the buckets hold (the hosts' configuration bundles). */
  readonly objects: readonly { bucket: string; key: string; content: string }[];
  readonly zones: readonly { id: string; name: string }[];
  readonly aRecords: Record<string, readonly string[]>;
  /** URL to a fixture file. */
  readonly internet: Record<string, string>;
  /** The sandbox's root as seen from here (to read files the CLI uploads). */
  readonly rootDir: string;
  readonly logDir: string;
  readonly faults: Faults;
  readonly readyFile: string;
}

const world = JSON.parse(readFileSync(process.argv[2], 'utf8')) as ServerWorld;
const log = (file: string, entry: Record<string, unknown>): void => appendFileSync(join(world.logDir, file), `${JSON.stringify(entry)}\n`);
const arn = (service: string, resource: string): string => `arn:aws:${service}:${world.region}:${world.account}:${resource}`;
const principal = `arn:aws:sts::${world.account}:assumed-role/${world.roleName}/${world.instanceId}`;

const control = (): MemberControl => (existsSync(world.controlFile) ? (JSON.parse(readFileSync(world.controlFile, 'utf8')) as MemberControl) : {});
const logged = (file: string): Record<string, unknown>[] =>
  existsSync(join(world.logDir, file))
    ? readFileSync(join(world.logDir, file), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>)
    : [];

// ---------- IMDSv2 ----------
const tokens = new Map<string, number>();
let imdsRequests = 0;

function imds(req: IncomingMessage, res: ServerResponse): void {
  const answer = (status: number, body: string): void => {
    log('imds.jsonl', { method: req.method, url: req.url, status });
    res.writeHead(status, { 'content-type': 'text/plain' }).end(body);
  };
  if (req.headers['x-forwarded-for']) return answer(403, 'Forbidden');
  if (req.method === 'PUT' && req.url === '/latest/api/token') {
    const ttl = Number(req.headers['x-aws-ec2-metadata-token-ttl-seconds']);
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > 21600) return answer(400, 'Bad Request');
    const token = randomBytes(24).toString('base64');
    tokens.set(token, Date.now() + ttl * 1000);
    return answer(200, token);
  }
  if (req.method !== 'GET') return answer(405, 'Method Not Allowed');
  const token = String(req.headers['x-aws-ec2-metadata-token'] ?? '');
  // httpTokens=required: no or an expired token is 401, as IMDSv2 answers.
  if (!tokens.has(token) || (tokens.get(token) ?? 0) < Date.now()) return answer(401, 'Unauthorized');
  const path = (req.url ?? '').replace(/\?.*$/, '');
  const tagPrefix = '/latest/meta-data/tags/instance';
  if (path === tagPrefix || path === `${tagPrefix}/`) return answer(200, Object.keys(world.tags).sort().join('\n'));
  if (path.startsWith(`${tagPrefix}/`)) {
    const key = decodeURIComponent(path.slice(tagPrefix.length + 1));
    return key in world.tags ? answer(200, world.tags[key]) : answer(404, 'Not Found');
  }
  if (path === '/latest/meta-data/instance-id') return answer(200, world.instanceId);
  if (path === '/latest/meta-data/public-ipv4') return answer(200, world.publicIp);
  if (world.member && path === '/latest/meta-data/local-ipv4') return answer(200, world.member.privateIp);
  // Only an instance of an Auto Scaling group has it: its target state (Terminated once it is in Terminating:Wait).
  if (world.member && path === '/latest/meta-data/autoscaling/target-lifecycle-state') return answer(200, control().lifecycle ?? 'InService');
  if (path === '/latest/meta-data/placement/region') return answer(200, world.region);
  if (path === '/latest/meta-data/iam/security-credentials/') return answer(200, world.roleName);
  return answer(404, 'Not Found');
}

createServer((req, res) => {
  imdsRequests += 1;
  const slow = world.faults.imdsSlow;
  if (slow && imdsRequests <= slow.count) setTimeout(() => imds(req, res), slow.ms);
  else imds(req, res);
}).listen(80, '169.254.169.254', ready);

// ---------- the AWS API, as the AWS CLI v2 reports it ----------
interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}
class ApiError extends Error {
  constructor(
    readonly code: string,
    readonly operation: string,
    message: string,
    /** Retries the CLI made before giving up (printed as "reached max retries"). */
    readonly retries?: number,
  ) {
    super(message);
  }
}
/** botocore's ClientError text; the CLI prints it after a blank line and exits 254. */
const clientError = (e: ApiError, retries?: number): CliResult => ({
  code: 254,
  stdout: '',
  stderr: `\nAn error occurred (${e.code}) when calling the ${e.operation} operation${retries ? ` (reached max retries: ${retries})` : ''}: ${e.message}\n`,
});

/** `code`: the error code of the service's protocol (JSON: AccessDeniedException; query, as Auto Scaling and CloudWatch: AccessDenied). */
function authorize(action: string, resource: string, operation: string, context: RequestContext = {}, code = 'AccessDeniedException'): void {
  const decision = evaluate(world.statements, action, resource, context);
  log('iam.jsonl', { action, resource, context, decision });
  if (decision === 'allow') return;
  const why = decision === 'explicit-deny' ? 'with an explicit deny in an identity-based policy' : `because no identity-based policy allows the ${action} action`;
  // An action without resource-level permissions (Resource "*") is reported without a resource.
  const on = resource === '*' ? '' : ` on resource: ${resource}`;
  throw new ApiError(code, operation, `User: ${principal} is not authorized to perform: ${action}${on} ${why}`);
}

interface Parsed {
  positional: string[];
  options: Record<string, string | true>;
}
const BOOLEAN_OPTIONS = new Set([
  '--with-decryption',
  '--no-with-decryption',
  '--recursive',
  '--only-show-errors',
  '--no-cli-pager',
  '--quiet',
  '--no-progress',
  '--protected-from-scale-in',
  '--no-protected-from-scale-in',
]);
/** Options that take a list (every word up to the next option), joined with spaces here. */
const LIST_OPTIONS = new Set(['--instance-ids']);
function parseArgs(argv: readonly string[]): Parsed {
  const out: Parsed = { positional: [], options: {} };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) out.positional.push(a);
    else if (a.includes('=')) out.options[a.slice(0, a.indexOf('='))] = a.slice(a.indexOf('=') + 1);
    else if (BOOLEAN_OPTIONS.has(a)) out.options[a] = true;
    else if (a === '--exclude' || a === '--include') out.options[`${a}#${i}`] = argv[++i];
    else if (LIST_OPTIONS.has(a)) {
      const items: string[] = [];
      while (i + 1 < argv.length && !argv[i + 1].startsWith('--')) items.push(argv[++i]);
      out.options[a] = items.join(' ');
    } else out.options[a] = argv[++i] ?? '';
  }
  return out;
}

/** `--query` for the dotted paths the scripts use, then `--output`. */
function render(value: unknown, p: Parsed): string {
  let v = value;
  const query = p.options['--query'];
  if (typeof query === 'string') for (const key of query.split('.')) v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[key] : null;
  if (p.options['--output'] === 'text') return `${v === null || v === undefined ? 'None' : typeof v === 'object' ? JSON.stringify(v) : String(v)}\n`;
  return `${JSON.stringify(v ?? null, null, 4)}\n`;
}

let ssmCalls = 0;
/** The CLI's standard retry mode: 3 attempts for throttling, then the error with "reached max retries: 2". */
function withRetries(operation: string, call: () => unknown): unknown {
  for (let attempt = 1; ; attempt++) {
    ssmCalls += 1;
    const throttled = ssmCalls <= (world.faults.ssmThrottle ?? 0);
    log('aws.jsonl', { operation, attempt, throttled });
    if (!throttled) return call();
    if (attempt === 3) throw new ApiError('ThrottlingException', operation, 'Rate exceeded', 2);
  }
}

function ssm(op: string, p: Parsed): CliResult {
  if (op !== 'get-parameter') throw new Error(`ssm ${op} is not implemented by the stand-in`);
  const name = p.options['--name'];
  if (typeof name !== 'string' || name === '') return { code: 252, stdout: '', stderr: 'the following arguments are required: --name\n' };
  const value = withRetries('GetParameter', () => {
    const resourceArn = arn('ssm', `parameter${name.startsWith('/') ? '' : '/'}${name}`);
    // Authorization first: an ungranted name is AccessDenied whether or not it exists.
    authorize('ssm:GetParameter', resourceArn, 'GetParameter');
    const found = world.parameters.find((x) => x.name === name);
    if (!found) throw new ApiError('ParameterNotFound', 'GetParameter', '');
    const decrypt = p.options['--with-decryption'] === true;
    // Without --with-decryption a SecureString comes back as its KMS ciphertext.
    const shown = found.type === 'SecureString' && !decrypt ? Buffer.from(`kms-ciphertext:${found.name}`).toString('base64') : found.value;
    log('ssm.jsonl', { name, decrypted: decrypt });
    return { Parameter: { Name: found.name, Type: found.type, Value: shown, Version: 1, LastModifiedDate: '2026-01-01T00:00:00+00:00', ARN: resourceArn, DataType: 'text' } };
  });
  return { code: 0, stdout: render(value, p), stderr: '' };
}

function globToRe(pattern: string): RegExp {
  return new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
  );
}
function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? walk(join(dir, d.name)) : [join(dir, d.name)]));
}

/** `aws s3 cp s3://BUCKET/KEY FILE`: HeadObject, then GetObject, both needing s3:GetObject; errors as the CLI prints them. */
function download(src: string, dest: string): CliResult {
  const m = /^s3:\/\/([^/]+)\/(.+)$/.exec(src);
  if (!m || dest.startsWith('s3://')) throw new Error('the stand-in downloads one object to a local file only');
  const [, bucket, key] = m;
  const fatal = (code: string): CliResult => ({
    code: 1,
    stdout: '',
    stderr: `fatal error: An error occurred (${code}) when calling the HeadObject operation: ${code === '403' ? 'Forbidden' : 'Not Found'}\n`,
  });
  if (!world.buckets.includes(bucket)) return fatal('404');
  // S3 answers 403 for a key the caller may not read, whether or not it exists (without s3:ListBucket).
  if (evaluate(world.statements, 's3:GetObject', `arn:aws:s3:::${bucket}/${key}`, {}) !== 'allow') {
    log('s3-get.jsonl', { bucket, key, denied: true });
    return fatal('403');
  }
  const object = world.objects.find((o) => o.bucket === bucket && o.key === key);
  if (!object) return fatal('404');
  writeFileSync(join(world.rootDir, dest), object.content);
  log('s3-get.jsonl', { bucket, key, bytes: Buffer.byteLength(object.content) });
  return { code: 0, stdout: '', stderr: '' };
}

function s3(op: string, p: Parsed): CliResult {
  if (op !== 'cp') throw new Error(`s3 ${op} is not implemented by the stand-in`);
  const [src, dest] = p.positional;
  if (src?.startsWith('s3://')) return download(src, dest ?? '');
  const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(dest ?? '');
  if (!m || src.startsWith('s3://')) throw new Error('the stand-in uploads local files to S3 only');
  const [, bucket, prefix] = m;
  const local = join(world.rootDir, src);
  const files =
    p.options['--recursive'] === true
      ? walk(local).map((f) => ({ file: f, key: `${prefix}${relative(local, f)}` }))
      : [{ file: local, key: prefix.endsWith('/') || prefix === '' ? `${prefix}${src.split('/').pop()}` : prefix }];
  const excludes = Object.entries(p.options)
    .filter(([k]) => k.startsWith('--exclude#'))
    .map(([, v]) => globToRe(String(v)));
  let stderr = '';
  for (const { file, key } of files) {
    const rel = p.options['--recursive'] === true ? relative(local, file) : src;
    if (excludes.some((re) => re.test(rel))) continue;
    if (!existsSync(file)) return { code: 255, stdout: '', stderr: `\nThe user-provided path ${src} does not exist.\n` };
    const target = `s3://${bucket}/${key}`;
    try {
      if (!world.buckets.includes(bucket)) throw new ApiError('NoSuchBucket', 'PutObject', 'The specified bucket does not exist');
      try {
        authorize('s3:PutObject', `arn:aws:s3:::${bucket}/${key}`, 'PutObject');
      } catch {
        throw new ApiError('AccessDenied', 'PutObject', 'Access Denied');
      }
      log('s3.jsonl', { bucket, key, bytes: statSync(file).size });
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      stderr += `upload failed: ${src} to ${target} An error occurred (${e.code}) when calling the ${e.operation} operation: ${e.message}\n`;
    }
  }
  return { code: stderr === '' ? 0 : 1, stdout: '', stderr };
}

/** The CLI's own refusal of a call missing a required option (before any request). */
const usage = (missing: string): CliResult => ({
  code: 252,
  stdout: '',
  stderr: `\nusage: aws [options] <command> <subcommand> [<subcommand> ...] [parameters]\nTo see help text, you can run:\n\n  aws help\n\naws: error: the following arguments are required: ${missing}\n`,
});
const required = (p: Parsed, names: readonly string[]): CliResult | undefined => {
  const missing = names.filter((n) => typeof p.options[n] !== 'string' || p.options[n] === '');
  return missing.length > 0 ? usage(missing.join(', ')) : undefined;
};

const AUTOSCALING: Record<string, string> = {
  'set-instance-protection': 'SetInstanceProtection',
  'record-lifecycle-action-heartbeat': 'RecordLifecycleActionHeartbeat',
  'complete-lifecycle-action': 'CompleteLifecycleAction',
};

/**
 * The Auto Scaling calls of a member's pass. IAM first (the group's ARN; a group this region does not have is
 * matched by its name), then what the service checks: the group exists, the instance is in it, and for the lifecycle
 * calls an action is waiting (the member's target state is Terminated, under one of the group's termination hooks,
 * not completed yet). Every call is logged to autoscaling.jsonl with its outcome.
 */
function autoscaling(op: string, p: Parsed, region: string): CliResult {
  const operation = AUTOSCALING[op];
  if (!operation) throw new Error(`autoscaling ${op} is not implemented by the stand-in`);
  const lifecycle = op !== 'set-instance-protection';
  const missing = required(
    p,
    lifecycle
      ? ['--auto-scaling-group-name', '--lifecycle-hook-name', '--instance-id', ...(op === 'complete-lifecycle-action' ? ['--lifecycle-action-result'] : [])]
      : ['--auto-scaling-group-name', '--instance-ids'],
  );
  if (missing) return missing;
  const flags = ['--protected-from-scale-in', '--no-protected-from-scale-in'].filter((f) => p.options[f] === true);
  if (!lifecycle && flags.length !== 1) return usage('--protected-from-scale-in | --no-protected-from-scale-in');
  const name = String(p.options['--auto-scaling-group-name']);
  const group = region === world.region ? world.groups.find((g) => g.name === name) : undefined;
  const hook = lifecycle ? String(p.options['--lifecycle-hook-name']) : undefined;
  const instances = lifecycle ? [String(p.options['--instance-id'])] : String(p.options['--instance-ids']).split(' ');
  const entry = { operation, group: name, hook, instances, protected: lifecycle ? undefined : flags[0] === '--protected-from-scale-in', result: p.options['--lifecycle-action-result'] };
  try {
    authorize(`autoscaling:${operation}`, group?.arn ?? arn('autoscaling', `autoScalingGroup:*:autoScalingGroupName/${name}`).replace(world.region, region), operation, {}, 'AccessDenied');
    if (!group) throw new ApiError('ValidationError', operation, `AutoScalingGroup name not found - AutoScalingGroup ${name} not found`);
    const mine = (id: string): boolean => world.member?.group === name && id === world.instanceId;
    if (!lifecycle) {
      const foreign = instances.find((id) => !mine(id));
      if (foreign !== undefined) throw new ApiError('ValidationError', operation, `The instance ${foreign} is not part of Auto Scaling group ${name}.`);
    } else {
      const completed = logged('autoscaling.jsonl').some((e) => e.operation === 'CompleteLifecycleAction' && e.code === 0);
      const waiting = mine(instances[0]) && group.terminationHooks.includes(hook ?? '') && control().lifecycle === 'Terminated' && !completed;
      if (!waiting) throw new ApiError('ValidationError', operation, `No active Lifecycle Action found with instance ID ${instances[0]}`);
      const result = String(p.options['--lifecycle-action-result'] ?? '');
      if (op === 'complete-lifecycle-action' && result !== 'CONTINUE' && result !== 'ABANDON')
        throw new ApiError('ValidationError', operation, `Lifecycle action result ${result} is not valid: CONTINUE or ABANDON`);
    }
  } catch (e) {
    if (e instanceof ApiError) log('autoscaling.jsonl', { ...entry, code: 254, error: e.code });
    throw e;
  }
  log('autoscaling.jsonl', { ...entry, code: 0 });
  return { code: 0, stdout: '', stderr: '' };
}

const UNITS = new Set([
  'Seconds',
  'Microseconds',
  'Milliseconds',
  'Bytes',
  'Kilobytes',
  'Megabytes',
  'Gigabytes',
  'Terabytes',
  'Bits',
  'Kilobits',
  'Megabits',
  'Gigabits',
  'Terabits',
  'Percent',
  'Count',
  'Bytes/Second',
  'Kilobytes/Second',
  'Megabytes/Second',
  'Gigabytes/Second',
  'Terabytes/Second',
  'Bits/Second',
  'Kilobits/Second',
  'Megabits/Second',
  'Gigabits/Second',
  'Terabits/Second',
  'Count/Second',
  'None',
]);

/** `cloudwatch put-metric-data` with one datapoint (--metric-name, --value, --dimensions Name=Value,...), logged to cloudwatch.jsonl. */
function cloudwatch(op: string, p: Parsed): CliResult {
  if (op !== 'put-metric-data') throw new Error(`cloudwatch ${op} is not implemented by the stand-in`);
  if (p.options['--metric-data'] !== undefined) throw new Error('cloudwatch put-metric-data --metric-data is not implemented by the stand-in');
  const missing = required(p, ['--namespace', '--metric-name', '--value']);
  if (missing) return missing;
  const namespace = String(p.options['--namespace']);
  const value = Number(p.options['--value']);
  const unit = p.options['--unit'] === undefined ? undefined : String(p.options['--unit']);
  const dimensions = Object.fromEntries(
    String(p.options['--dimensions'] ?? '')
      .split(',')
      .filter(Boolean)
      .map((d) => [d.slice(0, d.indexOf('=')), d.slice(d.indexOf('=') + 1)]),
  );
  authorize('cloudwatch:PutMetricData', '*', 'PutMetricData', { 'cloudwatch:namespace': [namespace] }, 'AccessDenied');
  if (namespace.startsWith('AWS/')) throw new ApiError('InvalidParameterValue', 'PutMetricData', `The value ${namespace} for parameter Namespace is invalid.`);
  if (!Number.isFinite(value)) throw new ApiError('InvalidParameterValue', 'PutMetricData', `The value ${String(p.options['--value'])} for parameter MetricData.member.1.Value is invalid.`);
  if (unit !== undefined && !UNITS.has(unit)) throw new ApiError('InvalidParameterValue', 'PutMetricData', `The value ${unit} for parameter MetricData.member.1.Unit is invalid.`);
  if (Object.entries(dimensions).some(([k, v]) => k === '' || v === '')) throw new ApiError('InvalidParameterValue', 'PutMetricData', 'The dimensions are invalid: Name=Value expected.');
  log('cloudwatch.jsonl', { namespace, metric: String(p.options['--metric-name']), dimensions, value, unit });
  return { code: 0, stdout: '', stderr: '' };
}

function cli(argv: readonly string[]): CliResult {
  const p = parseArgs(argv);
  const [service, op] = p.positional.splice(0, 2);
  const region = p.options['--region'];
  if (typeof region !== 'string' || region === '') return { code: 253, stdout: '', stderr: '\nYou must specify a region. You can also configure your region by running "aws configure".\n' };
  try {
    // Parameters live in the plan's region only.
    if (region !== world.region && service === 'ssm') throw new ApiError('ParameterNotFound', 'GetParameter', '');
    if (service === 'ssm') return ssm(op, p);
    if (service === 's3') return s3(op, p);
    if (service === 'autoscaling') return autoscaling(op, p, region);
    if (service === 'cloudwatch') return cloudwatch(op, p);
    throw new Error(`aws ${service} is not implemented by the stand-in`);
  } catch (e) {
    if (e instanceof ApiError) return clientError(e, e.retries);
    throw e;
  }
}

// ---------- certbot-dns-route53 and Let's Encrypt ----------
const dnsQueries = new Map<string, number>();
/** Whether public DNS gives the name's A record yet (the propagation fault counts the host's own lookups). */
function resolvable(name: string): boolean {
  const delay = world.faults.dnsDelay ?? 0;
  if (delay < 0) return false;
  return (dnsQueries.get(name) ?? 0) >= delay;
}
let issuances = 0;

function certbot(domain: string): { ok: boolean; error?: string } {
  // certbot-dns-route53: find the zone by listing, UPSERT the TXT record, wait for INSYNC, DELETE it.
  const route53 = (action: string, resource: string, operation: string, context?: RequestContext): void => {
    try {
      authorize(action, resource, operation, context);
    } catch (e) {
      throw new Error(`An error occurred (AccessDenied) when calling the ${operation} operation: ${(e as Error).message}`, { cause: e });
    }
  };
  const challenge = `_acme-challenge.${domain}`;
  try {
    route53('route53:ListHostedZones', '*', 'ListHostedZones');
    const zone = [...world.zones].sort((a, b) => b.name.length - a.name.length).find((z) => domain === z.name || domain.endsWith(`.${z.name}`));
    if (!zone) throw new Error(`Unable to find a Route53 hosted zone for ${challenge}`);
    for (const action of ['UPSERT', 'DELETE']) {
      route53('route53:ChangeResourceRecordSets', `arn:aws:route53:::hostedzone/${zone.id}`, 'ChangeResourceRecordSets', {
        'route53:ChangeResourceRecordSetsNormalizedRecordNames': [challenge],
        'route53:ChangeResourceRecordSetsRecordTypes': ['TXT'],
        'route53:ChangeResourceRecordSetsActions': [action],
      });
      route53('route53:GetChange', 'arn:aws:route53:::change/C0STANDIN', 'GetChange');
    }
  } catch (e) {
    log('acme.jsonl', { domain, issued: false, reason: (e as Error).message });
    return { ok: false, error: (e as Error).message };
  }
  // Let's Encrypt resolves the zone itself: an undelegated or not yet visible name fails (and counts as a failed validation).
  if (!resolvable(domain)) {
    log('acme.jsonl', { domain, issued: false, reason: 'NXDOMAIN' });
    return { ok: false, error: `DNS problem: NXDOMAIN looking up TXT for ${challenge} - check that a DNS record exists for this domain` };
  }
  issuances += 1;
  log('acme.jsonl', { domain, issued: true, n: issuances });
  return { ok: true };
}

// ---------- API server ----------
function body(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    req.on('data', (c: Buffer) => (text += c.toString()));
    req.on('end', () => resolve(text));
  });
}

createServer((req, res) => {
  void (async () => {
    try {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      if (req.method === 'POST' && url.pathname === '/aws') {
        const argv = JSON.parse(await body(req)) as string[];
        const result = cli(argv);
        log('aws.jsonl', { argv, code: result.code, stderr: result.stderr });
        res.writeHead(200, { 'x-exit-code': String(result.code), 'x-stderr': Buffer.from(result.stderr).toString('base64') }).end(result.stdout);
      } else if (req.method === 'POST' && url.pathname === '/certbot') {
        const { domain } = JSON.parse(await body(req)) as { domain: string };
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(certbot(domain)));
      } else if (req.method === 'GET' && url.pathname === '/internet') {
        const target = url.searchParams.get('url') ?? '';
        const file = world.internet[target];
        log('internet.jsonl', { url: target, served: file !== undefined });
        if (file === undefined) res.writeHead(404).end();
        else res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(readFileSync(file));
      } else res.writeHead(404).end();
    } catch (e) {
      // A stand-in that meets a call it does not model must say so, not answer something.
      log('errors.jsonl', { url: req.url, error: String(e) });
      res.writeHead(500, { 'x-exit-code': '255', 'x-stderr': Buffer.from(`stand-in: ${String(e)}\n`).toString('base64') }).end();
    }
  })();
}).listen(8999, '127.0.0.1', ready);

// ---------- public DNS ----------
const dns = createSocket('udp4');
dns.on('message', (msg, peer) => {
  let offset = 12;
  const labels: string[] = [];
  while (msg[offset] !== 0) {
    labels.push(msg.subarray(offset + 1, offset + 1 + msg[offset]).toString());
    offset += msg[offset] + 1;
  }
  offset += 1;
  const qtype = msg.readUInt16BE(offset);
  const question = msg.subarray(12, offset + 4);
  const name = labels.join('.').toLowerCase();
  const known = Object.keys(world.aRecords).find((n) => n.toLowerCase() === name);
  const visible = known !== undefined && resolvable(known);
  if (known && qtype === 1) dnsQueries.set(known, (dnsQueries.get(known) ?? 0) + 1);
  const answers = visible && qtype === 1 ? world.aRecords[known] : [];
  log('dns.jsonl', { name, qtype, answers });
  const header = Buffer.alloc(12);
  msg.copy(header, 0, 0, 2);
  header.writeUInt16BE(visible ? 0x8180 : 0x8183, 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(answers.length, 6);
  const rrs = answers.map((ip) => {
    const rr = Buffer.alloc(16);
    rr.writeUInt16BE(0xc00c, 0);
    rr.writeUInt16BE(1, 2);
    rr.writeUInt16BE(1, 4);
    rr.writeUInt32BE(60, 6);
    rr.writeUInt16BE(4, 10);
    ip.split('.').forEach((octet, i) => rr.writeUInt8(Number(octet), 12 + i));
    return rr;
  });
  dns.send(Buffer.concat([header, question, ...rrs]), peer.port, peer.address);
});
dns.bind(53, '127.0.0.1', ready);

// ---------- a member's local APIs (Jibri's HTTP APIs, JVB's private REST API), on 127.0.0.1 as compose publishes them ----------
/**
 * Whether the member's service has exited after its graceful shutdown: Jibri once it is no longer recording, JVB
 * once its last conference ended (each then exits, and its port refuses connections). Logged once, when it goes.
 */
function exited(): boolean {
  const calls = logged('member-api.jsonl');
  if (calls.some((c) => c.event === 'exited')) return true;
  if (!calls.some((c) => c.shutdown === true && c.status === 200)) return false;
  const state = control();
  const done = world.member?.service === 'jibri' ? (state.jibri ?? 'IDLE') !== 'BUSY' : (state.conferences ?? 0) === 0;
  if (done) log('member-api.jsonl', { event: 'exited', service: world.member?.service });
  return done;
}

/** The variables of the member's .env (what compose gave the container), as the REST switches read them. */
function memberEnv(): Record<string, string> {
  if (world.memberEnvFile === undefined) return {};
  const file = join(world.rootDir, world.memberEnvFile);
  if (!existsSync(file)) return {};
  return Object.fromEntries(
    readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => /^[A-Z_][A-Z0-9_]*=/.test(l))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1).replace(/^"|"$/g, '')]),
  );
}

/**
 * Whether the host reaches Jibri's API on 127.0.0.1:<port>: a compose file of the project (COMPOSE_FILE) publishes it
 * there (upstream's jibri.yml publishes no port), and Jibri binds it on the container's interfaces (custom-jibri.conf:
 * a Jibri since jitsi/jibri d6723de3 binds its APIs to the container's loopback, where no published port arrives).
 */
function jibriReachable(port: number): boolean {
  const env = memberEnv();
  const dir = (world.memberEnvFile ?? '').replace(/\/\.env$/, '');
  const read = (path: string): string => (existsSync(join(world.rootDir, path)) ? readFileSync(join(world.rootDir, path), 'utf8') : '');
  const published = (env.COMPOSE_FILE ?? '')
    .split(':')
    .filter(Boolean)
    .some((f) => read(f.startsWith('/') ? f : `${dir}/${f}`).includes(`127.0.0.1:${port}:${port}`));
  const key = port === 2222 ? 'external-api-host' : 'internal-api-host';
  const bound = new RegExp(`^jibri\\.api\\.http\\.${key} *= *"0\\.0\\.0\\.0"`, 'm').test(read(`${env.CONFIG ?? ''}/jibri/custom-jibri.conf`));
  return published && bound;
}

function memberApi(port: number): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    void (async () => {
      const text = await body(req);
      const path = (req.url ?? '').replace(/\?.*$/, '');
      const entry = { port, method: req.method, path };
      if (exited()) {
        // Gone: as a closed port, the client sees the connection fail.
        log('member-api.jsonl', { ...entry, status: 'refused' });
        req.socket.destroy();
        return;
      }
      const answer = (status: number, json?: unknown, extra: Record<string, unknown> = {}): void => {
        log('member-api.jsonl', { ...entry, status, ...extra });
        res.writeHead(status, { 'content-type': 'application/json' }).end(json === undefined ? '' : JSON.stringify(json));
      };
      const state = control();
      if (world.member?.service === 'jibri' && !jibriReachable(port)) {
        log('member-api.jsonl', { ...entry, status: 'unreachable' });
        req.socket.destroy();
        return;
      }
      if (world.member?.service === 'jibri') {
        // jitsi/jibri HttpApi.kt (public, 2222) and InternalHttpApi.kt (internal, 3333).
        if (port === 2222 && req.method === 'GET' && path === '/jibri/api/v1.0/health')
          return answer(200, { status: { busyStatus: state.jibri ?? 'IDLE', health: { healthStatus: 'HEALTHY', details: {} } } });
        if (port === 3333 && req.method === 'POST' && path === '/jibri/api/internal/v1.0/gracefulShutdown') return answer(200, undefined, { shutdown: true });
        return answer(404);
      }
      // jitsi-videobridge: /colibri/* only with COLIBRI_REST_ENABLED, /colibri/shutdown also with SHUTDOWN_REST_ENABLED (RestConfig.kt).
      const env = memberEnv();
      if (port !== 8080 || env.COLIBRI_REST_ENABLED !== 'true') return answer(404);
      if (req.method === 'GET' && path === '/colibri/stats') return answer(200, { stress_level: state.stress ?? 0, conferences: state.conferences ?? 0, participants: 0 });
      if (req.method === 'POST' && path === '/colibri/shutdown') {
        if (env.SHUTDOWN_REST_ENABLED !== 'true') return answer(404);
        if (!/^application\/json/.test(String(req.headers['content-type'] ?? ''))) return answer(415);
        let graceful: unknown;
        try {
          graceful = (JSON.parse(text) as Record<string, unknown>)['graceful-shutdown'];
        } catch {
          return answer(400);
        }
        return typeof graceful === 'boolean' ? answer(200, undefined, { shutdown: graceful }) : answer(400);
      }
      return answer(404);
    })();
  };
}

const memberPorts = world.member === undefined ? [] : world.member.service === 'jibri' ? [2222, 3333] : world.member.service === 'jvb' ? [8080] : [];
for (const port of memberPorts) createServer(memberApi(port)).listen(port, '127.0.0.1', ready);

let listening = 0;
function ready(): void {
  listening += 1;
  if (listening === 3 + memberPorts.length) writeFileSync(world.readyFile, `${process.pid}\n`);
}
