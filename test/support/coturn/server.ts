/**
 * A real coturn 4.6.1 (Debian 12's, from the chroot scripts/setup-coturn-root.sh builds) in the turn host's
 * network namespace, started the way Debian's coturn.service and the role's drop-in start it: as user
 * turnserver with CAP_NET_BIND_SERVICE only, `turnserver -c /etc/coturn/weebeetalk.conf --pidfile=` (our drop-in's
 * ExecStart). The chroot stays read-only: a private mount namespace binds the test's /etc/coturn (the configuration)
 * and its certificate directory over /etc/coturn/certs, with tmpfs for /dev (a few device nodes and busybox syslogd's
 * /dev/log: the configuration says `syslog`), /run and /tmp.
 */
import { TURNSERVER_CONF } from '../../../userdata/paths';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Network } from '../asterisk/netns';

export const COTURN_ROOT = '/var/cache/weebeetalk-test/coturn-bookworm';
/** An OpenSSL policy that lets TLS 1.0 through: what the TLS listener refuses, the configuration refuses. */
export const PERMISSIVE_OPENSSL = join(__dirname, 'openssl-permissive.cnf');
export const TURN_CLIENT = join(__dirname, 'turn-client.js');

/** coturn's version in the chroot (its package database): the tests stand for production only with 4.6.x. */
export function checkChrootCoturn(root = COTURN_ROOT): string {
  const v = execFileSync('chroot', [root, 'dpkg-query', '-W', '-f=${Version}', 'coturn'], { encoding: 'utf8', timeout: 5000 });
  if (!/^4\.6\.\d+-/.test(v)) throw new Error(`${root} has coturn ${v}; the turn host's configuration is written for Debian 12's 4.6.x: rebuild with scripts/setup-coturn-root.sh`);
  return v;
}

function q(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export interface Certificate {
  readonly fullchain: string;
  readonly privkey: string;
  /** SHA-256 of the leaf in Node's getPeerCertificate().fingerprint256 format. */
  readonly fingerprint256: string;
}

/** A test CA (EC) and leaves for a name (RSA 2048, as certbot --key-type rsa issues them for the turn host). */
export function testCa(dir: string): { ca: string; issue(name: string, label: string): Certificate } {
  mkdirSync(dir, { recursive: true });
  const o = (...args: string[]): string => execFileSync('openssl', args, { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  o('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=WeeBeeTalk coturn test CA');
  const ca = execFileSync('cat', [join(dir, 'ca.pem')], { encoding: 'utf8' });
  return {
    ca,
    issue(name, label) {
      o('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${label}.key`, '-out', `${label}.csr`, '-subj', `/CN=${name}`);
      writeFileSync(join(dir, `${label}.ext`), `subjectAltName=DNS:${name}\n`);
      o('x509', '-req', '-in', `${label}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', String(Date.now()), '-out', `${label}.pem`, '-days', '2', '-extfile', `${label}.ext`);
      const leaf = o('x509', '-in', `${label}.pem`);
      const fp = o('x509', '-in', `${label}.pem`, '-noout', '-fingerprint', '-sha256').trim();
      return { fullchain: leaf + ca, privkey: o('pkey', '-in', `${label}.key`), fingerprint256: fp.replace(/^.*=/, '') };
    },
  };
}

/** Files of the certificate directory replaced the way `install` replaces them (a new file, then in place). */
export function installCertificate(certDir: string, cert: Certificate, gid: number): void {
  for (const [name, content, mode] of [
    ['fullchain.pem', cert.fullchain, 0o644],
    ['privkey.pem', cert.privkey, 0o640],
  ] as const) {
    const draft = join(certDir, `.${name}.new`);
    writeFileSync(draft, content, { mode });
    execFileSync('chown', [`0:${gid}`, draft]);
    renameSync(draft, join(certDir, name));
  }
}

export interface Coturn {
  /** turnserver's PID (the spawned process execs into it). */
  readonly pid: number;
  /** Its syslog (busybox syslogd -O -) and its own stderr, as they came. */
  output(): string;
  alive(): boolean;
  stop(): Promise<void>;
}

/** The turnserver group's gid in the chroot (the certificate's and the configuration's group on the host). */
export function turnserverGid(root = COTURN_ROOT): number {
  const line = execFileSync('chroot', [root, 'getent', 'group', 'turnserver'], { encoding: 'utf8' });
  return Number(line.split(':')[2]);
}

/**
 * @param conf the host's /etc/coturn/weebeetalk.conf (the bundle's file plus static-auth-secret), written 0640 root:turnserver
 * @param certDir bound over /etc/coturn/certs (0750 root:turnserver, as turn-cert-deploy.sh installs it)
 */
export async function startCoturn(net: Network, party: string, work: string, conf: string, certDir: string, bootTimeoutMs = 5000): Promise<Coturn> {
  const r = COTURN_ROOT;
  const gid = turnserverGid();
  // The turn host's /etc/coturn: the configuration our drop-in's ExecStart names (userdata/paths.ts TURNSERVER_CONF,
  // not the package's /etc/turnserver.conf) and the certificate folder.
  const etcCoturn = join(work, 'etc-coturn');
  mkdirSync(join(etcCoturn, 'certs'), { recursive: true });
  const confPath = join(etcCoturn, TURNSERVER_CONF.split('/').pop() ?? 'weebeetalk.conf');
  writeFileSync(confPath, conf, { mode: 0o640 });
  execFileSync('chown', [`0:${gid}`, confPath, certDir]);
  execFileSync('chmod', ['0750', certDir]);
  const script = [
    'set -e',
    `mount --bind ${r} ${r}`,
    `mount -o remount,bind,ro ${r}`,
    `mount -t proc proc ${r}/proc`,
    `mount -t tmpfs -o mode=0755 tmpfs ${r}/dev`,
    `for d in null zero random urandom; do touch ${r}/dev/$d; mount --bind /dev/$d ${r}/dev/$d; done`,
    `mount -t tmpfs -o mode=0755 tmpfs ${r}/run`,
    `mount -t tmpfs -o mode=1777 tmpfs ${r}/tmp`,
    `cp ${q(PERMISSIVE_OPENSSL)} ${r}/tmp/openssl.cnf`,
    `mount --bind ${q(etcCoturn)} ${r}/etc/coturn`,
    `mount --bind ${q(certDir)} ${r}/etc/coturn/certs`,
    // syslog (journald on the host) is busybox's syslogd here, writing to this process's output.
    `chroot ${r} busybox syslogd -n -S -t -O - &`,
    'echo "syslogd-pid=$!" >&2',
    `i=0; while [ ! -S ${r}/dev/log ]; do i=$((i+1)); [ $i -lt 300 ] || exit 1; sleep 0.01; done`,
    `exec env OPENSSL_CONF=/tmp/openssl.cnf chroot ${r} setpriv --reuid=turnserver --regid=turnserver --init-groups --inh-caps=+net_bind_service --ambient-caps=+net_bind_service /usr/bin/turnserver -c ${TURNSERVER_CONF} --pidfile=`,
  ].join('\n');
  const child: ChildProcess = net.track(
    spawn('ip', ['netns', 'exec', net.ns(party), 'unshare', '--mount', '--propagation', 'private', '/bin/sh', '-c', script], { stdio: ['ignore', 'pipe', 'pipe'] }),
  );
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  // 'exit', not 'close': the syslogd holds the output pipe open after turnserver is gone.
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const pid = child.pid;
  if (pid === undefined) throw new Error('turnserver did not start');
  const syslogd = (): number | undefined => {
    const m = /syslogd-pid=(\d+)/.exec(output);
    return m ? Number(m[1]) : undefined;
  };
  const alive = (): boolean => child.exitCode === null && child.signalCode === null;
  const stop = async (): Promise<void> => {
    if (alive()) {
      process.kill(pid, 'SIGKILL');
      await exited;
    }
    // The syslogd outlives the shell that started it (its parent became turnserver): by its PID.
    const s = syslogd();
    if (s !== undefined) {
      try {
        process.kill(s, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  };
  const deadline = Date.now() + bootTimeoutMs;
  // Up once it logged its last start-up line (the admin thread comes after the listeners).
  while (!/IO method \(admin thread\)/.test(output)) {
    if (!alive()) {
      await stop();
      throw new Error(`turnserver exited while starting:\n${output}`);
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`turnserver not up after ${bootTimeoutMs} ms:\n${output}`);
    }
    await new Promise((res) => setTimeout(res, 20));
  }
  return { pid, output: () => output, alive, stop };
}
