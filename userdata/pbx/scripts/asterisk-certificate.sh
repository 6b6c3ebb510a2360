#!/usr/bin/env bash
# The PBX's certificate: certbot with its Route53 plugin (DNS-01) once public DNS gives this host's Elastic IP,
# then TLS on 5061 (and WSS) configured for Asterisk. asterisk.sh runs it on every apply. While no
# certificate exists, weebeetalk-pbx-certificate.timer runs it again every 2 hours: a transient failure at first
# boot (throttling, IAM propagation, an ACME outage, late delegation) must not leave the PBX without TLS for good,
# and 12 tries a day stay far below Let's Encrypt's 5 failed validations per name per hour. certbot.timer renews
# from then on.
set -euo pipefail
# shellcheck source=lib.sh
. /usr/local/lib/weebeetalk/lib.sh
# shellcheck source=config-lib.sh
. /usr/local/lib/weebeetalk/config-lib.sh
load_env
conf=$WBT_ASTERISK_CONF
lineage="/etc/letsencrypt/live/${FQDN}"
hook=$WBT_ASTERISK_CERT_HOOK
timer=$WBT_PBX_CERT_TIMER

if [[ ! -s "${lineage}/fullchain.pem" ]]; then
  # DNS-01 through Route53: the instance role may only touch the _acme-challenge TXT record of this name.
  # --deploy-hook runs on first issuance; the same path in renewal-hooks/deploy runs on renewals (certbot
  # dedupes by path, so it runs once). RSA: older desk phones fail TLS handshakes with ECDSA certificates.
  # Not before the name resolves to this host (a failed validation counts against Let's Encrypt's limits).
  if ! { wait_for_public_dns && certbot certonly --non-interactive --agree-tos --email "$LETSENCRYPT_EMAIL" --dns-route53 \
    --domain "$FQDN" --key-type rsa --keep-until-expiring --deploy-hook "$hook"; }; then
    systemctl enable --now "$timer"
    die "no certificate for ${FQDN} yet (is the zone delegated?): Asterisk runs without TLS 5061/WSS; ${timer} tries again every 2 hours"
  fi
fi
[[ -s "${WBT_ASTERISK_KEYS}/fullchain.pem" ]] || RENEWED_LINEAGE="$lineage" "$WBT_HELPER_ASTERISK_CERT_DEPLOY"

tmp=$(mktemp "${conf}/pjsip.tls.conf.XXXXXX")
render "$WBT_ASTERISK_TLS_PENDING" > "$tmp"
chmod 0640 "$tmp"
chown 1000:1000 "$tmp"
if cmp -s "$tmp" "${conf}/pjsip.tls.conf"; then
  rm -f "$tmp"
else
  mv -f "$tmp" "${conf}/pjsip.tls.conf"
  # A running Asterisk picks up the new TLS transport by a reload (calls in progress survive).
  if docker inspect -f '{{.State.Running}}' "$WBT_ASTERISK_CONTAINER" 2> /dev/null | grep -qx true; then
    docker exec "$WBT_ASTERISK_CONTAINER" asterisk -rx 'module reload res_pjsip.so'
    docker exec "$WBT_ASTERISK_CONTAINER" asterisk -rx 'module reload http'
  fi
  log "TLS for ${FQDN} configured in ${conf}/pjsip.tls.conf"
fi
if systemctl is-enabled --quiet "$timer" 2> /dev/null; then systemctl disable --now "$timer"; fi
