/**
 * /etc/asterisk as the pbx host ends up with it: the files the apply tool writes into Asterisk's configuration
 * folder from the plan's bundle (Elastic IP put in), pjsip.auth.conf written by the real
 * userdata/pbx/scripts/asterisk-auth.sh against an SSM stand-in holding known test passwords, and pjsip.tls.conf
 * from its .pending file with a certificate signed by a test CA at the paths the file names (where certbot's
 * deploy hook puts Let's Encrypt's).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { scriptPath } from '../../../userdata/script-files';
import { asteriskConfFiles, parseConf, planFile, planSetting, renderPublicIp, values, type PbxPlan } from './plan';

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

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Where a path under /etc/asterisk lives in the test's copy. */
function inEtc(etc: string, path: string): string {
  if (!path.startsWith('/etc/asterisk/')) throw new Error(`${path} is outside /etc/asterisk: the compose file mounts only that`);
  return join(etc, path.slice('/etc/asterisk/'.length));
}

/**
 * A test password per SSM parameter name: from the name alone, so that two plans (a configuration and its
 * next version) give a phone the same password.
 */
export function testPassword(name: string): string {
  return `test-${createHash('sha256').update(name).digest('hex').slice(0, 8)}-${name.split('/').pop()}-Pw9`;
}

/** Where preparePbx puts asterisk-auth.sh beside its libraries, the SSM stand-in (as `aws`) and its parameters. */
const authPaths = (work: string): { script: string; bin: string; ssm: string; grants: string } => ({
  script: join(work, 'lib', 'asterisk-auth.sh'),
  bin: join(work, 'bin'),
  ssm: join(work, 'ssm.tsv'),
  grants: join(work, 'ssm-grants'),
});

function installAuthTools(work: string, passwords: Readonly<Record<string, string>>): void {
  const { bin, ssm } = authPaths(work);
  writeFileSync(
    ssm,
    Object.entries(passwords)
      .map(([n, v]) => `${n}\t${v}\n`)
      .join(''),
  );
  mkdirSync(bin, { recursive: true });
  execFileSync('ln', ['-sf', join(__dirname, 'aws-ssm-standin.sh'), join(bin, 'aws')]);
  // Beside lib.sh and config-lib.sh, as on the host (/usr/local/lib/weebeetalk): the repository keeps them in
  // different folders, and asterisk-auth.sh sources both from its own.
  const lib = join(work, 'lib');
  mkdirSync(lib, { recursive: true });
  for (const name of ['lib', 'config-lib', 'asterisk-auth']) copyFileSync(scriptPath(name), join(lib, `${name}.sh`));
}

/**
 * The real asterisk-auth.sh with a plan's settings, writing `out`: "changed" (exit 0) or "unchanged" (exit 1);
 * anything else throws with its stderr. The SSM stand-in holds the passwords of preparePbx's `work`.
 */
export function runAsteriskAuth(plan: PbxPlan, work: string, out: string): 'changed' | 'unchanged' {
  const tools = authPaths(work);
  // What the pbx role may read, from this plan's policies (its own path, the shared secrets it is granted).
  writeFileSync(tools.grants, plan.ssmReadable.map((n) => `${n}\n`).join(''));
  const r = spawnSync('bash', [tools.script, out], {
    env: {
      ...plan.hostEnv,
      PATH: `${tools.bin}:/usr/bin:/bin`,
      WBT_TEST_SSM: tools.ssm,
      WBT_TEST_SSM_REGION: planSetting(plan, 'AWS_REGION'),
      WBT_TEST_SSM_GRANTS: tools.grants,
    },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    // ssm_secret retries for a minute: a wrong name must fail the test quickly, with its message.
    timeout: 8000,
  });
  const said = r.stdout.trim();
  if (r.status === 0 && (said === 'changed' || said === 'unchanged') && !r.stderr.trim()) return said;
  throw new Error(`${plan.env}: asterisk-auth.sh ${out} exited ${r.status ?? r.signal}: ${r.stderr}`);
}

/**
 * @param extraParameters SSM names to give passwords too (a later version of the plan's), so that a test can
 * run asterisk-auth.sh again with that version's settings
 */
export function preparePbx(plan: PbxPlan, work: string, publicIp: string, extraParameters: readonly string[] = []): PreparedPbx {
  const etc = join(work, 'etc');
  const log = join(work, 'log');
  const pki = join(work, 'pki');
  for (const d of [etc, log, pki]) mkdirSync(d, { recursive: true });
  const hosts = join(work, 'hosts');
  writeFileSync(hosts, `127.0.0.1 localhost\n${plan.privateIp.pbx} ${hostname()} ${planSetting(plan, 'FQDN')}\n`);
  for (const [name, text] of asteriskConfFiles(plan, publicIp)) writeFileSync(join(etc, name), text);

  // pjsip.auth.conf by the real script, with the host's settings and an SSM that knows the plan's names.
  const passwords: Record<string, string> = {};
  for (const name of [...plan.ssmParameters, ...extraParameters]) passwords[name] = testPassword(name);
  installAuthTools(work, passwords);
  const first = runAsteriskAuth(plan, work, join(etc, 'pjsip.auth.conf'));
  if (first !== 'changed') throw new Error(`${plan.env}: asterisk-auth.sh said "${first}" writing a new pjsip.auth.conf`);

  // The TLS transport as asterisk.sh enables it once certbot has a certificate.
  const tls = renderPublicIp(planFile(plan, planSetting(plan, 'WBT_ASTERISK_TLS_PENDING')), publicIp);
  writeFileSync(join(etc, 'pjsip.tls.conf'), tls);
  const sections = parseConf(tls);
  const [certFile] = values(sections, 'transport-tls', 'cert_file');
  const [keyFile] = values(sections, 'transport-tls', 'priv_key_file');
  if (!certFile || !keyFile) throw new Error(`${plan.env}: pjsip.tls.conf names no cert_file/priv_key_file`);
  // The CA and the phone's key are EC (fast to make); Asterisk's own is RSA, as certbot is asked for.
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', '/CN=WeeBeeTalk test CA', '-keyout', 'ca.key', '-out', 'ca.pem'], pki);
  const fqdn = planSetting(plan, 'FQDN');
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
