/**
 * The audit policy as data (constructs/audit/policy.ts) and the user-data secret heuristics the checks apply
 * (constructs/audit/checks.ts secretsIn): the default port ranges hold no internal port, every rule maps to a
 * scanner check, and what does and does not count as a secret in user-data.
 */
import production from '../config/environments/production';
import staging from '../config/environments/staging';
import { loadEnvironment } from '../config/load';
import { secretsIn } from '../constructs/audit/checks';
import { INTERNAL_PORTS, RULES, worldAllowlist } from '../constructs/audit/policy';

const config = loadEnvironment(staging);

describe('policy details', () => {
  test('the RTP and Jigasi default ranges contain no internal port', () => {
    for (const range of [config.sip.rtpPorts, config.jitsi.jigasiPorts]) expect(INTERNAL_PORTS.filter((p) => p.port >= range.from && p.port <= range.to)).toEqual([]);
  });

  test("the TURN relay's default range contains no internal port either", () => {
    const range = loadEnvironment(production).turn.relayPorts;
    expect([range.from, range.to]).toEqual([49152, 65535]);
    expect(INTERNAL_PORTS.filter((p) => p.port >= range.from && p.port <= range.to)).toEqual([]);
  });

  test('the world may reach the turn host on TLS 443 and 3478 (TCP, UDP) only, never its relay ports', () => {
    for (const env of [config, loadEnvironment(production)]) {
      const turn = worldAllowlist(env).turn.map((a) => [a.protocol, a.from, a.to]);
      expect(turn).toEqual([
        ['tcp', 443, 443],
        ['tcp', 3478, 3478],
        ['udp', 3478, 3478],
      ]);
      expect(worldAllowlist(env).pbx).toEqual([]);
    }
  });

  test('every rule maps to a scanner check or says why it cannot', () => {
    for (const r of RULES) expect(r.checkov.length + r.trivy.length > 0 || r.note !== undefined).toBe(true);
    for (const id of RULES.flatMap((r) => r.checkov)) expect(id).toMatch(/^CKV2?_AWS_\d+$/);
    for (const id of RULES.flatMap((r) => r.trivy)) expect(id).toMatch(/^AWS-\d{4}$/);
  });

  test.each([
    ['AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE', 'an AWS access key id on line 1'],
    ['-----BEGIN OPENSSH PRIVATE KEY-----', 'a private key block on line 1'],
    ['-----BEGIN RSA PRIVATE KEY-----', 'a private key block on line 1'],
    ['export SIP_PASSWORD="changeme"', 'SIP_PASSWORD= assigned a literal value on line 1'],
    ["RC_ADMIN_PASS='Sup3r!secret'", 'RC_ADMIN_PASS= assigned a literal value on line 1'],
    ['GITHUB_TOKEN=ghp_abcdefabcdefabcdef', 'GITHUB_TOKEN= assigned a literal value on line 1'],
    ['JIGASI_SIP_PASSWORD="${aws_ssm_parameter.x_1.value}"', 'a Terraform reference to a secret value on line 1'],
    ['X=${data.aws_secretsmanager_random_password.r.random_password}', 'a Terraform reference to a secret value on line 1'],
    ['X=${ephemeral.aws_secretsmanager_random_password.r.random_password}', 'a Terraform reference to a secret value on line 1'],
    ['X=${ephemeral.aws_ssm_parameter.current[0].value}', 'a Terraform reference to a secret value on line 1'],
  ])('user-data secret: %s', (text, found) => {
    expect(secretsIn(text)).toContain(found);
  });

  test.each([
    'JWT_APP_SECRET="$(ssm_secret meet/jwt-app-secret)"',
    'JVB_AUTH_PASSWORD=$${password}',
    'PASSWORD=$PASSWORD_FROM_SSM',
    'printf \'JWT_APP_SECRET="%s"\\n\' "$(ssm_secret meet/jwt-app-secret)"',
    'grep -E \'^[A-Z_]+_PASSWORD=[0-9a-f]{16,}$\' "$${tmp}/.env"',
    'JICOFO_AUTH_PASSWORD=',
    'ENABLE_PASSWORD=false',
    'ADMIN_PASSWORD_PARAM=chat/admin-password',
    'ESCAPED=$${aws_ssm_parameter.x.value}',
    'PUBLIC_IP="${aws_eip.pbx.public_ip}"',
    '# secrets come from SSM only; no PASSWORD here',
  ])('user-data without secrets: %s', (text) => {
    expect(secretsIn(text)).toEqual([]);
  });
});
