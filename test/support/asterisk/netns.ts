/**
 * Network namespaces for the parties of a call, each with the addresses the plan gives it, joined by a
 * bridge in a hub namespace of its own. Nothing routes out: every address lives in a namespace created here,
 * and the hub has no uplink.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';

export interface Network {
  /** Namespace name of a party. */
  ns(party: string): string;
  /** Processes started in the namespaces (killed by PID on destroy). */
  track(child: ChildProcess): ChildProcess;
  destroy(): void;
}

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Namespaces of this kind (PREFIX-PID-party) left by a test process that was killed: removed. */
function reapStale(prefix: string): void {
  const base = prefix.replace(/-\d+$/, '');
  const listed = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  for (const line of listed.split('\n')) {
    const name = line.split(' ')[0];
    const m = new RegExp(`^${base}-(\\d+)-[a-z]+$`).exec(name);
    if (!m) continue;
    try {
      process.kill(Number(m[1]), 0);
    } catch {
      ip('netns', 'del', name);
    }
  }
}

/**
 * @param prefix unique per test file and run (namespace names are global): NAME-PID
 * @param parties party name (at most 5 characters) to its IPv4 addresses; the first is its source address
 */
export function createNetwork(prefix: string, parties: Readonly<Record<string, readonly string[]>>): Network {
  const hub = `${prefix}-hub`;
  const created: string[] = [];
  const children: ChildProcess[] = [];
  const name = (party: string): string => `${prefix}-${party}`;
  const destroy = (): void => {
    for (const c of children) {
      if (c.pid !== undefined && c.exitCode === null && c.signalCode === null) {
        try {
          process.kill(c.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
    for (const ns of created.reverse()) {
      try {
        ip('netns', 'del', ns);
      } catch {
        // already gone
      }
    }
    created.length = 0;
  };
  reapStale(prefix);
  try {
    ip('netns', 'add', hub);
    created.push(hub);
    ip('-n', hub, 'link', 'add', 'br0', 'type', 'bridge');
    ip('-n', hub, 'link', 'set', 'br0', 'up');
    for (const [party, addresses] of Object.entries(parties)) {
      if (party.length > 5) throw new Error(`party name ${party}: at most 5 characters (interface names)`);
      const ns = name(party);
      ip('netns', 'add', ns);
      created.push(ns);
      ip('-n', hub, 'link', 'add', `v-${party}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
      ip('-n', hub, 'link', 'set', `v-${party}`, 'master', 'br0', 'up');
      ip('-n', ns, 'link', 'set', 'lo', 'up');
      for (const a of addresses) ip('-n', ns, 'addr', 'add', `${a}/32`, 'dev', 'eth0');
      ip('-n', ns, 'link', 'set', 'eth0', 'up');
      // One segment, every address on-link: the parties answer ARP for their own addresses.
      ip('-n', ns, 'route', 'add', 'default', 'dev', 'eth0', 'src', addresses[0]);
    }
  } catch (e) {
    destroy();
    throw e;
  }
  return {
    ns: (party: string) => {
      if (!(party in parties)) throw new Error(`no party ${party}`);
      return name(party);
    },
    track: (child) => {
      children.push(child);
      return child;
    },
    destroy,
  };
}

export interface RunResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command in a party's namespace, bounded by timeoutMs (then SIGKILL by PID). */
export function runIn(net: Network, party: string, argv: readonly string[], opts: { timeoutMs: number; cwd?: string; input?: string }): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = net.track(spawn('ip', ['netns', 'exec', net.ns(party), ...argv], { cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] }));
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
    }, opts.timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    // A process that exits before reading its input must not fail the caller.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(opts.input ?? '');
  });
}
