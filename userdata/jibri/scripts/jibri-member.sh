#!/usr/bin/env bash
# A Jibri pool member's hook, run by weebeetalk-apply after it wrote the bundle's files (WBT_CHANGED: the services
# whose files changed): docker-jitsi-meet's jibri service alone (`up --no-deps jibri`), joining the meet host's
# Prosody with the recorders' shared accounts from SSM and this instance's id as its nickname. First apply: start
# it; later: recreate it only when its settings changed, never under a recording. A draining member stays stopped.
set -euo pipefail
# shellcheck source=../../scripts/lib.sh
. /usr/local/lib/weebeetalk/lib.sh
# shellcheck source=../../scripts/config-lib.sh
. /usr/local/lib/weebeetalk/config-lib.sh
load_env
if has_changed systemd; then systemctl daemon-reload; fi
# The CloudWatch agent and publishers first: a hook that fails below still has its logs and outcome shipped.
monitoring_up
dir=$WBT_JIBRI_DIR

fetch_release "$JITSI_URL" "$dir" "$WBT_JIBRI_MANIFEST"
# The containers run as uid 1000 on a read-only root: their writable bind mount must exist, owned by 1000.
install -d -m 0755 "$JITSI_CONFIG" "${JITSI_CONFIG}/jibri" "${JITSI_CONFIG}/storage"
install -d -o 1000 -g 1000 -m 0750 "${JITSI_CONFIG}/storage/jibri"
# Read inside the container (its /config): the finalize script (the meet host's), Jibri's own settings.
if install_if_changed "$WBT_HELPER_JIBRI_FINALIZE" "${JITSI_CONFIG}/jibri/finalize.sh" 0755; then log "Jibri's finalize script updated"; fi
config_changed=0
if install_if_changed "$WBT_JIBRI_CUSTOM_CONF" "${JITSI_CONFIG}/jibri/custom-jibri.conf" 0644; then config_changed=1; fi

# Secrets first: a failed read stops here, before anything is written.
xmpp_password=$(ssm_shared meet/jibri-xmpp-password)
recorder_password=$(ssm_shared meet/jibri-recorder-password)
secrets=(
  "JIBRI_INSTANCE_ID=\"${INSTANCE_ID}\""
  "JIBRI_XMPP_PASSWORD=\"${xmpp_password}\""
  "JIBRI_RECORDER_PASSWORD=\"${recorder_password}\""
)
draft=$(secret_draft "${dir}/.env")
{
  cat "$WBT_JIBRI_SETTINGS"
  printf '%s\n' "${secrets[@]}"
} > "$draft"
env_changed=0
if update_secret_file "$draft" "${dir}/.env"; then env_changed=1; fi

systemctl enable --now "$WBT_RECORDINGS_TIMER"
pool_member_timer "$WBT_POOL_MEMBER_TIMER" "${WBT_PUBLISH_JIBRI_GROUP}${WBT_PUBLISH_JVB_GROUP}${WBT_DRAIN_HOOK}"
# Its own configuration is read at start only: a change of it alone recreates the container too.
changed=0 force=()
if ((env_changed || config_changed)) || has_changed jibri || has_changed jibri-config; then changed=1; fi
if ((config_changed)) || has_changed jibri-config; then force=(--force-recreate); fi
member_service "$WBT_JIBRI_UNIT" "$dir" jibri "$WBT_JIBRI_API" "$WBT_POOL_STATE" "$changed" "${force[@]}"
