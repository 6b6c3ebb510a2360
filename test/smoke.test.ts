/**
 * End-to-end test of the post-deploy smoke check against a fake stack on 127.0.0.1 (test/support/smoke-fixture.ts):
 * no internet, ephemeral ports, a throw-away CA.
 */
import { execFile } from 'node:child_process';
import * as dgram from 'node:dgram';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DIAL_IN_MAPPER_PORT, DIAL_IN_PUBLIC_PATHS, XMPP_MUC_DOMAIN } from '../config/dial-in';
import { loadEnvironments } from '../config/files';
import { type CheckResult, type SmokeOptions, UsageError } from '../scripts/smoke/check';
import { main } from '../scripts/smoke/cli';
import { dialInExpectationOf, luhnDigit, pinProblem, type DialInExpectation } from '../scripts/smoke/dial-in';
import { isHttpsRedirectTo } from '../scripts/smoke/http';
import { endpointsFromOutputs, selectStackOutputs } from '../scripts/smoke/outputs';
import { runSmoke } from '../scripts/smoke/run';
import { buildSipOptions, parseSipResponse } from '../scripts/smoke/sip';
import { FIXTURE_NUMBERS, fixturePin, FQDNS, LOOPBACK, ROCKET_CHAT_VERSION, type SmokeFixture, startSmokeFixture, TURN_RELAY, TURN_SECRET, WRONG_NAME } from './support/smoke-fixture';

/** What the fixture's environment would say about dial-in (Jigasi on, two numbers). */
const DIAL_IN: DialInExpectation = { numbers: FIXTURE_NUMBERS, mapperAddress: '10.20.0.11', securityGroup: 'weebeetalk-smoketest-meet' };

let fx: SmokeFixture;

beforeAll(async () => {
  fx = await startSmokeFixture();
});

afterAll(async () => {
  await fx?.close();
});

/** Options aimed at the fixture; each test overrides what it breaks. */
function fixtureOptions(overrides: Partial<SmokeOptions> = {}): SmokeOptions {
  return {
    env: fx.env,
    outputsFile: fx.outputsFile,
    resolver: `${LOOPBACK}:${fx.dnsPort}`,
    caFile: fx.pki.caFile,
    httpsPort: fx.httpsPort,
    httpPort: fx.httpPort,
    sipPort: fx.sip.port,
    sipsPort: fx.sipsPort,
    turnPort: fx.turn.port,
    turnSecret: TURN_SECRET,
    dialIn: DIAL_IN,
    dialInPort: fx.dialInClosedPort,
    timeoutMs: 2000,
    ...overrides,
  };
}

function row(results: CheckResult[], check: string, component: string): CheckResult {
  const found = results.find((r) => r.check === check && r.component === component);
  if (!found) throw new Error(`no result for ${check}:${component}`);
  return found;
}

function captureIo(): { out: string[]; err: string[]; io: { out(t: string): void; err(t: string): void } } {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (t) => void out.push(t), err: (t) => void err.push(t) } };
}

describe('smoke check against a healthy fake stack', () => {
  test('every check passes and the exit code is 0', async () => {
    const report = await runSmoke(fixtureOptions());
    const summary = report.results.map((r) => `${r.check}:${r.component}=${r.status} ${r.detail}`);
    expect(report.results.filter((r) => r.status !== 'PASS')).toEqual([]);
    expect(report.exitCode).toBe(0);
    expect(report.results.map((r) => `${r.check}:${r.component}`)).toEqual([
      'dns:chat',
      'dns:meet',
      'dns:pbx',
      'dns:turn',
      'https:chat',
      'https:meet',
      'http-redirect:chat',
      'http-redirect:meet',
      'meet-dial-in:meet',
      'meet-dial-in-closed:meet',
      'sip:pbx',
      'sip-tls:pbx',
      'turn-tls:turn',
      'turn-allocate:turn',
    ]);
    expect(row(report.results, 'https', 'chat').detail).toMatch(new RegExp(`Rocket\\.Chat ${ROCKET_CHAT_VERSION}.*expires in (29|30) days`));
    expect(row(report.results, 'https', 'meet').detail).toContain('Jitsi Meet');
    expect(row(report.results, 'http-redirect', 'chat').detail).toContain(`-> https://${FQDNS.chat}/`);
    expect(row(report.results, 'sip', 'pbx').detail).toMatch(/^SIP\/2\.0 200 OK .*Asterisk/);
    expect(row(report.results, 'sip-tls', 'pbx').detail).toMatch(/TLSv1\.[23] handshake OK; cert OK for pbx\.example\.test/);
    expect(row(report.results, 'turn-tls', 'turn').detail).toMatch(/^TLSv1\.[23] handshake OK; cert OK for turn\.example\.test/);
    expect(row(report.results, 'turn-allocate', 'turn').detail).toContain(`relayed address ${TURN_RELAY.address}:${TURN_RELAY.port}/udp`);
    expect(row(report.results, 'meet-dial-in', 'meet').detail).toMatch(
      /^PIN \d{9} for weebeetalk-smoke-[0-9a-f]{8}@muc\.meet\.jitsi \(Luhn OK\); numbers \+62 21 5555 0100 \(id\), 800 555 0100 \(sg, toll-free\); cert OK for meet\.example\.test/,
    );
    expect(row(report.results, 'meet-dial-in-closed', 'meet').detail).toMatch(
      /^tcp\/\d+ on 127\.0\.0\.1: refused \(ECONNREFUSED.*\); GET \/room\?pin=123456789 -> Jitsi's page; GET \/weebeetalk\/dial-in\/room -> HTTP 200, not the mapper$/,
    );
    expect(summary.length).toBe(14);
  });

  test('the SIP OPTIONS request is well-formed RFC 3261', () => {
    const request = fx.sip.requests.at(-1) ?? '';
    const lines = request.split('\r\n');
    expect(lines[0]).toBe(`OPTIONS sip:${FQDNS.pbx}:${fx.sip.port} SIP/2.0`);
    expect(request).toMatch(/\r\nVia: SIP\/2\.0\/UDP 127\.0\.0\.1:\d+;branch=z9hG4bK[0-9a-f]+;rport\r\n/);
    expect(request).toMatch(/\r\nFrom: .*<sip:[^>]+>;tag=[0-9a-f]+\r\n/);
    expect(request).toContain(`\r\nTo: <sip:${FQDNS.pbx}:${fx.sip.port}>\r\n`);
    expect(request).toMatch(/\r\nCall-ID: \S+\r\n/);
    expect(request).toContain('\r\nCSeq: 1 OPTIONS\r\n');
    expect(request).toContain('\r\nMax-Forwards: 70\r\n');
    expect(request).toMatch(/\r\nContact: <sip:smoke@127\.0\.0\.1:\d+>\r\n/);
    expect(request.endsWith('\r\nContent-Length: 0\r\n\r\n')).toBe(true);
  });

  test('the CLI prints JSON and reads camelCase, construct-nested outputs', async () => {
    // cdktf may camelCase keys and nests outputs of nested constructs by construct id.
    const file = join(fx.pki.dir, 'outputs-camel.json');
    writeFileSync(
      file,
      JSON.stringify({
        [fx.env]: {
          chatFqdn: FQDNS.chat,
          chatPublicIp: LOOPBACK,
          meet: { fqdn: FQDNS.meet, publicIp: LOOPBACK },
          pbx_fqdn_1A2B3C4D: FQDNS.pbx,
          pbxPublicIP: LOOPBACK,
        },
      }),
    );
    const { out, io } = captureIo();
    const argv = [
      fx.env,
      '--outputs',
      file,
      '--json',
      '--resolver',
      `${LOOPBACK}:${fx.dnsPort}`,
      '--ca',
      fx.pki.caFile,
      '--https-port',
      String(fx.httpsPort),
      '--http-port',
      String(fx.httpPort),
      '--sip-port',
      String(fx.sip.port),
      '--sips-port',
      String(fx.sipsPort),
      '--timeout',
      '2000',
      '--skip',
      'http-redirect,https:meet',
    ];
    const code = await main(argv, { ...io, env: {} });
    const parsed = JSON.parse(out.join('')) as { exitCode: number; results: CheckResult[] };
    expect(parsed.results.filter((r) => r.status === 'FAIL')).toEqual([]);
    expect(code).toBe(0);
    // The three skipped on the command line, and the turn host's checks: these outputs have no TURN relay.
    expect(parsed.results.filter((r) => r.status === 'SKIP').map((r) => `${r.check}:${r.component}`)).toEqual([
      'dns:turn',
      'https:meet',
      'http-redirect:chat',
      'http-redirect:meet',
      'meet-dial-in:meet',
      'meet-dial-in-closed:meet',
      'turn-tls:turn',
      'turn-allocate:turn',
    ]);
    expect(row(parsed.results, 'https', 'meet').status).toBe('SKIP');
    // No environment file for "smoketest": nothing tells whether Jigasi is on.
    expect(row(parsed.results, 'meet-dial-in', 'meet').detail).toBe(
      'no environment file for "smoketest" here (config/environments): cannot tell whether jitsi.jigasi is on, nor which sip.dialIn.numbers the invite shows',
    );
  });

  test('the table has one row per check and a summary', async () => {
    const { out, io } = captureIo();
    const code = await main(
      [fx.env, '--outputs', fx.outputsFile, '--resolver', `${LOOPBACK}:${fx.dnsPort}`, '--skip', 'https,http-redirect,meet-dial-in,meet-dial-in-closed,sip,sip-tls,turn-tls,turn-allocate'],
      {
        ...io,
        env: {},
      },
    );
    const text = out.join('');
    expect(code).toBe(0);
    expect(text).toMatch(/^CHECK +TARGET +RESULT +DETAIL\n/);
    expect(text).toMatch(/\ndns +chat\.example\.test +PASS +A 127\.0\.0\.1 via 127\.0\.0\.1:\d+\n/);
    expect(text).toMatch(/\ndns +turn\.example\.test +PASS +A 127\.0\.0\.1 via 127\.0\.0\.1:\d+\n/);
    expect(text).toMatch(/\nturn-allocate +turn\.example\.test @ 127\.0\.0\.1:443 +SKIP +skipped \(--skip\)\n/);
    expect(text).toContain('4 passed, 0 failed, 10 skipped (smoketest): OK');
  });
});

describe('smoke check failures', () => {
  test('a certificate for another name fails HTTPS and names both names', async () => {
    const report = await runSmoke(fixtureOptions({ httpsPort: fx.wrongHttpsPort, skip: ['dns', 'sip', 'sip-tls'] }));
    const chat = row(report.results, 'https', 'chat');
    expect(chat.status).toBe('FAIL');
    expect(chat.detail).toContain(`certificate is not valid for ${FQDNS.chat}`);
    expect(chat.detail).toContain(`DNS:${WRONG_NAME}`);
    expect(row(report.results, 'https', 'meet').detail).toContain(`not valid for ${FQDNS.meet}`);
    expect(row(report.results, 'http-redirect', 'chat').status).toBe('PASS');
    expect(report.exitCode).toBe(1);
  });

  test('a certificate from an untrusted CA fails HTTPS', async () => {
    // Without --ca the default store applies, which does not know the test CA.
    const report = await runSmoke(fixtureOptions({ caFile: undefined, skip: ['dns', 'http-redirect', 'sip', 'sip-tls', 'https:meet'] }));
    expect(row(report.results, 'https', 'chat').detail).toMatch(/^untrusted: .*\[UNABLE_TO_(VERIFY_LEAF_SIGNATURE|GET_ISSUER_CERT_LOCALLY)\]/);
    expect(report.exitCode).toBe(1);
  });

  test('a silent SIP server fails the SIP check and says SIP is limited to allowed CIDRs', async () => {
    const before = fx.silentSip.requests.length;
    const report = await runSmoke(fixtureOptions({ sipPort: fx.silentSip.port, timeoutMs: 700, skip: ['dns', 'https', 'http-redirect', 'sip-tls'] }));
    const sip = row(report.results, 'sip', 'pbx');
    expect(sip.status).toBe('FAIL');
    // Normally 2 sent (a retransmission after 500 ms, RFC 3261 timer E); a loaded machine may lag.
    expect(sip.detail).toMatch(/^timed out after 700 ms while waiting for a SIP response \([12] OPTIONS sent/);
    expect(sip.detail).toContain('NOT open to the world');
    expect(sip.detail).toContain('--skip sip');
    expect(fx.silentSip.requests.length - before).toBeGreaterThanOrEqual(1);
    expect(report.exitCode).toBe(1);
  });

  test('a closed SIP port fails fast on ICMP port unreachable', async () => {
    const probe = dgram.createSocket('udp4');
    const closedPort = await new Promise<number>((resolve) => probe.bind(0, LOOPBACK, () => resolve(probe.address().port)));
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const report = await runSmoke(fixtureOptions({ sipPort: closedPort, skip: ['dns', 'https', 'http-redirect', 'sip-tls'] }));
    const sip = row(report.results, 'sip', 'pbx');
    expect(sip.detail).toContain('ICMP port unreachable');
    expect(sip.durationMs).toBeLessThan(1000);
  });

  test('DNS pointing elsewhere than the Elastic IP fails DNS', async () => {
    const report = await runSmoke(
      fixtureOptions({
        outputsFile: undefined,
        outputs: { chat_fqdn: FQDNS.chat, chat_public_ip: '192.0.2.10', meet_fqdn: 'nope.example.test', meet_public_ip: LOOPBACK },
        skip: ['https', 'http-redirect', 'sip', 'sip-tls'],
      }),
    );
    expect(row(report.results, 'dns', 'chat').detail).toMatch(/^A 127\.0\.0\.1, expected 192\.0\.2\.10 \(Elastic IP\)/);
    expect(row(report.results, 'dns', 'meet').detail).toMatch(/^NXDOMAIN/);
    expect(row(report.results, 'dns', 'pbx').detail).toBe('stack output pbx_fqdn and pbx_public_ip missing');
    // No TURN relay in these outputs: its check is skipped, not failed (pbx above still fails).
    expect(row(report.results, 'dns', 'turn').status).toBe('SKIP');
    expect(report.exitCode).toBe(1);
  });

  test('usage errors exit 2 without checking anything', async () => {
    const cases: string[][] = [
      ['--bogus'],
      ['a', 'b'],
      ['--skip', 'nope', '--outputs', fx.outputsFile],
      ['--timeout', 'soon'],
      ['--outputs', join(fx.pki.dir, 'missing.json')],
      ['--outputs', fx.outputsFile, 'no-such-env'],
      ['--resolver', 'dns.google', '--outputs', fx.outputsFile],
      ['--skip', 'turn-allocate:nope', '--outputs', fx.outputsFile],
      ['--turn-port', '70000', '--outputs', fx.outputsFile],
      ['--turn-secret-parameter=-x', '--outputs', fx.outputsFile],
    ];
    for (const argv of cases) {
      const { err, io } = captureIo();
      expect(await main(argv, io)).toBe(2);
      expect(err.join('')).toMatch(/^smoke: .+\nRun with --help for usage\.\n$/);
    }
  });
});

describe('dial-in checks (meet-dial-in, meet-dial-in-closed)', () => {
  const OTHERS = ['dns', 'https', 'http-redirect', 'sip', 'sip-tls', 'turn-tls', 'turn-allocate'];
  const dialIn = async (overrides: Partial<SmokeOptions> = {}): Promise<{ code: CheckResult; closed: CheckResult }> => {
    const report = await runSmoke(fixtureOptions({ skip: OTHERS, ...overrides }));
    return { code: row(report.results, 'meet-dial-in', 'meet'), closed: row(report.results, 'meet-dial-in-closed', 'meet') };
  };
  afterEach(() => fx.resetDialIn());

  test('no numbers configured: an empty list passes and says the invite shows no dial-in; so does no forward at all, as the meet host has it then', async () => {
    fx.dialIn.numbers = [];
    const noNumbers = { dialIn: { ...DIAL_IN, numbers: [] } };
    const { code } = await dialIn(noNumbers);
    expect(code.status).toBe('PASS');
    expect(code.detail).toMatch(/^PIN \d{9} for .*; no numbers \(sip\.dialIn\.numbers is empty: the invite shows no dial-in\); cert OK/);
    // The web container forwards the two paths only with numbers to show (userdata/meet/dial-in.ts, dialInPublic).
    fx.dialIn.conferenceCode = 'page';
    fx.dialIn.numbers = 404;
    expect((await dialIn(noNumbers)).code).toMatchObject({
      status: 'PASS',
      detail: expect.stringMatching(/^no numbers \(sip\.dialIn\.numbers is empty: the invite shows no dial-in\); the web container forwards no PIN question \(HTTP 200 text\/html\); cert OK/),
    });
    fx.dialIn.conferenceCode = 404;
    expect((await dialIn(noNumbers)).code.status).toBe('PASS');
    // Half a forward is a stale bundle.
    fx.dialIn.numbers = FIXTURE_NUMBERS;
    expect((await dialIn(noNumbers)).code).toMatchObject({ status: 'FAIL', detail: expect.stringContaining('is not forwarded (HTTP 404) and sip.dialIn.numbers is empty') });
    // With numbers configured, no forward is a failure (above: 404 and Jitsi's page).
  });

  test("the mapper down (502) and no forward (404, or Jitsi's page) each say what to look at", async () => {
    fx.dialIn.conferenceCode = 502;
    expect((await dialIn()).code).toMatchObject({
      status: 'FAIL',
      detail: expect.stringContaining(
        `-> HTTP 502: the web container cannot reach the mapper on 10.20.0.11:${DIAL_IN_MAPPER_PORT}: is weebeetalk-dial-in-mapper running on the meet host (systemctl status weebeetalk-dial-in-mapper)?`,
      ),
    });
    fx.dialIn.conferenceCode = 404;
    const missing = (await dialIn()).code;
    expect(missing.status).toBe('FAIL');
    expect(missing.detail).toMatch(
      new RegExp(
        `^GET ${DIAL_IN_PUBLIC_PATHS.conferenceCode}\\?conference=weebeetalk-smoke-[0-9a-f]{8}@${XMPP_MUC_DOMAIN} -> HTTP 404: the web container has no dial-in forward: was the bundle applied`,
      ),
    );
    expect(missing.detail).toContain('and the web container restarted?');
    fx.dialIn.conferenceCode = 'page';
    expect((await dialIn()).code.detail).toContain("-> HTTP 200 text/html, not the mapper's JSON: the web container has no dial-in forward");
    fx.resetDialIn();
    fx.dialIn.numbers = 502;
    expect((await dialIn()).code.detail).toMatch(new RegExp(`^GET ${DIAL_IN_PUBLIC_PATHS.numbers} -> HTTP 502: the web container cannot reach the mapper on 10\\.20\\.0\\.11:`));
  });

  test('a wrong id or an answer for another room fails', async () => {
    fx.dialIn.conferenceCode = 'bad-luhn';
    expect((await dialIn()).code).toMatchObject({
      status: 'FAIL',
      detail: expect.stringMatching(/: "id" \d{9} does not end in the Luhn check digit of its first 8 \(\d\): the pbx would refuse that PIN as mistyped$/),
    });
    fx.dialIn.conferenceCode = 'short-id';
    expect((await dialIn()).code).toMatchObject({ status: 'FAIL', detail: expect.stringMatching(/: "id" \d{8} is not a 9-digit number$/) });
    fx.dialIn.conferenceCode = 'other-room';
    expect((await dialIn()).code).toMatchObject({
      status: 'FAIL',
      detail: expect.stringMatching(/: "conference" is "someone-else@muc\.meet\.jitsi", expected the room asked for, weebeetalk-smoke-[0-9a-f]{8}@muc\.meet\.jitsi$/),
    });
  });

  test('numbers other than the configured ones fail, naming both lists', async () => {
    const { code } = await dialIn({ dialIn: { ...DIAL_IN, numbers: [FIXTURE_NUMBERS[0]] } });
    expect(code.status).toBe('FAIL');
    expect(code.detail).toBe(
      `GET ${DIAL_IN_PUBLIC_PATHS.numbers} -> +62 21 5555 0100 (id), 800 555 0100 (sg, toll-free), expected sip.dialIn.numbers: +62 21 5555 0100 (id): is the meet host's bundle current (the meet_apply_again output)?`,
    );
    fx.dialIn.numbers = [];
    expect((await dialIn()).code.detail).toContain(' -> none, expected sip.dialIn.numbers: +62 21 5555 0100 (id), 800 555 0100 (sg, toll-free)');
  });

  test("the mapper's port open to the world fails, naming the security group", async () => {
    const { code, closed } = await dialIn({ dialInPort: fx.dialInOpenPort });
    expect(code.status).toBe('PASS');
    expect(closed.status).toBe('FAIL');
    expect(closed.target).toBe(`${FQDNS.meet} @ 127.0.0.1:${fx.dialInOpenPort}`);
    expect(closed.detail).toBe(
      `tcp/${fx.dialInOpenPort} on 127.0.0.1 accepted a connection from here: the conference mapper's port must admit only the pbx host's security group: check the inbound rules of weebeetalk-smoketest-meet (npm run audit -- --env smoketest)`,
    );
  });

  test("HTTPS refused fails the closed check as HTTPS's failure, not as the mapper's port refusing", async () => {
    const { closed } = await dialIn({ httpsPort: fx.dialInClosedPort });
    expect(closed).toMatchObject({
      status: 'FAIL',
      detail: `GET https://${FQDNS.meet}/room?pin=123456789 (127.0.0.1:${fx.dialInClosedPort}): connection refused (ECONNREFUSED): nothing listening, or the service is down`,
    });
  });

  test('/room reaching the mapper fails: forwarded (forbidden), answered, or below a forwarded prefix', async () => {
    const forwardedTo = `: the web container forwards the mapper's /room (which tells a PIN's meeting) to the world: it may forward only ${DIAL_IN_PUBLIC_PATHS.conferenceCode} and ${DIAL_IN_PUBLIC_PATHS.numbers}`;
    fx.dialIn.room = 'forwarded';
    expect((await dialIn()).closed).toMatchObject({
      status: 'FAIL',
      detail: `GET https://${FQDNS.meet}/room?pin=123456789 answered "forbidden" (HTTP 403 text/plain), the mapper's answer${forwardedTo}`,
    });
    fx.dialIn.room = 'answered';
    expect((await dialIn()).closed.detail).toBe(`GET https://${FQDNS.meet}/room?pin=123456789 answered "invalid" (HTTP 200 text/plain), the mapper's answer${forwardedTo}`);
    fx.resetDialIn();
    fx.dialIn.prefixForwarded = true;
    expect((await dialIn()).closed.detail).toBe(`GET https://${FQDNS.meet}/weebeetalk/dial-in/room?pin=123456789 answered "forbidden" (HTTP 403 text/plain), the mapper's answer${forwardedTo}`);
  });

  test('Jigasi off, or no environment file to tell: both skipped with the reason', async () => {
    const off = await dialIn({ dialIn: false });
    for (const r of [off.code, off.closed]) expect(r).toMatchObject({ status: 'SKIP', detail: 'jitsi.jigasi is off in this environment: no dial-in, no conference mapper on the meet host' });
    const unknown = await dialIn({ dialIn: undefined });
    for (const r of [unknown.code, unknown.closed]) expect(r).toMatchObject({ status: 'SKIP', detail: expect.stringMatching(/^no environment file for "smoketest" here/) });
  });

  test("an environment's file decides: staging (Jigasi on, no numbers) runs both against its planned mapper address", async () => {
    const outputs = JSON.parse(readFileSync(fx.outputsFile, 'utf8')) as Record<string, unknown>;
    const staging = fixtureOptions({ env: 'staging', outputsFile: undefined, outputs: outputs[fx.env], dialIn: undefined, skip: OTHERS });
    fx.dialIn.numbers = [];
    const healthy = await runSmoke(staging);
    expect(healthy.results.filter((r) => r.status !== 'SKIP').map((r) => `${r.check}=${r.status}`)).toEqual(['meet-dial-in=PASS', 'meet-dial-in-closed=PASS']);
    fx.dialIn.conferenceCode = 502;
    const report = await runSmoke(staging);
    expect(row(report.results, 'meet-dial-in', 'meet').detail).toContain(`the web container cannot reach the mapper on 10.21.0.11:${DIAL_IN_MAPPER_PORT}:`);
    const byName = Object.fromEntries(loadEnvironments().map((e) => [e.config.name, e.config]));
    expect(await dialInExpectationOf(byName.production)).toEqual({
      numbers: [{ countryCode: 'id', tollFree: false, formattedNumber: '+62 21 5555 0100' }],
      mapperAddress: '10.20.0.11',
      securityGroup: 'weebeetalk-production-meet',
    });
    expect(await dialInExpectationOf({ ...byName.production, jitsi: { ...byName.production.jitsi, jigasi: false } })).toBeUndefined();
  });

  test('PINs: the Luhn digit, the fixture PINs pass, a changed digit does not', () => {
    expect(luhnDigit('7992739871')).toBe(3); // the textbook example, 79927398713
    const pin = fixturePin(`room@${XMPP_MUC_DOMAIN}`);
    expect(pinProblem(Number(pin))).toBeUndefined();
    expect(pinProblem(Number(`${pin.slice(0, 3)}${(Number(pin[3]) + 1) % 10}${pin.slice(4)}`))).toContain('Luhn');
    expect(pinProblem(String(pin))).toContain('is not a 9-digit number');
    expect(pinProblem(12345678.5)).toContain('is not a 9-digit number');
  });
});

describe('smoke helpers', () => {
  test('outputs: flat, per-env, terraform-style and ambiguous shapes', () => {
    expect(selectStackOutputs({ chat_fqdn: 'c' }, 'prod')).toEqual({ chat_fqdn: 'c' });
    expect(selectStackOutputs({ prod: { chat_fqdn: 'c' }, dev: {} }, 'prod')).toEqual({ chat_fqdn: 'c' });
    expect(selectStackOutputs({ only: { chat_fqdn: 'c' } }, undefined)).toEqual({ chat_fqdn: 'c' });
    expect(() => selectStackOutputs({ a: {}, b: {} }, undefined)).toThrow(UsageError);
    const endpoints = endpointsFromOutputs({
      chat_fqdn: { value: 'Chat.Example.org.', type: 'string', sensitive: false },
      chat_public_ip: '198.51.100.1',
      meet_url: 'https://meet.example.org:8443/',
      meet_fqdn: 'meet.example.org',
    });
    expect(endpoints.chat).toEqual({ fqdn: 'chat.example.org', ip: '198.51.100.1', urlPort: undefined });
    expect(endpoints.meet.urlPort).toBe(8443);
    expect(endpoints.pbx).toEqual({ fqdn: undefined, ip: undefined, urlPort: undefined });
    expect(endpoints.turn).toEqual({ fqdn: undefined, ip: undefined, urlPort: undefined });
  });

  test('redirect targets must be exactly the FQDN over https', () => {
    expect(isHttpsRedirectTo('https://chat.example.org/', 'chat.example.org')).toBe(true);
    expect(isHttpsRedirectTo('https://chat.example.org', 'chat.example.org')).toBe(true);
    expect(isHttpsRedirectTo('https://chat.example.org:8443/x', 'chat.example.org')).toBe(true);
    expect(isHttpsRedirectTo('https://chat.example.org.evil.net/', 'chat.example.org')).toBe(false);
    expect(isHttpsRedirectTo('http://chat.example.org/', 'chat.example.org')).toBe(false);
  });

  test('SIP request and response round trip', () => {
    const text = buildSipOptions({ targetHost: 'pbx.example.org', targetPort: 5060, localAddress: '::1', localPort: 4000, branch: 'z9hG4bKx', tag: 't', callId: 'c@h' });
    expect(text.split('\r\n').slice(0, 2)).toEqual(['OPTIONS sip:pbx.example.org SIP/2.0', 'Via: SIP/2.0/UDP [::1]:4000;branch=z9hG4bKx;rport']);
    const res = parseSipResponse('SIP/2.0 401 Unauthorized\r\ni: c@h\r\nServer: Asterisk\r\n\r\n');
    expect(res?.code).toBe(401);
    expect(res?.headers.get('call-id')).toBe('c@h');
    expect(parseSipResponse('HTTP/1.1 200 OK\r\n\r\n')).toBeUndefined();
  });
});

describe('smoke CLI process', () => {
  test('--help prints the usage and exits 0', async () => {
    const root = join(__dirname, '..');
    const result = await new Promise<{ code: number; stdout: string }>((resolve) => {
      execFile(process.execPath, ['--import', 'tsx', 'scripts/smoke.ts', '--help'], { cwd: root, timeout: 10_000 }, (error, stdout) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout }));
    });
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Usage: npm run smoke -- <env> \[options\]/);
    expect(result.stdout).toContain('SIP IS NOT OPEN TO THE WORLD');
    for (const option of ['--outputs', '--resolver', '--timeout', '--skip', '--json', '--ca', '--https-port', '--http-port', '--sip-port', '--sips-port', '--turn-port', '--turn-secret-parameter']) {
      expect(result.stdout).toContain(option);
    }
    for (const text of ['turn-tls', 'turn-allocate', 'WBT_TURN_SECRET', '/turn/static-auth-secret']) expect(result.stdout).toContain(text);
  });
});
