/**
 * The dial-in mapper (userdata/meet/scripts/dial-in-mapper.py) run for real with the host's python3 on loopback,
 * asked over HTTP from the addresses that matter: the pbx host's (127.0.0.3 here) and anyone else's (127.0.0.4),
 * against a stand-in for Prosody's census. The PIN is checked against an implementation of the documented
 * derivation written here (config/dial-in.ts), not against the mapper's own code.
 */
import { spawnSync } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DIAL_IN_ANSWERS, DIAL_IN_ROOM_MAX, DIAL_IN_ROOM_PATTERN, DIAL_IN_ROUTES, PIN_DIGITS, XMPP_MUC_DOMAIN, type DialInMapperConfig } from '../config/dial-in';
import { censusStandIn, MAPPER_SCRIPT, pinOf, startMapper, type CensusStandIn, type RunningMapper } from './support/dial-in-mapper';

const PBX = '127.0.0.3';
const STRANGER = '127.0.0.4';
const NUMBERS = [{ countryCode: 'id', tollFree: false, formattedNumber: '+62 21 5555 0100' }];

function luhn(body: string): string {
  const sum = [...body].reverse().reduce((s, ch, i) => {
    const d = Number(ch) * (i % 2 === 0 ? 2 : 1);
    return s + (d > 9 ? d - 9 : d);
  }, 0);
  return String((10 - (sum % 10)) % 10);
}

/** The derivation config/dial-in.ts documents: HMAC-SHA256 of room@muc, 8 digits from 10000000, then Luhn. */
function expectedPin(key: string, conference: string): string {
  const digest = createHmac('sha256', Buffer.from(key)).update(conference.toLowerCase()).digest();
  const low = 10n ** BigInt(PIN_DIGITS - 2);
  const body = String(low + (digest.readBigUInt64BE(0) % (9n * low)));
  return body + luhn(body);
}

function get(address: string, path: string, from: string, method = 'GET'): Promise<{ status: number; type: string; body: string }> {
  const [host, port] = address.split(':');
  return new Promise((resolve, reject) => {
    const req = request({ host, port: Number(port), path, method, localAddress: from, timeout: 5000, agent: false }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('dial-in mapper (real python3 on loopback, census stand-in)', () => {
  const key = randomBytes(24).toString('base64');
  let dir: string;
  let census: CensusStandIn;
  let mapper: RunningMapper;
  let config: DialInMapperConfig;
  const ask = (query: string, from = PBX) => get(mapper.address, `${DIAL_IN_ROUTES.room}?${query}`, from);
  const room = (name: string, participants = 2) => ({ room_name: `${name}@${XMPP_MUC_DOMAIN}`, participants });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'wbt-dial-in-'));
    writeFileSync(join(dir, 'pin-key'), `${key}\n`, { mode: 0o600 });
    census = await censusStandIn();
    config = { listen: '127.0.0.2', port: 0, mucDomain: XMPP_MUC_DOMAIN, censusUrl: census.url, pbxAddresses: [PBX], keyFile: join(dir, 'pin-key'), numbers: NUMBERS };
    mapper = await startMapper(dir, config);
  });
  afterAll(async () => {
    mapper?.stop();
    await census?.close();
    rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => census.set([room('rocketchat5f2a9'), room('weekly-ops', 1), room('just-focus', 0)]));

  it('derives the documented PIN: 9 digits, first 1-9, Luhn check digit, same for any letter case', () => {
    for (const name of ['rocketchat5f2a9', 'weekly-ops', 'a', 'x'.repeat(64)]) {
      const pin = pinOf(dir, config, name);
      expect({ name, pin }).toEqual({ name, pin: expectedPin(key, `${name}@${XMPP_MUC_DOMAIN}`) });
      expect(pin).toMatch(/^[1-9]\d{8}$/);
    }
    expect(pinOf(dir, config, 'RocketChat5F2A9')).toBe(pinOf(dir, config, 'rocketchat5f2a9'));
    expect(pinOf(dir, config, `rocketchat5f2a9@${XMPP_MUC_DOMAIN}`)).toBe(pinOf(dir, config, 'rocketchat5f2a9'));
  });

  it("has the rooms' pattern of config/dial-in.ts, which the dialplan also holds to", () => {
    const source = readFileSync(MAPPER_SCRIPT, 'utf8');
    expect(/^ROOM_RE = re\.compile\(r"\^(.*)\$"\)$/m.exec(source)?.[1]).toBe(DIAL_IN_ROOM_PATTERN);
    expect(new RegExp(`^${DIAL_IN_ROOM_PATTERN}$`).test('x'.repeat(DIAL_IN_ROOM_MAX))).toBe(true);
    expect(new RegExp(`^${DIAL_IN_ROOM_PATTERN}$`).test('x'.repeat(DIAL_IN_ROOM_MAX + 1))).toBe(false);
  });

  it('gives another PIN under another key (rotating meet/dial-in-pin-key changes every PIN)', () => {
    writeFileSync(join(dir, 'other-key'), randomBytes(24).toString('base64'));
    expect(pinOf(dir, { ...config, keyFile: join(dir, 'other-key') }, 'weekly-ops')).not.toBe(pinOf(dir, config, 'weekly-ops'));
  });

  it("prints a room's PIN for an operator with the host's key file (--key-file), the same the service answers", () => {
    const { keyFile, ...noKey } = config;
    writeFileSync(join(dir, 'no-key.json'), JSON.stringify(noKey));
    const r = spawnSync('python3', [MAPPER_SCRIPT, '--config', join(dir, 'no-key.json'), '--key-file', keyFile!, '--pin-of', 'weekly-ops'], { encoding: 'utf8', timeout: 5000 });
    expect({ status: r.status, pin: r.stdout.trim() }).toEqual({ status: 0, pin: expectedPin(key, `weekly-ops@${XMPP_MUC_DOMAIN}`) });
  });

  it("answers Jitsi Meet's conference-code request with the PIN, from any address that reaches it", async () => {
    const url = `${DIAL_IN_ROUTES.conferenceCode}?conference=RocketChat5f2a9@${XMPP_MUC_DOMAIN}&url=https://meet.example.org/RocketChat5f2a9`;
    const r = await get(mapper.address, url, STRANGER);
    expect(r.status).toBe(200);
    expect(r.type).toBe('application/json');
    const body = JSON.parse(r.body);
    expect(body).toEqual({ message: expect.any(String), id: Number(expectedPin(key, `rocketchat5f2a9@${XMPP_MUC_DOMAIN}`)), conference: `rocketchat5f2a9@${XMPP_MUC_DOMAIN}` });
  });

  it.each([
    ['another MUC domain', 'room@conference.example.org'],
    ['a line break (header injection)', 'room%0d%0aX-Room-Name:%20other@muc.meet.jitsi'],
    ['a space', 'a%20room@muc.meet.jitsi'],
    ['nothing', ''],
  ])('refuses a conference code for %s', async (_what, value) => {
    const r = await get(mapper.address, `${DIAL_IN_ROUTES.conferenceCode}?conference=${value}`, STRANGER);
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body)).toEqual({ message: expect.stringContaining('conference must be a room of') });
  });

  it('lists the configured numbers in the array format Jitsi Meet reads', async () => {
    const r = await get(mapper.address, `${DIAL_IN_ROUTES.numbers}?conference=weekly-ops@${XMPP_MUC_DOMAIN}`, STRANGER);
    expect({ status: r.status, body: JSON.parse(r.body) }).toEqual({ status: 200, body: NUMBERS });
  });

  it('names the running meeting a PIN belongs to, as the X-Room-Name Jigasi reads', async () => {
    const r = await ask(`pin=${expectedPin(key, `weekly-ops@${XMPP_MUC_DOMAIN}`)}`);
    expect({ status: r.status, type: r.type, body: r.body }).toEqual({ status: 200, type: 'text/plain; charset=utf-8', body: `${DIAL_IN_ANSWERS.found}:weekly-ops@${XMPP_MUC_DOMAIN}\n` });
  });

  it('tells a well-formed PIN of a meeting nobody is in (only the focus, or no room) from a mistyped one', async () => {
    for (const name of ['just-focus', 'not-started-yet']) expect((await ask(`pin=${expectedPin(key, `${name}@${XMPP_MUC_DOMAIN}`)}`)).body).toBe(`${DIAL_IN_ANSWERS.notRunning}\n`);
  });

  it('refuses every single mistyped digit and every swap of two neighbours that changes the PIN as invalid', async () => {
    const pin = expectedPin(key, `weekly-ops@${XMPP_MUC_DOMAIN}`);
    const typos = new Set<string>();
    for (let i = 0; i < pin.length; i++) for (let d = 0; d <= 9; d++) if (String(d) !== pin[i]) typos.add(pin.slice(0, i) + d + pin.slice(i + 1));
    // Luhn misses only the swap of 0 and 9: those are left out of the claim, the rest must be refused.
    for (let i = 0; i + 1 < pin.length; i++) {
      const swapped = pin.slice(0, i) + pin[i + 1] + pin[i] + pin.slice(i + 2);
      if (swapped !== pin && `${pin[i]}${pin[i + 1]}` !== '09' && `${pin[i]}${pin[i + 1]}` !== '90') typos.add(swapped);
    }
    const answers = await Promise.all([...typos].map(async (t) => [t, (await ask(`pin=${t}`)).body.trim()] as const));
    expect(answers.filter(([, a]) => a !== DIAL_IN_ANSWERS.invalid)).toEqual([]);
  });

  it.each([
    ['too short', '12345'],
    ['too long', '1234567890123'],
    ['not digits', '12345678a'],
    ['empty', ''],
    ['full-width digits', encodeURIComponent('１２３４５６７８９')],
  ])('answers invalid to a PIN %s', async (_what, pin) => {
    expect((await ask(`pin=${pin}`)).body).toBe(`${DIAL_IN_ANSWERS.invalid}\n`);
  });

  it('answers unavailable, not "not running", when Prosody does not answer or answers nonsense', async () => {
    const pin = expectedPin(key, `weekly-ops@${XMPP_MUC_DOMAIN}`);
    for (const state of ['broken', 'garbage'] as const) {
      census.set(state);
      expect({ state, body: (await ask(`pin=${pin}`)).body }).toEqual({ state, body: `${DIAL_IN_ANSWERS.unavailable}\n` });
    }
  });

  it('answers a fixed room by name: found while someone is in it, not-running before', async () => {
    expect((await ask('name=weekly-ops')).body).toBe(`${DIAL_IN_ANSWERS.found}:weekly-ops@${XMPP_MUC_DOMAIN}\n`);
    expect((await ask('name=helpdesk')).body).toBe(`${DIAL_IN_ANSWERS.notRunning}\n`);
    expect((await ask(`name=weekly-ops@conference.example.org`)).body).toBe(`${DIAL_IN_ANSWERS.invalid}\n`);
  });

  it('answers /room to the pbx host only, and lists no room to anyone', async () => {
    const pin = expectedPin(key, `weekly-ops@${XMPP_MUC_DOMAIN}`);
    const stranger = await ask(`pin=${pin}`, STRANGER);
    expect({ status: stranger.status, body: stranger.body }).toEqual({ status: 403, body: 'forbidden\n' });
    const probes = ['/', '/rooms', '/room-census', '/room', `/room?pin=${pin}&pin=${pin}`, `${DIAL_IN_ROUTES.numbers}`, '/conference-code?conference=*'];
    for (const from of [PBX, STRANGER])
      for (const path of probes) {
        const r = await get(mapper.address, path, from);
        expect({ from, path, leaks: /weekly-ops|rocketchat5f2a9|just-focus/.test(r.body) }).toEqual({ from, path, leaks: false });
      }
    expect((await get(mapper.address, `${DIAL_IN_ROUTES.room}?pin=${pin}`, PBX, 'POST')).status).toBe(405);
  });

  it('logs one line per answer without the PIN or the room', async () => {
    const pin = expectedPin(key, `weekly-ops@${XMPP_MUC_DOMAIN}`);
    await ask(`pin=${pin}`);
    const log = mapper.stderr();
    expect(log).toMatch(/^GET \/room 200 found$/m);
    expect(log).not.toContain(pin);
    expect(log).not.toMatch(/weekly-ops/);
  });

  it('refuses to start without a key of at least 16 bytes, saying which file', () => {
    writeFileSync(join(dir, 'short-key'), 'short');
    for (const keyFile of [join(dir, 'short-key'), join(dir, 'missing-key')]) {
      writeFileSync(join(dir, 'bad.json'), JSON.stringify({ ...config, keyFile }));
      const r = spawnSync('python3', [MAPPER_SCRIPT, '--config', join(dir, 'bad.json')], { encoding: 'utf8', timeout: 5000 });
      expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 1, stderr: expect.stringContaining(keyFile) });
    }
  });
});
