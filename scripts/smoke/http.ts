/**
 * HTTP(S) checks: the right app answers on HTTPS (Rocket.Chat's /api/info, Jitsi Meet's page or config.js) with
 * a trusted certificate, and plain HTTP redirects to https://<fqdn>.
 */
import * as http from 'node:http';
import { hostPort, isRecord, type CheckContext, type Outcome } from './check';
import { connectTls, judgeCertificate, type CertVerdict } from './tls';

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

const MAX_BODY = 512 * 1024;

function httpGet(ctx: CheckContext, options: http.RequestOptions, what: string): Promise<HttpResponse> {
  ctx.stage(`waiting for the response to ${what}`);
  return new Promise((resolve, reject) => {
    const req = http.request({ method: 'GET', ...options, signal: ctx.signal }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const done = (): void => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        size += chunk.length;
        // Enough to recognise the app; no need to download a huge page.
        if (size >= MAX_BODY) {
          done();
          req.destroy();
        }
      });
      res.once('end', done);
      // `on`, not `once`: an abort after a first error must not become an unhandled 'error' event.
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** GET over a fresh TLS connection to the IP; the certificate is judged before the request is sent. */
export async function httpsGet(ctx: CheckContext, ip: string, port: number, fqdn: string, path: string, ca: string | undefined): Promise<{ cert: CertVerdict; response?: HttpResponse }> {
  const socket = await connectTls(ctx, ip, port, fqdn, ca);
  const cert = judgeCertificate(socket, fqdn);
  if (!cert.ok) {
    socket.destroy();
    return { cert };
  }
  const response = await httpGet(
    ctx,
    {
      createConnection: () => socket,
      path,
      headers: { Host: fqdn, 'User-Agent': 'weebeetalk-smoke/1', Accept: '*/*', Connection: 'close' },
    },
    `GET https://${fqdn}${path}`,
  );
  socket.destroy();
  return { cert, response };
}

function statusHint(status: number): string {
  if (status === 502 || status === 503 || status === 504) return ' (proxy is up but the app behind it is not answering)';
  if (status === 404) return ' (wrong app or route)';
  return '';
}

export async function checkChatHttps(ctx: CheckContext, ip: string, port: number, fqdn: string, ca: string | undefined): Promise<Outcome> {
  const { cert, response } = await httpsGet(ctx, ip, port, fqdn, '/api/info', ca);
  if (!response) return { ok: false, detail: cert.detail };
  if (response.status !== 200) return { ok: false, detail: `GET /api/info -> HTTP ${response.status}${statusHint(response.status)}; ${cert.detail}` };
  let info: unknown;
  try {
    info = JSON.parse(response.body) as unknown;
  } catch {
    return { ok: false, detail: `GET /api/info did not return JSON (not Rocket.Chat?); ${cert.detail}` };
  }
  const version = isRecord(info) ? info.version : undefined;
  if ((typeof version !== 'string' || version === '') && typeof version !== 'number') {
    return { ok: false, detail: `GET /api/info JSON has no "version" (not Rocket.Chat?); ${cert.detail}` };
  }
  return { ok: true, detail: `Rocket.Chat ${version}; ${cert.detail}` };
}

export async function checkMeetHttps(ctx: CheckContext, ip: string, port: number, fqdn: string, ca: string | undefined): Promise<Outcome> {
  const home = await httpsGet(ctx, ip, port, fqdn, '/', ca);
  if (!home.response) return { ok: false, detail: home.cert.detail };
  if (home.response.status === 200 && home.response.body.includes('Jitsi Meet')) {
    return { ok: true, detail: `Jitsi Meet (GET / mentions it); ${home.cert.detail}` };
  }
  // Some skins drop the name from index.html; config.js is always served by Jitsi's web container.
  const config = await httpsGet(ctx, ip, port, fqdn, '/config.js', ca);
  if (config.response?.status === 200 && config.response.body.includes('hosts')) {
    return { ok: true, detail: `Jitsi Meet (GET /config.js has "hosts"); ${home.cert.detail}` };
  }
  const configStatus = config.response ? `HTTP ${config.response.status}` : 'no response';
  return {
    ok: false,
    detail: `not Jitsi Meet: GET / -> HTTP ${home.response.status}${statusHint(home.response.status)} without "Jitsi Meet", GET /config.js -> ${configStatus} without "hosts"; ${home.cert.detail}`,
  };
}

/** `https://fqdn` followed by the end, a port, a path, a query or a fragment (not `https://fqdn.evil`). */
export function isHttpsRedirectTo(location: string, fqdn: string): boolean {
  const prefix = `https://${fqdn}`.toLowerCase();
  const loc = location.toLowerCase();
  return loc.startsWith(prefix) && (loc.length === prefix.length || '/:?#'.includes(loc[prefix.length]));
}

export async function checkRedirect(ctx: CheckContext, ip: string, port: number, fqdn: string): Promise<Outcome> {
  ctx.stage(`connecting to ${hostPort(ip, port)}`);
  const res = await httpGet(ctx, { host: ip, port, path: '/', agent: false, headers: { Host: fqdn, 'User-Agent': 'weebeetalk-smoke/1', Connection: 'close' } }, `GET http://${fqdn}/`);
  const location = res.headers.location;
  if (![301, 302, 307, 308].includes(res.status)) {
    return { ok: false, detail: `GET http://${fqdn}/ -> HTTP ${res.status}, expected a 301/302/307/308 redirect to https://${fqdn}` };
  }
  if (location === undefined || !isHttpsRedirectTo(location, fqdn)) {
    return { ok: false, detail: `HTTP ${res.status} to ${location ?? '(no Location header)'}, expected https://${fqdn}/...` };
  }
  return { ok: true, detail: `HTTP ${res.status} -> ${location}` };
}
