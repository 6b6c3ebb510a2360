/**
 * TLS: a connection to the host's address with SNI = FQDN, verified by hand so that a bad certificate can still
 * be described (trust, names, expiry, a Let's Encrypt staging issuer).
 */
import { addAbortSignal } from 'node:stream';
import * as tls from 'node:tls';
import { hostPort, type CheckContext } from './check';

const VERIFY_ERRORS: Readonly<Record<string, string>> = {
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'chain does not lead to a trusted CA (missing intermediate or unknown issuer)',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'issuer is not a trusted CA (private/staging CA, or missing intermediate)',
  UNABLE_TO_GET_ISSUER_CERT: 'issuer certificate not found',
  SELF_SIGNED_CERT_IN_CHAIN: 'self-signed certificate in chain (untrusted root)',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'self-signed certificate (ACME issuance has not happened?)',
  CERT_HAS_EXPIRED: 'certificate has expired (renewal failing?)',
  CERT_NOT_YET_VALID: 'certificate is not yet valid (clock skew?)',
};

export interface CertVerdict {
  ok: boolean;
  /** e.g. "cert OK for chat.example.org (issuer R11), expires in 63 days (2025-03-01)". */
  detail: string;
}

export function connectTls(ctx: CheckContext, ip: string, port: number, servername: string, ca: string | undefined): Promise<tls.TLSSocket> {
  ctx.stage(`connecting to ${hostPort(ip, port)} (TLS, SNI ${servername})`);
  return new Promise((resolve, reject) => {
    // Verification is done by hand below so a bad certificate can still be described (names, expiry).
    const socket = tls.connect({ host: ip, port, servername, ca, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] });
    addAbortSignal(ctx.signal, socket);
    socket.on('error', () => undefined); // errors after the handshake surface through the HTTP request or abort
    socket.once('error', reject);
    socket.once('secureConnect', () => {
      socket.removeListener('error', reject);
      resolve(socket);
    });
  });
}

/** Certificate trust (chain + hostname) and expiry, judged for `fqdn`. */
export function judgeCertificate(socket: tls.TLSSocket, fqdn: string, now = new Date()): CertVerdict {
  const cert = socket.getPeerCertificate();
  if (!cert || Object.keys(cert).length === 0) return { ok: false, detail: 'server presented no certificate' };
  const problems: string[] = [];
  const authError = socket.authorized ? undefined : String(socket.authorizationError);
  if (authError !== undefined && authError !== 'ERR_TLS_CERT_ALTNAME_INVALID') {
    problems.push(`untrusted: ${VERIFY_ERRORS[authError] ?? authError} [${authError}]`);
  }
  if (tls.checkServerIdentity(fqdn, cert) !== undefined) {
    const names = cert.subjectaltname || `CN=${cert.subject?.CN ?? '?'}`;
    problems.push(`certificate is not valid for ${fqdn} (it covers ${names})`);
  }
  const validTo = new Date(cert.valid_to);
  const days = Math.floor((validTo.getTime() - now.getTime()) / 86_400_000);
  const date = Number.isNaN(validTo.getTime()) ? cert.valid_to : validTo.toISOString().slice(0, 10);
  // Let's Encrypt renews 30 days ahead: under 14 days left means renewal is not happening.
  const expiry = days < 0 ? `expired ${-days} days ago (${date})` : `expires in ${days} days (${date})${days < 14 ? ', renewal overdue?' : ''}`;
  const issuer = [cert.issuer?.O, cert.issuer?.CN].filter(Boolean).join(' ') || 'unknown issuer';
  const staging = /staging|fake/i.test(issuer) ? " — a Let's Encrypt STAGING certificate" : '';
  if (problems.length > 0) return { ok: false, detail: `${problems.join('; ')}; issuer ${issuer}${staging}; ${expiry}` };
  return { ok: true, detail: `cert OK for ${fqdn} (issuer ${issuer}), ${expiry}` };
}
