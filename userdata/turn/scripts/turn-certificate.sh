#!/usr/bin/env bash
# The TURN relay's certificate (dns01_certificate in config-lib.sh: certbot's Route53 plugin, retried by
# weebeetalk-turn-certificate.timer until one exists), handed to coturn, then coturn started. turn.sh runs it on
# every apply; certbot.timer renews (the deploy hook hands renewals over).
set -euo pipefail
# shellcheck source=lib.sh
. /usr/local/lib/weebeetalk/lib.sh
# shellcheck source=config-lib.sh
. /usr/local/lib/weebeetalk/config-lib.sh
load_env
timer=$WBT_TURN_CERT_TIMER

dns01_certificate "$WBT_TURN_CERT_HOOK" "$timer" || exit 1
[[ -s "$WBT_TURN_CERT" ]] || RENEWED_LINEAGE="/etc/letsencrypt/live/${FQDN}" "$WBT_HELPER_TURN_CERT_DEPLOY"
if ! systemctl is-active --quiet coturn; then
  systemctl unmask coturn
  systemctl enable coturn
  systemctl start coturn
  log "coturn started: TURN over TLS on 443, TURN on 3478 (TCP and UDP) for ${FQDN}"
fi
dns01_certificate_done "$timer"
