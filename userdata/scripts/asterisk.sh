#!/usr/bin/env bash
# Asterisk 22 in Docker (host networking), its certificate from certbot's Route53 plugin, fail2ban.
set -euo pipefail
# shellcheck source=lib.sh
. /usr/local/lib/weebeetalk/lib.sh
load_env
src=/etc/weebeetalk/asterisk
dir=/opt/weebeetalk/asterisk
conf="${ASTERISK_STATE}/etc"

install -d -m 0755 "$dir" "$ASTERISK_STATE" "${ASTERISK_STATE}/log" "${ASTERISK_STATE}/spool"
install -d -m 0750 "$conf"
install -m 0644 "${src}/compose.yml" "${dir}/compose.yml"
for f in pjsip.conf rtp.conf extensions.conf logger.conf modules.conf http.conf manager.conf; do
  render "${src}/${f}" > "${conf}/${f}"
  chmod 0640 "${conf}/${f}"
done

# Digest credentials from SSM, root-only on the host (the image runs Asterisk as uid 1000 and chowns its config).
{
  if [[ "$JIGASI_ENABLED" == 1 ]]; then
    printf '[jigasi-auth]\ntype=auth\nauth_type=digest\nusername=jigasi\npassword=%s\n\n' "$(ssm_secret pbx/jigasi-sip-password)"
  fi
  for ext in $SIP_USERS; do
    password=$(ssm_secret "pbx/sip-users/${ext}")
    printf '[%s-auth]\ntype=auth\nauth_type=digest\nusername=%s\npassword=%s\n\n' "$ext" "$ext" "$password"
    if [[ "$SIP_WSS" == 1 ]]; then
      printf '[webrtc-%s-auth]\ntype=auth\nauth_type=digest\nusername=webrtc-%s\npassword=%s\n\n' "$ext" "$ext" "$password"
    fi
  done
} | write_secret_file "${conf}/pjsip.auth.conf"

# Certificates live on the data volume: a replaced instance must not ask Let's Encrypt again.
if [[ ! -L /etc/letsencrypt ]]; then
  install -d -m 0755 "${DATA_DIR}/letsencrypt"
  if [[ -d /etc/letsencrypt ]]; then cp -a /etc/letsencrypt/. "${DATA_DIR}/letsencrypt/" && rm -rf /etc/letsencrypt; fi
  ln -s "${DATA_DIR}/letsencrypt" /etc/letsencrypt
fi
install -d -m 0755 /etc/letsencrypt/renewal-hooks/deploy
ln -sf /usr/local/lib/weebeetalk/asterisk-cert-deploy.sh /etc/letsencrypt/renewal-hooks/deploy/weebeetalk-asterisk.sh
# DNS-01 through Route53: the instance role may only touch the _acme-challenge TXT record of this name.
if certbot certonly --non-interactive --agree-tos --email "$LETSENCRYPT_EMAIL" --dns-route53 \
  --domain "$FQDN" --keep-until-expiring --deploy-hook /usr/local/lib/weebeetalk/asterisk-cert-deploy.sh; then
  [[ -s "${conf}/keys/fullchain.pem" ]] || RENEWED_LINEAGE="/etc/letsencrypt/live/${FQDN}" /usr/local/lib/weebeetalk/asterisk-cert-deploy.sh
  render "${src}/pjsip.tls.conf.pending" > "${conf}/pjsip.tls.conf"
  chmod 0640 "${conf}/pjsip.tls.conf"
else
  log "WARNING: no certificate for ${FQDN} yet (is the zone delegated?): Asterisk starts without TLS 5061/WSS; run weebeetalk-bootstrap again later"
fi
systemctl enable --now certbot.timer

systemctl daemon-reload
systemctl enable weebeetalk-asterisk.service
systemctl restart weebeetalk-asterisk.service

# fail2ban refuses to start when a jail's log file does not exist yet.
touch "${ASTERISK_STATE}/log/security.log"
systemctl enable fail2ban
systemctl restart fail2ban
log "Asterisk running; fail2ban watching ${ASTERISK_STATE}/log/security.log"
