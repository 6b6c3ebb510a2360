/**
 * One member of each pool booted for real, as its Auto Scaling group launches it: the launch template's user-data
 * (its data.cloudinit_config parts) and instance profile, the group's propagated tags, the bundle its association
 * targets by tag (test/support/boot/plan.ts poolMemberPlan). Instance metadata answers with the member's public
 * address, an address of the pools' subnet, its instance id and its target lifecycle state; the Auto Scaling and
 * CloudWatch calls of its pass are judged against its policy in the plan and against the group; its Jibri's or JVB's
 * local API answers as each test sets it (test/support/boot/server.ts). One boot per pool: the passes start from copies.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HOST_METRICS } from '../config/metrics';
import { POOL_METRICS } from '../config/names';
import type { Pool } from '../config/schema';
import { composeUnits, execOf, settingOf, started, type Started } from './support/boot/checks';
import { BOOT_ROOT, BootKit, DOCKER_KEY, HostSandbox, leftovers, rootTree, type BootResult, type Inspection, type Logged, type Step } from './support/boot/harness';
import { poolMemberPlan, type HostPlan } from './support/boot/plan';
import { sharedSecrets } from './support/parts';
import { describeAsRoot } from './support/root';
import { asArray, isObject, resources, single, synthEnvironment } from './support/synth';

jest.setTimeout(60_000);

const ENV = 'staging';
const POOLS: readonly Pool[] = ['jibri', 'jvb'];

interface Scaling {
  readonly operation: string;
  readonly group: string;
  readonly hook?: string;
  readonly instances: string[];
  readonly protected?: boolean;
  readonly result?: string;
  readonly code: number;
  readonly error?: string;
}
interface Datapoint {
  readonly namespace: string;
  readonly metric: string;
  readonly dimensions: Record<string, string>;
  readonly value: number;
}
interface ApiCall {
  readonly port?: number;
  readonly method?: string;
  readonly path?: string;
  readonly status?: number | string;
  readonly shutdown?: boolean;
  readonly event?: string;
}

interface Booted {
  readonly plan: HostPlan;
  readonly box: HostSandbox;
  readonly boot: BootResult;
  readonly inspected: Inspection;
  readonly starts: Started[];
  /** The member as its first boot left it: each pass test copies it. */
  readonly booted: HostSandbox;
}

/** The meet host's private address, from its network interface in the plan (where the members find Prosody). */
const meetPrivateIp = (): string => {
  const eni = single(resources(synthEnvironment(ENV), 'aws_network_interface'), 'meet interface', (n) => isObject(n.block.tags) && n.block.tags.Name === `weebeetalk-${ENV}-meet`);
  return String(asArray(eni.block.private_ips, 'private_ips')[0]);
};

const envFile = (text: string): Record<string, string> =>
  Object.fromEntries(
    text
      .split('\n')
      .filter((l) => /^[A-Z_][A-Z0-9_]*=/.test(l))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1).replace(/^"|"$/g, '')]),
  );

describeAsRoot('one member of each pool booted in a sandbox (test/boot-pools.test.ts)', [BOOT_ROOT, DOCKER_KEY])('pool members', () => {
  let kit: BootKit;
  const boots = new Map<Pool, Promise<Booted>>();
  beforeAll(() => {
    kit = new BootKit();
  });
  afterAll(() => {
    const left = leftovers(kit.dir);
    kit.cleanup();
    expect(left).toEqual({ loops: [], mounts: [], processes: [] });
  });

  const envPath = (plan: HostPlan): string => `${[...composeUnits(plan).values()][0]}/.env`;

  /** The first boot of a member (once per pool; every test of the pool reads or copies it). */
  const firstBoot = (pool: Pool): Promise<Booted> => {
    const hit = boots.get(pool);
    if (hit) return hit;
    const promise = (async () => {
      const box = new HostSandbox(kit, poolMemberPlan(synthEnvironment(ENV), pool));
      const boot = await box.firstBoot(box.inspecting([envPath(box.plan)]));
      return { plan: box.plan, box, boot, inspected: box.inspection(), starts: started(box), booted: box.copy() };
    })();
    boots.set(pool, promise);
    return promise;
  };

  /** A pass of pool-member.sh as its timer runs it, a minute after the last (its datapoint is not held back). */
  const pass = (plan: HostPlan): Step[] => [
    ['run', `rm -f ${settingOf(plan, 'WBT_POOL_STATE')}/published-*`],
    ['run', execOf(plan, 'weebeetalk-pool-member.service')],
  ];
  const scaling = (box: HostSandbox, from = 0): Scaling[] => box.log<Scaling>('autoscaling.jsonl').slice(from);
  const groupOf = (plan: HostPlan, pool: Pool): string => plan.world.groups.find((g) => g.name === `weebeetalk-${ENV}-${pool}`)?.name ?? '';

  it.concurrent.each(POOLS.map((p) => [p]))('%s: boots from its launch template (metadata addresses, no data volume, only its service, shared secrets), a second run changes nothing', async (pool) => {
    const { plan, box, boot, inspected, starts } = await firstBoot(pool);
    expect(plan.unrenderedKeys).toEqual([]);
    expect([boot.codes, boot.output]).toEqual([[0, 0], expect.stringContaining('bootstrap complete')]);
    expect(plan.world.member?.group).toBe(`weebeetalk-${ENV}-${pool}`);

    // Its addresses and id from instance metadata, each read with a token; no data volume (no step, no device).
    const imds = box.log<{ method: string; url: string; status: number }>('imds.jsonl');
    expect(imds.filter((r) => r.status !== 200)).toEqual([]);
    expect(new Set(imds.filter((r) => r.method === 'GET').map((r) => r.url))).toEqual(new Set(['/latest/meta-data/public-ipv4', '/latest/meta-data/local-ipv4', '/latest/meta-data/instance-id']));
    expect(boot.output).not.toMatch(/data-volume|creating ext4/);
    expect(inspected.volume).toBeNull();
    expect(plan.writeFiles.map((f) => f.path).filter((p) => /data-volume|grow-data|udev/.test(p))).toEqual([]);
    // Its state on the root disk, under the same DATA_DIR, a mount point all the same (the apply tool refuses anything else).
    expect(readFileSync(box.upper('/etc/fstab'), 'utf8').split('\n')).toContain('/srv/weebeetalk /srv/weebeetalk none bind 0 0');
    expect(boot.output).toMatch(/member-disk\.sh: pool member i-[0-9a-f]+: \/srv\/weebeetalk on the root disk/);

    // The compose project starts only the member's service, with a complete .env (0600) joining meet's Prosody.
    const [[unit, dir]] = [...composeUnits(plan)];
    const s = starts.filter((x) => x.start === unit);
    expect(s.map((x) => [x.workingDirectory, x.execStart, x.stale, x.compose?.envMode])).toEqual([[dir, `/usr/bin/docker compose up --detach --no-deps ${pool}`, false, '600 root']]);
    expect(s[0].compose?.variables.filter((v) => v.length === 0).map((v) => v.name)).toEqual([]);
    expect(
      started(box)
        .filter((x) => x.compose !== null)
        .map((x) => x.start),
    ).toEqual([unit]);
    const env = envFile(readFileSync(box.upper(join(dir, '.env')), 'utf8'));
    expect([env.XMPP_SERVER, env.XMPP_PORT]).toEqual([meetPrivateIp(), '5222']);
    const member = plan.world.member;
    if (pool === 'jvb')
      expect([env.JVB_ADVERTISE_IPS, env.JVB_MUC_NICKNAME, env.COLIBRI_REST_ENABLED, env.SHUTDOWN_REST_ENABLED]).toEqual([
        `${plan.world.publicIp},${member?.privateIp}`,
        box.instanceId,
        'true',
        'true',
      ]);
    else expect(env.JIBRI_INSTANCE_ID).toBe(box.instanceId);
    // The pools' subnet of the plan (the launch template's) holds the private address.
    const toInt = (ip: string): number => ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);
    const [base, bits] = (member?.subnetCidr ?? '0.0.0.0/32').split('/');
    expect(Math.floor(toInt(member?.privateIp ?? '') / 2 ** (32 - Number(bits)))).toBe(Math.floor(toInt(base) / 2 ** (32 - Number(bits))));
    const pools = single(resources(synthEnvironment(ENV), 'aws_subnet'), 'pools subnet', (n) => isObject(n.block.tags) && String(n.block.tags.Name).startsWith(`weebeetalk-${ENV}-pools-`));
    expect(member?.subnetCidr).toBe(pools.block.cidr_block);

    // The shared accounts from the meet host's parameters its role is granted (and its own bundle pointer), nothing
    // else; every file holding one is 0600, no login user reads it.
    const shared = Object.entries(sharedSecrets(synthEnvironment(ENV)))
      .filter(([, readers]) => readers.includes(pool))
      .map(([path]) => `/weebeetalk/${ENV}/${path}`);
    const accounts = plan.world.parameters.filter((p) => p.type === 'SecureString' && shared.includes(p.name));
    expect(accounts.map((p) => p.name).sort()).toEqual([...shared].sort());
    for (const p of accounts) expect(Object.values(env)).toContain(p.value);
    expect([...new Set(box.log<{ name: string }>('ssm.jsonl').map((r) => r.name))].sort()).toEqual(
      plan.world.parameters
        .filter((p) => p.name.startsWith(`/weebeetalk/${ENV}/${pool}/`) || shared.includes(p.name))
        .map((p) => p.name)
        .sort(),
    );
    expect(inspected.secrets.map((h) => [h.path, h.mode, h.readableBy])).toEqual([[envPath(plan), '600', []]]);
    expect(box.log<{ code?: number }>('aws.jsonl').filter((a) => a.code !== undefined && a.code !== 0)).toEqual([]);

    // Its pass runs every 30 s from now on (a recorder's uploader too).
    const enabled = box
      .log<Logged>('commands.jsonl')
      .filter((c) => c.cmd === 'systemctl' && c.argv[0] === 'enable')
      .map((c) => c.argv.join(' '));
    expect(enabled).toEqual(expect.arrayContaining(['enable --now weebeetalk-pool-member.timer', ...(pool === 'jibri' ? ['enable --now weebeetalk-recordings-upload.timer'] : [])]));

    // A second run changes nothing.
    const tree = rootTree(box);
    const again = await box.rerun();
    expect([again.codes, again.output]).toEqual([[0], expect.stringContaining('bootstrap complete')]);
    expect(Object.fromEntries(rootTree(box))).toEqual(Object.fromEntries(tree));
  });

  it.concurrent('jibri: IdleRecorders published with its pool; protected from scale-in when BUSY (once), released when IDLE again', async () => {
    const box = (await firstBoot('jibri')).booted.copy();
    const { plan } = box;
    const group = groupOf(plan, 'jibri');
    const r = await box.session([...pass(plan), box.member({ jibri: 'BUSY' }), ...pass(plan), ...pass(plan), box.member({ jibri: 'IDLE' }), ...pass(plan)]);
    expect([r.codes, r.output]).toEqual([Array(10).fill(0), expect.any(String)]);
    expect(box.log<Datapoint>('cloudwatch.jsonl').map((d) => [d.namespace, d.metric, d.dimensions, d.value])).toEqual(
      [1, 0, 0, 1].map((v) => [`WeeBeeTalk/${ENV}`, POOL_METRICS.idleRecorders, { [POOL_METRICS.dimension]: group }, v]),
    );
    // The first pass releases (a new member, or one after a reboot, starts from nothing); then one call per change.
    expect(scaling(box).map((c) => [c.operation, c.group, c.instances, c.protected, c.code])).toEqual([
      ['SetInstanceProtection', group, [box.instanceId], false, 0],
      ['SetInstanceProtection', group, [box.instanceId], true, 0],
      ['SetInstanceProtection', group, [box.instanceId], false, 0],
    ]);
    // InService all along: the target lifecycle state read (with a token) at every pass, no drain.
    expect(box.log<{ url: string }>('imds.jsonl').filter((q) => q.url === '/latest/meta-data/autoscaling/target-lifecycle-state')).toEqual(
      Array(4).fill({ method: 'GET', url: '/latest/meta-data/autoscaling/target-lifecycle-state', status: 200 }),
    );
    expect(r.output).not.toContain('draining');
    expect(box.log<ApiCall>('member-api.jsonl').filter((c) => c.shutdown)).toEqual([]);

    // Idle and unprotected, it is the one scale-in picks: nothing to wait for, it goes within the pass.
    const mark = scaling(box).length;
    const gone = await box.session([box.member({ jibri: 'IDLE', lifecycle: 'Terminated' }), ...pass(plan)]);
    expect(gone.codes).toEqual([0, 0, 0]);
    expect(box.log<ApiCall>('member-api.jsonl').filter((c) => c.shutdown)).toHaveLength(1);
    expect(scaling(box, mark).map((c) => [c.operation, c.result, c.code])).toEqual([['CompleteLifecycleAction', 'CONTINUE', 0]]);
  });

  it.concurrent('jibri: the policy and the API refuse what is not its own (the other pool, another instance, a hook or namespace it does not have)', async () => {
    const box = (await firstBoot('jibri')).booted.copy();
    const { region, roleName } = box.plan.world;
    const [own, other] = [groupOf(box.plan, 'jibri'), groupOf(box.plan, 'jvb')];
    const otherArn = box.plan.world.groups.find((g) => g.name === other)?.arn;
    const aws = (args: string): Step => ['run', `aws --region ${region} ${args}; echo "exit $?"`];
    const r = await box.session([
      aws(`autoscaling set-instance-protection --auto-scaling-group-name ${other} --instance-ids ${box.instanceId} --protected-from-scale-in`),
      aws(`autoscaling set-instance-protection --auto-scaling-group-name ${own} --instance-ids i-0aaaaaaaaaaaaaaaa --protected-from-scale-in`),
      aws(`autoscaling record-lifecycle-action-heartbeat --auto-scaling-group-name ${own} --lifecycle-hook-name not-a-hook --instance-id ${box.instanceId}`),
      aws(`cloudwatch put-metric-data --namespace WeeBeeTalk/production --metric-name IdleRecorders --value 1`),
      // IMDSv2 only, as the launch template requires: no token, no answer.
      ['run', "curl -s -o /dev/null -w 'tokenless %{http_code}\\n' http://169.254.169.254/latest/meta-data/autoscaling/target-lifecycle-state"],
    ]);
    expect(r.output).toContain('tokenless 401\n');
    expect(r.output).toContain(
      `\nAn error occurred (AccessDenied) when calling the SetInstanceProtection operation: User: arn:aws:sts::111122223333:assumed-role/${roleName}/${box.instanceId} is not authorized to perform: autoscaling:SetInstanceProtection on resource: ${otherArn} because no identity-based policy allows the autoscaling:SetInstanceProtection action\nexit 254\n`,
    );
    expect(r.output).toContain(
      `An error occurred (ValidationError) when calling the SetInstanceProtection operation: The instance i-0aaaaaaaaaaaaaaaa is not part of Auto Scaling group ${own}.\nexit 254\n`,
    );
    expect(r.output).toContain(
      `An error occurred (ValidationError) when calling the RecordLifecycleActionHeartbeat operation: No active Lifecycle Action found with instance ID ${box.instanceId}\nexit 254\n`,
    );
    expect(r.output).toContain(
      `An error occurred (AccessDenied) when calling the PutMetricData operation: User: arn:aws:sts::111122223333:assumed-role/${roleName}/${box.instanceId} is not authorized to perform: cloudwatch:PutMetricData because no identity-based policy allows the cloudwatch:PutMetricData action\nexit 254\n`,
    );
    expect(box.log<Datapoint>('cloudwatch.jsonl')).toEqual([]);
    expect(scaling(box).map((c) => [c.operation, c.group, c.code, c.error])).toEqual([
      ['SetInstanceProtection', other, 254, 'AccessDenied'],
      ['SetInstanceProtection', own, 254, 'ValidationError'],
      ['RecordLifecycleActionHeartbeat', own, 254, 'ValidationError'],
    ]);
  });

  it.concurrent('jibri: drains under its hook: graceful shutdown and heartbeats while BUSY; then its recording uploaded and removed, CONTINUE once', async () => {
    const box = (await firstBoot('jibri')).booted.copy();
    const { plan } = box;
    const group = groupOf(plan, 'jibri');
    const hook = `weebeetalk-${ENV}-jibri-drain`;
    const session = `${settingOf(plan, 'JITSI_CONFIG')}/storage/jibri/recordings/abc123`;
    // One session (no reboot): a recording in progress when the group chooses this member to go; it ends, Jibri is idle.
    const r = await box.session([
      ['run', `install -d ${session} && echo video > ${session}/room.mp4`],
      box.member({ jibri: 'BUSY', lifecycle: 'Terminated' }),
      ...pass(plan),
      ...pass(plan),
      ['run', `test -e ${session}/room.mp4`],
      // Jibri's finalize script marks the session complete.
      ['run', `touch ${session}/.weebeetalk-complete`],
      box.member({ jibri: 'IDLE', lifecycle: 'Terminated' }),
      ...pass(plan),
      ['run', `test ! -e ${session}`],
      ...pass(plan),
    ]);
    expect([r.codes, r.output]).toEqual([Array(14).fill(0), expect.stringContaining('draining: a recording is in progress; lifecycle heartbeat')]);
    const shutdowns = box.log<ApiCall>('member-api.jsonl').filter((c) => c.shutdown);
    expect(shutdowns.map((c) => [c.port, c.method, c.path, c.status])).toEqual([[3333, 'POST', '/jibri/api/internal/v1.0/gracefulShutdown', 200]]);
    // Heartbeats while it records and in the pass that starts the upload (a unit of its own: a pass never waits for
    // it), one CONTINUE once the recording is in the bucket; nothing after.
    expect(scaling(box).map((c) => [c.operation, c.group, c.hook, c.instances, c.result, c.code])).toEqual([
      ['RecordLifecycleActionHeartbeat', group, hook, [box.instanceId], undefined, 0],
      ['RecordLifecycleActionHeartbeat', group, hook, [box.instanceId], undefined, 0],
      ['RecordLifecycleActionHeartbeat', group, hook, [box.instanceId], undefined, 0],
      ['CompleteLifecycleAction', group, hook, [box.instanceId], 'CONTINUE', 0],
    ]);
    const bucket = plan.world.buckets.find((b) => b.includes('-recordings-'));
    expect(box.log('s3.jsonl')).toEqual([{ bucket, key: expect.stringMatching(/^recordings\/\d{4}\/\d{2}\/\d{2}\/abc123\/room\.mp4$/), bytes: 6 }]);
    // Its container does not come back once Jibri exits, and its unit is stopped; a leaving member is no recorder to count.
    const commands = box.log<Logged>('commands.jsonl').map((c) => `${c.cmd} ${c.argv.join(' ')}`);
    expect(commands.filter((c) => c.startsWith('docker update'))).toEqual([expect.stringMatching(/^docker update --restart no [0-9a-f]{64}$/)]);
    expect(commands).toContain('systemctl stop weebeetalk-jibri.service');
    expect(box.log<Datapoint>('cloudwatch.jsonl')).toEqual([]);
  });

  it.concurrent('jvb: BridgeStress published with its pool; drains until it hosts no conference, then CONTINUE once', async () => {
    const box = (await firstBoot('jvb')).booted.copy();
    const { plan } = box;
    const group = groupOf(plan, 'jvb');
    const hook = `weebeetalk-${ENV}-jvb-drain`;
    const r = await box.session([
      box.member({ stress: 0.42, conferences: 3 }),
      ...pass(plan),
      box.member({ stress: 0.3, conferences: 2, lifecycle: 'Terminated' }),
      ...pass(plan),
      ...pass(plan),
      box.member({ stress: 0, conferences: 0, lifecycle: 'Terminated' }),
      ...pass(plan),
      ...pass(plan),
    ]);
    expect(r.codes).toEqual(Array(13).fill(0));
    expect(box.log<Datapoint>('cloudwatch.jsonl').map((d) => [d.namespace, d.metric, d.dimensions, d.value])).toEqual([
      [`WeeBeeTalk/${ENV}`, POOL_METRICS.bridgeStress, { [POOL_METRICS.dimension]: group }, 0.42],
      // Its meetings and participants too, under its pool (the stand-in bridge's colibri stats).
      [`WeeBeeTalk/${ENV}`, HOST_METRICS.conferences, { [POOL_METRICS.dimension]: group }, 3],
      [`WeeBeeTalk/${ENV}`, HOST_METRICS.participants, { [POOL_METRICS.dimension]: group }, 0],
    ]);
    const shutdowns = box.log<ApiCall>('member-api.jsonl').filter((c) => c.shutdown !== undefined);
    expect(shutdowns.map((c) => [c.port, c.method, c.path, c.status, c.shutdown])).toEqual([[8080, 'POST', '/colibri/shutdown', 200, true]]);
    expect(scaling(box).map((c) => [c.operation, c.group, c.hook, c.instances, c.result, c.code])).toEqual([
      ['RecordLifecycleActionHeartbeat', group, hook, [box.instanceId], undefined, 0],
      ['RecordLifecycleActionHeartbeat', group, hook, [box.instanceId], undefined, 0],
      ['CompleteLifecycleAction', group, hook, [box.instanceId], 'CONTINUE', 0],
    ]);
    expect(r.output).toContain('draining: 2 conferences still on this bridge; lifecycle heartbeat');
    const commands = box.log<Logged>('commands.jsonl').map((c) => `${c.cmd} ${c.argv.join(' ')}`);
    expect(commands.filter((c) => c.startsWith('docker update'))).toEqual([expect.stringMatching(/^docker update --restart no [0-9a-f]{64}$/)]);
    expect(commands.filter((c) => c.startsWith('systemctl stop'))).toEqual(['systemctl stop weebeetalk-jvb.service']);
    // Its role has no protection to set, even on its own group.
    const { region } = plan.world;
    const p = await box.session([
      ['run', `aws --region ${region} autoscaling set-instance-protection --auto-scaling-group-name ${group} --instance-ids ${box.instanceId} --protected-from-scale-in; echo "exit $?"`],
    ]);
    expect(p.output).toMatch(
      /An error occurred \(AccessDenied\) when calling the SetInstanceProtection operation: .* is not authorized to perform: autoscaling:SetInstanceProtection on resource: arn:aws:autoscaling:[a-z0-9-]+:111122223333:autoScalingGroup:[0-9a-f-]{36}:autoScalingGroupName\/weebeetalk-staging-jvb because no identity-based policy allows the autoscaling:SetInstanceProtection action\nexit 254\n/,
    );
  });
});
