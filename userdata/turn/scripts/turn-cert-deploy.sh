#!/usr/bin/env bash
# certbot deploy hook: hand the (renewed) certificate to coturn, which runs as turnserver and cannot read certbot's
# lineage, and make a running coturn load it. coturn 4.6.1 reloads its certificate on SIGUSR2 (mainrelay.c,
# reload_ssl_certs): allocations in progress, and the calls they relay, survive; a restart would drop them.
set -euo pipefail
# shellcheck source=lib.sh
. /usr/local/lib/weebeetalk/lib.sh
load_env

lineage=${RENEWED_LINEAGE:-/etc/letsencrypt/live/${FQDN}}
gid=$(getent group turnserver | cut -d: -f3)
install -d -o 0 -g "$gid" -m 0750 "${WBT_TURN_CERT%/*}"
install -o 0 -g "$gid" -m 0644 "${lineage}/fullchain.pem" "$WBT_TURN_CERT"
install -o 0 -g "$gid" -m 0640 "${lineage}/privkey.pem" "$WBT_TURN_KEY"
if systemctl is-active --quiet coturn; then
  systemctl kill --kill-whom=main --signal=SIGUSR2 coturn
  log "certificate from ${lineage} handed to coturn (reloaded without a restart)"
else
  log "certificate from ${lineage} installed for coturn"
fi
