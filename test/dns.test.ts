/**
 * DNS of the synthesized plans: A records that bind each host name to its Elastic IP, CAA records that let only
 * Let's Encrypt issue, SIP SRV records exactly when SIP is configured, and the hosted zone looked up or created.
 */
import { DataAwsRoute53Zone } from '@cdktf/provider-aws/lib/data-aws-route53-zone';
import { Route53Record } from '@cdktf/provider-aws/lib/route53-record';
import { fqdnOf } from '../config/names';
import { enabledRoles, ROLES } from '../config/schema';
import { expectedRoles } from './support/hosts';
import { zoneIdRef } from './support/parts';
import { asStrings, byNameTag, dataSources, resources, single, synthEnvironment, type Synthesized } from './support/synth';
import { noSip, SHIPPED_AND_TUNED as ENVS, stagingTurn, tuned } from './support/variants';
import './support/matchers';

/** The CAA records a host name must carry: only Let's Encrypt issues, no wildcards, iodef when configured. */
function expectedCaa(s: Synthesized): string[] {
  const iodef = s.config.dns.caaIodef;
  return ['0 issue "letsencrypt.org"', '0 issuewild ";"', ...(iodef ? [`0 iodef "${iodef}"`] : [])].sort();
}

describe.each([...ENVS, ['no-sip', noSip] as [string, () => Synthesized]])('DNS of %s', (_label, synth) => {
  test('every host name has an A record to its Elastic IP and CAA records that allow only letsencrypt.org', () => {
    const s = synth();
    const records = resources(s, 'aws_route53_record');
    const zoneId = zoneIdRef(s);
    expect(enabledRoles(s.config)).toEqual(expectedRoles(s));
    for (const role of enabledRoles(s.config)) {
      const fqdn = fqdnOf(s.config, role);
      const eip = byNameTag(resources(s, 'aws_eip'), `weebeetalk-${s.config.name}-${role}`);
      const a = single(records, `A ${fqdn}`, (r) => r.block.type === 'A' && r.block.name === fqdn);
      expect(a.block.records).toEqual([eip.ref('public_ip')]);
      const caa = single(records, `CAA ${fqdn}`, (r) => r.block.type === 'CAA' && r.block.name === fqdn);
      expect(asStrings(caa.block.records, 'CAA records').sort()).toEqual(expectedCaa(s));
      for (const value of asStrings(caa.block.records, 'CAA records')) {
        const m = /^0 (issue|issuewild|iodef) "(.*)"$/.exec(value);
        expect(m).not.toBeNull();
        if (m?.[1] === 'issue') expect(m[2]).toBe('letsencrypt.org');
        if (m?.[1] === 'issuewild') expect(m[2]).toBe(';');
      }
    }
    for (const r of records) expect(r.block.zone_id).toBe(zoneId);
    // One A and one CAA record per host the environment builds, none for a host it does not.
    expect(
      records
        .filter((r) => r.block.type === 'A')
        .map((r) => r.block.name)
        .sort(),
    ).toEqual(
      expectedRoles(s)
        .map((role) => fqdnOf(s.config, role))
        .sort(),
    );
    expect(
      records
        .filter((r) => r.block.type === 'CAA')
        .map((r) => r.block.name)
        .sort(),
    ).toEqual(
      expectedRoles(s)
        .map((role) => fqdnOf(s.config, role))
        .sort(),
    );
    for (const role of ROLES.filter((r) => !enabledRoles(s.config).includes(r))) expect(records.filter((r) => String(r.block.name).includes(fqdnOf(s.config, role))).map((r) => r.address)).toEqual([]);
    expect(s.text).toHaveResourceWithProperties(Route53Record, { type: 'CAA', records: expect.arrayContaining(['0 issue "letsencrypt.org"']) });
  });

  test('SIP SRV records exactly when phones (_sips._tcp) or a trunk (_sip._udp, _sip._tcp) are configured', () => {
    const s = synth();
    const domain = [s.config.dns.subdomain, s.config.dns.domain].filter((p) => p !== '').join('.');
    const pbx = fqdnOf(s.config, 'pbx');
    const expected: Record<string, string[]> = {};
    if (s.config.sip.clientCidrs.length > 0) expected[`_sips._tcp.${domain}`] = [`10 10 5061 ${pbx}.`];
    if (s.config.sip.trunkSignallingCidrs.length > 0) {
      expected[`_sip._udp.${domain}`] = [`10 10 5060 ${pbx}.`];
      expected[`_sip._tcp.${domain}`] = [`10 10 5060 ${pbx}.`];
    }
    const srv = Object.fromEntries(
      resources(s, 'aws_route53_record')
        .filter((r) => r.block.type === 'SRV')
        .map((r) => [r.block.name, r.block.records]),
    );
    expect(srv).toEqual(expected);
  });

  test('only A, CAA and SRV records are managed', () => {
    for (const r of resources(synth(), 'aws_route53_record')) expect(['A', 'CAA', 'SRV']).toContain(r.block.type);
  });
});

describe('hosted zone', () => {
  test('shipped environments look their zone up: nothing to delegate, no name_servers output', () => {
    for (const s of [synthEnvironment('staging'), synthEnvironment('production')]) {
      expect(resources(s, 'aws_route53_zone')).toEqual([]);
      expect(s.text).toHaveDataSourceWithProperties(DataAwsRoute53Zone, { name: 'weebeetalk.example', private_zone: false });
      expect(s.json.output?.name_servers).toBeUndefined();
    }
  });

  test('a created zone is a public zone whose name servers are an output', () => {
    const s = tuned();
    expect(dataSources(s, 'aws_route53_zone')).toEqual([]);
    const zone = single(resources(s, 'aws_route53_zone'), 'created zone');
    expect(zone.block.name).toBe('weebeetalk.example');
    expect(zone.block.vpc).toBeUndefined();
    expect(s.json.output?.name_servers).toMatchObject({ value: zone.ref('name_servers') });
  });
});

describe('the TURN relay name', () => {
  test('turn.<domain> in production and in staging with turn.enabled; no turn record in staging', () => {
    expect(fqdnOf(synthEnvironment('production').config, 'turn')).toBe('turn.weebeetalk.example');
    const staging = synthEnvironment('staging');
    expect(fqdnOf(staging.config, 'turn')).toBe('turn.staging.weebeetalk.example');
    expect(resources(staging, 'aws_route53_record').filter((r) => String(r.block.name).startsWith('turn.'))).toEqual([]);
    const on = stagingTurn();
    const eip = byNameTag(resources(on, 'aws_eip'), 'weebeetalk-staging-turn');
    expect(
      resources(on, 'aws_route53_record')
        .filter((r) => r.block.name === 'turn.staging.weebeetalk.example')
        .map((r) => [r.block.type, r.block.records])
        .sort(),
    ).toEqual([
      ['A', [eip.ref('public_ip')]],
      ['CAA', expect.arrayContaining(['0 issue "letsencrypt.org"', '0 issuewild ";"'])],
    ]);
    // Its ACME challenge record is certbot's to write (DNS-01), never Terraform's.
    expect(resources(on, 'aws_route53_record').filter((r) => String(r.block.name).includes('_acme-challenge'))).toEqual([]);
  });
});
