/**
 * The smoke check of the TURN relay (scripts/smoke/turn.ts): STUN encoding against RFC 5769's test vectors, the
 * time-limited credentials as Prosody and coturn compute them, and turn-tls/turn-allocate end to end against the
 * fake TURN-over-TLS relay of test/support/smoke-fixture.ts (loopback only, a throw-away CA).
 */
import { execFileSync } from 'node:child_process';
import { createHash, createHmac } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import * as tls from 'node:tls';
import { type CheckResult, COMPONENTS, type SmokeOptions } from '../scripts/smoke/check';
import { main } from '../scripts/smoke/cli';
import { parseSkip, runSmoke } from '../scripts/smoke/run';
import {
  decodeStun,
  decodeXorAddress,
  encodeStun,
  fingerprint,
  longTermKey,
  messageIntegrity,
  readSsmParameter,
  saslPrep,
  STUN_ATTR,
  StunFramer,
  turnCredentials,
  verifyFingerprint,
  verifyIntegrity,
} from '../scripts/smoke/turn';
import { FQDNS, LOOPBACK, type SmokeFixture, startSmokeFixture, startTurnResponder, TURN_REALM, TURN_RELAY, TURN_SECRET, type TurnResponder } from './support/smoke-fixture';

const hex = (text: string): Buffer => Buffer.from(text.replace(/\s+/g, ''), 'hex');

/** RFC 5769 §2.1 "Sample Request" (short-term credentials, password "VOkJxbRl1RmTxUk/WvJxBt"; padding is spaces). */
const SAMPLE_REQUEST = hex(`
  00 01 00 58 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
  80 22 00 10 53 54 55 4e 20 74 65 73 74 20 63 6c 69 65 6e 74
  00 24 00 04 6e 00 01 ff
  80 29 00 08 93 2f f9 b1 51 26 3b 36
  00 06 00 09 65 76 74 6a 3a 68 36 76 59 20 20 20
  00 08 00 14 9a ea a7 0c bf d8 cb 56 78 1e f2 b5 b2 d3 f2 49 c1 b5 71 a2
  80 28 00 04 e5 7a 3b cf`);
const SHORT_TERM_PASSWORD = 'VOkJxbRl1RmTxUk/WvJxBt';

/** RFC 5769 §2.2 "Sample IPv4 Response" and §2.3 "Sample IPv6 Response" (same transaction, same password). */
const SAMPLE_IPV4_RESPONSE = hex(`
  01 01 00 3c 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
  80 22 00 0b 74 65 73 74 20 76 65 63 74 6f 72 20
  00 20 00 08 00 01 a1 47 e1 12 a6 43
  00 08 00 14 2b 91 f5 99 fd 9e 90 c3 8c 74 89 f9 2a f9 ba 53 f0 6b e7 d7
  80 28 00 04 c0 7d 4c 96`);
const SAMPLE_IPV6_RESPONSE = hex(`
  01 01 00 48 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
  80 22 00 0b 74 65 73 74 20 76 65 63 74 6f 72 20
  00 20 00 14 00 02 a1 47 01 13 a9 fa a5 d3 f1 79 bc 25 f4 b5 be d2 b9 d9
  00 08 00 14 a3 82 95 4e 4b e6 7b f1 17 84 c9 7c 82 92 c2 75 bf e3 ed 41
  80 28 00 04 c8 fb 0b 4c`);

/** RFC 5769 §2.4 "Sample Request with Long-Term Authentication". */
const LONG_TERM_REQUEST = hex(`
  00 01 00 60 21 12 a4 42 78 ad 34 33 c6 ad 72 c0 29 da 41 2e
  00 06 00 12 e3 83 9e e3 83 88 e3 83 aa e3 83 83 e3 82 af e3 82 b9 00 00
  00 15 00 1c 66 2f 2f 34 39 39 6b 39 35 34 64 36 4f 4c 33 34 6f 4c 39 46 53 54 76 79 36 34 73 41
  00 14 00 0b 65 78 61 6d 70 6c 65 2e 6f 72 67 00
  00 08 00 14 f6 70 24 65 6d d6 4a 3e 02 b8 e0 71 2e 85 c9 a2 8c a8 96 66`);
const LONG_TERM = { username: '\u30de\u30c8\u30ea\u30c3\u30af\u30b9', password: 'The\u00adM\u00aatr\u2168', nonce: 'f//499k954d6OL34oL9FSTvy64sA', realm: 'example.org' };

const NON_TURN_CHECKS = ['dns', 'https', 'http-redirect', 'sip', 'sip-tls'];

let fx: SmokeFixture;
let scratch: string;

beforeAll(async () => {
  fx = await startSmokeFixture();
  scratch = mkdtempSync(join(tmpdir(), 'smoke-turn-'));
});

afterAll(async () => {
  await fx?.close();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

/** Only the turn host's two checks, against the fixture's relay, with its secret unless overridden. */
function turnOptions(overrides: Partial<SmokeOptions> = {}): SmokeOptions {
  return {
    env: fx.env,
    outputsFile: fx.outputsFile,
    caFile: fx.pki.caFile,
    turnPort: fx.turn.port,
    turnSecret: TURN_SECRET,
    timeoutMs: 2000,
    skip: NON_TURN_CHECKS,
    ...overrides,
  };
}

function row(results: CheckResult[], check: string, component = 'turn'): CheckResult {
  const found = results.find((r) => r.check === check && r.component === component);
  if (!found) throw new Error(`no result for ${check}:${component}`);
  return found;
}

/** The requests a relay received while `run` ran. */
async function requestsDuring<T>(relay: TurnResponder, run: () => Promise<T>): Promise<{ result: T; requests: TurnResponder['requests'] }> {
  const before = relay.requests.length;
  const result = await run();
  return { result, requests: relay.requests.slice(before) };
}

describe('STUN encoding against RFC 5769', () => {
  test('§2.1 sample request: MESSAGE-INTEGRITY (HMAC-SHA1, length adjusted) and FINGERPRINT', () => {
    const message = decodeStun(SAMPLE_REQUEST);
    const mi = message.attributes.findIndex((a) => a.type === STUN_ATTR.MESSAGE_INTEGRITY);
    const fp = message.attributes.findIndex((a) => a.type === STUN_ATTR.FINGERPRINT);
    const key = Buffer.from(saslPrep(SHORT_TERM_PASSWORD), 'utf8'); // short-term: the key is the password
    expect(messageIntegrity(SAMPLE_REQUEST.subarray(0, message.offsets[mi]), key).toString('hex')).toBe('9aeaa70cbfd8cb56781ef2b5b2d3f249c1b571a2');
    expect(fingerprint(SAMPLE_REQUEST.subarray(0, message.offsets[fp])).toString(16)).toBe('e57a3bcf');
    expect(verifyIntegrity(message, key)).toBe(true);
    expect(verifyFingerprint(message)).toBe(true);
    expect(verifyIntegrity(message, Buffer.from('wrong password'))).toBe(false);
    // coturn's negative test: one byte of the transaction ID changed.
    const tampered = Buffer.from(SAMPLE_REQUEST);
    tampered[27] = 23;
    expect(verifyFingerprint(decodeStun(tampered))).toBe(false);
    expect(verifyIntegrity(decodeStun(tampered), key)).toBe(false);
  });

  test('§2.2 and §2.3 sample responses: XOR-MAPPED-ADDRESS, integrity and fingerprint', () => {
    const key = Buffer.from(SHORT_TERM_PASSWORD);
    const v4 = decodeStun(SAMPLE_IPV4_RESPONSE);
    const v6 = decodeStun(SAMPLE_IPV6_RESPONSE);
    expect([verifyIntegrity(v4, key), verifyFingerprint(v4), verifyIntegrity(v6, key), verifyFingerprint(v6)]).toEqual([true, true, true, true]);
    const mapped = (m: typeof v4) => decodeXorAddress(m.attributes.find((a) => a.type === STUN_ATTR.XOR_MAPPED_ADDRESS)?.value ?? Buffer.alloc(0), m.transactionId);
    expect(mapped(v4)).toEqual({ family: 4, address: '192.0.2.1', port: 32853 });
    expect(mapped(v6)).toEqual({ family: 6, address: '2001:db8:1234:5678:11:2233:4455:6677', port: 32853 });
  });

  test('§2.4 long-term authentication: the key is MD5(username:realm:SASLprep(password)), the request is re-encoded byte for byte', () => {
    expect(saslPrep(LONG_TERM.password)).toBe('TheMatrIX');
    const key = longTermKey(LONG_TERM.username, LONG_TERM.realm, LONG_TERM.password);
    expect(key).toEqual(createHash('md5').update(`${LONG_TERM.username}:${LONG_TERM.realm}:TheMatrIX`, 'utf8').digest());
    const encoded = encodeStun(
      {
        type: 0x0001,
        transactionId: LONG_TERM_REQUEST.subarray(8, 20),
        attributes: [
          { type: STUN_ATTR.USERNAME, value: Buffer.from(LONG_TERM.username, 'utf8') },
          { type: STUN_ATTR.NONCE, value: Buffer.from(LONG_TERM.nonce) },
          { type: STUN_ATTR.REALM, value: Buffer.from(LONG_TERM.realm) },
        ],
      },
      { integrityKey: key },
    );
    expect(encoded.toString('hex')).toBe(LONG_TERM_REQUEST.toString('hex'));
    expect(verifyIntegrity(decodeStun(LONG_TERM_REQUEST), key)).toBe(true);
    // FINGERPRINT goes after MESSAGE-INTEGRITY, and the integrity still verifies (it ignores what follows).
    const withFingerprint = decodeStun(encodeStun(decodeStun(LONG_TERM_REQUEST), { fingerprint: true }));
    expect(withFingerprint.raw.readUInt16BE(2)).toBe(0x60 + 8);
    expect([verifyIntegrity(withFingerprint, key), verifyFingerprint(withFingerprint)]).toEqual([true, true]);
  });

  test('TURN over TLS framing: STUN messages back to back and split anywhere, other bytes refused', () => {
    const stream = Buffer.concat([SAMPLE_REQUEST, LONG_TERM_REQUEST]);
    for (const cut of [1, 3, 19, 20, 21, SAMPLE_REQUEST.length - 1, SAMPLE_REQUEST.length, SAMPLE_REQUEST.length + 5, stream.length - 1]) {
      const framer = new StunFramer();
      const got = [...framer.push(stream.subarray(0, cut)), ...framer.push(stream.subarray(cut))];
      expect(got.map((m) => m.toString('hex'))).toEqual([SAMPLE_REQUEST.toString('hex'), LONG_TERM_REQUEST.toString('hex')]);
    }
    expect(() => new StunFramer().push(Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n'))).toThrow('not TURN: the server sent "HTTP/1.1 400 Bad Request"');
  });
});

describe('TURN credentials', () => {
  const secret = 'weebeetalk-test-secret';
  const now = 1_700_000_000_123; // ms; Prosody uses os.time(), whole seconds

  test('Prosody mod_external_services (algorithm "turn", ttl 86400): a fixed secret and time give a known username and password', () => {
    const creds = turnCredentials(secret, now);
    expect(creds).toEqual({ username: '1700086400', password: '+q81VhEN44Glow7pZWgOF5tWipk=', expires: 1_700_086_400 });
    // Independently: base64(HMAC-SHA1(key = secret, message = username)).
    expect(creds.password).toBe(createHmac('sha1', secret).update('1700086400').digest('base64'));
    expect(turnCredentials(secret, now, 86_400, 'alice')).toEqual({ username: '1700086400:alice', password: 'I5+0owQT/Z2RyXxmxTrESL7Uh9E=', expires: 1_700_086_400 });
  });

  test("coturn's documented TURN REST scheme, as its README computes it with openssl, gives the same password", () => {
    // README.turnserver: temporary-password = base64_encode(hmac-sha1(shared-secret, temporary-username)).
    const coturn = (username: string): string =>
      execFileSync('sh', ['-c', 'printf %s "$1" | openssl dgst -binary -sha1 -hmac "$2" | openssl base64', 'sh', username, secret], { encoding: 'utf8' }).trim();
    const creds = turnCredentials(secret, now);
    expect(coturn(creds.username)).toBe(creds.password);
    expect(coturn('1700086400:alice')).toBe(turnCredentials(secret, now, 86_400, 'alice').password);
  });
});

describe('turn-tls and turn-allocate against a fake relay', () => {
  test('PASS: 401 with a nonce, then an allocation whose integrity the relay verified, then released', async () => {
    const started = Date.now();
    const { result: report, requests } = await requestsDuring(fx.turn, () => runSmoke(turnOptions()));
    expect(report.results.filter((r) => r.status !== 'SKIP').map((r) => `${r.check}=${r.status} ${r.detail}`)).toEqual([
      expect.stringMatching(/^turn-tls=PASS TLSv1\.[23] handshake OK; cert OK for turn\.example\.test/),
      expect.stringMatching(new RegExp(`^turn-allocate=PASS allocated \\(realm ${TURN_REALM}, credentials from the given secret\\): relayed address ${TURN_RELAY.address}:${TURN_RELAY.port}/udp`)),
    ]);
    expect(row(report.results, 'turn-allocate').detail).toMatch(/our address as seen by the relay 127\.0\.0\.1:\d+; released$/);
    expect(report.exitCode).toBe(0);
    expect(requests.map(({ username: _u, ...r }) => r)).toEqual([
      { method: 'Allocate', requestedTransport: 17, fingerprint: true, answer: '401' },
      { method: 'Allocate', requestedTransport: 17, fingerprint: true, integrity: true, answer: 'success' },
      { method: 'Refresh', lifetime: 0, fingerprint: true, integrity: true, answer: 'success' },
    ]);
    // The username is the expiry: 24 hours from now, as Prosody hands them out.
    const expiry = Number(requests[1].username);
    expect(expiry - Math.floor(started / 1000)).toBeGreaterThanOrEqual(86_400);
    expect(expiry - Math.floor(Date.now() / 1000)).toBeLessThanOrEqual(86_400);
    expect(fx.turn.liveAllocations()).toBe(0);
  });

  test('FAIL with a wrong secret: 401 again, reported as an authentication failure, nothing allocated', async () => {
    const wrong = 'not-the-secret';
    const { result: report, requests } = await requestsDuring(fx.turn, () => runSmoke(turnOptions({ turnSecret: wrong })));
    const allocate = row(report.results, 'turn-allocate');
    expect(allocate.status).toBe('FAIL');
    expect(allocate.detail).toMatch(/^authentication failed: .*401 Unauthorized again/);
    expect(allocate.detail).not.toContain(wrong);
    expect(row(report.results, 'turn-tls').status).toBe('PASS');
    expect(requests.map((r) => [r.method, r.integrity, r.answer])).toEqual([
      ['Allocate', undefined, '401'],
      ['Allocate', false, '401'],
    ]);
    expect(report.exitCode).toBe(1);
    expect(fx.turn.liveAllocations()).toBe(0);
  });

  test('SKIP without a secret, saying how to give one; turn-tls still runs and the relay gets no request', async () => {
    const { result: report, requests } = await requestsDuring(fx.turn, () => runSmoke(turnOptions({ turnSecret: undefined })));
    const allocate = row(report.results, 'turn-allocate');
    expect(allocate.status).toBe('SKIP');
    expect(allocate.detail).toBe(
      'no TURN secret to authenticate with: pass --turn-secret-parameter <ssm_parameter_prefix>/turn/static-auth-secret (read with aws ssm get-parameter) or set WBT_TURN_SECRET',
    );
    expect(row(report.results, 'turn-tls').status).toBe('PASS');
    expect(requests).toEqual([]);
    expect(report.exitCode).toBe(0);
  });

  test('the CLI takes the secret from WBT_TURN_SECRET and prints neither it nor the password, as JSON or as a table', async () => {
    const printed: string[] = [];
    const io = { out: (t: string) => void printed.push(t), err: (t: string) => void printed.push(t), env: { WBT_TURN_SECRET: TURN_SECRET } };
    const argv = [fx.env, '--outputs', fx.outputsFile, '--ca', fx.pki.caFile, '--turn-port', String(fx.turn.port), '--skip', NON_TURN_CHECKS.join(',')];
    const { requests } = await requestsDuring(fx.turn, async () => {
      expect(await main([...argv, '--json'], io)).toBe(0);
      expect(await main(argv, io)).toBe(0);
    });
    const text = printed.join('');
    expect(text).toMatch(/\nturn-allocate +turn\.example\.test @ 127\.0\.0\.1:\d+ +PASS +allocated/);
    expect((JSON.parse(printed[0]) as { results: CheckResult[] }).results.map((r) => r.status)).toEqual([...Array(12).fill('SKIP'), 'PASS', 'PASS']);
    const passwords = requests
      .filter((r) => r.username !== undefined)
      .map((r) =>
        createHmac('sha1', TURN_SECRET)
          .update(r.username as string)
          .digest('base64'),
      );
    expect(passwords.length).toBeGreaterThan(0);
    for (const secretText of [TURN_SECRET, ...passwords]) expect(text).not.toContain(secretText);
  });

  test('--turn-secret-parameter reads the secret with `aws ssm get-parameter --with-decryption` (a fake aws CLI on PATH)', async () => {
    const name = '/weebeetalk/smoketest/turn/static-auth-secret';
    const bin = join(scratch, 'bin');
    execFileSync('mkdir', ['-p', bin]);
    const aws = join(bin, 'aws');
    // Answers only the exact command line; anything else is an error on stderr, as the real CLI prints them.
    writeFileSync(
      aws,
      [
        '#!/bin/sh',
        `if [ "$*" = "ssm get-parameter --with-decryption --name ${name} --query Parameter.Value --output text" ]; then printf '%s\\n' '${TURN_SECRET}'; exit 0; fi`,
        'echo "An error occurred (ParameterNotFound) when calling the GetParameter operation: $*" >&2',
        'exit 254',
        '',
      ].join('\n'),
    );
    chmodSync(aws, 0o755);
    await expect(readSsmParameter(name, { command: aws })).resolves.toBe(TURN_SECRET);
    await expect(readSsmParameter('/other', { command: aws })).rejects.toThrow(/exited with 254: An error occurred \(ParameterNotFound\)/);
    await expect(readSsmParameter(name, { command: join(scratch, 'no-such-aws') })).rejects.toThrow('the aws CLI is not installed');

    const savedPath = process.env.PATH;
    process.env.PATH = `${bin}${delimiter}${savedPath ?? ''}`;
    try {
      const printed: string[] = [];
      const io = { out: (t: string) => void printed.push(t), err: (t: string) => void printed.push(t), env: {} };
      const base = [fx.env, '--outputs', fx.outputsFile, '--ca', fx.pki.caFile, '--turn-port', String(fx.turn.port), '--skip', `${NON_TURN_CHECKS.join(',')},turn-tls`, '--json'];
      expect(await main([...base, '--turn-secret-parameter', name], io)).toBe(0);
      const ok = row((JSON.parse(printed.pop() ?? '') as { results: CheckResult[] }).results, 'turn-allocate');
      expect(ok.detail).toContain(`credentials from SSM parameter ${name})`);
      // A parameter that was asked for and cannot be read fails the check (a default one would be skipped).
      expect(await main([...base, '--turn-secret-parameter', '/weebeetalk/smoketest/nope'], io)).toBe(1);
      const failed = row((JSON.parse(printed.pop() ?? '') as { results: CheckResult[] }).results, 'turn-allocate');
      expect([failed.status, failed.detail]).toEqual(['FAIL', expect.stringMatching(/^cannot read the TURN secret from SSM parameter \/weebeetalk\/smoketest\/nope: .*ParameterNotFound/)]);
    } finally {
      process.env.PATH = savedPath;
    }
  });

  test('without a secret given, the default parameter under ssm_parameter_prefix is read; unreadable, the check is skipped', async () => {
    const outputs = { [fx.env]: { turn_fqdn: FQDNS.turn, turn_public_ip: LOOPBACK, ssm_parameter_prefix: '/weebeetalk/smoketest' } };
    const asked: string[] = [];
    const found = await runSmoke(turnOptions({ outputsFile: undefined, outputs, turnSecret: undefined, readParameter: async (n) => (asked.push(n), TURN_SECRET) }));
    expect(asked).toEqual(['/weebeetalk/smoketest/turn/static-auth-secret']);
    expect(row(found.results, 'turn-allocate').status).toBe('PASS');
    const unreadable = await runSmoke(
      turnOptions({ outputsFile: undefined, outputs, turnSecret: undefined, readParameter: () => Promise.reject(new Error('the aws CLI is not installed (aws: ENOENT)')) }),
    );
    expect(row(unreadable.results, 'turn-allocate')).toMatchObject({
      status: 'SKIP',
      detail:
        'cannot read the TURN secret from SSM parameter /weebeetalk/smoketest/turn/static-auth-secret: the aws CLI is not installed (aws: ENOENT); ' +
        'pass --turn-secret-parameter /weebeetalk/smoketest/turn/static-auth-secret (read with aws ssm get-parameter) or set WBT_TURN_SECRET',
    });
    expect(unreadable.exitCode).toBe(0);
    // Skipped on the command line: the secret is not even looked for.
    await runSmoke(turnOptions({ outputsFile: undefined, outputs, turnSecret: undefined, skip: [...NON_TURN_CHECKS, 'turn-allocate'], readParameter: async (n) => (asked.push(n), '') }));
    expect(asked).toHaveLength(1);
  });

  test('a relay certificate for another name fails turn-tls, and turn-allocate sends that relay no credentials', async () => {
    const impostor = await startTurnResponder({ pair: fx.pki.wrong, secret: TURN_SECRET });
    try {
      const report = await runSmoke(turnOptions({ turnPort: impostor.port }));
      expect(row(report.results, 'turn-tls')).toMatchObject({ status: 'FAIL', detail: expect.stringContaining('certificate is not valid for turn.example.test (it covers DNS:other.example.test)') });
      expect(row(report.results, 'turn-allocate')).toMatchObject({ status: 'FAIL', detail: expect.stringMatching(/^not authenticating to a relay whose certificate fails: /) });
      expect(impostor.requests).toEqual([]);
    } finally {
      await impostor.close();
    }
  });

  test('an open relay (Allocate succeeds without credentials) fails turn-allocate', async () => {
    const open = await startTurnResponder({ pair: fx.pki.good, secret: TURN_SECRET, open: true });
    try {
      const report = await runSmoke(turnOptions({ turnPort: open.port }));
      expect(row(report.results, 'turn-allocate')).toMatchObject({ status: 'FAIL', detail: expect.stringMatching(/^OPEN RELAY: an Allocate without credentials succeeded/) });
    } finally {
      await open.close();
    }
  });

  test('a success answer whose MESSAGE-INTEGRITY does not verify with our credentials fails turn-allocate', async () => {
    const forger = await startTurnResponder({ pair: fx.pki.good, secret: TURN_SECRET, forgeIntegrity: true });
    try {
      const report = await runSmoke(turnOptions({ turnPort: forger.port }));
      expect(row(report.results, 'turn-allocate')).toMatchObject({ status: 'FAIL', detail: expect.stringMatching(/^the Allocate success response has no MESSAGE-INTEGRITY that verifies/) });
      expect(forger.requests.map((r) => r.answer)).toEqual(['401', 'success']);
    } finally {
      await forger.close();
    }
  });

  test('an HTTPS server on the TURN port fails turn-allocate with what it answered; TLS below 1.2 fails turn-tls', async () => {
    const https = await runSmoke(turnOptions({ turnPort: fx.httpsPort }));
    expect(row(https.results, 'turn-allocate').detail).toMatch(/^not TURN: the server sent "HTTP\/1\.1 400 Bad Request/);
    const old = tls.createServer({ ...fx.pki.good, minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' }, (s) => s.end());
    const port = await new Promise<number>((resolve) => old.listen(0, LOOPBACK, () => resolve((old.address() as { port: number }).port)));
    try {
      const report = await runSmoke(turnOptions({ turnPort: port, skip: [...NON_TURN_CHECKS, 'turn-allocate'] }));
      expect(row(report.results, 'turn-tls')).toMatchObject({ status: 'FAIL', detail: expect.stringMatching(/^no TLS 1\.2 or 1\.3: /) });
    } finally {
      await new Promise<void>((resolve) => old.close(() => resolve()));
    }
  });
});

describe('a stack without a TURN relay, and --skip', () => {
  test('staging without turn outputs: the turn checks are skipped, chat/meet/pbx checked as before; partial turn outputs fail', async () => {
    expect(COMPONENTS).toContain('turn');
    const stagingOutputs = Object.fromEntries(
      ['chat', 'meet', 'pbx'].flatMap((r) => [
        [`${r}_fqdn`, `${r}.example.test`],
        [`${r}_public_ip`, LOOPBACK],
      ]),
    );
    const report = await runSmoke(
      turnOptions({ outputsFile: undefined, outputs: { [fx.env]: stagingOutputs }, resolver: `${LOOPBACK}:${fx.dnsPort}`, skip: ['https', 'http-redirect', 'sip', 'sip-tls'] }),
    );
    expect(report.results.map((r) => `${r.check}:${r.component}=${r.status}`)).toEqual([
      'dns:chat=PASS',
      'dns:meet=PASS',
      'dns:pbx=PASS',
      'dns:turn=SKIP',
      'https:chat=SKIP',
      'https:meet=SKIP',
      'http-redirect:chat=SKIP',
      'http-redirect:meet=SKIP',
      'meet-dial-in:meet=SKIP',
      'meet-dial-in-closed:meet=SKIP',
      'sip:pbx=SKIP',
      'sip-tls:pbx=SKIP',
      'turn-tls:turn=SKIP',
      'turn-allocate:turn=SKIP',
    ]);
    for (const check of ['dns', 'turn-tls', 'turn-allocate']) {
      expect(row(report.results, check).detail).toBe('no turn host in the stack outputs (no turn_fqdn, no turn_public_ip): turn.enabled is off in this environment');
    }
    expect(report.exitCode).toBe(0);

    const partial = await runSmoke(turnOptions({ outputsFile: undefined, outputs: { turn_fqdn: FQDNS.turn }, skip: NON_TURN_CHECKS }));
    expect(row(partial.results, 'turn-tls')).toMatchObject({ status: 'FAIL', detail: 'stack output turn_public_ip missing' });
    expect(row(partial.results, 'turn-allocate')).toMatchObject({ status: 'FAIL', detail: 'stack output turn_public_ip missing' });
  });

  test('--skip turn-allocate, turn-tls:turn and friends', async () => {
    expect(parseSkip(['turn-allocate', 'turn-tls:turn', 'dns:turn'])).toEqual([{ check: 'turn-allocate' }, { check: 'turn-tls', component: 'turn' }, { check: 'dns', component: 'turn' }]);
    expect(() => parseSkip(['turn-allocate:nope'])).toThrow('unknown component');
    const report = await runSmoke(turnOptions({ skip: [...NON_TURN_CHECKS, 'turn-tls:turn'] }));
    expect(report.results.filter((r) => r.component === 'turn').map((r) => `${r.check}=${r.status}`)).toEqual(['dns=SKIP', 'turn-tls=SKIP', 'turn-allocate=PASS']);
    expect(row(report.results, 'turn-tls').detail).toBe('skipped (--skip)');
  });
});
