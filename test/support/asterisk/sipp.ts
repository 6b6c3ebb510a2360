/**
 * SIPp (sid's 3.8, built with TLS) from the chroot, run in a party's network namespace so that its packets
 * come from that party's address. The scenarios are the XML files next to this one; every run keeps its
 * message trace, which the tests read (status lines, headers, SDP).
 */
import { cpSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SID_ROOT } from './daemon';
import { runIn, type Network } from './netns';

export const SCENARIOS = join(__dirname, 'sipp');

export interface SippRun {
  readonly code: number | null;
  /** Every SIP message sent and received, in order. */
  readonly messages: readonly { dir: 'sent' | 'received'; text: string }[];
  readonly stderr: string;
}

export interface SippOptions {
  readonly scenario: string;
  /** Address SIPp binds and sends from (one of the party's). */
  readonly local: string;
  readonly localPort?: number;
  /** host:port */
  readonly remote: string;
  readonly transport: 'u1' | 'l1' | 'x1';
  /** WebSocket path (x1). */
  readonly wsPath?: string;
  /** Values of the scenario's [keyword]s (-key). */
  readonly keys?: Readonly<Record<string, string>>;
  /** Request-URI user ([service]). */
  readonly service?: string;
  readonly auth?: { readonly user: string; readonly password: string };
  readonly tls?: { readonly cert: string; readonly key: string; readonly version?: '1.2' | '1.3' };
  readonly timeoutMs?: number;
  /** How long SIPp waits for each expected message (default 3000): longer for the side of a call held for seconds. */
  readonly recvTimeoutMs?: number;
  /** Local RTP port (-mp; SIPp's default is 6000): parallel runs of one party need their own. */
  readonly mediaPort?: number;
  /** Calls to make or answer, all at once (-m and -l): a Jigasi stand-in taking several dial-in calls. @default 1 */
  readonly calls?: number;
}

let seq = 0;

/** work: a scratch directory (bound at /mnt in the chroot); TLS files must live under it. */
export async function sipp(net: Network, party: string, work: string, o: SippOptions): Promise<SippRun> {
  // A run that outlives its suite (a timed-out test) must not recreate the removed scratch directory.
  if (!existsSync(work)) throw new Error(`sipp: ${work} is gone (its suite has finished)`);
  const scen = join(work, 'scenarios');
  if (!existsSync(scen)) cpSync(SCENARIOS, scen, { recursive: true });
  mkdirSync(join(work, 'runs'), { recursive: true });
  const id = `${++seq}-${party}-${o.scenario.replace(/\.xml$/, '')}`;
  const inChroot = (p: string): string => {
    if (!p.startsWith(`${work}/`)) throw new Error(`${p} is not under ${work}`);
    return `/mnt/${p.slice(work.length + 1)}`;
  };
  const timeoutS = Math.ceil((o.timeoutMs ?? 6000) / 1000);
  const args = [
    o.remote,
    '-sf',
    `/mnt/scenarios/${o.scenario}`,
    '-m',
    String(o.calls ?? 1),
    '-l',
    String(o.calls ?? 1),
    '-nostdin',
    '-i',
    o.local,
    '-p',
    String(o.localPort ?? 5060),
    '-t',
    o.transport,
    '-timeout',
    `${timeoutS}s`,
    '-timeout_error',
    '-recv_timeout',
    String(o.recvTimeoutMs ?? 3000),
    '-max_recv_loops',
    '1000',
    '-trace_msg',
    '-message_file',
    `/mnt/runs/${id}.msg`,
    ...(o.service ? ['-s', o.service] : []),
    ...(o.mediaPort ? ['-mp', String(o.mediaPort)] : []),
    ...(o.wsPath ? ['-ws_path', o.wsPath] : []),
    ...(o.auth ? ['-au', o.auth.user, '-ap', o.auth.password] : []),
    ...(o.tls ? ['-tls_cert', inChroot(o.tls.cert), '-tls_key', inChroot(o.tls.key), ...(o.tls.version ? ['-tls_version', o.tls.version] : [])] : []),
    ...Object.entries(o.keys ?? {}).flatMap(([k, v]) => ['-key', k, v]),
  ];
  const script = `mount --bind "$1" ${SID_ROOT}/mnt && shift && exec chroot ${SID_ROOT} /usr/bin/sipp "$@" >/dev/null`;
  const r = await runIn(net, party, ['unshare', '--mount', '--propagation', 'private', '/bin/sh', '-c', script, 'sh', work, ...args], {
    timeoutMs: (o.timeoutMs ?? 6000) + 3000,
  });
  const file = join(work, 'runs', `${id}.msg`);
  const trace = existsSync(file) ? readFileSync(file, 'latin1') : '';
  return { code: r.code, messages: parseTrace(trace), stderr: r.stderr };
}

/** SIPp's -trace_msg file: blocks that say "message sent" or "message received", then the message. */
export function parseTrace(text: string): { dir: 'sent' | 'received'; text: string }[] {
  return text
    .split(/^-{20,}.*$/m)
    .map((b) => b.replace(/^\s+/, ''))
    .filter((b) => /message (sent|received)/.test(b.split('\n')[0] ?? ''))
    .map((b) => {
      const [head, ...rest] = b.split('\n');
      return { dir: /received/.test(head) ? ('received' as const) : ('sent' as const), text: rest.join('\n').replace(/^\s*\n/, '') };
    });
}

/** Status codes of the responses SIPp received, in order (provisional ones included). */
export function statuses(run: SippRun): number[] {
  return run.messages
    .filter((m) => m.dir === 'received')
    .flatMap((m) => {
      const s = /^SIP\/2\.0 (\d{3})/.exec(m.text);
      return s ? [Number(s[1])] : [];
    });
}

/** The last final (>= 200) status received, or undefined when nothing final came back. */
export function finalStatus(run: SippRun): number | undefined {
  return statuses(run)
    .filter((s) => s >= 200)
    .pop();
}

/** Requests SIPp received (e.g. the INVITE Asterisk sent to "Jigasi"). */
export function receivedRequests(run: SippRun, method: string): string[] {
  return run.messages.filter((m) => m.dir === 'received' && m.text.startsWith(`${method} `)).map((m) => m.text);
}

/** The Call-ID of the run's first request (Asterisk's security events carry it as SessionID). */
export function callId(run: SippRun): string {
  const sent = run.messages.find((m) => m.dir === 'sent');
  const id = sent && /^Call-ID: *(\S+)/im.exec(sent.text)?.[1];
  if (!id) throw new Error(`no Call-ID in what SIPp sent:\n${describeRun(run)}`);
  return id;
}

/** A human summary for failure messages. */
export function describeRun(run: SippRun): string {
  return `sipp exit ${run.code}; received ${JSON.stringify(statuses(run))}\n${run.stderr.slice(-800)}\n${run.messages.map((m) => `${m.dir}: ${m.text.split('\n')[0]}`).join('\n')}`;
}
