#!/usr/bin/env bash
# The PBX's certificate (dns01_certificate in config-lib.sh: certbot's Route53 plugin, retried by
# weebeetalk-pbx-certificate.timer until one exists), then TLS on 5061 (and WSS) configured for Asterisk.
# asterisk.sh runs it on every apply; certbot.timer renews.
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

dns01_certificate "$hook" "$timer" || die "no certificate for ${FQDN}: Asterisk runs without TLS 5061/WSS for now"
[[ -s "${WBT_ASTERISK_KEYS}/fullchain.pem" ]] || RENEWED_LINEAGE="$lineage" "$WBT_HELPER_ASTERISK_CERT_DEPLOY"

tls=$(mktemp)
render "$WBT_ASTERISK_TLS_PENDING" > "$tls"
if install_if_changed "$tls" "${conf}/pjsip.tls.conf" 0640 1000:1000; then
  # A running Asterisk picks up the new TLS transport by a reload (calls in progress survive).
  if docker inspect -f '{{.State.Running}}' "$WBT_ASTERISK_CONTAINER" 2> /dev/null | grep -qx true; then
    docker exec "$WBT_ASTERISK_CONTAINER" asterisk -rx 'module reload res_pjsip.so'
    docker exec "$WBT_ASTERISK_CONTAINER" asterisk -rx 'module reload http'
  fi
  log "TLS for ${FQDN} configured in ${conf}/pjsip.tls.conf"
fi
rm -f "$tls"
dns01_certificate_done "$timer"
