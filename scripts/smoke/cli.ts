/** The smoke CLI: arguments, the usage text, the result table or JSON, and the exit code. */
import { parseArgs } from 'node:util';
import { DIAL_IN_MAPPER_PORT, DIAL_IN_PUBLIC_PATHS, DIAL_IN_ROUTES, PIN_DIGITS, XMPP_MUC_DOMAIN } from '../../config/dial-in';
import { CHECK_NAMES, DEFAULTS, errorText, UsageError, type SmokeOptions, type SmokeReport, type Status } from './check';
import { CLOSED_PORT_WAIT_MS, PROBE_PIN } from './dial-in';
import { runSmoke } from './run';
import { TURN_SECRET_ENV } from './turn';

export const USAGE = `Usage: npm run smoke -- <env> [options]
       tsx scripts/smoke.ts <env> [options]

Post-deploy smoke check for a WeeBeeTalk stack: run it after \`cdktf deploy <env>\`.
It reads the stack outputs chat_fqdn, meet_fqdn, pbx_fqdn, turn_fqdn, chat_public_ip,
meet_public_ip, pbx_public_ip and turn_public_ip, then runs these checks in parallel
(one table row each):

  dns            chat, meet, pbx, turn: the FQDN resolves (A record) to exactly its Elastic IP
  https          chat, meet: TLS to <public ip>:443 with SNI = FQDN; the certificate must be trusted
                 and valid for the FQDN (days to expiry are shown), and the right app must answer:
                 chat: GET /api/info returns JSON with "version" (Rocket.Chat)
                 meet: GET / contains "Jitsi Meet", or GET /config.js contains "hosts"
                 (a port in meet_url/chat_url, e.g. Jitsi on 8443, is used instead of 443)
  http-redirect  chat, meet: GET http://<fqdn>/ on <public ip>:80 answers 301/302/307/308
                 with a Location starting https://<fqdn>
  meet-dial-in   meet, with Jigasi (jitsi.jigasi): over HTTPS as for https, the invite dialog's
                 questions: GET ${DIAL_IN_PUBLIC_PATHS.conferenceCode}?conference=
                 weebeetalk-smoke-<8 hex>@${XMPP_MUC_DOMAIN} must answer JSON with that "conference"
                 and an "id" of ${PIN_DIGITS} digits ending in the Luhn check digit (the meeting's PIN);
                 GET ${DIAL_IN_PUBLIC_PATHS.numbers} must list exactly sip.dialIn.numbers (none is fine:
                 the invite then shows no dial-in)
  meet-dial-in-closed
                 meet, with Jigasi: tcp/${DIAL_IN_MAPPER_PORT} (the conference mapper, for the pbx host only) on
                 <public ip> must not accept a connection (refused, or no answer within ${CLOSED_PORT_WAIT_MS} ms),
                 and GET ${DIAL_IN_ROUTES.room}?pin=${PROBE_PIN} must be Jitsi's page, never the mapper's answer
                 (found:..., invalid, not-running, ...)
  sip            pbx: a SIP OPTIONS request over UDP to <public ip>:5060; any SIP/2.0 response
                 (200, 401, 403, ...) passes: it proves Asterisk is listening
  sip-tls        pbx: TLS handshake to <public ip>:5061 with SNI = FQDN; certificate as for https
  turn-tls       turn: TLS 1.2 or 1.3 handshake to <public ip>:443 with SNI = FQDN; certificate as
                 for https
  turn-allocate  turn: TURN over TLS on <public ip>:443: an Allocate (UDP relay) must be refused
                 with 401 and a nonce, then succeed with credentials made from the shared secret
                 as Prosody makes them (username = expiry, password = HMAC-SHA1 of it); the
                 relayed address is shown and the allocation released (Refresh, lifetime 0).
                 Skipped when no secret can be had (see --turn-secret-parameter)

A stack without a TURN relay (turn.enabled off, as in staging) has no turn_fqdn/turn_public_ip
outputs: the turn checks are skipped, not failed. The dial-in checks read jitsi.jigasi and
sip.dialIn.numbers from the environment's file: skipped when Jigasi is off or there is no file.

With --browser, after those (one after the other, each within --browser-timeout):

  meet-browser   meet: two headless Chromium participants (fake camera and microphone) join a new
                 room wbt-smoke-<8 hex> at https://<meet fqdn>/ with tokens signed by the JWT secret
                 (iss = <ssm_parameter_prefix>/meet/jwt-app-id, aud = --jwt-audience), peer-to-peer
                 off: passes when each receives audio and video through the bridge (inbound RTP
                 packet and byte counters rising between two samples 2 s apart)
  meet-browser-turn
                 meet: the same with relay-only ICE (config.forceTurnRelay): media must flow and
                 every participant's selected candidate be a relay one. Skipped without a TURN relay

SIP IS NOT OPEN TO THE WORLD: the security group admits udp/5060 only from the SIP trunk
CIDRs (sip.trunkSignallingCidrs) and tcp/5061 only from the SIP client CIDRs (sip.clientCidrs).
From anywhere else these checks time out: run them from an allowed network, or skip them
with --skip sip,sip-tls.

Options:
  --outputs <file>        stack outputs JSON, as written by
                          \`cdktf output <env> --outputs-file <file>\`: {"<env>": {...}} or a flat
                          {"chat_fqdn": ...} object (camelCase keys are fine). Without it the tool
                          runs \`npx cdktf output <env> --outputs-file <tmp>\` (CHECKPOINT_DISABLE=1).
  --resolver <ip[:port]>  DNS server to ask, e.g. 1.1.1.1 or 127.0.0.1:5353
                          (default: the system resolver configuration)
  --timeout <ms>          per-check timeout (default ${DEFAULTS.timeoutMs})
  --skip <checks>         comma-separated checks to skip: ${CHECK_NAMES.join(', ')};
                          or one component of a check, e.g. https:meet, dns:pbx
  --json                  print the results as JSON instead of a table
  --ca <pem file>         trust only the CA certificates in this file instead of the default
                          CA store (for private or test CAs)
  --https-port <n>        HTTPS port (default ${DEFAULTS.httpsPort})
  --http-port <n>         HTTP port for the redirect check (default ${DEFAULTS.httpPort})
  --sip-port <n>          SIP UDP port (default ${DEFAULTS.sipPort})
  --sips-port <n>         SIP TLS port (default ${DEFAULTS.sipsPort})
  --turn-port <n>         TURN over TLS port (default ${DEFAULTS.turnPort})
  --turn-secret-parameter <name>
                          SSM parameter holding the TURN secret (coturn's static-auth-secret), read
                          with \`aws ssm get-parameter --with-decryption\`. Without it the secret is
                          taken from the environment variable ${TURN_SECRET_ENV}, else from the
                          parameter <ssm_parameter_prefix output>/turn/static-auth-secret if the aws
                          CLI can read it. The secret and the password are never printed.
  --browser               two headless Chromium participants join a meeting and must receive
                          audio and video (meet-browser, meet-browser-turn). Needs /usr/bin/chromium
                          (Debian's chromium) and AWS credentials that may read
                          <ssm_parameter_prefix>/meet/jwt-app-id and meet/jwt-app-secret (aws ssm
                          get-parameter --with-decryption); the secret and the tokens are never printed
  --jwt-audience <aud>    the tokens' audience: jitsi.security.tokenAudience (default: the
                          environment file's, else ${DEFAULTS.jwtAudience})
  --browser-timeout <ms>  each browser check's budget (default ${DEFAULTS.browserTimeoutMs})
  --chromium <path>       the browser (default /usr/bin/chromium)
  -h, --help              show this help

Certificates are verified against Node's CA store (Mozilla roots, plus NODE_EXTRA_CA_CERTS).

Exit status: 0 every check that ran passed, 1 at least one check failed,
2 usage error or unusable outputs (nothing was checked).

Examples:
  npm run smoke -- production
  npm run smoke -- staging --skip sip,sip-tls --json
  npm run smoke -- production --outputs outputs.json --resolver 1.1.1.1
  npm run smoke -- production --turn-secret-parameter /weebeetalk/production/turn/static-auth-secret
  npm run smoke -- production --skip turn-allocate
  npm run smoke -- staging --browser
`;

export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  color?: boolean;
  /** Where WBT_TURN_SECRET is read (default process.env). */
  env?: NodeJS.ProcessEnv;
}

const defaultIo: CliIo = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
  color: Boolean(process.stdout.isTTY) && process.env.NO_COLOR === undefined,
};

export function formatTable(report: SmokeReport, color = false): string {
  const paint = (status: Status): string => {
    if (!color) return status;
    const code = status === 'PASS' ? 32 : status === 'FAIL' ? 31 : 33;
    return `\u001b[${code}m${status}\u001b[0m`;
  };
  const header = ['CHECK', 'TARGET', 'RESULT', 'DETAIL'];
  const rows = report.results.map((r) => [r.check, r.target, r.status, r.detail]);
  const widths = [0, 1, 2].map((i) => Math.max(header[i].length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[], status?: Status): string =>
    [cells[0].padEnd(widths[0]), cells[1].padEnd(widths[1]), status ? paint(status) + ' '.repeat(widths[2] - status.length) : cells[2].padEnd(widths[2]), cells[3]].join('  ').trimEnd();
  const count = (s: Status): number => report.results.filter((r) => r.status === s).length;
  const summary = `${count('PASS')} passed, ${count('FAIL')} failed, ${count('SKIP')} skipped${report.env ? ` (${report.env})` : ''}: ${report.exitCode === 0 ? 'OK' : 'FAILED'}`;
  return [line(header), ...report.results.map((r, i) => line(rows[i], r.status)), '', summary, ''].join('\n');
}

function parseIntOption(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new UsageError(`${name} must be a whole number, got "${value}"`);
  return Number(value);
}

/** Parses argv (without node and the script). Returns undefined for --help. */
export function parseCli(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): { options: SmokeOptions; json: boolean } | undefined {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        outputs: { type: 'string' },
        resolver: { type: 'string' },
        timeout: { type: 'string' },
        skip: { type: 'string', multiple: true },
        json: { type: 'boolean' },
        ca: { type: 'string' },
        'https-port': { type: 'string' },
        'http-port': { type: 'string' },
        'sip-port': { type: 'string' },
        'sips-port': { type: 'string' },
        'turn-port': { type: 'string' },
        'turn-secret-parameter': { type: 'string' },
        browser: { type: 'boolean' },
        'jwt-audience': { type: 'string' },
        'browser-timeout': { type: 'string' },
        chromium: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    throw new UsageError(errorText(err));
  }
  const { values, positionals } = parsed;
  if (values.help) return undefined;
  if (positionals.length > 1) throw new UsageError(`expected one environment name, got: ${positionals.join(' ')}`);
  const parameter = values['turn-secret-parameter'];
  if (parameter !== undefined && !/^[A-Za-z0-9_./][A-Za-z0-9_./-]*$/.test(parameter)) {
    throw new UsageError(`--turn-secret-parameter must be an SSM parameter name such as /weebeetalk/production/turn/static-auth-secret, got "${parameter}"`);
  }
  // The named parameter wins over the environment variable.
  const envSecret = parameter === undefined && env[TURN_SECRET_ENV] !== undefined && env[TURN_SECRET_ENV] !== '' ? env[TURN_SECRET_ENV] : undefined;
  return {
    json: values.json ?? false,
    options: {
      env: positionals[0],
      outputsFile: values.outputs,
      resolver: values.resolver,
      timeoutMs: parseIntOption(values.timeout, '--timeout'),
      skip: values.skip,
      caFile: values.ca,
      httpsPort: parseIntOption(values['https-port'], '--https-port'),
      httpPort: parseIntOption(values['http-port'], '--http-port'),
      sipPort: parseIntOption(values['sip-port'], '--sip-port'),
      sipsPort: parseIntOption(values['sips-port'], '--sips-port'),
      turnPort: parseIntOption(values['turn-port'], '--turn-port'),
      turnSecretParameter: parameter,
      turnSecret: envSecret,
      browser: values.browser,
      jwtAudience: values['jwt-audience'],
      browserTimeoutMs: parseIntOption(values['browser-timeout'], '--browser-timeout'),
      chromiumPath: values.chromium,
    },
  };
}

/** The whole CLI: returns the exit code (0 pass, 1 a check failed or crashed, 2 usage error). */
export async function main(argv: readonly string[], io: CliIo = defaultIo): Promise<number> {
  try {
    const cli = parseCli(argv, io.env ?? process.env);
    if (cli === undefined) {
      io.out(USAGE);
      return 0;
    }
    const report = await runSmoke(cli.options);
    io.out(cli.json ? `${JSON.stringify(report, null, 2)}\n` : formatTable(report, io.color ?? false));
    return report.exitCode;
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`smoke: ${err.message}\nRun with --help for usage.\n`);
      return 2;
    }
    io.err(`smoke: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return 1;
  }
}
