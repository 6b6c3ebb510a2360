/**
 * Media through a real browser, shared by the smoke check's browser mode (browser.ts: two Jitsi participants) and its
 * loopback test (test/smoke-browser.test.ts: two peers in one local page): Debian's Chromium driven by playwright-core
 * (which never downloads a browser), a recorder of every RTCPeerConnection a page creates, the inbound RTP counters
 * read from getStats(), sampled twice, and the verdict: each participant must receive audio and video (packetsReceived
 * and bytesReceived rising for both kinds), through the TURN relay when that is asked for.
 */
import { existsSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { errorText, type Outcome } from './check';

/** Debian's package `chromium` (scripts/setup.sh installs it). */
export const CHROMIUM = '/usr/bin/chromium';

export const IS_ROOT = typeof process.getuid === 'function' && process.getuid() === 0;

/**
 * The flags every participant's browser gets. Fake camera and microphone (a test pattern and a beep) without a
 * permission prompt. `--no-sandbox` only as root: Chromium refuses to start as root with its sandbox (its setuid and
 * user-namespace sandbox is built to drop from an ordinary user, and it exits with "Running as root without
 * --no-sandbox is not supported"); CI and this machine run as root, an operator's laptop keeps the sandbox.
 * playwright-core adds its own defaults, among them --disable-background-networking, --disable-component-update,
 * --disable-sync and --no-first-run: the browser calls nothing home.
 */
export function chromiumArgs(extra: readonly string[] = []): string[] {
  return ['--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream', ...(IS_ROOT ? ['--no-sandbox'] : []), ...extra];
}

export interface LaunchOptions {
  executablePath?: string;
  /** Flags added to chromiumArgs() (the loopback test adds its loopback-only ones). */
  args?: readonly string[];
  timeoutMs?: number;
}

/** Why the browser cannot run here, or undefined when it can. */
export function chromiumMissing(executablePath = CHROMIUM): string | undefined {
  return existsSync(executablePath) ? undefined : `no ${executablePath} (Debian's chromium: apt-get install chromium, or bash scripts/setup.sh)`;
}

/** Headless Chromium with the participants' flags; playwright-core is loaded only here (the other checks never pay for it). */
export async function launchChromium(options: LaunchOptions = {}): Promise<Browser> {
  const executablePath = options.executablePath ?? CHROMIUM;
  const missing = chromiumMissing(executablePath);
  if (missing !== undefined) throw new Error(missing);
  const { chromium } = await import('playwright-core');
  return chromium.launch({ executablePath, headless: true, args: chromiumArgs(options.args), timeout: options.timeoutMs ?? 30_000 });
}

/**
 * Runs in the page before its own scripts (context.addInitScript): every RTCPeerConnection the page creates is kept
 * in window.__wbtPeerConnections, in creation order. It does not depend on the application's internals: Jitsi's
 * bridge connection (lib-jitsi-meet's TraceablePeerConnection wraps a plain `new RTCPeerConnection`) is recorded the
 * same way as the loopback page's two peers.
 */
export const PEER_CONNECTION_RECORDER = `(() => {
  if (window.__wbtPeerConnections) return;
  const recorded = [];
  Object.defineProperty(window, '__wbtPeerConnections', { value: recorded });
  const Native = window.RTCPeerConnection;
  if (typeof Native !== 'function') return;
  class RecordedPeerConnection extends Native {
    constructor(...args) {
      super(...args);
      recorded.push(this);
    }
  }
  window.RTCPeerConnection = RecordedPeerConnection;
  if (window.webkitRTCPeerConnection) window.webkitRTCPeerConnection = RecordedPeerConnection;
})();`;

export type MediaKind = 'audio' | 'video';
export const MEDIA_KINDS: readonly MediaKind[] = ['audio', 'video'];

export interface Counter {
  packets: number;
  bytes: number;
  /** inbound-rtp entries of that kind. */
  streams: number;
}

export interface SelectedPair {
  local?: string;
  remote?: string;
  /** The local candidate's transport (udp/tcp) and, for a relay candidate, how it reaches the relay (udp/tcp/tls). */
  protocol?: string;
  relayProtocol?: string;
}

/** One peer connection's part of a sample (what the page returns). */
export interface PeerSample {
  index: number;
  connectionState: string;
  audio: Counter;
  video: Counter;
  pair?: SelectedPair;
  error?: string;
}

/**
 * Runs in the page: for each recorded peer connection (or only those at `indices`), the sums of the inbound-rtp
 * counters per kind and the selected candidate pair's types (the transport's selectedCandidatePairId, else the
 * nominated succeeded pair). Returned as plain JSON.
 */
export const READ_PEER_STATS = `async (indices) => {
  const pcs = window.__wbtPeerConnections || [];
  const out = [];
  for (let index = 0; index < pcs.length; index++) {
    if (indices && !indices.includes(index)) continue;
    const pc = pcs[index];
    const entry = { index, connectionState: pc.connectionState, audio: { packets: 0, bytes: 0, streams: 0 }, video: { packets: 0, bytes: 0, streams: 0 } };
    out.push(entry);
    if (pc.connectionState === 'closed') continue;
    let report;
    try {
      report = await pc.getStats();
    } catch (e) {
      entry.error = String(e);
      continue;
    }
    const byId = new Map();
    report.forEach((s) => byId.set(s.id, s));
    let pairId;
    report.forEach((s) => {
      if (s.type === 'inbound-rtp' && (s.kind === 'audio' || s.kind === 'video')) {
        const c = entry[s.kind];
        c.packets += s.packetsReceived || 0;
        c.bytes += s.bytesReceived || 0;
        c.streams += 1;
      }
      if (s.type === 'transport' && s.selectedCandidatePairId && pairId === undefined) pairId = s.selectedCandidatePairId;
    });
    let pair = pairId === undefined ? undefined : byId.get(pairId);
    if (!pair) report.forEach((s) => { if (!pair && s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') pair = s; });
    if (pair) {
      const local = byId.get(pair.localCandidateId) || {};
      const remote = byId.get(pair.remoteCandidateId) || {};
      entry.pair = { local: local.candidateType, remote: remote.candidateType, protocol: local.protocol, relayProtocol: local.relayProtocol };
    }
  }
  return out;
}`;

/** Who receives: a page, and which of its recorded peer connections are this participant's (default: all of them). */
export interface Participant {
  name: string;
  page: Page;
  peerConnections?: number[];
}

export interface ParticipantSample {
  name: string;
  at: number;
  peers: PeerSample[];
  audio: Counter;
  video: Counter;
}

function sum(peers: readonly PeerSample[], kind: MediaKind): Counter {
  return peers.reduce((acc, p) => ({ packets: acc.packets + p[kind].packets, bytes: acc.bytes + p[kind].bytes, streams: acc.streams + p[kind].streams }), { packets: 0, bytes: 0, streams: 0 });
}

export async function sampleParticipant(p: Participant, now: () => number = Date.now): Promise<ParticipantSample> {
  const peers = (await p.page.evaluate(`(${READ_PEER_STATS})(${JSON.stringify(p.peerConnections ?? null)})`)) as PeerSample[];
  return { name: p.name, at: now(), peers, audio: sum(peers, 'audio'), video: sum(peers, 'video') };
}

export interface JudgeOptions {
  /** Every connected peer connection's selected pair must have a relay candidate on this side (TURN). */
  requireRelay?: boolean;
}

function delta(a: Counter, b: Counter): string {
  return `packetsReceived ${a.packets} -> ${b.packets}, bytesReceived ${a.bytes} -> ${b.bytes}`;
}

/**
 * The verdict on two samples of the same participants: each must have received audio and video in between (both
 * counters rising for both kinds) and, with requireRelay, over a relay candidate. A failure names the participant and
 * the kind, one clause each; a pass shows what each received.
 */
export function judgeMedia(first: readonly ParticipantSample[], second: readonly ParticipantSample[], options: JudgeOptions = {}): Outcome {
  const problems: string[] = [];
  const received: string[] = [];
  for (const before of first) {
    const after = second.find((s) => s.name === before.name);
    if (after === undefined) {
      problems.push(`${before.name}: no second sample`);
      continue;
    }
    const seconds = ((after.at - before.at) / 1000).toFixed(1);
    if (after.peers.length === 0) {
      problems.push(`${after.name} has no peer connection (it never started media)`);
      continue;
    }
    const states = [...new Set(after.peers.map((p) => p.connectionState))].join('/');
    const parts: string[] = [];
    for (const kind of MEDIA_KINDS) {
      const a = before[kind];
      const b = after[kind];
      if (b.streams === 0) problems.push(`${after.name} received no ${kind}: no inbound ${kind} RTP stream (peer connection ${states})`);
      else if (!(b.packets > a.packets && b.bytes > a.bytes)) problems.push(`${after.name} received no ${kind}: inbound-rtp ${delta(a, b)} over ${seconds} s (peer connection ${states})`);
      else parts.push(`${kind} +${b.packets - a.packets} pkt`);
    }
    if (options.requireRelay) {
      const live = after.peers.filter((p) => p.connectionState === 'connected');
      const direct = live.filter((p) => p.pair?.local !== 'relay');
      if (live.length === 0) problems.push(`${after.name}: no connected peer connection to show the relay`);
      else if (direct.length > 0) {
        const pair = direct[0].pair;
        problems.push(`${after.name}'s media did not go through the TURN relay: the selected candidate pair is ${pair?.local ?? '?'} -> ${pair?.remote ?? '?'}, not relay`);
      } else parts.push(`relay over ${live[0].pair?.relayProtocol ?? live[0].pair?.protocol ?? '?'}`);
    }
    received.push(`${after.name}: ${parts.join(', ')} in ${seconds} s`);
  }
  return problems.length > 0 ? { ok: false, detail: problems.join('; ') } : { ok: true, detail: received.join('; ') };
}

export interface MeasureOptions {
  /** How long to wait for every participant's peer connection to be connected (bounded; then it is judged as it is). */
  connectTimeoutMs?: number;
  /** Time between the two samples. */
  intervalMs?: number;
  signal?: AbortSignal;
  stage?(text: string): void;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(signal.reason as Error);
      },
      { once: true },
    );
  });
}

/**
 * Waits (bounded) until each participant has a connected peer connection, samples everyone, waits intervalMs,
 * samples again and judges. What the smoke check's browser mode and the loopback test both run.
 */
export async function measureMedia(participants: readonly Participant[], options: MeasureOptions & JudgeOptions = {}): Promise<Outcome> {
  const deadline = Date.now() + (options.connectTimeoutMs ?? 15_000);
  options.stage?.('waiting for every participant to connect its media');
  for (;;) {
    const samples = await Promise.all(participants.map((p) => sampleParticipant(p)));
    if (samples.every((s) => s.peers.some((peer) => peer.connectionState === 'connected')) || Date.now() >= deadline) break;
    await sleep(250, options.signal);
  }
  options.stage?.('sampling inbound RTP');
  const first = await Promise.all(participants.map((p) => sampleParticipant(p)));
  await sleep(options.intervalMs ?? 2000, options.signal);
  const second = await Promise.all(participants.map((p) => sampleParticipant(p)));
  return judgeMedia(first, second, options);
}

/**
 * A browser error as one line (playwright's carry a multi-line call log), safe to print: playwright names the URL it
 * was opening, and a meeting URL carries a bearer token (`?jwt=`). Every URL keeps only its origin and path, and
 * anything shaped like a JWT left over becomes <token>.
 */
export function browserErrorText(err: unknown): string {
  return errorText(err)
    .split('\n')[0]
    .trim()
    .replace(/\b(https?:\/\/[^\s?#]*)[?#]\S*/g, '$1')
    .replace(/eyJ[\w-]*\.[\w-]*\.[\w-]*/g, '<token>');
}
