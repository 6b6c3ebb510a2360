/**
 * A minimal TURN client (RFC 8656 over TLS, long-term credentials, UDP relays) and TLS probe, run by
 * test/coturn.test.ts inside the client's network namespace: `node turn-client.js '<job JSON>'` prints one JSON
 * result. coturn's own turnutils_uclient picks a TLS method at random per run (TLS 1.0, 1.1, 1.2 or any) and waits
 * 1 to 6 s before it sends: this client says exactly which step failed, with which STUN error, within milliseconds.
 *
 * Jobs:
 *   { op: 'tls', host, port, servername, ca, minVersion, maxVersion, ciphers?, handshakeMs? } → { ok, protocol?, cipher?, fingerprint256?, error? }
 *   { op: 'turn', host, port, servername, ca, username, password, peers: [{ ip, port }], messages, sessions? }
 *     → { steps: [{ step, status, error? }], relayed?, echoed? } per session (sessions: simultaneous allocations)
 */
const tls = require('node:tls');
const crypto = require('node:crypto');
const { Buffer } = require('node:buffer');
const { setTimeout, clearTimeout } = require('node:timers');

const MAGIC = 0x2112a442;
const TYPE = { allocate: 0x0003, createPermission: 0x0008, send: 0x0016, data: 0x0017 };
const ATTR = {
  username: 0x0006,
  integrity: 0x0008,
  errorCode: 0x0009,
  lifetime: 0x000d,
  peer: 0x0012,
  data: 0x0013,
  realm: 0x0014,
  nonce: 0x0015,
  relayed: 0x0016,
  transport: 0x0019,
  fingerprint: 0x8028,
};
const STEP_MS = 1500;

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function attr(type, value) {
  const head = Buffer.alloc(4);
  head.writeUInt16BE(type, 0);
  head.writeUInt16BE(value.length, 2);
  return Buffer.concat([head, value, Buffer.alloc((4 - (value.length % 4)) % 4)]);
}

function xorAddress(ip, port) {
  const v = Buffer.alloc(8);
  v.writeUInt8(1, 1);
  v.writeUInt16BE(port ^ (MAGIC >>> 16), 2);
  const n = ip.split('.').reduce((a, o) => a * 256 + Number(o), 0);
  v.writeUInt32BE((n ^ MAGIC) >>> 0, 4);
  return v;
}

function readXorAddress(v) {
  const port = v.readUInt16BE(2) ^ (MAGIC >>> 16);
  const n = (v.readUInt32BE(4) ^ MAGIC) >>> 0;
  return { ip: [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.'), port };
}

/** A STUN message; with `key`, MESSAGE-INTEGRITY (HMAC-SHA1, RFC 5389 §15.4) and FINGERPRINT are appended. */
function encode(type, attrs, key) {
  const txid = crypto.randomBytes(12);
  let body = Buffer.concat(attrs);
  const header = (length) => {
    const h = Buffer.alloc(20);
    h.writeUInt16BE(type, 0);
    h.writeUInt16BE(length, 2);
    h.writeUInt32BE(MAGIC, 4);
    txid.copy(h, 8);
    return h;
  };
  if (key) {
    const mac = crypto
      .createHmac('sha1', key)
      .update(Buffer.concat([header(body.length + 24), body]))
      .digest();
    body = Buffer.concat([body, attr(ATTR.integrity, mac)]);
    const fp = Buffer.alloc(4);
    fp.writeUInt32BE((crc32(Buffer.concat([header(body.length + 8), body])) ^ 0x5354554e) >>> 0, 0);
    body = Buffer.concat([body, attr(ATTR.fingerprint, fp)]);
  }
  return { txid: txid.toString('hex'), bytes: Buffer.concat([header(body.length), body]) };
}

function decode(msg) {
  const attrs = new Map();
  let off = 20;
  while (off + 4 <= msg.length) {
    const t = msg.readUInt16BE(off);
    const len = msg.readUInt16BE(off + 2);
    if (!attrs.has(t)) attrs.set(t, msg.subarray(off + 4, off + 4 + len));
    off += 4 + len + ((4 - (len % 4)) % 4);
  }
  const err = attrs.get(ATTR.errorCode);
  return {
    type: msg.readUInt16BE(0),
    txid: msg.subarray(8, 20).toString('hex'),
    attrs,
    error: err ? { code: (err[2] & 7) * 100 + err[3], reason: err.subarray(4).toString('utf8') } : undefined,
  };
}

function connect(job, opts = {}) {
  const ms = job.handshakeMs ?? STEP_MS;
  return new Promise((resolve) => {
    const socket = tls.connect({ host: job.host, port: job.port, servername: job.servername, ca: job.ca, ...opts });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ error: `no TLS handshake within ${ms} ms` });
    }, ms);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      resolve({ socket });
    });
    socket.once('error', (e) => {
      clearTimeout(timer);
      resolve({ error: e.code ?? e.message });
    });
  });
}

/** STUN over a TLS stream: framed by the header's length; indications are queued for `nextData`. */
function stunStream(socket) {
  let buf = Buffer.alloc(0);
  const waiting = new Map();
  const data = [];
  let dataWaiter;
  socket.on('data', (chunk) => {
    buf = Buffer.concat([buf, chunk]);
    while (buf.length >= 20 && buf.length >= 20 + buf.readUInt16BE(2)) {
      const msg = decode(buf.subarray(0, 20 + buf.readUInt16BE(2)));
      buf = buf.subarray(20 + buf.readUInt16BE(2));
      if (msg.type === TYPE.data) {
        data.push(msg);
        if (dataWaiter) dataWaiter();
      } else if (waiting.has(msg.txid)) waiting.get(msg.txid)(msg);
    }
  });
  socket.on('error', () => undefined);
  return {
    request(type, attrs, key) {
      const { txid, bytes } = encode(type, attrs, key);
      return new Promise((resolve) => {
        const timer = setTimeout(() => resolve(undefined), STEP_MS);
        waiting.set(txid, (m) => {
          clearTimeout(timer);
          resolve(m);
        });
        socket.write(bytes);
      });
    },
    indicate(type, attrs) {
      socket.write(encode(type, attrs).bytes);
    },
    async nextData(ms) {
      if (data.length === 0) {
        await new Promise((resolve) => {
          const timer = setTimeout(resolve, ms);
          dataWaiter = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        dataWaiter = undefined;
      }
      return data.shift();
    },
  };
}

const status = (m) => (m === undefined ? 'timeout' : m.error ? m.error.code : 200);

/** One allocation on its own TLS connection; `hold` keeps it open until released (quota tests). */
async function session(job, hold, answered = () => undefined) {
  const steps = [];
  const out = { steps };
  const c = await connect(job);
  if (c.error) {
    steps.push({ step: 'tls', status: 'failed', error: c.error });
    return out;
  }
  const s = stunStream(c.socket);
  const transport = attr(ATTR.transport, Buffer.from([17, 0, 0, 0]));
  try {
    // The unauthenticated request: the server answers 401 with its realm and a nonce.
    const first = await s.request(TYPE.allocate, [transport, attr(ATTR.lifetime, Buffer.from([0, 0, 2, 88]))]);
    steps.push({ step: 'challenge', status: status(first) });
    if (!first?.attrs.has(ATTR.realm)) return out;
    const realm = first.attrs.get(ATTR.realm);
    const nonce = first.attrs.get(ATTR.nonce);
    const key = crypto.createHash('md5').update(`${job.username}:${realm.toString()}:${job.password}`).digest();
    const auth = [attr(ATTR.username, Buffer.from(job.username)), attr(ATTR.realm, realm), attr(ATTR.nonce, nonce)];
    const alloc = await s.request(TYPE.allocate, [transport, ...auth], key);
    steps.push({ step: 'allocate', status: status(alloc), ...(alloc?.error ? { error: alloc.error.reason } : {}) });
    answered();
    if (status(alloc) !== 200) return out;
    out.relayed = readXorAddress(alloc.attrs.get(ATTR.relayed));
    if (hold) await hold;
    out.echoed = {};
    for (const peer of job.peers ?? []) {
      const perm = await s.request(TYPE.createPermission, [attr(ATTR.peer, xorAddress(peer.ip, peer.port)), ...auth], key);
      steps.push({ step: `permission ${peer.ip}`, status: status(perm), ...(perm?.error ? { error: perm.error.reason } : {}) });
      if (status(perm) !== 200) continue;
      let echoed = 0;
      for (let i = 0; i < (job.messages ?? 0); i++) {
        const payload = Buffer.from(`wbt-${i}-${crypto.randomBytes(8).toString('hex')}`);
        s.indicate(TYPE.send, [attr(ATTR.peer, xorAddress(peer.ip, peer.port)), attr(ATTR.data, payload)]);
        const back = await s.nextData(STEP_MS);
        const from = back?.attrs.get(ATTR.peer);
        if (back && from && readXorAddress(from).ip === peer.ip && back.attrs.get(ATTR.data)?.equals(payload)) echoed++;
      }
      out.echoed[peer.ip] = echoed;
    }
    return out;
  } finally {
    c.socket.destroy();
  }
}

async function main() {
  const job = JSON.parse(process.argv[2]);
  if (job.op === 'tls') {
    const c = await connect(job, { minVersion: job.minVersion, maxVersion: job.maxVersion, ...(job.ciphers ? { ciphers: job.ciphers } : {}) });
    if (c.error) return { ok: false, error: c.error };
    const result = { ok: true, protocol: c.socket.getProtocol(), cipher: c.socket.getCipher().name, fingerprint256: c.socket.getPeerCertificate().fingerprint256 };
    c.socket.destroy();
    return result;
  }
  if (job.op === 'turn') {
    const n = job.sessions ?? 1;
    if (n === 1) return session(job);
    // Simultaneous allocations of one username: each answered before the next starts, all held open until the last.
    let release;
    const hold = new Promise((r) => (release = r));
    const runs = [];
    for (let i = 0; i < n; i++) {
      let answered;
      const allocated = new Promise((r) => (answered = r));
      runs.push(session(job, hold, answered).finally(answered));
      await allocated;
    }
    release();
    return { sessions: await Promise.all(runs) };
  }
  throw new Error(`unknown op ${job.op}`);
}

main().then(
  (r) => process.stdout.write(`${JSON.stringify(r)}\n`),
  (e) => {
    process.stderr.write(`${e.stack ?? e}\n`);
    process.exitCode = 1;
  },
);
