#!/usr/bin/env bash
# Asterisk 22 in Docker (host networking), its certificate from certbot's Route53 plugin, fail2ban.
set -euo pipefail
# shellcheck source=lib.sh
. /usr/local/lib/weebeetalk/lib.sh
load_env
src=$WBT_ASTERISK_ETC
dir=$WBT_ASTERISK_DIR
conf=$WBT_ASTERISK_CONF
logs=$WBT_ASTERISK_LOG
spool=$WBT_ASTERISK_SPOOL

install -d -m 0755 "$dir" "$WBT_ASTERISK_STATE" "$logs" "$spool"
install -d -m 0750 "$conf"
install -m 0644 "$WBT_ASTERISK_COMPOSE" "${dir}/compose.yml"
# Every generated .conf (pjsip.tls.conf waits for its certificate as .pending).
for path in "${src}"/*.conf; do
  f=${path##*/}
  render "$path" > "${conf}/${f}"
  chmod 0640 "${conf}/${f}"
done

# Digest credentials from SSM, root-only on the host (a file of its own: the tests run it with an SSM stand-in).
"$WBT_HELPER_ASTERISK_AUTH" "${conf}/pjsip.auth.conf"

# Certificates live on the data volume: a replaced instance must not ask Let's Encrypt again.
if [[ ! -L /etc/letsencrypt ]]; then
  install -d -m 0755 "${DATA_DIR}/letsencrypt"
  if [[ -d /etc/letsencrypt ]]; then
    cp -a /etc/letsencrypt/. "${DATA_DIR}/letsencrypt/" || die "cannot move /etc/letsencrypt to the data volume"
    rm -rf /etc/letsencrypt
  fi
  ln -s "${DATA_DIR}/letsencrypt" /etc/letsencrypt
fi
[[ -L /etc/letsencrypt ]] || die "/etc/letsencrypt is not the data volume's: a replaced instance would ask Let's Encrypt again"
install -d -m 0755 /etc/letsencrypt/renewal-hooks/deploy
ln -sf "$WBT_HELPER_ASTERISK_CERT_DEPLOY" "$WBT_ASTERISK_CERT_HOOK"
# The certificate, or a timer that keeps asking for one (Asterisk starts without TLS meanwhile).
"$WBT_HELPER_ASTERISK_CERTIFICATE" || log "WARNING: Asterisk starts without TLS 5061/WSS for now"
systemctl enable --now certbot.timer

# Asterisk runs as uid 1000 and the image chowns /etc/asterisk only when its top directory is not 1000's:
# files written by a re-run must be handed over, or an unreadable #include would reject pjsip.conf.
install -d "${spool}/astdb"
chown -R 1000:1000 "$conf" "$logs" "$spool"

systemctl daemon-reload
systemctl enable "$WBT_ASTERISK_UNIT"
systemctl restart "$WBT_ASTERISK_UNIT"

# fail2ban refuses to start when a jail's log file does not exist yet.
touch "$WBT_ASTERISK_SECURITY_LOG"
chown 1000:1000 "$WBT_ASTERISK_SECURITY_LOG"
systemctl enable fail2ban
systemctl restart fail2ban
log "Asterisk running; fail2ban watching ${WBT_ASTERISK_SECURITY_LOG}"
