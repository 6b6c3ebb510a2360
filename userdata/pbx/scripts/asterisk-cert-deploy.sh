#!/usr/bin/env bash
# certbot deploy hook: hand the renewed certificate to Asterisk (uid 1000 in the container) and reload TLS.
set -euo pipefail
# shellcheck source=lib.sh
. /usr/local/lib/weebeetalk/lib.sh
load_env

lineage=${RENEWED_LINEAGE:-/etc/letsencrypt/live/${FQDN}}
keys=$WBT_ASTERISK_KEYS
install -d -o 1000 -g 1000 -m 0750 "$keys"
install -o 1000 -g 1000 -m 0644 "${lineage}/fullchain.pem" "${keys}/fullchain.pem"
install -o 1000 -g 1000 -m 0600 "${lineage}/privkey.pem" "${keys}/privkey.pem"
if docker inspect -f '{{.State.Running}}' "$WBT_ASTERISK_CONTAINER" 2> /dev/null | grep -qx true; then
  # Same paths, new contents: reloading res_pjsip restarts the TLS transport; http reloads the WSS listener.
  docker exec "$WBT_ASTERISK_CONTAINER" asterisk -rx 'module reload res_pjsip.so'
  docker exec "$WBT_ASTERISK_CONTAINER" asterisk -rx 'module reload http'
fi
log "certificate from ${lineage} installed for Asterisk"
