#!/usr/bin/env bash
# The meet host's hook, run by weebeetalk-apply after it wrote the bundle's files (WBT_CHANGED: the services whose
# files changed): Jitsi Meet from docker-jitsi-meet at a pinned tag (web, prosody, jicofo, jvb; jigasi and jibri
# when enabled). First apply: start the stack once the name resolves. Later: `docker compose up`, which recreates
# only the services whose settings or images changed (a new dial-in room restarts jigasi, not the bridge).
set -euo pipefail
# shellcheck source=lib.sh
. /usr/local/lib/weebeetalk/lib.sh
# shellcheck source=config-lib.sh
. /usr/local/lib/weebeetalk/config-lib.sh
load_env
if has_changed systemd; then systemctl daemon-reload; fi
dir=$WBT_JITSI_DIR
state=$WBT_JITSI_STATE

fetch_release "$JITSI_URL" "$dir" "$WBT_JITSI_MANIFEST"

# Since stable-11146 the containers run as uid 1000 on a read-only root: their writable bind mounts must
# exist, owned by 1000, before the first start (docker would create them root-owned).
install -d -m 0755 "$state" "$JITSI_CONFIG"
for d in storage/jibri storage/prosody storage/transcripts storage/web tmp/web-crontabs tmp/web-load-test; do
  install -d -o 1000 -g 1000 -m 0750 "${JITSI_CONFIG}/${d}"
done
install -d -m 0755 "${JITSI_CONFIG}/jibri" "${JITSI_CONFIG}/jigasi"

generate_internal_passwords "$dir/gen-passwords.sh" "${state}/passwords.env"

if [[ "$JIBRI_ENABLED" == 1 ]]; then
  # Runs inside the jibri container as /config/finalize.sh; the host uploader does the S3 part.
  if install_if_changed "$WBT_HELPER_JIBRI_FINALIZE" "${JITSI_CONFIG}/jibri/finalize.sh" 0755; then log "Jibri's finalize script updated"; fi
fi

# Secrets first: a failed read stops here, before anything is written.
secrets=()
if [[ "$JITSI_AUTH" == jwt ]]; then
  jwt_id=$(ssm_secret jwt-app-id)
  jwt_secret=$(ssm_secret jwt-app-secret)
  secrets+=("JWT_APP_ID=\"${jwt_id}\"" "JWT_APP_SECRET=\"${jwt_secret}\"")
fi
if [[ "$JIGASI_ENABLED" == 1 ]]; then
  jigasi_password=$(ssm_secret jigasi-sip-password)
  secrets+=("JIGASI_SIP_PASSWORD=\"${jigasi_password}\"")
fi
if [[ "$TURN_ENABLED" == 1 ]]; then
  # The TURN relay's shared secret: Prosody derives each participant's time-limited credentials from it.
  turn_secret=$(ssm_secret turn-secret)
  secrets+=("TURN_CREDENTIALS=\"${turn_secret}\"")
fi
draft=$(secret_draft "${dir}/.env")
{
  cat "$WBT_JITSI_SETTINGS"
  cat "${state}/passwords.env"
  if ((${#secrets[@]} > 0)); then printf '%s\n' "${secrets[@]}"; fi
} > "$draft"
env_changed=0
if update_secret_file "$draft" "${dir}/.env"; then env_changed=1; fi

if [[ "$JIBRI_ENABLED" == 1 ]]; then
  systemctl enable --now "$WBT_RECORDINGS_TIMER"
elif systemctl is-enabled --quiet "$WBT_RECORDINGS_TIMER" 2> /dev/null; then
  # Jibri turned off: no more recordings to upload (any left are uploaded by hand, README "Backups and restore").
  systemctl disable --now "$WBT_RECORDINGS_TIMER"
fi
if ! systemctl is-active --quiet "$WBT_JITSI_UNIT"; then
  systemctl daemon-reload
  # The web container requests its certificate on start: not before the name resolves to this host. Enabled only
  # after that, so that a reboot of a host whose DNS never worked does not start it unchecked.
  wait_for_public_dns || die "not starting Jitsi (its web container would request a certificate that cannot validate); run ${WBT_BOOTSTRAP} once DNS works"
  systemctl enable "$WBT_JITSI_UNIT"
  systemctl restart "$WBT_JITSI_UNIT"
  log "Jitsi Meet starting at ${JITSI_PUBLIC_URL} (the web container obtains its certificate on first start)"
elif ((env_changed)) || has_changed jitsi; then
  compose_up "$dir"
  log "Jitsi Meet: compose recreated the services whose settings or images changed"
fi
