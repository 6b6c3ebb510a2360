#!/usr/bin/env bash
# Asterisk 22 in Docker (host networking), its certificate from certbot's Route53 plugin, fail2ban.
set -euo pipefail
# shellcheck source=lib.sh
. /usr/local/lib/weebeetalk/lib.sh
load_env
src=$WBT_ASTERISK_ETC
dir=$WBT_ASTERISK_DIR
conf="${ASTERISK_STATE}/etc"

install -d -m 0755 "$dir" "$ASTERISK_STATE" "${ASTERISK_STATE}/log" "${ASTERISK_STATE}/spool"
install -d -m 0750 "$conf"
install -m 0644 "${src}/compose.yml" "${dir}/compose.yml"
# Every generated .conf (pjsip.tls.conf waits for its certificate as .pending).
for path in "${src}"/*.conf; do
  f=${path##*/}
  render "$path" > "${conf}/${f}"
  chmod 0640 "${conf}/${f}"
done

# Digest credentials from SSM, root-only on the host (a file of its own: the tests run it with an SSM stand-in).
"${WBT_LIB}/asterisk-auth.sh" "${conf}/pjsip.auth.conf"

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
hook=/etc/letsencrypt/renewal-hooks/deploy/weebeetalk-asterisk.sh
ln -sf "${WBT_LIB}/asterisk-cert-deploy.sh" "$hook"
# The certificate, or a timer that keeps asking for one (Asterisk starts without TLS meanwhile).
"${WBT_LIB}/asterisk-certificate.sh" || log "WARNING: Asterisk starts without TLS 5061/WSS for now"
systemctl enable --now certbot.timer

# Asterisk runs as uid 1000 and the image chowns /etc/asterisk only when its top directory is not 1000's:
# files written by a re-run must be handed over, or an unreadable #include would reject pjsip.conf.
install -d "${ASTERISK_STATE}/spool/astdb"
chown -R 1000:1000 "$conf" "${ASTERISK_STATE}/log" "${ASTERISK_STATE}/spool"

systemctl daemon-reload
systemctl enable weebeetalk-asterisk.service
systemctl restart weebeetalk-asterisk.service

# fail2ban refuses to start when a jail's log file does not exist yet.
touch "${ASTERISK_STATE}/log/security.log"
chown 1000:1000 "${ASTERISK_STATE}/log/security.log"
systemctl enable fail2ban
systemctl restart fail2ban
log "Asterisk running; fail2ban watching ${ASTERISK_STATE}/log/security.log"
