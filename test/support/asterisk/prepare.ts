/**
 * /etc/asterisk as the pbx host ends up with it: the files asterisk.sh renders from the plan's write_files
 * (Elastic IP put in), pjsip.auth.conf written by the real userdata/pbx/scripts/asterisk-auth.sh against an SSM
 * stand-in holding known test passwords, and pjsip.tls.conf from its .pending file with a certificate signed
 * by a test CA at the paths the file names (where certbot's deploy hook puts Let's Encrypt's).
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { scriptPath } from '../../../userdata/script-files';
import { ASTERISK_SRC, parseConf, planFile, renderPublicIp, values, type PbxPlan } from './plan';

export interface PreparedPbx {
  readonly etc: string;
  readonly log: string;
  /** /etc/hosts for the chroot: this machine's host name, locally (the namespaces have no DNS). */
  readonly hosts: string;
  /** Test passwords by SSM parameter name. */
  readonly passwords: Readonly<Record<string, string>>;
  /** The test CA (PEM file) that signed Asterisk's certificate. */
  readonly caFile: string;
  /** A client certificate and key for SIPp's TLS (SIPp loads one even as a client). */
  readonly clientCert: string;
  readonly clientKey: string;
}

/** The files asterisk.sh renders into /etc/asterisk (its loop over the generated *.conf), from the plan. */
export function renderedByAsteriskSh(plan: PbxPlan): string[] {
  const text = readFileSync(scriptPath('asterisk'), 'utf8');
  if (!/^for path in "\$\{src\}"\/\*\.conf; do\n\s+f=\$\{path##\*\/\}\n\s+render "\$path" > "\$\{conf\}\/\$\{f\}"/m.test(text)) {
    throw new Error('asterisk.sh: its loop rendering ${src}/*.conf changed: update test/support/asterisk/prepare.ts');
  }
  return [...plan.files.keys()].filter((p) => p.startsWith(`${ASTERISK_SRC}/`) && p.endsWith('.conf') && !p.slice(ASTERISK_SRC.length + 1).includes('/')).map((p) => p.slice(ASTERISK_SRC.length + 1));
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Where a path under /etc/asterisk lives in the test's copy. */
function inEtc(etc: string, path: string): string {
  if (!path.startsWith('/etc/asterisk/')) throw new Error(`${path} is outside /etc/asterisk: the compose file mounts only that`);
  return join(etc, path.slice('/etc/asterisk/'.length));
}

export function preparePbx(plan: PbxPlan, work: string, publicIp: string): PreparedPbx {
  const etc = join(work, 'etc');
  const log = join(work, 'log');
  const pki = join(work, 'pki');
  for (const d of [etc, log, pki]) mkdirSync(d, { recursive: true });
  const hosts = join(work, 'hosts');
  writeFileSync(hosts, `127.0.0.1 localhost\n${plan.privateIp.pbx} ${hostname()} ${plan.hostEnv.FQDN}\n`);
  for (const f of renderedByAsteriskSh(plan)) writeFileSync(join(etc, f), renderPublicIp(planFile(plan, `${ASTERISK_SRC}/${f}`), publicIp));

  // pjsip.auth.conf by the real script, with the host's settings and an SSM that knows the plan's names.
  const h = plan.hostEnv;
  const passwords: Record<string, string> = {};
  plan.ssmParameters.forEach((name, i) => (passwords[name] = `test-${i}-${name.split('/').pop()}-Pw9`));
  const ssm = join(work, 'ssm.tsv');
  writeFileSync(
    ssm,
    Object.entries(passwords)
      .map(([n, v]) => `${n}\t${v}\n`)
      .join(''),
  );
  const bin = join(work, 'bin');
  mkdirSync(bin, { recursive: true });
  execFileSync('ln', ['-sf', join(__dirname, 'aws-ssm-standin.sh'), join(bin, 'aws')]);
  // Beside lib.sh, as on the host (/usr/local/lib/weebeetalk): the repository keeps them in different folders.
  const lib = join(work, 'lib');
  mkdirSync(lib, { recursive: true });
  for (const name of ['lib', 'asterisk-auth']) copyFileSync(scriptPath(name), join(lib, `${name}.sh`));
  execFileSync('bash', [join(lib, 'asterisk-auth.sh'), join(etc, 'pjsip.auth.conf')], {
    env: {
      PATH: `${bin}:/usr/bin:/bin`,
      ...h,
      WBT_TEST_SSM: ssm,
      WBT_TEST_SSM_REGION: h.AWS_REGION,
      WBT_TEST_SSM_GRANT: h.SSM_PREFIX,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
    // ssm_secret retries for a minute: a wrong name must fail the test quickly, with its message.
    timeout: 8000,
  });

  // The TLS transport as asterisk.sh enables it once certbot has a certificate.
  const tls = renderPublicIp(planFile(plan, `${ASTERISK_SRC}/pjsip.tls.conf.pending`), publicIp);
  writeFileSync(join(etc, 'pjsip.tls.conf'), tls);
  const sections = parseConf(tls);
  const [certFile] = values(sections, 'transport-tls', 'cert_file');
  const [keyFile] = values(sections, 'transport-tls', 'priv_key_file');
  if (!certFile || !keyFile) throw new Error(`${plan.env}: pjsip.tls.conf names no cert_file/priv_key_file`);
  // The CA and the phone's key are EC (fast to make); Asterisk's own is RSA, as certbot is asked for.
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', '/CN=WeeBeeTalk test CA', '-keyout', 'ca.key', '-out', 'ca.pem'], pki);
  const fqdn = h.FQDN;
  writeFileSync(join(pki, 'san.ext'), `subjectAltName=DNS:${fqdn},IP:${publicIp}\n`);
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${fqdn}`, '-keyout', 'server.key', '-out', 'server.csr'], pki);
  openssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-extfile', 'san.ext', '-out', 'server.pem'], pki);
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', '/CN=phone', '-keyout', 'client.key', '-out', 'client.pem'], pki);
  mkdirSync(dirname(inEtc(etc, certFile)), { recursive: true });
  // fullchain.pem: the certificate, then its issuer.
  writeFileSync(inEtc(etc, certFile), readFileSync(join(pki, 'server.pem'), 'utf8') + readFileSync(join(pki, 'ca.pem'), 'utf8'));
  writeFileSync(inEtc(etc, keyFile), readFileSync(join(pki, 'server.key')), { mode: 0o600 });
  return { etc, log, hosts, passwords, caFile: join(pki, 'ca.pem'), clientCert: join(pki, 'client.pem'), clientKey: join(pki, 'client.key') };
}
