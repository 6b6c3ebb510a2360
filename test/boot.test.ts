/**
 * First boot of every host of every environment, for real: the user-data as synthesized, rendered as cloud-init
 * renders it, the real bootstrap scripts run as root in a sandbox (test/support/boot/), against stand-ins that
 * answer as AWS does from the synthesized plan (IMDSv2 with the plan's tags, SSM with the plan's parameters and
 * the host role's policy, Route53 and S3 against the same policy, public DNS from the plan's A records).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readdirSync, readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { parse } from 'yaml';
import { CHAT_DOCKER_NETWORK } from '../config/net';
import { enabledRoles, type Role } from '../config/schema';
import { BOOT_ROOT, BootKit, DOCKER_KEY, HostSandbox, leftovers, rootTree, type BootResult, type Inspection, type Logged, type SandboxOptions } from './support/boot/harness';
import { hostPlan, type HostPlan } from './support/boot/plan';
import { evaluate } from './support/boot/policy';
import { sharedSecrets } from './support/parts';
import { describeAsRoot } from './support/root';
import { shippedNames, synthEnvironment, synthVariant, type Synthesized } from './support/synth';

jest.setTimeout(60_000);

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

interface Started {
  readonly start: string;
  readonly workingDirectory: string;
  readonly stale: boolean;
  readonly compose: { files: string[]; envMode: string; variables: { name: string; length: number }[] } | null;
}

const started = (box: HostSandbox): Started[] =>
  box
    .log<Logged>('commands.jsonl')
    .filter((c) => c.cmd === 'systemctl' && c.extra !== null)
    .map((c) => c.extra as unknown as Started);

/** Every file the plan gives the host: its user-data's and its bundle's. */
const planFiles = (plan: HostPlan): { path: string; content: string }[] => [...plan.writeFiles, ...plan.configuration.files];

/** The compose units the plan writes: unit name to its WorkingDirectory. */
function composeUnits(plan: HostPlan): Map<string, string> {
  const units = new Map<string, string>();
  for (const f of planFiles(plan)) {
    const m = /^\/etc\/systemd\/system\/([^/]+\.service)$/.exec(f.path);
    if (m && /^ExecStart=.*docker compose up/m.test(f.content)) units.set(m[1], /^WorkingDirectory=(.*)$/m.exec(f.content)?.[1] ?? '');
  }
  return units;
}

/** Files the host writes secrets into, by role (the secret scan must find them too). */
const SECRET_FILES: Record<Role, string[]> = {
  chat: ['/opt/weebeetalk/rocketchat-compose/.env'],
  meet: ['/opt/weebeetalk/docker-jitsi-meet/.env', '/srv/weebeetalk/jitsi/passwords.env', '/etc/weebeetalk/jitsi/dial-in-pin-key'],
  pbx: ['/srv/weebeetalk/asterisk/etc/pjsip.auth.conf', '/srv/weebeetalk/asterisk/etc/keys/privkey.pem'],
  turn: ['/etc/coturn/weebeetalk.conf', '/etc/coturn/certs/privkey.pem'],
};
/**
 * Secret files a service account reads (its daemon drops to it): 0640 with that group, which no login user is in;
 * every other secret file is 0600. coturn runs as turnserver (Debian's unit).
 */
const SERVICE_READ: Readonly<Record<string, string>> = { '/etc/coturn/weebeetalk.conf': 'root:turnserver', '/etc/coturn/certs/privkey.pem': 'root:turnserver' };
/**
 * What the upstream stacks cannot start without (DESIGN.md, "Upstream versions" and "How the products connect"):
 * docker-jitsi-meet's public URL, advertised address and the internal passwords gen-passwords.sh fills, the JWT
 * pair and Jigasi's SIP password; rocketchat-compose's release, URL and certificate settings, and our admin.
 */
const REQUIRED: Record<Role, string[]> = {
  chat: ['RELEASE', 'MONGODB_VERSION', 'DOMAIN', 'ROOT_URL', 'LETSENCRYPT_EMAIL', 'RC_ADMIN_PASS', 'RC_UPLOADS_BUCKET'],
  meet: [
    'PUBLIC_URL',
    'JVB_ADVERTISE_IPS',
    'LETSENCRYPT_DOMAIN',
    'LETSENCRYPT_EMAIL',
    'JICOFO_AUTH_PASSWORD',
    'JVB_AUTH_PASSWORD',
    'JIGASI_XMPP_PASSWORD',
    'JIBRI_RECORDER_PASSWORD',
    'JIBRI_XMPP_PASSWORD',
    'JWT_APP_ID',
    'JWT_APP_SECRET',
    'JIGASI_SIP_PASSWORD',
  ],
  pbx: [],
  turn: [],
};
/** Where the meet hook installs the web container's dial-in include (userdata/paths.ts DIAL_IN_PATHS.nginxInstalled). */
const DIAL_IN_INCLUDE = '/srv/weebeetalk/jitsi/config/web/nginx-custom/weebeetalk-dial-in.conf';
/** The apply tool on the host (userdata/paths.ts APPLY_COMMAND). */
const APPLY = '/usr/local/sbin/weebeetalk-apply';
const GENERATED: Record<Role, string[]> = { chat: [], meet: ['/srv/weebeetalk/jitsi/passwords.env'], pbx: [], turn: [] };
/** Hosts that get a certificate by DNS-01 (certbot) rather than from their web server's own ACME client. */
const CERTBOT_ROLES: readonly Role[] = ['pbx', 'turn'];

const fqdnOf = (plan: HostPlan): string => /^FQDN="([^"]*)"$/m.exec(plan.configuration.files.find((f) => f.path === '/etc/weebeetalk/config.env')?.content ?? '')?.[1] ?? '';

interface FirstBoot {
  readonly plan: HostPlan;
  readonly box: HostSandbox;
  /** The host as its first boot left it (the first-boot test goes on to re-run and replace `box`): copy() it. */
  readonly booted: HostSandbox;
  readonly boot: BootResult;
  readonly inspected: Inspection;
  readonly starts: Started[];
  readonly ssm: { name: string; decrypted: boolean }[];
  readonly aws: { argv?: string[]; code?: number; stderr?: string }[];
  readonly acme: { domain: string; issued: boolean }[];
}

describe("the harness's own scripts", () => {
  it('pass shellcheck (sandbox, stand-ins, setup)', () => {
    const dir = join(__dirname, 'support', 'boot');
    const files = ['sandbox.sh', ...readdirSync(join(dir, 'standins')).map((f) => join('standins', f))].map((f) => join(dir, f));
    const out = spawnSync(
      'shellcheck',
      ['-x', '--source-path', join(dir, 'standins'), '--source-path', join(__dirname, '..', 'scripts'), '--format', 'gcc', ...files, join(__dirname, '..', 'scripts', 'setup-boot-root.sh')],
      { encoding: 'utf8' },
    );
    expect([out.error?.message, out.stdout]).toEqual([undefined, '']);
  });
});

describe('the policy evaluation the stand-ins enforce (conditions included), on the plan', () => {
  it.each(shippedNames())('%s: pbx may change only the TXT record _acme-challenge.<its name>, with UPSERT or DELETE', (env) => {
    const plan = hostPlan(synthEnvironment(env), 'pbx');
    const zone = plan.world.zones[0];
    const fqdn = fqdnOf(plan);
    const change = (name: string, type: string, action: string): string =>
      evaluate(plan.world.statements, 'route53:ChangeResourceRecordSets', `arn:aws:route53:::hostedzone/${zone.id}`, {
        'route53:ChangeResourceRecordSetsNormalizedRecordNames': [name],
        'route53:ChangeResourceRecordSetsRecordTypes': [type],
        'route53:ChangeResourceRecordSetsActions': [action],
      });
    expect(change(`_acme-challenge.${fqdn}`, 'TXT', 'UPSERT')).toBe('allow');
    expect(change(`_acme-challenge.${fqdn}`, 'TXT', 'DELETE')).toBe('allow');
    expect(change(fqdn, 'A', 'UPSERT')).toBe('implicit-deny');
    expect(change(`_acme-challenge.${fqdn}`, 'TXT', 'CREATE')).toBe('implicit-deny');
    expect(change(`_acme-challenge.chat.${zone.name}`, 'TXT', 'UPSERT')).toBe('implicit-deny');
    expect(evaluate(plan.world.statements, 'route53:ChangeResourceRecordSets', 'arn:aws:route53:::hostedzone/ZOTHER', {})).toBe('implicit-deny');
    expect(evaluate(hostPlan(synthEnvironment(env), 'chat').world.statements, 'route53:ListHostedZones', '*')).toBe('implicit-deny');
  });
});

describeAsRoot('first boot of every host in a sandbox (test/boot.test.ts)', [BOOT_ROOT, DOCKER_KEY])('first boot', () => {
  let kit: BootKit;
  const boots = new Map<string, Promise<FirstBoot>>();
  beforeAll(() => {
    kit = new BootKit();
  });
  afterAll(() => {
    // Network namespaces are anonymous (unshare): they die with their processes, which must all be gone.
    const left = leftovers(kit.dir);
    kit.cleanup();
    expect(left).toEqual({ loops: [], mounts: [], processes: [] });
  });

  const sandbox = (env: string, role: Role, options: SandboxOptions = {}): HostSandbox =>
    new HostSandbox(kit, hostPlan(synthEnvironment(env), role), { generatedSecrets: GENERATED[role], ...options });

  /** The first boot of a host (once per file; the named tests below read the same boot). */
  const firstBoot = (env: string, role: Role): Promise<FirstBoot> => {
    const key = `${env}/${role}`;
    const hit = boots.get(key);
    if (hit) return hit;
    const promise = (async () => {
      const box = sandbox(env, role);
      const volumeFiles = box.plan.configuration.files.map((f) => f.path).filter((p) => p.startsWith('/srv/weebeetalk/'));
      const boot = await box.firstBoot(['run', 'echo kept > /srv/weebeetalk/marker'], box.inspecting([...SECRET_FILES[role], `/etc/letsencrypt/live/${fqdnOf(box.plan)}/privkey.pem`, ...volumeFiles]));
      return {
        plan: box.plan,
        box,
        booted: box.copy(),
        boot,
        inspected: box.inspection(),
        starts: started(box),
        ssm: box.log<FirstBoot['ssm'][number]>('ssm.jsonl'),
        aws: box.log<FirstBoot['aws'][number]>('aws.jsonl'),
        acme: box.log<FirstBoot['acme'][number]>('acme.jsonl'),
      };
    })();
    boots.set(key, promise);
    return promise;
  };

  const hosts = shippedNames().flatMap((env) => enabledRoles(synthEnvironment(env).config).map((role) => [env, role] as const));
  /** Where each role's second run and replacement are exercised: its first environment (shipped order). */
  const REPEATED_IN = Object.fromEntries([...hosts].reverse().map(([env, role]) => [role, env])) as Record<Role, string>;

  it.concurrent.each(hosts)('%s %s: boots; once per role, a second run changes nothing and a replacement comes back with its data', async (env, role) => {
    const { plan, box, boot, inspected, starts } = await firstBoot(env, role);
    expect(plan.unrenderedKeys).toEqual([]);
    expect([boot.codes, boot.output]).toEqual([[0, 0, 0], expect.stringContaining('bootstrap complete')]);

    // Every file of the user-data, with its owner and mode; every file of the bundle too, with its content (the
    // Elastic IP put in where the bundle says so).
    for (const f of plan.writeFiles) {
      const st = lstatSync(box.upper(f.path));
      expect([f.path, (st.mode & 0o7777).toString(8).padStart(4, '0'), `${st.uid}:${st.gid}`]).toEqual([f.path, f.permissions, f.owner === 'root:root' ? '0:0' : f.owner]);
    }
    const onVolume = (path: string): boolean => path.startsWith('/srv/weebeetalk/');
    // As served: the harness re-pins the upstream manifests to its stand-in releases (test/support/boot/harness.ts).
    const bundled = (JSON.parse(box.served.json) as { files: HostPlan['configuration']['files'] }).files;
    expect(bundled.map((f) => f.path)).toEqual(plan.configuration.files.map((f) => f.path));
    for (const f of bundled) {
      // The data volume is a loop device mounted inside the sandbox: read it through the inspection, the rest from the root's upper layer.
      const content = f.render ? f.content.replace(/@PUBLIC_IP@/g, plan.world.publicIp) : f.content;
      if (onVolume(f.path)) {
        const seen = inspected.files.find((i) => i.path === f.path);
        expect([f.path, seen?.mode, seen?.owner, seen?.sha256]).toEqual([
          f.path,
          f.mode.replace(/^0/, ''),
          f.owner === '1000:1000' ? 'weebeetalk-container:weebeetalk-container' : 'root:root',
          sha256(content),
        ]);
        continue;
      }
      const st = lstatSync(box.upper(f.path));
      expect([f.path, (st.mode & 0o7777).toString(8).padStart(4, '0'), `${st.uid}:${st.gid}`, sha256(readFileSync(box.upper(f.path), 'utf8'))]).toEqual([f.path, f.mode, f.owner, sha256(content)]);
    }

    // Every file holding a secret: 0600 and readable by no login user.
    const own = plan.world.parameters.filter((p) => p.type === 'SecureString' && p.name.startsWith(`/weebeetalk/${env}/${role}/`));
    expect(own.length).toBeGreaterThan(0);
    const bundled_ = new Set(plan.configuration.files.map((f) => f.path));
    for (const h of [...inspected.secrets, ...inspected.files.filter((f) => f.exists && !bundled_.has(f.path))]) {
      const group = SERVICE_READ[h.path];
      expect([h.path, h.mode, h.readableBy, ...(group ? [h.owner] : [])]).toEqual([h.path, group ? '640' : '600', [], ...(group ? [group] : [])]);
    }
    for (const p of SECRET_FILES[role]) expect(inspected.secrets.map((s) => s.path)).toContain(p);
    // The Elastic IP is filled in everywhere the services read it.
    expect(inspected.placeholders).toEqual([]);

    // Each compose stack starts in its directory with a complete environment.
    const units = composeUnits(plan);
    // The turn host runs coturn from Debian's package, no compose stack: it must only ever start authenticating.
    expect(units.size).toBe(role === 'turn' ? 0 : 1);
    if (role === 'turn') {
      const coturn = box.log<Logged>('commands.jsonl').filter((c) => c.cmd === 'systemctl' && c.extra?.start === 'coturn.service');
      expect(coturn.map((c) => c.extra?.coturnAuth)).toEqual([true]);
    }
    for (const [unit, dir] of units) {
      const s = starts.filter((x) => x.start === unit);
      expect(s.length).toBeGreaterThan(0);
      const last = s[s.length - 1];
      expect([unit, last.workingDirectory, last.stale]).toEqual([unit, dir, false]);
      expect(last.compose?.variables.filter((v) => v.length === 0).map((v) => v.name)).toEqual([]);
      const names = last.compose?.variables.map((v) => v.name) ?? [];
      expect(REQUIRED[role].filter((n) => !names.includes(n))).toEqual([]);
      if (role === 'meet') expect(readFileSync(box.upper(join(dir, '.env')), 'utf8')).toMatch(new RegExp(`^JVB_ADVERTISE_IPS="${plan.world.publicIp.replace(/\./g, '\\.')},`, 'm'));
      if (last.compose?.envMode !== 'none') expect(last.compose?.envMode).toBe('600 root');
    }
    expect(starts.filter((x) => x.stale)).toEqual([]);

    // The second run and the replacement run the same bootstrap and hooks in both tiers (only values differ): once
    // per role, on staging, and on production for a role staging does not build (turn).
    if (env !== REPEATED_IN[role]) return;

    // A second run changes nothing.
    const tree = rootTree(box);
    const volume = inspected.volume;
    const issued = box.log<{ issued: boolean }>('acme.jsonl').filter((a) => a.issued).length;
    const again = await box.rerun(box.inspecting(SECRET_FILES[role]));
    expect([again.codes, again.output]).toEqual([[0, 0], expect.stringContaining('bootstrap complete')]);
    expect(again.output).toContain('keeping its data');
    expect(Object.fromEntries(rootTree(box))).toEqual(Object.fromEntries(tree));
    expect(box.inspection().volume).toEqual(volume);

    // A replacement: a fresh root filesystem, the same volume: same data, same generated passwords, no new certificate.
    box.newInstance();
    const replaced = await box.firstBoot(box.inspecting(SECRET_FILES[role]));
    expect([replaced.codes, replaced.output]).toEqual([[0, 0], expect.stringContaining('bootstrap complete')]);
    expect(replaced.output).not.toContain('creating ext4');
    expect(box.inspection().volume).toEqual(volume);
    // The same secrets where the services read them: SSM's, and the internal passwords generated on first boot.
    const sums = (i: Inspection): string[] => i.files.filter((f) => SECRET_FILES[role].includes(f.path)).map((f) => `${f.path} ${f.sha256}`);
    expect(sums(box.inspection())).toEqual(sums(inspected));
    expect(volume?.files).toContain('./marker');
    expect(issued + box.log<{ issued: boolean }>('acme.jsonl').filter((a) => a.issued).length).toBe(CERTBOT_ROLES.includes(role) ? 1 : 0);
  });

  it.each(shippedNames())("%s pbx: Asterisk's TLS private key is 0600 and readable by no login user", async (env) => {
    const { inspected, plan, acme } = await firstBoot(env, 'pbx');
    expect(acme).toEqual([expect.objectContaining({ domain: fqdnOf(plan), issued: true })]);
    const keys = inspected.files.filter((f) => f.path.endsWith('privkey.pem'));
    expect(keys.map((k) => [k.path, k.exists, k.mode, k.readableBy])).toEqual([
      ['/srv/weebeetalk/asterisk/etc/keys/privkey.pem', true, '600', []],
      [`/etc/letsencrypt/live/${fqdnOf(plan)}/privkey.pem`, true, '600', []],
    ]);
  });

  it('production turn: a renewed certificate reaches coturn by SIGUSR2, without a restart (relayed calls survive)', async () => {
    const box = (await firstBoot('production', 'turn')).booted.copy();
    const hook = '/etc/letsencrypt/renewal-hooks/deploy/weebeetalk-turn.sh';
    const lineage = `/etc/letsencrypt/live/${fqdnOf(box.plan)}`;
    const r = await box.session([
      ['run', `test -x ${hook} && RENEWED_LINEAGE=${lineage} ${hook}`],
      ['run', 'stat -c "%a %U:%G" /etc/coturn/certs/privkey.pem /etc/coturn/weebeetalk.conf && ! grep -q static-auth-secret /etc/turnserver.conf'],
    ]);
    expect([r.codes, r.output]).toEqual([[0, 0], expect.stringContaining('640 root:turnserver\n640 root:turnserver\n')]);
    const coturn = box
      .log<Logged>('commands.jsonl')
      .filter((c) => c.cmd === 'systemctl' && c.extra === null && c.argv.includes('coturn'))
      .map((c) => c.argv.join(' '));
    expect(coturn).toEqual(['mask coturn', 'unmask coturn', 'enable coturn', 'start coturn', 'kill --kill-whom=main --signal=SIGUSR2 coturn']);
  });

  it.each(hosts)('%s %s: reads exactly its own SSM parameters and the shared secrets it is a reader of, by the names the plan creates, decrypted', async (env, role) => {
    const { plan, ssm, aws } = await firstBoot(env, role);
    const shared = Object.entries(sharedSecrets(synthEnvironment(env)))
      .filter(([, readers]) => readers.includes(role))
      .map(([path]) => `/weebeetalk/${env}/${path}`);
    const own = plan.world.parameters
      .filter((p) => p.name.startsWith(`/weebeetalk/${env}/${role}/`) || shared.includes(p.name))
      .map((p) => p.name)
      .sort();
    expect(own.filter((n) => shared.includes(n))).toEqual(shared);
    expect([...new Set(ssm.map((r) => r.name))].sort()).toEqual(own);
    expect(ssm.every((r) => r.decrypted)).toBe(true);
    expect(aws.filter((a) => a.code !== undefined && a.code !== 0)).toEqual([]);
  });

  it.each(shippedNames())('%s chat: Rocket.Chat starts with registration closed, its security settings (rocketchat.security) and the admin password from SSM', async (env) => {
    const { box, plan, starts } = await firstBoot(env, 'chat');
    const [unit, dir] = [...composeUnits(plan)][0];
    const start = starts.filter((s) => s.start === unit).pop();
    // The environment compose gives the rocketchat service: its files in order (later wins), .env interpolated.
    const env_ = Object.fromEntries(
      readFileSync(box.upper(join(dir, '.env')), 'utf8')
        .split('\n')
        .filter((l) => l.includes('='))
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1).replace(/^"|"$/g, '')]),
    );
    const environment: Record<string, string> = {};
    for (const f of start?.compose?.files ?? []) {
      const path = box.upper(isAbsolute(f) ? f : join(dir, f));
      const doc = parse(readFileSync(path, 'utf8'), { customTags: [{ tag: '!override', collection: 'seq', resolve: (v: unknown) => v }] }) as {
        services?: Record<string, { environment?: Record<string, string> }>;
      } | null;
      Object.assign(environment, doc?.services?.rocketchat?.environment ?? {});
    }
    const value = (k: string): string => String(environment[k] ?? '').replace(/\$\{([A-Z_]+)\}/g, (_m, v: string) => env_[v] ?? '');
    expect(value('OVERWRITE_SETTING_Accounts_RegistrationForm')).toBe('Disabled');
    // rocketchat.security reaches the container (hand-written here: the shipped defaults).
    const security = Object.fromEntries(
      Object.keys(environment)
        .filter((k) => /^OVERWRITE_SETTING_(E2E|Accounts_Password|Block_Multiple|Accounts_TwoFactor|FileUpload_Protect|Login_Logs)/.test(k))
        .map((k) => [k.replace('OVERWRITE_SETTING_', ''), value(k)]),
    );
    expect(security).toEqual({
      E2E_Enable: 'true',
      E2E_Enabled_Default_DirectRooms: 'false',
      E2E_Enabled_Default_PrivateRooms: 'false',
      Accounts_Password_Policy_Enabled: 'true',
      Accounts_Password_Policy_MinLength: '14',
      Accounts_Password_Policy_AtLeastOneLowercase: 'true',
      Accounts_Password_Policy_AtLeastOneUppercase: 'true',
      Accounts_Password_Policy_AtLeastOneNumber: 'true',
      Accounts_Password_Policy_AtLeastOneSpecialCharacter: 'true',
      Accounts_Password_History_Enabled: 'true',
      Accounts_Password_History_Amount: '5',
      Block_Multiple_Failed_Logins_Enabled: 'true',
      Block_Multiple_Failed_Logins_By_User: 'true',
      Block_Multiple_Failed_Logins_Attempts_Until_Block_by_User: '10',
      Block_Multiple_Failed_Logins_Time_To_Unblock_By_User_In_Minutes: '15',
      Block_Multiple_Failed_Logins_By_Ip: 'true',
      Block_Multiple_Failed_Logins_Time_To_Unblock_By_Ip_In_Minutes: '15',
      Accounts_TwoFactorAuthentication_Enabled: 'true',
      Accounts_TwoFactorAuthentication_By_TOTP_Enabled: 'true',
      Accounts_TwoFactorAuthentication_By_Email_Enabled: 'true',
      FileUpload_ProtectFiles: 'true',
      Login_Logs_Enabled: 'true',
      Login_Logs_Username: 'true',
      Login_Logs_ClientIp: 'true',
      Login_Logs_UserAgent: 'true',
    });
    const admin = plan.world.parameters.find((p) => p.name === `/weebeetalk/${env}/chat/admin-password`);
    expect(value('ADMIN_PASS')).toBe(admin?.value);
  });

  it.each(shippedNames())('%s chat: the metadata guard is enabled and run (real iptables) before the stack starts; at the next boot, before Docker, its rules are back once', async (env) => {
    const { booted, boot } = await firstBoot(env, 'chat');
    const box = booted.copy();
    const unit = 'weebeetalk-imds-guard.service';
    const calls = box
      .log<Logged>('commands.jsonl')
      .filter((c) => c.cmd === 'systemctl')
      .map((c) => c.argv.join(' '));
    expect(calls).toEqual(expect.arrayContaining([`enable ${unit}`, `start ${unit}`]));
    expect(calls.indexOf(`start ${unit}`)).toBeLessThan(calls.indexOf('restart weebeetalk-rocketchat.service'));
    expect(existsSync(box.upper(`/var/lib/wbt-standin/systemd/enabled/${unit}`))).toBe(true);
    // The script ran for real, in the boot's network namespace, after Docker's start made its chains.
    expect(boot.output).toContain('imds-guard.sh: iptables DOCKER-USER: metadata guard set (2 rules)');
    expect(boot.output).toContain(`only ${CHAT_DOCKER_NETWORK.rocketchat} on ${CHAT_DOCKER_NETWORK.bridge} (Rocket.Chat) reaches it`);
    expect(boot.output).toContain('imds-guard.sh: ip6tables DOCKER-USER: metadata guard set (1 rules)');
    // The next boot (a new network namespace: no rules, no chain): the unit runs before Docker (which keeps the chain
    // and its rules); once more changes nothing.
    const guard = `systemctl start ${unit}`;
    const r = await box.session([
      ['run', `${guard} && systemctl restart docker && iptables -w -S DOCKER-USER && ip6tables -w -S DOCKER-USER`],
      ['run', `${guard} && iptables -w -S DOCKER-USER | grep -c wbt-imds-guard`],
    ]);
    expect(r.codes).toEqual([0, 0]);
    const rules = r.output.split('\n').filter((l) => l.startsWith('-A DOCKER-USER'));
    expect(rules).toEqual([
      `-A DOCKER-USER -s ${CHAT_DOCKER_NETWORK.rocketchat}/32 -d 169.254.169.254/32 -i ${CHAT_DOCKER_NETWORK.bridge} -p tcp -m tcp --dport 80 -m comment --comment "wbt-imds-guard: Rocket.Chat may reach instance metadata" -j RETURN`,
      '-A DOCKER-USER -d 169.254.169.254/32 -m comment --comment "wbt-imds-guard: no other container may" -j DROP',
      '-A DOCKER-USER -d fd00:ec2::254/128 -m comment --comment "wbt-imds-guard: no container may (IPv6)" -j DROP',
    ]);
    expect(r.output).toContain('iptables DOCKER-USER: the metadata guard is in place\n');
    expect(r.output.trimEnd().split('\n').pop()).toBe('2');
  });

  it.each(shippedNames())('%s meet: a failed certificate request cannot restart the web container forever', async (env) => {
    const { box, plan, starts } = await firstBoot(env, 'meet');
    const [unit, dir] = [...composeUnits(plan)][0];
    const files = starts.filter((s) => s.start === unit).pop()?.compose?.files ?? [];
    let restart: unknown;
    for (const f of files) {
      const doc = parse(readFileSync(box.upper(isAbsolute(f) ? f : join(dir, f)), 'utf8')) as { services?: { web?: { restart?: string } } } | null;
      if (doc?.services?.web?.restart !== undefined) restart = doc.services.web.restart;
    }
    expect(String(restart)).toMatch(/^(no|on-failure:[1-3])$/);
  });

  it.each(shippedNames())("%s meet: Jitsi's security settings (jitsi.security) reach the containers' environment, tokens from our issuer and audience only", async (env) => {
    const { box, plan, starts } = await firstBoot(env, 'meet');
    const [unit, dir] = [...composeUnits(plan)][0];
    const start = starts.filter((s) => s.start === unit).pop();
    // docker-jitsi-meet's compose files pass these by name (environment: - NAME): compose takes each value from .env.
    const dotEnv = Object.fromEntries(
      readFileSync(box.upper(join(dir, '.env')), 'utf8')
        .split('\n')
        .filter((l) => l.includes('='))
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1).replace(/^"|"$/g, '')]),
    );
    // Hand-written: the shipped defaults, with the container that reads each (userdata/upstream-env.ts).
    const expected: Record<string, string> = {
      ENABLE_LOBBY: '1', // prosody
      ENABLE_AV_MODERATION: '1', // prosody
      ENABLE_GUESTS: '1', // web, prosody, jigasi
      ENABLE_PREJOIN_PAGE: '1', // web
      ENABLE_REQUIRE_DISPLAY_NAME: '1', // web
      ENABLE_MODERATOR_CHECKS: '1', // jicofo
      JWT_ALLOW_EMPTY: '0', // prosody
      JWT_ACCEPTED_ISSUERS: `weebeetalk-${env}`, // prosody
      JWT_ACCEPTED_AUDIENCES: 'RocketChat', // prosody
    };
    expect(Object.fromEntries(Object.keys(expected).map((k) => [k, dotEnv[k]]))).toEqual(expected);
    // The one issuer accepted is the application id Jitsi itself gets from SSM (and the operator gives Rocket.Chat's app).
    const appId = plan.world.parameters.find((p) => p.name === `/weebeetalk/${env}/meet/jwt-app-id`);
    expect([dotEnv.JWT_APP_ID, dotEnv.JWT_ACCEPTED_ISSUERS]).toEqual([appId?.value, appId?.value]);
    // What compose read at the start: each of them, non-empty, and nothing about end-to-end encryption.
    const read = new Map((start?.compose?.variables ?? []).map((v) => [v.name, v.length]));
    expect(Object.keys(expected).filter((k) => !(Number(read.get(k)) > 0))).toEqual([]);
    expect([...read.keys()].filter((k) => /E2EE/i.test(k))).toEqual([]);
    // Nor any custom-config.js, which the web container would append to config.js (the one way to set e2ee.disabled).
    expect(dotEnv.CONFIG).toMatch(/^\/srv\//);
    expect(existsSync(box.upper(join(dotEnv.CONFIG, 'web', 'custom-config.js')))).toBe(false);
  });

  it("the stand-ins refuse what AWS refuses: IMDS without a token, another host's parameter, no decryption", async () => {
    const box = sandbox('staging', 'chat');
    const meetSecret = '/weebeetalk/staging/meet/jwt-app-secret';
    const own = '/weebeetalk/staging/chat/admin-password';
    const imds = 'http://169.254.169.254/latest';
    const { region } = box.plan.world;
    const script = [
      `curl -s -o /dev/null -w 'tokenless %{http_code}\\n' ${imds}/meta-data/tags/instance/Name`,
      `curl -s -o /dev/null -w 'no-ttl %{http_code}\\n' -X PUT ${imds}/api/token`,
      `t=$(curl -s -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' ${imds}/api/token); echo "tag $(curl -s -H "X-aws-ec2-metadata-token: $t" ${imds}/meta-data/tags/instance/WeebeetalkPublicIp)"`,
      `aws ssm get-parameter --region ${region} --with-decryption --name ${meetSecret} --query Parameter.Value --output text; echo "other-host exit $?"`,
      `echo "plain $(aws ssm get-parameter --region ${region} --name ${own} --query Parameter.Value --output text)"`,
      // apt: only what Debian 12's archive (or a configured repository) has.
      `apt-get install -y -q python3-certbot-dns-route35; echo "apt-typo exit $?"`,
      `apt-get install -y -q python3-certbot-dns-route53 >/dev/null; echo "apt-real exit $?"`,
    ].join('; ');
    const r = await box.session([['run', script]]);
    const role = box.plan.world.roleName;
    expect(r.output).toContain('tokenless 401\n');
    expect(r.output).toContain('no-ttl 400\n');
    expect(r.output).toContain(`tag ${box.plan.world.publicIp}\n`);
    expect(r.output).toContain(
      `An error occurred (AccessDeniedException) when calling the GetParameter operation: User: arn:aws:sts::111122223333:assumed-role/${role}/${box.instanceId} is not authorized to perform: ssm:GetParameter on resource: arn:aws:ssm:${region}:111122223333:parameter${meetSecret} because no identity-based policy allows the ssm:GetParameter action\nother-host exit 254\n`,
    );
    const value = box.plan.world.parameters.find((p) => p.name === own)?.value ?? '';
    expect(r.output).toMatch(/plain [A-Za-z0-9+/=]{20,}\n/);
    expect(r.output).not.toContain(`plain ${value}`);
    expect(r.output).toContain('E: Unable to locate package python3-certbot-dns-route35\napt-typo exit 100\n');
    expect(r.output).toContain('apt-real exit 0\n');
  });

  /** What a unit of the plan runs (its ExecStart), as a timer would start it. */
  const execOf = (plan: HostPlan, unit: string): string => /^ExecStart=(.*)$/m.exec(planFiles(plan).find((f) => f.path === `/etc/systemd/system/${unit}`)?.content ?? '')?.[1] ?? '';

  it('staging meet: a finished recording goes to the recordings bucket (as the role allows), then leaves the host', async () => {
    const box = (await firstBoot('staging', 'meet')).booted.copy();
    const exec = execOf(box.plan, 'weebeetalk-recordings-upload.service');
    expect(exec).not.toBe('');
    const session = '/srv/weebeetalk/jitsi/config/storage/jibri/recordings/abc123';
    const r = await box.session([
      ['run', `install -d ${session} && echo video > ${session}/room.mp4 && touch ${session}/.weebeetalk-complete`],
      ['run', exec],
      ['run', `test ! -e ${session}`],
    ]);
    expect(r.codes).toEqual([0, 0, 0]);
    const uploads = box.log<{ bucket: string; key: string }>('s3.jsonl');
    const bucket = box.plan.world.buckets.find((b) => b.includes('-recordings-'));
    expect(uploads).toEqual([{ bucket, key: expect.stringMatching(/^recordings\/\d{4}\/\d{2}\/\d{2}\/abc123\/room\.mp4$/), bytes: 6 }]);
  });

  it('staging chat: the nightly MongoDB dump goes to the backups bucket under chat/ (as the role allows)', async () => {
    const box = (await firstBoot('staging', 'chat')).booted.copy();
    const exec = execOf(box.plan, 'weebeetalk-rocketchat-backup.service');
    const r = await box.session([['run', exec]]);
    expect([r.codes, r.output]).toEqual([[0], expect.stringContaining('dump uploaded to s3://')]);
    const bucket = box.plan.world.buckets.find((b) => b.includes('-backups-'));
    expect(box.log('s3.jsonl')).toEqual([expect.objectContaining({ bucket, key: expect.stringMatching(/^chat\/mongodump\//) })]);
  });

  describe('faults', () => {
    it.concurrent('instance metadata slow at first: the tag reads time out, are retried, and the boot completes', async () => {
      const box = sandbox('staging', 'chat', { faults: { imdsSlow: { count: 2, ms: 2500 } } });
      const r = await box.firstBoot();
      expect([r.codes, r.output]).toEqual([[0], expect.stringContaining('bootstrap complete')]);
      expect(r.output).toMatch(/attempt 1\/10 failed: imds_tag WeebeetalkPublicIp/);
    });

    it.concurrent('SSM throttling for a while: the CLI gives up, the bootstrap retries, the boot completes', async () => {
      const box = sandbox('staging', 'chat', { faults: { ssmThrottle: 4 } });
      const r = await box.firstBoot();
      expect([r.codes, r.output]).toEqual([[0], expect.stringContaining('bootstrap complete')]);
      expect(r.output).toContain('An error occurred (ThrottlingException) when calling the GetParameter operation (reached max retries: 2): Rate exceeded');
    });

    it.concurrent('the data volume attaches late: the bootstrap waits for it, then formats it once', async () => {
      const box = sandbox('staging', 'chat', { attachAfterPolls: 3 });
      const r = await box.firstBoot();
      expect([r.codes, r.output]).toEqual([[0], expect.stringContaining('bootstrap complete')]);
      expect(box.log<Logged>('commands.jsonl').filter((c) => c.cmd === 'sleep' && c.argv[0] === '5').length).toBeGreaterThanOrEqual(3);
      expect(r.output.match(/creating ext4/g)).toHaveLength(1);
    });

    it.concurrent('public DNS late: Rocket.Chat (Traefik) starts only once the name resolves to the Elastic IP', async () => {
      const box = sandbox('staging', 'chat', { faults: { dnsDelay: 3 } });
      const r = await box.firstBoot();
      expect([r.codes, r.output]).toEqual([[0], expect.stringContaining('bootstrap complete')]);
      const waited = r.output.indexOf(`waiting for ${fqdnOf(box.plan)} to resolve to ${box.plan.world.publicIp} (DNS answers: nothing), 3/120`);
      const resolved = r.output.indexOf(`${fqdnOf(box.plan)} resolves to ${box.plan.world.publicIp}`);
      expect([waited >= 0, resolved > waited, r.output.indexOf('Rocket.Chat starting') > resolved]).toEqual([true, true, true]);
      expect(started(box).map((s) => s.start)).toContain('weebeetalk-rocketchat.service');
    });

    it.concurrent('public DNS late: no ACME client starts before the name resolves to the Elastic IP; one certificate', async () => {
      const box = sandbox('staging', 'pbx', { faults: { dnsDelay: 3 } });
      const r = await box.firstBoot();
      expect([r.codes, r.output]).toEqual([[0], expect.stringContaining('bootstrap complete')]);
      const fqdn = fqdnOf(box.plan);
      expect(r.output).toContain(`waiting for ${fqdn} to resolve to ${box.plan.world.publicIp} (DNS answers: nothing), 3/120`);
      expect(box.log('acme.jsonl')).toEqual([expect.objectContaining({ domain: fqdn, issued: true })]);
    });

    it.concurrent("a zone never delegated: chat stops before Traefik could ask Let's Encrypt, within its bound", async () => {
      const box = sandbox('staging', 'chat', { faults: { dnsDelay: -1 } });
      const r = await box.firstBoot();
      expect(r.codes[0]).not.toBe(0);
      expect(r.output).toContain(`${fqdnOf(box.plan)} does not resolve to ${box.plan.world.publicIp} after 20 minutes`);
      expect(started(box).map((s) => s.start)).not.toContain('weebeetalk-rocketchat.service');
      // Not enabled either: a reboot (or EC2's recover action) must not start Traefik without the DNS check.
      expect(box.log<Logged>('commands.jsonl').filter((c) => c.cmd === 'systemctl' && c.argv[0] === 'enable' && c.argv.includes('weebeetalk-rocketchat.service'))).toEqual([]);
      // 120 tries 10 s apart; the CloudWatch agent's unit (started first, in the background) retries its download as well.
      const commands = box.log<Logged>('commands.jsonl');
      const agentDownloads = commands.filter((c) => c.cmd === 'curl' && c.argv.some((a) => a.includes('amazoncloudwatch-agent'))).length;
      expect(r.output).toContain('(DNS answers: nothing), 120/120');
      expect(commands.filter((c) => c.cmd === 'sleep' && c.argv[0] === '10')).toHaveLength(120 + agentDownloads);
    });

    it.concurrent("a zone never delegated: pbx asks Let's Encrypt nothing and starts Asterisk without TLS", async () => {
      const box = sandbox('staging', 'pbx', { faults: { dnsDelay: -1 } });
      const r = await box.firstBoot();
      expect([r.codes, r.output]).toEqual([[0], expect.stringContaining('Asterisk starts without TLS')]);
      expect(box.log('acme.jsonl')).toEqual([]);
      expect(started(box).map((s) => s.start)).toContain('weebeetalk-asterisk.service');
      // ... and keeps asking, every 2 hours, until it has one.
      expect(box.log<Logged>('commands.jsonl').filter((c) => c.cmd === 'systemctl' && c.extra === null && c.argv.join(' ') === 'enable --now weebeetalk-pbx-certificate.timer')).toHaveLength(1);
    });

    it.concurrent('DNS delegated after the first boot: the certificate timer obtains it, configures TLS, then stops', async () => {
      // The first boot's 120 lookups fail; the timer's run, later, finds the name.
      const box = sandbox('staging', 'pbx', { faults: { dnsDelay: 125 } });
      const exec = execOf(box.plan, 'weebeetalk-pbx-certificate.service');
      const tls = '/srv/weebeetalk/asterisk/etc/pjsip.tls.conf';
      const r = await box.firstBoot(['run', `test ! -e ${tls}`], ['run', exec], ['run', `grep -q '^\\[transport-tls\\]' ${tls} && stat -c '%a %u' ${tls}`]);
      expect([r.codes, r.output]).toEqual([[0, 0, 0, 0], expect.stringContaining('640 1000\n')]);
      expect(box.log('acme.jsonl')).toEqual([expect.objectContaining({ domain: fqdnOf(box.plan), issued: true })]);
      const timer = box
        .log<Logged>('commands.jsonl')
        .filter((c) => c.cmd === 'systemctl' && c.extra === null && c.argv.includes('weebeetalk-pbx-certificate.timer'))
        .map((c) => c.argv.join(' '));
      expect(timer).toEqual(['enable --now weebeetalk-pbx-certificate.timer', 'disable --now weebeetalk-pbx-certificate.timer']);
    });

    it.concurrent('a parameter missing in SSM fails loudly and at once, naming it, before anything is written', async () => {
      const name = '/weebeetalk/staging/chat/admin-password';
      const box = sandbox('staging', 'chat', { withoutParameters: [name] });
      const r = await box.firstBoot();
      expect(r.codes[0]).not.toBe(0);
      expect(r.output).toContain(`An error occurred (ParameterNotFound) when calling the GetParameter operation: `);
      expect(r.output).toContain(`cannot read ${name} from SSM`);
      expect(box.log<{ argv?: string[] }>('aws.jsonl').filter((a) => a.argv?.includes(name))).toHaveLength(1);
      expect(existsSync(box.upper('/opt/weebeetalk/rocketchat-compose/.env'))).toBe(false);
      expect(existsSync(box.upper('/var/lib/weebeetalk/bootstrap.done'))).toBe(false);
      expect(started(box).map((s) => s.start)).not.toContain('weebeetalk-rocketchat.service');
    });

    it.concurrent("an upstream archive that is not the pinned one is refused (the plan's own manifest)", async () => {
      const box = sandbox('staging', 'chat', { keepUpstreamManifests: true });
      const r = await box.firstBoot();
      expect(r.codes[0]).not.toBe(0);
      expect(r.output).toMatch(/upstream files of https:\/\/github\.com\/RocketChat\/rocketchat-compose\/.* do not match/);
    });
  });

  describe('changes applied in place by State Manager (the association runs the document on the running host)', () => {
    // v1 and v2 of staging: a phone added, the trunk's address changed, a dial-in number listed, Rocket.Chat bumped.
    const v1 = (): Synthesized => synthVariant('in-place-v1', 'staging', { sip: { trunkSignallingCidrs: ['192.0.2.0/24'] } });
    const v2 = (): Synthesized =>
      synthVariant('in-place-v2', 'staging', {
        sip: {
          trunkSignallingCidrs: ['203.0.113.0/24'],
          users: [
            { extension: '1001', name: 'Reception' },
            { extension: '1002', name: 'Operations' },
            { extension: '1003', name: 'Night desk' },
          ],
          // A dial-in number: the meet host's invite dialog shows it (CONFCODE_URL, DIALIN_NUMBERS_URL, the web's nginx
          // include) and its dial-in mapper answers it.
          dialIn: { numbers: [{ number: '+62 21 5555 0100', country: 'id' }] },
        },
        rocketchat: { release: '8.9.2' },
      });
    const commands = (box: HostSandbox, from: number): Logged[] => box.log<Logged>('commands.jsonl').slice(from);
    /** What a session did to the services: docker, systemctl start/restart/stop, fail2ban-client. */
    const actions = (logged: Logged[]): string[] =>
      logged
        // systemctl once per call (the stand-in also records each unit it starts, with extra).
        .filter((c) => c.cmd === 'docker' || c.cmd === 'fail2ban-client' || (c.cmd === 'systemctl' && c.extra === null && /^(start|restart|stop|reload|daemon-reload)$/.test(c.argv[0] ?? '')))
        .filter((c) => !(c.cmd === 'docker' && /^(info|version|inspect|compose version)/.test(c.argv.join(' '))))
        .map((c) => `${c.cmd} ${c.argv.join(' ')}${c.cmd === 'docker' && c.argv[0] === 'compose' ? ` (in ${c.cwd})` : ''}`);
    /** The expected actions of v1 -> v2, per host: Asterisk's reloads only, compose's own minimal recreation elsewhere. */
    const EXPECTED: Partial<Record<Role, string[]>> = {
      chat: ['docker compose up --detach --remove-orphans (in /opt/weebeetalk/rocketchat-compose)'],
      // The dial-in number: the web's settings (compose recreates web), the mapper's configuration (restarted) and
      // the web's nginx include, which the container reads when it starts (restarted, after compose).
      meet: [
        'docker compose up --detach --remove-orphans (in /opt/weebeetalk/docker-jitsi-meet)',
        'systemctl restart weebeetalk-dial-in-mapper.service',
        'docker compose restart web (in /opt/weebeetalk/docker-jitsi-meet)',
      ],
      pbx: ['docker exec asterisk asterisk -rx module reload res_pjsip.so res_pjsip_endpoint_identifier_ip.so', 'docker exec asterisk asterisk -rx dialplan reload'],
    };
    const CHANGED: Partial<Record<Role, string[]>> = {
      chat: ['/etc/weebeetalk/rocketchat/settings.env'],
      // config.env: DIAL_IN_PUBLIC (the hook installs the web's include).
      meet: ['/etc/weebeetalk/config.env', '/etc/weebeetalk/jitsi/dial-in-mapper.json', '/etc/weebeetalk/jitsi/settings.env'],
      pbx: ['/etc/weebeetalk/config.env', '/srv/weebeetalk/asterisk/etc/extensions.conf', '/srv/weebeetalk/asterisk/etc/pjsip.conf'],
    };

    it.concurrent.each((['chat', 'meet', 'pbx'] as const).map((r) => [r]))(
      'staging %s: v1 then v2 reloads only what changed; same bundle again: nothing (meet: then Jibri off; pbx: rollback to v1, a tampered bundle, a wrong checksum, a phone without its password)',
      async (role) => {
        const [p1, p2] = [hostPlan(v1(), role), hostPlan(v2(), role)];
        // User-data is the same for both: the instance is not replaced.
        expect([p2.writeFiles, p2.packages, p2.script]).toEqual([p1.writeFiles, p1.packages, p1.script]);
        expect(p2.configuration.key).not.toBe(p1.configuration.key);
        // chat's and meet's v1 bundles are staging's own (the trunk is the pbx's): their first boot, copied.
        const box = role === 'pbx' ? new HostSandbox(kit, p1, { generatedSecrets: GENERATED[role] }) : (await firstBoot('staging', role)).booted.copy();
        if (role === 'pbx') {
          const boot = await box.firstBoot(box.inspecting(SECRET_FILES[role]));
          expect([boot.codes, boot.output]).toEqual([[0, 0], expect.stringContaining('bootstrap complete')]);
        } else expect((await box.session([box.inspecting(SECRET_FILES[role])])).codes).toEqual([0]);
        expect(box.plan.configuration.key).toBe(p1.configuration.key);
        const before = box.inspection();
        const firstSum = box.served.sha256;

        box.deploy(p2);
        let mark = commands(box, 0).length;
        const applied = await box.session([['run', box.served.command], box.inspecting([...SECRET_FILES[role], ...(role === 'meet' ? [DIAL_IN_INCLUDE] : [])]), ['run', `${APPLY} --status`]]);
        expect([applied.codes, applied.output]).toEqual([[0, 0, 0], expect.stringContaining(`bundle ${box.served.sha256} applied: `)]);
        const changed = [...applied.output.matchAll(/weebeetalk-apply: changed (\S+)/g)].map((m) => m[1]).sort();
        expect(changed).toEqual(CHANGED[role]);
        expect(actions(commands(box, mark))).toEqual(EXPECTED[role]);
        // Never the data: same filesystem, nothing formatted or regenerated; the pbx's new phone gets its password.
        const after = box.inspection();
        expect(applied.output).not.toMatch(/creating ext4|internal passwords generated/);
        expect(after.volume?.uuid).toBe(before.volume?.uuid);
        const sums = (i: Inspection, keep: (p: string) => boolean): string[] => i.files.filter((f) => keep(f.path)).map((f) => `${f.path} ${f.sha256}`);
        const generated = (p: string): boolean => GENERATED[role].includes(p) || p.endsWith('privkey.pem');
        expect(sums(after, generated)).toEqual(sums(before, generated));
        expect(box.log<{ issued: boolean }>('acme.jsonl').filter((a) => a.issued)).toHaveLength(role === 'pbx' ? 1 : 0);
        if (role === 'meet') {
          // v2 lists a number: the web container's include is installed where it copies CONFIG/web from, as bundled.
          const bundledInclude = p2.configuration.files.find((f) => f.path === '/etc/weebeetalk/jitsi/nginx-dial-in.conf')?.content;
          const seen = after.files.find((f) => f.path === DIAL_IN_INCLUDE);
          expect([seen?.exists, seen?.mode, seen?.owner, seen?.sha256]).toEqual([true, '644', 'root:root', sha256(bundledInclude ?? '')]);
        }
        if (role === 'pbx') {
          expect(box.log<{ name: string }>('ssm.jsonl').map((r) => r.name)).toContain('/weebeetalk/in-place-v2/pbx/sip-users/1003'.replace('in-place-v2', p2.world.env));
          expect(readFileSync(box.upper('/var/lib/wbt-standin/systemd/active/weebeetalk-asterisk.service'), 'utf8')).toBe('');
        }
        expect(applied.output).toContain(`applied: ${box.served.sha256}`);
        expect(applied.output).toContain(`previous: ${firstSum} (${APPLY} --rollback)`);

        // The same association again (State Manager re-runs, or the operator does): nothing changes, nothing reloads.
        const tree = rootTree(box);
        mark = commands(box, 0).length;
        const again = await box.session([['run', box.served.command]]);
        expect([again.codes, again.output]).toEqual([[0], expect.stringContaining(`bundle ${box.served.sha256} applied: nothing changed`)]);
        expect(actions(commands(box, mark))).toEqual([]);
        expect(Object.fromEntries(rootTree(box))).toEqual(Object.fromEntries(tree));

        // Rollback on the host (the same tool for every role: on the pbx, whose reloads say most): v1's files again,
        // with the same minimal reloads.
        if (role === 'meet') await jibriOff(box);
        if (role !== 'pbx') return;
        mark = commands(box, 0).length;
        const back = await box.session([
          ['run', `${APPLY} --rollback`],
          ['run', `${APPLY} --status`],
        ]);
        expect([back.codes, back.output]).toEqual([[0, 0], expect.stringContaining(`bundle ${firstSum} applied: `)]);
        expect([...back.output.matchAll(/weebeetalk-apply: changed (\S+)/g)].map((m) => m[1]).sort()).toEqual(CHANGED[role]);
        expect(actions(commands(box, mark))).toEqual(EXPECTED[role]);
        expect(back.output).toContain(`applied: ${firstSum}`);
        await refusals(box);
      },
    );

    /** On a pbx at v1: what the apply refuses, leaving the host as it was, or stops at before any reload. */
    async function refusals(box: HostSandbox): Promise<void> {
      // A tampered object, then an association whose checksum does not name its key: refused, nothing changed.
      const volume = (await box.session([box.inspecting()]), box.inspection().volume);
      const tree = rootTree(box);
      box.deploy(hostPlan(v2(), 'pbx'), { tampered: true });
      let mark = commands(box, 0).length;
      const wrongSum = box.served.command.replace(/--sha256 [0-9a-f]{64}/, `--sha256 ${'0'.repeat(64)}`);
      const r = await box.session([['run', box.served.command], ['run', wrongSum], box.inspecting()]);
      expect(r.codes.slice(0, 2)).toEqual([1, 1]);
      expect(r.output).toMatch(new RegExp(`refused: the bundle's checksum is [0-9a-f]{64}, not ${box.served.sha256}; nothing changed`));
      expect(r.output).toContain('refused: bundles/pbx/');
      expect(r.output).not.toContain('weebeetalk-apply: changed');
      expect(actions(commands(box, mark))).toEqual([]);
      expect(Object.fromEntries(rootTree(box))).toEqual(Object.fromEntries(tree));
      expect(box.inspection().volume).toEqual(volume);

      // A new phone whose password is not in SSM: the apply fails naming it, nothing reloads, the services wait.
      const missing = '/weebeetalk/staging/pbx/sip-users/1003';
      box.deploy(hostPlan(v2(), 'pbx'), { withoutParameters: [missing] });
      mark = commands(box, 0).length;
      const f = await box.session([
        ['run', box.served.command],
        ['run', `${APPLY} --status`],
      ]);
      expect(f.codes).toEqual([1, 0]);
      expect(f.output).toContain(`cannot read ${missing} from SSM`);
      expect(f.output).toMatch(/asterisk\.sh failed \(its files are written; services still to reload: asterisk-dialplan asterisk-pjsip settings\)/);
      expect(f.output).toContain('services still to reload (the last hook failed): asterisk-dialplan asterisk-pjsip settings');
      expect(actions(commands(box, mark))).toEqual([]);
      // Its files are on the host: it is the current bundle, and --rollback goes back to the one before it.
      expect(f.output).toContain(`applied: ${box.served.sha256}`);
      mark = commands(box, 0).length;
      const back = await box.session([['run', `${APPLY} --rollback`]]);
      expect([back.codes, back.output]).toEqual([[0], expect.stringMatching(/bundle [0-9a-f]{64} applied: /)]);
      expect(actions(commands(box, mark))).toEqual(EXPECTED.pbx);
      // The parameter appears; the association runs again: the reloads that waited happen.
      box.deploy(hostPlan(v2(), 'pbx'), { withoutParameters: [] });
      mark = commands(box, 0).length;
      const ok = await box.session([
        ['run', box.served.command],
        ['run', `${APPLY} --status`],
      ]);
      expect([ok.codes, ok.output]).toEqual([[0, 0], expect.stringContaining(`bundle ${box.served.sha256} applied: `)]);
      expect(ok.output).not.toContain('services still to reload');
      expect(actions(commands(box, mark))).toEqual(EXPECTED.pbx);
    }

    /** On a meet at v1: Jibri turned off stops and disables its recordings uploader, whose unit stays in place. */
    async function jibriOff(box: HostSandbox): Promise<void> {
      // v2's dial-in number kept: only Jibri changes.
      const v3 = synthVariant('in-place-v3', 'staging', {
        sip: { trunkSignallingCidrs: ['192.0.2.0/24'], dialIn: { numbers: [{ number: '+62 21 5555 0100', country: 'id' }] } },
        jitsi: { jibri: false },
      });
      box.deploy(hostPlan(v3, 'meet'));
      const mark = commands(box, 0).length;
      const r = await box.session([
        ['run', box.served.command],
        ['run', 'systemctl is-enabled weebeetalk-recordings-upload.timer || echo disabled'],
      ]);
      expect([r.codes, r.output]).toEqual([[0, 0], expect.stringContaining('disabled\n')]);
      expect(r.output).not.toContain('weebeetalk-apply: removed');
      expect(actions(commands(box, mark))).toEqual(['docker compose up --detach --remove-orphans (in /opt/weebeetalk/docker-jitsi-meet)']);
      expect(
        commands(box, mark)
          .filter((c) => c.cmd === 'systemctl' && c.extra === null && c.argv[0] === 'disable')
          .map((c) => c.argv.join(' ')),
      ).toEqual(['disable --now weebeetalk-recordings-upload.timer']);
    }

    it.concurrent("staging meet: an install from before the pools takes the shared XMPP passwords, Prosody's stored accounts follow once; pools turned off go back", async () => {
      // Staging without its pools, booted; then what an install from before the pools has: Prosody's accounts as
      // register-setup created them at its first start (the generated passwords), and no record of what it holds.
      const before = (): Synthesized => synthVariant('meet-before-pools', 'staging', { jitsi: { jibriPool: { enabled: false }, jvbPool: { enabled: false } } });
      // The first-boot test's meet (a copy, no boot of its own), its pools turned off: the generated passwords in .env.
      const box = (await firstBoot('staging', 'meet')).booted.copy();
      box.deploy(hostPlan(before(), 'meet'));
      const off0 = await box.session([['run', box.served.command]]);
      expect([off0.codes, off0.output]).toEqual([[0], expect.stringContaining(`bundle ${box.served.sha256} applied: `)]);
      const state = '/srv/weebeetalk/jitsi';
      const store = `${state}/config/storage/prosody/wbt-standin-accounts`;
      const accounts: [string, string][] = [
        ['JVB_AUTH_PASSWORD', 'jvb@auth.meet.jitsi'],
        ['JIBRI_XMPP_PASSWORD', 'jibri@auth.meet.jitsi'],
        ['JIBRI_RECORDER_PASSWORD', 'recorder@hidden.meet.jitsi'],
      ];
      const seed = accounts.map(([v, jid]) => `sed -n 's/^${v}=//p' ${state}/passwords.env | tr -d '\\n' > ${store}/${jid}`).join('; ');
      /** Prosody's accounts (stand-in store) and the generated passwords, as JID or variable to password. */
      const show = `cd ${store} && for f in *; do echo "account $f $(cat "$f")"; done; sed 's/^/generated /; s/=/ /' ${state}/passwords.env`;
      const read = (output: string): { accounts: Record<string, string>; generated: Record<string, string> } => ({
        accounts: Object.fromEntries([...output.matchAll(/^account (\S+) (\S+)$/gm)].map((m) => [m[1], m[2]])),
        generated: Object.fromEntries([...output.matchAll(/^generated (\S+) (\S+)$/gm)].map((m) => [m[1], m[2]])),
      });
      const seeded = await box.session([
        ['run', `install -d -m 0750 ${store} && ${seed} && rm -f ${state}/prosody-accounts.sha256`],
        ['run', show],
      ]);
      expect(seeded.codes).toEqual([0, 0]);
      const generated = read(seeded.output).generated;
      expect(read(seeded.output).accounts).toEqual(Object.fromEntries(accounts.map(([v, jid]) => [jid, generated[v]])));

      // The pools arrive: .env takes the shared passwords (once each), Prosody's accounts are set to them, this host's
      // bridge and recorder log in again.
      const pools = hostPlan(synthEnvironment('staging'), 'meet');
      const shared = (v: string): string => {
        const name = { JVB_AUTH_PASSWORD: 'jvb-auth-password', JIBRI_XMPP_PASSWORD: 'jibri-xmpp-password', JIBRI_RECORDER_PASSWORD: 'jibri-recorder-password' }[v];
        const p = pools.world.parameters.find((x) => x.name === `/weebeetalk/staging/meet/${name}`);
        if (!p) throw new Error(`no meet/${name} in the plan`);
        return p.value;
      };
      box.deploy(pools);
      let mark = commands(box, 0).length;
      const on = await box.session([
        ['run', box.served.command],
        ['run', show],
      ]);
      expect([on.codes, on.output]).toEqual([[0, 0], expect.stringContaining(`bundle ${box.served.sha256} applied: `)]);
      expect(read(on.output).accounts).toEqual(Object.fromEntries(accounts.map(([v, jid]) => [jid, shared(v)])));
      expect(read(on.output).generated).toEqual(generated);
      const env = readFileSync(box.upper('/opt/weebeetalk/docker-jitsi-meet/.env'), 'utf8');
      for (const [v] of accounts) expect(env.split('\n').filter((l) => l.startsWith(`${v}=`))).toEqual([`${v}="${shared(v)}"`]);
      const exec = (jid: string): string =>
        `docker compose exec -T prosody sh -c read -r password && exec prosodyctl --config "$0" shell "$@" "$password" /run/prosody/config/prosody.cfg.lua user password ${jid} (in /opt/weebeetalk/docker-jitsi-meet)`;
      expect(actions(commands(box, mark))).toEqual([
        'docker compose up --detach --remove-orphans (in /opt/weebeetalk/docker-jitsi-meet)',
        // WBT_XMPP_ACCOUNTS order.
        exec('jibri@auth.meet.jitsi'),
        exec('recorder@hidden.meet.jitsi'),
        exec('jvb@auth.meet.jitsi'),
        'docker compose restart jibri jvb (in /opt/weebeetalk/docker-jitsi-meet)',
      ]);
      // No password on the host's command lines.
      for (const [v] of accounts) expect(JSON.stringify(commands(box, mark))).not.toContain(shared(v));

      // Again: Prosody holds them (the record says so), nothing is asked of it.
      mark = commands(box, 0).length;
      const again = await box.session([['run', box.served.command]]);
      expect(again.codes).toEqual([0]);
      expect(actions(commands(box, mark))).toEqual([]);

      // The pools go: the generated passwords come back in .env and in Prosody.
      box.deploy(hostPlan(before(), 'meet'));
      mark = commands(box, 0).length;
      const off = await box.session([
        ['run', box.served.command],
        ['run', show],
      ]);
      expect(off.codes).toEqual([0, 0]);
      expect(read(off.output).accounts).toEqual(Object.fromEntries(accounts.map(([v, jid]) => [jid, generated[v]])));
      expect(actions(commands(box, mark)).filter((a) => a.includes('exec'))).toHaveLength(3);
    });

    it.concurrent('an association that arrives before the bootstrap completed fails, saying so, and changes nothing', async () => {
      const name = '/weebeetalk/staging/chat/admin-password';
      const box = sandbox('staging', 'chat', { withoutParameters: [name] });
      const r = await box.firstBoot(['run', box.served.command]);
      expect(r.codes).toEqual([1, 1]);
      expect(r.output).toContain('the bootstrap has not completed on this host');
    });

    it.concurrent("the host's role reads its own bundle only", async () => {
      const box = sandbox('staging', 'meet');
      const pbx = hostPlan(synthEnvironment('staging'), 'pbx').configuration;
      const r = await box.session([['run', `aws s3 cp --region ${box.plan.world.region} s3://${pbx.bucket}/${pbx.key} /tmp/pbx.json; echo "exit $?"`]]);
      expect(r.output).toContain('fatal error: An error occurred (403) when calling the HeadObject operation: Forbidden\nexit 1\n');
    });
  });

  it('growing the data volume grows its filesystem on the running host (as udev starts it) and at the next boot', async () => {
    const box = sandbox('staging', 'chat', { volumeMiB: 64 });
    // What the udev rule of the plan runs when the kernel reports a resized disk.
    const rule = box.plan.writeFiles.find((f) => f.path.startsWith('/etc/udev/rules.d/'))?.content ?? '';
    expect(rule).toMatch(/ACTION=="change", SUBSYSTEM=="block", ENV\{RESIZE\}=="1"/);
    const unitName = /systemctl --no-block start ([\w.-]+)"/.exec(rule)?.[1];
    const unit = box.plan.writeFiles.find((f) => f.path === `/etc/systemd/system/${unitName}`)?.content ?? '';
    const exec = /^ExecStart=(.*)$/m.exec(unit)?.[1] ?? '';
    expect([exec, unit]).toEqual([expect.stringMatching(/^\//), expect.stringContaining('WantedBy=multi-user.target')]);
    const boot = await box.firstBoot(['run', 'echo kept > /srv/weebeetalk/marker'], box.inspecting());
    expect(boot.codes).toEqual([0, 0, 0]);
    const before = box.inspection().volume;
    expect(before?.fsBytes).toBeLessThanOrEqual(64 * 1024 * 1024);
    expect(started(box).map((s) => s.start)).not.toContain(unitName);
    expect(box.log<Logged>('commands.jsonl').some((c) => c.cmd === 'systemctl' && c.argv.join(' ') === `enable ${unitName}`)).toBe(true);

    // On the running host: online, which needs CAP_SYS_RESOURCE (root on EC2 has it; some CI containers do not).
    const capEff = BigInt(`0x${/^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '0'}`);
    if ((capEff >> 24n) & 1n) {
      const online = await box.session([['grow', 96], ['run', exec], box.inspecting()]);
      expect(online.codes).toEqual([0, 0]);
      expect(box.inspection().volume).toEqual(expect.objectContaining({ uuid: before?.uuid, deviceBytes: 96 * 1024 * 1024, files: before?.files }));
      expect(box.inspection().volume?.fsBytes).toBeGreaterThan(95 * 1024 * 1024);
    } else {
      process.stderr.write('SKIPPED (no CAP_SYS_RESOURCE here): online growth of a mounted data volume; the next-boot growth below still runs\n');
    }

    // Grown while no instance had it (a replacement after dataVolumeGiB grew): the boot grows it before mounting.
    box.newInstance();
    const next = await box.session([['grow', 128], ['run', '/opt/wbt-standins/cloud-init-boot'], box.inspecting()]);
    expect([next.codes, next.output]).toEqual([[0, 0], expect.stringContaining('growing the filesystem')]);
    expect(box.inspection().volume).toEqual(expect.objectContaining({ uuid: before?.uuid, deviceBytes: 128 * 1024 * 1024, files: before?.files }));
    expect(box.inspection().volume?.fsBytes).toBeGreaterThan(127 * 1024 * 1024);
  });
});
