#!/usr/bin/env bash
# A JVB pool member's hook, run by weebeetalk-apply after it wrote the bundle's files (WBT_CHANGED: the services
# whose files changed): docker-jitsi-meet's jvb service alone (`up --no-deps jvb`), joining the meet host's Prosody
# with the bridges' shared account from SSM, advertising this instance's public and private addresses and named by
# its instance id. First apply: start it; later: recreate it only when its settings changed and it hosts no
# conference. A draining member stays stopped.
set -euo pipefail
# shellcheck source=../../scripts/lib.sh
. /usr/local/lib/weebeetalk/lib.sh
# shellcheck source=../../scripts/config-lib.sh
. /usr/local/lib/weebeetalk/config-lib.sh
load_env
if has_changed systemd; then systemctl daemon-reload; fi
# The CloudWatch agent and publishers first: a hook that fails below still has its logs and outcome shipped.
monitoring_up
dir=$WBT_JVB_DIR

fetch_release "$JITSI_URL" "$dir" "$WBT_JVB_MANIFEST"
install -d -m 0755 "$JITSI_CONFIG" "${JITSI_CONFIG}/jvb"

# Secrets first: a failed read stops here, before anything is written.
jvb_password=$(ssm_shared meet/jvb-auth-password)
[[ "$PRIVATE_IP" =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ ]] || die "PRIVATE_IP '${PRIVATE_IP}' is not an IPv4 address"
secrets=(
  "JVB_ADVERTISE_IPS=\"${PUBLIC_IP},${PRIVATE_IP}\""
  "JVB_MUC_NICKNAME=\"${INSTANCE_ID}\""
  "JVB_INSTANCE_ID=\"${INSTANCE_ID}\""
  "JVB_AUTH_PASSWORD=\"${jvb_password}\""
)
draft=$(secret_draft "${dir}/.env")
{
  cat "$WBT_JVB_SETTINGS"
  printf '%s\n' "${secrets[@]}"
} > "$draft"
env_changed=0
if update_secret_file "$draft" "${dir}/.env"; then env_changed=1; fi

pool_member_timer "$WBT_POOL_MEMBER_TIMER" "${WBT_PUBLISH_JIBRI_GROUP}${WBT_PUBLISH_JVB_GROUP}${WBT_DRAIN_HOOK}"
changed=0
if ((env_changed)) || has_changed jvb; then changed=1; fi
member_service "$WBT_JVB_UNIT" "$dir" jvb "$WBT_JVB_API" "$WBT_POOL_STATE" "$changed"
