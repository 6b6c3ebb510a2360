/**
 * The real dial-in mapper (userdata/meet/scripts/dial-in-mapper.py, the host's python3) and a stand-in for
 * Prosody's mod_muc_census whose room list a test sets. Processes are killed by PID on stop.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { DialInMapperConfig } from '../../config/dial-in';

export const MAPPER_SCRIPT = join(__dirname, '..', '..', 'userdata', 'meet', 'scripts', 'dial-in-mapper.py');

export interface CensusRoom {
  readonly room_name: string;
  readonly participants: number;
}

/** What Prosody's /room-census answers: { room_census: [...] }; `broken` answers 500, `garbage` unparsable JSON. */
export interface CensusStandIn {
  readonly url: string;
  set(rooms: readonly CensusRoom[] | 'broken' | 'garbage'): void;
  /** How many times the census was asked. */
  readonly asked: number;
  close(): Promise<void>;
}

export async function censusStandIn(host = '127.0.0.1', port = 0): Promise<CensusStandIn> {
  let state: readonly CensusRoom[] | 'broken' | 'garbage' = [];
  let asked = 0;
  const server: Server = createServer((req, res) => {
    asked++;
    if (req.url !== '/room-census') return void res.writeHead(404).end();
    if (state === 'broken') return void res.writeHead(500).end('error');
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(state === 'garbage' ? '{"room_census": [' : JSON.stringify({ room_census: state }));
  });
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  const { port: bound } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${bound}/room-census`,
    set: (rooms) => void (state = rooms),
    get asked() {
      return asked;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export interface RunningMapper {
  /** host:port it listens on. */
  readonly address: string;
  /** What it wrote to stderr (one line per answer). */
  stderr(): string;
  stop(): void;
}

/** Writes the configuration next to `dir` and starts the mapper; resolves once it listens. */
export async function startMapper(dir: string, config: DialInMapperConfig, prefix: readonly string[] = []): Promise<RunningMapper> {
  const file = join(dir, 'dial-in-mapper.json');
  writeFileSync(file, JSON.stringify(config));
  const [cmd, ...args] = [...prefix, 'python3', MAPPER_SCRIPT, '--config', file];
  const child: ChildProcess = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const stop = (): void => {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  const address = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`dial-in mapper did not start within 5 s:\n${err}`));
    }, 5000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`dial-in mapper exited ${code}:\n${err}`));
    });
    const poll = setInterval(() => {
      const m = /^dial-in mapper on (\S+) /m.exec(err);
      if (m) {
        clearInterval(poll);
        clearTimeout(timer);
        child.removeAllListeners('exit');
        resolve(m[1]);
      }
    }, 20);
    timer.unref();
  });
  return { address, stderr: () => err, stop };
}

/** `dial-in-mapper.py --config FILE --pin-of ROOM`: the PIN the mapper derives for a room. */
export function pinOf(dir: string, config: DialInMapperConfig, room: string): string {
  const file = join(dir, 'dial-in-mapper-pin.json');
  writeFileSync(file, JSON.stringify(config));
  const r = spawnSync('python3', [MAPPER_SCRIPT, '--config', file, '--pin-of', room], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`--pin-of ${room}: exit ${r.status}: ${r.stderr}`);
  return r.stdout.trim();
}
