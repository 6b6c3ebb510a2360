#!/usr/bin/env bash
# The pbx host's hook, run by weebeetalk-apply after it wrote the bundle's files (Asterisk's configuration goes
# straight to its folder on the data volume; WBT_CHANGED: the services whose files changed): Asterisk 22 in Docker
# (host networking), its certificate from certbot's Route53 plugin, fail2ban. First apply: start everything.
# Later: Asterisk's own reloads for what changed (calls in progress survive), a restart only for modules, the
# core's settings or a new image.
set -euo pipefail
# shellcheck source=lib.sh
. /usr/local/lib/weebeetalk/lib.sh
# shellcheck source=config-lib.sh
. /usr/local/lib/weebeetalk/config-lib.sh
load_env
dir=$WBT_ASTERISK_DIR
conf=$WBT_ASTERISK_CONF
logs=$WBT_ASTERISK_LOG
spool=$WBT_ASTERISK_SPOOL

# Units first: the certificate helper below may enable its timer.
if has_changed systemd; then systemctl daemon-reload; fi
# The CloudWatch agent and publishers first: a hook that fails below still has its logs and outcome shipped.
monitoring_up
install -d -m 0755 "$dir" "$WBT_ASTERISK_STATE" "$logs" "$spool"
install -d -m 0750 "$conf"

# Digest credentials from SSM, root-only on the host (a file of its own: the tests run it with an SSM stand-in).
# Read on every apply: a phone added, removed or given a new password in SSM changes it.
auth=$("$WBT_HELPER_ASTERISK_AUTH" "${conf}/pjsip.auth.conf")
auth_changed=0
if [[ "$auth" == changed ]]; then auth_changed=1; fi

letsencrypt_on_data_volume
ln -sfn "$WBT_HELPER_ASTERISK_CERT_DEPLOY" "$WBT_ASTERISK_CERT_HOOK"

# The certificate, or a timer that keeps asking for one (Asterisk runs without TLS meanwhile). It renders
# pjsip.tls.conf and reloads Asterisk itself when that changes.
"$WBT_HELPER_ASTERISK_CERTIFICATE" || log "WARNING: Asterisk starts without TLS 5061/WSS for now"
systemctl enable --now certbot.timer

# The dial-in's prompts: Debian's English core sounds, which the compose file mounts read-only where the image's
# Asterisk looks for them (the image has none). Before Asterisk starts: a missing folder would be mounted empty.
if ! dpkg-query -W -f='${Status}' "$WBT_ASTERISK_SOUNDS_PACKAGE" 2> /dev/null | grep -q 'install ok installed'; then
  apt_install "$WBT_ASTERISK_SOUNDS_PACKAGE"
fi
if [[ ! -d "$WBT_ASTERISK_SOUNDS" ]]; then log "WARNING: no prompts in ${WBT_ASTERISK_SOUNDS}: dial-in callers hear silence"; fi

# Asterisk runs as uid 1000 and the image chowns /etc/asterisk only when its top directory is not 1000's:
# files written by a re-run must be handed over, or an unreadable #include would reject pjsip.conf.
install -d "${spool}/astdb"
chown -R 1000:1000 "$conf" "$logs" "$spool"
# fail2ban refuses to start when a jail's log file does not exist yet.
if [[ ! -e "$WBT_ASTERISK_SECURITY_LOG" ]]; then install -o 1000 -g 1000 -m 0640 /dev/null "$WBT_ASTERISK_SECURITY_LOG"; fi

# Asterisk's CLI answers a failed reload with text, not an exit code: that text fails the apply.
cli() {
  local out
  out=$(docker exec "$WBT_ASTERISK_CONTAINER" asterisk -rx "$1") || die "asterisk -rx '$1' failed"
  if grep -qiE 'no such|not found|unable|fail|error|unknown' <<< "$out"; then die "asterisk -rx '$1' answered: ${out}"; fi
  if [[ -n "$out" ]]; then log "asterisk -rx '$1': ${out//$'\n'/ }"; fi
}
if ! systemctl is-active --quiet "$WBT_ASTERISK_UNIT"; then
  systemctl daemon-reload
  systemctl enable "$WBT_ASTERISK_UNIT"
  systemctl restart "$WBT_ASTERISK_UNIT"
  log "Asterisk started"
elif has_changed asterisk-restart; then
  # What Asterisk reads only at start (modules, the core's settings): calls in progress end. The restart reads
  # every other file of this bundle too.
  if has_changed asterisk-compose; then compose_up "$dir"; fi
  (cd "$dir" && docker compose restart)
  log "Asterisk restarted (changed: ${WBT_CHANGED})"
else
  # A new image recreates the container (compose does nothing when only the file's layout changed); the reloads
  # below then cover whatever else changed, on the old container or the new one. A running Asterisk keeps its calls.
  if has_changed asterisk-compose; then compose_up "$dir"; fi
  if ((auth_changed)) || has_changed asterisk-pjsip; then cli 'module reload res_pjsip.so res_pjsip_endpoint_identifier_ip.so'; fi
  if has_changed asterisk-dialplan; then cli 'dialplan reload'; fi
  if has_changed asterisk-rtp; then cli 'module reload res_rtp_asterisk.so'; fi
  if has_changed asterisk-logger; then cli 'logger reload'; fi
  if has_changed asterisk-http; then cli 'module reload http'; fi
  if has_changed asterisk-manager; then cli 'manager reload'; fi
fi

if ! systemctl is-active --quiet fail2ban; then
  systemctl enable fail2ban
  systemctl restart fail2ban
  log "fail2ban watching ${WBT_ASTERISK_SECURITY_LOG}"
elif has_changed fail2ban; then
  fail2ban-client reload
  log "fail2ban reloaded its jail"
fi
