/** The DNS check: the FQDN resolves (A record) to exactly its Elastic IP, through the chosen resolver. */
import { promises as dnsPromises } from 'node:dns';
import { errorCode, netErrorText, type CheckContext, type Outcome } from './check';

const DNS_ERRORS: Readonly<Record<string, string>> = {
  ENOTFOUND: 'NXDOMAIN: the name does not exist (record or zone delegation missing?)',
  ENODATA: 'the name exists but has no A record',
  ETIMEOUT: 'DNS server did not answer',
  ECONNREFUSED: 'DNS server refused the connection',
  ESERVFAIL: 'SERVFAIL from the DNS server (broken delegation or DNSSEC?)',
  EREFUSED: 'the DNS server refused the query',
};

export async function checkDns(ctx: CheckContext, fqdn: string, ip: string, resolverAddr: string | undefined, timeoutMs: number): Promise<Outcome> {
  // Two tries inside the check timeout: one lost UDP packet must not fail the check.
  const resolver = new dnsPromises.Resolver({ timeout: Math.max(50, Math.floor(timeoutMs / 2.5)), tries: 2 });
  if (resolverAddr !== undefined) resolver.setServers([resolverAddr]);
  const via = resolverAddr ?? `system resolver (${resolver.getServers().join(', ') || 'none configured'})`;
  const cancel = (): void => resolver.cancel();
  ctx.signal.addEventListener('abort', cancel, { once: true });
  ctx.stage(`querying ${via}`);
  try {
    const addresses = await resolver.resolve4(fqdn);
    if (addresses.length === 1 && addresses[0] === ip) return { ok: true, detail: `A ${ip} via ${via}` };
    if (addresses.includes(ip)) {
      const others = addresses.filter((a) => a !== ip);
      return { ok: false, detail: `A ${addresses.join(', ')}: besides ${ip} also ${others.join(', ')} (stale record?) via ${via}` };
    }
    return { ok: false, detail: `A ${addresses.join(', ') || '(none)'}, expected ${ip} (Elastic IP) via ${via}` };
  } catch (err) {
    const code = errorCode(err) ?? '';
    return { ok: false, detail: `${DNS_ERRORS[code] ?? netErrorText(err)} [${code || 'error'}] via ${via}` };
  } finally {
    ctx.signal.removeEventListener('abort', cancel);
  }
}
