/**
 * A real Asterisk 22 (Debian sid's, from the chroot scripts/setup-asterisk-root.sh builds) in the pbx
 * network namespace. The chroot stays read-only: Asterisk runs in a private mount namespace with the
 * generated configuration bound over /etc/asterisk, its log directory bound to a scratch directory the
 * test reads, and tmpfs for its run and spool directories.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ASTERISK_IMAGE } from '../../../userdata/upstream';
import type { Network } from './netns';

const run = promisify(execFile);

export const TEST_CACHE = '/var/cache/weebeetalk-test';
export const SID_ROOT = `${TEST_CACHE}/sid-asterisk`;
export const FAIL2BAN_ROOT = `${TEST_CACHE}/fail2ban-bookworm`;

export interface Asterisk {
  readonly pid: number;
  /** Output of the process itself (what it writes before its logger is up). */
  output(): string;
  /** A log file of /var/log/asterisk, e.g. "messages.log". */
  log(name: string): string;
  /** One CLI command through the control socket (asterisk -rx). */
  cli(command: string): Promise<string>;
  stop(): Promise<void>;
}

/** A shell word in single quotes. */
function q(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * The chroot's Asterisk must be production's major version (userdata/upstream.ts's image pin): sid moves on,
 * and a newer major would test a configuration production does not run. Throws a clear message when it is
 * not; a different minor is worth a warning only. scripts/setup-asterisk-root.sh checks the same at setup.
 */
export function checkChrootAsterisk(root = SID_ROOT, image = ASTERISK_IMAGE): string {
  const pin = /:(\d+)\.(\d+)\.\d+/.exec(image);
  if (!pin) throw new Error(`cannot read an Asterisk version from the image pin ${image}`);
  const out = execFileSync('chroot', [root, '/usr/sbin/asterisk', '-V'], { encoding: 'utf8', timeout: 5000 }).trim();
  const got = /^Asterisk ((\d+)\.(\d+)\.\d+)/.exec(out);
  if (!got) throw new Error(`${root}: cannot read a version from 'asterisk -V': ${out}`);
  if (got[2] !== pin[1]) {
    throw new Error(
      `${root} has Asterisk ${got[1]}, production runs ${image}: these tests need Asterisk ${pin[1]}.x. Rebuild the chroot with scripts/setup-asterisk-root.sh (it refuses another major).`,
    );
  }
  if (got[3] !== pin[2]) process.stderr.write(`WARNING: ${root} has Asterisk ${got[1]}, production runs ${image} (same major, another minor)\n`);
  return got[1];
}

/** An OpenSSL policy that lets TLS 1.0 through: what the TLS transport refuses, its own settings refuse. */
export const PERMISSIVE_OPENSSL = join(__dirname, 'openssl-permissive.cnf');

/**
 * @param verbose Asterisk's verbosity (-v per level): at 3 the output names every dialplan step and every prompt
 * a channel hears ("<PJSIP/trunk-00000001> Playing 'conf-getpin.gsm' (language 'en')").
 */
export async function startAsterisk(net: Network, party: string, dirs: { etc: string; log: string; hosts: string }, bootTimeoutMs = 15000, verbose = 0): Promise<Asterisk> {
  const r = SID_ROOT;
  const script = [
    'set -e',
    // A read-only view of the chroot; everything Asterisk may write is scratch.
    `mount --bind ${r} ${r}`,
    `mount -o remount,bind,ro ${r}`,
    `mount -t proc proc ${r}/proc`,
    `mount --rbind /dev ${r}/dev`,
    `mount -t tmpfs -o mode=0755 tmpfs ${r}/run`,
    `mkdir -p ${r}/run/asterisk`,
    `mount -t tmpfs tmpfs ${r}/tmp`,
    `cp ${q(PERMISSIVE_OPENSSL)} ${r}/tmp/openssl.cnf`,
    `mount -t tmpfs tmpfs ${r}/var/spool/asterisk`,
    // asterisk.sh creates the astdb directory asterisk.conf names on the data volume.
    `mkdir ${r}/var/spool/asterisk/astdb`,
    // pjproject resolves the host name at start: answer it locally (the namespace has no DNS).
    `mount --bind ${q(dirs.hosts)} ${r}/etc/hosts`,
    `mount --bind ${q(dirs.etc)} ${r}/etc/asterisk`,
    `mount --bind ${q(dirs.log)} ${r}/var/log/asterisk`,
    // Foreground, no console, as root (the image's uid does not matter to what is tested here).
    `exec env OPENSSL_CONF=/tmp/openssl.cnf chroot ${r} /usr/sbin/asterisk -f -n${verbose > 0 ? ` -${'v'.repeat(verbose)}` : ''}`,
  ].join('\n');
  const child: ChildProcess = net.track(
    spawn('ip', ['netns', 'exec', net.ns(party), 'unshare', '--mount', '--propagation', 'private', '/bin/sh', '-c', script], { stdio: ['ignore', 'pipe', 'pipe'] }),
  );
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  const pid = child.pid;
  if (pid === undefined) throw new Error('asterisk did not start');

  const cli = async (command: string): Promise<string> => {
    const { stdout } = await run('nsenter', ['--target', String(pid), '--mount', '--net', '--root', '/usr/sbin/asterisk', '-rx', command], { timeout: 5000 });
    return stdout;
  };
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      process.kill(pid, 'SIGKILL');
      await exited;
    }
  };
  const deadline = Date.now() + bootTimeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`asterisk exited while booting:\n${output}`);
    try {
      await cli('core waitfullybooted');
      break;
    } catch {
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`asterisk not fully booted after ${bootTimeoutMs} ms:\n${output}`);
      }
      await new Promise((res) => setTimeout(res, 100));
    }
  }
  return {
    pid,
    output: () => output,
    log: (name) => {
      const p = join(dirs.log, name);
      return existsSync(p) ? readFileSync(p, 'utf8') : '';
    },
    cli,
    stop,
  };
}
