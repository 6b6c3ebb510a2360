/**
 * DNS for an environment: the Route53 zone (looked up, or created with its name servers output), an A record
 * per host to its Elastic IP, CAA records that let only Let's Encrypt issue for those names, and SIP SRV records.
 */
import { Construct } from 'constructs';
import type { HostRole } from './host-role';
import { DataAwsRoute53Zone } from '@cdktf/provider-aws/lib/data-aws-route53-zone';
import { Route53Record } from '@cdktf/provider-aws/lib/route53-record';
import { Route53Zone } from '@cdktf/provider-aws/lib/route53-zone';

export interface DnsProps {
  /** Zone name, e.g. example.com. */
  readonly zoneName: string;
  /** "lookup" an existing public zone or "create" it. */
  readonly zoneMode: 'lookup' | 'create';
  /** Host records: FQDN to public IP. */
  readonly hosts: readonly { readonly id: string; readonly fqdn: string; readonly ip: string }[];
  /** iodef contact for CAA (mailto: or https:). @default none */
  readonly caaIodef?: string;
  /** The SIP domain SRV records live under, e.g. staging.example.com. */
  readonly sipDomain: string;
  /** The PBX name SRV records point to. */
  readonly pbxFqdn: string;
  /** `_sips._tcp` for phones over TLS. @default false */
  readonly sipsSrv?: boolean;
  /** `_sip._udp` and `_sip._tcp` for the trunk. @default false */
  readonly sipSrv?: boolean;
  /** Refuse to destroy a created zone (production). @default false */
  readonly protect?: boolean;
  /** @default 300 */
  readonly ttl?: number;
  /** The partition's ARN prefix, for grants. @default aws */
  readonly partition?: string;
}

export class Dns extends Construct {
  readonly zoneId: string;
  /** Name servers to delegate to, when the zone is created here. */
  readonly nameServers?: string[];
  /** Each host's A and CAA records, by host id: a host must not ask for a certificate before they exist. */
  readonly hostRecords: Record<string, Route53Record[]> = {};
  private readonly partition: string;

  constructor(scope: Construct, id: string, props: DnsProps) {
    super(scope, id);
    const ttl = props.ttl ?? 300;
    this.partition = props.partition ?? 'aws';
    if (props.zoneMode === 'create') {
      const zone = new Route53Zone(this, 'zone', {
        name: props.zoneName,
        comment: 'WeeBeeTalk (managed by cdktf)',
        // Staging: a leftover _acme-challenge record must not block destroy.
        forceDestroy: !(props.protect ?? false),
        lifecycle: { preventDestroy: props.protect ?? false },
      });
      this.zoneId = zone.zoneId;
      this.nameServers = zone.nameServers;
    } else {
      this.zoneId = new DataAwsRoute53Zone(this, 'zone', { name: props.zoneName, privateZone: false }).zoneId;
    }
    // CAA on each host name rather than the apex: it binds our names to Let's Encrypt without
    // overriding the CA choices the organisation made for the rest of its zone.
    const caa = ['0 issue "letsencrypt.org"', '0 issuewild ";"', ...(props.caaIodef ? [`0 iodef "${props.caaIodef}"`] : [])];
    for (const h of props.hosts) {
      this.hostRecords[h.id] = [
        new Route53Record(this, `${h.id}-a`, { zoneId: this.zoneId, name: h.fqdn, type: 'A', ttl, records: [h.ip] }),
        new Route53Record(this, `${h.id}-caa`, { zoneId: this.zoneId, name: h.fqdn, type: 'CAA', ttl, records: caa }),
      ];
    }
    if (props.sipsSrv) new Route53Record(this, 'sips-tcp-srv', { zoneId: this.zoneId, name: `_sips._tcp.${props.sipDomain}`, type: 'SRV', ttl, records: [`10 10 5061 ${props.pbxFqdn}.`] });
    if (props.sipSrv) {
      new Route53Record(this, 'sip-udp-srv', { zoneId: this.zoneId, name: `_sip._udp.${props.sipDomain}`, type: 'SRV', ttl, records: [`10 10 5060 ${props.pbxFqdn}.`] });
      new Route53Record(this, 'sip-tcp-srv', { zoneId: this.zoneId, name: `_sip._tcp.${props.sipDomain}`, type: 'SRV', ttl, records: [`10 10 5060 ${props.pbxFqdn}.`] });
    }
  }

  /**
   * Lets `role` answer DNS-01 challenges for `fqdn` (certbot-dns-route53): UPSERT and DELETE of the TXT record
   * _acme-challenge.<fqdn> in this zone and nothing else, plus the change status and the zone lookup.
   */
  grantAcmeChallenge(role: HostRole, fqdn: string): void {
    role.grant([
      {
        sid: 'AcmeChallengeOnly',
        actions: ['route53:ChangeResourceRecordSets'],
        resources: [`arn:${this.partition}:route53:::hostedzone/${this.zoneId}`],
        condition: [
          { test: 'ForAllValues:StringEquals', variable: 'route53:ChangeResourceRecordSetsNormalizedRecordNames', values: [`_acme-challenge.${fqdn}`] },
          { test: 'ForAllValues:StringEquals', variable: 'route53:ChangeResourceRecordSetsRecordTypes', values: ['TXT'] },
          { test: 'ForAllValues:StringEquals', variable: 'route53:ChangeResourceRecordSetsActions', values: ['UPSERT', 'DELETE'] },
        ],
      },
      { sid: 'AcmeChangeStatus', actions: ['route53:GetChange'], resources: [`arn:${this.partition}:route53:::change/*`] },
      // certbot-dns-route53 finds the zone by listing; the action has no resource-level permission.
      { sid: 'AcmeFindZone', actions: ['route53:ListHostedZones'], resources: ['*'] },
    ]);
  }
}
