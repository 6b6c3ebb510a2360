#!/usr/bin/env bash
# The meet host's hook, run by weebeetalk-apply after it wrote the bundle's files (WBT_CHANGED: the services whose
# files changed): Jitsi Meet from docker-jitsi-meet at a pinned tag (web, prosody, jicofo, jvb; jigasi and jibri
# when enabled). First apply: start the stack once the name resolves. Later: `docker compose up`, which recreates
# only the services whose settings or images changed (a new Jigasi setting recreates jigasi, not the bridge). With a
# Jibri or JVB pool, the accounts its members log in with have shared passwords from SSM, which Prosody is made to hold.
set -euo pipefail
# shellcheck source=lib.sh
. /usr/local/lib/weebeetalk/lib.sh
# shellcheck source=config-lib.sh
. /usr/local/lib/weebeetalk/config-lib.sh
load_env
if has_changed systemd; then systemctl daemon-reload; fi
# The CloudWatch agent and publishers first: a hook that fails below still has its logs and outcome shipped.
monitoring_up
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

# Services of this host to restart at the end (once each): what they read only when they start has changed.
restarts=()
restart_later() {
  if [[ " ${restarts[*]} " != *" $1 "* ]]; then restarts+=("$1"); fi
}
was_running=0
if systemctl is-active --quiet "$WBT_JITSI_UNIT"; then was_running=1; fi
jibri_conf_changed=0
if [[ "$JIBRI_ENABLED" == 1 ]]; then
  # Runs inside the jibri container as /config/finalize.sh; the host uploader does the S3 part.
  if install_if_changed "$WBT_HELPER_JIBRI_FINALIZE" "${JITSI_CONFIG}/jibri/finalize.sh" 0755; then log "Jibri's finalize script updated"; fi
  # One of the Jibri pool's recorders: its health API where pool-member.sh reads it (read when Jibri starts).
  if [[ -n "$WBT_PUBLISH_JIBRI_GROUP" ]]; then
    if install_if_changed "$WBT_JITSI_JIBRI_CONF" "${JITSI_CONFIG}/jibri/custom-jibri.conf" 0644; then jibri_conf_changed=1; fi
  elif [[ -e "${JITSI_CONFIG}/jibri/custom-jibri.conf" ]]; then
    rm -f "${JITSI_CONFIG}/jibri/custom-jibri.conf"
    jibri_conf_changed=1
  fi
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
  # The dial-in mapper's PIN key: root only, handed to its unit by systemd (LoadCredential), in no .env.
  pin_key=$(ssm_secret dial-in-pin-key)
fi
if [[ "$TURN_ENABLED" == 1 ]]; then
  # The TURN relay's shared secret: Prosody derives each participant's time-limited credentials from it.
  turn_secret=$(ssm_shared turn/static-auth-secret)
  secrets+=("TURN_CREDENTIALS=\"${turn_secret}\"")
fi
# The accounts the enabled pools' members log in with (WBT_SHARED_XMPP: VARIABLE:parameter): their passwords are
# the shared ones from SSM in place of the generated ones, which passwords.env keeps (a pool turned off goes back).
declare -A shared=()
for entry in $WBT_SHARED_XMPP; do
  value=$(ssm_secret "${entry#*:}")
  shared[${entry%%:*}]=$value
done
# account_password VARIABLE [generated]: the password .env gives VARIABLE (with "generated": gen-passwords.sh's).
account_password() {
  if [[ "${2:-}" != generated && -n "${shared[$1]+set}" ]]; then
    printf '%s' "${shared[$1]}"
  else
    sed -n "s/^${1}=//p" "${state}/passwords.env"
  fi
}
draft=$(secret_draft "${dir}/.env")
{
  cat "$WBT_JITSI_SETTINGS"
  # The generated passwords but those a pool shares (one line per name: compose reads the last, people the first).
  while IFS= read -r line; do
    if [[ -z "${shared[${line%%=*}]+set}" ]]; then printf '%s\n' "$line"; fi
  done < "${state}/passwords.env"
  for entry in $WBT_SHARED_XMPP; do printf '%s="%s"\n' "${entry%%:*}" "${shared[${entry%%:*}]}"; done
  if ((${#secrets[@]} > 0)); then printf '%s\n' "${secrets[@]}"; fi
} > "$draft"
env_changed=0
if update_secret_file "$draft" "${dir}/.env"; then env_changed=1; fi
pin_key_changed=0
if [[ "$JIGASI_ENABLED" == 1 ]]; then
  draft=$(secret_draft "$WBT_DIAL_IN_KEY")
  printf '%s' "$pin_key" > "$draft"
  if update_secret_file "$draft" "$WBT_DIAL_IN_KEY"; then pin_key_changed=1; fi
fi
# The web container's include forwarding the invite dialog's two questions to the mapper, only while browsers are
# told about dial-in (numbers to show); the container copies CONFIG/web when it starts, so a change restarts it.
web_conf_changed=0
if [[ "$DIAL_IN_PUBLIC" == 1 ]]; then
  install -d -m 0755 "${WBT_DIAL_IN_NGINX_INSTALLED%/*}"
  if install_if_changed "$WBT_DIAL_IN_NGINX" "$WBT_DIAL_IN_NGINX_INSTALLED" 0644; then web_conf_changed=1; fi
elif [[ -e "$WBT_DIAL_IN_NGINX_INSTALLED" ]]; then
  rm -f "$WBT_DIAL_IN_NGINX_INSTALLED"
  web_conf_changed=1
fi

# Prosody keeps the accounts it created at its first start: upstream's register-setup runs `user create` at every
# start, which leaves an existing account as it is. So when .env gives an account (WBT_XMPP_ACCOUNTS:
# VARIABLE:jid) a password Prosody does not hold (a pool turned on or off, a rotated SSM value), it is set in
# Prosody's store below, once Prosody runs. held records what Prosody holds, as sha256 per variable. Without a
# record: an empty store gets .env's passwords at Prosody's first start; a used one holds the generated passwords
# (every install from before the pools).
account_digests() {
  local entry sum
  for entry in $WBT_XMPP_ACCOUNTS; do
    sum=$(account_password "${entry%%:*}" "${1:-}" | sha256sum)
    printf '%s %s\n' "${entry%%:*}" "${sum%% *}"
  done
}
held="${state}/prosody-accounts.sha256"
wanted=$(account_digests)
if [[ ! -s "$held" ]]; then
  if [[ -z "$(find "${JITSI_CONFIG}/storage/prosody" -mindepth 1 -print -quit)" ]]; then
    printf '%s\n' "$wanted" | write_secret_file "$held"
  else
    account_digests generated | write_secret_file "$held"
  fi
fi
# prosody_shell ARGS...: `prosodyctl shell ARGS... PASSWORD` in the prosody container, the password read from a
# line on stdin: it is on no command line our scripts run. prosodyctl's own, inside the container, carries it for
# the moment it runs (as upstream's register-setup does), visible in the host's process list to root and sudoers.
prosody_shell() {
  # shellcheck disable=SC2016 # expanded by the container's shell
  (cd "$dir" && docker compose exec -T prosody sh -c 'read -r password && exec prosodyctl --config "$0" shell "$@" "$password"' "$WBT_PROSODY_CFG" "$@")
}
# account_line VARIABLE: account_password as a line (printf is bash's own: no process shows it).
account_line() {
  printf '%s\n' "$(account_password "$1")"
}
# prosody_account JID VARIABLE: Prosody's account JID gets .env's password of VARIABLE (mod_admin_shell
# user:password; user:create when the account does not exist yet, register-setup may not have got to it).
prosody_account() {
  local out
  if out=$(account_line "$2" | prosody_shell user password "$1" 2>&1); then return 0; fi
  if [[ "$out" != *"No such user"* ]]; then
    log "Prosody cannot set the password of $1 yet: ${out}"
    return 1
  fi
  account_line "$2" | prosody_shell user create "$1" > /dev/null 2>&1 || true
  return 1
}
sync_prosody_accounts() {
  local entry name line
  for entry in $WBT_XMPP_ACCOUNTS; do
    name=${entry%%:*}
    line=$(grep "^${name} " <<< "$wanted")
    if grep -qxF "$line" "$held"; then continue; fi
    retry 24 5 prosody_account "${entry#*:}" "$name" || die "Prosody still holds the old password of ${entry#*:}: run ${WBT_BOOTSTRAP} again"
    log "Prosody: ${entry#*:} has the password .env gives it (${name})"
    # This host's own bridge and recorder log in again now, not at their next retry.
    case "$name" in
      JVB_*) restart_later jvb ;;
      JIBRI_*) if [[ "$JIBRI_ENABLED" == 1 ]]; then restart_later jibri; fi ;;
    esac
  done
  printf '%s\n' "$wanted" | write_secret_file "$held"
}

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
if [[ "$wanted" != "$(cat "$held")" ]]; then sync_prosody_accounts; fi
# The dial-in mapper (with Jigasi): started once, restarted when its program, configuration, unit or key changed.
if [[ "$JIGASI_ENABLED" == 1 ]]; then
  systemctl enable "$WBT_DIAL_IN_UNIT"
  if ! systemctl is-active --quiet "$WBT_DIAL_IN_UNIT"; then
    systemctl start "$WBT_DIAL_IN_UNIT"
  elif ((pin_key_changed)) || has_changed dial-in-mapper; then
    systemctl restart "$WBT_DIAL_IN_UNIT"
    log "dial-in mapper restarted (its configuration or PIN key changed)"
  fi
elif systemctl is-enabled --quiet "$WBT_DIAL_IN_UNIT" 2> /dev/null; then
  # Jigasi turned off: no calls, no PINs.
  systemctl disable --now "$WBT_DIAL_IN_UNIT"
  rm -f "$WBT_DIAL_IN_KEY"
fi
# The web container reads its nginx include only when it starts.
if ((web_conf_changed && was_running)); then restart_later web; fi
# Jibri reads custom-jibri.conf only when it starts.
if ((jibri_conf_changed && was_running)); then restart_later jibri; fi
if ((${#restarts[@]} > 0)); then (cd "$dir" && docker compose restart "${restarts[@]}"); fi
# This host's own Jibri's state and bridge's stress for the pools' scaling (pool-member.sh, publish only).
pool_member_timer "$WBT_POOL_MEMBER_TIMER" "${WBT_PUBLISH_JIBRI_GROUP}${WBT_PUBLISH_JVB_GROUP}"
